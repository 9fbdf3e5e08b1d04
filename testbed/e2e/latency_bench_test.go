package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/appliance/outbox"
)

// BenchmarkPublishLatencyDurable measures what a durable async action adds to a QoS 1
// publisher's latency (PUBLISH sent → PUBACK read), through the real binary: four daemons side
// by side — no rules; a rule with an async webhook action and outbox.durability durable (the
// PUBACK waits for the group commit); the same with durability fast — each fed by one paced
// publisher (one message in flight, 500 msg/s), the webhook target up; and durable with
// outbox.commit_interval 0 (no linger: the fsync alone). The configurations take
// turns, 3 rounds of 1,500 messages each, so they see the same machine load; medians of the
// rounds' p50 and p99 are reported, with the durable path's p99 minus the baseline's. The
// yardstick is measured in the same run on the same disk: one group commit (a lone writer's
// enqueue until durable, through the outbox alone).
//
//	go test ./testbed/e2e -run '^$' -bench PublishLatency -benchtime 1x
func BenchmarkPublishLatencyDurable(b *testing.B) {
	const rounds, perRound, rate = 3, 1500, 500
	tg := newTarget(b)
	tg.up.Store(true)
	type cfg struct {
		name   string
		env    []string
		rule   bool
		d      *daemon
		p50s   []float64
		p99s   []float64
		sample []time.Duration
	}
	cfgs := []*cfg{
		{name: "no rules"},
		{name: "async webhook, durable", rule: true},
		{name: "async webhook, fast", rule: true, env: []string{"WEDGE_OUTBOX_DURABILITY=fast"}},
		{name: "durable, commit_interval 0", rule: true, env: []string{"WEDGE_OUTBOX_COMMIT_INTERVAL=0s"}},
	}
	for _, c := range cfgs {
		c.d = start(b, startOpt{env: c.env})
		if c.rule {
			webhookRule(b, c.d, "lat", tg, "")
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for _, c := range cfgs {
				lat := paced(b, c.d, fmt.Sprintf("lat-%d-%d", i, r), perRound, rate)
				slices.Sort(lat)
				c.p50s = append(c.p50s, ms(lat[len(lat)/2]))
				c.p99s = append(c.p99s, ms(lat[len(lat)*99/100]))
			}
		}
	}
	b.StopTimer()
	// The yardstick, on the same disk in the same run: one group commit (a lone
	// writer's enqueue until durable, through the outbox alone, paced the same way).
	commit := commitLatency(b, perRound, rate)
	slices.Sort(commit)
	cp50, cp99 := ms(commit[len(commit)/2]), ms(commit[len(commit)*99/100])
	b.Logf("%-24s p50 %.2f ms  p99 %.2f ms", "one group commit", cp50, cp99)
	base := median(cfgs[0].p99s)
	for _, c := range cfgs {
		p50, p99 := median(c.p50s), median(c.p99s)
		b.Logf("%-24s p50 %.2f ms  p99 %.2f ms  (p99 rounds %v)  p99 − baseline %.2f ms", c.name, p50, p99, c.p99s, p99-base)
	}
	b.ReportMetric(median(cfgs[0].p99s), "p99-none-ms")
	b.ReportMetric(median(cfgs[1].p99s), "p99-durable-ms")
	b.ReportMetric(median(cfgs[1].p99s)-base, "p99-added-durable-ms")
	b.ReportMetric(median(cfgs[2].p99s)-base, "p99-added-fast-ms")
	b.ReportMetric(median(cfgs[3].p99s)-base, "p99-added-durable-nolinger-ms")
	b.ReportMetric(median(cfgs[1].p50s)-median(cfgs[0].p50s), "p50-added-durable-ms")
	b.ReportMetric(cp99, "p99-one-commit-ms")
}

// commitLatency enqueues n records at rate per second into an outbox of its own (default
// options) in a data directory on the daemons' filesystem, one at a time, and returns each
// one's Enqueue → durable time: the cost of one group commit on this disk.
func commitLatency(b *testing.B, n, rate int) []time.Duration {
	ob, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	q := outbox.QueueID{Rule: "lat", Action: 0}
	if err := ob.Register(q, outbox.DelivererFunc(func(context.Context, []outbox.Record) outbox.BatchResult {
		return outbox.BatchResult{}
	}), outbox.QueueOptions{}); err != nil {
		b.Fatal(err)
	}
	return timePaced(b, n, rate, func(i int) error {
		return ob.Enqueue(q, fmt.Appendf(nil, `{"n":%d}`, i)).Wait(context.Background())
	})
}

// timePaced calls do n times, at rate calls per second, and returns each call's duration.
func timePaced(b *testing.B, n, rate int, do func(i int) error) []time.Duration {
	lat := make([]time.Duration, 0, n)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; i < n; i++ {
		<-tick.C
		t0 := time.Now()
		if err := do(i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat
}

// paced publishes n QoS 1 messages to the "lat" rule's topic at rate per second, one in flight,
// and returns each one's PUBLISH → PUBACK time.
func paced(b *testing.B, d *daemon, id string, n, rate int) []time.Duration {
	p := pipe(b, d, id)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return timePaced(b, n, rate, func(i int) error {
		if err := p.Publish(ctx, "f/lat", 1, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			return err
		}
		return p.Drain(ctx)
	})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
