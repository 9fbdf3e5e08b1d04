package engine

import (
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
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
	var b [32]byte
	n := copy(b[:], e.idPfx)
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], id)
	n += hex.Encode(b[n:], v[:])
	return string(b[:n])
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

// mqttName is the protocol name of MQTT clients, boxed once.
var mqttName rules.Value = "MQTT"

func protoName(protocol string, ver byte) rules.Value {
	if protocol != "" && protocol != "mqtt" {
		return protocol
	}
	return mqttName
}

func putStr(c rules.Columns, k, v string) {
	if v != "" {
		c[k] = v
	}
}

// columnBuf holds the map of a publish's columns. It is recycled through
// columnBufs once HandleMessage is done with it: the columns, and the outputs
// of SELECT * rules that share them, are valid only while the actions run
// (see Env). Only the top-level map is recycled, so that a shallow copy of
// Env.Selected or Env.Columns is enough to keep them.
type columnBuf struct {
	c rules.Columns
	// trig is the message's trigger, recycled with the map (cleared by
	// HandleMessage once its rules ran).
	trig trigger
	// What c holds from the last message, so that fillColumns writes only
	// what changed (nothing else writes into c but metadata, and the
	// values are never modified): the engine (event, node), the client's
	// columns, the flags, qos and timestamps, whether pub_props is empty
	// and whether metadata is there. The zero value knows nothing.
	eng     *Engine
	cl      *clientCols
	flags   int // 1 + 2×retain + dup, 0 for none
	qos     int // 1 + qos, 0 for none
	ms      int64
	msSet   bool
	noProps bool
	meta    bool // set by HandleMessage: its first rule wrote metadata into c
}

var columnBufs = sync.Pool{New: func() any { return &columnBuf{c: make(rules.Columns, 18)} }}

// release recycles the map. It is not cleared: the next message overwrites
// the values that changed, which costs less than inserting them into an
// empty map (messageColumns makes sure no other key is left). Until then it
// keeps the last message's values alive: a few maps, as many as the pool
// holds. The metadata column stays: every rule writes its own before it
// runs.
func (b *columnBuf) release() {
	if len(b.c) > 32 {
		return // grown by something unusual: let it go
	}
	columnBufs.Put(b)
}

// forget clears the map and what the buffer knows of it.
func (b *columnBuf) forget() {
	clear(b.c)
	c, t := b.c, b.trig
	*b = columnBuf{c: c, trig: t}
}

// clientCols are the columns of a publish that depend only on its client,
// boxed once and shared by the columns of the client's messages (read-only,
// as all columns): clientid, peerhost, username and the headers map.
type clientCols struct {
	clientID, peerHost, username, protocol string
	protoVer                               byte
	clientVal                              rules.Value
	peerVal, userVal                       rules.Value // nil when empty (left out)
	headers                                map[string]rules.Value
}

// clientCache is a direct-mapped cache of clientCols, indexed by a hash of
// the client id: bounded, and without locks (an entry is never modified; a
// collision replaces it).
type clientCache struct {
	seed  maphash.Seed
	slots [1024]atomic.Pointer[clientCols]
}

// get returns the clientCols of m's client.
func (cc *clientCache) get(m *Message) *clientCols {
	if cc.seed == (maphash.Seed{}) {
		return newClientCols(m) // zero Engine (tests): no cache
	}
	slot := &cc.slots[maphash.String(cc.seed, m.ClientID)%uint64(len(cc.slots))]
	if c := slot.Load(); c != nil && c.clientID == m.ClientID && c.peerHost == m.PeerHost &&
		c.username == m.Username && c.protocol == m.Protocol && c.protoVer == m.ProtoVer {
		return c
	}
	c := newClientCols(m)
	slot.Store(c)
	return c
}

func newClientCols(m *Message) *clientCols {
	c := &clientCols{clientID: m.ClientID, peerHost: m.PeerHost, username: m.Username, protocol: m.Protocol,
		protoVer: m.ProtoVer, clientVal: m.ClientID}
	h := make(map[string]rules.Value, 4)
	h["protocol"] = protoName(m.Protocol, m.ProtoVer)
	h["proto_ver"] = int64(m.ProtoVer)
	if m.PeerHost != "" {
		c.peerVal = m.PeerHost
		h["peerhost"] = c.peerVal
	}
	if m.Username != "" {
		c.userVal = m.Username
		h["username"] = c.userVal
	}
	c.headers = h
	return c
}

// messageColumns are a publish's input columns (spec §6), in a map from
// columnBufs (the caller releases it).
func (e *Engine) messageColumns(m *Message) *columnBuf {
	ts := m.Received
	if ts.IsZero() {
		ts = time.Now()
	}
	cl := e.clients.get(m)
	buf := columnBufs.Get().(*columnBuf)
	if n := e.fillColumns(buf, m, cl, ts.UnixMilli()); len(buf.c) != n {
		// A recycled map with a key this message does not set: start afresh.
		buf.forget()
		e.fillColumns(buf, m, cl, ts.UnixMilli())
	}
	return buf
}

// fillColumns sets the columns of a publish in b.c, overwriting what b.c
// holds (skipping the values b knows it holds already), and returns how
// many columns b.c should then have (metadata included when b.c kept it).
func (e *Engine) fillColumns(b *columnBuf, m *Message, cl *clientCols, ms int64) int {
	c := b.c
	n := 12
	if b.meta {
		n++
	}
	if b.eng != e {
		c["event"] = rules.EventPublish
		c["node"] = e.nodeVal
		b.eng, b.cl = e, nil
	}
	if b.cl != cl {
		c["clientid"] = cl.clientVal
		if cl.peerVal != nil {
			c["peerhost"] = cl.peerVal
		} else {
			delete(c, "peerhost")
		}
		if cl.userVal != nil {
			c["username"] = cl.userVal
		} else {
			delete(c, "username")
		}
		c["headers"] = cl.headers
		b.cl = cl
	}
	if cl.peerVal != nil {
		n++
	}
	if cl.userVal != nil {
		n++
	}
	c["id"] = e.msgID(m.ID)
	c["payload"] = string(m.Payload)
	c["topic"] = m.Topic
	if q := 1 + int(m.QoS); b.qos != q {
		c["qos"] = int64(m.QoS)
		b.qos = q
	}
	if f := 1 + 2*b2i(m.Retain) + b2i(m.Dup); b.flags != f {
		c["flags"] = flagMap[b2i(m.Retain)][b2i(m.Dup)]
		b.flags = f
	}
	if len(m.Properties) > 0 {
		c["pub_props"] = userProps(m.Properties)
		b.noProps = false
	} else if !b.noProps {
		c["pub_props"] = noProps
		b.noProps = true
	}
	if !b.msSet || b.ms != ms {
		v := rules.Value(ms) // boxed once for both timestamps
		c["timestamp"] = v
		c["publish_received_at"] = v
		b.ms, b.msSet = ms, true
	}
	return n
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
