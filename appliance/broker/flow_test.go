package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wedge-iot/wedge/appliance/config"
)

// TestClientReceiveMaximum_MQTT_3_3_4_9: wedge never has more unacknowledged QoS 1 messages
// at a client than the client's Receive Maximum [MQTT-3.3.4-9], and everything queued
// behind the quota is delivered, in order [MQTT-4.6.0-6], as the client acknowledges.
func TestClientReceiveMaximum_MQTT_3_3_4_9(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 5)
	sub.connect("rm-sub", true, func(pk *packets.Packet) { pk.Properties.ReceiveMaximum = 2 })
	sub.subscribe("crm/#", 1)
	pub := dialRaw(t, addr, 5)
	pub.connect("rm-pub", true)
	const n = 20
	for i := 0; i < n; i++ {
		pub.publish("crm/t", fmt.Sprint(i), 1, false)
		pub.expect(packets.Puback)
	}
	var unacked []uint16
	for got := 0; got < n; {
		pk, err := sub.recv(2 * time.Second)
		if err != nil {
			if len(unacked) == 0 {
				t.Fatalf("stalled after %d of %d messages", got, n)
			}
			sub.puback(unacked[0])
			unacked = unacked[1:]
			continue
		}
		if string(pk.Payload) != fmt.Sprint(got) {
			t.Fatalf("message %d has payload %q: out of order", got, pk.Payload)
		}
		got++
		unacked = append(unacked, pk.PacketID)
		if len(unacked) > 2 {
			t.Fatalf("%d unacknowledged messages at a client with receive maximum 2", len(unacked))
		}
		if len(unacked) == 2 {
			sub.puback(unacked[0])
			unacked = unacked[1:]
		}
	}
}

// receiveInOrder reads n QoS 1 messages and checks their order and the quota: it acknowledges
// nothing until the server stops sending, and then all it holds, so a server that ignored
// the quota would be caught holding more than quota unacknowledged messages.
func receiveInOrder(t *testing.T, sub *raw, n, quota int) {
	t.Helper()
	var unacked []uint16
	for got := 0; got < n; {
		// The server has stopped once nothing comes for a while; a machine busy with other
		// tests can delay a delivery by more than 150 ms, hence the margin.
		pk, err := sub.recv(300 * time.Millisecond)
		if err != nil {
			if len(unacked) == 0 {
				t.Fatalf("stalled after %d of %d messages", got, n)
			}
			if len(unacked) != quota && got < n {
				t.Fatalf("server paused at %d unacknowledged messages, quota %d", len(unacked), quota)
			}
			for _, id := range unacked {
				sub.puback(id)
			}
			unacked = unacked[:0]
			continue
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		if string(pk.Payload) != fmt.Sprint(got) {
			t.Fatalf("message %d has payload %q: out of order", got, pk.Payload)
		}
		got++
		unacked = append(unacked, pk.PacketID)
		if len(unacked) > quota {
			t.Fatalf("%d unacknowledged messages, quota %d", len(unacked), quota)
		}
	}
}

// TestResumedSessionRespectsQuotaAndOrder_MQTT_4_6_0_6: a session that comes back to 40
// queued messages receives them in order, never more than its receive maximum at once.
func TestResumedSessionRespectsQuotaAndOrder_MQTT_4_6_0_6(t *testing.T) {
	b := testBroker(t, nil)
	addr := b.Addr("tcp")
	expiry := func(pk *packets.Packet) {
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 300, true
		pk.Properties.ReceiveMaximum = 5
	}
	sub := dialRaw(t, addr, 5)
	sub.connect("resume", false, expiry)
	sub.subscribe("res/#", 1)
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	time.Sleep(50 * time.Millisecond)
	pub := dialRaw(t, addr, 5)
	pub.connect("p", true)
	const n = 40
	for i := 0; i < n; i++ {
		pub.publish("res/t", fmt.Sprint(i), 1, false)
		pub.expect(packets.Puback)
	}
	sub2 := dialRaw(t, addr, 5)
	if ack := sub2.connect("resume", false, expiry); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	receiveInOrder(t, sub2, n, 5)
}

// TestMQTT311MaxInflight: MQTT 3.1.1 clients have no receive maximum; wedge applies
// mqtt.max_inflight to them.
func TestMQTT311MaxInflight(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.MaxInflight = 3 })
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 4)
	sub.connect("v3sub", true)
	sub.subscribe("mi/#", 1)
	pub := dialRaw(t, addr, 4)
	pub.connect("p", true)
	const n = 30
	for i := 0; i < n; i++ {
		pub.publish("mi/t", fmt.Sprint(i), 1, false)
		pub.expect(packets.Puback)
	}
	receiveInOrder(t, sub, n, 3)
}

