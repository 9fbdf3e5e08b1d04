package broker

import (
	"sort"
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

// release sends a queued message: it becomes in flight (it will be retried on reconnect and
// its acknowledgement frees the quota again).
func (h *hooks) release(cl *mqtt.Client, pk packets.Packet) {
	pk.Expiry = h.expiryOf(pk)
	cl.State.Inflight.Set(pk)
	cl.State.Inflight.DecreaseSendQuota()
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

// OnQosComplete releases the next queued message when a client acknowledges one of ours
// (PUBACK or PUBCOMP: the acknowledgement freed one unit of quota). Acknowledgements wedge
// itself builds for inbound publishes carry a creation time and are skipped.
func (h *hooks) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if (pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubcomp) && pk.Created == 0 {
		if cl.State.Inflight.Len() > 0 {
			if q := waiting(cl); len(q) > 0 {
				h.release(cl, q[0])
			}
		}
		h.emit(Event{Type: EventMessageAcked, Client: h.clientInfo(cl), Topic: pk.TopicName})
	}
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
			h.release(cl, pk)
			continue
		}
		pk.Expiry = -1 // queued: released by acknowledgements
		cl.State.Inflight.Set(pk)
	}
}
