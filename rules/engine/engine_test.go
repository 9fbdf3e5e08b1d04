package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wedge-iot/wedge/rules"
)

// recorder is an action type that keeps what it ran on, with its "tag" param.
type recorder struct {
	mu   sync.Mutex
	runs []recorded
}

type recorded struct {
	tag string
	sel map[string]rules.Value
}

func (rc *recorder) typ() ActionType {
	return ActionType{Name: "record", New: func(p map[string]any, _ Deps) (Action, error) {
		tag, _ := p["tag"].(string)
		return recordAction{rc, tag}, nil
	}}
}

type recordAction struct {
	rc  *recorder
	tag string
}

func (a recordAction) Run(_ context.Context, env *Env) error {
	a.rc.mu.Lock()
	// Env.Selected is valid only during Run: keep a copy.
	a.rc.runs = append(a.rc.runs, recorded{a.tag, maps.Clone(env.Selected)})
	a.rc.mu.Unlock()
	return nil
}

// failIf fails when the output's field "fail" is true.
func failIfType() ActionType {
	return ActionType{Name: "fail_if", New: func(map[string]any, Deps) (Action, error) { return failIf{}, nil }}
}

type failIf struct{}

func (failIf) Run(_ context.Context, env *Env) error {
	if env.Selected["fail"] == true {
		return errors.New("asked to fail")
	}
	return nil
}

// loop is a Publisher that feeds published messages back into the engine,
// as the broker does, and keeps them.
type loop struct {
	e   *Engine
	mu  sync.Mutex
	got []Publish
	n   atomic.Uint64
}

func (l *loop) Publish(p Publish) error {
	l.mu.Lock()
	l.got = append(l.got, p)
	l.mu.Unlock()
	l.e.HandleMessage(&Message{ID: l.n.Add(1), ClientID: p.ClientID, Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Local: true})
	return nil
}

