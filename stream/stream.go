package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/segmentio/kafka-go"
)

// Topics names the topics offtake reads and writes.
type Topics struct {
	Generation  string // readings of generation meters (gross, station service, POI)
	Consumption string // readings of load meters
	Prices      string // market prices
	DeadLetter  string // refused messages, with the reason in headers
}

// DefaultTopics are the topic names used unless configured otherwise.
func DefaultTopics() Topics {
	return Topics{
		Generation: "offtake.generation", Consumption: "offtake.consumption",
		Prices: "offtake.prices", DeadLetter: "offtake.deadletter",
	}
}

// Inputs lists the topics the engine reads.
func (t Topics) Inputs() []string { return []string{t.Generation, t.Consumption, t.Prices} }

// Config configures a Run.
type Config struct {
	Brokers        []string
	Topics         Topics
	Consumer       string          // the name offsets are stored under in PostgreSQL
	Engine         matching.Config // interval closing rules (zero: matching.DefaultConfig)
	FlushIntervals int             // book after this many closed intervals (default 2,000)
	FlushEvery     time.Duration   // and at least this often (default 500 ms)
	UntilCaughtUp  bool            // stop once every partition reaches the end it had at start
	Log            *slog.Logger
	Progress       func(Stats) // called after each batch is booked, if set
}

// Ledger is what the stream needs of the ledger store.
type Ledger interface {
	Commit(ctx context.Context, b ledger.Batch) (int, error) // returns transfers inserted
	Offsets(ctx context.Context, consumer string) (map[TopicPartition]int64, error)
	BookedIntervals(ctx context.Context, site string) ([]time.Time, error)
	Prices(ctx context.Context) ([]ledger.MarketPrice, error)
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Stats counts what a Run did.
type Stats struct {
	Messages        int64
	Readings        int64
	Prices          int64
	Duplicates      int64
	Late            int64
	DeadLetters     int64
	DeadByReason    map[string]int64
	IntervalsClosed int64
	Transfers       int64 // inserted into the ledger (replays insert none)
	Batches         int64
	OpenIntervals   int
}

// Run consumes until ctx is done (or, with UntilCaughtUp, until every
// partition is read to the end it had at start and all that could close is
// booked). It returns what it did; an error means the last batch may not be
// booked, and a restart resumes from the stored offsets.
func Run(ctx context.Context, cfg Config, p *contracts.Portfolio, store Ledger) (Stats, error) {
	cfg = withDefaults(cfg)
	eng, err := matching.New(p, cfg.Engine)
	if err != nil {
		return Stats{}, err
	}
	r := &runner{cfg: cfg, p: p, eng: eng, store: store, stats: Stats{DeadByReason: map[string]int64{}},
		openAt: map[ikey][]int{}}
	if err := r.restore(ctx); err != nil {
		return r.stats, err
	}
	if err := r.openPartitions(ctx); err != nil {
		return r.stats, err
	}
	defer r.close()
	return r.loop(ctx)
}

func withDefaults(cfg Config) Config {
	if cfg.Engine == (matching.Config{}) {
		cfg.Engine = matching.DefaultConfig()
	}
	if cfg.FlushIntervals <= 0 {
		cfg.FlushIntervals = 2000
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 500 * time.Millisecond
	}
	if cfg.Consumer == "" {
		cfg.Consumer = "offtake"
	}
	if cfg.Topics == (Topics{}) {
		cfg.Topics = DefaultTopics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// ikey names an interval of a site.
type ikey struct {
	site  string
	start int64
}

// part is one partition being read.
type part struct {
	tp      TopicPartition
	reader  *kafka.Reader
	next    int64          // offset after the last message handled
	end     int64          // the partition's end at start (UntilCaughtUp)
	pending map[ikey]int64 // first offset of a message in each still-open interval
	stored  int64          // offset last stored in PostgreSQL
}

// safe is the offset to store: nothing before it is needed again.
func (pt *part) safe() int64 {
	s := pt.next
	for _, off := range pt.pending {
		s = min(s, off)
	}
	return s
}

type fetched struct {
	part int
	msg  kafka.Message
	err  error
}

type runner struct {
	cfg    Config
	p      *contracts.Portfolio
	eng    *matching.Engine
	store  Ledger
	parts  []*part
	openAt map[ikey][]int // partitions holding messages of each open interval
	dlq    *kafka.Writer
	batch  ledger.Batch
	closed int // intervals in the batch
	stats  Stats
}

// restore loads what the ledger already knows: prices, and the intervals
// already booked (their readings are late when re-read).
func (r *runner) restore(ctx context.Context) error {
	prices, err := r.store.Prices(ctx)
	if err != nil {
		return fmt.Errorf("restore prices: %w", err)
	}
	for _, mp := range prices {
		if _, err := r.eng.AddPrice(matching.Price{Node: mp.Node, Market: mp.Market, Start: mp.Start, End: mp.End, USDPerMWh: mp.USDPerMWh}); err != nil {
			return fmt.Errorf("restore price %s %s: %w", mp.Node, mp.Start, err)
		}
	}
	for _, s := range r.p.Sites {
		starts, err := r.store.BookedIntervals(ctx, s.ID)
		if err != nil {
			return fmt.Errorf("restore intervals of %s: %w", s.ID, err)
		}
		for _, t := range starts {
			r.eng.MarkClosed(s.ID, t)
		}
	}
	return nil
}

func (r *runner) openPartitions(ctx context.Context) error {
	stored, err := r.store.Offsets(ctx, r.cfg.Consumer)
	if err != nil {
		return fmt.Errorf("stored offsets: %w", err)
	}
	ends, err := endOffsets(ctx, r.cfg.Brokers, r.cfg.Topics.Inputs())
	if err != nil {
		return err
	}
	tps := make([]TopicPartition, 0, len(ends))
	for tp := range ends {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	for _, tp := range tps {
		from, ok := stored[tp]
		if !ok {
			from = ends[tp].first
		}
		rd := kafka.NewReader(kafka.ReaderConfig{
			Brokers: r.cfg.Brokers, Topic: tp.Topic, Partition: tp.Partition,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond,
		})
		if err := rd.SetOffset(from); err != nil {
			return fmt.Errorf("%s/%d: seek to %d: %w", tp.Topic, tp.Partition, from, err)
		}
		r.parts = append(r.parts, &part{tp: tp, reader: rd, next: from, stored: from, end: ends[tp].last, pending: map[ikey]int64{}})
		r.cfg.Log.Debug("partition", "topic", tp.Topic, "partition", tp.Partition, "from", from, "end", ends[tp].last)
	}
	r.dlq = &kafka.Writer{
		Addr: kafka.TCP(r.cfg.Brokers...), Topic: r.cfg.Topics.DeadLetter, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
	}
	return nil
}

func (r *runner) close() {
	for _, pt := range r.parts {
		pt.reader.Close()
	}
	if r.dlq != nil {
		r.dlq.Close()
	}
}

func (r *runner) caughtUp() bool {
	for _, pt := range r.parts {
		if pt.next < pt.end {
			return false
		}
	}
	return true
}

func (r *runner) loop(ctx context.Context) (Stats, error) {
	if r.cfg.UntilCaughtUp && r.caughtUp() {
		return r.stats, nil
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan fetched, 8192)
	for i, pt := range r.parts {
		go fetch(fctx, i, pt.reader, msgs)
	}
	tick := time.NewTicker(r.cfg.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Book what is done with a fresh context, so a shutdown stores its offsets.
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer fcancel()
			return r.stats, r.flush(fctx)
		case <-tick.C:
			if err := r.flush(ctx); err != nil {
				return r.stats, err
			}
		case f := <-msgs:
			if f.err != nil {
				return r.stats, fmt.Errorf("read %s/%d: %w", r.parts[f.part].tp.Topic, r.parts[f.part].tp.Partition, f.err)
			}
			if err := r.handle(ctx, f.part, f.msg); err != nil {
				return r.stats, err
			}
			if r.closed >= r.cfg.FlushIntervals {
				if err := r.flush(ctx); err != nil {
					return r.stats, err
				}
			}
			if r.cfg.UntilCaughtUp && r.caughtUp() {
				return r.stats, r.flush(ctx)
			}
		}
	}
}

func fetch(ctx context.Context, i int, rd *kafka.Reader, out chan<- fetched) {
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				out <- fetched{part: i, err: err}
			}
			return
		}
		select {
		case out <- fetched{part: i, msg: m}:
		case <-ctx.Done():
			return
		}
	}
}

