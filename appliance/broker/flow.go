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
// mqtt.max_queued_messages and persisted by the storage hook) and go out in the order they
// were queued [MQTT-4.6.0-6].
//
// mochi has the quota, but it decides on each publisher's goroutine whether a message goes out
// or waits, so a message can overtake the ones waiting; after every packet a client sends it
// releases one waiting message itself, in an order that is arbitrary within a second, and then
// forgets it (never retried); and a resumed session gets its whole queue at once. wedge keeps
// mochi's accounting but takes every unit of quota out of mochi's hands as a credit (mochi's
// quota stays at zero, so every QoS 1/2 message waits and mochi's own release never fires), and
// sends the waiting messages itself, one per credit, oldest first: on each acknowledgement, as
// soon as a message is queued while there is credit, and from a sweeper as a safety net. The
// client's acknowledgements are completed by wedge too (OnPacketRead), because mochi's own
// handling hands a unit of quota back to mochi for an instant.

// sendLimit is the number of unacknowledged QoS 1/2 messages wedge allows at a client.
func (h *hooks) sendLimit(cl *mqtt.Client) int32 {
	limit := int32(h.b.cfg().MaxInflight)
	if rm := int32(cl.Properties.Props.ReceiveMaximum); cl.Properties.ProtocolVersion == 5 && rm > 0 && rm < limit {
		limit = rm
	}
	return limit
}

// flowState is wedge's side of one connection's send quota.
type flowState struct {
	mu      sync.Mutex
	cl      *mqtt.Client
	credit  int32                      // units taken out of mochi's quota, not yet spent
	fifo    []uint16                   // packet ids waiting, in the order they were queued
	running bool                       // the connection's sender goroutine is live
	swept   bool                       // in h.credited: the sweeper comes back for it
	info    atomic.Pointer[ClientInfo] // clientInfo's result, built once
	wake    chan struct{}
	out     []packets.Packet // the sender's batch, reused between rounds
	// qos2 holds, while events are listened to, the QoS 2 messages between PUBREC and PUBCOMP,
	// for the message_acked event (a PUBCOMP carries neither topic nor publisher).
	qos2 map[uint16]packets.Packet
}

// senderIdle is how long a connection's sender goroutine waits for work before it ends (an
// idle connection costs no goroutine of wedge's).
const senderIdle = 2 * time.Second

// sweepInterval bounds how long a queued message can wait while wedge holds credit for it
// (a release normally happens within microseconds; the sweeper covers the rare race).
const sweepInterval = 20 * time.Millisecond

func (h *hooks) flow(cl *mqtt.Client) *flowState {
	if v, ok := h.flows.Load(cl); ok {
		return v.(*flowState)
	}
	v, _ := h.flows.LoadOrStore(cl, &flowState{cl: cl, wake: make(chan struct{}, 1)})
	return v.(*flowState)
}

// kick makes the connection's sender run: it starts one or wakes the live one. All of a
// connection's releases happen on that one goroutine, which keeps them in order and lets
// their writes share system calls.
func (h *hooks) kick(st *flowState) {
	st.mu.Lock()
	if !st.running {
		st.running = true
		st.mu.Unlock()
		go h.sender(st)
		return
	}
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default: // already woken
	}
}

