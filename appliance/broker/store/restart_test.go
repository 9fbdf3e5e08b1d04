package store

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// allowAll lets every client connect, publish and subscribe.
type allowAll struct{ mqtt.HookBase }

func (allowAll) ID() string { return "allow-all" }
func (allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

// broker is a mochi server on 127.0.0.1 with the store hook on db.
type broker struct {
	srv  *mqtt.Server
	hook *Hook
	addr string
}

func startBroker(t *testing.T, db *bbolt.DB, before ...mqtt.Hook) *broker {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{Logger: quietLogger()})
	for _, h := range append([]mqtt.Hook{new(allowAll)}, before...) {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	h, err := New(db, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	return &broker{srv: srv, hook: h, addr: tcp.Address()}
}

// stop closes the server (which stops the hook) and checks that nothing was
// lost on the way.
func (b *broker) stop(t *testing.T) {
	t.Helper()
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if st := b.hook.Stats(); st.Dropped != 0 || st.WriteErrors != 0 || st.Pending != 0 {
		t.Fatalf("hook stats at close: %+v", st)
	}
}

// received collects messages by topic.
type received struct {
	mu   sync.Mutex
	msgs map[string][]string
	ch   chan struct{}
}

func newReceived() *received {
	return &received{msgs: map[string][]string{}, ch: make(chan struct{}, 1000)}
}

func (r *received) add(topic, payload string) {
	r.mu.Lock()
	r.msgs[topic] = append(r.msgs[topic], payload)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// waitFor waits until every topic in want has at least its payloads, and
// returns what arrived.
func (r *received) waitFor(t *testing.T, want map[string][]string) map[string][]string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := true
		for topic, payloads := range want {
			got := append([]string(nil), r.msgs[topic]...)
			sort.Strings(got)
			exp := append([]string(nil), payloads...)
			sort.Strings(exp)
			if strings.Join(dedup(got), ",") != strings.Join(exp, ",") {
				ok = false
			}
		}
		snapshot := map[string][]string{}
		for k, v := range r.msgs {
			snapshot[k] = append([]string(nil), v...)
		}
		r.mu.Unlock()
		if ok {
			return snapshot
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("timed out: got %v, want %v", snapshot, want)
		}
	}
}

func dedup(s []string) []string {
	out := s[:0:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// connect5 connects an MQTT 5 client.
func connect5(t *testing.T, addr, id string, cleanStart bool, expiry uint32, rx *received) (*paho.Client, *paho.Connack) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: conn}
	if rx != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			rx.add(p.Packet.Topic, string(p.Packet.Payload))
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{
		ClientID:   id,
		CleanStart: cleanStart,
		KeepAlive:  30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry},
	})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	if ca.ReasonCode != 0 {
		t.Fatalf("connect %s: reason %d", id, ca.ReasonCode)
	}
	return c, ca
}

func publish5(t *testing.T, c *paho.Client, topic, payload string, retain bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func subscribe5(t *testing.T, c *paho.Client, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		t.Fatalf("subscribe %s: %v %+v", filter, err, sa)
	}
}

func disconnect5(t *testing.T, c *paho.Client) {
	t.Helper()
	if err := c.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
		t.Fatal(err)
	}
}

