package lwm2m_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/lwm2m"
	"github.com/wedge-iot/wedge/testbed/lwm2msim"
)

func TestRegisterAndDeviceManagement(t *testing.T) {
	e := newEnv(t, nil)
	d := e.device(lwm2msim.Config{Endpoint: "urn:imei:490154203237518", Lifetime: 300, Params: map[string]string{"imsi": "1234"}})
	ep := d.Endpoint()
	reg := e.wait("lwm2m/"+ep+"/up/resp", func(m map[string]any) bool { return m["msgType"] == "register" })
	rd := data(reg)
	if rd["ep"] != ep || rd["lt"] != float64(300) || rd["lwm2m"] != "1.0" || rd["b"] != "U" || rd["alternatePath"] != "/" {
		t.Fatalf("register event %v", reg)
	}
	if fmt.Sprint(rd["objectList"]) != "[/1/0 /3/0 /5/0]" {
		t.Fatalf("object list %v", rd["objectList"])
	}
	if d.Location() != "/rd/"+ep {
		t.Fatalf("location %q", d.Location())
	}
	ci, ok := e.srv.Client(ep)
	if !ok || ci.IMEI != "490154203237518" || ci.Params["imsi"] != "1234" || ci.Lifetime != 300 {
		t.Fatalf("client %+v", ci)
	}

	// read: TLV for a 1.0 client, typed by the object model
	r := e.command(ep, 1, "read", `{"path":"/3/0"}`)
	if data(r)["code"] != "2.05" || data(r)["codeMsg"] != "content" || data(r)["reqPath"] != "/3/0" || r["imei"] != "490154203237518" {
		t.Fatalf("read %v", r)
	}
	c := contentMap(t, r)
	if c["/3/0/0"] != "wedge simulator" || c["/3/0/9"] != float64(100) || c["/3/0/6/1"] != float64(5) || c["/3/0/13"] != float64(1700000000) {
		t.Fatalf("read content %v", c)
	}
	if d.LastAccept() != lwm2msim.CFTLV {
		t.Fatalf("a 1.0 read must ask for TLV, got Accept %d", d.LastAccept())
	}
	// read of a missing path: the device's 4.04
	if r := e.command(ep, 2, "read", `{"path":"3/7"}`); data(r)["code"] != "4.04" || data(r)["codeMsg"] != "not_found" {
		t.Fatalf("read missing %v", r)
	}
	// write single, string reqID echoed verbatim
	if err := e.pub.Publish(context.Background(), "lwm2m/"+ep+"/dn/x", 0, false,
		[]byte(`{"reqID":"w-1","msgType":"write","data":{"path":"/1/0/1","type":"Integer","value":3600}}`)); err != nil {
		t.Fatal(err)
	}
	w := e.wait("lwm2m/"+ep+"/up/resp", func(m map[string]any) bool { return m["reqID"] == "w-1" })
	if data(w)["code"] != "2.04" || data(w)["codeMsg"] != "changed" || data(w)["content"] != nil {
		t.Fatalf("write %v", w)
	}
	if v, _ := d.Get("/1/0/1"); v != int64(3600) {
		t.Fatalf("lifetime on device = %v", v)
	}
	// batch write on an instance (POST, partial update)
	w = e.command(ep, 3, "write", `{"basePath":"/1/0","content":[{"path":"2","type":"Integer","value":10},{"path":"3","type":"Integer","value":-70000},{"path":"6","type":"Boolean","value":true}]}`)
	if data(w)["code"] != "2.04" {
		t.Fatalf("batch write %v", w)
	}
	if v, _ := d.Get("/1/0/3"); v != nil {
		// /1/0/3 did not exist on the device: stored raw, as it got it; decode says -70000
		if b, ok := v.([]byte); !ok || len(b) != 4 {
			t.Fatalf("/1/0/3 = %#v", v)
		}
	}
	if v, _ := d.Get("/1/0/6"); v != true {
		t.Fatalf("/1/0/6 = %v", v)
	}
	// execute with arguments
	if x := e.command(ep, 4, "execute", `{"path":"/3/0/4","args":"5,'x'"}`); data(x)["code"] != "2.04" {
		t.Fatalf("execute %v", x)
	}
	if got := d.Executed(); len(got) != 1 || got[0] != "/3/0/4 5,'x'" {
		t.Fatalf("executed %v", got)
	}
	// write-attributes
	if x := e.command(ep, 5, "write-attr", `{"path":"/3/0/9","pmin":10,"pmax":60}`); data(x)["code"] != "2.04" {
		t.Fatalf("write-attr %v", x)
	}
	if a := d.Attributes("/3/0/9"); a != "pmin=10&pmax=60" {
		t.Fatalf("attributes %q", a)
	}
	// discover lists the links, attributes included
	x := e.command(ep, 6, "discover", `{"path":"/3/0"}`)
	links := fmt.Sprint(data(x)["content"])
	if data(x)["code"] != "2.05" || !strings.Contains(links, "</3/0/9>;pmin=10;pmax=60") || !strings.Contains(links, "</3/0/6>;dim=2") {
		t.Fatalf("discover %v", x)
	}
	// create an instance of object 6, then delete it
	x = e.command(ep, 7, "create", `{"basePath":"/6","content":[{"path":"0/0","type":"Float","value":48.5},{"path":"0/1","type":"Float","value":2.25},{"path":"0/5","type":"Time","value":1700000001}]}`)
	if data(x)["code"] != "2.01" || data(x)["codeMsg"] != "created" {
		t.Fatalf("create %v", x)
	}
	if !d.HasInstance(6, 0) {
		t.Fatal("instance /6/0 not created")
	}
	r = e.command(ep, 8, "read", `{"path":"/6/0"}`)
	if c := contentMap(t, r); c["/6/0/0"] != 48.5 || c["/6/0/1"] != 2.25 || c["/6/0/5"] != float64(1700000001) {
		t.Fatalf("read created %v", r)
	}
	if x := e.command(ep, 9, "delete", `{"path":"/6/0"}`); data(x)["code"] != "2.02" || data(x)["codeMsg"] != "deleted" {
		t.Fatalf("delete %v", x)
	}
	if d.HasInstance(6, 0) {
		t.Fatal("instance /6/0 not deleted")
	}
	// observe, notify, cancel
	o := e.command(ep, 10, "observe", `{"path":"/3/0/9"}`)
	if data(o)["code"] != "2.05" || fmt.Sprint(contentMap(t, o)["/3/0/9"]) != "100" {
		t.Fatalf("observe %v", o)
	}
	d.Set("/3/0/9", int64(87))
	n := e.wait("lwm2m/"+ep+"/up/notify", nil)
	if n["msgType"] != "notify" || n["reqID"] != float64(10) || n["seqNum"] == nil || contentMap(t, n)["/3/0/9"] != float64(87) {
		t.Fatalf("notify %v", n)
	}
	if x := e.command(ep, 11, "cancel-observe", `{"path":"/3/0/9"}`); data(x)["code"] != "2.05" {
		t.Fatalf("cancel-observe %v", x)
	}
	waitFor(t, "observation ended on the device", func() bool { return d.Observers() == 0 })

	// the lookup cache holds the last result
	if le, ok, err := e.srv.Lookup(ep, "read", "/3/0"); err != nil || !ok || le.Code != "2.05" || le.IMEI != "490154203237518" {
		t.Fatalf("lookup %+v %v %v", le, ok, err)
	}
	if le, ok, _ := e.srv.Lookup(ep, "discover", "/3/0"); !ok || !strings.Contains(fmt.Sprint(le.Content), "Battery Level") {
		t.Fatalf("lookup discover %+v", le)
	}
	// an invalid downlink is dropped and counted
	_ = e.pub.Publish(context.Background(), "lwm2m/"+ep+"/dn", 0, false, []byte(`{not json`))
	waitFor(t, "invalid command counted", func() bool { return e.srv.Counters().CommandsInvalid == 1 })

	// deregister
	if code, err := d.Deregister(context.Background()); err != nil || code != codes.Deleted {
		t.Fatalf("deregister %v %v", code, err)
	}
	if _, ok := e.srv.Client(ep); ok {
		t.Fatal("client still registered")
	}
	e.wait("lwm2m/"+ep+"/up/resp", func(m map[string]any) bool { return m["msgType"] == "deregister" })
}

