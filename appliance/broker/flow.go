package broker

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Outbound flow control.
//
// A client may have at most its Receive Maximum (MQTT 5), capped by mqtt.max_inflight, QoS 1/2
// messages unacknowledged [MQTT-3.3.4-9]; MQTT 3.1.1 clients get mqtt.max_inflight. Messages
// beyond the quota wait in the session's queue (mochi's inflight store, bounded by
// mqtt.max_queued_messages and persisted by the storage hook) and go out one per
// acknowledgement, in the order they were queued [MQTT-4.6.0-6].
//
// mochi has the quota but sends the waiting messages in an order that is arbitrary within one
// second, forgets them once sent (so they are never retried), and on a resumed session sends
// the whole queue at once, whatever the quota. wedge keeps mochi's quota accounting and does
// the sending itself from hooks: releaseNext on every acknowledgement, resume when a session
// comes back.

// sendLimit is the number of unacknowledged QoS 1/2 messages wedge allows at a client.
func (h *hooks) sendLimit(cl *mqtt.Client) int32 {
	limit := int32(h.b.cfg().MaxInflight)
	if rm := int32(cl.Properties.Props.ReceiveMaximum); cl.Properties.ProtocolVersion == 5 && rm > 0 && rm < limit {
		limit = rm
	}
	return limit
}

// waiting returns the session's queued (not yet sent) messages, oldest first.
func waiting(cl *mqtt.Client) []packets.Packet {
	q := cl.State.Inflight.GetAll(true)
	inPacketIDOrder(q)
	return q
}

// inPacketIDOrder sorts packets by the order their ids were allocated. Ids are allocated
// increasing and wrap at 65535, and a session holds far fewer than 32768 at once, so the
// oldest packet is the one after the largest gap between consecutive ids.
func inPacketIDOrder(q []packets.Packet) {
	if len(q) < 2 {
		return
	}
	sort.Slice(q, func(i, j int) bool { return q[i].PacketID < q[j].PacketID })
	start, gap := 0, int(q[0].PacketID)+65536-int(q[len(q)-1].PacketID)
	for i := 1; i < len(q); i++ {
		if g := int(q[i].PacketID) - int(q[i-1].PacketID); g > gap {
			start, gap = i, g
		}
	}
	if start > 0 {
		rotated := append(append(make([]packets.Packet, 0, len(q)), q[start:]...), q[:start]...)
		copy(q, rotated)
	}
}

// send releases a queued message: it becomes in flight (it will be retried on reconnect and
// its acknowledgement frees the quota again). counted says the unit it uses is still in
// mochi's quota and must be taken out.
func (h *hooks) send(cl *mqtt.Client, pk packets.Packet, counted bool) {
	pk.Expiry = h.expiryOf(pk)
	cl.State.Inflight.Set(pk)
	if counted {
		cl.State.Inflight.DecreaseSendQuota()
	}
	_ = cl.WritePacket(pk)
}

// expiryOf recomputes a queued message's expiry (mochi overwrites it with -1 while queued).
func (h *hooks) expiryOf(pk packets.Packet) int64 {
	max := h.b.cfg().MaxMessageExpiry
	exp := int64(pk.Properties.MessageExpiryInterval)
	if exp == 0 || (max > 0 && exp > max) {
		exp = max
	}
	if exp <= 0 {
		return 0
	}
	return pk.Created + exp
}

// flowState is wedge's side of one connection's send quota.
//
// mochi decides on the publisher's goroutine whether a message is sent or queued (Expiry -1),
// and after every packet a client sends it releases one queued message itself, out of order
// and forgetting it. wedge therefore takes every unit of quota an acknowledgement frees out of
// mochi's hands at once (OnQosComplete runs right after mochi adds it) as a credit, and spends
// the credits itself after the packet (OnPacketProcessed, before mochi's own release, which
// then finds no quota): it sends the oldest queued messages, in order. Credits left when
// nothing is queued go back to mochi, so new messages go out directly. A publisher that read
// mochi's quota as zero just before may still be queueing a message: the sweeper (every
// sweepInterval) spends credit on it, so a queued message never waits for more traffic.
type flowState struct {
	mu     sync.Mutex
	cl     *mqtt.Client
	credit int32 // units taken out of mochi's quota, not yet spent or returned
	watch  int8  // sweeps left that settle this connection after its quota was handed back
}

