package broker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wedge-iot/wedge/appliance/config"
)

// Tests in this file each check normative statements of the MQTT 3.1.1 (v4) and 5.0
// specifications, named in the test, over real TCP connections with byte-level clients.

func TestRetained_MQTT_3_3_1_5_and_3_3_1_6(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		b := testBroker(t, nil)
		addr := b.Addr("tcp")
		pub := dialRaw(t, addr, ver)
		pub.connect("pub", true)
		pub.publish("r/1", "kept", 1, true)
		pub.expect(packets.Puback)
		// [MQTT-3.3.1-5] the server stores the retained message; [MQTT-3.3.1-6] a new
		// subscription gets it, with the RETAIN flag set [MQTT-3.3.1-8 v4 / 3.3.1-9 v5].
		sub := dialRaw(t, addr, ver)
		sub.connect("sub", true)
		sub.subscribe("r/#", 1)
		m := sub.expect(packets.Publish)
		if !m.FixedHeader.Retain && string(m.Payload) == "kept" {
			// mochi routes after the PUBACK: the message may also arrive live, first.
			m = sub.expect(packets.Publish)
		}
		if string(m.Payload) != "kept" || !m.FixedHeader.Retain {
			t.Fatalf("v%d: retained message %+v", ver, m)
		}
		// [MQTT-3.3.1-10] a retained message with an empty payload removes it.
		pub.publish("r/1", "", 1, true)
		pub.expect(packets.Puback)
		sub2 := dialRaw(t, addr, ver)
		sub2.connect("sub2", true)
		sub2.subscribe("r/#", 1)
		// (mochi routes after the PUBACK, so the removal itself may still reach sub2 as a live,
		// non-retained message: only a retained one is wrong.)
		if pk, err := sub2.recv(300 * time.Millisecond); err == nil && (pk.FixedHeader.Retain || len(pk.Payload) > 0) {
			t.Fatalf("v%d: retained message not removed: %+v", ver, pk)
		}
	}
}

func TestRetainHandling_MQTT_3_3_1_9_10_11(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	// A witness subscribed before the publish: once it has the message, the broker has routed
	// it, so the subscribers below can only get the retained copy. (The PUBACK alone does not
	// say so: the broker may acknowledge before it routes [MQTT-4.3.2-4 allows it].)
	witness := dialRaw(t, addr, 5)
	witness.connect("witness", true)
	witness.subscribe("rh/1", 0)
	pub := dialRaw(t, addr, 5)
	pub.connect("pub", true)
	pub.publish("rh/1", "x", 1, true)
	pub.expect(packets.Puback)
	witness.expect(packets.Publish)

	sub := dialRaw(t, addr, 5)
	sub.connect("sub", true)
	// Retain Handling 2: no retained messages at subscribe [MQTT-3.3.1-11].
	sub.subscribe("rh/1", 1, func(s *packets.Subscription) { s.RetainHandling = 2 })
	if pk, err := sub.recv(300 * time.Millisecond); err == nil {
		t.Fatalf("retain handling 2 sent %+v", pk)
	}
	sub2 := dialRaw(t, addr, 5)
	sub2.connect("sub2", true)
	// Retain Handling 1: only when the subscription did not exist [MQTT-3.3.1-10].
	sub2.subscribe("rh/#", 1, func(s *packets.Subscription) { s.RetainHandling = 1 })
	sub2.expect(packets.Publish)
	sub2.subscribe("rh/#", 1, func(s *packets.Subscription) { s.RetainHandling = 1 })
	if pk, err := sub2.recv(300 * time.Millisecond); err == nil {
		t.Fatalf("retain handling 1 resent on an existing subscription: %+v", pk)
	}
	// Retain As Published [MQTT-3.3.1-12/13]: a live message keeps RETAIN only with RAP set.
	sub3 := dialRaw(t, addr, 5)
	sub3.connect("sub3", true)
	sub3.subscribe("live/rap", 0, func(s *packets.Subscription) { s.RetainAsPublished = true })
	sub3.subscribe("live/norap", 0)
	pub.publish("live/rap", "a", 0, true)
	pub.publish("live/norap", "b", 0, true)
	for i := 0; i < 2; i++ {
		m := sub3.expect(packets.Publish)
		want := m.TopicName == "live/rap"
		if m.FixedHeader.Retain != want {
			t.Fatalf("%s: retain=%v", m.TopicName, m.FixedHeader.Retain)
		}
	}
}