func TestContentFormats(t *testing.T) {
	e := newEnv(t, nil)
	for i, cf := range []int{lwm2msim.CFTLV, lwm2msim.CFSenMLJSON, lwm2msim.CFSenMLCBOR, lwm2msim.CFJSON, 0} {
		t.Run(fmt.Sprint(cf), func(t *testing.T) {
			ep := fmt.Sprintf("cf-%d", cf)
			d := e.device(lwm2msim.Config{Endpoint: ep, Version: "1.1", PreferredFormat: cf})
			d.Set("/3/0/17", "sensor")
			d.Set("/3/0/22/0", lwm2msim.ObjLnk{Object: 4, Instance: 0})
			d.Set("/5/0/0", []byte{0, 1, 2, 0xff})
			d.Set("/6/0/0", 48.125)
			r := e.command(ep, 100+i, "read", `{"path":"/3/0"}`)
			want := cf // the announced format, SenML JSON when none
			if cf == 0 {
				want = lwm2msim.CFSenMLJSON
			}
			if d.LastAccept() != want {
				t.Fatalf("Accept %d, want %d", d.LastAccept(), want)
			}
			c := contentMap(t, r)
			if c["/3/0/0"] != "wedge simulator" || c["/3/0/9"] != float64(100) || c["/3/0/17"] != "sensor" || c["/3/0/22/0"] != "4:0" || c["/3/0/6/1"] != float64(5) {
				t.Fatalf("read %v", r)
			}
			r = e.command(ep, 200+i, "read", `{"path":"/5/0/0"}`)
			if c := contentMap(t, r); c["/5/0/0"] != "AAEC/w==" {
				t.Fatalf("opaque read %v", r)
			}
			r = e.command(ep, 300+i, "read", `{"path":"/6/0/0"}`)
			if c := contentMap(t, r); c["/6/0/0"] != 48.125 {
				t.Fatalf("float read %v", r)
			}
			w := e.command(ep, 400+i, "write", `{"basePath":"/3/0","content":[{"path":"14","type":"String","value":"+02:00"},{"path":"13","type":"Time","value":1800000000}]}`)
			if data(w)["code"] != "2.04" {
				t.Fatalf("write %v", w)
			}
			if v, _ := d.Get("/3/0/14"); v != "+02:00" {
				t.Fatalf("/3/0/14 = %#v", v)
			}
			if v, _ := d.Get("/3/0/13"); v != int64(1800000000) {
				t.Fatalf("/3/0/13 = %#v", v)
			}
			w = e.command(ep, 500+i, "write", `{"path":"/5/0/0","type":"Opaque","value":"AQID"}`)
			if data(w)["code"] != "2.04" {
				t.Fatalf("opaque write %v", w)
			}
			if v, _ := d.Get("/5/0/0"); fmt.Sprint(v) != "[1 2 3]" {
				t.Fatalf("/5/0/0 = %#v", v)
			}
		})
	}
}

