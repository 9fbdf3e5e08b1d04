package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) OnEvent(e Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, string(e.Type))
	}
	return out
}

func TestEvents(t *testing.T) {
	b := testBroker(t, nil)
	rec := &recorder{}
	b.AddListener(rec)
	c := dialRaw(t, b.Addr("tcp"), 5)
	c.connect("ev", true)
	c.subscribe("ev/#", 1)
	c.publish("ev/x", "hi", 1, false)
	c.expect(packets.Puback)
	m := c.expect(packets.Publish)
	c.puback(m.PacketID)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 99,
		Filters: packets.Subscriptions{{Filter: "ev/#"}}})
	c.expect(packets.Unsuback)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	want := []string{"client_connected", "session_subscribed", "message_delivered", "message_acked", "session_unsubscribed", "client_disconnected"}
	waitFor(t, func() bool { return len(rec.types()) >= len(want) }, "events")
	if got := strings.Join(rec.types(), ","); got != strings.Join(want, ",") {
		t.Fatalf("events %s\nwant   %s", got, strings.Join(want, ","))
	}
	e := rec.events[0]
	if e.Client.ClientID != "ev" || e.Client.PeerHost != "127.0.0.1" || e.Client.ProtoVer != 5 {
		t.Fatalf("client info %+v", e.Client)
	}
}

type holdFunc func(ctx context.Context) error

func (f holdFunc) Wait(ctx context.Context) error { return f(ctx) }

type interceptor struct {
	holds map[string]Hold // by topic; none: no hold
	seen  chan *Message
}

func (i *interceptor) OnMessage(m *Message) Hold { i.seen <- m; return i.holds[m.Topic] }

// TestInterceptorHoldsAck: a Hold delays the publisher's PUBACK until it returns; other clients
// are not stalled meanwhile; a failing Hold refuses the publish (MQTT 5: PUBACK 0x80) and it is
// not routed.
func TestInterceptorHoldsAck(t *testing.T) {
	b := testBroker(t, nil)
	release := make(chan error)
	wait := holdFunc(func(ctx context.Context) error { return <-release })
	ic := &interceptor{seen: make(chan *Message, 10), holds: map[string]Hold{"hold/a": wait, "hold/c": wait}}
	b.AddInterceptor(ic)
	sub := dialRaw(t, b.Addr("tcp"), 5)
	sub.connect("sub", true)
	sub.subscribe("hold/#", 1)
	pub := dialRaw(t, b.Addr("tcp"), 5)
	pub.connect("held", true)
	pub.publish("hold/a", "1", 1, false)
	m := <-ic.seen
	if m.Topic != "hold/a" || string(m.Payload) != "1" || m.QoS != 1 || m.Client.ClientID != "held" {
		t.Fatalf("message %+v", m)
	}
	if pk, err := pub.recv(200 * time.Millisecond); err == nil {
		t.Fatalf("acknowledged before the hold released: %+v", pk)
	}
	// Another client is not stalled while the hold is pending (its own hold is released at once).
	other := dialRaw(t, b.Addr("tcp"), 5)
	other.connect("other", true)
	other.publish("hold/b", "2", 1, false)
	other.expect(packets.Puback)
	<-ic.seen
	release <- nil
	pub.expect(packets.Puback)
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		got[sub.expect(packets.Publish).TopicName] = true
	}
	if !got["hold/a"] || !got["hold/b"] {
		t.Fatalf("routed %v", got)
	}
	// A failing hold: PUBACK 0x80, not routed, counted.
	pub.publish("hold/c", "3", 1, false)
	<-ic.seen
	release <- errors.New("disk full")
	if ack := pub.expect(packets.Puback); ack.ReasonCode != packets.ErrUnspecifiedError.Code {
		t.Fatalf("reason 0x%x", ack.ReasonCode)
	}
	if pk, err := sub.recv(300 * time.Millisecond); err == nil {
		t.Fatalf("refused publish routed: %+v", pk)
	}
	if b.Stats().HoldFailed != 1 {
		t.Fatal("hold failure not counted")
	}
}

type policy struct{}

func (policy) Authenticate(_ context.Context, c ClientInfo, pw []byte) (bool, bool) {
	return string(pw) == "secret", c.Username == "root"
}

func (policy) Authorize(_ context.Context, c ClientInfo, a Access, topic string) bool {
	return strings.HasPrefix(topic, c.ClientID+"/")
}

func TestPolicy(t *testing.T) {
	b := testBroker(t, nil)
	b.SetPolicy(policy{})
	login := func(user, pw string) connOpt {
		return func(pk *packets.Packet) {
			pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
			pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(pw)
		}
	}
	if ack := dialRaw(t, b.Addr("tcp"), 5).connect("x", true, login("u", "wrong")); ack.ReasonCode != packets.ErrBadUsernameOrPassword.Code {
		t.Fatalf("bad password: 0x%x", ack.ReasonCode)
	}
	c := dialRaw(t, b.Addr("tcp"), 5)
	c.connect("dev1", true, login("u", "secret"))
	// ACL: own prefix allowed, other refused (SUBACK 0x87).
	if sa := c.subscribe("dev1/cmd", 1); sa.ReasonCodes[0] >= 0x80 {
		t.Fatalf("own topic refused: %v", sa.ReasonCodes)
	}
	if sa := c.subscribe("dev2/cmd", 1); sa.ReasonCodes[0] != packets.ErrNotAuthorized.Code {
		t.Fatalf("other topic: %v", sa.ReasonCodes)
	}
	// A superuser skips ACL checks.
	root := dialRaw(t, b.Addr("tcp"), 5)
	root.connect("admin-tool", true, login("root", "secret"))
	if sa := root.subscribe("dev1/cmd", 1); sa.ReasonCodes[0] >= 0x80 {
		t.Fatalf("superuser refused: %v", sa.ReasonCodes)
	}
	if s := b.Stats(); s.AuthDenied != 1 || s.ACLDenied != 1 {
		t.Fatalf("counters %+v", s)
	}
	b.SetPolicy(nil) // back to allow-all, live
	if sa := c.subscribe("dev2/cmd", 1); sa.ReasonCodes[0] >= 0x80 {
		t.Fatalf("after removing the policy: %v", sa.ReasonCodes)
	}
}