func TestQoSFlows_MQTT_4_3_2_and_4_3_3(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	for _, ver := range []byte{4, 5} {
		sub := dialRaw(t, addr, ver)
		sub.connect("s", true)
		sub.subscribe("q/#", 2)
		pub := dialRaw(t, addr, ver)
		pub.connect("p", true)

		pub.publish("q/0", "zero", 0, false)
		if m := sub.expect(packets.Publish); m.FixedHeader.Qos != 0 || string(m.Payload) != "zero" {
			t.Fatalf("qos0 %+v", m)
		}
		// [MQTT-4.3.2-4] the receiver of a QoS 1 PUBLISH answers PUBACK with its packet id.
		id := pub.publish("q/1", "one", 1, false)
		if ack := pub.expect(packets.Puback); ack.PacketID != id {
			t.Fatalf("puback id %d want %d", ack.PacketID, id)
		}
		m := sub.expect(packets.Publish)
		if m.FixedHeader.Qos != 1 || m.PacketID == 0 {
			t.Fatalf("qos1 delivery %+v", m)
		}
		sub.puback(m.PacketID)
		// [MQTT-4.3.3-8] QoS 2: PUBREC, then PUBREL → PUBCOMP; delivered exactly once.
		id = pub.publish("q/2", "two", 2, false)
		if rec := pub.expect(packets.Pubrec); rec.PacketID != id {
			t.Fatalf("pubrec id")
		}
		pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id})
		pub.expect(packets.Pubcomp)
		m = sub.expect(packets.Publish)
		if m.FixedHeader.Qos != 2 {
			t.Fatalf("qos2 delivery %+v", m)
		}
		sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: m.PacketID})
		if rel := sub.expect(packets.Pubrel); rel.PacketID != m.PacketID {
			t.Fatal("pubrel id")
		}
		sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: m.PacketID})
		// [MQTT-3.8.4-6] delivery QoS is the minimum of publish and subscription QoS.
		sub.subscribe("low/#", 0)
		pub.publish("low/x", "l", 1, false)
		pub.expect(packets.Puback)
		if m := sub.expect(packets.Publish); m.FixedHeader.Qos != 0 {
			t.Fatalf("downgrade: qos %d", m.FixedHeader.Qos)
		}
	}
}

func TestPersistentSession_MQTT_3_1_2_4_and_3_1_2_5(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 4)
	sub.connect("persist", false)
	sub.subscribe("ps/#", 1)
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	time.Sleep(100 * time.Millisecond)

	pub := dialRaw(t, addr, 4)
	pub.connect("p", true)
	for i := 0; i < 3; i++ {
		pub.publish("ps/a", string(rune('a'+i)), 1, false)
		pub.expect(packets.Puback)
	}
	// [MQTT-3.2.2-2] session present; [MQTT-3.1.2-5] QoS 1 messages queued while offline are delivered.
	sub2 := dialRaw(t, addr, 4)
	ack := sub2.connect("persist", false)
	if !ack.SessionPresent {
		t.Fatal("session present flag not set [MQTT-3.2.2-2]")
	}
	var got []string
	for i := 0; i < 3; i++ {
		m := sub2.expect(packets.Publish)
		got = append(got, string(m.Payload))
		sub2.puback(m.PacketID)
	}
	if strings.Join(got, "") != "abc" {
		t.Fatalf("queued messages %v (order matters [MQTT-4.6.0-2])", got)
	}
	// [MQTT-3.1.2-6] clean session discards the state.
	sub3 := dialRaw(t, addr, 4)
	if ack := sub3.connect("persist", true); ack.SessionPresent {
		t.Fatal("clean session reported a present session [MQTT-3.2.2-1]")
	}
}