// handle feeds one message to the engine.
func (r *runner) handle(ctx context.Context, i int, m kafka.Message) error {
	pt := r.parts[i]
	if m.Offset < pt.next {
		return nil // a re-delivery of something already handled in this run
	}
	pt.next = m.Offset + 1
	r.stats.Messages++
	var results []matching.Result
	var reason error
	if pt.tp.Topic == r.cfg.Topics.Prices {
		results, reason = r.handlePrice(m)
	} else {
		results, reason = r.handleReading(i, m)
	}
	if reason != nil {
		return r.deadLetter(ctx, pt, m, reason)
	}
	r.book(results)
	return nil
}

func (r *runner) handlePrice(m kafka.Message) ([]matching.Result, error) {
	p, err := messages.DecodePrice(m.Value)
	if err != nil {
		return nil, err
	}
	results, err := r.eng.AddPrice(p)
	if err != nil {
		return nil, err
	}
	r.stats.Prices++
	r.batch.Prices = append(r.batch.Prices, ledger.MarketPrice{Node: p.Node, Market: p.Market, Start: p.Start, End: p.End, USDPerMWh: p.USDPerMWh})
	return results, nil
}

func (r *runner) handleReading(i int, m kafka.Message) ([]matching.Result, error) {
	pt := r.parts[i]
	rd, err := messages.DecodeReading(m.Value)
	if err != nil {
		return nil, err
	}
	if err := r.checkTopic(pt.tp.Topic, rd); err != nil {
		return nil, err
	}
	out, results, err := r.eng.AddReading(rd)
	if err != nil {
		return nil, err
	}
	r.stats.Readings++
	switch out {
	case matching.Duplicate:
		r.stats.Duplicates++
	case matching.Late:
		r.stats.Late++
		r.cfg.Log.Debug("late reading", "place", fmt.Sprintf("%s/%d/%d", pt.tp.Topic, pt.tp.Partition, m.Offset), "site", rd.Site, "meter", rd.Meter, "start", rd.Start)
	default:
		k := ikey{rd.Site, rd.Start.Unix()}
		if _, held := pt.pending[k]; !held {
			pt.pending[k] = m.Offset
			r.openAt[k] = append(r.openAt[k], i)
		}
	}
	return results, nil
}