// TestFullQueueHoldsPublisher: a connected subscriber whose queue is at max_queued_messages
// holds QoS 1 publishers instead of losing messages; everything arrives, in order.
func TestFullQueueHoldsPublisher(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.MaxInflight = 2; c.MaxQueuedMessages = 10 })
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 4)
	sub.connect("slow", true)
	sub.subscribe("fq/#", 1)
	pub := dialRaw(t, addr, 4)
	pub.connect("fast", true)
	const n = 60
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			pub.publish("fq/t", fmt.Sprint(i), 1, false)
			if _, err := pub.recv(20 * time.Second); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for got := 0; got < n; got++ {
		pk, err := sub.recv(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d: %v", got, err)
		}
		if string(pk.Payload) != fmt.Sprint(got) {
			t.Fatalf("message %d is %q (stats %+v)", got, pk.Payload, b.Stats())
		}
		time.Sleep(2 * time.Millisecond) // a slow consumer
		sub.puback(pk.PacketID)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if cs, _ := b.Client("slow"); cs.QueueDropped != 0 || b.Stats().QueueDropped != 0 {
		t.Fatalf("drops: %d / %d", cs.QueueDropped, b.Stats().QueueDropped)
	}
}

// TestOfflineQueueBoundCounted: an offline session keeps max_queued_messages; the rest is
// dropped, counted for that client and in total, and the publisher is not held.
func TestOfflineQueueBoundCounted(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.MaxInflight = 2; c.MaxQueuedMessages = 10 })
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 4)
	sub.connect("away", false)
	sub.subscribe("oq/#", 1)
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	time.Sleep(50 * time.Millisecond)
	pub := dialRaw(t, addr, 4)
	pub.connect("p", true)
	start := time.Now()
	for i := 0; i < 30; i++ {
		pub.publish("oq/t", fmt.Sprint(i), 1, false)
		pub.expect(packets.Puback)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("publisher held %v by an offline session", el)
	}
	// mochi routes after the PUBACK: wait for the last drop to be counted.
	waitFor(t, func() bool { return b.Stats().QueueDropped == 20 }, "20 drops counted")
	cs, _ := b.Client("away")
	if cs.Queued != 10 || cs.QueueDropped != 20 {
		t.Fatalf("queued %d, dropped %d (total %d)", cs.Queued, cs.QueueDropped, b.Stats().QueueDropped)
	}
	sub2 := dialRaw(t, addr, 4)
	sub2.connect("away", false)
	receiveInOrder(t, sub2, 10, 2)
}

// TestAckNeverLetsAMessageOvertake: many publishers, a subscriber with max_inflight 1 that
// acknowledges at once. Every PUBACK frees the one unit of quota while other publishers route
// to the subscriber; the message they route must still wait behind the queued ones, so each
// publisher's messages arrive in the order it sent them [MQTT-4.6.0-6]. (mochi gives the quota
// back for a moment while it processes a PUBACK; a message routed in that moment went out at
// once, ahead of the queue.)
func TestAckNeverLetsAMessageOvertake(t *testing.T) {
	b := testBroker(t, func(c *config.MQTT) { c.MaxInflight = 1 })
	addr := b.Addr("tcp")
	sub := dialRaw(t, addr, 4)
	sub.connect("acker", true)
	sub.subscribe("ov/#", 1)
	const pubs, n = 4, 400
	errs := make(chan error, pubs)
	for p := 0; p < pubs; p++ {
		pc := dialRaw(t, addr, 4)
		pc.connect(fmt.Sprint("ov-pub-", p), true)
		go func() {
			for i := 0; i < n; i++ {
				pc.publish("ov/t", fmt.Sprintf("%d:%d", p, i), 1, false)
				pk, err := pc.recv(20 * time.Second)
				if err != nil {
					errs <- err
					return
				}
				if pk.FixedHeader.Type != packets.Puback {
					errs <- fmt.Errorf("publisher %d: got packet type %d, not PUBACK", p, pk.FixedHeader.Type)
					return
				}
			}
			errs <- nil
		}()
	}
	next := make([]int, pubs)
	for got := 0; got < pubs*n; got++ {
		pk, err := sub.recv(20 * time.Second)
		if err != nil {
			t.Fatalf("after %d: %v", got, err)
		}
		var p, i int
		if _, err := fmt.Sscanf(string(pk.Payload), "%d:%d", &p, &i); err != nil {
			t.Fatalf("payload %q: %v", pk.Payload, err)
		}
		if i != next[p] {
			t.Fatalf("publisher %d: message %d arrived when %d was due (%d received in all)", p, i, next[p], got)
		}
		next[p]++
		sub.puback(pk.PacketID)
	}
	for p := 0; p < pubs; p++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
