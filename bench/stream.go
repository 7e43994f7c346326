package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/devbroker"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/stream"
	"github.com/offtake/offtake/stream/streamtest"
	"github.com/segmentio/kafka-go"
	"github.com/shopspring/decimal"
)

func init() { register("stream", measureStream) }

// The targets for the stream.
const (
	streamRatioTarget    = 0.5    // end to end ÷ the slower raw limit
	streamReadingsTarget = 50_000 // readings/s end to end on a 2-core machine
	streamPartitions     = 4
	readingsPerSiteMonth = 2972 * streamtest.MetersPerSite // March 2028, 15-minute intervals
	memoryMeters         = 1000
)

var streamPeriod = contracts.Period{Year: 2028, Month: 3}

// measureStream compares offtake end to end — messages on the in-process
// broker to transfers committed in PostgreSQL — with the two raw limits of
// that path measured in the same run on the same data: kafka-go reading the
// messages (one reader per partition, as the engine reads them) and COPY of
// the ledger rows they produce into a plain table, counted in readings by
// the rows one reading costs. It also reports the engine's heap through a
// month of 1,000 meters.
func measureStream(ctx context.Context, env Env) (Result, error) {
	sites := max(1, env.Readings/readingsPerSiteMonth)
	p, err := streamtest.Portfolio(sites)
	if err != nil {
		return Result{}, err
	}
	topics := stream.DefaultTopics()
	b, err := devbroker.Start("127.0.0.1:0", map[string]int{topics.Generation: streamPartitions, topics.Consumption: streamPartitions,
		topics.Prices: streamPartitions, topics.DeadLetter: 1})
	if err != nil {
		return Result{}, err
	}
	defer b.Close()
	in := streamtest.Simulate(p, streamPeriod, 1, 0, topics)
	readings := len(in.Readings)
	fmt.Fprintf(env.Progress, "stream: publishing a month of %d sites (%d readings, %d prices) to the in-process broker\n", sites, readings, len(in.Prices))
	pub := stream.NewPublisher(b.Addrs())
	err = pub.Publish(ctx, in.All())
	pub.Close()
	if err != nil {
		return Result{}, err
	}

	fmt.Fprintln(env.Progress, "stream: raw kafka-go consume")
	consumeSec, err := streamRawConsume(ctx, b.Addrs(), topics)
	if err != nil {
		return Result{}, err
	}
	consumeRate := float64(readings) / consumeSec

	// The raw COPY is timed just before and just after the end-to-end run
	// and the two averaged: on a shared machine the load moves within a
	// minute, and the ratio should compare like with like.
	transfers, err := streamTransfersOf(p, in)
	if err != nil {
		return Result{}, err
	}
	fmt.Fprintln(env.Progress, "stream: raw COPY of the same ledger rows (before)")
	copyBefore, err := streamRawCopy(ctx, env.DatabaseURL, transfers)
	if err != nil {
		return Result{}, err
	}

	fmt.Fprintln(env.Progress, "stream: offtake end to end")
	e2eSec, stats, err := streamEndToEnd(ctx, env.DatabaseURL, b.Addrs(), topics, p)
	if err != nil {
		return Result{}, err
	}
	if want := int64(sites * 2972); stats.IntervalsClosed != want {
		return Result{}, fmt.Errorf("end to end closed %d intervals, want %d", stats.IntervalsClosed, want)
	}
	e2eRate := float64(readings) / e2eSec

	fmt.Fprintln(env.Progress, "stream: offtake end to end without the ledger (commits discarded)")
	bareSec, err := streamWithoutLedger(ctx, b.Addrs(), topics, p)
	if err != nil {
		return Result{}, err
	}
	bareRate := float64(readings) / bareSec

	if int64(len(transfers)) != stats.Transfers {
		return Result{}, fmt.Errorf("the engine alone made %d transfers, end to end booked %d", len(transfers), stats.Transfers)
	}
	fmt.Fprintln(env.Progress, "stream: raw COPY of the same ledger rows (after)")
	copyAfter, err := streamRawCopy(ctx, env.DatabaseURL, transfers)
	if err != nil {
		return Result{}, err
	}
	copySec := (copyBefore + copyAfter) / 2
	rowsPerReading := float64(len(transfers)) / float64(readings)
	copyRate := float64(len(transfers)) / copySec / rowsPerReading

	fmt.Fprintf(env.Progress, "stream: engine memory through a month of %d meters\n", memoryMeters)
	heap, err := streamEngineMemory(memoryMeters)
	if err != nil {
		return Result{}, err
	}

	slower, slowerName := consumeRate, "raw consume"
	if copyRate < slower {
		slower, slowerName = copyRate, "raw COPY"
	}
	res := Result{Figures: []Figure{
		{Name: "raw kafka-go consume", Value: consumeRate, Unit: "readings/s", Note: fmt.Sprintf("%d readings, %d partitions per topic, one reader per partition", readings, streamPartitions)},
		{Name: "raw COPY of the ledger rows", Value: copyRate, Unit: "readings/s", Note: fmt.Sprintf("%.0f rows/s (%.0f before the end-to-end run, %.0f after); %.2f rows per reading",
			float64(len(transfers))/copySec, float64(len(transfers))/copyBefore, float64(len(transfers))/copyAfter, rowsPerReading)},
		{Name: "offtake without the ledger", Value: bareRate, Unit: "readings/s", Note: "broker → engine → transfers posted, commits discarded: the stream's own limit"},
		{Name: "offtake end to end", Value: e2eRate, Unit: "readings/s", Note: fmt.Sprintf("broker → transfers committed: %d transfers in %d batches, %.1fs", stats.Transfers, stats.Batches, e2eSec)},
	}}
	for _, h := range heap {
		res.Figures = append(res.Figures, Figure{Name: "engine heap, " + h.when, Value: h.mib, Unit: "MiB", Note: fmt.Sprintf("%d meters, after GC; %d intervals open", memoryMeters, h.open)})
	}
	res.Ratios = []Ratio{
		RatioOf("end to end ÷ "+slowerName+" (the slower raw limit)", e2eRate, slower, streamRatioTarget),
		RatioOf(fmt.Sprintf("end to end ÷ %d readings/s", streamReadingsTarget), e2eRate, streamReadingsTarget, 1),
		// Flat memory: the heap at the end of the month is no more than 25%
		// above the heap after the first week, when the retention window fills.
		RatioOf("engine heap after week 1 ÷ at month end (flat ≥ 0.8)", heap[1].mib, heap[len(heap)-1].mib, 0.8),
	}
	return res, nil
}

