package appliance

import (
	"context"
	"errors"
	"iter"
	"net"
	"strconv"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/appliance/broker"
)

// brokerView shows the broker to the REST API in EMQX 4's shapes.
type brokerView struct {
	b    *broker.Broker
	node string
}

var _ api.Broker = (*brokerView)(nil)

func (v *brokerView) info(cs broker.ClientState) api.ClientInfo {
	host, port, _ := net.SplitHostPort(cs.Remote)
	p, _ := strconv.Atoi(port)
	ci := api.ClientInfo{
		Node:             v.node,
		ClientID:         cs.ID,
		Username:         cs.Username,
		ProtoName:        broker.ProtoName(cs.ProtoVer),
		ProtoVer:         int(cs.ProtoVer),
		IPAddress:        host,
		Port:             p,
		Connected:        cs.Connected,
		ConnectedAt:      api.Timestamp{Time: cs.ConnectedAt},
		CreatedAt:        api.Timestamp{Time: cs.ConnectedAt},
		DisconnectedAt:   api.Timestamp{Time: cs.DisconnectedAt},
		Zone:             "external",
		Keepalive:        int(cs.Keepalive),
		CleanStart:       cs.CleanStart,
		ExpiryInterval:   int64(cs.ExpiryInterval),
		SubscriptionsCnt: cs.Subscriptions,
		Inflight:         cs.Inflight,
		MaxInflight:      cs.MaxInflight,
		MqueueLen:        cs.Queued,
		MaxMqueue:        cs.MaxQueued,
		MqueueDropped:    cs.QueueDropped,
	}
	return ci
}

func (v *brokerView) Clients() iter.Seq[api.ClientInfo] {
	return func(yield func(api.ClientInfo) bool) {
		for _, cs := range v.b.Clients() {
			if !yield(v.info(cs)) {
				return
			}
		}
	}
}

func (v *brokerView) Client(id string) (api.ClientInfo, bool) {
	cs, ok := v.b.Client(id)
	if !ok {
		return api.ClientInfo{}, false
	}
	return v.info(cs), true
}

func (v *brokerView) Kick(id string) bool { return v.b.Kick(id) }

func (v *brokerView) Subscriptions() iter.Seq[api.SubscriptionInfo] {
	return func(yield func(api.SubscriptionInfo) bool) {
		for _, s := range v.b.Subscriptions() {
			if !yield(api.SubscriptionInfo{Node: v.node, ClientID: s.ClientID, Topic: s.Filter, QoS: int(s.QoS)}) {
				return
			}
		}
	}
}

func (v *brokerView) Routes() iter.Seq[api.RouteInfo] {
	return func(yield func(api.RouteInfo) bool) {
		for _, r := range v.b.Routes() {
			if !yield(api.RouteInfo{Topic: r, Node: v.node}) {
				return
			}
		}
	}
}

func (v *brokerView) Stats() map[string]int64 {
	s := v.b.Stats()
	shared, subs := int64(0), v.b.Subscriptions()
	for _, sub := range subs {
		if broker.IsShared(sub.Filter) {
			shared++
		}
	}
	routes := int64(len(v.b.Routes()))
	return map[string]int64{
		"connections.count":          s.Connections,
		"connections.max":            s.ConnectionsMax,
		"sessions.count":             s.Sessions,
		"subscriptions.count":        int64(len(subs)),
		"subscriptions.shared.count": shared,
		"topics.count":               routes,
		"routes.count":               routes,
		"retained.count":             s.Retained,
		"inflight.count":             s.Inflight,
	}
}

func (v *brokerView) Metrics() map[string]int64 {
	s := v.b.Stats()
	return map[string]int64{
		"bytes.received":                   s.BytesReceived,
		"bytes.sent":                       s.BytesSent,
		"packets.received":                 s.PacketsReceived,
		"packets.sent":                     s.PacketsSent,
		"packets.malformed":                s.Malformed,
		"packets.oversize":                 s.Oversize,
		"packets.receive_maximum_exceeded": s.ReceiveMaxExceeded,
		"messages.received":                s.MessagesReceived,
		"messages.sent":                    s.MessagesSent,
		"messages.dropped":                 s.MessagesDropped,
		"messages.qos0.dropped":            s.QoS0Dropped,
		"messages.queue.dropped":           s.QueueDropped,
		"messages.qos_backpressure":        s.QoSHeld,
		"messages.hold_failed":             s.HoldFailed,
		"client.accepted":                  s.Accepted,
		"client.auth.failure":              s.AuthDenied,
		"client.acl.deny":                  s.ACLDenied,
		"client.tls.depth_refused":         s.TLSDepthRefused,
	}
}

func (v *brokerView) Publish(_ context.Context, m api.Message) error {
	err := v.b.Publish(broker.PublishRequest{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, ClientID: m.ClientID})
	if errors.Is(err, broker.ErrInvalidTopic) {
		return errors.Join(api.ErrInvalidTopic, err)
	}
	return err
}
