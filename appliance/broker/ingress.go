package broker

import (
	"context"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The ingress pipeline lets one connection keep publishing while its earlier QoS 0/1 messages
// wait for their Holds (an outbox's group commit): without it a publisher's read loop waits for
// each message's commit in turn, so one connection gets one commit per message (a few hundred
// messages a second on an SD card) however many it pipelines.
//
// A QoS 0/1 publish with Holds is taken out of mochi's path (OnPublish answers ErrRejectPacket:
// mochi then neither routes nor acknowledges it) and queued per connection; the connection's
// ingress worker waits for each queued message's Holds in order and re-injects it into mochi
// (Server.InjectPacket, as the same client), which then stores it if retained, acknowledges it
// and routes it exactly as it would have. While a connection has messages queued every new
// publish of it queues behind them, so PUBACKs (MQTT-4.6.0-2) and routing keep the order in
// which the messages arrived. A failed Hold refuses that message as before (MQTT 5: PUBACK 0x80;
// MQTT 3.1.1: the connection is closed, so the client publishes it again).
//
// Bounds: an MQTT 5 client with more unacknowledged QoS 1 messages queued than the server's
// receive maximum is disconnected with 0x93 (MQTT-3.3.4-9); an MQTT 3.1.1 client's read loop
// waits while that many are queued (TCP back-pressure). QoS 2 messages with Holds are held in
// the read loop as before, after the queue ahead of them has drained (their exactly-once
// handshake stays mochi's).

type ingressItem struct {
	pk    packets.Packet
	holds []Hold
}

type ingressState struct {
	mu      sync.Mutex
	space   *sync.Cond // signalled when the queue shrinks
	queue   []ingressItem
	qos1    int  // queued QoS 1 messages (unacknowledged, against the receive maximum)
	running bool // the worker goroutine is live
	closed  bool // the connection ended
	// inject is the message the worker is handing back to mochi right now: OnPublish lets it
	// through instead of queueing it again.
	inject *ingressItem
}

func (h *hooks) ingressOf(cl *mqtt.Client) *ingressState {
	if v, ok := h.ingress.Load(cl); ok {
		return v.(*ingressState)
	}
	return nil
}

// pending reports whether the connection has messages queued (or one being re-injected).
func (st *ingressState) pending() bool {
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.queue) > 0
}

// passThrough reports (once) whether pk is the message the worker is re-injecting.
func (st *ingressState) passThrough(pk packets.Packet) bool {
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	it := st.inject
	if it == nil || !samePublish(it.pk, pk) {
		return false
	}
	st.inject = nil
	return true
}

// samePublish tells the re-injected packet from a new one: same fields, and the same payload
// buffer (a packet read from the network has its own).
func samePublish(a, b packets.Packet) bool {
	if a.PacketID != b.PacketID || a.TopicName != b.TopicName || a.FixedHeader.Qos != b.FixedHeader.Qos ||
		a.FixedHeader.Retain != b.FixedHeader.Retain || len(a.Payload) != len(b.Payload) {
		return false
	}
	return len(a.Payload) == 0 || &a.Payload[0] == &b.Payload[0]
}

// waitDrained blocks the read loop until the connection's queue is empty (before a QoS 2
// message with Holds, which is held in the read loop).
func (st *ingressState) waitDrained() {
	if st == nil {
		return
	}
	st.mu.Lock()
	for len(st.queue) > 0 {
		st.space.Wait()
	}
	st.mu.Unlock()
}

