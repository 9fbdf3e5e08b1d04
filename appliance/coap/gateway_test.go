package coap_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	gocoap "github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/coap"
	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/testbed/client"
)

type env struct {
	t    testing.TB
	b    *broker.Broker
	g    *coap.Gateway
	addr string
	mqtt string
}

func logger() *slog.Logger {
	if os.Getenv("WEDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t testing.TB, mod func(o *coap.Options)) *env {
	t.Helper()
	c := config.Default().MQTT
	c.TCP, c.WS = "127.0.0.1:0", ""
	b, err := broker.New(broker.Options{MQTT: c, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Stop(ctx)
	})
	o := coap.Options{Listen: "127.0.0.1:0", Broker: b, Logger: logger()}
	if mod != nil {
		mod(&o)
	}
	g, err := coap.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Stop(ctx)
	})
	return &env{t: t, b: b, g: g, addr: g.Addr().String(), mqtt: b.Addr("tcp")}
}

// subscriber is a real MQTT client subscribed to filter.
func (e *env) subscriber(filter string) <-chan client.Message {
	e.t.Helper()
	got := make(chan client.Message, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Addr: e.mqtt, ClientID: "sub-" + strings.ReplaceAll(filter, "/", "_"), OnMessage: func(m client.Message) { got <- m }})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Subscribe(ctx, filter, 1); err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) mqttPublish(topic, payload string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Addr: e.mqtt, ClientID: fmt.Sprintf("pub-%d", time.Now().UnixNano())})
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, topic, 1, false, []byte(payload)); err != nil {
		e.t.Fatal(err)
	}
}

func recv(t testing.TB, ch <-chan client.Message) client.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no MQTT message")
	}
	return client.Message{}
}