// sender releases a connection's waiting messages while there is credit, coalescing the
// writes of each round into one, and ends after senderIdle without work.
func (h *hooks) sender(st *flowState) {
	cc, _ := st.cl.Net.Conn.(*clientConn)
	idle := time.NewTimer(senderIdle)
	defer idle.Stop()
	for {
		if cc != nil {
			cc.hold()
		}
		h.spend(st)
		if cc != nil {
			cc.release()
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(senderIdle)
		select {
		case <-st.wake:
			continue
		case <-idle.C:
		}
		st.mu.Lock()
		if len(st.wake) == 0 {
			st.running = false
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
	}
}

// queued notes a message mochi has just put in the session's queue (OnQosPublish); when there
// is credit a release goroutine sends it (mochi marks it waiting right after this hook).
func (h *hooks) queued(cl *mqtt.Client, id uint16) {
	st := h.flow(cl)
	st.mu.Lock()
	st.fifo = append(st.fifo, id)
	kick := st.credit > 0
	st.mu.Unlock()
	if kick {
		h.kick(st)
	}
}

// OnQosComplete is left with what mochi still completes itself: the acknowledgements wedge
// builds for inbound publishes (they carry a creation time and are skipped), and a client's
// PUBREL (inbound QoS 2), which makes mochi add a send unit it should not: it is taken back.
// A client's PUBACK and PUBCOMP for wedge's messages are completed in OnPacketRead.
func (h *hooks) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	switch {
	case pk.Created != 0:
	case pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubcomp:
		cl.State.Inflight.DecreaseSendQuota() // not expected: OnPacketRead completes these
		h.acked(cl, pk, packets.Packet{})
	case pk.FixedHeader.Type == packets.Pubrel:
		cl.State.Inflight.DecreaseSendQuota()
	}
	h.unfull(cl)
}

// acked takes the unit of quota a completed outbound message frees as a credit, and reports
// the message_acked event of orig, the message pk acknowledges (when it is known).
func (h *hooks) acked(cl *mqtt.Client, pk, orig packets.Packet) {
	st := h.flow(cl)
	st.mu.Lock()
	st.credit++
	st.mu.Unlock()
	if h.listening() {
		ev := Event{Type: EventMessageAcked, Client: h.clientInfo(cl), Topic: pk.TopicName}
		if orig.PacketID == pk.PacketID && orig.FixedHeader.Type == packets.Publish {
			ev.Topic, ev.QoS, ev.Payload, ev.From = orig.TopicName, orig.FixedHeader.Qos, orig.Payload, orig.Origin
		}
		h.emit(ev)
	}
}

// OnPacketRead completes a client's PUBACK or PUBCOMP itself, before mochi sees it, and hands
// mochi an acknowledgement of packet id 0, which it ignores. mochi's own processing gives the
// send quota back and only then calls OnQosComplete, where wedge would take it again: a message
// routed to the client from another goroutine in between saw the quota and went out at once,
// ahead of the messages waiting in the queue [MQTT-4.6.0-6], and past the client's receive
// maximum. Here the quota is never given back to mochi. What mochi does besides is done the
// same way: the in-flight message is deleted, the broker's in-flight count lowered, and the
// storage hook's OnQosComplete called.
//
// For a PUBREC it saves, while events are listened to, the QoS 2 message the PUBCOMP will
// complete (mochi replaces it with the PUBREL in the in-flight store).
func (h *hooks) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	t := pk.FixedHeader.Type
	switch t {
	case packets.Puback, packets.Pubcomp:
		if t == packets.Pubcomp {
			cl.State.Inflight.IncreaseReceiveQuota() // as mochi does for every PUBCOMP
		}
		var orig packets.Packet
		listening := h.listening()
		if listening {
			orig, _ = cl.State.Inflight.Get(pk.PacketID)
		}
		if cl.State.Inflight.Delete(pk.PacketID) { // [MQTT-4.3.2-5] [MQTT-4.3.3-12]
			atomic.AddInt64(&h.b.srv.Info.Inflight, -1)
			if listening && t == packets.Pubcomp {
				st := h.flow(cl)
				st.mu.Lock()
				orig = st.qos2[pk.PacketID]
				delete(st.qos2, pk.PacketID)
				st.mu.Unlock()
			}
			for _, hk := range h.b.extra {
				if hk.Provides(mqtt.OnQosComplete) {
					hk.OnQosComplete(cl, pk)
				}
			}
			h.acked(cl, pk, orig)
			h.unfull(cl)
		}
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: pk.ProtocolVersion}, nil
	case packets.Pubrec:
		if !h.listening() {
			return pk, nil
		}
		if orig, ok := cl.State.Inflight.Get(pk.PacketID); ok && orig.FixedHeader.Type == packets.Publish {
			st := h.flow(cl)
			st.mu.Lock()
			if st.qos2 == nil {
				st.qos2 = make(map[uint16]packets.Packet)
			}
			st.qos2[pk.PacketID] = orig
			st.mu.Unlock()
		}
	}
	return pk, nil
}

// OnPacketProcessed wakes the sender after mochi handled an acknowledgement.
func (h *hooks) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if t := pk.FixedHeader.Type; t != packets.Puback && t != packets.Pubcomp {
		return
	}
	if v, ok := h.flows.Load(cl); ok {
		st := v.(*flowState)
		st.mu.Lock()
		work := st.credit > 0 && len(st.fifo) > 0
		st.mu.Unlock()
		if work {
			h.kick(st)
		}
	}
}

// spend sends waiting messages, oldest first, one per credit; only the connection's sender
// calls it. A message mochi has not yet marked as waiting stops the round; the sweeper
// comes back for it.
func (h *hooks) spend(st *flowState) {
	out := st.out[:0]
	st.mu.Lock()
	for st.credit > 0 && len(st.fifo) > 0 {
		pk, ok := st.cl.State.Inflight.Get(st.fifo[0])
		if ok && pk.FixedHeader.Type == packets.Publish && pk.Expiry >= 0 {
			break // not yet marked waiting by mochi
		}
		st.fifo = st.fifo[1:]
		if !ok || pk.FixedHeader.Type != packets.Publish {
			continue // expired, dropped or resumed elsewhere
		}
		exp := h.expiryOf(pk)
		if exp > 0 && exp < time.Now().Unix() {
			h.dropExpired(st.cl, pk) // [MQTT-3.3.2-5]
			continue
		}
		st.credit--
		pk.Expiry = exp
		st.cl.State.Inflight.Set(pk) // in flight now: retried on reconnect
		out = append(out, pk)
	}
	if len(st.fifo) == 0 {
		st.fifo = nil // let the backing array go
	}
	if st.credit > 0 && len(st.fifo) > 0 {
		if !st.swept {
			h.credited.Store(st, struct{}{})
			st.swept = true
		}
	} else if st.swept {
		h.credited.Delete(st)
		st.swept = false
	}
	st.mu.Unlock()
	for i := range out {
		_ = st.cl.WritePacket(out[i])
		out[i] = packets.Packet{} // drop the payload reference
	}
	if cap(out) <= 64 {
		st.out = out[:0]
	} else {
		st.out = nil // a burst's batch is not kept by an idle connection
	}
}

