package broker

import (
	"sort"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ClientState is a read-only view of one MQTT client or disconnected persistent session.
type ClientState struct {
	ID             string
	Username       string
	Remote         string
	Listener       string
	ProtoVer       byte
	Connected      bool
	ConnectedAt    time.Time
	DisconnectedAt time.Time
	Keepalive      uint16
	CleanStart     bool
	ExpiryInterval uint32
	Subscriptions  int
	Inflight       int   // sent, not yet acknowledged
	Queued         int   // waiting for the quota or for the client to come back
	QueueDropped   int64 // QoS 1/2 messages lost at the queue bound
	MaxInflight    int
	MaxQueued      int
}

// Subscription is one subscription of one session.
type Subscription struct {
	ClientID string
	Filter   string // with "$share/<group>/" for shared subscriptions
	QoS      byte
}

func (b *Broker) state(cl *mqtt.Client) ClientState {
	cs := ClientState{
		ID:             cl.ID,
		Username:       string(cl.Properties.Username),
		Remote:         cl.Net.Remote,
		Listener:       cl.Net.Listener,
		ProtoVer:       cl.Properties.ProtocolVersion,
		Connected:      !cl.Closed(),
		Keepalive:      cl.State.Keepalive,
		CleanStart:     cl.Properties.Clean,
		ExpiryInterval: cl.Properties.Props.SessionExpiryInterval,
		Subscriptions:  cl.State.Subscriptions.Len(),
		MaxInflight:    int(b.h.sendLimit(cl)),
		MaxQueued:      int(b.cfg().MaxQueuedMessages),
		QueueDropped:   b.h.queueDropped(cl.ID),
	}
	if v, ok := b.h.connectedAt.Load(cl.ID); ok {
		cs.ConnectedAt = v.(time.Time)
	}
	if !cs.Connected {
		if st := cl.StopTime(); st > 0 {
			cs.DisconnectedAt = time.Unix(st, 0)
		}
	}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		if pk.Expiry < 0 || !cs.Connected {
			cs.Queued++
		} else {
			cs.Inflight++
		}
	}
	return cs
}

// Clients returns every client and disconnected persistent session, sorted by id.
func (b *Broker) Clients() []ClientState {
	all := b.srv.Clients.GetAll()
	out := make([]ClientState, 0, len(all))
	for _, cl := range all {
		if cl.Net.Inline {
			continue
		}
		out = append(out, b.state(cl))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Client returns one client by id.
func (b *Broker) Client(id string) (ClientState, bool) {
	cl, ok := b.srv.Clients.Get(id)
	if !ok || cl.Net.Inline {
		return ClientState{}, false
	}
	return b.state(cl), true
}

// Kick disconnects a client (DISCONNECT 0x98 Administrative action for MQTT 5) and discards its
// session, as EMQX's DELETE /clients/{id} does. It reports whether the client was known.
func (b *Broker) Kick(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	if !ok || cl.Net.Inline {
		return false
	}
	if !cl.Closed() {
		_ = b.srv.DisconnectClient(cl, packets.ErrAdministrativeAction)
	}
	b.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
	b.srv.Clients.Delete(id)
	b.h.forget(id)
	for _, hk := range b.extra {
		if hk.Provides(mqtt.OnClientExpired) {
			hk.OnClientExpired(cl) // the storage hook forgets the session
		}
	}
	return true
}

// Subscriptions returns every subscription of every session, sorted by client and filter.
func (b *Broker) Subscriptions() []Subscription {
	var out []Subscription
	for _, cl := range b.srv.Clients.GetAll() {
		for filter, sub := range cl.State.Subscriptions.GetAll() {
			out = append(out, Subscription{ClientID: cl.ID, Filter: filter, QoS: sub.Qos})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ClientID != out[j].ClientID {
			return out[i].ClientID < out[j].ClientID
		}
		return out[i].Filter < out[j].Filter
	})
	return out
}

// Routes returns the topic filters with at least one subscriber (shared ones without their
// "$share/<group>/" prefix, as EMQX's routes), sorted.
func (b *Broker) Routes() []string {
	seen := map[string]struct{}{}
	for _, s := range b.Subscriptions() {
		seen[stripShare(s.Filter)] = struct{}{}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// ProtoName returns the MQTT protocol name for a protocol version.
func ProtoName(ver byte) string {
	if ver == 3 {
		return "MQIsdp"
	}
	return "MQTT"
}

// IsShared reports whether a filter is a shared subscription.
func IsShared(filter string) bool { return strings.HasPrefix(filter, "$share/") }