func TestQueueMode(t *testing.T) {
	e := newEnv(t, func(o *lwm2m.Options) { o.QModeTimeWindow = 300 * time.Millisecond })
	d := e.device(lwm2msim.Config{Endpoint: "sleepy", Binding: "UQ"})
	ci, _ := e.srv.Client("sleepy")
	if !ci.QueueMode {
		t.Fatalf("queue mode not detected: %+v", ci)
	}
	time.Sleep(400 * time.Millisecond) // the device is asleep now
	before := d.Requests.Load()
	_ = e.pub.Publish(context.Background(), "lwm2m/sleepy/dn", 0, false, []byte(`{"reqID":1,"msgType":"read","data":{"path":"/3/0/9"}}`))
	_ = e.pub.Publish(context.Background(), "lwm2m/sleepy/dn", 0, false, []byte(`{"reqID":2,"msgType":"read","data":{"path":"/3/0/0"}}`))
	waitFor(t, "commands queued", func() bool { ci, _ := e.srv.Client("sleepy"); return ci.Pending == 2 })
	time.Sleep(300 * time.Millisecond)
	if d.Requests.Load() != before {
		t.Fatal("a command reached a sleeping device")
	}
	if le, ok, _ := e.srv.Lookup("sleepy", "read", "/3/0/9"); !ok || le.Code != "6.01" || le.CodeMsg != "reply_not_received" {
		t.Fatalf("pending lookup %+v", le)
	}
	// an empty update (lifetime refresh) wakes it; queued commands flow, 100 ms apart
	start := time.Now()
	if code, err := d.Update(context.Background(), false); err != nil || code != codes.Changed {
		t.Fatalf("update %v %v", code, err)
	}
	r1 := e.wait("lwm2m/sleepy/up/resp", func(m map[string]any) bool { return m["reqID"] == float64(1) })
	r2 := e.wait("lwm2m/sleepy/up/resp", func(m map[string]any) bool { return m["reqID"] == float64(2) })
	if contentMap(t, r1)["/3/0/9"] != float64(100) || contentMap(t, r2)["/3/0/0"] != "wedge simulator" {
		t.Fatalf("queued answers %v %v", r1, r2)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("queued commands were not spaced")
	}
	// an empty update publishes no update event (EMQX 4.2: only with an object list)
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(e.dump(), `"msgType":"update"`) {
		t.Fatal("empty update published")
	}
	if code, _ := d.Update(context.Background(), true, "lt=120"); code != codes.Changed {
		t.Fatal("update with object list refused")
	}
	u := e.wait("lwm2m/sleepy/up/resp", func(m map[string]any) bool { return m["msgType"] == "update" })
	if data(u)["lt"] != float64(120) {
		t.Fatalf("update event %v", u)
	}
}