// sweep retries the connections whose next message was not yet marked waiting.
func (h *hooks) sweep() {
	h.credited.Range(func(k, _ any) bool {
		st := k.(*flowState)
		if st.cl.Closed() {
			h.credited.Delete(st)
			return true
		}
		h.kick(st)
		return true
	})
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

// dropExpired removes a queued message whose expiry has passed, and tells the storage hook.
func (h *hooks) dropExpired(cl *mqtt.Client, pk packets.Packet) {
	cl.State.Inflight.Delete(pk.PacketID)
	for _, hk := range h.b.extra {
		if hk.Provides(mqtt.OnQosDropped) {
			hk.OnQosDropped(cl, pk)
		}
	}
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

// resume runs when a session is taken up again (OnSessionEstablish): the stored queue is taken
// out of mochi's hands so that mochi's resend does not flood the client; established (after
// CONNACK) sends it back in order within the quota.
func (h *hooks) resume(cl *mqtt.Client) {
	old, ok := h.b.srv.Clients.Get(cl.ID)
	if !ok || old == cl || old.State.Inflight.Len() == 0 {
		return
	}
	now := time.Now().Unix()
	var q []packets.Packet
	for _, pk := range old.State.Inflight.GetAll(false) {
		if exp := h.expiryOf(pk); pk.FixedHeader.Type == packets.Publish && exp > 0 && exp < now {
			h.dropExpired(old, pk) // [MQTT-3.3.2-5]
			continue
		}
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

// established gives the connection its quota, all of it as wedge's credit, and queues the
// resumed session's messages in order (DUP set on those sent before [MQTT-3.3.1-1]); the
// first ones go out at once.
func (h *hooks) established(cl *mqtt.Client) {
	if cc, ok := cl.Net.Conn.(*clientConn); ok {
		cc.setDropSink(connDrops{h, cl})
	}
	limit := h.sendLimit(cl)
	cl.State.Inflight.ResetSendQuota(limit)
	for i := int32(0); i < limit; i++ {
		cl.State.Inflight.DecreaseSendQuota()
	}
	st := h.flow(cl)
	st.mu.Lock()
	st.credit = limit
	if v, ok := h.resumed.LoadAndDelete(cl.ID); ok {
		for _, pk := range v.([]packets.Packet) {
			if pk.Expiry >= 0 {
				pk.FixedHeader.Dup = true // it went out before the session dropped
			}
			pk.Expiry = -1
			cl.State.Inflight.Set(pk)
			st.fifo = append(st.fifo, pk.PacketID)
		}
	}
	resumed := len(st.fifo) > 0
	st.mu.Unlock()
	if resumed {
		h.kick(st)
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

// highWater is where a session counts as full: a tenth below the bound, so that publishers
// already past the check when it fills cannot push it over.
func highWater(max int) int { return max - max/10 }

// OnQosPublish queues the message for sending and notes a session that reached its high
// water mark.
func (h *hooks) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if pk.FixedHeader.Type != packets.Publish {
		return
	}
	if !cl.Closed() {
		h.queued(cl, pk.PacketID)
	}
	if cl.State.Inflight.Len() >= highWater(int(h.b.cfg().MaxQueuedMessages)) {
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
	if cl.State.Inflight.Len() < highWater(int(h.b.cfg().MaxQueuedMessages)) {
		if _, ok := h.full.LoadAndDelete(cl.ID); ok {
			h.fullCount.Add(-1)
		}
	}
}

// holdForFullQueues runs on the publisher's goroutine before a QoS 1/2 message is routed.
func (h *hooks) holdForFullQueues(pub *mqtt.Client, topic string) {
	max := int(h.b.cfg().MaxQueuedMessages)
	high := highWater(max)
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
		for !sub.Closed() && sub.State.Inflight.Len() >= high && time.Now().Before(deadline) {
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

// connDrops reports the QoS 0 messages a connection's write buffer dropped as message_dropped
// events (reason queue_full), like those dropped at mochi's channel (OnPublishDropped). The
// publisher is not known there: the event's From is empty.
type connDrops struct {
	h  *hooks
	cl *mqtt.Client
}

func (d connDrops) wantDrops() bool { return d.h.listening() }

func (d connDrops) dropped(pkts [][]byte) {
	for _, pkt := range pkts {
		topic, _, payload, ok := scanPublish(pkt, d.cl.Properties.ProtocolVersion == 5)
		if !ok {
			continue
		}
		d.h.emit(Event{Type: EventMessageDropped, Client: d.h.clientInfo(d.cl), Topic: string(topic), Payload: payload, Reason: "queue_full"})
	}
}
