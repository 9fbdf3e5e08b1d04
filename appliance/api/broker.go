package api

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"time"
)

// Broker is what the EMQX broker endpoints read from and act on. The broker package implements it;
// the API filters and pages on its side, so the broker only yields what it holds. Every method may
// be called concurrently with others and with the broker's own work.
type Broker interface {
	// Clients yields every MQTT client the broker knows: connected ones and disconnected
	// persistent sessions (Connected false).
	Clients() iter.Seq[ClientInfo]
	// Client returns one client by id.
	Client(clientID string) (ClientInfo, bool)
	// Kick disconnects the client and discards its session (EMQX DELETE /clients/{clientid}).
	// It reports whether the client was known.
	Kick(clientID string) bool
	// Subscriptions yields every subscription of every session (shared ones with their
	// "$share/<group>/" prefix in Topic).
	Subscriptions() iter.Seq[SubscriptionInfo]
	// Routes yields the topic filters that have at least one subscriber, each once.
	Routes() iter.Seq[RouteInfo]
	// Stats returns gauges in EMQX 4 names ("connections.count", "connections.max",
	// "sessions.count", "topics.count", "subscriptions.count", "subscriptions.shared.count",
	// "retained.count", … and their ".max").
	Stats() map[string]int64
	// Metrics returns counters in EMQX 4 names ("bytes.received", "messages.received",
	// "messages.sent", "messages.dropped", "packets.connect.received", …).
	Metrics() map[string]int64
	// Publish publishes one message as if a client had, honouring ctx for back-pressure.
	// An error wrapping ErrInvalidTopic is reported to the caller as a bad topic.
	Publish(ctx context.Context, msg Message) error
}

// ErrInvalidTopic is wrapped by Broker.Publish errors caused by the topic.
var ErrInvalidTopic = errors.New("invalid topic")

// Timestamp is a time shown as EMQX 4 does, "2006-01-02 15:04:05" in the node's local time. The
// zero value is omitted from JSON when the field is tagged omitzero.
type Timestamp struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.Local().Format(time.DateTime) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler: it reads the EMQX format (local time), RFC 3339, or
// null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return fmt.Errorf("timestamp: want a string, got %s", truncate(s, 32))
	}
	s = s[1 : len(s)-1]
	v, err := time.ParseInLocation(time.DateTime, s, time.Local)
	if err != nil {
		if v, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("timestamp: want YYYY-MM-DD HH:mm:ss, got %q", truncate(s, 32))
		}
	}
	t.Time = v
	return nil
}

// OpenAPISchema implements Schemaer.
func (Timestamp) OpenAPISchema() map[string]any {
	return map[string]any{"type": "string", "example": "2026-01-02 15:04:05", "description": "local time of the node, YYYY-MM-DD HH:mm:ss"}
}

// ClientInfo is one MQTT client in EMQX 4's shape (GET /api/v4/clients). Node is filled in by the
// API when empty.
type ClientInfo struct {
	Node             string    `json:"node"`
	ClientID         string    `json:"clientid"`
	Username         string    `json:"username"`
	ProtoName        string    `json:"proto_name" doc:"MQTT, MQIsdp, CoAP, LwM2M"`
	ProtoVer         int       `json:"proto_ver" doc:"3, 4 or 5 for MQTT"`
	IPAddress        string    `json:"ip_address"`
	Port             int       `json:"port"`
	IsBridge         bool      `json:"is_bridge"`
	Connected        bool      `json:"connected"`
	ConnectedAt      Timestamp `json:"connected_at,omitzero"`
	DisconnectedAt   Timestamp `json:"disconnected_at,omitzero" doc:"only when connected is false"`
	CreatedAt        Timestamp `json:"created_at,omitzero" doc:"when the session was created"`
	Zone             string    `json:"zone"`
	Keepalive        int       `json:"keepalive" doc:"seconds"`
	CleanStart       bool      `json:"clean_start"`
	ExpiryInterval   int64     `json:"expiry_interval" doc:"session expiry, seconds"`
	SubscriptionsCnt int       `json:"subscriptions_cnt"`
	MaxSubscriptions int       `json:"max_subscriptions" doc:"0: unlimited"`
	Inflight         int       `json:"inflight"`
	MaxInflight      int       `json:"max_inflight"`
	MqueueLen        int       `json:"mqueue_len"`
	MaxMqueue        int       `json:"max_mqueue"`
	MqueueDropped    int64     `json:"mqueue_dropped"`
	AwaitingRel      int       `json:"awaiting_rel"`
	MaxAwaitingRel   int       `json:"max_awaiting_rel"`
	RecvOct          int64     `json:"recv_oct"`
	RecvCnt          int64     `json:"recv_cnt"`
	RecvPkt          int64     `json:"recv_pkt"`
	RecvMsg          int64     `json:"recv_msg"`
	SendOct          int64     `json:"send_oct"`
	SendCnt          int64     `json:"send_cnt"`
	SendPkt          int64     `json:"send_pkt"`
	SendMsg          int64     `json:"send_msg"`
}

// SubscriptionInfo is one subscription in EMQX 4's shape (GET /api/v4/subscriptions).
type SubscriptionInfo struct {
	Node     string `json:"node"`
	ClientID string `json:"clientid"`
	Topic    string `json:"topic" doc:"the filter, with $share/<group>/ for shared subscriptions"`
	QoS      int    `json:"qos"`
}

// RouteInfo is one route in EMQX 4's shape (GET /api/v4/routes).
type RouteInfo struct {
	Topic string `json:"topic"`
	Node  string `json:"node"`
}

// Message is what Broker.Publish publishes. ClientID is the publisher's id as given to the API
// (empty: the broker chooses, e.g. its inline client's).
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retain   bool
	ClientID string
}

// ListenerInfo describes one of the daemon's listeners for GET /api/v4/status. The API adds its
// own ("http:api" or "https:api"); Options.Listeners supplies the others.
type ListenerInfo struct {
	Protocol     string `json:"protocol" doc:"mqtt:tcp, mqtt:ssl, mqtt:ws, coap:udp, lwm2m:udp, http:api, …"`
	Listen       string `json:"listen"`
	Running      bool   `json:"running"`
	CurrentConns int    `json:"current_conns"`
	MaxConns     int    `json:"max_conns" doc:"0: unlimited"`
}

// StatusInfo is wedge's own GET /api/v4/status reply.
type StatusInfo struct {
	Node          string         `json:"node"`
	Version       string         `json:"version"`
	Ready         bool           `json:"ready" doc:"what /healthz reports"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Uptime        string         `json:"uptime" doc:"e.g. 3h2m1s"`
	Listeners     []ListenerInfo `json:"listeners"`
}

func defaultNode() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return "wedge@" + h
}