func newTestEngine(t testing.TB, store Store) (*Engine, *recorder, *loop) {
	t.Helper()
	reg := NewRegistry()
	rc := &recorder{}
	for _, ty := range []ActionType{rc.typ(), failIfType()} {
		if err := reg.Register(ty); err != nil {
			t.Fatal(err)
		}
	}
	lp := &loop{}
	e, err := New(Options{Publisher: lp, Store: store, Actions: reg, Node: "wedge@test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lp.e = e
	t.Cleanup(func() { e.Close() })
	return e, rc, lp
}

func ptr[T any](v T) *T { return &v }

func req(id, sql string, actions ...ActionSpec) *RuleRequest {
	return &RuleRequest{ID: id, RawSQL: &sql, Actions: &actions}
}

func act(name string, params map[string]any, fallbacks ...ActionSpec) ActionSpec {
	return ActionSpec{Name: name, Params: params, Fallbacks: fallbacks}
}

func TestLifecyclePersistsInBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wedge.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewBoltStore(db)
	if err != nil {
		t.Fatal(err)
	}
	e, _, _ := newTestEngine(t, st)
	if _, err := e.Create(req("r1", `SELECT * FROM "t/#"`, act("do_nothing", nil))); err != nil {
		t.Fatal(err)
	}
	gen, err := e.Create(req("", `SELECT * FROM "a"`))
	if err != nil || len(gen.ID) != len("rule:12345678") {
		t.Fatalf("generated id %q, %v", gen.ID, err)
	}
	if _, err := e.Create(req("r1", `SELECT * FROM "t"`)); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	_, err = e.Create(req("bad", `SELECT * FRM "t"`))
	var se *rules.SyntaxError
	if !errors.As(err, &se) || se.Pos.Col == 0 {
		t.Fatalf("bad sql: %v", err)
	}
	_, err = e.Create(req("bad2", `SELECT * FROM "t"`, act("nope", nil)))
	var spe *SpecError
	if !errors.As(err, &spe) {
		t.Fatalf("unknown action: %v", err)
	}
	if _, err := e.Create(req("bad3", `SELECT * FROM "t"`, act("republish", map[string]any{"target_topic": "a/#"}))); !errors.As(err, &spe) {
		t.Fatalf("wildcard target: %v", err)
	}
	if _, err := e.SetEnabled("r1", false); err != nil {
		t.Fatal(err)
	}
	info, err := e.Update("r1", &RuleRequest{Description: ptr("d")})
	if err != nil || info.Enabled || info.Description != "d" || info.RawSQL != `SELECT * FROM "t/#"` || len(info.Actions) != 1 {
		t.Fatalf("update: %+v %v", info, err)
	}
	if err := e.Delete(gen.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(gen.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	e.Close()
	db.Close()

	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, _ = NewBoltStore(db)
	e2, _, _ := newTestEngine(t, st)
	list := e2.List()
	if len(list) != 1 || list[0].ID != "r1" || list[0].Enabled || list[0].Description != "d" || list[0].Source != SourceAPI {
		t.Fatalf("after reopen: %+v", list)
	}
}

func TestConfigRulesAreReadOnly(t *testing.T) {
	e, rc, _ := newTestEngine(t, nil)
	err := e.LoadConfig([]map[string]any{
		{"id": "c1", "rawsql": `SELECT 'c1' AS v FROM "t/1"`, "actions": []any{map[string]any{"name": "record", "params": map[string]any{"tag": "c"}}}},
		{"rawsql": `SELECT 'c2' AS v FROM "t/2"`, "enabled": false},
	})
	if err != nil {
		t.Fatal(err)
	}
	list := e.List()
	if len(list) != 2 || list[1].ID != "config:2" || list[1].Enabled || list[0].Source != SourceConfig {
		t.Fatalf("%+v", list)
	}
	if _, err := e.Update("c1", &RuleRequest{Enabled: ptr(false)}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("update: %v", err)
	}
	if err := e.Delete("c1"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("delete: %v", err)
	}
	e.HandleMessage(&Message{Topic: "t/1"})
	e.HandleMessage(&Message{Topic: "t/2"})
	if len(rc.runs) != 1 || rc.runs[0].sel["v"] != "c1" {
		t.Fatalf("runs %+v", rc.runs)
	}
	// A bad config is refused as a whole.
	if err := e.LoadConfig([]map[string]any{{"id": "c1", "rawsql": `SELECT FROM`}}); err == nil {
		t.Fatal("bad config accepted")
	}
	if len(e.List()) != 2 {
		t.Fatal("bad config changed the rules")
	}
	// Reload keeps metrics of the rules that stay.
	if err := e.LoadConfig([]map[string]any{{"id": "c1", "rawsql": `SELECT 'x' AS v FROM "t/1"`}}); err != nil {
		t.Fatal(err)
	}
	if l := e.List(); len(l) != 1 || l[0].Metrics[0].Matched != 1 {
		t.Fatalf("%+v", l)
	}
}

func TestColumnsOfAPublish(t *testing.T) {
	e, rc, _ := newTestEngine(t, nil)
	if _, err := e.Create(req("r", `SELECT * FROM "t/#"`, act("record", nil))); err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1700000000123)
	e.HandleMessage(&Message{ID: 7, ClientID: "c1", Username: "u1", PeerHost: "127.0.0.1", Topic: "t/x", Payload: []byte(`{"a":1}`),
		QoS: 1, Retain: true, Properties: []Property{{"k", "v"}}, Received: now, ProtoVer: 5})
	if len(rc.runs) != 1 {
		t.Fatal("rule did not run")
	}
	got := string(rules.EncodeJSON(rc.runs[0].sel))
	id := rc.runs[0].sel["id"].(string)
	want := `{"clientid":"c1","event":"message.publish","flags":{"dup":false,"retain":true},` +
		`"headers":{"peerhost":"127.0.0.1","proto_ver":5,"protocol":"MQTT","username":"u1"},"id":"` + id + `",` +
		`"metadata":{"rule_id":"r"},"node":"wedge@test","payload":"{\"a\":1}","peerhost":"127.0.0.1",` +
		`"pub_props":{"User-Property":{"k":"v"}},"publish_received_at":1700000000123,"qos":1,` +
		`"timestamp":1700000000123,"topic":"t/x","username":"u1"}`
	if got != want {
		t.Fatalf("columns\n got %s\nwant %s", got, want)
	}
	if len(id) != 32 {
		t.Fatalf("id %q", id)
	}
}

func TestEventColumns(t *testing.T) {
	e, rc, _ := newTestEngine(t, nil)
	for _, ev := range Events()[1:] {
		if _, err := e.Create(req(ev.EventName, `SELECT * FROM "`+ev.Event+`"`, act("record", map[string]any{"tag": ev.EventName}))); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range Events()[1:] {
		rc.runs = nil
		e.HandleEvent(&Event{Name: ev.EventName, ClientID: "c", Username: "u", PeerHost: "10.0.0.1", PeerPort: 5, Topic: "t/1",
			FromClientID: "p", FromUsername: "pu", Reason: "normal"})
		if len(rc.runs) != 1 || rc.runs[0].tag != ev.EventName {
			t.Fatalf("%s: runs %+v", ev.EventName, rc.runs)
		}
		sel := rc.runs[0].sel
		for _, col := range ev.Columns {
			switch col {
			case "mountpoint", "receive_maximum", "sockname", "headers":
				continue // not known to the broker (see README)
			}
			if _, ok := sel[col]; !ok {
				t.Errorf("%s: column %s missing (have %v)", ev.EventName, col, sel)
			}
		}
		if sel["event"] != ev.EventName {
			t.Errorf("%s: event column %v", ev.EventName, sel["event"])
		}
	}
}

func TestRepublishAndLoopGuard(t *testing.T) {
	e, _, lp := newTestEngine(t, nil)
	// FROM "#" also matches its own output: the guard stops the loop.
	if _, err := e.Create(req("r", `SELECT payload.t AS t, clientid FROM "#"`,
		act("republish", map[string]any{"target_topic": "out/${clientid}", "target_qos": -1, "payload_tmpl": "t=${t}"}))); err != nil {
		t.Fatal(err)
	}
	// A second rule chained on the first one's output still runs.
	if _, err := e.Create(req("r2", `SELECT * FROM "out/+"`, act("republish", map[string]any{"target_topic": "final", "target_qos": 0, "target_retain": true}))); err != nil {
		t.Fatal(err)
	}
	e.HandleMessage(&Message{ClientID: "dev1", Topic: "t/1", Payload: []byte(`{"t":21.5}`), QoS: 2})
	// r → out/dev1 → r2 → final → r (not its own output) → out/... → r2 → ...:
	// the two rules feed each other until the chain reaches MaxHops.
	if len(lp.got) != MaxHops {
		t.Fatalf("published %d messages, want %d: %+v", len(lp.got), MaxHops, lp.got)
	}
	first := lp.got[0]
	if first.Topic != "out/dev1" || string(first.Payload) != "t=21.5" || first.QoS != 2 || first.ClientID != "r:republish:1" {
		t.Fatalf("first %+v", first)
	}
	if p := lp.got[1]; p.Topic != "final" || !p.Retain || p.QoS != 0 || p.ClientID != "r2:republish:1~2" {
		t.Fatalf("second %+v", p)
	}
	if p := lp.got[2]; p.Topic != "out/r2:republish:1~2" || p.ClientID != "r:republish:1~3" {
		t.Fatalf("third %+v", p)
	}
	// r never ran on its own output: matched once per message from outside r.
	if m := e.Metrics("r").Counts(); m.Matched != MaxHops/2 || m.Passed != MaxHops/2 {
		t.Fatalf("r metrics %+v", m)
	}
	// A rule alone on "#" sees each device message once, and not its output.
	lp.got = nil
	if err := e.Delete("r2"); err != nil {
		t.Fatal(err)
	}
	e.HandleMessage(&Message{ClientID: "dev2", Topic: "t/2", Payload: []byte(`{"t":1}`)})
	if len(lp.got) != 1 || lp.got[0].Topic != "out/dev2" {
		t.Fatalf("published %+v", lp.got)
	}
}

func TestMetricsUnderConcurrency(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	// payload.k: k%3==0 → WHERE false (no_result); k%5==0 → exception (string compared with number);
	// k%2==0 → the first action fails.
	sql := `SELECT payload.k AS k, payload.f AS fail FROM "m/#" WHERE payload.k > payload.lim`
	if _, err := e.Create(&RuleRequest{ID: "stop", RawSQL: &sql, OnActionFailed: ptr(OnFailedStop), Actions: &[]ActionSpec{
		act("fail_if", nil, act("do_nothing", nil), act("fail_if", nil)), act("do_nothing", nil)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(&RuleRequest{ID: "cont", RawSQL: &sql, Actions: &[]ActionSpec{
		act("fail_if", nil, act("do_nothing", nil)), act("do_nothing", nil)}}); err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 2000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				k := w*per + i
				lim := "-1"
				switch {
				case k%3 == 0:
					lim = "1000000000"
				case k%5 == 0:
					lim = `"x"`
				}
				p := fmt.Sprintf(`{"k":%d,"f":%v,"lim":%s}`, k, k%2 == 0, lim)
				e.HandleMessage(&Message{Topic: "m/1", Payload: []byte(p)})
			}
		}()
	}
	wg.Wait()
	var passed, noRes, exc, fails int64
	for k := 0; k < workers*per; k++ {
		switch {
		case k%3 == 0:
			noRes++
		case k%5 == 0:
			exc++
		default:
			passed++
			if k%2 == 0 {
				fails++
			}
		}
	}
	for _, id := range []string{"stop", "cont"} {
		m := e.Metrics(id).Counts()
		if m.Matched != workers*per || m.Passed != passed || m.NoResult != noRes || m.Exception != exc || m.Matched != m.Passed+m.Failed {
			t.Fatalf("%s: %+v (want passed %d no_result %d exception %d)", id, m, passed, noRes, exc)
		}
		info, _ := e.Get(id)
		a0, a1 := info.Actions[0].Metrics[0], info.Actions[1].Metrics[0]
		if a0.Taken != passed || a0.Failed != fails || a0.Success != passed-fails || a0.Taken != a0.Success+a0.Failed {
			t.Fatalf("%s action 0: %+v", id, a0)
		}
		fb0, fb1 := info.Actions[0].Fallbacks[0].Metrics[0], info.Actions[0].Fallbacks
		if fb0.Taken != fails || fb0.Success != fails {
			t.Fatalf("%s fallback: %+v", id, fb0)
		}
		if id == "stop" {
			if f := fb1[1].Metrics[0]; f.Taken != fails || f.Failed != fails {
				t.Fatalf("failing fallback: %+v", f)
			}
			if a1.Taken != passed-fails {
				t.Fatalf("stop: second action %+v, want taken %d", a1, passed-fails)
			}
		} else if a1.Taken != passed || a1.Success != passed {
			t.Fatalf("continue: second action %+v", a1)
		}
	}
}

// Replacing a rule under load: every message runs exactly one version,
// entirely (its SQL and its action params agree), and none is lost.
func TestReplaceUnderLoad(t *testing.T) {
	e, rc, _ := newTestEngine(t, nil)
	version := func(v int) *RuleRequest {
		return req("r", fmt.Sprintf(`SELECT '%d' AS sqlv, payload.n AS n FROM "t/#"`, v),
			act("record", map[string]any{"tag": fmt.Sprint(v)}), act("record", map[string]any{"tag": fmt.Sprint(v)}))
	}
	if _, err := e.Create(version(0)); err != nil {
		t.Fatal(err)
	}
	const workers, per = 4, 3000
	stop := make(chan struct{})
	var updates atomic.Int64
	go func() {
		for v := 1; ; v++ {
			select {
			case <-stop:
				return
			default:
			}
			q := version(v)
			q.ID = ""
			if _, err := e.Update("r", q); err != nil {
				t.Error(err)
				return
			}
			updates.Add(1)
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				e.HandleMessage(&Message{Topic: "t/1", Payload: []byte(fmt.Sprintf(`{"n":%d}`, w*per+i))})
			}
		}()
	}
	wg.Wait()
	close(stop)
	if updates.Load() < 10 {
		t.Fatalf("only %d updates during the load", updates.Load())
	}
	seen := map[int64][]recorded{}
	for _, r := range rc.runs {
		if r.tag != r.sel["sqlv"] {
			t.Fatalf("mixed versions: action v%s ran on SQL v%v", r.tag, r.sel["sqlv"])
		}
		n := r.sel["n"].(int64)
		seen[n] = append(seen[n], r)
	}
	for n := int64(0); n < workers*per; n++ {
		rs := seen[n]
		if len(rs) != 2 || rs[0].tag != rs[1].tag {
			t.Fatalf("message %d: runs %+v", n, rs)
		}
	}
	if m := e.Metrics("r").Counts(); m.Matched != workers*per || m.Passed != workers*per {
		t.Fatalf("metrics %+v", m)
	}
}

func TestDryRun(t *testing.T) {
	out, err := DryRun(`SELECT clientid, payload.msg AS msg FROM "t/#"`, map[string]rules.Value{"topic": "t/b"})
	if err != nil || string(rules.EncodeJSON(out)) != `{"clientid":"c_emqx","msg":"hello"}` {
		t.Fatalf("%s %v", rules.EncodeJSON(out), err)
	}
	if _, err := DryRun(`SELECT * FROM "x/#"`, nil); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("topic mismatch: %v", err)
	}
	if _, err := DryRun(`SELECT * FROM "t/#" WHERE qos = 0`, nil); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("where false: %v", err)
	}
	out, err = DryRun(`SELECT clientid, connected_at FROM "$events/client_connected"`, map[string]rules.Value{"clientid": "me"})
	if err != nil || string(rules.EncodeJSON(out)) != `{"clientid":"me","connected_at":1645000000000}` {
		t.Fatalf("%s %v", rules.EncodeJSON(out), err)
	}
	var ee *rules.EvalError
	if _, err := DryRun(`SELECT * FROM "t/#" WHERE payload.msg > 1`, nil); !errors.As(err, &ee) {
		t.Fatalf("eval error: %v", err)
	}
}