// sweepInterval bounds how long a queued message can wait while wedge holds credit for it.
const sweepInterval = 20 * time.Millisecond

func (h *hooks) flow(cl *mqtt.Client) *flowState {
	if v, ok := h.flows.Load(cl); ok {
		return v.(*flowState)
	}
	v, _ := h.flows.LoadOrStore(cl, &flowState{cl: cl})
	return v.(*flowState)
}

// OnQosComplete takes the unit of quota freed by the client's PUBACK or PUBCOMP for one of
// wedge's messages. Acknowledgements wedge itself builds for inbound publishes carry a
// creation time and are skipped.
func (h *hooks) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if (pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubcomp) && pk.Created == 0 {
		cl.State.Inflight.DecreaseSendQuota()
		st := h.flow(cl)
		st.mu.Lock()
		st.credit++
		st.mu.Unlock()
		h.emit(Event{Type: EventMessageAcked, Client: h.clientInfo(cl), Topic: pk.TopicName})
	}
	h.unfull(cl)
}

// OnPacketProcessed spends the credit after mochi handled the packet.
func (h *hooks) OnPacketProcessed(cl *mqtt.Client, _ packets.Packet, _ error) {
	v, ok := h.flows.Load(cl)
	if !ok {
		return
	}
	st := v.(*flowState)
	st.mu.Lock()
	if st.credit > 0 {
		h.spend(st, true)
	}
	st.mu.Unlock()
}

// spend sends queued messages, oldest first, on credit. With giveBack, credit left over when
// nothing is queued returns to mochi's quota. st.mu is held.
func (h *hooks) spend(st *flowState, giveBack bool) {
	var q []packets.Packet
	if st.cl.State.Inflight.Len() > 0 {
		q = waiting(st.cl)
	}
	k := int32(len(q))
	if k > st.credit {
		k = st.credit
	}
	for i := int32(0); i < k; i++ {
		h.send(st.cl, q[i], false)
	}
	st.credit -= k
	if giveBack && int(k) == len(q) && st.credit > 0 {
		for ; st.credit > 0; st.credit-- {
			st.cl.State.Inflight.IncreaseSendQuota()
		}
		st.watch = 2 // a publisher may be queueing a message right now: the sweeper looks twice
	}
	if st.credit > 0 || st.watch > 0 {
		h.credited.Store(st, struct{}{})
	} else {
		h.credited.Delete(st)
	}
}

// settle sends queued messages from what is really free: the quota limit less the messages
// in flight, counted from the session's store. The sweeper uses it for the connections it
// watches, so a message queued while the quota was being handed back never waits for more
// traffic. st.mu is held.
func (h *hooks) settle(st *flowState) {
	var sent int32
	var q []packets.Packet
	for _, pk := range st.cl.State.Inflight.GetAll(false) {
		switch {
		case pk.FixedHeader.Type == packets.Publish && pk.Expiry < 0:
			q = append(q, pk)
		case pk.FixedHeader.Type == packets.Publish || pk.FixedHeader.Type == packets.Pubrel:
			sent++
		}
	}
	inPacketIDOrder(q)
	free := h.sendLimit(st.cl) - sent
	for i := 0; i < len(q) && int32(i) < free; i++ {
		h.send(st.cl, q[i], true)
	}
}

// sweep spends credit on messages queued since; it runs every sweepInterval.
func (h *hooks) sweep() {
	h.credited.Range(func(k, _ any) bool {
		st := k.(*flowState)
		st.mu.Lock()
		if st.cl.Closed() {
			st.credit = 0
			h.credited.Delete(st)
		} else {
			if st.credit > 0 {
				h.spend(st, true)
			}
			if st.credit == 0 && st.watch > 0 {
				st.watch--
				h.settle(st)
				if st.watch == 0 {
					h.credited.Delete(st)
				}
			}
		}
		st.mu.Unlock()
		return true
	})
}