// streamRawConsume reads every message of the reading topics with one kafka-go
// reader per partition, all feeding one channel as the engine's do, and
// returns the seconds it took.
func streamRawConsume(ctx context.Context, brokers []string, t stream.Topics) (float64, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := map[string][]kafka.OffsetRequest{}
	for _, topic := range []string{t.Generation, t.Consumption} {
		for p := range streamPartitions {
			req[topic] = append(req[topic], kafka.LastOffsetOf(p))
		}
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 2*streamPartitions)
	msgs := make(chan kafka.Message, 8192)
	n := 0
	for topic, parts := range resp.Topics {
		for _, po := range parts {
			if po.LastOffset == 0 {
				continue
			}
			n++
			go func() {
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: po.Partition,
					MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond, QueueCapacity: 1000})
				defer r.Close()
				for {
					m, err := r.FetchMessage(ctx)
					if err != nil {
						done <- err
						return
					}
					msgs <- m
					if m.Offset+1 >= po.LastOffset {
						done <- nil
						return
					}
				}
			}()
		}
	}
	var bytes int
	for n > 0 {
		select {
		case m := <-msgs:
			bytes += len(m.Value)
		case err := <-done:
			if err != nil {
				return 0, err
			}
			n--
		}
	}
	for len(msgs) > 0 {
		<-msgs
	}
	return time.Since(start).Seconds(), nil
}

// streamEndToEnd runs the engine until caught up on a fresh schema and returns
// the seconds from start to the last commit.
func streamEndToEnd(ctx context.Context, url string, brokers []string, t stream.Topics, p *contracts.Portfolio) (float64, stream.Stats, error) {
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		return 0, stream.Stats{}, err
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		return 0, stream.Stats{}, err
	}
	defer store.Close()
	start := time.Now()
	stats, err := stream.Run(ctx, stream.Config{Brokers: brokers, Topics: t, Consumer: "bench", UntilCaughtUp: true,
		SessionTimeout: 6 * time.Second}, p, streamStore{store})
	return time.Since(start).Seconds(), stats, err
}

