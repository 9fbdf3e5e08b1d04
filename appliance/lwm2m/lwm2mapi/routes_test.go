package lwm2mapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/appliance/lwm2m"
	"github.com/wedge-iot/wedge/appliance/lwm2m/lwm2mapi"
	"github.com/wedge-iot/wedge/testbed/lwm2msim"
)

type env struct {
	t    *testing.T
	srv  *lwm2m.Server
	base string
	addr string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := config.Default().MQTT
	c.TCP, c.WS = "127.0.0.1:0", ""
	b, err := broker.New(broker.Options{MQTT: c, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := lwm2m.Default()
	o.Listen, o.Broker, o.Logger = "127.0.0.1:0", b, log
	srv, err := lwm2m.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "wedge.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Listen: "127.0.0.1:0", DB: db, AdminPassword: "pw", Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	lwm2mapi.Register(a, srv)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		_ = srv.Stop(ctx)
		_ = b.Stop(ctx)
		db.Close()
	})
	return &env{t: t, srv: srv, base: "http://" + a.Addr().String() + "/api/v4", addr: srv.Addr().String()}
}

func (e *env) call(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.SetBasicAuth("admin", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &v); err != nil {
		e.t.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, v
}

func TestClientsAndOperations(t *testing.T) {
	e := newEnv(t)
	d := lwm2msim.New(lwm2msim.Config{Endpoint: "867530012345678", Lifetime: 120})
	if err := d.Register(context.Background(), e.addr); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	code, v := e.call("GET", "/lwm2m/clients?_page=1&_limit=10", "")
	list, _ := v["data"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("list %d %v", code, v)
	}
	c := list[0].(map[string]any)
	if c["endpoint"] != "867530012345678" || c["imei"] != "867530012345678" || c["lifetime"] != float64(120) ||
		c["binding"] != "U" || c["version"] != "1.0" || !strings.HasPrefix(c["peer"].(string), "127.0.0.1:") ||
		c["registered_at"] == nil || c["updated_at"] == nil || fmt.Sprint(c["object_list"]) != "[/1/0 /3/0 /5/0]" {
		t.Fatalf("client %v", c)
	}
	if meta := v["meta"].(map[string]any); meta["count"] != float64(1) {
		t.Fatalf("meta %v", meta)
	}
	code, v = e.call("GET", "/lwm2m/clients/867530012345678", "")
	if code != 200 || !strings.Contains(fmt.Sprint(v["data"]), "name:Battery Level") || !strings.Contains(fmt.Sprint(v["data"]), "name:Device") {
		t.Fatalf("detail %d %v", code, v)
	}
	if code, _ := e.call("GET", "/lwm2m/clients/nobody", ""); code != 404 {
		t.Fatalf("unknown client: %d", code)
	}
	// synchronous read: the answer is the up/resp JSON
	code, v = e.call("POST", "/lwm2m/clients/867530012345678/read", `{"path":"/3/0/9"}`)
	dd := v["data"].(map[string]any)
	res := dd["data"].(map[string]any)
	if code != 200 || dd["msgType"] != "read" || res["code"] != "2.05" || fmt.Sprint(res["content"]) != "[map[path:/3/0/9 value:100]]" {
		t.Fatalf("read %d %v", code, v)
	}
	code, v = e.call("POST", "/lwm2m/clients/867530012345678/write", `{"path":"/3/0/14","type":"String","value":"+01:00"}`)
	if code != 200 || v["data"].(map[string]any)["data"].(map[string]any)["code"] != "2.04" {
		t.Fatalf("write %d %v", code, v)
	}
	if got, _ := d.Get("/3/0/14"); got != "+01:00" {
		t.Fatalf("device value %v", got)
	}
	code, v = e.call("POST", "/lwm2m/clients/867530012345678/execute", `{"path":"/3/0/4"}`)
	if code != 200 || len(d.Executed()) != 1 {
		t.Fatalf("execute %d %v", code, v)
	}
	if code, _ := e.call("POST", "/lwm2m/clients/867530012345678/read", `{}`); code != 400 {
		t.Fatalf("no path: %d", code)
	}
	// EMQX 4.2 endpoints
	code, v = e.call("GET", "/lwm2m_channels", "")
	ch := v["data"].([]any)[0].(map[string]any)
	if code != 200 || ch["imei"] != "867530012345678" || ch["ip_address"] != "127.0.0.1" || ch["port"] == float64(0) ||
		ch["objectList"].(map[string]any)["/3/0"] != "Device" {
		t.Fatalf("channels %d %v", code, v)
	}
	code, v = e.call("GET", "/lookup_cmd/867530012345678?msgType=read&path=/3/0/9", "")
	if le := v["data"].(map[string]any); code != 200 || le["code"] != "2.05" || le["imei"] != "867530012345678" {
		t.Fatalf("lookup %d %v", code, v)
	}
	if code, v = e.call("GET", "/lookup_cmd/867530012345678?msgType=discover&path=/3/0", ""); code != 200 || fmt.Sprint(v["data"]) != "[]" {
		t.Fatalf("lookup never sent %d %v", code, v)
	}
	// a silent device: 504 after timeout_ms
	d.SetSilent(true)
	start := time.Now()
	if code, _ := e.call("POST", "/lwm2m/clients/867530012345678/read?timeout_ms=300", `{"path":"/3/0"}`); code != 504 {
		t.Fatalf("silent device: %d", code)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("timeout_ms not honoured")
	}
	// kick
	if code, _ := e.call("DELETE", "/lwm2m/clients/867530012345678", ""); code != 200 {
		t.Fatalf("kick %d", code)
	}
	if _, ok := e.srv.Client("867530012345678"); ok {
		t.Fatal("still registered")
	}
}

// TestLibcoapRegistration registers with libcoap's coap-client-notls (a real CoAP peer, not
// our simulator) and a link-format payload, and checks the client in the REST API.
func TestLibcoapRegistration(t *testing.T) {
	bin, err := exec.LookPath("coap-client-notls")
	if err != nil {
		t.Skip("SKIP LOUDLY: coap-client-notls not installed (Debian package libcoap3-bin); `make test` installs it as root")
	}
	e := newEnv(t)
	_, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.Command(bin, "-m", "post", "-t", "40", "-e", `</>;rt="oma.lwm2m",</1/0>,</3/0>,</31024/10>;ver=1.1`, "-v", "6",
		fmt.Sprintf("coap://127.0.0.1:%s/rd?ep=libcoap-dev&lt=600&lwm2m=1.1&b=UQ&imei=352099001761481", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("coap-client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "2.01") {
		t.Fatalf("no 2.01 Created:\n%s", out)
	}
	code, v := e.call("GET", "/lwm2m/clients/libcoap-dev", "")
	c := v["data"].(map[string]any)
	if code != 200 || c["imei"] != "352099001761481" || c["lifetime"] != float64(600) || c["version"] != "1.1" || c["binding"] != "UQ" ||
		fmt.Sprint(c["object_list"]) != "[/1/0 /3/0 /31024/10]" || c["queue_mode"] != true {
		t.Fatalf("client %d %v", code, v)
	}
	code, v = e.call("GET", "/lwm2m_channels", "")
	if ol := v["data"].([]any)[0].(map[string]any)["objectList"].(map[string]any); code != 200 || ol["/31024/10"] != "/31024/10" || ol["/1/0"] != "LwM2M Server" {
		t.Fatalf("channels %v", v)
	}
	// a registration without lwm2m version: 4.12
	out, _ = exec.Command(bin, "-m", "post", "-t", "40", "-e", "</3/0>", "-v", "6",
		fmt.Sprintf("coap://127.0.0.1:%s/rd?ep=nover", port)).CombinedOutput()
	if !strings.Contains(string(out), "4.12") {
		t.Fatalf("no 4.12:\n%s", out)
	}
}

func TestObjectDefinitions(t *testing.T) {
	e := newEnv(t)
	code, v := e.call("GET", "/lwm2m/objects/3", "")
	if code != 200 || v["data"].(map[string]any)["name"] != "Device" {
		t.Fatalf("%d %v", code, v)
	}
	if code, _ := e.call("GET", "/lwm2m/objects/3303", ""); code != 404 {
		t.Fatalf("unknown object: %d", code)
	}
	xml := `<LWM2M><Object><Name>Temperature</Name><ObjectID>3303</ObjectID><MultipleInstances>Multiple</MultipleInstances>
<Resources><Item ID="5700"><Name>Sensor Value</Name><Operations>R</Operations><Type>Float</Type></Item></Resources></Object></LWM2M>`
	if code, v := e.call("POST", "/lwm2m/objects", xml); code != 201 {
		t.Fatalf("add: %d %v", code, v)
	}
	if code, _ := e.call("POST", "/lwm2m/objects", "<nope>"); code != 400 {
		t.Fatalf("bad xml: %d", code)
	}
	// the new definition types and names a device's data at once
	d := lwm2msim.New(lwm2msim.Config{Endpoint: "temp"})
	d.Set("/3303/0/5700", 21.5)
	if err := d.Register(context.Background(), e.addr); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	code, v = e.call("POST", "/lwm2m/clients/temp/read", `{"path":"/3303/0"}`)
	if res := v["data"].(map[string]any)["data"].(map[string]any); code != 200 || fmt.Sprint(res["content"]) != "[map[path:/3303/0/5700 value:21.5]]" {
		t.Fatalf("read %d %v", code, v)
	}
	code, v = e.call("GET", "/lwm2m_channels", "")
	if ol := v["data"].([]any)[0].(map[string]any)["objectList"].(map[string]any); ol["/3303/0"] != "Temperature" {
		t.Fatalf("channels %v", v)
	}
}

func TestOpenAPIDocumentsTheRoutes(t *testing.T) {
	e := newEnv(t)
	code, v := e.call("GET", "/openapi.json", "")
	if code != 200 {
		t.Fatalf("%d %v", code, v)
	}
	paths, _ := v["paths"].(map[string]any)
	for _, p := range []string{"/api/v4/lwm2m/clients", "/api/v4/lwm2m/clients/{ep}/read", "/api/v4/lwm2m_channels", "/api/v4/lookup_cmd/{ep}", "/api/v4/lwm2m/objects"} {
		if _, ok := paths[p]; !ok {
			keys := []string{}
			for k := range paths {
				keys = append(keys, k)
			}
			t.Fatalf("%s not documented; have %v", p, keys)
		}
	}
}
