package rulesapi_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/rules/engine"
)

func TestPublishRuleRepublish(t *testing.T) {
	v := newEnv(t, nil)
	create(t, v.e, "hot", `SELECT payload.temperature AS t, clientid, topic FROM "t/#" WHERE payload.temperature > 50`,
		republish("out/${clientid}", "${topic}:${t}", 1),
		engine.ActionSpec{Name: "republish", Params: map[string]any{"target_topic": "all/1"}}) // empty template: the output as JSON
	sub := v.client("sub", nil)
	out := v.subscribe(sub, "out/#", 1)
	all := v.subscribe(sub, "all/#", 1)
	pub := v.client("dev1", nil)
	wait(t, pub.Publish("t/1", 1, false, `{"temperature":60}`))
	wait(t, pub.Publish("t/2", 1, false, `{"temperature":10}`))
	wait(t, pub.Publish("t/3", 0, false, `{"temperature":70.5}`))
	for _, want := range []struct {
		topic, payload string
		qos            byte
	}{{"out/dev1", "t/1:60", 1}, {"out/dev1", "t/3:70.5", 1}} {
		m := out.next(t)
		if m.Topic() != want.topic || string(m.Payload()) != want.payload || m.Qos() != want.qos {
			t.Fatalf("got %s %q qos %d, want %+v", m.Topic(), m.Payload(), m.Qos(), want)
		}
	}
	// target_qos absent = -1: the original QoS (1, then 0).
	m1, m2 := all.next(t), all.next(t)
	if m1.Qos() == 0 {
		m1, m2 = m2, m1 // QoS 0 and QoS 1 deliveries may pass each other
	}
	if string(m1.Payload()) != `{"clientid":"dev1","t":60,"topic":"t/1"}` || m1.Qos() != 1 || m2.Qos() != 0 {
		t.Fatalf("json output %s qos %d / %s qos %d", m1.Payload(), m1.Qos(), m2.Payload(), m2.Qos())
	}
	out.quiet(t, 200*time.Millisecond)
	c := v.e.Metrics("hot").Counts()
	if c.Matched != 3 || c.Passed != 2 || c.NoResult != 1 {
		t.Fatalf("metrics %+v", c)
	}
}

// Each event, end to end: a client's actions fire the $events rules, whose
// republished output reaches a subscriber.
func TestEventsEndToEnd(t *testing.T) {
	v := newEnv(t, nil)
	watch := v.client("watch", nil)
	ev := v.subscribe(watch, "ev/#", 1)
	events := []string{"client_connected", "session_subscribed", "message_delivered", "message_acked", "session_unsubscribed", "client_disconnected"}
	for _, name := range events {
		create(t, v.e, name, fmt.Sprintf(`SELECT * FROM "$events/%s" WHERE clientid = 'actor'`, name),
			republish("ev/"+name, "${event}|${clientid}|${topic}|${reason}|${qos}", 1))
	}
	actor := v.client("actor", nil)
	wait(t, actor.Subscribe("d/x", 1, func(pahov3.Client, pahov3.Message) {}))
	wait(t, actor.Publish("d/x", 1, false, "hi"))
	time.Sleep(200 * time.Millisecond) // let the PUBACK of the delivery arrive
	wait(t, actor.Unsubscribe("d/x"))
	actor.Disconnect(100)
	got := map[string]string{}
	for len(got) < len(events) {
		m := ev.next(t)
		got[strings.TrimPrefix(m.Topic(), "ev/")] = string(m.Payload())
	}
	want := map[string]string{
		"client_connected":     "client.connected|actor|undefined|undefined|undefined",
		"session_subscribed":   "session.subscribed|actor|d/x|undefined|1",
		"message_delivered":    "message.delivered|actor|d/x|undefined|1",
		"message_acked":        "message.acked|actor|d/x|undefined|1",
		"session_unsubscribed": "session.unsubscribed|actor|d/x|undefined|0",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
	if !strings.HasPrefix(got["client_disconnected"], "client.disconnected|actor|undefined|") {
		t.Errorf("client_disconnected: %q", got["client_disconnected"])
	}
}

// message_dropped: a subscriber that does not read fills its write queue, and
// the QoS 0 messages dropped fire the rule.
func TestMessageDroppedEvent(t *testing.T) {
	v := newEnv(t, func(c *config.MQTT) { c.WriteQueue = 1 })
	watch := v.client("watch", nil)
	ev := v.subscribe(watch, "ev/#", 0)
	create(t, v.e, "dropped", `SELECT reason, clientid, topic FROM "$events/message_dropped" WHERE topic = 'big/1'`,
		republish("ev/dropped", "${reason}|${clientid}|${topic}", 0))
	// A raw subscriber that never reads.
	conn, err := net.Dial("tcp", v.b.Addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 6, 's', 'l', 'e', 'e', 'p', 'y'})
	r := bufio.NewReader(conn)
	if _, err := r.Discard(4); err != nil { // CONNACK
		t.Fatal(err)
	}
	conn.Write([]byte{0x82, 10, 0, 1, 0, 5, 'b', 'i', 'g', '/', '1', 0})
	if _, err := r.Discard(5); err != nil { // SUBACK
		t.Fatal(err)
	}
	pub := v.client("flood", nil)
	payload := strings.Repeat("x", 256<<10)
	deadline := time.After(10 * time.Second)
	for {
		pub.Publish("big/1", 0, false, payload)
		select {
		case m := <-ev.ch:
			if string(m.Payload()) != "queue_full|sleepy|big/1" {
				t.Fatalf("dropped event %q", m.Payload())
			}
			return
		case <-deadline:
			t.Fatal("no message_dropped event")
		default:
		}
	}
}