// waitInflight waits until the file holds n in-flight records (at least n
// when atLeast: mochi writes SUBACK before it sends the retained messages to
// a new subscription, so a retained message published right after SUBACK
// may be queued twice, by both paths).
func waitInflight(t *testing.T, b *broker, db *bbolt.DB, n int, atLeast bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := b.hook.Flush(); err != nil {
			t.Fatal(err)
		}
		got := rawCount(t, db, bucketInflight)
		if got == n || atLeast && got > n {
			return
		}
		if time.Now().After(deadline) {
			var keys []string
			_ = db.View(func(tx *bbolt.Tx) error {
				return tx.Bucket(bucketNames[bucketInflight]).ForEach(func(k, v []byte) error {
					m, _ := decodeMessage(v)
					keys = append(keys, fmt.Sprintf("%q type=%d topic=%s payload=%s", k, m.FixedHeader.Type, m.TopicName, m.Payload))
					return nil
				})
			})
			t.Fatalf("%d in-flight records on disk, want %d: %s", got, n, strings.Join(keys, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSessionSurvivesRestartMQTT5(t *testing.T) {
	path := t.TempDir() + "/wedge.db"
	db := openDB(t, path)
	b := startBroker(t, db)

	sub, _ := connect5(t, b.addr, "sub5", true, 3600, nil)
	subscribe5(t, sub, "t/#")
	disconnect5(t, sub)

	pub, _ := connect5(t, b.addr, "pub5", true, 0, nil)
	publish5(t, pub, "t/retained", "keep", true)
	for _, p := range []string{"m1", "m2", "m3"} {
		publish5(t, pub, "t/q", p, false)
	}
	disconnect5(t, pub)
	waitInflight(t, b, db, 4, true) // queued for the offline subscriber
	b.stop(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A new process: new db handle, new hook, new server on the same file.
	db = openDB(t, path)
	defer db.Close()
	b = startBroker(t, db)
	defer b.stop(t)

	rx := newReceived()
	sub, ca := connect5(t, b.addr, "sub5", false, 3600, rx)
	if !ca.SessionPresent {
		t.Fatal("session not present after restart")
	}
	rx.waitFor(t, map[string][]string{"t/q": {"m1", "m2", "m3"}, "t/retained": {"keep"}})
	waitInflight(t, b, db, 0, false) // acknowledged messages leave the store

	// The subscription survived: a new publish reaches the client without a new SUBSCRIBE.
	pub, _ = connect5(t, b.addr, "pub5", true, 0, nil)
	publish5(t, pub, "t/live", "after restart", false)
	rx.waitFor(t, map[string][]string{"t/live": {"after restart"}})

	// The retained message survived: a new subscriber gets it.
	fresh := newReceived()
	other, _ := connect5(t, b.addr, "fresh5", true, 0, fresh)
	subscribe5(t, other, "t/retained")
	fresh.waitFor(t, map[string][]string{"t/retained": {"keep"}})

	disconnect5(t, other)
	disconnect5(t, pub)
	disconnect5(t, sub)
}

// A session that ends with its connection (v5 session expiry 0, 3.1.1 clean session) is
// never stored, and connecting that way removes what an earlier persistent session of the
// same client left in the store.
func TestSessionEndsWithConnectionIsNotStored(t *testing.T) {
	path := t.TempDir() + "/wedge.db"
	db := openDB(t, path)
	b := startBroker(t, db)
	stored := func() int {
		return rawCount(t, db, bucketSubs) + rawCount(t, db, bucketClients) + rawCount(t, db, bucketInflight)
	}

	// A persistent session first: client and subscription stored.
	c, _ := connect5(t, b.addr, "ephemeral", true, 3600, nil)
	subscribe5(t, c, "p/#")
	disconnect5(t, c)
	if err := b.hook.Flush(); err != nil {
		t.Fatal(err)
	}
	if rawCount(t, db, bucketSubs) != 1 || rawCount(t, db, bucketClients) != 1 {
		t.Fatalf("persistent session not stored: %d subs, %d clients", rawCount(t, db, bucketSubs), rawCount(t, db, bucketClients))
	}

	// The same client, now with session expiry 0: the old session is removed, the new one,
	// its subscription and its in-flight QoS 1 message are not stored.
	rx := newReceived()
	c, _ = connect5(t, b.addr, "ephemeral", false, 0, rx)
	subscribe5(t, c, "e/#")
	pub, _ := connect5(t, b.addr, "pub-e", true, 0, nil)
	publish5(t, pub, "e/1", "m", false)
	rx.waitFor(t, map[string][]string{"e/1": {"m"}})
	if err := b.hook.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := stored(); n != 0 {
		t.Fatalf("session that ends with its connection stored: %d subs, %d clients, %d in flight",
			rawCount(t, db, bucketSubs), rawCount(t, db, bucketClients), rawCount(t, db, bucketInflight))
	}

	// MQTT 3.1.1 clean session: the same.
	c3 := connect3(t, b.addr, "clean3", true, nil)
	if tok := c3.Subscribe("c/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("subscribe", tok.Error())
	}
	if err := b.hook.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := stored(); n != 0 {
		t.Fatalf("3.1.1 clean session stored: %d records", n)
	}
	c3.Disconnect(100)
	disconnect5(t, c)
	disconnect5(t, pub)
	b.stop(t)
}

func connect3(t *testing.T, addr, id string, clean bool, rx *received) paho3.Client {
	t.Helper()
	opts := paho3.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(clean).
		SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second)
	if rx != nil {
		opts.SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			rx.add(m.Topic(), string(m.Payload()))
		})
	}
	c := paho3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

func wait3(t *testing.T, tok paho3.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt 3.1.1 operation: %v", tok.Error())
	}
}

func TestSessionSurvivesRestartMQTT311(t *testing.T) {
	path := t.TempDir() + "/wedge.db"
	db := openDB(t, path)
	b := startBroker(t, db)

	sub := connect3(t, b.addr, "sub3", false, nil)
	wait3(t, sub.Subscribe("v3/#", 1, nil))
	sub.Disconnect(100)

	pub := connect3(t, b.addr, "pub3", true, nil)
	wait3(t, pub.Publish("v3/retained", 1, true, "keep3"))
	wait3(t, pub.Publish("v3/q", 1, false, "q1"))
	wait3(t, pub.Publish("v3/q", 1, false, "q2"))
	pub.Disconnect(100)
	waitInflight(t, b, db, 3, true)
	b.stop(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, path)
	defer db.Close()
	b = startBroker(t, db)
	defer b.stop(t)

	rx := newReceived()
	sub = connect3(t, b.addr, "sub3", false, rx)
	rx.waitFor(t, map[string][]string{"v3/q": {"q1", "q2"}, "v3/retained": {"keep3"}})

	pub = connect3(t, b.addr, "pub3", true, nil)
	wait3(t, pub.Publish("v3/live", 1, false, "live3"))
	rx.waitFor(t, map[string][]string{"v3/live": {"live3"}})
	waitInflight(t, b, db, 0, false)

	fresh := newReceived()
	other := connect3(t, b.addr, "fresh3", true, fresh)
	wait3(t, other.Subscribe("v3/retained", 1, nil))
	fresh.waitFor(t, map[string][]string{"v3/retained": {"keep3"}})

	other.Disconnect(100)
	pub.Disconnect(100)
	sub.Disconnect(100)
}

// slowDisconnect holds the first OnDisconnect (the taken-over client's) for a
// while, so that the hooks after it see the event only once the new
// connection has established its session: the order that a loaded machine
// can produce at any time.
type slowDisconnect struct {
	mqtt.HookBase
	delay time.Duration
	once  sync.Once
	done  chan struct{}
}

func (*slowDisconnect) ID() string           { return "slow-disconnect" }
func (*slowDisconnect) Provides(b byte) bool { return b == mqtt.OnDisconnect }

// OnDisconnect delays the first disconnect, the taken-over connection's. It does not wait
// for IsTakenOver: mochi closes the old connection before it marks it taken over, so its
// OnDisconnect can run before the mark (the store hook, which runs after this delay, sees it).
func (s *slowDisconnect) OnDisconnect(*mqtt.Client, error, bool) {
	s.once.Do(func() {
		time.Sleep(s.delay)
		close(s.done)
	})
}

func TestTakeOverKeepsTheNewSession(t *testing.T) {
	db, _ := tempDB(t)
	slow := &slowDisconnect{delay: 200 * time.Millisecond, done: make(chan struct{})}
	b := startBroker(t, db, slow)
	defer b.stop(t)

	// The first connection's session ends with it (expiry 0); the second
	// takes the session over and keeps it (expiry 3600).
	_, _ = connect5(t, b.addr, "tk", true, 0, nil)
	c2, _ := connect5(t, b.addr, "tk", false, 3600, nil)
	subscribe5(t, c2, "tk/#")
	select {
	case <-slow.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the first connection was never taken over")
	}
	deadline := time.Now().Add(200 * time.Millisecond) // let the store hook see the late OnDisconnect
	for time.Now().Before(deadline) {
		if err := b.hook.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rawGet(t, db, bucketClients, "tk") == nil || rawCount(t, db, bucketSubs) != 1 {
		t.Fatalf("the old connection's disconnect deleted the new session: client stored %v, %d subscriptions",
			rawGet(t, db, bucketClients, "tk") != nil, rawCount(t, db, bucketSubs))
	}
	disconnect5(t, c2)
}
