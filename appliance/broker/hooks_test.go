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
	// message_acked names the message it completes: topic, QoS, payload and publisher.
	if a := rec.events[3]; a.Topic != "ev/x" || a.QoS != 1 || string(a.Payload) != "hi" || a.From != "ev" {
		t.Fatalf("message_acked %+v", a)
	}
}

// TestAckedEventQoS2: a QoS 2 delivery's message_acked (at PUBCOMP) names the message too.
func TestAckedEventQoS2(t *testing.T) {
	b := testBroker(t, nil)
	rec := &recorder{}
	b.AddListener(rec)
	sub := dialRaw(t, b.Addr("tcp"), 5)
	sub.connect("q2-sub", true)
	sub.subscribe("q2/#", 2)
	pub := dialRaw(t, b.Addr("tcp"), 4)
	pub.connect("q2-pub", true)
	pub.publish("q2/x", "exactly once", 1, false)
	pub.expect(packets.Puback)
	m := sub.expect(packets.Publish)
	if m.FixedHeader.Qos != 1 {
		t.Fatalf("qos %d", m.FixedHeader.Qos)
	}
	sub.puback(m.PacketID)
	pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, TopicName: "q2/y", PacketID: 7, Payload: []byte("two")})
	pub.expect(packets.Pubrec)
	pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 7})
	pub.expect(packets.Pubcomp)
	m = sub.expect(packets.Publish)
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: m.PacketID})
	sub.expect(packets.Pubrel)
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: m.PacketID})
	var acked []Event
	waitFor(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		acked = acked[:0]
		for _, e := range rec.events {
			if e.Type == EventMessageAcked {
				acked = append(acked, e)
			}
		}
		return len(acked) == 2
	}, "two message_acked events")
	if a := acked[0]; a.Topic != "q2/x" || a.QoS != 1 || a.From != "q2-pub" || a.Client.ClientID != "q2-sub" {
		t.Fatalf("QoS 1 acked %+v", a)
	}
	if a := acked[1]; a.Topic != "q2/y" || a.QoS != 2 || string(a.Payload) != "two" || a.From != "q2-pub" {
		t.Fatalf("QoS 2 acked %+v", a)
	}
}

type holdFunc func(ctx context.Context) error

func (f holdFunc) Wait(ctx context.Context) error { return f(ctx) }

type interceptor struct {
	holds map[string]Hold // by topic; none: no hold
	seen  chan *Message
}

func (i *interceptor) OnMessage(m *Message) Hold {
	c := *m // the broker recycles m after the call
	c.Properties = append([]Property(nil), m.Properties...)
	i.seen <- &c
	return i.holds[m.Topic]
}

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

// filterInterceptor sees only the topics it wants.
type filterInterceptor struct {
	interceptor
	want string
}

func (f *filterInterceptor) Wants(topic string) bool { return topic == f.want }

func (f *filterInterceptor) WantsAny() bool { return f.want != "" }

// TestTopicFilterSkipsUnwantedTopics: an interceptor that is a TopicFilter sees only the
// publishes it wants; the others are routed without it.
func TestTopicFilterSkipsUnwantedTopics(t *testing.T) {
	b := testBroker(t, nil)
	ic := &filterInterceptor{interceptor: interceptor{seen: make(chan *Message, 10)}, want: "tf/yes"}
	b.AddInterceptor(ic)
	sub := dialRaw(t, b.Addr("tcp"), 5)
	sub.connect("tf-sub", true)
	sub.subscribe("tf/#", 0)
	pub := dialRaw(t, b.Addr("tcp"), 5)
	pub.connect("tf-pub", true)
	pub.publish("tf/no", "1", 0, false)
	pub.publish("tf/yes", "2", 0, false)
	for _, want := range []string{"tf/no", "tf/yes"} {
		pk, err := sub.recv(5 * time.Second)
		if err != nil || pk.TopicName != want {
			t.Fatalf("got %q (%v), want %q", pk.TopicName, err, want)
		}
	}
	if m := <-ic.seen; m.Topic != "tf/yes" {
		t.Fatalf("interceptor saw %q", m.Topic)
	}
	select {
	case m := <-ic.seen:
		t.Fatalf("interceptor also saw %q", m.Topic)
	default:
	}
}