func TestWill_MQTT_3_1_2_8_and_WillDelay_3_1_3_9(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	watch := dialRaw(t, addr, 5)
	watch.connect("watch", true)
	watch.subscribe("will/#", 1)

	withWill := func(topic string, delay uint32) connOpt {
		return func(pk *packets.Packet) {
			pk.Connect.WillFlag = true
			pk.Connect.WillTopic = topic
			pk.Connect.WillPayload = []byte("gone")
			pk.Connect.WillQos = 1
			pk.Connect.WillProperties.WillDelayInterval = delay
			pk.Properties.SessionExpiryInterval = 60
			pk.Properties.SessionExpiryIntervalFlag = true
		}
	}
	// [MQTT-3.1.2-8] the will is published when the connection closes without DISCONNECT.
	c := dialRaw(t, addr, 5)
	c.connect("w1", true, withWill("will/now", 0))
	_ = c.c.Close()
	if m := watch.expect(packets.Publish); m.TopicName != "will/now" {
		t.Fatalf("will %+v", m)
	}
	// [MQTT-3.1.2-10] a normal DISCONNECT removes the will.
	c = dialRaw(t, addr, 5)
	c.connect("w2", true, withWill("will/never", 0))
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	if pk, err := watch.recv(300 * time.Millisecond); err == nil {
		t.Fatalf("will sent after a normal disconnect: %+v", pk)
	}
	// Will delay [3.1.3.2.2]: reconnecting within the delay cancels the will [MQTT-3.1.3-9].
	c = dialRaw(t, addr, 5)
	c.connect("w3", false, withWill("will/delayed", 2))
	_ = c.c.Close()
	time.Sleep(200 * time.Millisecond)
	c = dialRaw(t, addr, 5)
	c.connect("w3", false)
	if pk, err := watch.recv(3 * time.Second); err == nil {
		t.Fatalf("delayed will sent although the client came back: %+v", pk)
	}
	// ... and sends it once the delay has passed.
	c2 := dialRaw(t, addr, 5)
	c2.connect("w4", false, withWill("will/late", 1))
	start := time.Now()
	_ = c2.c.Close()
	m := watch.expect(packets.Publish)
	if m.TopicName != "will/late" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("delayed will %q after %v", m.TopicName, time.Since(start))
	}
}

func TestSharedSubscription_MQTT_4_8_2(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	var members []*raw
	for _, id := range []string{"g1", "g2"} {
		r := dialRaw(t, addr, 5)
		r.connect(id, true)
		r.subscribe("$share/grp/sh/#", 0)
		members = append(members, r)
	}
	pub := dialRaw(t, addr, 5)
	pub.connect("p", true)
	const n = 20
	for i := 0; i < n; i++ {
		pub.publish("sh/x", "m", 0, false)
	}
	total := 0
	for _, m := range members {
		for {
			if _, err := m.recv(300 * time.Millisecond); err != nil {
				break
			}
			total++
		}
	}
	// Each message goes to exactly one member of the group [MQTT-4.8.2-?: shared delivery].
	if total != n {
		t.Fatalf("group received %d messages, want exactly %d", total, n)
	}
}

func TestTopicAlias_MQTT_3_3_2_12(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 5)
	sub.connect("s", true)
	sub.subscribe("alias/#", 0)
	pub := dialRaw(t, addr, 5)
	ack := pub.connect("p", true)
	if ack.Properties.TopicAliasMaximum == 0 {
		t.Fatal("server announces no topic alias maximum")
	}
	alias := func(pk *packets.Packet) { pk.Properties.TopicAlias = 1; pk.Properties.TopicAliasFlag = true }
	pub.publish("alias/long/topic", "first", 0, false, alias)
	// [MQTT-3.3.2-12] an empty topic with a known alias uses the aliased topic.
	pub.publish("", "second", 0, false, alias)
	for _, want := range []string{"first", "second"} {
		m := sub.expect(packets.Publish)
		if m.TopicName != "alias/long/topic" || string(m.Payload) != want {
			t.Fatalf("alias delivery %q %q", m.TopicName, m.Payload)
		}
	}
}

