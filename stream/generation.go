package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/segmentio/kafka-go"
)

// generationEnd is how one generation of the group ended.
type generationEnd struct {
	finished bool  // ctx is done, or caught up: leave the group
	err      error // booking failed: leave the group and report it
}

// finalFlushTimeout bounds the last commit of a generation, which runs after
// ctx (SIGTERM) or the generation is done and so cannot use either.
const finalFlushTimeout = 30 * time.Second

// runGeneration reads the partitions gen assigned (and every price
// partition) with a fresh engine until ctx or the generation is done, then
// books what it holds.
func runGeneration(ctx, gctx context.Context, cfg Config, p *contracts.Portfolio, store Ledger, gen *kafka.Generation, stats *Stats) generationEnd {
	eng, err := matching.New(p, cfg.Engine)
	if err != nil {
		return generationEnd{err: err}
	}
	// Commits outlive ctx and gctx: a commit cut short would only be redone,
	// but SIGTERM and rebalances should book what is in hand.
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &runner{cfg: cfg, p: p, eng: eng, store: store, gen: gen, stats: stats, cctx: cctx, openAt: map[ikey][]int{}, seen: map[string]bool{}}
	defer r.close()
	stored, err := r.restore(ctx)
	if err == nil {
		err = r.openPartitions(ctx, stored)
	}
	if err != nil {
		if ctx.Err() != nil || gctx.Err() != nil {
			return generationEnd{finished: ctx.Err() != nil}
		}
		return generationEnd{err: err}
	}
	return r.loop(ctx, gctx)
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
	grouped bool           // a reading partition assigned by the group (not a price partition)
	next    int64          // offset after the last message handled
	end     int64          // the partition's end when assigned (UntilCaughtUp)
	pending map[ikey]int64 // first offset of a message in each still-open interval
}

// safe is the offset to store: nothing before it is needed again.
func (pt *part) safe() int64 {
	s := pt.next
	for _, off := range pt.pending {
		s = min(s, off)
	}
	return s
}

// fetched is a message as its partition's fetcher hands it over: decoded
// there, so decoding runs beside the engine, one goroutine per partition.
type fetched struct {
	part    int
	msg     kafka.Message
	err     error // the fetch failed
	reading matching.Reading
	price   matching.Price
	bad     error // the message does not decode: a dead letter
}

// committed is the outcome of one batch's commit.
type committed struct {
	inserted int
	err      error
	size     int // transfers in the batch
}

type runner struct {
	cfg    Config
	p      *contracts.Portfolio
	eng    *matching.Engine
	store  Ledger
	gen    *kafka.Generation
	stats  *Stats
	parts  []*part
	openAt map[ikey][]int // partitions holding messages of each open interval
	dlq    *kafka.Writer
	// The batch being filled: intervals closed and prices seen since the
	// last flush.
	results []matching.Result
	prices  []ledger.MarketPrice
	closed  int // intervals in the batch

	// Batches are pipelined: while one commits, the next is posted (turned
	// into transfers) and the engine fills the one after. Batches commit in
	// order, each with the safe offsets as of its own end, so a crash between
	// them stores offsets that pass nothing unbooked; once one fails, the
	// ones after it are not committed.
	cctx        context.Context
	queue       []chan committed // outcomes of the batches handed off, oldest first
	lastDone    chan struct{}    // closed when the last batch handed off has finished committing
	failed      atomic.Bool      // a commit of this generation failed
	lastOffsets []ledger.Offset

	// Prices are pruned behind the sites this generation has seen readings
	// of; a site seen for the first time after a prune gets the prices it
	// may need back from the ledger (see firstReading).
	seen     map[string]bool
	prunedTo time.Time

	finalized map[string]bool // billing periods finalized when the generation started
}

// restore loads what the ledger already knows: the stored offsets, the
// prices, and the intervals already booked (their readings are late when
// re-read). Offsets are read before prices: prices are stored in the same
// transaction as the price partitions' offsets, so every price before a
// stored offset is then in what Prices returns, even while another member
// commits.
func (r *runner) restore(ctx context.Context) (map[TopicPartition]int64, error) {
	stored, err := r.store.Offsets(ctx, r.cfg.Consumer)
	if err != nil {
		return nil, fmt.Errorf("stored offsets: %w", err)
	}
	if err := r.loadPrices(ctx, time.Time{}); err != nil {
		return nil, err
	}
	r.finalized = map[string]bool{}
	if fp, ok := r.store.(FinalizedPeriods); ok {
		periods, err := fp.FinalizedPeriods(ctx)
		if err != nil {
			return nil, fmt.Errorf("finalized periods: %w", err)
		}
		for _, p := range periods {
			r.finalized[p] = true
		}
	}
	for _, s := range r.p.Sites {
		starts, err := r.store.BookedIntervals(ctx, s.ID)
		if err != nil {
			return nil, fmt.Errorf("restore intervals of %s: %w", s.ID, err)
		}
		for _, t := range starts {
			r.eng.MarkClosed(s.ID, t)
		}
	}
	return stored, nil
}

