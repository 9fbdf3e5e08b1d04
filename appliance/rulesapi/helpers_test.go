package rulesapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/appliance/rulesapi"
	"github.com/wedge-iot/wedge/rules/engine"
)

func testLogger() *slog.Logger {
	if os.Getenv("WEDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is a started broker on 127.0.0.1:0 with the rule engine attached, the
// way the daemon's wiring assembles them.
type env struct {
	t   *testing.T
	b   *broker.Broker
	e   *engine.Engine
	db  *bolt.DB
	reg *prometheus.Registry
	api string // base URL, when started with the API
}

func newEnv(t *testing.T, mod func(*config.MQTT)) *env {
	t.Helper()
	c := config.Default().MQTT
	c.TCP, c.WS = "127.0.0.1:0", "127.0.0.1:0"
	if mod != nil {
		mod(&c)
	}
	b, err := broker.New(broker.Options{MQTT: c, Logger: testLogger()})
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
	db, err := bolt.Open(filepath.Join(t.TempDir(), "wedge.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := engine.NewBoltStore(db)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Publisher: rulesapi.NewPublisher(b), Store: st, Logger: testLogger(), Node: "wedge@test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	rulesapi.Attach(e, b)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	return &env{t: t, b: b, e: e, db: db, reg: reg}
}

const adminPassword = "test-password"

// startAPI starts the REST API with the rule routes.
func (v *env) startAPI() {
	t := v.t
	s, err := api.New(api.Options{Listen: "127.0.0.1:0", DB: v.db, Logger: testLogger(), AdminPassword: adminPassword,
		Gatherer: v.reg, Node: "wedge@test"})
	if err != nil {
		t.Fatal(err)
	}
	rulesapi.Register(s, v.e)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	v.api = "http://" + s.Addr().String()
}

// call sends a request with admin's credentials and decodes the envelope.
func (v *env) call(method, path string, body any) (int, map[string]any) {
	v.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, v.api+path, rd)
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		v.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (v *env) client(id string, mod func(*pahov3.ClientOptions)) pahov3.Client {
	v.t.Helper()
	o := pahov3.NewClientOptions().AddBroker("tcp://" + v.b.Addr("tcp")).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetOrderMatters(false)
	if mod != nil {
		mod(o)
	}
	c := pahov3.NewClient(o)
	wait(v.t, c.Connect())
	v.t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func wait(t testing.TB, tk pahov3.Token) {
	t.Helper()
	if !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("mqtt: %v (timeout: %v)", tk.Error(), tk.Error() == nil)
	}
}

// inbox subscribes and collects messages.
type inbox struct {
	mu  sync.Mutex
	got []pahov3.Message
	ch  chan pahov3.Message
}

func (v *env) subscribe(c pahov3.Client, filter string, qos byte) *inbox {
	in := &inbox{ch: make(chan pahov3.Message, 100000)}
	wait(v.t, c.Subscribe(filter, qos, func(_ pahov3.Client, m pahov3.Message) {
		in.mu.Lock()
		in.got = append(in.got, m)
		in.mu.Unlock()
		in.ch <- m
	}))
	return in
}

func (in *inbox) next(t testing.TB) pahov3.Message {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message received")
		return nil
	}
}

// quiet checks that nothing more arrives within d.
func (in *inbox) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-in.ch:
		t.Fatalf("unexpected message on %s: %s", m.Topic(), m.Payload())
	case <-time.After(d):
	}
}

func create(t *testing.T, e *engine.Engine, id, sql string, actions ...engine.ActionSpec) {
	t.Helper()
	if _, err := e.Create(&engine.RuleRequest{ID: id, RawSQL: &sql, Actions: &actions}); err != nil {
		t.Fatal(err)
	}
}

func republish(topic, tmpl string, qos int) engine.ActionSpec {
	return engine.ActionSpec{Name: "republish", Params: map[string]any{"target_topic": topic, "payload_tmpl": tmpl, "target_qos": qos}}
}

func newEngineOn(v *env) (*engine.Engine, error) {
	st, err := engine.NewBoltStore(v.db)
	if err != nil {
		return nil, err
	}
	return engine.New(engine.Options{Publisher: rulesapi.NewPublisher(v.b), Store: st, Logger: testLogger()})
}
