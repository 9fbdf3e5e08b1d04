package mqttbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/appliance/actions/internal/testcert"
	"github.com/wedge-iot/wedge/appliance/outbox"
)

func record(t *testing.T, seq uint64, out map[string]any) actions.Record {
	b, err := actions.EncodeOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	return actions.Record{Queue: outbox.QueueID{Rule: "r", Action: 0}, Seq: seq, Data: b}
}

func waitHealthy(t *testing.T, c *Connector) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, detail := c.Health()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge never connected: %s", detail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestForwardWithTemplates(t *testing.T) {
	m := newMosquitto(t, false)
	m.Start()
	sub := subscribe(t, m.addr(), "sub-fwd", "up/#")
	c, err := New(Config{Server: m.addr(), Topic: "up/${dev}", PayloadTmpl: `${n}:${payload.v}`, ClientID: "bridge-fwd"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitHealthy(t, c)
	var recs []actions.Record
	for i := range 50 {
		recs = append(recs, record(t, uint64(i+1), map[string]any{"dev": "d1", "n": i, "payload": fmt.Sprintf(`{"v":"x%d"}`, i)}))
	}
	recs = append(recs, record(t, 51, map[string]any{"dev": "bad/#"}))
	res := c.Deliver(context.Background(), recs)
	for i, err := range res.Errs {
		if (err != nil) != (i == 50) || (i == 50 && !actions.IsPermanent(err)) {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	got := sub.wait(t, 50, 5*time.Second)
	for i, msg := range got {
		if msg.Topic() != "up/d1" || string(msg.Payload()) != fmt.Sprintf("%d:x%d", i, i) || msg.Qos() != 1 {
			t.Fatalf("message %d: %s %q qos %d", i, msg.Topic(), msg.Payload(), msg.Qos())
		}
	}
}

func TestUpstreamToLocal(t *testing.T) {
	m := newMosquitto(t, false)
	m.Start()
	var mu sync.Mutex
	var local []Message
	c, err := New(Config{Server: m.addr(), ClientID: "bridge-down",
		Subscriptions: []Subscription{{Topic: "cmd/#", QoS: 1, LocalTopic: "local/${topic}"}, {Topic: "cfg/+", QoS: 0}},
		OnMessage: func(msg Message) {
			mu.Lock()
			local = append(local, msg)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitHealthy(t, c)
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + m.addr()).SetClientID("pub-down"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	// The subscriptions are made asynchronously after connect: publish until the first arrives.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pub.Publish("cmd/probe", 1, false, "probe").WaitTimeout(time.Second)
		mu.Lock()
		n := len(local)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscription never delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 20 {
		pub.Publish("cmd/dev"+strconv.Itoa(i), 1, false, strconv.Itoa(i)).WaitTimeout(time.Second)
	}
	pub.Publish("cfg/x", 1, true, "cfg").WaitTimeout(time.Second)
	deadline = time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := append([]Message(nil), local...)
		mu.Unlock()
		var cmds []Message
		var cfg *Message
		for i := range got {
			if strings.HasPrefix(got[i].Topic, "local/cmd/dev") {
				cmds = append(cmds, got[i])
			}
			if got[i].Topic == "cfg/x" {
				cfg = &got[i]
			}
		}
		if len(cmds) == 20 && cfg != nil {
			for i, msg := range cmds {
				if msg.Topic != "local/cmd/dev"+strconv.Itoa(i) || string(msg.Payload) != strconv.Itoa(i) || msg.QoS != 1 {
					t.Fatalf("message %d: %+v", i, msg)
				}
			}
			if cfg.QoS != 0 || string(cfg.Payload) != "cfg" {
				t.Fatalf("cfg message: %+v", *cfg)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d command messages, cfg %v", len(cmds), cfg != nil)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDownIsTransientAtOnce(t *testing.T) {
	m := newMosquitto(t, false) // reserved port, not started
	c, err := New(Config{Server: m.addr(), Topic: "x", ClientID: "bridge-down-2", ReconnectInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	res := c.Deliver(context.Background(), []actions.Record{record(t, 1, map[string]any{})})
	if res.Errs[0] == nil || actions.IsPermanent(res.Errs[0]) || time.Since(start) > time.Second {
		t.Fatalf("down: %v after %v", res.Errs[0], time.Since(start))
	}
	if ok, detail := c.Health(); ok || !strings.Contains(detail, "not connected") {
		t.Fatalf("Health while down: %v %q", ok, detail)
	}
}

func TestConfigErrors(t *testing.T) {
	q2 := byte(3)
	for _, cfg := range []Config{
		{Server: "nohostport", Topic: "t"},
		{Server: "127.0.0.1:1"},
		{Server: "127.0.0.1:1", Topic: "a/#"},
		{Server: "127.0.0.1:1", Subscriptions: []Subscription{{Topic: "a", QoS: q2}}},
		{Server: "127.0.0.1:1", Subscriptions: []Subscription{{Topic: "a"}}}, // no OnMessage
	} {
		if c, err := New(cfg); err == nil {
			c.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestFaultUpstreamDownThenBack: the upstream is down while records are
// enqueued through the outbox with the bridge; when it starts, every record
// arrives, in order, with no new traffic.
func TestFaultUpstreamDownThenBack(t *testing.T) {
	m := newMosquitto(t, true)
	// Create the subscriber's persistent session, then stop the upstream
	// (it saves the session) so that it misses nothing while away.
	m.Start()
	sub := subscribe(t, m.addr(), "sub-fault", "fault/#")
	m.Stop()

	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	c, err := New(Config{Server: m.addr(), Topic: "fault/${dev}", ClientID: "bridge-fault", ReconnectInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := outbox.QueueID{Rule: "fault", Action: 0}
	if err := ob.Register(id, c, outbox.QueueOptions{BatchSize: 100, RetryBase: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond, BreakerThreshold: 3}); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var ps []*outbox.Pending
	for i := range n {
		data, _ := actions.EncodeOutput(map[string]any{"dev": "d", "n": i})
		ps = append(ps, ob.Enqueue(id, data))
	}
	for _, p := range ps {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	st, _ := ob.QueueStats(id)
	if st.Depth != n || (st.State != outbox.StateBackoff && st.State != outbox.StateOpenCircuit) || st.Delivered != 0 {
		t.Fatalf("while the upstream is down: %+v", st)
	}
	if ok, _ := c.Health(); ok {
		t.Fatal("healthy while the upstream is down")
	}

	m.Start()
	deadline := time.Now().Add(30 * time.Second)
	for len(sub.got()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(sub.got()) < n {
		st, _ := ob.QueueStats(id)
		log, _ := os.ReadFile(filepath.Join(m.dir, "log"))
		t.Fatalf("received %d of %d; outbox %+v; mosquitto log:\n%s", len(sub.got()), n, st, log)
	}
	got := sub.got()
	for i, msg := range got[:n] {
		var v struct{ N int }
		if err := json.Unmarshal(msg.Payload(), &v); err != nil || v.N != i {
			t.Fatalf("message %d: %q", i, msg.Payload())
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		st, _ = ob.QueueStats(id)
		if st.Depth == 0 && st.Delivered == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the upstream came back: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if extra := len(sub.got()) - n; extra != 0 {
		t.Logf("%d duplicates (at-least-once)", extra)
	}
}

// TestTLSAndPassword: a TLS listener that requires a username and password.
func TestTLSAndPassword(t *testing.T) {
	m := newMosquitto(t, false)
	pair, err := testcert.New(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	pwfile := filepath.Join(m.dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pwfile, "edge", "s3cret").CombinedOutput(); err != nil {
		t.Skipf("SKIP (LOUD): mosquitto_passwd failed (package mosquitto): %v: %s", err, out)
	}
	_ = os.Chmod(pwfile, 0o644)
	conf := fmt.Sprintf("per_listener_settings false\nallow_anonymous false\npassword_file %s\nlistener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n",
		pwfile, m.port, pair.CAFile, pair.CertFile, pair.KeyFile)
	if err := os.WriteFile(filepath.Join(m.dir, "mosquitto.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Start()
	c, err := New(Config{Server: m.addr(), Topic: "sec/${n}", ClientID: "bridge-tls", Username: "edge", Password: "s3cret", TLS: pair.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitHealthy(t, c)
	if res := c.Deliver(context.Background(), []actions.Record{record(t, 1, map[string]any{"n": 1})}); res.Errs[0] != nil {
		t.Fatalf("over TLS: %v", res.Errs[0])
	}
	bad, err := New(Config{Server: m.addr(), Topic: "x", ClientID: "bridge-tls-bad", Username: "edge", Password: "wrong", TLS: pair.Client, ReconnectInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	time.Sleep(300 * time.Millisecond)
	if ok, _ := bad.Health(); ok {
		t.Fatal("connected with a wrong password")
	}
}
