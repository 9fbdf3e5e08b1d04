package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, warn, err := Load("", nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 0 {
		t.Fatalf("warnings: %v", warn)
	}
	if c.MQTT.TCP != "0.0.0.0:1883" || c.MQTT.WS != "0.0.0.0:8083" || c.API.Listen != "0.0.0.0:18083" || c.DataDir != "./data" {
		t.Fatalf("defaults changed: %+v", c)
	}
	if c.CoAP.Listen != "0.0.0.0:5683" || c.LwM2M.Listen != "0.0.0.0:5783" || c.MQTT.TLS.Listen != "0.0.0.0:8883" {
		t.Fatalf("default ports changed: %+v", c)
	}
	if c.Auth.Configured() {
		t.Fatal("no auth chain by default")
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wedge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	p := writeFile(t, "data_dir: /from/file\nmqtt:\n  tcp: 127.0.0.1:1999\n  max_inflight: 7\nstorage:\n  flush_interval: 20ms\n")
	env := []string{"WEDGE_MQTT_TCP=127.0.0.1:2000", "WEDGE_DATA_DIR=/from/env", "WEDGE_API_ADMIN_PASSWORD=pw=with=equals", "PATH=/bin"}
	c, _, err := Load(p, env, Overrides{DataDir: "/from/flag"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/flag" {
		t.Errorf("flag must win over env: %q", c.DataDir)
	}
	if c.MQTT.TCP != "127.0.0.1:2000" {
		t.Errorf("env must win over file: %q", c.MQTT.TCP)
	}
	if c.MQTT.MaxInflight != 7 {
		t.Errorf("file must win over default: %d", c.MQTT.MaxInflight)
	}
	if c.MQTT.WS != "0.0.0.0:8083" {
		t.Errorf("unset keys keep defaults: %q", c.MQTT.WS)
	}
	if c.Storage.FlushInterval != 20*time.Millisecond {
		t.Errorf("duration: %v", c.Storage.FlushInterval)
	}
	if c.API.AdminPassword != "pw=with=equals" {
		t.Errorf("admin password: %q", c.API.AdminPassword)
	}
}

func TestEnvTypes(t *testing.T) {
	c, warn, err := Load("", []string{"WEDGE_MQTT_TLS_VERIFY_PEER=true", "WEDGE_MQTT_TLS_CACERT=" + writeFile(t, "x"),
		"WEDGE_STORAGE_FLUSH_INTERVAL=1ms", "WEDGE_NOT_A_KEY=1", "WEDGE_AUTH_CHAIN=[http]"}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.MQTT.TLS.VerifyPeer || c.Storage.FlushInterval != time.Millisecond || len(c.Auth.Chain) != 1 {
		t.Fatalf("env not applied: %+v", c)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "WEDGE_NOT_A_KEY") {
		t.Fatalf("want one warning naming the unknown variable, got %v", warn)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		key        string
	}{
		{"unknown key", "mqtt:\n  tpc: 1\n", nil, `"tpc"`},
		{"bad type", "mqtt:\n  max_inflight: lots\n", nil, "max_inflight"},
		{"bad address", "mqtt:\n  tcp: nonsense\n", nil, "mqtt.tcp"},
		{"bad level", "log:\n  level: loud\n", nil, "log.level"},
		{"cert without key", "mqtt:\n  tls:\n    cert: /etc/hostname\n", nil, "mqtt.tls.cert"},
		{"verify without ca", "mqtt:\n  tls:\n    verify_peer: true\n", nil, "mqtt.tls.cacert"},
		{"negative depth", "mqtt:\n  tls:\n    verify_depth: -1\n", nil, "mqtt.tls.verify_depth"},
		{"env bad int", "", []string{"WEDGE_MQTT_MAX_INFLIGHT=70000"}, "mqtt.max_inflight"},
		{"env bad duration", "", []string{"WEDGE_STORAGE_FLUSH_INTERVAL=soon"}, "storage.flush_interval"},
		{"queue below inflight", "mqtt:\n  max_inflight: 100\n  max_queued_messages: 10\n", nil, "mqtt.max_queued_messages"},
		{"auth source", "auth:\n  chain: [ldap]\n", nil, "auth.chain[0]"},
		{"rule without sql", "rules:\n  - id: r1\n", nil, "rules[0].rawsql"},
		{"gc percent", "", []string{"WEDGE_RUNTIME_GC_PERCENT=5"}, "runtime.gc_percent"},
		{"memory limit", "runtime:\n  memory_limit: -1\n", nil, "runtime.memory_limit"},
		{"missing file key", "api:\n  cert: /nonexistent/c.pem\n  key: /nonexistent/k.pem\n", nil, "api.cert"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := ""
			if tc.file != "" {
				p = writeFile(t, tc.file)
			}
			_, _, err := Load(p, tc.env, Overrides{})
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %q does not name %s", err, tc.key)
			}
		})
	}
}

func TestValidationErrorType(t *testing.T) {
	_, _, err := Load("", []string{"WEDGE_MQTT_TCP=x"}, Overrides{})
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "mqtt.tcp" {
		t.Fatalf("want *Error for mqtt.tcp, got %v", err)
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	c, _, err := Load(writeFile(t, ""), nil, Overrides{})
	if err != nil || c.MQTT.TCP != Default().MQTT.TCP {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestDiffAndReloadable(t *testing.T) {
	a, b := Default(), Default()
	b.Log.Level = "debug"
	b.MQTT.TCP = "127.0.0.1:1"
	d := Diff(a, b)
	if strings.Join(d, ",") != "log.level,mqtt.tcp" {
		t.Fatalf("diff %v", d)
	}
	if !IsReloadable("log.level") || IsReloadable("mqtt.tcp") || !IsReloadable("auth") {
		t.Fatal("reloadable set wrong")
	}
}

func TestEveryKeyHasAnEnvName(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		e := EnvName(k)
		if prev, dup := seen[e]; dup {
			t.Fatalf("keys %s and %s share %s", prev, k, e)
		}
		seen[e] = k
	}
	if seen["WEDGE_API_ADMIN_PASSWORD"] != "api.admin_password" {
		t.Fatal("WEDGE_API_ADMIN_PASSWORD must map to api.admin_password")
	}
}

// FuzzParse feeds arbitrary documents to the loader: it returns a config or an error, never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(DefaultsYAML()))
	f.Add([]byte("mqtt:\n  tcp: 127.0.0.1:1\n  tls: {verify_depth: 3}\n"))
	f.Add([]byte("rules:\n  - {id: r1, rawsql: 'SELECT * FROM \"t/#\"'}\n"))
	f.Add([]byte("auth: {chain: [http], http: {timeout: 5s}}"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if err := Parse(b, c); err != nil {
			return
		}
		_ = c.Validate()
	})
}