// checkTopic refuses a reading on the wrong topic: co-partitioning and
// monitoring rely on generation and consumption being kept apart.
func (r *runner) checkTopic(topic string, rd matching.Reading) error {
	s, ok := r.p.Site(rd.Site)
	if !ok {
		return fmt.Errorf("unknown site %q", rd.Site)
	}
	m, ok := s.Meter(rd.Meter)
	if !ok {
		return fmt.Errorf("unknown meter %q at site %s", rd.Meter, rd.Site)
	}
	if want := r.topicOf(m.Kind); want != topic {
		return fmt.Errorf("meter %s is a %s meter: its readings belong on topic %s, not %s", m.ID, m.Kind, want, topic)
	}
	return nil
}

func (r *runner) topicOf(k contracts.MeterKind) string {
	if k.Generation() {
		return r.cfg.Topics.Generation
	}
	return r.cfg.Topics.Consumption
}

// book posts closed intervals into the pending batch.
func (r *runner) book(results []matching.Result) {
	for i := range results {
		res := &results[i]
		k := ikey{res.Site, res.Start.Unix()}
		for _, pi := range r.openAt[k] {
			delete(r.parts[pi].pending, k)
		}
		delete(r.openAt, k)
		s, _ := r.p.Site(res.Site)
		transfers, iv := ledger.Post(res, s.Location)
		r.batch.Transfers = append(r.batch.Transfers, transfers...)
		r.batch.Intervals = append(r.batch.Intervals, iv)
		r.closed++
		r.stats.IntervalsClosed++
	}
}

// flush books the pending batch with every partition's safe offset.
func (r *runner) flush(ctx context.Context) error {
	var offsets []ledger.Offset
	for _, pt := range r.parts {
		if s := pt.safe(); s != pt.stored {
			offsets = append(offsets, ledger.Offset{Consumer: r.cfg.Consumer, Topic: pt.tp.Topic, Partition: pt.tp.Partition, Next: s})
		}
	}
	if len(offsets) == 0 && len(r.batch.Transfers) == 0 && len(r.batch.Prices) == 0 && len(r.batch.Intervals) == 0 {
		return nil
	}
	r.batch.Source = "engine"
	r.batch.Offsets = offsets
	inserted, err := r.store.Commit(ctx, r.batch)
	if err != nil {
		return fmt.Errorf("book batch of %d transfers: %w", len(r.batch.Transfers), err)
	}
	for _, pt := range r.parts {
		pt.stored = pt.safe()
	}
	r.stats.Transfers += int64(inserted)
	r.stats.Batches++
	r.stats.OpenIntervals = r.eng.Open()
	r.batch, r.closed = ledger.Batch{}, 0
	if r.cfg.Progress != nil {
		r.cfg.Progress(r.stats)
	}
	return nil
}

// deadLetter puts a refused message on the dead-letter topic, with the
// original key and bytes, where it came from and why.
func (r *runner) deadLetter(ctx context.Context, pt *part, m kafka.Message, reason error) error {
	code := ReasonCode(reason)
	r.stats.DeadLetters++
	r.stats.DeadByReason[code]++
	place := fmt.Sprintf("%s/%d/%d", pt.tp.Topic, pt.tp.Partition, m.Offset)
	r.cfg.Log.Warn("dead letter", "place", place, "reason", reason.Error())
	err := r.dlq.WriteMessages(ctx, kafka.Message{
		Key: m.Key, Value: m.Value,
		Headers: []kafka.Header{
			{Key: "offtake-source-topic", Value: []byte(pt.tp.Topic)},
			{Key: "offtake-source-partition", Value: []byte(strconv.Itoa(pt.tp.Partition))},
			{Key: "offtake-source-offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
			{Key: "offtake-reason-code", Value: []byte(code)},
			{Key: "offtake-reason", Value: []byte(reason.Error())},
		},
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s: %w", place, err)
	}
	return nil
}

// ReasonCode is a short, stable name for why a message was refused, for
// counters and the offtake-reason-code header.
func ReasonCode(err error) string {
	var fe *messages.FieldError
	if errors.As(err, &fe) {
		if fe.Field == "" {
			return "malformed"
		}
		return "invalid_" + fe.Field
	}
	return "refused"
}