func TestLifetimeExpiry(t *testing.T) {
	e := newEnv(t, nil)
	e.device(lwm2msim.Config{Endpoint: "short", Lifetime: 1})
	if _, ok := e.srv.Client("short"); !ok {
		t.Fatal("not registered")
	}
	ev := e.wait("lwm2m/short/up/resp", func(m map[string]any) bool { return m["msgType"] == "expired" })
	if data(ev)["ep"] != "short" {
		t.Fatalf("expired event %v", ev)
	}
	if _, ok := e.srv.Client("short"); ok {
		t.Fatal("expired client still listed")
	}
	if e.srv.Counters().Expirations != 1 {
		t.Fatalf("counters %+v", e.srv.Counters())
	}
}

func TestRegistrationRefusals(t *testing.T) {
	e := newEnv(t, func(o *lwm2m.Options) { o.LifetimeMin = 10 * time.Second })
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  lwm2msim.Config
		want string
	}{
		{lwm2msim.Config{Endpoint: "old", Version: "2.0"}, "Precondition"},
		{lwm2msim.Config{Endpoint: "short", Lifetime: 5}, "BadRequest"},
		{lwm2msim.Config{Endpoint: "bad/ep"}, "BadRequest"},
	} {
		d := lwm2msim.New(tc.cfg)
		err := d.Register(ctx, e.addr)
		d.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%+v: err %v, want %s", tc.cfg, err, tc.want)
		}
	}
	if e.srv.Counters().RegistrationsDenied != 3 {
		t.Fatalf("counters %+v", e.srv.Counters())
	}
	// an update for an unknown registration is 4.04 (the device then registers again)
	d := e.device(lwm2msim.Config{Endpoint: "gone"})
	if !e.srv.Deregister("gone") {
		t.Fatal("kick failed")
	}
	if code, err := d.Update(ctx, false); err != nil || code != codes.NotFound {
		t.Fatalf("update after kick: %v %v", code, err)
	}
}