// resume runs when a session is taken up again (OnSessionEstablish): the stored queue is taken
// out of mochi's hands so that mochi's resend does not flood the client; established (after
// CONNACK) sends it back in order within the quota.
func (h *hooks) resume(cl *mqtt.Client) {
	old, ok := h.b.srv.Clients.Get(cl.ID)
	if !ok || old == cl || old.State.Inflight.Len() == 0 {
		return
	}
	old.ClearExpiredInflights(time.Now().Unix(), h.b.cfg().MaxMessageExpiry) // [MQTT-3.3.2-5]
	var q []packets.Packet
	for _, pk := range old.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type == packets.Publish {
			q = append(q, pk)
			old.State.Inflight.Delete(pk.PacketID)
		}
	}
	if len(q) > 0 {
		inPacketIDOrder(q)
		h.resumed.Store(cl.ID, q)
	}
}

// established sets the client's quota and sends its resumed queue: the first messages up to the
// quota now (marked DUP when they had been sent before [MQTT-3.3.1-1]), the rest queued.
func (h *hooks) established(cl *mqtt.Client) {
	limit := h.sendLimit(cl)
	cl.State.Inflight.ResetSendQuota(limit)
	v, ok := h.resumed.LoadAndDelete(cl.ID)
	if !ok {
		return
	}
	sent := int32(0)
	for _, pk := range v.([]packets.Packet) {
		if pk.Expiry >= 0 {
			pk.FixedHeader.Dup = true // it went out before the session dropped
		}
		if sent < limit {
			sent++
			h.send(cl, pk, true)
			continue
		}
		pk.Expiry = -1 // queued: released by acknowledgements
		cl.State.Inflight.Set(pk)
	}
}

// Full session queues.
//
// A session holds at most mqtt.max_queued_messages QoS 1/2 messages (in flight and queued);
// mochi drops the next one silently. wedge tracks the sessions at that bound and, before a
// QoS 1/2 publish is routed, holds the publisher (before its PUBACK: TCP back-pressure) while a
// connected subscriber of that topic is full, up to mqtt.backpressure_timeout. Offline sessions
// cannot drain, and a subscriber still full at the timeout is given up on: those drops are
// counted per client (mqueue_dropped in the API) and in total.

// OnQosPublish notes a session that reached its queue bound.
func (h *hooks) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if pk.FixedHeader.Type == packets.Publish && cl.State.Inflight.Len() >= int(h.b.cfg().MaxQueuedMessages) {
		if _, loaded := h.full.LoadOrStore(cl.ID, cl); !loaded {
			h.fullCount.Add(1)
		}
	}
}

// OnQosDropped (an expired or refused message left the queue) may free a full session.
func (h *hooks) OnQosDropped(cl *mqtt.Client, _ packets.Packet) { h.unfull(cl) }

func (h *hooks) unfull(cl *mqtt.Client) {
	if h.fullCount.Load() == 0 {
		return
	}
	if cl.State.Inflight.Len() < int(h.b.cfg().MaxQueuedMessages) {
		if _, ok := h.full.LoadAndDelete(cl.ID); ok {
			h.fullCount.Add(-1)
		}
	}
}

// holdForFullQueues runs on the publisher's goroutine before a QoS 1/2 message is routed.
func (h *hooks) holdForFullQueues(pub *mqtt.Client, topic string) {
	max := int(h.b.cfg().MaxQueuedMessages)
	timeout := h.b.cfg().BackpressureTimeout
	h.full.Range(func(_, v any) bool {
		sub := v.(*mqtt.Client)
		if sub == pub || sub.ID == pub.ID {
			return true // a client cannot drain its own queue while we hold its read loop
		}
		if _, _, _, ok := subscriptionFor(sub, topic); !ok {
			return true
		}
		deadline := time.Now().Add(timeout)
		for !sub.Closed() && sub.State.Inflight.Len() >= max && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if sub.State.Inflight.Len() >= max {
			h.countQueueDrop(sub.ID)
		} else {
			h.unfull(sub)
		}
		return true
	})
}

func (h *hooks) countQueueDrop(id string) {
	v, _ := h.queueDrops.LoadOrStore(id, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// queueDropped returns how many QoS 1/2 messages a session lost at its queue bound.
func (h *hooks) queueDropped(id string) int64 {
	if v, ok := h.queueDrops.Load(id); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}
