package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRulesThroughBinary: a rule from the config file and one created through the REST API
// both republish, on each rule engine (compiled Wasm and the evaluator); the rule's metrics
// count the message.
func TestRulesThroughBinary(t *testing.T) {
	for _, eng := range []string{"wasm", "eval"} {
		t.Run(eng, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "wedge.yaml")
			os.WriteFile(cfg, []byte(`rule_engine: `+eng+`
rules:
  - id: cfg-hot
    rawsql: 'SELECT payload.temperature AS t, clientid FROM "plant/#" WHERE payload.temperature > 50'
    actions:
      - name: republish
        params: {target_topic: "alerts/${clientid}", target_qos: 1, payload_tmpl: "hot ${t}"}
`), 0o600)
			d := start(t, startOpt{config: cfg})
			code, m := d.call(t, "POST", "/api/v4/rules", `{"id":"api-all","rawsql":"SELECT upper(payload) AS p FROM \"raw/#\"",
				"actions":[{"name":"republish","params":{"target_topic":"out/raw","payload_tmpl":"${p}"}}]}`)
			if code != 201 && code != 200 {
				t.Fatalf("create rule: %d %v", code, m)
			}
			code, _ = d.call(t, "POST", "/api/v4/rules", `{"id":"bad","rawsql":"SELECT FROM"}`)
			if code != 400 {
				t.Fatalf("bad SQL: %d", code)
			}
			sub, _ := dialMQTT(t, d.mqtt, "watch", true)
			sub.subscribe("alerts/#", 1)
			sub.subscribe("out/#", 1)
			pub, _ := dialMQTT(t, d.mqtt, "line-7", true)
			pub.publish("plant/oven", `{"temperature":40}`, 1, false)
			pub.publish("plant/oven", `{"temperature":72.5}`, 1, false)
			pub.publish("raw/x", `abc`, 1, false)
			got := map[string]string{}
			for i := 0; i < 2; i++ {
				topic, payload, _, err := sub.message(5 * time.Second)
				if err != nil {
					t.Fatalf("republished message %d: %v (have %v)", i, err, got)
				}
				got[topic] = payload
			}
			if got["alerts/line-7"] != "hot 72.5" || got["out/raw"] != "ABC" {
				t.Fatalf("republished %v", got)
			}
			body := d.apiGet(t, "/api/v4/rules/cfg-hot")
			if !strings.Contains(body, `"matched":2`) || !strings.Contains(body, `"passed":1`) {
				t.Fatalf("metrics of cfg-hot: %s", body)
			}
		})
	}
}
