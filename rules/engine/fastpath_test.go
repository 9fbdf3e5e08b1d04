package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/rules"
)

// TestSelectStarProgram checks that the Program Evaluator gives a SELECT *
// rule (its output shares the input) produces what the reference evaluator
// produces: the same output, the same nil for a false WHERE, an error for an
// evaluation error.
func TestSelectStarProgram(t *testing.T) {
	in := rules.Columns{
		"event": rules.EventPublish, "topic": "t/1", "clientid": "c1", "qos": int64(1),
		"payload": `{"temperature": 60, "list": [1, 2], "s": "x"}`, "metadata": map[string]rules.Value{"rule_id": "r"},
		"flags": map[string]rules.Value{"retain": false, "dup": false},
	}
	for _, sql := range []string{
		`SELECT * FROM "t/#"`,
		`SELECT * FROM "t/#" WHERE payload.temperature > 50`,
		`SELECT * FROM "t/#" WHERE payload.temperature > 70`,
		`SELECT * FROM "t/#" WHERE payload.missing > 1`,
		`SELECT * FROM "t/#" WHERE clientid = 'c1' AND topic =~ 't/+' AND flags.retain = false`,
		`SELECT * FROM "t/#" WHERE payload.list[2] = 2`,
		`SELECT * FROM "t/#" WHERE metadata.rule_id = 'r'`,
		`SELECT * FROM "t/#" WHERE nth(5, payload.list) = 1`,       // evaluation error
		`SELECT * FROM "t/#" WHERE sqrt(payload.s) > 1`,            // evaluation error
		`SELECT * FROM "t/#" WHERE is_null(payload.s) OR qos >= 1`, // true
	} {
		r, err := rules.Parse(sql)
		if err != nil {
			t.Fatal(sql, err)
		}
		host, err := rules.DefaultWasmHost()
		if err != nil {
			t.Fatal(err)
		}
		// The same through the compiled path: the WHERE alone compiled to a module.
		wasm := ShareSelectStar(func(r *rules.Rule) (Program, error) { return host.Load(r) })
		for _, compile := range []Compiler{Evaluator, wasm} {
			prog, err := compile(r)
			if err != nil {
				t.Fatal(err)
			}
			if !sharesInput(prog) {
				t.Fatalf("%s: not the SELECT * program", sql)
			}
			got, gerr := prog.Eval(in)
			want, werr := r.Eval(in)
			if (gerr == nil) != (werr == nil) {
				t.Fatalf("%s: error %v, reference evaluator %v", sql, gerr, werr)
			}
			var ee *rules.EvalError
			if gerr != nil && !errors.As(gerr, &ee) {
				t.Fatalf("%s: error %T, want *rules.EvalError", sql, gerr)
			}
			if g, w := string(got.JSON()), string(want.JSON()); g != w {
				t.Fatalf("%s:\n got %s\nwant %s", sql, g, w)
			}
		}
	}
	for _, sql := range []string{`SELECT *, 1 AS x FROM "t/#"`, `SELECT clientid FROM "t/#"`, `FOREACH payload.list FROM "t/#"`} {
		r, err := rules.Parse(sql)
		if err != nil {
			t.Fatal(sql, err)
		}
		if prog, _ := Evaluator(r); prog != Program(r) {
			t.Fatalf("%s: want the rule itself, got %T", sql, prog)
		}
	}
}