// enqueue queues pk behind the connection's earlier messages and tells mochi to leave it to us.
func (h *hooks) enqueue(cl *mqtt.Client, pk packets.Packet, holds []Hold) (packets.Packet, error) {
	st := h.ingressOf(cl)
	if st == nil {
		v, _ := h.ingress.LoadOrStore(cl, &ingressState{})
		st = v.(*ingressState)
	}
	limit := int(h.b.srv.Options.Capabilities.ReceiveMaximum)
	if limit < 1 {
		limit = 1
	}
	st.mu.Lock()
	if st.space == nil {
		st.space = sync.NewCond(&st.mu)
	}
	if pk.FixedHeader.Qos == 1 {
		if cl.Properties.ProtocolVersion == 5 && st.qos1 >= limit {
			st.mu.Unlock()
			_ = h.b.srv.DisconnectClient(cl, packets.ErrReceiveMaximum) // [MQTT-3.3.4-9]
			return pk, packets.ErrRejectPacket
		}
		for st.qos1 >= limit && !st.closed {
			st.space.Wait()
		}
		st.qos1++
	}
	st.queue = append(st.queue, ingressItem{pk: pk, holds: holds})
	if !st.running {
		st.running = true
		h.ingressCount.Add(1)
		go h.ingressWorker(cl, st)
	}
	st.mu.Unlock()
	return pk, packets.ErrRejectPacket
}

// ingressWorker hands a connection's queued messages back to mochi in order, each once its
// Holds have finished. It ends when the queue is empty.
func (h *hooks) ingressWorker(cl *mqtt.Client, st *ingressState) {
	for {
		st.mu.Lock()
		if len(st.queue) == 0 {
			st.running = false
			h.ingressCount.Add(-1)
			if st.closed {
				h.ingress.CompareAndDelete(cl, st)
			}
			st.mu.Unlock()
			return
		}
		it := st.queue[0]
		st.mu.Unlock()

		var failed error
		for _, hd := range it.holds {
			if err := hd.Wait(context.Background()); err != nil && failed == nil {
				failed = err
			}
		}
		switch {
		case failed != nil && it.pk.FixedHeader.Qos > 0:
			h.refuse(cl, it.pk, failed)
		default:
			pk := it.pk
			// The topic is resolved already; re-applying the alias could undo a later
			// redefinition of it by the client.
			pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false
			it.pk = pk
			st.mu.Lock()
			st.inject = &it
			st.mu.Unlock()
			if err := h.b.srv.InjectPacket(cl, pk); err == nil {
				// InjectPacket counts the message received a second time.
				atomic.AddInt64(&h.b.srv.Info.PacketsReceived, -1)
				atomic.AddInt64(&h.b.srv.Info.MessagesReceived, -1)
			}
			st.mu.Lock()
			st.inject = nil
			st.mu.Unlock()
		}

		st.mu.Lock()
		st.queue[0] = ingressItem{}
		st.queue = st.queue[1:]
		if it.pk.FixedHeader.Qos == 1 {
			st.qos1--
		}
		st.space.Broadcast()
		st.mu.Unlock()
	}
}

// ingressClosed marks a connection's pipeline as ended; its worker finishes what is queued
// (mochi routes nothing whose acknowledgement cannot be written: the client sends it again).
func (h *hooks) ingressClosed(cl *mqtt.Client) {
	st := h.ingressOf(cl)
	if st == nil {
		return
	}
	st.mu.Lock()
	st.closed = true
	if !st.running {
		h.ingress.CompareAndDelete(cl, st)
	}
	if st.space != nil {
		st.space.Broadcast()
	}
	st.mu.Unlock()
}

// refuse answers a QoS 1/2 publish whose durable work failed: MQTT 5 gets its acknowledgement
// with reason 0x80, MQTT 3.1.1 (which has no negative acknowledgement) is disconnected so that
// the client publishes the message again.
func (h *hooks) refuse(cl *mqtt.Client, pk packets.Packet, err error) {
	h.b.counters.HoldFailed.Add(1)
	h.b.log.Warn("publish refused: durable work failed", "client", cl.ID, "topic", pk.TopicName, "error", err)
	if cl.Properties.ProtocolVersion == 5 {
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
			ReasonCode: packets.ErrUnspecifiedError.Code}
		_ = cl.WritePacket(ack)
		return
	}
	_ = h.b.srv.DisconnectClient(cl, packets.ErrUnspecifiedError)
}
