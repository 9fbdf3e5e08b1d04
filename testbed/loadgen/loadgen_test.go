package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

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

func TestRunAgainstMochi(t *testing.T) {
	addr := startMochi(t)
	tests := []struct {
		name     string
		s        Scenario
		expected int64
	}{
		{"fan-in QoS 1", Scenario{Kind: FanIn, Publishers: 4, QoS: 1, Messages: 50}, 200},
		{"fan-in QoS 1 window 8", Scenario{Kind: FanIn, Publishers: 2, QoS: 1, Messages: 100, Window: 8}, 200},
		{"fan-in QoS 1 paho", Scenario{Kind: FanIn, Publishers: 4, QoS: 1, Messages: 50, Client: "paho"}, 200},
		{"fan-in QoS 0 MQTT 3.1.1", Scenario{Kind: FanIn, Publishers: 3, QoS: 0, Messages: 20, Version: 4, Rate: 2000}, 60},
		{"fan-in QoS 0 MQTT 3.1.1 paho", Scenario{Kind: FanIn, Publishers: 3, QoS: 0, Messages: 20, Version: 4, Rate: 2000, Client: "paho"}, 60},
		{"fan-out QoS 1", Scenario{Kind: FanOut, Subscribers: 5, QoS: 1, Messages: 30, PayloadSize: 1000}, 150},
		{"fan-out QoS 1 MQTT 3.1.1 paho", Scenario{Kind: FanOut, Subscribers: 5, QoS: 1, Messages: 30, Version: 4, Client: "paho"}, 150},
		{"slow subscriber QoS 1", Scenario{Kind: FanIn, Publishers: 2, QoS: 1, Messages: 50, SubscriberPause: 200 * time.Millisecond}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.Addr = addr
			tt.s.WatchPID = os.Getpid()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Expected != tt.expected || res.Delivered != tt.expected || res.Lost != 0 || res.Duplicates != 0 ||
				res.OutOfOrder != 0 || res.SendErrors != 0 || res.Foreign != 0 {
				t.Fatalf("result %+v", res)
			}
			if res.MsgsPerSec <= 0 || res.Latency.Count != tt.expected || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
				t.Fatalf("figures %+v", res)
			}
			if res.BrokerRSSKiB <= 0 || res.BrokerHWMKiB < res.BrokerRSSKiB {
				t.Fatalf("memory %d/%d KiB", res.BrokerRSSKiB, res.BrokerHWMKiB)
			}
			if tt.s.SubscriberPause > 0 && res.Latency.Max < float64(tt.s.SubscriberPause/time.Millisecond)/2 {
				t.Fatalf("the subscriber pause did not show in latency: %+v", res.Latency)
			}
			if _, err := json.Marshal(res); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRunConnect(t *testing.T) {
	addr := startMochi(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, Scenario{Kind: Connect, Addr: addr, Connections: 100, ConnectConcurrency: 8, Hold: 100 * time.Millisecond, WatchPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 100 || res.ConnectFailed != 0 || res.ConnectsPerSec <= 0 || res.HoldSeconds < 0.1 || res.BrokerRSSKiB <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestRunRejectsBadScenarios(t *testing.T) {
	for _, s := range []Scenario{
		{Kind: FanIn},                                  // no address
		{Kind: "sideways", Addr: "127.0.0.1:1"},        // unknown kind
		{Kind: FanIn, Addr: "127.0.0.1:1", QoS: 3},     // bad QoS
		{Kind: FanIn, Addr: "127.0.0.1:1", Version: 3}, // bad version
		{Kind: FanIn, Addr: "127.0.0.1:1", Client: "x"},
		{Kind: FanIn, Addr: "127.0.0.1:1", QoS: 2},                    // pipe: QoS 0 and 1 only
		{Kind: FanIn, Addr: "127.0.0.1:1", Client: "paho", Window: 4}, // paho has no window
	} {
		if _, err := Run(context.Background(), s); err == nil {
			t.Errorf("Run(%+v) succeeded", s)
		}
	}
}

func TestReadProcCPU(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ { // burn a little CPU
		_ = n * n
	}
	d, err := ReadProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > time.Hour {
		t.Fatalf("CPU time %v", d)
	}
	if _, err := ReadProcCPU(-1); err == nil {
		t.Fatal("read CPU time of pid -1 succeeded")
	}
}

func TestReadProcMemory(t *testing.T) {
	m, err := ReadProcMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("memory %+v", m)
	}
	if _, err := ReadProcMemory(-1); err == nil {
		t.Fatal("read memory of pid -1 succeeded")
	}
}