// streamWithoutLedger runs the engine until caught up with a ledger that
// discards every batch, and returns the seconds it took.
func streamWithoutLedger(ctx context.Context, brokers []string, t stream.Topics, p *contracts.Portfolio) (float64, error) {
	start := time.Now()
	_, err := stream.Run(ctx, stream.Config{Brokers: brokers, Topics: t, Consumer: "bench-no-ledger", UntilCaughtUp: true,
		SessionTimeout: 6 * time.Second}, p, discard{})
	return time.Since(start).Seconds(), err
}

// discard is a ledger that books nothing and knows nothing.
type discard struct{}

func (discard) Commit(_ context.Context, b ledger.Batch) (int, error) { return len(b.Transfers), nil }
func (discard) Offsets(context.Context, string) (map[stream.TopicPartition]int64, error) {
	return nil, nil
}
func (discard) BookedIntervals(context.Context, string) ([]time.Time, error) { return nil, nil }
func (discard) Prices(context.Context, time.Time) ([]ledger.MarketPrice, error) {
	return nil, nil
}

// streamTransfersOf is what the engine books for the input, made without Kafka
// or PostgreSQL.
func streamTransfersOf(p *contracts.Portfolio, in streamtest.Input) ([]ledger.Transfer, error) {
	eng, err := matching.New(p, matching.DefaultConfig())
	if err != nil {
		return nil, err
	}
	var out []ledger.Transfer
	post := func(results []matching.Result) {
		for i := range results {
			s, _ := p.Site(results[i].Site)
			ts, _ := ledger.Post(&results[i], s.Location)
			out = append(out, ts...)
		}
	}
	for _, m := range in.Prices {
		pr, err := messages.DecodePrice(m.Value)
		if err != nil {
			return nil, err
		}
		results, err := eng.AddPrice(pr)
		if err != nil {
			return nil, err
		}
		post(results)
	}
	for _, m := range in.Readings {
		r, err := messages.DecodeReading(m.Value)
		if err != nil {
			return nil, err
		}
		_, results, err := eng.AddReading(r)
		if err != nil {
			return nil, err
		}
		post(results)
	}
	return out, nil
}

// streamCopyColumns are the columns of a ledger transfer row.
var streamCopyColumns = []string{
	"id", "debit_account", "credit_account", "unit", "amount", "leg", "site",
	"interval_start", "interval_end", "period", "revision", "contract_id", "contract_version",
	"quantity_mwh", "price_usd_per_mwh", "price_node", "price_market", "price_start", "price_carried", "readings",
}

// streamRawCopy copies the transfers into a plain table of the same columns
// (no keys, no indexes, no constraints) in batches the size the engine
// commits, one transaction each, and returns the seconds it took. The rows
// are built before the clock starts (each interval's readings encoded to
// JSON once, as the ledger store does): this is PostgreSQL's limit.
func streamRawCopy(ctx context.Context, url string, ts []ledger.Transfer) (float64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	pgxdecimal.Register(conn.TypeMap())
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS bench_stream_copy; CREATE TABLE bench_stream_copy (
		id uuid, debit_account text, credit_account text, unit text, amount numeric, leg text, site text,
		interval_start timestamptz, interval_end timestamptz, period text, revision int,
		contract_id text, contract_version int, quantity_mwh numeric, price_usd_per_mwh numeric,
		price_node text, price_market text, price_start timestamptz, price_carried boolean, readings jsonb)`); err != nil {
		return 0, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS bench_stream_copy`)
	const batch = 2000 * 9 // the engine's default flush: 2,000 intervals of ~9 transfers
	var batches [][][]any
	for i := 0; i < len(ts); i += batch {
		rows := make([][]any, 0, batch)
		var lastJSON []byte
		var lastRefs *ledger.ReadingRef
		for j := i; j < min(i+batch, len(ts)); j++ {
			t := &ts[j]
			if len(t.Readings) > 0 && &t.Readings[0] != lastRefs {
				if lastJSON, err = json.Marshal(t.Readings); err != nil {
					return 0, err
				}
				lastRefs = &t.Readings[0]
			}
			rows = append(rows, []any{t.ID, t.Debit, t.Credit, string(t.Unit), t.Amount, string(t.Leg), t.Site,
				t.IntervalStart, t.IntervalEnd, t.Period, t.Revision, t.Contract, t.ContractVer,
				t.QuantityMWh, t.Price, t.PriceNode, t.PriceMarket, t.PriceStart, t.PriceCarried, lastJSON})
		}
		batches = append(batches, rows)
	}
	start := time.Now()
	for _, rows := range batches {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_stream_copy"}, streamCopyColumns, pgx.CopyFromRows(rows))
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("raw copy: %w", err)
		}
	}
	return time.Since(start).Seconds(), nil
}