func TestObservationEndsOnReset(t *testing.T) {
	e := newEnv(t, nil)
	d := e.device(lwm2msim.Config{Endpoint: "rst"})
	if o := e.command("rst", 1, "observe", `{"path":"/3/0/9"}`); data(o)["code"] != "2.05" {
		t.Fatalf("observe %v", o)
	}
	// An observation the server does not know (e.g. from before a restart) is answered with
	// RST, which ends it on the device.
	d.InjectObserver("/3/0/13", []byte{9, 9, 9, 9})
	if d.Observers() != 2 {
		t.Fatalf("observers %d", d.Observers())
	}
	d.Set("/3/0/13", int64(5))
	waitFor(t, "unknown observation reset", func() bool { return d.Observers() == 1 })
	d.Set("/3/0/9", int64(50))
	n := e.wait("lwm2m/rst/up/notify", nil)
	if contentMap(t, n)["/3/0/9"] != float64(50) {
		t.Fatalf("notify %v", n)
	}
}

func TestAutoObserve(t *testing.T) {
	e := newEnv(t, func(o *lwm2m.Options) {
		o.AutoObserve = true
		o.AutoObserveDelay = 50 * time.Millisecond
	})
	d := e.device(lwm2msim.Config{Endpoint: "auto", ConfirmableNotify: true})
	// object 3 is observed, 1 and 5 are skipped
	e.wait("lwm2m/auto/up/resp", func(m map[string]any) bool { return m["msgType"] == "observe" && data(m)["reqPath"] == "/3/0" })
	waitFor(t, "observation", func() bool { return d.Observers() == 1 })
	d.Set("/3/0/9", int64(42))
	n := e.wait("lwm2m/auto/up/notify", nil)
	if contentMap(t, n)["/3/0/9"] != float64(42) || data(n)["reqPath"] != "/3/0" {
		t.Fatalf("notify %v", n)
	}
}

func TestIMEI(t *testing.T) {
	for _, tc := range []struct {
		ep     string
		params map[string]string
		serial string
		want   string
	}{
		{"urn:imei:490154203237518", nil, "", "490154203237518"},
		{"urn:imei-imsi:490154203237518-001010123456789", nil, "", "490154203237518"},
		{"867530012345678", nil, "", "867530012345678"},
		{"dev1", map[string]string{"imei": "352099001761481"}, "", "352099001761481"},
		{"dev2", nil, "352099001761481", "352099001761481"},
		{"dev3", nil, "SN1", "dev3"},
	} {
		if got := lwm2m.IMEI(tc.ep, tc.params, tc.serial); got != tc.want {
			t.Errorf("IMEI(%q) = %q, want %q", tc.ep, got, tc.want)
		}
	}
	if !lwm2m.ValidIMEI("490154203237518") || lwm2m.ValidIMEI("490154203237519") {
		t.Error("Luhn check wrong")
	}
}