func TestMessageExpiry_MQTT_3_3_2_5(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 5)
	sub.connect("exp", false, func(pk *packets.Packet) {
		pk.Properties.SessionExpiryInterval = 300
		pk.Properties.SessionExpiryIntervalFlag = true
	})
	sub.subscribe("exp/#", 1)
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	time.Sleep(100 * time.Millisecond)
	pub := dialRaw(t, addr, 5)
	pub.connect("p", true)
	pub.publish("exp/short", "dies", 1, false, func(pk *packets.Packet) { pk.Properties.MessageExpiryInterval = 1 })
	pub.expect(packets.Puback)
	pub.publish("exp/long", "lives", 1, false, func(pk *packets.Packet) { pk.Properties.MessageExpiryInterval = 100 })
	pub.expect(packets.Puback)
	time.Sleep(2100 * time.Millisecond)
	sub2 := dialRaw(t, addr, 5)
	sub2.connect("exp", false, func(pk *packets.Packet) {
		pk.Properties.SessionExpiryInterval = 300
		pk.Properties.SessionExpiryIntervalFlag = true
	})
	// [MQTT-3.3.2-5] an expired message is not delivered; [MQTT-3.3.2-6] the other carries the remaining interval.
	m := sub2.expect(packets.Publish)
	if m.TopicName != "exp/long" || m.Properties.MessageExpiryInterval == 0 || m.Properties.MessageExpiryInterval > 100 {
		t.Fatalf("delivered %q with expiry %d", m.TopicName, m.Properties.MessageExpiryInterval)
	}
	if pk, err := sub2.recv(300 * time.Millisecond); err == nil {
		t.Fatalf("expired message delivered: %q", pk.TopicName)
	}
}

func TestKeepalive_MQTT_3_1_2_24(t *testing.T) {
	b := testBroker(t, nil)
	c := dialRaw(t, b.Addr("tcp"), 4)
	c.connect("ka", true, func(pk *packets.Packet) { pk.Connect.Keepalive = 1 })
	start := time.Now()
	// [MQTT-3.1.2-24] no packet within 1.5 × keep alive: the server closes the connection.
	c.expectClosed(5 * time.Second)
	if el := time.Since(start); el < time.Second {
		t.Fatalf("closed after %v, before the keep alive ran out", el)
	}
	// A PINGREQ keeps it open.
	c2 := dialRaw(t, b.Addr("tcp"), 4)
	c2.connect("ka2", true, func(pk *packets.Packet) { pk.Connect.Keepalive = 1 })
	for i := 0; i < 8; i++ {
		time.Sleep(250 * time.Millisecond)
		c2.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		c2.expect(packets.Pingresp)
	}
}

func TestServerKeepAlive_MQTT_3_2_2_21(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.ServerKeepAlive = 7; c.MaxKeepAlive = 100 })
	c := dialRaw(t, b.Addr("tcp"), 5)
	ack := c.connect("ska", true, func(pk *packets.Packet) { pk.Connect.Keepalive = 60 })
	// [MQTT-3.2.2-21] the server's keep alive replaces the client's, and is announced.
	if !ack.Properties.ServerKeepAliveFlag || ack.Properties.ServerKeepAlive != 7 {
		t.Fatalf("server keep alive not announced: %+v", ack.Properties)
	}
	b2 := testBroker(t, func(c *config.MQTT) { c.MaxKeepAlive = 100 })
	c = dialRaw(t, b2.Addr("tcp"), 5)
	ack = c.connect("ska2", true, func(pk *packets.Packet) { pk.Connect.Keepalive = 0 })
	if !ack.Properties.ServerKeepAliveFlag || ack.Properties.ServerKeepAlive != 100 {
		t.Fatalf("keep alive 0 not capped at max_keepalive: %+v", ack.Properties)
	}
	c = dialRaw(t, b2.Addr("tcp"), 5)
	ack = c.connect("ska3", true, func(pk *packets.Packet) { pk.Connect.Keepalive = 30 })
	if ack.Properties.ServerKeepAliveFlag {
		t.Fatal("a keep alive within the limit must be left alone")
	}
}

