package rulesapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func data(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	d, ok := body["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object in %v", body)
	}
	return d
}

func TestRESTLifecycle(t *testing.T) {
	v := newEnv(t, nil)
	if err := v.e.LoadConfig([]map[string]any{{"id": "cfg", "rawsql": `SELECT * FROM "cfg/#"`}}); err != nil {
		t.Fatal(err)
	}
	v.startAPI()
	sub := v.client("sub", nil)
	in := v.subscribe(sub, "out/#", 1)
	pub := v.client("dev", nil)

	st, body := v.call("POST", "/api/v4/rules", map[string]any{
		"id": "r1", "rawsql": `SELECT payload.v AS v FROM "t/#"`, "description": "test",
		"actions": []any{map[string]any{"name": "republish", "params": map[string]any{"target_topic": "out/1", "payload_tmpl": "v=${v}"}}},
	})
	if st != http.StatusCreated || body["code"] != 0.0 {
		t.Fatalf("create: %d %v", st, body)
	}
	r := data(t, body)
	if r["id"] != "r1" || r["enabled"] != true || r["on_action_failed"] != "continue" || r["source"] != "api" ||
		r["for"].([]any)[0] != "t/#" || r["actions"].([]any)[0].(map[string]any)["id"] != "r1:republish:1" {
		t.Fatalf("reply %v", r)
	}
	st, body = v.call("POST", "/api/v4/rules", map[string]any{"id": "r1", "rawsql": `SELECT * FROM "x"`})
	if st != http.StatusConflict {
		t.Fatalf("duplicate: %d %v", st, body)
	}
	st, body = v.call("POST", "/api/v4/rules", map[string]any{"rawsql": "SELECT * FROM t"})
	if msg, _ := body["message"].(string); st != http.StatusBadRequest || !strings.Contains(msg, "1:15") {
		t.Fatalf("bad sql: %d %v", st, body)
	}
	st, body = v.call("POST", "/api/v4/rules", map[string]any{"rawsql": `SELECT * FROM "t"`, "actions": []any{map[string]any{"name": "nope"}}})
	if st != http.StatusBadRequest {
		t.Fatalf("bad action: %d %v", st, body)
	}

	wait(t, pub.Publish("t/1", 1, false, `{"v":1}`))
	if m := in.next(t); string(m.Payload()) != "v=1" {
		t.Fatalf("got %q", m.Payload())
	}
	st, body = v.call("GET", "/api/v4/rules/r1", nil)
	r = data(t, body)
	met := r["metrics"].([]any)[0].(map[string]any)
	am := r["actions"].([]any)[0].(map[string]any)["metrics"].([]any)[0].(map[string]any)
	if st != 200 || met["matched"] != 1.0 || met["passed"] != 1.0 || met["node"] != "wedge@test" || am["success"] != 1.0 || am["taken"] != 1.0 {
		t.Fatalf("metrics: %v", r)
	}

	// Disable, publish: nothing; enable again.
	if st, body = v.call("PUT", "/api/v4/rules/r1", map[string]any{"enabled": false}); st != 200 || data(t, body)["enabled"] != false {
		t.Fatalf("disable: %d %v", st, body)
	}
	wait(t, pub.Publish("t/1", 1, false, `{"v":2}`))
	in.quiet(t, 200*time.Millisecond)
	if st, body = v.call("PUT", "/api/v4/rules/r1", map[string]any{"enabled": true, "rawsql": `SELECT payload.v + 1 AS v FROM "t/#"`}); st != 200 {
		t.Fatalf("enable: %d %v", st, body)
	}
	wait(t, pub.Publish("t/1", 1, false, `{"v":3}`))
	if m := in.next(t); string(m.Payload()) != "v=4" {
		t.Fatalf("after update got %q", m.Payload())
	}
	if st, body = v.call("PUT", "/api/v4/rules/r1", map[string]any{"rawsql": "SELECT"}); st != 400 {
		t.Fatalf("bad update: %d %v", st, body)
	}

	// Lists: both rules, the config one read-only.
	st, body = v.call("GET", "/api/v4/rules", nil)
	if list := body["data"].([]any); st != 200 || len(list) != 2 || list[0].(map[string]any)["source"] != "config" {
		t.Fatalf("list: %v", body)
	}
	if st, body = v.call("PUT", "/api/v4/rules/cfg", map[string]any{"enabled": false}); st != http.StatusForbidden {
		t.Fatalf("config rule update: %d %v", st, body)
	}
	if st, body = v.call("DELETE", "/api/v4/rules/cfg", nil); st != http.StatusForbidden {
		t.Fatalf("config rule delete: %d %v", st, body)
	}

	// Prometheus.
	resp, err := http.Get(v.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`wedge_rule_matched_total{rule="r1"} 2`, `wedge_rule_action_success_total{action="r1:republish:1",rule="r1"} 1`} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, text)
		}
	}

	if st, _ = v.call("DELETE", "/api/v4/rules/r1", nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ = v.call("GET", "/api/v4/rules/r1", nil); st != 404 {
		t.Fatalf("get deleted: %d", st)
	}
	if st, _ = v.call("DELETE", "/api/v4/rules/r1", nil); st != 404 {
		t.Fatalf("delete twice: %d", st)
	}
	wait(t, pub.Publish("t/1", 1, false, `{"v":5}`))
	in.quiet(t, 200*time.Millisecond)
}

