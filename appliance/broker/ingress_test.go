package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wedge-iot/wedge/appliance/config"
)

// committer imitates an outbox's group commit: every Hold it hands out completes at the next
// commit, and a commit happens every interval while Holds wait. rounds counts the commits that
// completed at least one Hold.
type committer struct {
	mu      sync.Mutex
	waiting []chan error
	fail    map[string]error // by payload
	rounds  int
	stop    chan struct{}
}

func newCommitter(t *testing.T, every time.Duration) *committer {
	c := &committer{fail: map[string]error{}, stop: make(chan struct{})}
	go func() {
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tk.C:
			}
			c.mu.Lock()
			if len(c.waiting) > 0 {
				c.rounds++
			}
			for _, w := range c.waiting {
				w <- nil
			}
			c.waiting = nil
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(c.stop) })
	return c
}

// OnMessage holds every message on a "pipe/" topic until the next commit (or fails it at once
// when its payload is in fail).
func (c *committer) OnMessage(m *Message) Hold {
	if len(m.Topic) < 5 || m.Topic[:5] != "pipe/" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fail[string(m.Payload)]; err != nil {
		return holdFunc(func(context.Context) error { return err })
	}
	ch := make(chan error, 1)
	c.waiting = append(c.waiting, ch)
	return holdFunc(func(ctx context.Context) error { return <-ch })
}

func (c *committer) commits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rounds
}

// TestIngressPipeline: one connection pipelining 500 QoS 1 publishes whose acknowledgements wait
// for a (group) commit: they share commits instead of taking one each, and PUBACKs and routing
// keep the publishing order, including for a message without a Hold sent among them.
func TestIngressPipeline(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", ver), func(t *testing.T) {
			b := testBroker(t, nil)
			cm := newCommitter(t, 5*time.Millisecond)
			b.AddInterceptor(cm)
			sub := dialRaw(t, b.Addr("tcp"), 5)
			sub.connect("sub", true)
			sub.subscribe("pipe/#", 0)
			sub.subscribe("free/#", 0)
			pub := dialRaw(t, b.Addr("tcp"), ver)
			pub.connect("pub", true)
			const n, window = 500, 100 // MQTT 5: within the server's receive maximum (128)
			for start := 0; start < n; start += window {
				var ids []uint16
				for i := start; i < start+window; i++ {
					topic := "pipe/t"
					if i == 250 {
						topic = "free/t" // no Hold: still acknowledged and routed in its turn
					}
					ids = append(ids, pub.publish(topic, strconv.Itoa(i), 1, false))
				}
				for i := range ids {
					if ack := pub.expect(packets.Puback); ack.PacketID != ids[i] || ack.ReasonCode != 0 {
						t.Fatalf("ack %d: id %d reason 0x%x, want id %d", start+i, ack.PacketID, ack.ReasonCode, ids[i])
					}
				}
			}
			for i := 0; i < n; i++ {
				if m := sub.expect(packets.Publish); string(m.Payload) != strconv.Itoa(i) {
					t.Fatalf("routed %d: %q", i, m.Payload)
				}
			}
			// One commit per message would be 499 commits.
			if r := cm.commits(); r > n/4 {
				t.Fatalf("%d commits for %d held messages of one connection: the pipeline does not group them", r, n-1)
			}
			t.Logf("%d held messages acknowledged in %d commits", n-1, cm.commits())
		})
	}
}

