package engine

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"strconv"
	"time"

	"github.com/wedge-iot/wedge/rules"
)

// Event names (the event column, spec §14) of the events the broker feeds.
const (
	EventClientConnected     = "client.connected"
	EventClientDisconnected  = "client.disconnected"
	EventSessionSubscribed   = "session.subscribed"
	EventSessionUnsubscribed = "session.unsubscribed"
	EventMessageDelivered    = "message.delivered"
	EventMessageAcked        = "message.acked"
	EventMessageDropped      = "message.dropped"
)

// Event is a client, session or message event as the engine sees it. Which
// fields count depends on Name (see spec §6); the wiring fills what the
// broker knows.
type Event struct {
	// Name is the event column value: EventClientConnected, ...
	Name           string
	ClientID       string
	Username       string
	PeerHost       string
	PeerPort       int
	SockName       string // the listener's address, "ip:port", when known
	Protocol       string // mqtt, coap, lwm2m
	ProtoVer       byte
	Time           time.Time
	Reason         string // disconnect or drop reason
	Topic          string // subscription filter, or the message's topic
	QoS            byte
	Payload        []byte
	Retain         bool
	Keepalive      uint16
	CleanStart     bool
	ExpiryInterval uint32
	// FromClientID and FromUsername name a delivered or acked message's
	// publisher, when known.
	FromClientID, FromUsername string
	MessageID                  uint64
	Properties                 []Property
}

func (e *Engine) msgID(id uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return e.idPfx + hex.EncodeToString(b[:])
}

// Shared column values: the evaluator never modifies its input, and actions
// get the columns read-only, so the common values are made once.
var (
	noProps = map[string]rules.Value{}
	flagMap = [2][2]map[string]rules.Value{
		{{"retain": false, "dup": false}, {"retain": false, "dup": true}},
		{{"retain": true, "dup": false}, {"retain": true, "dup": true}},
	}
)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func userProps(ps []Property) map[string]rules.Value {
	if len(ps) == 0 {
		return noProps
	}
	out := map[string]rules.Value{}
	up := make(map[string]rules.Value, len(ps))
	for _, p := range ps {
		up[p.Key] = p.Value
	}
	out["User-Property"] = up
	return out
}

func protoName(protocol string, ver byte) string {
	if protocol != "" && protocol != "mqtt" {
		return protocol
	}
	return "MQTT"
}

func putStr(c rules.Columns, k, v string) {
	if v != "" {
		c[k] = v
	}
}

// messageColumns are a publish's input columns (spec §6).
func (e *Engine) messageColumns(m *Message) rules.Columns {
	ts := m.Received
	if ts.IsZero() {
		ts = time.Now()
	}
	ms := ts.UnixMilli()
	c := make(rules.Columns, 18)
	c["event"] = rules.EventPublish
	c["id"] = e.msgID(m.ID)
	c["clientid"] = m.ClientID
	putStr(c, "username", m.Username)
	c["payload"] = string(m.Payload)
	putStr(c, "peerhost", m.PeerHost)
	c["topic"] = m.Topic
	c["qos"] = int64(m.QoS)
	c["flags"] = flagMap[b2i(m.Retain)][b2i(m.Dup)]
	h := map[string]rules.Value{"protocol": protoName(m.Protocol, m.ProtoVer), "proto_ver": int64(m.ProtoVer)}
	if m.PeerHost != "" {
		h["peerhost"] = m.PeerHost
	}
	if m.Username != "" {
		h["username"] = m.Username
	}
	c["headers"] = h
	c["pub_props"] = userProps(m.Properties)
	c["timestamp"] = ms
	c["publish_received_at"] = ms
	c["node"] = e.nodeVal
	return c
}

// eventColumns are an event's input columns (spec §6).
func (e *Engine) eventColumns(ev *Event) rules.Columns {
	ts := ev.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	ms := ts.UnixMilli()
	c := make(rules.Columns, 20)
	c["event"] = ev.Name
	c["timestamp"] = ms
	c["node"] = e.nodeVal
	c["clientid"] = ev.ClientID
	putStr(c, "username", ev.Username)
	peername := ""
	if ev.PeerHost != "" {
		peername = net.JoinHostPort(ev.PeerHost, strconv.Itoa(ev.PeerPort))
	}
	switch ev.Name {
	case EventClientConnected:
		putStr(c, "peername", peername)
		putStr(c, "sockname", ev.SockName)
		c["proto_name"] = protoName(ev.Protocol, ev.ProtoVer)
		c["proto_ver"] = int64(ev.ProtoVer)
		c["keepalive"] = int64(ev.Keepalive)
		c["clean_start"] = ev.CleanStart
		c["expiry_interval"] = int64(ev.ExpiryInterval)
		c["is_bridge"] = false
		c["conn_props"] = userProps(ev.Properties)
		c["connected_at"] = ms
	case EventClientDisconnected:
		c["reason"] = ev.Reason
		putStr(c, "peername", peername)
		putStr(c, "sockname", ev.SockName)
		c["disconn_props"] = userProps(ev.Properties)
		c["disconnected_at"] = ms
	case EventSessionSubscribed, EventSessionUnsubscribed:
		putStr(c, "peerhost", ev.PeerHost)
		c["topic"] = ev.Topic
		c["qos"] = int64(ev.QoS)
		if ev.Name == EventSessionSubscribed {
			c["sub_props"] = userProps(ev.Properties)
		} else {
			c["unsub_props"] = userProps(ev.Properties)
		}
	case EventMessageDelivered, EventMessageAcked, EventMessageDropped:
		c["id"] = e.msgID(ev.MessageID)
		if ev.Name != EventMessageDropped {
			putStr(c, "from_clientid", ev.FromClientID)
			putStr(c, "from_username", ev.FromUsername)
		}
		c["payload"] = string(ev.Payload)
		putStr(c, "peerhost", ev.PeerHost)
		putStr(c, "topic", ev.Topic)
		c["qos"] = int64(ev.QoS)
		c["flags"] = flagMap[b2i(ev.Retain)][0]
		c["headers"] = noProps
		c["pub_props"] = userProps(ev.Properties)
		c["publish_received_at"] = ms
		switch ev.Name {
		case EventMessageAcked:
			c["puback_props"] = noProps
		case EventMessageDropped:
			c["reason"] = ev.Reason
		}
	}
	return c
}
