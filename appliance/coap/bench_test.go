package coap_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocoap "github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/wedge-iot/wedge/testbed/client"
)

// BenchmarkPublish measures CON PUT publishes per second from 8 CoAP clients through the gateway
// into a real MQTT subscriber (each PUT waits for its 2.04).
func BenchmarkPublish(b *testing.B) {
	e := newEnv(b, nil)
	var got atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Dial(ctx, client.Options{Addr: e.mqtt, ClientID: "bench-sub", OnMessage: func(client.Message) { got.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(ctx, "bench/#", 0); err != nil {
		b.Fatal(err)
	}
	const clients = 8
	payload := bytes.Repeat([]byte("x"), 64)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		cc := e.dial()
		n := b.N / clients
		if c == 0 {
			n += b.N % clients
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				req, _ := cc.NewPutRequest(ctx, "/mqtt/bench/t", gocoap.TextPlain, bytes.NewReader(payload))
				req.AddQuery("c=bench")
				resp, err := cc.Do(req)
				if err != nil || resp.Code() != codes.Changed {
					b.Error(err)
				}
				cc.ReleaseMessage(req)
				cancel()
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 2000 && got.Load() < int64(b.N); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
	b.ReportMetric(float64(got.Load())/float64(b.N)*100, "%delivered")
}