// The loop guard: a rule whose FROM matches its own output topic runs once
// per device message.
func TestLoopGuardEndToEnd(t *testing.T) {
	v := newEnv(t, nil)
	create(t, v.e, "loop", `SELECT payload FROM "#"`, republish("loop/out", "${payload}", 1))
	sub := v.client("sub", nil)
	in := v.subscribe(sub, "loop/#", 1)
	pub := v.client("p", nil)
	wait(t, pub.Publish("x/1", 1, false, "one"))
	if m := in.next(t); string(m.Payload()) != "one" {
		t.Fatalf("got %q", m.Payload())
	}
	in.quiet(t, 300*time.Millisecond)
	if c := v.e.Metrics("loop").Counts(); c.Matched != 1 {
		t.Fatalf("metrics %+v", c)
	}
}

// Metrics through the broker under concurrency add up exactly, and a failing
// action never breaks the publisher's flow.
func TestMetricsConcurrentThroughBroker(t *testing.T) {
	v := newEnv(t, nil)
	// k%4==0: WHERE false; k%4==1: the target topic renders with a '+' and the action fails.
	create(t, v.e, "m", `SELECT payload.k AS k, payload.seg AS seg FROM "m/#" WHERE mod(payload.k, 4) != 0`,
		republish("mo/${seg}", "${k}", 1))
	sub := v.client("sub", nil)
	in := v.subscribe(sub, "mo/#", 1)
	const pubs, per = 4, 250
	var wg sync.WaitGroup
	for p := 0; p < pubs; p++ {
		c := v.client(fmt.Sprintf("p%d", p), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				k := p*per + i
				seg := "ok"
				if k%4 == 1 {
					seg = "+"
				}
				wait(t, c.Publish("m/1", 1, false, fmt.Sprintf(`{"k":%d,"seg":%q}`, k, seg)))
			}
		}()
	}
	wg.Wait()
	total := int64(pubs * per)
	rc := v.e.Metrics("m").Counts()
	ac := v.e.ActionMetrics("m")[0].Counts()
	if rc.Matched != total || rc.NoResult != total/4 || rc.Passed != total*3/4 || rc.Matched != rc.Passed+rc.Failed {
		t.Fatalf("rule metrics %+v", rc)
	}
	if ac.Taken != rc.Passed || ac.Failed != total/4 || ac.Success != total/2 || ac.Taken != ac.Success+ac.Failed {
		t.Fatalf("action metrics %+v", ac)
	}
	for i := int64(0); i < ac.Success; i++ {
		in.next(t)
	}
	in.quiet(t, 200*time.Millisecond)
}

// Replacing a rule under load through the broker: every message is
// republished exactly once, each entirely by one version.
func TestReplaceUnderLoadThroughBroker(t *testing.T) {
	v := newEnv(t, nil)
	version := func(n int) *engine.RuleRequest {
		sql := fmt.Sprintf(`SELECT '%d' AS sv, payload.n AS n FROM "r/#"`, n)
		acts := []engine.ActionSpec{republish("ro/1", fmt.Sprintf("${sv}|%d|${n}", n), 1)}
		return &engine.RuleRequest{RawSQL: &sql, Actions: &acts}
	}
	q := version(0)
	q.ID = "r"
	if _, err := v.e.Create(q); err != nil {
		t.Fatal(err)
	}
	sub := v.client("sub", nil)
	in := v.subscribe(sub, "ro/#", 1)
	pub := v.client("p", nil)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 1
		for ; ; n++ {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if _, err := v.e.Update("r", version(n)); err != nil {
				t.Error(err)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	const total = 2000
	for i := 0; i < total; i++ {
		wait(t, pub.Publish("r/1", 1, false, fmt.Sprintf(`{"n":%d}`, i)))
	}
	close(stop)
	if updates := <-done; updates < 20 {
		t.Fatalf("only %d updates", updates)
	}
	seen := map[string]bool{}
	versions := map[string]bool{}
	for len(seen) < total {
		m := in.next(t)
		parts := strings.Split(string(m.Payload()), "|")
		if len(parts) != 3 || parts[0] != parts[1] {
			t.Fatalf("mixed versions: %q", m.Payload())
		}
		if seen[parts[2]] {
			t.Fatalf("duplicate %q", m.Payload())
		}
		seen[parts[2]] = true
		versions[parts[0]] = true
	}
	in.quiet(t, 200*time.Millisecond)
	if len(versions) < 5 {
		t.Fatalf("only %d versions seen", len(versions))
	}
}
