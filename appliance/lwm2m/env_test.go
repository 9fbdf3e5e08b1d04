package lwm2m_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/appliance/lwm2m"
	"github.com/wedge-iot/wedge/testbed/client"
	"github.com/wedge-iot/wedge/testbed/lwm2msim"
)

// env is a real broker, a real LwM2M server and a real MQTT subscriber on lwm2m/#.
type env struct {
	t    testing.TB
	b    *broker.Broker
	srv  *lwm2m.Server
	addr string
	sub  client.Conn
	pub  client.Conn

	mu   sync.Mutex
	msgs []client.Message
	cond chan struct{}
}

func logger(t testing.TB) *slog.Logger {
	if os.Getenv("WEDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t testing.TB, mod func(o *lwm2m.Options)) *env {
	t.Helper()
	c := config.Default().MQTT
	c.TCP, c.WS = "127.0.0.1:0", ""
	b, err := broker.New(broker.Options{MQTT: c, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Stop(ctx)
	})
	o := lwm2m.Default()
	o.Listen, o.DTLSListen = "127.0.0.1:0", ""
	o.Broker, o.Logger = b, logger(t)
	o.RequestTimeout = 5 * time.Second
	if mod != nil {
		mod(&o)
	}
	srv, err := lwm2m.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	e := &env{t: t, b: b, srv: srv, addr: srv.Addr().String(), cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mqttAddr := b.Addr("tcp")
	e.sub, err = client.Dial(ctx, client.Options{Addr: mqttAddr, ClientID: "test-sub", OnMessage: func(m client.Message) {
		e.mu.Lock()
		e.msgs = append(e.msgs, m)
		e.mu.Unlock()
		select {
		case e.cond <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sub.Close() })
	if err := e.sub.Subscribe(ctx, "lwm2m/#", 1); err != nil {
		t.Fatal(err)
	}
	e.pub, err = client.Dial(ctx, client.Options{Addr: mqttAddr, ClientID: "test-pub"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.pub.Close() })
	return e
}

// device creates and registers a simulated device.
func (e *env) device(cfg lwm2msim.Config) *lwm2msim.Device {
	e.t.Helper()
	d := lwm2msim.New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Register(ctx, e.addr); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	return d
}

// wait returns the first message (after index from) on topic whose JSON satisfies match.
func (e *env) wait(topic string, match func(m map[string]any) bool) map[string]any {
	e.t.Helper()
	deadline := time.After(10 * time.Second)
	seen := 0
	for {
		e.mu.Lock()
		msgs := e.msgs[seen:]
		seen = len(e.msgs)
		e.mu.Unlock()
		for _, m := range msgs {
			if m.Topic != topic {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(m.Payload, &v); err != nil {
				e.t.Fatalf("non-JSON on %s: %q", m.Topic, m.Payload)
			}
			if match == nil || match(v) {
				return v
			}
		}
		select {
		case <-e.cond:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			e.t.Fatalf("no matching message on %s; got %s", topic, e.dump())
			return nil
		}
	}
}

func (e *env) dump() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, m := range e.msgs {
		fmt.Fprintf(&b, "\n  %s %s", m.Topic, m.Payload)
	}
	return b.String()
}

// command publishes a downlink command and waits for its response (matched by reqID).
func (e *env) command(ep string, reqID int, msgType string, data string) map[string]any {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	payload := fmt.Sprintf(`{"reqID":%d,"msgType":%q,"data":%s}`, reqID, msgType, data)
	if err := e.pub.Publish(ctx, "lwm2m/"+ep+"/dn", 0, false, []byte(payload)); err != nil {
		e.t.Fatal(err)
	}
	return e.wait("lwm2m/"+ep+"/up/resp", func(m map[string]any) bool {
		return m["reqID"] == float64(reqID) && m["msgType"] == msgType
	})
}

func data(m map[string]any) map[string]any {
	d, _ := m["data"].(map[string]any)
	return d
}

// contentMap turns a read result's content list into path -> value.
func contentMap(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	list, ok := data(m)["content"].([]any)
	if !ok {
		t.Fatalf("no content in %v", m)
	}
	for _, x := range list {
		it := x.(map[string]any)
		out[it["path"].(string)] = it["value"]
	}
	return out
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