// loadPrices feeds the engine the prices stored in the ledger that start at
// or after since; intervals they let close are booked.
func (r *runner) loadPrices(ctx context.Context, since time.Time) error {
	prices, err := r.store.Prices(ctx, since)
	if err != nil {
		return fmt.Errorf("restore prices: %w", err)
	}
	for _, mp := range prices {
		results, err := r.eng.AddPrice(matching.Price{Node: mp.Node, Market: mp.Market, Start: mp.Start, End: mp.End, USDPerMWh: mp.USDPerMWh, Unit: mp.Unit})
		if err != nil {
			return fmt.Errorf("restore price %s %s: %w", mp.Node, mp.Start, err)
		}
		r.book(results)
	}
	return nil
}

// openPartitions opens a reader on each reading partition the generation
// assigned and on every price partition, each from its stored offset.
func (r *runner) openPartitions(ctx context.Context, stored map[TopicPartition]int64) error {
	ends, err := endOffsets(ctx, r.cfg.Brokers, r.cfg.Topics.Inputs())
	if err != nil {
		return err
	}
	var tps []TopicPartition
	for _, topic := range r.cfg.Topics.grouped() {
		for _, a := range r.gen.Assignments[topic] {
			tps = append(tps, TopicPartition{topic, a.ID})
		}
	}
	r.stats.Partitions = len(tps)
	for tp := range ends {
		if tp.Topic == r.cfg.Topics.Prices {
			tps = append(tps, tp)
		}
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var assigned []string
	for _, tp := range tps {
		b, ok := ends[tp]
		if !ok {
			return fmt.Errorf("%s/%d: assigned but not in the topic's metadata", tp.Topic, tp.Partition)
		}
		from, ok := stored[tp]
		if !ok {
			from = b.first
		}
		rd := kafka.NewReader(kafka.ReaderConfig{
			Brokers: r.cfg.Brokers, Topic: tp.Topic, Partition: tp.Partition,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond, QueueCapacity: 1000,
		})
		if err := rd.SetOffset(from); err != nil {
			return fmt.Errorf("%s/%d: seek to %d: %w", tp.Topic, tp.Partition, from, err)
		}
		grouped := tp.Topic != r.cfg.Topics.Prices
		r.parts = append(r.parts, &part{tp: tp, reader: rd, grouped: grouped, next: from, end: b.last, pending: map[ikey]int64{}})
		if grouped {
			assigned = append(assigned, fmt.Sprintf("%s/%d@%d", tp.Topic, tp.Partition, from))
		}
	}
	r.cfg.Log.Info("consumer group generation", "group", r.cfg.Consumer, "generation", r.gen.ID, "member", r.gen.MemberID,
		"partitions", assigned)
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

// loop feeds the engine until ctx (stop) or gctx (rebalance) is done, or,
// with UntilCaughtUp, every partition is read to its end; then it books what
// it holds.
//
// Prices go first: the price partitions are read to the end they had when
// the generation started before any reading, and afterwards a price fetched
// is handled before the next reading. An interval that has all its readings
// but not its prices waits, and waiting intervals cost the engine work on
// every reading, so prices read behind readings (as after a restart, when the
// reading partitions resume far behind the price partitions' ends) would
// slow everything down.
func (r *runner) loop(ctx, gctx context.Context) generationEnd {
	if r.cfg.UntilCaughtUp && r.caughtUp() {
		return r.finish(true)
	}
	fctx, cancel := context.WithCancel(gctx)
	defer cancel()
	prices := make(chan fetched, 8192)
	readings := make(chan fetched, 8192)
	for i, pt := range r.parts {
		if !pt.grouped {
			go fetch(fctx, i, pt.reader, true, prices)
		}
	}
	started := false
	start := func() {
		for i, pt := range r.parts {
			if pt.grouped {
				go fetch(fctx, i, pt.reader, false, readings)
			}
		}
		started = true
	}
	if r.pricesCaughtUp() {
		start()
	}
	tick := time.NewTicker(r.cfg.FlushEvery)
	defer tick.Stop()
	for {
		var f fetched
		select {
		case f = <-prices:
		default:
			select {
			case <-ctx.Done():
				return r.finish(true)
			case <-gctx.Done():
				return r.finish(false)
			case c := <-r.oldest():
				r.queue = r.queue[1:]
				if err := r.committed(c); err != nil {
					return generationEnd{err: err}
				}
				continue
			case <-tick.C:
				if err := r.flush(); err != nil {
					return generationEnd{err: err}
				}
				continue
			case f = <-prices:
			case f = <-readings:
			}
		}
		if f.err != nil {
			if gctx.Err() != nil || ctx.Err() != nil {
				continue // the reader was stopped: the cases above end the loop
			}
			pt := r.parts[f.part]
			return generationEnd{err: fmt.Errorf("read %s/%d: %w", pt.tp.Topic, pt.tp.Partition, f.err)}
		}
		if err := r.handle(f); err != nil {
			return generationEnd{err: err}
		}
		if !started && r.pricesCaughtUp() {
			start()
		}
		if r.closed >= r.cfg.FlushIntervals {
			if err := r.flush(); err != nil {
				return generationEnd{err: err}
			}
		}
		if r.cfg.UntilCaughtUp && r.caughtUp() {
			return r.finish(true)
		}
	}
}

// pricesCaughtUp reports whether every price partition is read to the end it
// had when the generation started.
func (r *runner) pricesCaughtUp() bool {
	for _, pt := range r.parts {
		if !pt.grouped && pt.next < pt.end {
			return false
		}
	}
	return true
}

// finish books the batch in hand and waits for it.
func (r *runner) finish(leave bool) generationEnd {
	ctx, cancel := context.WithTimeout(r.cctx, finalFlushTimeout)
	defer cancel()
	err := r.flush()
	if err == nil {
		err = r.wait(ctx)
	}
	return generationEnd{finished: leave, err: err}
}

func fetch(ctx context.Context, i int, rd *kafka.Reader, prices bool, out chan<- fetched) {
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				out <- fetched{part: i, err: err}
			}
			return
		}
		f := fetched{part: i, msg: m}
		if prices {
			f.price, f.bad = messages.DecodePrice(m.Value)
		} else {
			f.reading, f.bad = messages.DecodeReading(m.Value)
		}
		select {
		case out <- f:
		case <-ctx.Done():
			return
		}
	}
}

