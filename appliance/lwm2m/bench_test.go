package lwm2m_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/testbed/client"
	"github.com/wedge-iot/wedge/testbed/lwm2msim"
)

// BenchmarkRegister measures registrations per second: fresh simulated devices (each with its
// own UDP socket) registering with 8 in parallel, the register event published into MQTT.
func BenchmarkRegister(b *testing.B) {
	e := newEnv(b, nil)
	fleet := lwm2msim.NewFleet(b.N, lwm2msim.Config{Endpoint: fmt.Sprintf("bench-%d", time.Now().UnixNano())})
	defer fleet.Close()
	b.ResetTimer()
	start := time.Now()
	if err := fleet.Register(context.Background(), e.addr, 8); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registrations/s")
}

// BenchmarkNotify measures notifications per second from 50 observed simulated devices into a
// real MQTT subscriber (the time until the subscriber has received every notification), with at
// most 100 notifications in flight.
func BenchmarkNotify(b *testing.B) {
	e := newEnv(b, nil)
	const devices = 50
	fleet := lwm2msim.NewFleet(devices, lwm2msim.Config{Endpoint: "nb"})
	defer fleet.Close()
	if err := fleet.Register(context.Background(), e.addr, 8); err != nil {
		b.Fatal(err)
	}
	for i, d := range fleet.Devices {
		r := e.command(d.Endpoint(), i+1, "observe", `{"path":"/3/0/9"}`)
		if data(r)["code"] != "2.05" {
			b.Fatalf("observe %v", r)
		}
	}
	var got atomic.Int64
	done := make(chan struct{}, 1)
	target := int64(b.N)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sub, err := client.Dial(ctx, client.Options{Addr: e.b.Addr("tcp"), ClientID: "bench-sub", OnMessage: func(m client.Message) {
		if got.Add(1) == target {
			done <- struct{}{}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(ctx, "lwm2m/+/up/notify", 0); err != nil {
		b.Fatal(err)
	}
	cancel()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// at most 100 in flight: UDP and the subscriber's QoS 0 queue are not flow controlled
		for n := 0; int64(i)-got.Load() > 100 && n < 100000; n++ {
			time.Sleep(50 * time.Microsecond)
		}
		fleet.Devices[i%devices].Set("/3/0/9", int64(i%100))
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("received %d of %d notifications", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "notifications/s")
}

func rssKB(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// TestRSSWith1000Devices measures the resident memory of the broker and LwM2M server with
// 1,000 registered devices; the devices run in a separate process (cmd/lwm2msim) so that their
// memory is not counted. Set WEDGE_LWM2M_RSS=1 to run it (it builds the simulator).
func TestRSSWith1000Devices(t *testing.T) {
	if os.Getenv("WEDGE_LWM2M_RSS") == "" {
		t.Skip("set WEDGE_LWM2M_RSS=1 to measure RSS with 1,000 simulated devices")
	}
	e := newEnv(t, nil)
	bin := filepath.Join(t.TempDir(), "lwm2msim")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/wedge-iot/wedge/testbed/cmd/lwm2msim").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	runtime.GC()
	before := rssKB(os.Getpid())
	cmd := exec.Command(bin, "-server", e.addr, "-n", "1000", "-prefix", "rss", "-duration", "60s", "-deregister=false")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitForN(t, func() bool { return e.srv.Counters().Clients == 1000 })
	time.Sleep(time.Second)
	runtime.GC()
	after := rssKB(os.Getpid())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("RSS before: %d kB, with 1000 registered devices: %d kB (+%d kB, %.1f kB/device); Go heap in use %d kB",
		before, after, after-before, float64(after-before)/1000, ms.HeapInuse/1024)
}

func waitForN(t testing.TB, cond func() bool) {
	t.Helper()
	for i := 0; i < 1200; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("timed out")
}
