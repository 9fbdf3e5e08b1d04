// Command rulebench measures a filter-and-republish rule from outside, whatever runs the rule
// (wedge's rules engine, or LF Edge eKuiper subscribed to the same broker): one publisher sends
// JSON readings {"temperature": 60, "seq": n, "ts": <unix ns>} to -in at a fixed rate (QoS 0,
// paced in 1 ms ticks), one subscriber reads -out, and rulebench prints, as JSON, the delivered
// rate and the latency percentiles (send → receive, from the "ts" each output carries through
// SELECT *, at the top level as eKuiper outputs it, or inside the "payload" column as wedge's
// SELECT * does). Outputs that are JSON arrays (a sink that batches) count each element.
//
//	rulebench -addr 127.0.0.1:1883 -rate 30000 -duration 5s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/wedge-iot/wedge/testbed/client"
)

// Result is rulebench's output.
type Result struct {
	Rate        int     `json:"target_rate"`
	Sent        int     `json:"sent"`
	Delivered   int     `json:"delivered"`
	DeliveredPS float64 `json:"delivered_per_sec"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "broker host:port")
	in := flag.String("in", "t/1", "topic the readings are published to")
	out := flag.String("out", "out/1", "topic the rule's output arrives on")
	rate := flag.Int("rate", 10000, "readings per second")
	dur := flag.Duration("duration", 5*time.Second, "publishing time")
	drain := flag.Duration("drain", 3*time.Second, "how long to wait for late outputs")
	flag.Parse()
	res, err := run(*addr, *in, *out, *rate, *dur, *drain)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rulebench:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func run(addr, in, out string, rate int, dur, drain time.Duration) (Result, error) {
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	var last time.Time
	record := func(b []byte) {
		var one struct {
			TS      int64  `json:"ts"`
			Payload string `json:"payload"` // EMQX-style SELECT *: the reading is the payload column
		}
		if json.Unmarshal(b, &one) != nil {
			return
		}
		if one.TS == 0 && one.Payload != "" {
			_ = json.Unmarshal([]byte(one.Payload), &one)
		}
		if one.TS > 0 {
			lat = append(lat, time.Since(time.Unix(0, one.TS)))
		}
	}
	sub, err := client.DialPipe(ctx, client.PipeOptions{RawOptions: client.RawOptions{Addr: addr, ClientID: fmt.Sprintf("rulebench-sub-%d", time.Now().UnixNano())},
		OnMessage: func(m client.Message) {
			mu.Lock()
			defer mu.Unlock()
			last = time.Now()
			p := bytes.TrimSpace(m.Payload)
			if len(p) > 0 && p[0] == '[' {
				var arr []json.RawMessage
				if json.Unmarshal(p, &arr) == nil {
					for _, e := range arr {
						record(e)
					}
				}
				return
			}
			record(p)
		}})
	if err != nil {
		return Result{}, fmt.Errorf("subscriber: %w", err)
	}
	defer sub.Close()
	if err := sub.Subscribe(ctx, out, 0); err != nil {
		return Result{}, err
	}
	pub, err := client.DialPipe(ctx, client.PipeOptions{RawOptions: client.RawOptions{Addr: addr, ClientID: fmt.Sprintf("rulebench-pub-%d", time.Now().UnixNano())}})
	if err != nil {
		return Result{}, fmt.Errorf("publisher: %w", err)
	}
	defer pub.Close()
	sent := 0
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < dur {
		<-tick.C
		due := int(float64(rate) * time.Since(start).Seconds())
		for ; sent < due; sent++ {
			payload := fmt.Appendf(nil, `{"temperature":60,"seq":%d,"ts":%d}`, sent, time.Now().UnixNano())
			if err := pub.Publish(ctx, in, 0, payload); err != nil {
				return Result{}, err
			}
		}
	}
	elapsed := time.Since(start)
	// Wait until outputs stop arriving (or drain passes).
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		quiet := !last.IsZero() && time.Since(last) > 500*time.Millisecond
		n := len(lat)
		mu.Unlock()
		if quiet || n >= sent {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	res := Result{Rate: rate, Sent: sent, Delivered: len(lat)}
	if len(lat) > 0 {
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		res.P50, res.P99, res.Max = ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1])
		// Delivered per second of publishing: outputs that arrived, over the publishing time.
		res.DeliveredPS = float64(len(lat)) / elapsed.Seconds()
	}
	return res, nil
}