func TestSubscriptionIdentifier_MQTT_3_3_4_3(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 5)
	ack := sub.connect("sid", true)
	if ack.Properties.SubIDAvailable == 0 {
		// absent means available; mochi encodes it only when unavailable
	}
	sub.next++
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: sub.next,
		Properties: packets.Properties{SubscriptionIdentifier: []int{42}},
		Filters:    packets.Subscriptions{{Filter: "sid/#", Qos: 0, Identifier: 42}}})
	sub.expect(packets.Suback)
	pub := dialRaw(t, addr, 5)
	pub.connect("p", true)
	pub.publish("sid/x", "v", 0, false)
	// [MQTT-3.3.4-3] the PUBLISH carries the identifier of the matching subscription.
	m := sub.expect(packets.Publish)
	if len(m.Properties.SubscriptionIdentifier) != 1 || m.Properties.SubscriptionIdentifier[0] != 42 {
		t.Fatalf("subscription identifiers %v", m.Properties.SubscriptionIdentifier)
	}
}

func TestReceiveMaximum_MQTT_3_3_4_7(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.ReceiveMaximum = 2 })
	c := dialRaw(t, b.Addr("tcp"), 5)
	ack := c.connect("rm", true)
	if ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("connack receive maximum %d", ack.Properties.ReceiveMaximum)
	}
	// Two unfinished QoS 2 flows fill the quota; a third publish exceeds it:
	// DISCONNECT with 0x93 Receive Maximum exceeded [MQTT-3.3.4-7, 4.9].
	for i := 0; i < 2; i++ {
		c.publish("rm/t", "x", 2, false)
		c.expect(packets.Pubrec)
	}
	c.publish("rm/t", "x", 2, false)
	d := c.expectClosed(3 * time.Second)
	if d == nil || d.ReasonCode != packets.ErrReceiveMaximum.Code {
		t.Fatalf("want DISCONNECT 0x93, got %+v", d)
	}
	waitFor(t, func() bool { return b.Stats().ReceiveMaxExceeded == 1 }, "receive maximum violation counted")
}

func TestAckHasNoUserProperties_MQTT_3_4_2(t *testing.T) {
	b := testBroker(t, nil)
	c := dialRaw(t, b.Addr("tcp"), 5)
	c.connect("up", true)
	c.publish("up/t", "x", 1, false, func(pk *packets.Packet) {
		pk.Properties.User = []packets.UserProperty{{Key: "secret", Val: "do-not-echo"}}
	})
	// A PUBACK is the server's own packet: the publisher's user properties are not echoed.
	ack := c.expect(packets.Puback)
	if len(ack.Properties.User) != 0 {
		t.Fatalf("PUBACK echoed user properties: %v", ack.Properties.User)
	}
}

func TestUserPropertiesForwarded_MQTT_3_3_2_17(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 5)
	sub.connect("s", true)
	sub.subscribe("upf/#", 0)
	pub := dialRaw(t, addr, 5)
	pub.connect("p", true)
	pub.publish("upf/t", "x", 0, false, func(pk *packets.Packet) {
		pk.Properties.User = []packets.UserProperty{{Key: "k", Val: "v"}}
	})
	// [MQTT-3.3.2-17] user properties reach the subscriber unaltered.
	m := sub.expect(packets.Publish)
	if len(m.Properties.User) != 1 || m.Properties.User[0].Key != "k" {
		t.Fatalf("user properties %v", m.Properties.User)
	}
}