func (e *env) dial() *udpClient.Conn {
	e.t.Helper()
	c, err := udp.Dial(e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func do(t testing.TB, c *udpClient.Conn, method codes.Code, path string, body []byte, nonConfirmable bool) *pool.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var req *pool.Message
	var err error
	p, q, _ := strings.Cut(path, "?")
	switch method {
	case codes.PUT:
		req, err = c.NewPutRequest(ctx, p, gocoap.TextPlain, bytes.NewReader(body))
	case codes.POST:
		req, err = c.NewPostRequest(ctx, p, gocoap.TextPlain, bytes.NewReader(body))
	case codes.DELETE:
		req, err = c.NewDeleteRequest(ctx, p)
	default:
		req, err = c.NewGetRequest(ctx, p)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range strings.Split(q, "&") {
		if x != "" {
			req.AddQuery(x)
		}
	}
	if nonConfirmable {
		req.SetType(gocoap.NonConfirmable)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestPublishCONandNONandBlockwise(t *testing.T) {
	e := newEnv(t, nil)
	got := e.subscriber("sensors/#")
	c := e.dial()
	if r := do(t, c, codes.PUT, "/mqtt/sensors/t1?c=dev1&u=tom&p=secret", []byte("21.5"), false); r.Code() != codes.Changed {
		t.Fatalf("PUT: %v", r.Code())
	}
	if m := recv(t, got); m.Topic != "sensors/t1" || string(m.Payload) != "21.5" {
		t.Fatalf("got %s %q", m.Topic, m.Payload)
	}
	if r := do(t, c, codes.POST, "/mqtt/sensors/t2?c=dev1", []byte("nonconfirmable"), true); r.Code() != codes.Changed {
		t.Fatalf("NON POST: %v", r.Code())
	}
	if m := recv(t, got); m.Topic != "sensors/t2" || string(m.Payload) != "nonconfirmable" {
		t.Fatalf("got %s %q", m.Topic, m.Payload)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16 kB: block-wise (RFC 7959)
	if r := do(t, c, codes.PUT, "/mqtt/sensors/big?c=dev1", big, false); r.Code() != codes.Changed {
		t.Fatalf("block-wise PUT: %v", r.Code())
	}
	if m := recv(t, got); m.Topic != "sensors/big" || !bytes.Equal(m.Payload, big) {
		t.Fatalf("got %s %d bytes", m.Topic, len(m.Payload))
	}
	if e.g.Counters().Published != 3 {
		t.Fatalf("counters %+v", e.g.Counters())
	}
}

type denyAuth struct{}

func (denyAuth) Authenticate(_ context.Context, c broker.ClientInfo, pw []byte) (bool, bool) {
	return c.Username != "bad" && string(pw) != "wrong", false
}

func (denyAuth) Authorize(_ context.Context, c broker.ClientInfo, a broker.Access, topic string) bool {
	return !strings.HasPrefix(topic, "secret/")
}

func TestRefusals(t *testing.T) {
	e := newEnv(t, func(o *coap.Options) { o.Auth = denyAuth{} })
	c := e.dial()
	for _, tc := range []struct {
		method codes.Code
		path   string
		want   codes.Code
	}{
		{codes.PUT, "/mqtt/a?u=x", codes.BadRequest},             // no client id
		{codes.PUT, "/mqtt/a?c=d&u=bad&p=x", codes.Unauthorized}, // bad credentials
		{codes.PUT, "/mqtt/a?c=d&p=wrong", codes.Unauthorized},
		{codes.PUT, "/mqtt/secret/x?c=d", codes.Forbidden}, // ACL
		{codes.GET, "/mqtt/secret/%23?c=d", codes.Content}, // plain GET = keepalive, no ACL needed
		{codes.PUT, "/mqtt?c=d", codes.BadRequest},         // no topic
		{codes.PUT, "/mqtt/a/+?c=d", codes.BadRequest},     // wildcard in a publish
		{codes.DELETE, "/mqtt/a?c=d", codes.MethodNotAllowed},
		{codes.PUT, "/other?c=d", codes.NotFound},
	} {
		if r := do(t, c, tc.method, tc.path, []byte("x"), false); r.Code() != tc.want {
			t.Errorf("%v %s: %v, want %v", tc.method, tc.path, r.Code(), tc.want)
		}
	}
	if e.g.Counters().Refused != 8 {
		t.Fatalf("counters %+v", e.g.Counters())
	}
	// an observe of a forbidden filter
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Observe(ctx, "/mqtt/secret/x", func(*pool.Message) {}, gocoap.Option{ID: gocoap.URIQuery, Value: []byte("c=d")})
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("forbidden observe: %v", err)
	}
}

func observe(t testing.TB, c *udpClient.Conn, path string, got chan<- string) interface {
	Cancel(context.Context, ...gocoap.Option) error
} {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, q, _ := strings.Cut(path, "?")
	obs, err := c.Observe(ctx, p, func(m *pool.Message) {
		// The observe's own response carries sequence 1, notifications 2 and up. A first
		// notification (a retained message) can overtake the response on the wire; the client
		// then drops the response as stale, so it is not told apart by arrival.
		if seq, err := m.Observe(); err == nil && seq == 1 {
			return
		}
		b, _ := m.ReadBody()
		got <- string(b)
	}, gocoap.Option{ID: gocoap.URIQuery, Value: []byte(q)})
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestObserveNotifyAndCancel(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	got := make(chan string, 10)
	obs := observe(t, c, "/mqtt/cmd/+/x?c=obs1", got)
	waitFor(t, "subscription", func() bool { return e.g.Counters().Active == 1 })
	e.mqttPublish("cmd/dev/x", "hello")
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("notification %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := obs.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "observation ended", func() bool { return e.g.Counters().Active == 0 })
	e.mqttPublish("cmd/dev/x", "after")
	select {
	case s := <-got:
		t.Fatalf("notification after cancel: %q", s)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestObserverGoesAway: an observer that answers notifications with RST, and one that stops
// acknowledging confirmable notifications, both lose their observation.
func TestObserverGoesAway(t *testing.T) {
	e := newEnv(t, func(o *coap.Options) { o.NotifyTimeout = 500 * time.Millisecond })
	// RST: a raw socket observer that resets the first notification.
	conn, err := net.Dial("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(rawObserve(0x1234, []byte{0xab, 0xcd}, "t/r", "c=rst")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(buf); err != nil { // the observe's response
		t.Fatal(err)
	}
	waitFor(t, "raw observation", func() bool { return e.g.Counters().Active == 1 })
	e.mqttPublish("t/r", "one")
	n, err := conn.Read(buf)
	if err != nil || n < 4 {
		t.Fatal("no notification", err)
	}
	mid := buf[2:4]
	if _, err := conn.Write([]byte{0x70, 0x00, mid[0], mid[1]}); err != nil { // RST
		t.Fatal(err)
	}
	waitFor(t, "observation ended by RST", func() bool { return e.g.Counters().Active == 0 })

	// CON notifications nobody acknowledges.
	conn2, err := net.Dial("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	req := rawObserve(0x2222, []byte{0x01}, "t/c", "c=silent")
	req[0] = 0x41 // CON, token length 1
	if _, err := conn2.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn2.Read(buf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "silent observation", func() bool { return e.g.Counters().Active == 1 })
	e.mqttPublish("t/c", "unacked")
	waitFor(t, "observation ended by missing ACK", func() bool { return e.g.Counters().Active == 0 })
}

// rawObserve builds a NON GET Observe=0 datagram for /mqtt/{topic}?{query} by hand.
func rawObserve(mid uint16, token []byte, topic, query string) []byte {
	b := []byte{0x50 | byte(len(token)), 0x01, byte(mid >> 8), byte(mid)}
	b = append(b, token...)
	last := 0
	opt := func(num int, val []byte) {
		delta := num - last
		last = num
		b = append(b, byte(delta<<4|len(val)))
		b = append(b, val...)
	}
	opt(6, nil) // Observe = 0
	opt(11, []byte("mqtt"))
	for _, seg := range strings.Split(topic, "/") {
		opt(11, []byte(seg))
	}
	opt(15, []byte(query))
	return b
}

func TestMalformedDatagramsDropped(t *testing.T) {
	e := newEnv(t, nil)
	conn, err := net.Dial("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, junk := range [][]byte{{0x40, 0x01}, {0x48, 0x01, 0, 1, 1, 2}, []byte("GET / HTTP/1.1\r\n\r\n")} {
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "malformed counted", func() bool { return e.g.Counters().Malformed >= 2 })
	// the gateway still works
	c := e.dial()
	if r := do(t, c, codes.GET, "/mqtt/x?c=k", nil, false); r.Code() != codes.Content {
		t.Fatalf("keepalive %v", r.Code())
	}
	if e.g.Counters().Keepalives != 1 {
		t.Fatalf("counters %+v", e.g.Counters())
	}
}

func TestWellKnownCore(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	r := do(t, c, codes.GET, "/.well-known/core", nil, false)
	b, _ := r.ReadBody()
	if r.Code() != codes.Content || string(b) != "</mqtt>,</ps>" {
		t.Fatalf("%v %q", r.Code(), b)
	}
}

// coapClient returns the path of libcoap's coap-client-notls or skips loudly.
func coapClient(t *testing.T) string {
	p, err := exec.LookPath("coap-client-notls")
	if err != nil {
		t.Skip("SKIP LOUDLY: coap-client-notls not installed (Debian package libcoap3-bin); `make test` installs it as root")
	}
	return p
}

// TestLibcoapPublishAndObserve uses libcoap's real client: a PUT reaches a real MQTT subscriber,
// and an observing coap-client gets MQTT messages as notifications.
func TestLibcoapPublishAndObserve(t *testing.T) {
	bin := coapClient(t)
	e := newEnv(t, nil)
	_, port, _ := net.SplitHostPort(e.addr)
	got := e.subscriber("libcoap/#")
	out, err := exec.Command(bin, "-m", "put", "-e", "1234", "-v", "6",
		fmt.Sprintf("coap://127.0.0.1:%s/mqtt/libcoap/topic1?c=client1&u=tom&p=secret", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("coap-client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "2.04") {
		t.Fatalf("no 2.04 in coap-client output:\n%s", out)
	}
	if m := recv(t, got); m.Topic != "libcoap/topic1" || string(m.Payload) != "1234" {
		t.Fatalf("got %s %q", m.Topic, m.Payload)
	}
	// no client id: 4.00
	out, _ = exec.Command(bin, "-m", "put", "-e", "x", "-v", "6", fmt.Sprintf("coap://127.0.0.1:%s/mqtt/libcoap/t", port)).CombinedOutput()
	if !strings.Contains(string(out), "4.00") {
		t.Fatalf("no 4.00 without client id:\n%s", out)
	}

	// observe for 3 s with coap-client; publish from MQTT meanwhile
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-s", "3", "-w", "-B", "5", fmt.Sprintf("coap://127.0.0.1:%s/mqtt/libcoap/obs?c=client2", port))
	var stdout bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stdout.Write(p) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "libcoap observation", func() bool { return e.g.Counters().Active == 1 })
	for i := 0; i < 3; i++ {
		e.mqttPublish("libcoap/obs", fmt.Sprintf("msg-%d", i))
		time.Sleep(50 * time.Millisecond)
	}
	big := "big-" + strings.Repeat("0123456789", 300) + "-end" // 3 kB: a block-wise notification
	e.mqttPublish("libcoap/obs", big)
	_ = cmd.Wait()
	mu.Lock()
	s := stdout.String()
	mu.Unlock()
	for i := 0; i < 3; i++ {
		if !strings.Contains(s, fmt.Sprintf("msg-%d", i)) {
			t.Fatalf("coap-client did not print msg-%d:\n%s", i, s)
		}
	}
	if !strings.Contains(s, big) {
		t.Fatalf("coap-client did not print the block-wise notification:\n%s", s)
	}
	waitFor(t, "libcoap observation cancelled", func() bool { return e.g.Counters().Active == 0 })
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestSessionTimeoutEndsObservation(t *testing.T) {
	e := newEnv(t, func(o *coap.Options) { o.Keepalive = 500 * time.Millisecond })
	c := e.dial()
	got := make(chan string, 10)
	observe(t, c, "/mqtt/idle/t?c=idle", got)
	waitFor(t, "observation", func() bool { return e.g.Counters().Active == 1 })
	waitFor(t, "idle session closed", func() bool { return e.g.Counters().Active == 0 })
}

func TestRetainedMessageNotifiedAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.b.Publish(broker.PublishRequest{Topic: "cfg/dev1", Payload: []byte("v1"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	got := make(chan string, 10)
	observe(t, c, "/mqtt/cfg/dev1?c=r", got)
	select {
	case s := <-got:
		if s != "v1" {
			t.Fatalf("retained %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retained message not notified")
	}
}

func TestCollector(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	do(t, c, codes.PUT, "/mqtt/m/1?c=m", []byte("x"), false)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.g.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "wedge_coap_published_total" && mf.GetMetric()[0].GetCounter().GetValue() == 1 {
			found = true
		}
	}
	if !found || len(mfs) != 8 {
		t.Fatalf("metrics %v", mfs)
	}
}

func TestStopTwiceAndWithoutStart(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := coap.New(coap.Options{Listen: "127.0.0.1:0", Broker: e.b})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