// TestIngressRefusal: a failing Hold in the middle of a pipelined burst refuses that message
// only (MQTT 5: PUBACK 0x80, not routed); an MQTT 3.1.1 publisher is disconnected instead, after
// the messages before it were acknowledged.
func TestIngressRefusal(t *testing.T) {
	b := testBroker(t, nil)
	cm := newCommitter(t, 2*time.Millisecond)
	cm.fail["bad"] = errors.New("disk on fire")
	b.AddInterceptor(cm)
	sub := dialRaw(t, b.Addr("tcp"), 5)
	sub.connect("sub", true)
	sub.subscribe("pipe/#", 0)

	pub := dialRaw(t, b.Addr("tcp"), 5)
	pub.connect("pub5", true)
	payloads := []string{"a", "b", "bad", "c", "d"}
	for _, p := range payloads {
		pub.publish("pipe/x", p, 1, false)
	}
	for i, p := range payloads {
		ack := pub.expect(packets.Puback)
		if ack.PacketID != uint16(i+1) || (p == "bad") != (ack.ReasonCode == packets.ErrUnspecifiedError.Code) {
			t.Fatalf("ack %d: %+v", i, ack)
		}
	}
	for _, want := range []string{"a", "b", "c", "d"} {
		if m := sub.expect(packets.Publish); string(m.Payload) != want {
			t.Fatalf("routed %q, want %q", m.Payload, want)
		}
	}

	pub3 := dialRaw(t, b.Addr("tcp"), 4)
	pub3.connect("pub3", true)
	for _, p := range []string{"e", "bad", "f"} {
		pub3.publish("pipe/y", p, 1, false)
	}
	if ack := pub3.expect(packets.Puback); ack.PacketID != 1 {
		t.Fatalf("first ack %+v", ack)
	}
	pub3.expectClosed(5 * time.Second)
	if m := sub.expect(packets.Publish); string(m.Payload) != "e" {
		t.Fatalf("routed %q", m.Payload)
	}
	if pk, err := sub.recv(300 * time.Millisecond); err == nil {
		t.Fatalf("routed after the refusal: %+v", pk)
	}
	if got := b.Stats().HoldFailed; got != 2 {
		t.Fatalf("hold failures counted: %d", got)
	}
}

// TestIngressReceiveMaximum: an MQTT 5 client with more unacknowledged QoS 1 publishes waiting
// than the server's receive maximum is disconnected with 0x93 [MQTT-3.3.4-9]; an MQTT 3.1.1
// client is slowed down instead and loses nothing.
func TestIngressReceiveMaximum(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.ReceiveMaximum = 4 })
	never := make(chan error)
	ic := &interceptor{seen: make(chan *Message, 100), holds: map[string]Hold{"pipe/stuck": holdFunc(func(context.Context) error { return <-never })}}
	b.AddInterceptor(ic)
	pub := dialRaw(t, b.Addr("tcp"), 5)
	pub.connect("greedy", true)
	for i := 0; i < 5; i++ {
		pub.publish("pipe/stuck", "x", 1, false)
	}
	if d := pub.expectClosed(5 * time.Second); d == nil || d.ReasonCode != packets.ErrReceiveMaximum.Code {
		t.Fatalf("want DISCONNECT 0x93, got %+v", d)
	}
	close(never)

	cm := newCommitter(t, 2*time.Millisecond)
	b2 := testBroker(t, func(c *config.MQTT) { c.ReceiveMaximum = 4 })
	b2.AddInterceptor(cm)
	sub := dialRaw(t, b2.Addr("tcp"), 5)
	sub.connect("sub", true)
	sub.subscribe("pipe/#", 0)
	pub3 := dialRaw(t, b2.Addr("tcp"), 4)
	pub3.connect("v3", true)
	for i := 0; i < 50; i++ {
		pub3.publish("pipe/z", strconv.Itoa(i), 1, false)
	}
	for i := 0; i < 50; i++ {
		if ack := pub3.expect(packets.Puback); ack.PacketID != uint16(i+1) {
			t.Fatalf("ack %d: %+v", i, ack)
		}
		if m := sub.expect(packets.Publish); string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("routed %q, want %d", m.Payload, i)
		}
	}
}

// TestIngressTopicAlias: a held message sent with a topic alias, then the alias redefined: each
// message is routed on its own topic.
func TestIngressTopicAlias(t *testing.T) {
	b := testBroker(t, nil)
	cm := newCommitter(t, 5*time.Millisecond)
	b.AddInterceptor(cm)
	sub := dialRaw(t, b.Addr("tcp"), 5)
	sub.connect("sub", true)
	sub.subscribe("pipe/#", 0)
	pub := dialRaw(t, b.Addr("tcp"), 5)
	pub.connect("alias", true)
	alias := func(n uint16) func(*packets.Packet) {
		return func(pk *packets.Packet) { pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = n, true }
	}
	pub.publish("pipe/a", "1", 1, false, alias(1))
	pub.publish("", "2", 1, false, alias(1))
	pub.publish("pipe/b", "3", 1, false, alias(1)) // redefined while the first ones wait
	pub.publish("", "4", 1, false, alias(1))
	want := []string{"pipe/a 1", "pipe/a 2", "pipe/b 3", "pipe/b 4"}
	for i, w := range want {
		pub.expect(packets.Puback)
		if m := sub.expect(packets.Publish); m.TopicName+" "+string(m.Payload) != w {
			t.Fatalf("message %d: %s %s, want %s", i, m.TopicName, m.Payload, w)
		}
	}
}