func TestMalformedPacket_MQTT_4_13_1_1(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	other := dialRaw(t, addr, 5)
	other.connect("bystander", true)
	other.subscribe("ok/#", 0)

	c := dialRaw(t, addr, 5)
	c.connect("bad", true)
	// A PUBLISH whose topic length runs past the packet: malformed. [MQTT-4.13.1-1] close the connection.
	c.write([]byte{0x30, 0x04, 0x00, 0x10, 'a', 'b'})
	if d := c.expectClosed(3 * time.Second); d == nil || d.ReasonCode != packets.ErrMalformedPacket.Code {
		t.Fatalf("MQTT 5 client not told 0x81 Malformed Packet: %+v", d)
	}
	// [MQTT-3.3.2-2] wildcard in a PUBLISH topic: protocol error, closed too.
	c2 := dialRaw(t, addr, 4)
	c2.connect("bad2", true)
	c2.publish("a/+", "x", 0, false)
	c2.expectClosed(3 * time.Second)
	// Nothing else is disturbed.
	pub := dialRaw(t, addr, 5)
	pub.connect("p", true)
	pub.publish("ok/1", "fine", 0, false)
	if m := other.expect(packets.Publish); string(m.Payload) != "fine" {
		t.Fatal("bystander disturbed")
	}
	waitFor(t, func() bool { return b.Stats().Malformed >= 1 }, "malformed counter")
}

func TestOversizePacket_MQTT_3_2_2_15(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.MaxPacketSize = 1024 })
	c := dialRaw(t, b.Addr("tcp"), 5)
	ack := c.connect("big", true)
	if ack.Properties.MaximumPacketSize != 1024 {
		t.Fatalf("connack maximum packet size %d", ack.Properties.MaximumPacketSize)
	}
	// A packet over the announced Maximum Packet Size: DISCONNECT 0x95 and close [4.13, 3.2.2.3.6].
	c.publish("big/t", strings.Repeat("x", 2000), 0, false)
	d := c.expectClosed(3 * time.Second)
	if d == nil || d.ReasonCode != packets.ErrPacketTooLarge.Code {
		t.Fatalf("want DISCONNECT 0x95, got %+v", d)
	}
	waitFor(t, func() bool { return b.Stats().Oversize == 1 }, "oversize counter")
}

func TestMaxConnections(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.MaxConnections = 2 })
	for i := 0; i < 2; i++ {
		dialRaw(t, b.Addr("tcp"), 5).connect(string(rune('a'+i)), true)
	}
	c := dialRaw(t, b.Addr("tcp"), 5)
	// Over the limit: CONNACK 0x89 Server busy [MQTT-3.2.2-7], then close.
	ack := c.connect("c", true)
	if ack.ReasonCode != packets.ErrServerBusy.Code {
		t.Fatalf("reason 0x%x", ack.ReasonCode)
	}
	b.SetMaxConnections(3) // SIGHUP path
	if ack := dialRaw(t, b.Addr("tcp"), 5).connect("d", true); ack.ReasonCode != 0 {
		t.Fatalf("after raising the limit: 0x%x", ack.ReasonCode)
	}
}

// TestQoS1NotDroppedAtFullWriteQueue overflows a tiny write queue: QoS 0 is dropped and
// counted, every QoS 1 message still arrives.
func TestQoS1NotDroppedAtFullWriteQueue(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.WriteQueue = 4; c.MaxInflight = 4 })
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 4)
	sub.connect("slow", true)
	sub.subscribe("ov/#", 1)
	pubs := make([]*raw, 4)
	for i := range pubs {
		pubs[i] = dialRaw(t, addr, 4)
		pubs[i].connect("p"+string(rune('0'+i)), true)
	}
	const per = 50
	done := make(chan struct{})
	for i, p := range pubs {
		go func(i int, p *raw) {
			defer func() { done <- struct{}{} }()
			for j := 0; j < per; j++ {
				p.publish("ov/t", "m", 1, false)
				if _, err := p.recv(20 * time.Second); err != nil {
					return
				}
			}
		}(i, p)
	}
	got := 0
	for got < per*len(pubs) {
		m, err := sub.recv(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d: %v (stats %+v)", got, per*len(pubs), err, b.Stats())
		}
		if m.FixedHeader.Type == packets.Publish {
			got++
			sub.puback(m.PacketID)
		}
	}
	for range pubs {
		<-done
	}
}

func TestWebSocketListenerOpen(t *testing.T) {
	b := testBroker(t, nil)
	if b.Addr("ws") == "" || b.Addr("tcp") == "" {
		t.Fatalf("listeners %+v", b.Listeners())
	}
}