func TestSyncDoAndTimeout(t *testing.T) {
	e := newEnv(t, func(o *lwm2m.Options) { o.RequestTimeout = 500 * time.Millisecond })
	d := e.device(lwm2msim.Config{Endpoint: "sync", Version: "1.1"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := e.srv.Do(ctx, "sync", lwm2m.Command{MsgType: "read", Data: lwm2m.CommandData{Path: "/3/0/0"}})
	if err != nil || r.Data.Code != "2.05" {
		t.Fatalf("do %+v %v", r, err)
	}
	if _, err := e.srv.Do(ctx, "nobody", lwm2m.Command{MsgType: "read", Data: lwm2m.CommandData{Path: "/3/0"}}); err != lwm2m.ErrNoClient {
		t.Fatalf("unknown ep: %v", err)
	}
	d.SetSilent(true)
	if _, err := e.srv.Do(ctx, "sync", lwm2m.Command{MsgType: "read", Data: lwm2m.CommandData{Path: "/3/0"}}); err != lwm2m.ErrTimeout {
		t.Fatalf("silent device: %v", err)
	}
}

func TestDTLSPSK(t *testing.T) {
	e := newEnv(t, func(o *lwm2m.Options) {
		o.DTLSListen = "127.0.0.1:0"
		o.PSK = map[string][]byte{"secure-1": []byte("secret-key-0123")}
	})
	addr := e.srv.DTLSAddr().String()
	d := lwm2msim.New(lwm2msim.Config{Endpoint: "secure-1", PSKIdentity: "secure-1", PSKKey: []byte("secret-key-0123")})
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Register(ctx, addr); err != nil {
		t.Fatal(err)
	}
	ci, ok := e.srv.Client("secure-1")
	if !ok || !ci.Secure {
		t.Fatalf("client %+v", ci)
	}
	r := e.command("secure-1", 1, "read", `{"path":"/3/0/9"}`)
	if contentMap(t, r)["/3/0/9"] != float64(100) {
		t.Fatalf("read over DTLS %v", r)
	}
	// an identity may only register its own endpoint name
	other := lwm2msim.New(lwm2msim.Config{Endpoint: "secure-9", PSKIdentity: "secure-1", PSKKey: []byte("secret-key-0123")})
	defer other.Close()
	if err := other.Register(ctx, addr); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("foreign endpoint: %v", err)
	}
	// a wrong key fails the handshake
	bad := lwm2msim.New(lwm2msim.Config{Endpoint: "secure-2", PSKIdentity: "secure-1", PSKKey: []byte("wrong")})
	defer bad.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if err := bad.Register(ctx2, addr); err == nil {
		t.Fatal("wrong key registered")
	}
}

func TestMalformedDatagramsCounted(t *testing.T) {
	e := newEnv(t, nil)
	conn, err := net.Dial("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, junk := range [][]byte{{0x40, 0x01}, {0x48, 0x02, 0, 1, 1}, []byte("\x45\x02\x00\x01abc\xff")} {
		_, _ = conn.Write(junk)
	}
	waitFor(t, "malformed counted", func() bool { return e.srv.Counters().Malformed >= 2 })
	e.device(lwm2msim.Config{Endpoint: "after-junk"})
}

type denyAuth struct{}

func (denyAuth) Authenticate(_ context.Context, c broker.ClientInfo, _ []byte) (bool, bool) {
	return c.ClientID != "intruder" && c.Protocol == "lwm2m", false
}

func (denyAuth) Authorize(context.Context, broker.ClientInfo, broker.Access, string) bool {
	return true
}

func TestAuthAndReRegistration(t *testing.T) {
	e := newEnv(t, func(o *lwm2m.Options) { o.Auth = denyAuth{} })
	d := lwm2msim.New(lwm2msim.Config{Endpoint: "intruder"})
	defer d.Close()
	if err := d.Register(context.Background(), e.addr); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("intruder: %v", err)
	}
	first := e.device(lwm2msim.Config{Endpoint: "twice"})
	e.wait("lwm2m/twice/up/resp", func(m map[string]any) bool { return m["msgType"] == "register" })
	if o := e.command("twice", 1, "observe", `{"path":"/3/0/9"}`); data(o)["code"] != "2.05" {
		t.Fatalf("observe %v", o)
	}
	// the same endpoint registers again from another socket: it replaces the registration
	second := e.device(lwm2msim.Config{Endpoint: "twice", Lifetime: 77})
	waitFor(t, "new registration", func() bool { ci, _ := e.srv.Client("twice"); return ci.Lifetime == 77 })
	if n := len(e.srv.Clients()); n != 1 {
		t.Fatalf("%d clients", n)
	}
	r := e.command("twice", 2, "read", `{"path":"/3/0/9"}`)
	if contentMap(t, r)["/3/0/9"] != float64(100) || second.Requests.Load() == 0 {
		t.Fatalf("read went elsewhere: %v", r)
	}
	waitFor(t, "old observation cancelled", func() bool { return first.Observers() == 0 })
}

