package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestResourcesThroughBinary: a webhook resource created through /api/v4/resources is shared by
// a rule's action ("$resource"); its status follows the target; it cannot be deleted while the
// rule uses it; it survives a restart; ?test=true only tests; secrets are masked.
func TestResourcesThroughBinary(t *testing.T) {
	tg := newTarget(t)
	tg.up.Store(true)
	d := start(t, startOpt{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if code, m := d.call(t, "POST", "/api/v4/resources?test=true", fmt.Sprintf(`{"type":"web_hook","config":{"url":"http://%s"}}`, dead)); code != 400 {
		t.Fatalf("test of a dead target: %d %v", code, m)
	}
	if code, m := d.call(t, "POST", "/api/v4/resources?test=true", fmt.Sprintf(`{"type":"web_hook","config":{"url":%q}}`, tg.srv.URL)); code != 200 {
		t.Fatalf("test of a live target: %d %v", code, m)
	}
	if code, m := d.call(t, "GET", "/api/v4/resources", ""); code != 200 || len(m["data"].([]any)) != 0 {
		t.Fatalf("a test created something: %d %v", code, m)
	}
	code, m := d.call(t, "POST", "/api/v4/resources", fmt.Sprintf(`{"id":"site","type":"web_hook","description":"farm server",
		"config":{"url":%q,"headers":{"Authorization":"Bearer x"},"password":"hunter2"}}`, tg.srv.URL+"/ingest"))
	if code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	if cfg := m["data"].(map[string]any)["config"].(map[string]any); cfg["password"] != "******" {
		t.Fatalf("password shown: %v", cfg)
	}
	code, m = d.call(t, "POST", "/api/v4/rules", `{"id":"fw","rawsql":"SELECT payload.n AS n FROM \"site/#\"",
		"actions":[{"name":"data_to_webserver","params":{"$resource":"site","path":"n/${n}","body":"${n}"}}]}`)
	if code != 201 && code != 200 {
		t.Fatalf("rule: %d %v", code, m)
	}
	pub, _ := dialMQTT(t, d.mqtt, "meter", true)
	for i := 0; i < 5; i++ {
		pub.publish("site/m", fmt.Sprintf(`{"n":%d}`, i), 1, false)
	}
	if got := strings.Join(tg.waitFor(t, 5), ","); got != "0,1,2,3,4" {
		t.Fatalf("target got %s", got)
	}
	code, m = d.call(t, "GET", "/api/v4/resources/site", "")
	st := m["data"].(map[string]any)["status"].([]any)[0].(map[string]any)
	if code != 200 || st["is_alive"] != true {
		t.Fatalf("status: %d %v", code, m)
	}
	code, m = d.call(t, "POST", "/api/v4/resources/site", "") // reconnect: drops idle connections, reports the status
	if st := m["data"].(map[string]any)["status"].([]any)[0].(map[string]any); code != 200 || st["is_alive"] != true {
		t.Fatalf("reconnect: %d %v", code, m)
	}
	if code, m := d.call(t, "DELETE", "/api/v4/resources/site", ""); code != 409 || !strings.Contains(fmt.Sprint(m["message"]), "fw/0") {
		t.Fatalf("delete while used: %d %v", code, m)
	}
	if code, m := d.call(t, "GET", "/api/v4/resource_types/web_hook/resources", ""); code != 200 || len(m["data"].([]any)) != 1 {
		t.Fatalf("resources of a type: %d %v", code, m)
	}
	d.stop()
	d2 := start(t, startOpt{dataDir: d.dataDir})
	pub2, _ := dialMQTT(t, d2.mqtt, "meter", true)
	pub2.publish("site/m", `{"n":5}`, 1, false)
	if got := tg.waitFor(t, 6); got[5] != "5" {
		t.Fatalf("after restart the target got %v", got)
	}
	tg.srv.Close()
	code, m = d2.call(t, "GET", "/api/v4/resource_status/site", "")
	if code != 200 || m["data"].(map[string]any)["is_alive"] != false {
		t.Fatalf("status with the target gone: %d %v", code, m)
	}
	if code, _ := d2.call(t, "DELETE", "/api/v4/rules/fw", ""); code != 200 && code != 204 {
		t.Fatalf("delete rule: %d", code)
	}
	if code, m := d2.call(t, "DELETE", "/api/v4/resources/site", ""); code != 200 {
		t.Fatalf("delete unused: %d %v", code, m)
	}
	if code, _ := d2.call(t, "GET", "/api/v4/resources/site", ""); code != 404 {
		t.Fatalf("deleted resource: %d", code)
	}
}
