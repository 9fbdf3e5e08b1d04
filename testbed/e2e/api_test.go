package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (d *daemon) call(t testing.TB, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+d.api+path, strings.NewReader(body))
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, b)
	}
	return resp.StatusCode, m
}

// TestRESTAgainstRealBroker exercises the EMQX v4 endpoints on a running daemon with real
// MQTT clients connected.
func TestRESTAgainstRealBroker(t *testing.T) {
	d := start(t, startOpt{})
	s1, _ := dialMQTT(t, d.mqtt, "sensor-1", true)
	s1.subscribe("cmd/sensor-1", 1)
	s2, _ := dialMQTT(t, d.mqtt, "sensor-2", true)
	s2.subscribe("cmd/#", 0)
	dialMQTT(t, d.mqtt, "gateway-1", true)

	code, m := d.call(t, "GET", "/api/v4/clients?_page=1&_limit=2", "")
	meta, _ := m["meta"].(map[string]any)
	if code != 200 || m["code"].(float64) != 0 || meta["count"].(float64) != 3 || len(m["data"].([]any)) != 2 {
		t.Fatalf("clients page: %d %v", code, m)
	}
	_, m = d.call(t, "GET", "/api/v4/clients?_like_clientid=sensor", "")
	if len(m["data"].([]any)) != 2 {
		t.Fatalf("filter: %v", m)
	}
	_, m = d.call(t, "GET", "/api/v4/clients/sensor-1", "")
	c := m["data"].([]any)[0].(map[string]any)
	if c["clientid"] != "sensor-1" || c["connected"] != true || c["subscriptions_cnt"].(float64) != 1 || c["proto_ver"].(float64) != 4 {
		t.Fatalf("client: %v", c)
	}
	_, m = d.call(t, "GET", "/api/v4/subscriptions", "")
	if len(m["data"].([]any)) != 2 {
		t.Fatalf("subscriptions: %v", m)
	}
	_, m = d.call(t, "GET", "/api/v4/routes", "")
	if len(m["data"].([]any)) != 2 {
		t.Fatalf("routes: %v", m)
	}
	_, m = d.call(t, "GET", "/api/v4/stats", "")
	// EMQX 4 answers one entry per node.
	if st := m["data"].([]any)[0].(map[string]any)["stats"].(map[string]any); st["connections.count"].(float64) != 3 {
		t.Fatalf("stats: %v", st)
	}
	// Publish through the API: the subscriber gets it.
	code, m = d.call(t, "POST", "/api/v4/mqtt/publish", `{"topic":"cmd/sensor-1","payload":"reboot","qos":1,"clientid":"ops"}`)
	if code != 200 || m["code"].(float64) != 0 {
		t.Fatalf("publish: %d %v", code, m)
	}
	if topic, payload, _, err := s1.message(5 * time.Second); err != nil || topic != "cmd/sensor-1" || payload != "reboot" {
		t.Fatalf("published message: %q %q %v", topic, payload, err)
	}
	code, _ = d.call(t, "POST", "/api/v4/mqtt/publish", `{"topic":"cmd/#","payload":"x"}`)
	if code != 400 {
		t.Fatalf("wildcard publish: %d", code)
	}
	// Kick: the connection closes and the client is gone.
	code, _ = d.call(t, "DELETE", "/api/v4/clients/gateway-1", "")
	if code != 200 {
		t.Fatalf("kick: %d", code)
	}
	code, _ = d.call(t, "GET", "/api/v4/clients/gateway-1", "")
	if code != 404 {
		t.Fatalf("kicked client still listed: %d", code)
	}
	code, m = d.call(t, "GET", "/api/v4/metrics", "")
	if code != 200 || m["data"].([]any)[0].(map[string]any)["metrics"].(map[string]any)["messages.received"] == nil {
		t.Fatalf("metrics: %v", m)
	}
	// The OpenAPI document lists the broker routes.
	code, m = d.call(t, "GET", "/api/v4/openapi.json", "")
	paths, _ := m["paths"].(map[string]any)
	if code != 200 || paths["/api/v4/clients"] == nil && paths["/clients"] == nil {
		t.Fatalf("openapi paths: %v", keys(paths))
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