// handle feeds one message to the engine.
func (r *runner) handle(f fetched) error {
	i, m := f.part, f.msg
	pt := r.parts[i]
	if m.Offset < pt.next {
		return nil // a re-delivery of something already handled in this generation
	}
	pt.next = m.Offset + 1
	r.stats.Messages++
	var results []matching.Result
	var reason error
	switch {
	case f.bad != nil:
		reason = f.bad
	case pt.tp.Topic == r.cfg.Topics.Prices:
		results, reason = r.handlePrice(f.price)
	default:
		results, reason = r.handleReading(i, m.Offset, f.reading)
	}
	var internal *internalError
	if errors.As(reason, &internal) {
		return internal.err
	}
	if reason != nil {
		return r.deadLetter(pt, m, reason)
	}
	r.book(results)
	return nil
}

func (r *runner) handlePrice(p matching.Price) ([]matching.Result, error) {
	results, err := r.eng.AddPrice(p)
	if err != nil {
		return nil, err
	}
	r.stats.Prices++
	r.prices = append(r.prices, ledger.MarketPrice{Node: p.Node, Market: p.Market, Start: p.Start, End: p.End, USDPerMWh: p.USDPerMWh, Unit: p.Unit})
	return results, nil
}

func (r *runner) handleReading(i int, offset int64, rd matching.Reading) ([]matching.Result, error) {
	pt := r.parts[i]
	if err := r.checkTopic(pt.tp.Topic, rd); err != nil {
		return nil, err
	}
	if !r.seen[rd.Site] {
		if err := r.firstReading(rd); err != nil {
			return nil, &internalError{err}
		}
	}
	out, results, err := r.eng.AddReading(rd)
	if err != nil {
		return nil, err
	}
	r.stats.Readings++
	switch out {
	case matching.Corrected:
		r.stats.Corrected++ // re-matched now: its result is in results
	case matching.Duplicate:
		r.stats.Duplicates++
	case matching.Late:
		r.stats.Late++
		r.cfg.Log.Debug("late reading", "place", fmt.Sprintf("%s/%d/%d", pt.tp.Topic, pt.tp.Partition, offset), "site", rd.Site, "meter", rd.Meter, "start", rd.Start)
	default:
		k := ikey{rd.Site, rd.Start.Unix()}
		if _, held := pt.pending[k]; !held {
			pt.pending[k] = offset
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

// book adds closed intervals to the pending batch (they are posted as
// transfers when the batch commits, beside the engine).
func (r *runner) book(results []matching.Result) {
	for i := range results {
		res := &results[i]
		k := ikey{res.Site, res.Start.Unix()}
		for _, pi := range r.openAt[k] {
			delete(r.parts[pi].pending, k)
		}
		delete(r.openAt, k)
		r.results = append(r.results, *res)
		r.closed++
		r.stats.IntervalsClosed++
	}
}

// flush hands the pending batch, with every partition's safe offset, to a
// commit that runs while the engine goes on; it first waits for the commit
// before it, so batches commit in order.
func (r *runner) flush() error {
	var offsets []ledger.Offset
	for _, pt := range r.parts {
		offsets = append(offsets, ledger.Offset{Consumer: r.cfg.Consumer, Topic: pt.tp.Topic, Partition: pt.tp.Partition, Next: pt.safe()})
	}
	results, prices := r.results, r.prices
	if len(results) == 0 && len(prices) == 0 && !r.offsetsMoved(offsets) {
		return nil
	}
	for len(r.queue) >= maxBatchesInFlight {
		if err := r.waitOldest(r.cctx); err != nil {
			return err
		}
	}
	r.results, r.prices, r.closed = nil, nil, 0
	done, finished, prev := make(chan committed, 1), make(chan struct{}), r.lastDone
	r.queue, r.lastDone = append(r.queue, done), finished
	go func() {
		defer close(finished)
		b := r.post(results)
		b.Prices, b.Offsets = prices, offsets
		if prev != nil {
			<-prev // commit in order
		}
		if r.failed.Load() {
			done <- committed{err: errEarlierBatchFailed, size: len(b.Transfers)}
			return
		}
		n, err := r.store.Commit(r.cctx, b)
		if err != nil {
			r.failed.Store(true)
		} else {
			r.commitToKafka(offsets)
		}
		done <- committed{inserted: n, err: err, size: len(b.Transfers)}
	}()
	r.lastOffsets = offsets
	r.prune()
	return nil
}

// post turns closed intervals into the ledger's transfers and interval
// records.
func (r *runner) post(results []matching.Result) ledger.Batch {
	b := ledger.Batch{Source: "engine", Intervals: make([]ledger.Interval, 0, len(results))}
	for i := range results {
		s, _ := r.p.Site(results[i].Site)
		transfers, iv := ledger.PostIn(&results[i], s.Location, r.bookIn(contracts.PeriodOf(results[i].Start, s.Location)))
		if b.Transfers == nil {
			b.Transfers = make([]ledger.Transfer, 0, len(results)*(len(transfers)+2))
		}
		b.Transfers = append(b.Transfers, transfers...)
		b.Intervals = append(b.Intervals, iv)
	}
	return b
}

// bookIn is the period an interval of period p is booked in: its own, or
// when that is finalized the next open one (a prior-period adjustment).
// The finalized periods are read when a generation starts; a period
// finalized while it runs makes a commit fail, and the next generation
// knows it.
func (r *runner) bookIn(p contracts.Period) string {
	if !r.finalized[p.String()] {
		return ""
	}
	for r.finalized[p.String()] {
		p = p.Next()
	}
	return p.String()
}

// offsetsMoved reports whether any safe offset differs from the last batch's.
func (r *runner) offsetsMoved(offsets []ledger.Offset) bool {
	if len(offsets) != len(r.lastOffsets) {
		return true
	}
	for i := range offsets {
		if offsets[i] != r.lastOffsets[i] {
			return true
		}
	}
	return false
}

// maxBatchesInFlight bounds the batches handed off and not yet committed:
// one committing and one being posted behind it.
const maxBatchesInFlight = 2

var errEarlierBatchFailed = errors.New("not committed: an earlier batch failed")

// oldest is the outcome channel of the oldest batch in flight (nil, which
// blocks forever, when there is none).
func (r *runner) oldest() chan committed {
	if len(r.queue) == 0 {
		return nil
	}
	return r.queue[0]
}

// waitOldest waits for the oldest batch in flight to be committed.
func (r *runner) waitOldest(ctx context.Context) error {
	select {
	case c := <-r.queue[0]:
		r.queue = r.queue[1:]
		return r.committed(c)
	case <-ctx.Done():
		return fmt.Errorf("waiting for the batch in flight: %w", ctx.Err())
	}
}

// wait waits until every batch handed off is committed.
func (r *runner) wait(ctx context.Context) error {
	for len(r.queue) > 0 {
		if err := r.waitOldest(ctx); err != nil {
			return err
		}
	}
	return nil
}

// committed records a finished commit.
func (r *runner) committed(c committed) error {
	if c.err != nil {
		return fmt.Errorf("book batch of %d transfers: %w", c.size, c.err)
	}
	r.stats.Transfers += int64(c.inserted)
	r.stats.Batches++
	r.stats.OpenIntervals = r.eng.Open()
	if r.cfg.Progress != nil {
		r.cfg.Progress(*r.stats)
	}
	return nil
}

// commitToKafka writes the group's offsets to Kafka for lag monitoring; the
// engine never reads them back, so a failure is only logged.
func (r *runner) commitToKafka(offsets []ledger.Offset) {
	out := map[string]map[int]int64{}
	for _, o := range offsets {
		if o.Topic == r.cfg.Topics.Prices {
			continue // not the group's partitions
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int]int64{}
		}
		out[o.Topic][o.Partition] = o.Next
	}
	if len(out) == 0 {
		return
	}
	if err := r.gen.CommitOffsets(out); err != nil {
		r.cfg.Log.Debug("commit offsets to kafka (lag monitoring only)", "err", err)
	}
}

// prune forgets prices that the sites being read can no longer use: those
// that ended before the retention window of the site furthest behind (its
// readings older than that are late anyway). This keeps the engine's memory
// bounded by the open intervals, not by history.
func (r *runner) prune() {
	var oldest time.Time
	for site := range r.seen {
		wm := r.eng.Watermark(site)
		if wm.IsZero() {
			// One of the site's streams has not delivered yet (its partition
			// is read behind the others): its watermark will start from
			// wherever that stream is, which may be long before the others.
			return
		}
		if oldest.IsZero() || wm.Before(oldest) {
			oldest = wm
		}
	}
	if oldest.IsZero() || r.cfg.Engine.RetainClosed <= 0 {
		return
	}
	if to := oldest.Add(-r.cfg.Engine.RetainClosed); to.After(r.prunedTo) {
		r.eng.PruneBefore(to)
		r.prunedTo = to
	}
}

// firstReading is called before the first reading of a site in this
// generation. The site was not among those prices were pruned behind, so if
// anything was pruned it reloads, from the ledger, the prices this site's
// window may need: every price pruned so far was read before the batch in
// flight, so once that batch is committed the ledger has them.
func (r *runner) firstReading(rd matching.Reading) error {
	r.seen[rd.Site] = true
	if r.prunedTo.IsZero() || !rd.Start.Before(r.prunedTo.Add(r.cfg.Engine.RetainClosed)) {
		return nil
	}
	if err := r.wait(r.cctx); err != nil {
		return err
	}
	return r.loadPrices(r.cctx, rd.Start.Add(-r.cfg.Engine.RetainClosed))
}

// internalError is a failure of offtake, not of the message being handled:
// it stops the engine instead of dead-lettering the message.
type internalError struct{ err error }

func (e *internalError) Error() string { return e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

// deadLetter puts a refused message on the dead-letter topic, with the
// original key and bytes, where it came from and why.
func (r *runner) deadLetter(pt *part, m kafka.Message, reason error) error {
	code := ReasonCode(reason)
	r.stats.DeadLetters++
	r.stats.DeadByReason[code]++
	place := fmt.Sprintf("%s/%d/%d", pt.tp.Topic, pt.tp.Partition, m.Offset)
	r.cfg.Log.Warn("dead letter", "place", place, "reason_code", code, "reason", reason.Error())
	ctx, cancel := context.WithTimeout(r.cctx, finalFlushTimeout)
	defer cancel()
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