// streamHeapPoint is the engine's heap at one point of the month.
type streamHeapPoint struct {
	when string
	mib  float64
	open int
}

// streamEngineMemory feeds an engine a month of readings of meters meters (sites
// of 5 meters, readings made on the fly so only the engine holds memory)
// and the two nodes' prices, pruning prices as the stream does, and
// measures the heap after GC at the end of days 1, 8, 15, 22 and the month.
func streamEngineMemory(meters int) ([]streamHeapPoint, error) {
	sites := meters / streamtest.MetersPerSite
	p, err := streamtest.Portfolio(sites)
	if err != nil {
		return nil, err
	}
	cfg := matching.DefaultConfig()
	eng, err := matching.New(p, cfg)
	if err != nil {
		return nil, err
	}
	ids := make([]string, sites)
	for i := range ids {
		ids[i] = streamtest.SiteID(i)
	}
	meterIDs := []string{"CFEC-GROSS", "CFEC-AUX", "DC-NORTHWIND", "DC-HELIOS", "DC-CEDAR"}
	loc := p.Sites[0].Location
	from, to := streamPeriod.Bounds(loc)
	marks := map[int]string{1: "day 1", 8: "day 8", 15: "day 15", 22: "day 22"}
	var out []streamHeapPoint
	measure := func(when string) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		out = append(out, streamHeapPoint{when: when, mib: float64(ms.HeapAlloc) / (1 << 20), open: eng.Open()})
	}
	base := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}()
	const step = 15 * time.Minute
	day := from.In(loc).Day()
	for t := from; t.Before(to); t = t.Add(step) {
		if d := t.In(loc).Day(); d != day {
			if when, ok := marks[day]; ok {
				measure(when)
			}
			day = d
		}
		k := int64(t.Sub(from) / step)
		for _, node := range []string{"CFEC_CC1_RN", "LZ_WEST"} {
			if _, err := eng.AddPrice(matching.Price{Node: node, Market: "RT", Start: t, End: t.Add(step), USDPerMWh: streamPriceOf(k)}); err != nil {
				return nil, err
			}
		}
		for i, site := range ids {
			for m, meter := range meterIDs {
				e := matching.Wh(100_000_000 + (k*7919+int64(i)*104729+int64(m)*1299709)%50_000_000)
				if m == 1 {
					e /= 40 // station service
				}
				if _, _, err := eng.AddReading(matching.Reading{Site: site, Meter: meter, Start: t, End: t.Add(step), Energy: e, Quality: matching.Actual, Version: 1}); err != nil {
					return nil, err
				}
			}
		}
		if k%96 == 0 {
			eng.PruneBefore(t.Add(-cfg.RetainClosed))
		}
	}
	measure("month end")
	for i := range out {
		out[i].mib -= base
	}
	return out, nil
}

// streamStore fits the PostgreSQL ledger store to what the stream needs
// (as cmd/offtake's storeAdapter does).
type streamStore struct{ *postgres.Store }

// Commit writes a batch and returns the transfers it inserted.
func (s streamStore) Commit(ctx context.Context, b ledger.Batch) (int, error) {
	c, err := s.Store.Commit(ctx, b)
	return c.Inserted, err
}

// Offsets are the stored offsets of a consumer.
func (s streamStore) Offsets(ctx context.Context, consumer string) (map[stream.TopicPartition]int64, error) {
	offs, err := s.Store.Offsets(ctx, consumer)
	out := make(map[stream.TopicPartition]int64, len(offs))
	for tp, o := range offs {
		out[stream.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = o
	}
	return out, err
}

// BookedIntervals are the starts of a site's booked intervals.
func (s streamStore) BookedIntervals(ctx context.Context, site string) ([]time.Time, error) {
	return s.Store.BookedIntervals(ctx, site, time.Time{})
}

// Prices are the stored prices starting at or after since.
func (s streamStore) Prices(ctx context.Context, since time.Time) ([]ledger.MarketPrice, error) {
	return s.Store.Prices(ctx, since)
}

// streamPriceOf is a made-up price in $/MWh for the k-th interval: 20.00 to 59.99.
func streamPriceOf(k int64) decimal.Decimal { return decimal.New(2000+(k*37)%4000, -2) }