func TestRESTPersistsAcrossRestart(t *testing.T) {
	v := newEnv(t, nil)
	v.startAPI()
	if st, body := v.call("POST", "/api/v4/rules", map[string]any{"rawsql": `SELECT * FROM "p/#"`}); st != 201 {
		t.Fatalf("%d %v", st, body)
	}
	v.e.Close()
	// A new engine on the same database sees the rule.
	e2, err := newEngineOn(v)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if l := e2.List(); len(l) != 1 || l[0].RawSQL != `SELECT * FROM "p/#"` || !strings.HasPrefix(l[0].ID, "rule:") {
		t.Fatalf("%+v", l)
	}
}

func TestDryRunAndRuleTest(t *testing.T) {
	v := newEnv(t, nil)
	v.startAPI()
	st, body := v.call("POST", "/api/v4/rules?test=true", map[string]any{
		"rawsql": `SELECT clientid, payload.msg AS msg, qos FROM "t/#"`, "ctx": map[string]any{"topic": "t/x", "qos": 2}})
	if d := data(t, body); st != 200 || d["clientid"] != "c_emqx" || d["msg"] != "hello" || d["qos"] != 2.0 {
		t.Fatalf("dry run: %d %v", st, body)
	}
	if len(v.e.List()) != 0 {
		t.Fatal("dry run created a rule")
	}
	st, body = v.call("POST", "/api/v4/rules?test=true", map[string]any{"rawsql": `SELECT * FROM "x/#"`, "ctx": map[string]any{}})
	if st != 404 || body["message"] != "SQL Not Match" {
		t.Fatalf("no match: %d %v", st, body)
	}
	st, body = v.call("POST", "/api/v4/rules?test=true", map[string]any{"rawsql": `SELECT * FROM "t/#" WHERE payload.msg > 1`, "ctx": map[string]any{}})
	if st != 400 {
		t.Fatalf("eval error: %d %v", st, body)
	}

	// rule_test: the context exactly as given.
	st, body = v.call("POST", "/api/v4/rule_test", `{"sql": "SELECT * FROM \"t/#\"", "context": {"topic": "t/1", "x": 1.0}}`)
	if d := data(t, body); st != 200 || len(d) != 2 || d["x"] != 1.0 {
		t.Fatalf("rule_test: %d %v", st, body)
	}
	st, body = v.call("POST", "/api/v4/rule_test", `{"sql": "SELECT * FROM \"t/#\"", "context": {"topic": "u/1"}}`)
	if st != 200 || body["data"] != nil {
		t.Fatalf("rule_test no match: %d %v", st, body)
	}
	st, body = v.call("POST", "/api/v4/rule_test", `{"sql": "SELECT clientid FROM \"$events/client_connected\"", "context": {"event": "client.connected", "clientid": "c"}}`)
	if d := data(t, body); st != 200 || d["clientid"] != "c" {
		t.Fatalf("rule_test event: %d %v", st, body)
	}
	st, body = v.call("POST", "/api/v4/rule_test", `{"sql": "SELECT * FROM"}`)
	if msg, _ := body["message"].(string); st != 400 || !strings.Contains(msg, "1:") {
		t.Fatalf("rule_test bad sql: %d %v", st, body)
	}

	st, body = v.call("GET", "/api/v4/rule_events", nil)
	evs := body["data"].([]any)
	if st != 200 || len(evs) != 8 {
		t.Fatalf("rule_events: %v", body)
	}
	for _, e := range evs {
		m := e.(map[string]any)
		if len(m["columns"].([]any)) == 0 || len(m["test_columns"].(map[string]any)) == 0 || m["sql_example"] == "" {
			t.Fatalf("event %v", m)
		}
	}
	st, body = v.call("GET", "/api/v4/actions", nil)
	if acts := body["data"].([]any); st != 200 || len(acts) != 3 {
		t.Fatalf("actions: %v", body)
	}
	st, body = v.call("GET", "/api/v4/actions/republish", nil)
	if p := data(t, body)["params"].(map[string]any); st != 200 || p["target_topic"].(map[string]any)["required"] != true {
		t.Fatalf("republish: %v", body)
	}
	if st, _ = v.call("GET", "/api/v4/actions/nope", nil); st != 404 {
		t.Fatalf("unknown action: %d", st)
	}
}