// TestSelectStarRulesOnOneMessage: several SELECT * rules matching one
// message each see (and output) their own metadata.rule_id, and no rule's
// output changes while a later rule runs.
func TestSelectStarRulesOnOneMessage(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	type seen struct {
		rule string
		sel  map[string]rules.Value
		json string
	}
	var runs []seen
	var problems []string
	if err := e.Registry().Register(ActionType{Name: "keep", New: func(map[string]any, Deps) (Action, error) {
		return actionFunc(func(env *Env) error {
			if m, _ := env.Selected["metadata"].(map[string]rules.Value); env.RuleID != "d" && m["rule_id"] != env.RuleID {
				problems = append(problems, fmt.Sprintf("rule %s saw metadata %v", env.RuleID, env.Selected["metadata"]))
			}
			// The outputs of the rules that ran before, while the message's
			// columns are still valid, are as they were.
			for _, r := range runs {
				if got := string(rules.EncodeJSON(r.sel)); got != r.json {
					problems = append(problems, fmt.Sprintf("rule %s: output changed while %s ran:\n%s\n%s", r.rule, env.RuleID, got, r.json))
				}
			}
			runs = append(runs, seen{env.RuleID, env.Selected, string(rules.EncodeJSON(env.Selected))})
			return nil
		}), nil
	}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		sql := `SELECT * FROM "t/#"`
		if id == "d" {
			sql = `SELECT clientid FROM "t/#"`
		}
		if _, err := e.Create(req(id, sql, act("keep", nil))); err != nil {
			t.Fatal(err)
		}
	}
	e.HandleMessage(&Message{ID: 1, ClientID: "c1", Topic: "t/1", Payload: []byte(`{}`)})
	if len(runs) != 4 || len(problems) > 0 {
		t.Fatalf("%d runs; %q", len(runs), problems)
	}
}

// TestSelectStarRuleOnEvents: the same for the columns of an event.
func TestSelectStarRuleOnEvents(t *testing.T) {
	e, rc, _ := newTestEngine(t, nil)
	for _, id := range []string{"a", "b"} {
		if _, err := e.Create(req(id, `SELECT * FROM "$events/client_connected"`, act("record", map[string]any{"tag": id}))); err != nil {
			t.Fatal(err)
		}
	}
	e.HandleEvent(&Event{Name: EventClientConnected, ClientID: "c1", Time: time.UnixMilli(5)})
	if len(rc.runs) != 2 {
		t.Fatalf("runs %+v", rc.runs)
	}
	for _, r := range rc.runs {
		if m, _ := r.sel["metadata"].(map[string]rules.Value); m["rule_id"] != r.tag || r.sel["clientid"] != "c1" {
			t.Fatalf("rule %s: %v", r.tag, r.sel)
		}
	}
}

// TestClientColumnsCache: the per-client columns follow a client whose
// username, address or protocol changes (a reconnect), and clients whose ids
// share a cache slot.
func TestClientColumnsCache(t *testing.T) {
	e, rc, _ := newTestEngine(t, nil)
	if _, err := e.Create(req("r", `SELECT clientid, username, peerhost, headers FROM "t/#"`, act("record", nil))); err != nil {
		t.Fatal(err)
	}
	msgs := []*Message{
		{ClientID: "c1", Username: "u1", PeerHost: "10.0.0.1", ProtoVer: 4},
		{ClientID: "c1", Username: "u1", PeerHost: "10.0.0.1", ProtoVer: 4},
		{ClientID: "c1", Username: "u2", PeerHost: "10.0.0.1", ProtoVer: 4},
		{ClientID: "c1", Username: "", PeerHost: "10.0.0.2", ProtoVer: 5},
		{ClientID: "c1", Username: "", PeerHost: "10.0.0.2", ProtoVer: 5, Protocol: "coap"},
		{ClientID: "", Username: "u3", PeerHost: ""},
	}
	// Many clients: some share a slot with c1.
	for i := range 3000 {
		msgs = append(msgs, &Message{ClientID: "d" + string(rune('a'+i%26)) + time.Duration(i).String(), Username: "u", PeerHost: "10.1.0.1", ProtoVer: 4})
		if i%500 == 0 {
			msgs = append(msgs, &Message{ClientID: "c1", Username: "u1", PeerHost: "10.0.0.1", ProtoVer: 4})
		}
	}
	for _, m := range msgs {
		m.Topic = "t/1"
		rc.runs = nil
		e.HandleMessage(m)
		want := rules.Columns{"clientid": m.ClientID, "headers": map[string]rules.Value{
			"protocol": map[bool]string{true: m.Protocol, false: "MQTT"}[m.Protocol != "" && m.Protocol != "mqtt"], "proto_ver": int64(m.ProtoVer)}}
		h := want["headers"].(map[string]rules.Value)
		if m.Username != "" {
			want["username"], h["username"] = m.Username, m.Username
		}
		if m.PeerHost != "" {
			want["peerhost"], h["peerhost"] = m.PeerHost, m.PeerHost
		}
		if len(rc.runs) != 1 {
			t.Fatalf("%+v: runs %+v", m, rc.runs)
		}
		if got, w := string(rules.EncodeJSON(rc.runs[0].sel)), string(rules.EncodeJSON(want)); got != w {
			t.Fatalf("%+v:\n got %s\nwant %s", m, got, w)
		}
	}
}

// TestMessageColumnsReused: a message's columns start empty even though
// their map is recycled (nothing of the previous message leaks).
func TestMessageColumnsReused(t *testing.T) {
	e, rc, _ := newTestEngine(t, nil)
	if _, err := e.Create(req("r", `SELECT * FROM "t/#"`, act("record", nil))); err != nil {
		t.Fatal(err)
	}
	e.HandleMessage(&Message{ClientID: "c1", Username: "u1", PeerHost: "10.0.0.1", Topic: "t/1", Payload: []byte("a")})
	e.HandleMessage(&Message{ClientID: "c2", Topic: "t/2", Payload: []byte("b")})
	if len(rc.runs) != 2 {
		t.Fatalf("runs %+v", rc.runs)
	}
	sel := rc.runs[1].sel
	if _, ok := sel["username"]; ok || sel["peerhost"] != nil || sel["clientid"] != "c2" || sel["payload"] != "b" || len(sel) != 13 {
		t.Fatalf("second message's columns: %v", sel)
	}
}

type actionFunc func(env *Env) error

func (f actionFunc) Run(_ context.Context, env *Env) error { return f(env) }

// TestFillColumnsCount: fillColumns counts the columns it sets (else every
// recycled map would be cleared and filled twice).
func TestFillColumnsCount(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	for _, m := range []*Message{{ClientID: "c"}, {ClientID: "c", Username: "u"}, {PeerHost: "h"}, {Username: "u", PeerHost: "h", Properties: []Property{{"k", "v"}}}} {
		b := &columnBuf{c: rules.Columns{}}
		if n := e.fillColumns(b, m, newClientCols(m), 1); n != len(b.c) {
			t.Fatalf("%+v: counted %d, set %d", m, n, len(b.c))
		}
	}
}

// TestRecycledColumns: a recycled map of columns, filled again for the
// next message, holds exactly what a new map would.
func TestRecycledColumns(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	e2, _, _ := newTestEngine(t, nil)
	e2.nodeVal = "other@node"
	msgs := []*Message{
		{ID: 1, ClientID: "c", Topic: "a", Payload: []byte("1"), Received: time.UnixMilli(5)},
		{ID: 2, ClientID: "c", Username: "u", Topic: "b", QoS: 1, Retain: true, Payload: []byte("2"), Received: time.UnixMilli(5)},
		{ID: 3, ClientID: "d", PeerHost: "h", Topic: "b", QoS: 1, Dup: true, Received: time.UnixMilli(6)},
		{ID: 4, ClientID: "d", PeerHost: "h", Topic: "c", Properties: []Property{{"k", "v"}}, Received: time.UnixMilli(6)},
		{ID: 5, ClientID: "d", PeerHost: "h", Topic: "c", Received: time.UnixMilli(6)},
		{ID: 6, ClientID: "c", Username: "u", PeerHost: "h", Topic: "c", QoS: 2, Received: time.UnixMilli(7)},
		{ID: 7, ClientID: "c", Topic: "d", Received: time.UnixMilli(7)},
	}
	b := &columnBuf{c: rules.Columns{}}
	for round := range 3 {
		for i, m := range msgs {
			eng := e
			if (i+round)%3 == 0 {
				eng = e2
			}
			cl := eng.clients.get(m)
			want := &columnBuf{c: rules.Columns{}}
			eng.fillColumns(want, m, cl, m.Received.UnixMilli())
			if n := eng.fillColumns(b, m, cl, m.Received.UnixMilli()); n != len(b.c) {
				b.forget()
				eng.fillColumns(b, m, cl, m.Received.UnixMilli())
			}
			got := maps.Clone(b.c)
			delete(got, "metadata")
			if !reflect.DeepEqual(got, want.c) {
				t.Fatalf("round %d, message %d:\n got %v\nwant %v", round, i, got, want.c)
			}
			b.c["metadata"] = map[string]rules.Value{"rule_id": "r"} // as runRule
			b.meta = true                                            // as HandleMessage
			b.release()
			b = columnBufs.Get().(*columnBuf) // (maybe another one)
		}
	}
}