func TestPortInUseFailsStart(t *testing.T) {
	b := testBroker(t, nil)
	c := config.Default().MQTT
	c.TCP, c.WS = b.Addr("tcp"), ""
	b2, err := New(Options{MQTT: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "mqtt.tcp") {
		t.Fatalf("want a bind error naming mqtt.tcp, got %v", err)
	}
}

func TestServerPublish(t *testing.T) {
	b := testBroker(t, nil)
	sub := dialRaw(t, b.Addr("tcp"), 5)
	sub.connect("s", true)
	sub.subscribe("api/#", 1)
	if err := b.Publish(PublishRequest{Topic: "api/x", Payload: []byte("hi"), QoS: 1, ClientID: "rest"}); err != nil {
		t.Fatal(err)
	}
	m := sub.expect(packets.Publish)
	if !bytes.Equal(m.Payload, []byte("hi")) {
		t.Fatal(m)
	}
	if err := b.Publish(PublishRequest{Topic: "a/#"}); err == nil {
		t.Fatal("wildcard topic accepted")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestMatchFilter(t *testing.T) {
	cases := []struct {
		f, t string
		want bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false}, {"a/#", "a", true},
		{"a/#", "a/b/c", true}, {"#", "a", true}, {"#", "$SYS/x", false}, {"+/b", "$x/b", false},
		{"a/b", "a/c", false}, {"+/+", "a/b", true}, {"+", "a/b", false}, {"a//b", "a//b", true},
	}
	for _, c := range cases {
		if got := matchFilter(c.f, c.t); got != c.want {
			t.Errorf("match(%q, %q) = %v", c.f, c.t, got)
		}
	}
}

// TestNoOutboundTopicAliases: wedge never sends topic aliases (the server MAY [3.3.2.3.4]),
// so every queued message keeps its topic name and can be resent after a reconnect.
func TestNoOutboundTopicAliases(t *testing.T) {
	b := testBroker(t, nil)
	sub := dialRaw(t, b.Addr("tcp"), 5)
	sub.connect("ta", true, func(pk *packets.Packet) { pk.Properties.TopicAliasMaximum = 10 })
	sub.subscribe("ta/#", 0)
	pub := dialRaw(t, b.Addr("tcp"), 5)
	pub.connect("p", true)
	for i := 0; i < 2; i++ {
		pub.publish("ta/x", "v", 0, false)
		if m := sub.expect(packets.Publish); m.TopicName != "ta/x" || m.Properties.TopicAlias != 0 {
			t.Fatalf("message %d: topic %q alias %d", i, m.TopicName, m.Properties.TopicAlias)
		}
	}
}

func TestInternalSubscriber(t *testing.T) {
	b := testBroker(t, nil)
	got := make(chan Delivery, 4)
	pub := dialRaw(t, b.Addr("tcp"), 5)
	pub.connect("p", true)
	pub.publish("int/kept", "r", 1, true)
	pub.expect(packets.Puback)
	if err := b.Subscribe("int/#", 1, func(d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	d := <-got
	if d.Topic == "int/kept" && !d.Retain {
		d = <-got // mochi routes after the PUBACK: the message may also arrive live, first
	}
	if d.Topic != "int/kept" || !d.Retain {
		t.Fatalf("retained at subscribe: %+v", d)
	}
	pub.publish("int/live", "x", 1, false)
	pub.expect(packets.Puback)
	for {
		select {
		case d := <-got:
			if d.Topic == "int/kept" {
				continue // mochi routes after the PUBACK: the retained one may also arrive live
			}
			if d.Topic != "int/live" || string(d.Payload) != "x" || d.Origin != "p" {
				t.Fatalf("%+v", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no delivery")
		}
		break
	}
	if err := b.Unsubscribe("int/#", 1); err != nil {
		t.Fatal(err)
	}
	pub.publish("int/after", "x", 0, false)
	select {
	case d := <-got:
		t.Fatalf("delivered after unsubscribe: %+v", d)
	case <-time.After(200 * time.Millisecond):
	}
	if len(b.Subscriptions()) != 0 {
		t.Fatalf("internal subscription listed: %+v", b.Subscriptions())
	}
}