func TestCollector(t *testing.T) {
	e := newEnv(t, nil)
	e.device(lwm2msim.Config{Endpoint: "m1"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.srv.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	if got["wedge_lwm2m_registrations_total"] != 1 || got["wedge_lwm2m_clients"] != 1 || len(got) != 13 {
		t.Fatalf("metrics %v", got)
	}
}

func TestEmptyUpdateRefreshesLifetime(t *testing.T) {
	e := newEnv(t, nil)
	d := e.device(lwm2msim.Config{Endpoint: "refresh", Lifetime: 1})
	// lifetime 1 s (+10 % grace): empty updates every 500 ms keep it for 3 s
	for i := 0; i < 6; i++ {
		time.Sleep(500 * time.Millisecond)
		if code, err := d.Update(context.Background(), false); err != nil || code != codes.Changed {
			t.Fatalf("update %d: %v %v", i, code, err)
		}
	}
	ci, ok := e.srv.Client("refresh")
	if !ok || ci.UpdatedAt.Before(ci.RegisteredAt.Add(2*time.Second)) {
		t.Fatalf("registration not refreshed: %+v", ci)
	}
	e.wait("lwm2m/refresh/up/resp", func(m map[string]any) bool { return m["msgType"] == "expired" })
}

func TestStopTwiceAndWithoutStart(t *testing.T) {
	e := newEnv(t, nil)
	e.device(lwm2msim.Config{Endpoint: "stop"})
	ctx := context.Background()
	if err := e.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if len(e.srv.Clients()) != 0 {
		t.Fatal("clients after stop")
	}
	s, err := lwm2m.New(lwm2m.Options{Listen: "127.0.0.1:0", Broker: e.b})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPlainTextAndOpaqueAnswers: a device answering single-resource reads in plain text without
// a Content-Format (text/plain is the default) or as opaque; values are typed by the model.
func TestPlainTextAndOpaqueAnswers(t *testing.T) {
	e := newEnv(t, nil)
	d := e.device(lwm2msim.Config{Endpoint: "plain", PlainSingle: true})
	d.Set("/5/0/0", []byte{0xde, 0xad})
	d.Set("/6/0/0", 48.25)
	for i, tc := range []struct {
		path string
		want any
	}{{"/3/0/9", float64(100)}, {"/3/0/0", "wedge simulator"}, {"/5/0/0", "3q0="}, {"/6/0/0", 48.25}, {"/1/0/6", false}} {
		r := e.command("plain", i+1, "read", fmt.Sprintf(`{"path":%q}`, tc.path))
		if got := contentMap(t, r)[tc.path]; got != tc.want {
			t.Errorf("%s: %#v, want %#v (%v)", tc.path, got, tc.want, r)
		}
	}
	// an observation notified in plain text
	if o := e.command("plain", 10, "observe", `{"path":"/3/0/9"}`); data(o)["code"] != "2.05" {
		t.Fatalf("observe %v", o)
	}
	d.Set("/3/0/9", int64(12))
	if n := e.wait("lwm2m/plain/up/notify", nil); contentMap(t, n)["/3/0/9"] != float64(12) {
		t.Fatalf("notify %v", n)
	}
}