// A deferred (async) action counts its outcome when it reports it, and its
// Hold is returned to the publisher.
func TestDeferredAction(t *testing.T) {
	reg := NewRegistry()
	done := make(chan func(error), 2)
	_ = reg.Register(ActionType{Name: "async", Mode: "async", New: func(map[string]any, Deps) (Action, error) {
		return asyncAction{done}, nil
	}})
	e, err := New(Options{Actions: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(req("r", `SELECT * FROM "t"`, act("async", nil))); err != nil {
		t.Fatal(err)
	}
	h := e.HandleMessage(&Message{Topic: "t"})
	if h == nil || h.Wait(context.Background()) != nil {
		t.Fatal("no hold")
	}
	e.HandleMessage(&Message{Topic: "t"})
	am := e.ActionMetrics("r")[0]
	if c := am.Counts(); c.Taken != 2 || c.Success != 0 || c.Failed != 0 {
		t.Fatalf("before outcome %+v", c)
	}
	(<-done)(nil)
	f := <-done
	f(errors.New("target down"))
	f(nil) // a second report is ignored
	if c := am.Counts(); c.Success != 1 || c.Failed != 1 {
		t.Fatalf("after outcome %+v", c)
	}
}

type asyncAction struct{ done chan func(error) }

type okHold struct{}

func (okHold) Wait(context.Context) error { return nil }

func (a asyncAction) Run(_ context.Context, env *Env) error {
	a.done <- env.Defer(okHold{})
	return nil
}

// The loop guard on message events: the delivery of a rule's own output does
// not trigger it again (when the event names the publisher).
func TestEventLoopGuard(t *testing.T) {
	e, rc, lp := newTestEngine(t, nil)
	if _, err := e.Create(req("d", `SELECT topic FROM "$events/message_delivered"`,
		act("republish", map[string]any{"target_topic": "seen"}), act("record", nil))); err != nil {
		t.Fatal(err)
	}
	e.HandleEvent(&Event{Name: EventMessageDelivered, ClientID: "sub", Topic: "a", FromClientID: "dev"})
	if len(lp.got) != 1 || len(rc.runs) != 1 {
		t.Fatalf("published %+v", lp.got)
	}
	// The delivery of "seen" (published by d's action) is not d's business.
	e.HandleEvent(&Event{Name: EventMessageDelivered, ClientID: "sub", Topic: "seen", FromClientID: lp.got[0].ClientID})
	if len(lp.got) != 1 || len(rc.runs) != 1 {
		t.Fatalf("loop: published %+v", lp.got)
	}
	if m := e.Metrics("d").Counts(); m.Matched != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

// Wants answers whether a rule's FROM matches a topic, so the broker can skip building a
// message no rule reads.
func TestWants(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	if e.Wants("a/b") || e.WantsAny() {
		t.Fatal("wanted with no rules")
	}
	if _, err := e.Create(req("w", `SELECT * FROM "a/#", "$SYS/#"`)); err != nil {
		t.Fatal(err)
	}
	if !e.WantsAny() {
		t.Fatal("WantsAny false with a rule on a/#")
	}
	for topic, want := range map[string]bool{"a/b": true, "a": true, "b/a": false, "$SYS/x": false} {
		if got := e.Wants(topic); got != want {
			t.Errorf("Wants(%q) = %v, want %v", topic, got, want)
		}
	}
}
