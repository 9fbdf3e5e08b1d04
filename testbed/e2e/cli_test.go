package e2e

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tryMQTT connects and returns the CONNACK return code (0 accepted).
func tryMQTT(t *testing.T, addr, id string) (byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0xff, err
	}
	defer c.Close()
	m := &mqttConn{t: t, c: c, r: bufio.NewReader(c)}
	var vh []byte
	vh = append(vh, str("MQTT")...)
	vh = append(vh, 4, 2, 0, 30)
	vh = append(vh, str(id)...)
	m.write(0x10, vh)
	typ, body, err := m.tryRead(5 * time.Second)
	if err != nil || typ != 2 || len(body) < 2 {
		return 0xff, err
	}
	return body[1], nil
}

func TestConfigErrorNamesTheKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("mqtt:\n  tls:\n    verify_depth: -3\n"), 0o600)
	out, err := exec.Command(wedgeBin(t), "run", "--config", cfg, "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil {
		t.Fatal("wedge started with an invalid configuration")
	}
	if !strings.Contains(string(out), "mqtt.tls.verify_depth") {
		t.Fatalf("error does not name the key:\n%s", out)
	}
	cmd := exec.Command(wedgeBin(t), "config", "check")
	cmd.Env = append(os.Environ(), "WEDGE_MQTT_MAX_INFLIGHT=lots")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "mqtt.max_inflight") {
		t.Fatalf("env error: %v\n%s", err, out)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(wedgeBin(t), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^wedge \S+ \(commit \S+, go1\.\d+\S*, linux/\w+\)\n$`).Match(out) {
		t.Fatalf("version line %q", out)
	}
}

// TestAdminPassword: the first start prints a generated password once; it works for the API;
// a second start prints nothing; api.admin_password replaces it at every start.
func TestAdminPassword(t *testing.T) {
	d := start(t, startOpt{noAdminPassword: true})
	m := regexp.MustCompile(`admin.*: (\S+)\n`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("no generated password printed:\n%s", d.stdout)
	}
	get := func(d *daemon, user, pw string) int {
		req, _ := http.NewRequest("GET", "http://"+d.api+"/api/v4/status", nil)
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(d, "admin", m[1]); code != 200 {
		t.Fatalf("generated password refused: %d", code)
	}
	if code := get(d, "admin", "wrong"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	d.stop()
	d2 := start(t, startOpt{dataDir: d.dataDir, noAdminPassword: true})
	if strings.Contains(d2.stdout.String(), "admin") {
		t.Fatalf("password printed again:\n%s", d2.stdout)
	}
	if code := get(d2, "admin", m[1]); code != 200 {
		t.Fatalf("stored password lost: %d", code)
	}
	d2.stop()
	d3 := start(t, startOpt{dataDir: d.dataDir, noAdminPassword: true, env: []string{"WEDGE_API_ADMIN_PASSWORD=factory-floor-7"}})
	if code := get(d3, "admin", "factory-floor-7"); code != 200 {
		t.Fatalf("api.admin_password not applied: %d", code)
	}
	if code := get(d3, "admin", m[1]); code != 401 {
		t.Fatalf("old password still accepted: %d", code)
	}
}

// TestOpenEndpoints: /healthz and /metrics need no credentials; the API does.
func TestOpenEndpoints(t *testing.T) {
	d := start(t, startOpt{})
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/api/v4/clients": 401, "/api/v4/status": 401} {
		resp, err := http.Get("http://" + d.api + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
