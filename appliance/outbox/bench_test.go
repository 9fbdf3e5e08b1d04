package outbox

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// enqueueThroughput enqueues n records of size bytes from `writers`
// goroutines that each wait for every record (as publishers waiting on their
// PUBACK do) and returns durable records per second.
func enqueueThroughput(tb testing.TB, opts Options, n, writers, size int) float64 {
	opts.Logger = quietLogger()
	o, err := Open(tempPath(tb), opts)
	if err != nil {
		tb.Fatal(err)
	}
	defer o.Close()
	data := make([]byte, size)
	var wg sync.WaitGroup
	start := time.Now()
	per := n / writers
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := QueueID{"bench", w % 8}
			for range per {
				if err := o.Enqueue(id, data).Wait(context.Background()); err != nil {
					tb.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(per*writers) / time.Since(start).Seconds()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkGroupCommit compares durable enqueue throughput with group commit
// (the default options) against one transaction (one fsync) per record, in
// the same run: median of 3 each, 200-byte records, with 256 and 1024
// concurrent publishers that each wait for every record to be durable.
//
//	go test -run '^$' -bench GroupCommit -benchtime 1x ./appliance/outbox/
func BenchmarkGroupCommit(b *testing.B) {
	const size = 200
	for _, writers := range []int{256, 1024} {
		b.Run(fmt.Sprintf("publishers=%d", writers), func(b *testing.B) {
			for range b.N {
				var group, single []float64
				for range 3 {
					group = append(group, enqueueThroughput(b, Options{CommitInterval: benchInterval()}, 100_000, writers, size))
					single = append(single, enqueueThroughput(b, Options{MaxGroup: 1, CommitInterval: -1}, 2_048, writers, size))
				}
				g, s := median(group), median(single)
				b.ReportMetric(g, "group_rec/s")
				b.ReportMetric(s, "per_record_tx_rec/s")
				b.ReportMetric(g/s, "ratio")
				b.Logf("%s/%s, %d CPUs, %d publishers: group commit %.0f rec/s, one tx per record %.0f rec/s, ratio %.1fx",
					runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), writers, g, s, g/s)
			}
		})
	}
}

// BenchmarkEnqueueWait measures one publisher's enqueue-to-durable latency
// (a lone writer pays the linger interval plus one fsync).
func BenchmarkEnqueueWait(b *testing.B) {
	for _, linger := range []time.Duration{-1, time.Millisecond} {
		b.Run(fmt.Sprintf("linger=%v", max(linger, 0)), func(b *testing.B) {
			o := openTest(b, tempPath(b), Options{CommitInterval: linger})
			defer o.Close()
			data := make([]byte, 200)
			b.ResetTimer()
			for range b.N {
				if err := o.Enqueue(QueueID{"b", 0}, data).Wait(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchInterval is the group-commit linger BenchmarkGroupCommit uses: the default, or
// WEDGE_BENCH_COMMIT_INTERVAL (e.g. "-1ns": no linger) to compare.
func benchInterval() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("WEDGE_BENCH_COMMIT_INTERVAL"))
	return d
}
