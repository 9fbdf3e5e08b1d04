package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/testbed/client"
	"github.com/wedge-iot/wedge/testbed/internal/baremochi"
)

// startMochi starts a bare mochi-mqtt server on a free loopback port.
func startMochi(t *testing.T) string {
	t.Helper()
	srv, addr, err := baremochi.Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return addr
}

func TestPublishSubscribe(t *testing.T) {
	addr := startMochi(t)
	for _, version := range []int{client.V5, client.V311} {
		t.Run(fmt.Sprintf("mqtt%d", version), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := make(chan client.Message, 10)
			sub, err := client.Dial(ctx, client.Options{
				Addr: addr, ClientID: fmt.Sprintf("sub-%d", version), Version: version,
				OnMessage: func(m client.Message) { got <- m },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			topic := fmt.Sprintf("t/%d", version)
			if err := sub.Subscribe(ctx, topic, 1); err != nil {
				t.Fatal(err)
			}
			pub, err := client.Dial(ctx, client.Options{Addr: addr, ClientID: fmt.Sprintf("pub-%d", version), Version: version})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			clock := client.NewClock()
			for seq := range 3 {
				p := client.NewPayload(client.Header{Publisher: 4, Seq: uint64(seq), SentNanos: clock.Nanos()}, 100)
				if err := pub.Publish(ctx, topic, 1, false, p); err != nil {
					t.Fatal(err)
				}
			}
			tr := client.NewTracker()
			for range 3 {
				select {
				case m := <-got:
					h, err := client.DecodeHeader(m.Payload)
					if err != nil || m.Topic != topic || m.QoS != 1 || len(m.Payload) != 100 {
						t.Fatalf("got %+v (%v)", m, err)
					}
					tr.Observe(h.Publisher, h.Seq)
				case <-ctx.Done():
					t.Fatal("message not delivered")
				}
			}
			if c := tr.Counts(); c.Unique != 3 || c.OutOfOrder != 0 || tr.Missing(4, 3) != 0 {
				t.Fatalf("counts %+v", c)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := client.Dial(ctx, client.Options{Addr: "127.0.0.1:1"}); err == nil {
		t.Fatal("dial without client id succeeded")
	}
	if _, err := client.Dial(ctx, client.Options{Addr: "127.0.0.1:1", ClientID: "x", Version: 3}); err == nil {
		t.Fatal("dial with MQTT version 3 succeeded")
	}
	// Nothing listens on port 1.
	if _, err := client.Dial(ctx, client.Options{Addr: "127.0.0.1:1", ClientID: "x", ConnectTimeout: time.Second}); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

func TestRawConnectManyAndPing(t *testing.T) {
	addr := startMochi(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, version := range []int{client.V311, client.V5} {
		conns, st := client.ConnectMany(ctx, 50, client.Pace{Concurrency: 8}, func(ctx context.Context, i int) (*client.RawConn, error) {
			return client.DialRaw(ctx, client.RawOptions{Addr: addr, ClientID: fmt.Sprintf("raw-%d-%d", version, i), Version: version, KeepAlive: time.Minute})
		})
		if st.Connected != 50 || st.Failed != 0 || len(conns) != 50 || st.FirstError != nil {
			t.Fatalf("v%d: stats %+v", version, st)
		}
		if st.ConnectsPerSecond() <= 0 || st.ConnectLatency.Count != 50 {
			t.Fatalf("v%d: stats %+v", version, st)
		}
		if err := conns[0].Ping(ctx); err != nil {
			t.Fatalf("v%d: ping: %v", version, err)
		}
		_ = conns[0].Close()
		for _, c := range conns[1:] {
			c.Abort()
		}
	}
}

func TestConnectManyPaceAndFailures(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	conns, st := client.ConnectMany(ctx, 10, client.Pace{Rate: 100, Concurrency: 2}, func(_ context.Context, i int) (int, error) {
		if i%5 == 0 {
			return 0, errors.New("refused")
		}
		return i, nil
	})
	// 10 attempts at 100/s take about 90ms.
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Fatalf("10 attempts at 100/s took %v", el)
	}
	if len(conns) != 8 || st.Connected != 8 || st.Failed != 2 || st.Attempted != 10 || st.FirstError == nil {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectManyStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, st := client.ConnectMany(ctx, 1000, client.Pace{Rate: 10}, func(context.Context, int) (int, error) { return 0, nil })
	if st.Attempted >= 1000 || st.FirstError == nil {
		t.Fatalf("stats %+v", st)
	}
}

func TestDialRawRefusedWrongVersion(t *testing.T) {
	if _, err := client.DialRaw(context.Background(), client.RawOptions{Addr: "127.0.0.1:1", ClientID: "x", Version: 3}); err == nil {
		t.Fatal("raw dial with version 3 succeeded")
	}
}
