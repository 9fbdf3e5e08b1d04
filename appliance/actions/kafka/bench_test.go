package kafka

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/appliance/outbox"
)

// drainRate queues n records, then registers the connector and returns
// records per second until the outbox has delivered them all.
func drainRate(b *testing.B, addrs []string, n int, q outbox.QueueOptions) float64 {
	c, err := New(Config{Servers: addrs, Topic: "bench", Key: "${dev}"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ob, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	id := outbox.QueueID{Rule: "bench", Action: 0}
	var last *outbox.Pending
	for i := range n {
		data, _ := actions.EncodeOutput(map[string]any{"dev": fmt.Sprintf("d%d", i%10), "n": i, "v": 21.5})
		last = ob.Enqueue(id, data)
	}
	if err := last.Wait(b.Context()); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := ob.Register(id, c, q); err != nil {
		b.Fatal(err)
	}
	for {
		if s, _ := ob.QueueStats(id); s.Delivered == uint64(n) {
			break
		}
		if time.Since(start) > time.Minute {
			b.Fatal("not drained within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkKafkaBatching: end-to-end outbox → Kafka (kfake, 3 partitions)
// throughput with batching on (100 records per produce) vs off (one record
// per produce), same run, median of 3.
//
//	go test -run '^$' -bench KafkaBatching -benchtime 1x ./appliance/actions/kafka/
func BenchmarkKafkaBatching(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	addrs := c.ListenAddrs()
	med := func(v []float64) float64 {
		for i := range v {
			for j := i + 1; j < len(v); j++ {
				if v[j] < v[i] {
					v[i], v[j] = v[j], v[i]
				}
			}
		}
		return v[len(v)/2]
	}
	for range b.N {
		var on, off []float64
		for range 3 {
			on = append(on, drainRate(b, addrs, 10_000, outbox.QueueOptions{BatchSize: 100, BatchInterval: 5 * time.Millisecond}))
			off = append(off, drainRate(b, addrs, 1_000, outbox.QueueOptions{BatchSize: 1}))
		}
		bon, boff := med(on), med(off)
		b.ReportMetric(bon, "batched_rec/s")
		b.ReportMetric(boff, "unbatched_rec/s")
		b.ReportMetric(bon/boff, "ratio")
		b.Logf("outbox → kafka: batching on %.0f rec/s, off %.0f rec/s, ratio %.1fx", bon, boff, bon/boff)
	}
}
