package broker

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wedge-iot/wedge/appliance/metrics"
)

// Stats is a snapshot of the broker's gauges and counters, in EMQX's /stats and /metrics
// vocabulary where EMQX has a name for the figure.
type Stats struct {
	Connections        int64 `json:"connections.count"`
	ConnectionsMax     int64 `json:"connections.max"`
	Sessions           int64 `json:"sessions.count"`
	Subscriptions      int64 `json:"subscriptions.count"`
	Retained           int64 `json:"retained.count"`
	Inflight           int64 `json:"inflight.count"`
	BytesReceived      int64 `json:"bytes.received"`
	BytesSent          int64 `json:"bytes.sent"`
	PacketsReceived    int64 `json:"packets.received"`
	PacketsSent        int64 `json:"packets.sent"`
	MessagesReceived   int64 `json:"messages.received"`
	MessagesSent       int64 `json:"messages.sent"`
	MessagesDropped    int64 `json:"messages.dropped"`
	QoS0Dropped        int64 `json:"messages.qos0.dropped"`
	QueueDropped       int64 `json:"messages.queue.dropped"`
	QoSHeld            int64 `json:"messages.qos_backpressure"`
	Accepted           int64 `json:"client.accepted"`
	AuthDenied         int64 `json:"client.auth.failure"`
	ACLDenied          int64 `json:"client.acl.deny"`
	Malformed          int64 `json:"packets.malformed"`
	Oversize           int64 `json:"packets.oversize"`
	ReceiveMaxExceeded int64 `json:"packets.receive_maximum_exceeded"`
	TLSDepthRefused    int64 `json:"client.tls.depth_refused"`
	HoldFailed         int64 `json:"messages.hold_failed"`
}

// Stats returns a snapshot of the broker's figures.
func (b *Broker) Stats() Stats {
	in := b.srv.Info
	c := &b.counters
	q0, inflDrop := c.QoS0Dropped.Load(), atomic.LoadInt64(&in.InflightDropped)
	return Stats{
		Connections:        atomic.LoadInt64(&in.ClientsConnected),
		ConnectionsMax:     atomic.LoadInt64(&in.ClientsMaximum),
		Sessions:           int64(b.srv.Clients.Len()) - 1, // less the inline client
		Subscriptions:      atomic.LoadInt64(&in.Subscriptions),
		Retained:           atomic.LoadInt64(&in.Retained),
		Inflight:           atomic.LoadInt64(&in.Inflight),
		BytesReceived:      atomic.LoadInt64(&in.BytesReceived),
		BytesSent:          atomic.LoadInt64(&in.BytesSent),
		PacketsReceived:    atomic.LoadInt64(&in.PacketsReceived),
		PacketsSent:        atomic.LoadInt64(&in.PacketsSent) - c.LateQoS0Dropped.Load(),
		MessagesReceived:   atomic.LoadInt64(&in.MessagesReceived),
		MessagesSent:       atomic.LoadInt64(&in.MessagesSent) - c.LateQoS0Dropped.Load(),
		MessagesDropped:    q0 + inflDrop,
		QoS0Dropped:        q0,
		QueueDropped:       inflDrop,
		QoSHeld:            c.QoSDirect.Load(),
		Accepted:           c.Accepted.Load(),
		AuthDenied:         c.AuthDenied.Load(),
		ACLDenied:          c.ACLDenied.Load(),
		Malformed:          c.Malformed.Load(),
		Oversize:           c.Oversize.Load(),
		ReceiveMaxExceeded: c.ReceiveMaxExceeded.Load(),
		TLSDepthRefused:    c.TLSDepthRefused.Load(),
		HoldFailed:         c.HoldFailed.Load(),
	}
}

// Collector returns a Prometheus collector reading the broker's figures at scrape time.
func (b *Broker) Collector() prometheus.Collector {
	defs := make([]metrics.Def, len(metricDefs))
	for i, d := range metricDefs {
		defs[i] = metrics.Def{Name: d.name, Help: d.help, Gauge: d.gauge}
	}
	return metrics.Collector(defs, func() []int64 {
		s := b.Stats()
		vals := make([]int64, len(metricDefs))
		for i, d := range metricDefs {
			vals[i] = d.get(&s)
		}
		return vals
	})
}

type metricDef struct {
	name, help string
	gauge      bool
	get        func(*Stats) int64
}

var metricDefs = []metricDef{
	{"wedge_mqtt_connections", "Connected MQTT clients.", true, func(s *Stats) int64 { return s.Connections }},
	{"wedge_mqtt_sessions", "MQTT sessions, connected or not.", true, func(s *Stats) int64 { return s.Sessions }},
	{"wedge_mqtt_subscriptions", "Active subscriptions.", true, func(s *Stats) int64 { return s.Subscriptions }},
	{"wedge_mqtt_retained_messages", "Retained messages.", true, func(s *Stats) int64 { return s.Retained }},
	{"wedge_mqtt_inflight_messages", "QoS 1/2 messages in flight or queued for sessions.", true, func(s *Stats) int64 { return s.Inflight }},
	{"wedge_mqtt_bytes_received_total", "Bytes received from clients.", false, func(s *Stats) int64 { return s.BytesReceived }},
	{"wedge_mqtt_bytes_sent_total", "Bytes sent to clients.", false, func(s *Stats) int64 { return s.BytesSent }},
	{"wedge_mqtt_messages_received_total", "PUBLISH packets received.", false, func(s *Stats) int64 { return s.MessagesReceived }},
	{"wedge_mqtt_messages_sent_total", "PUBLISH packets sent.", false, func(s *Stats) int64 { return s.MessagesSent }},
	{"wedge_mqtt_qos0_dropped_total", "QoS 0 messages dropped at a full write queue.", false, func(s *Stats) int64 { return s.QoS0Dropped }},
	{"wedge_mqtt_queue_dropped_total", "QoS 1/2 messages dropped because a session queue was full (max_queued_messages).", false, func(s *Stats) int64 { return s.QueueDropped }},
	{"wedge_mqtt_qos_backpressure_total", "QoS 1/2 deliveries that held the publisher at a full write queue.", false, func(s *Stats) int64 { return s.QoSHeld }},
	{"wedge_mqtt_connections_accepted_total", "Connections accepted by the listeners.", false, func(s *Stats) int64 { return s.Accepted }},
	{"wedge_mqtt_auth_denied_total", "Logins refused.", false, func(s *Stats) int64 { return s.AuthDenied }},
	{"wedge_mqtt_acl_denied_total", "Publishes and subscriptions refused by ACL.", false, func(s *Stats) int64 { return s.ACLDenied }},
	{"wedge_mqtt_malformed_packets_total", "Connections closed for a malformed packet.", false, func(s *Stats) int64 { return s.Malformed }},
	{"wedge_mqtt_oversize_packets_total", "Connections closed for a packet over max_packet_size.", false, func(s *Stats) int64 { return s.Oversize }},
	{"wedge_mqtt_receive_maximum_exceeded_total", "Connections closed for exceeding the receive maximum.", false, func(s *Stats) int64 { return s.ReceiveMaxExceeded }},
	{"wedge_mqtt_tls_depth_refused_total", "TLS clients refused for a chain deeper than verify_depth.", false, func(s *Stats) int64 { return s.TLSDepthRefused }},
	{"wedge_mqtt_hold_failed_total", "Publishes refused because durable work failed.", false, func(s *Stats) int64 { return s.HoldFailed }},
}
