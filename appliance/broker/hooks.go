package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Access is what a client asks to do with a topic, numbered as EMQX's %A placeholder.
type Access int

// Access values.
const (
	AccessSubscribe Access = 1
	AccessPublish   Access = 2
)

// ClientInfo describes a client to auth policies, interceptors and event listeners.
type ClientInfo struct {
	ClientID  string
	Username  string
	PeerHost  string
	PeerPort  int
	Listener  string
	Protocol  string // mqtt, coap or lwm2m
	ProtoVer  byte
	CertCN    string
	CertDN    string
	Superuser bool
}

// Policy decides who may connect and what they may publish or subscribe to. The auth package
// implements it as a chain of sources; with no policy set, everything is allowed.
type Policy interface {
	// Authenticate decides a login. superuser skips later ACL checks for this client.
	Authenticate(ctx context.Context, c ClientInfo, password []byte) (allow, superuser bool)
	// Authorize decides one publish or subscribe (per topic filter).
	Authorize(ctx context.Context, c ClientInfo, access Access, topic string) bool
}

// Property is an MQTT 5 user property.
type Property struct{ Key, Value string }

// Message is a publish as interceptors see it.
type Message struct {
	ID         uint64 // unique within this process
	Client     ClientInfo
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties []Property
	Received   time.Time
}

// Hold delays a QoS 1/2 publish's acknowledgement until durable work has finished. Wait
// returns nil when the work committed; an error refuses the publish (MQTT 5 clients get a
// PUBACK with reason 0x80, MQTT 3.1.1 clients are disconnected so they publish again).
type Hold interface {
	Wait(ctx context.Context) error
}

// Interceptor sees every accepted publish on the publisher's goroutine, before it is routed
// and acknowledged. It must be fast; slow work belongs behind a Hold. The Message is the
// broker's only for the call (it is recycled): an interceptor that keeps it keeps a copy.
type Interceptor interface {
	OnMessage(m *Message) Hold
}

// messages recycles the Messages handed to interceptors.
var messages = sync.Pool{New: func() any { return new(Message) }}

// TopicFilter is implemented by an Interceptor that sees only some topics: the broker asks
// Wants before it builds the Message, so a publish no interceptor wants costs nothing more,
// and while no interceptor WantsAny, the broker does not look at publishes at all.
type TopicFilter interface {
	Wants(topic string) bool
	WantsAny() bool
}

// wantedAny reports whether an interceptor may want a publish.
func wantedAny(ics *[]Interceptor) bool {
	if ics == nil {
		return false
	}
	for _, ic := range *ics {
		if f, ok := ic.(TopicFilter); !ok || f.WantsAny() {
			return true
		}
	}
	return false
}

// wanted reports whether an interceptor wants a publish on topic.
func wanted(ics []Interceptor, topic string) bool {
	for _, ic := range ics {
		if f, ok := ic.(TopicFilter); !ok || f.Wants(topic) {
			return true
		}
	}
	return false
}

// EventType names a client or session event, as the rule engine's $events topics do.
type EventType string

// Event types.
const (
	EventClientConnected     EventType = "client_connected"
	EventClientDisconnected  EventType = "client_disconnected"
	EventSessionSubscribed   EventType = "session_subscribed"
	EventSessionUnsubscribed EventType = "session_unsubscribed"
	EventMessageDelivered    EventType = "message_delivered"
	EventMessageAcked        EventType = "message_acked"
	EventMessageDropped      EventType = "message_dropped"
)

// Event is one client or session event.
type Event struct {
	Type           EventType
	Client         ClientInfo
	Time           time.Time
	Reason         string // disconnect or drop reason
	Topic          string // subscribe/unsubscribe filter or message topic
	QoS            byte
	Payload        []byte
	From           string // the publishing client of a delivered, acked or dropped message
	Keepalive      uint16
	CleanStart     bool
	ExpiryInterval uint32
}

// Listener receives client and session events. OnEvent runs on the goroutine of the client
// concerned and must not block.
type Listener interface {
	OnEvent(e Event)
}

// Counters are the broker's own counters: everything refused, dropped or otherwise noteworthy.
type Counters struct {
	Accepted           atomic.Int64 // connections accepted by the listeners
	AuthDenied         atomic.Int64 // logins refused by the policy
	ACLDenied          atomic.Int64 // publishes and subscriptions refused by the policy
	Malformed          atomic.Int64 // connections closed for a malformed packet
	Oversize           atomic.Int64 // connections closed for a packet over max_packet_size
	ReceiveMaxExceeded atomic.Int64 // connections closed for exceeding receive maximum
	TLSDepthRefused    atomic.Int64 // TLS handshakes refused for a too-deep chain
	QoS0Dropped        atomic.Int64 // QoS 0 messages dropped at a full write queue
	LateQoS0Dropped    atomic.Int64 // of those, dropped at the connection's write buffer (after mochi counted them sent)
	QoSDirect          atomic.Int64 // QoS 1/2 deliveries written synchronously at a full write queue (publisher held)
	HoldFailed         atomic.Int64 // publishes refused because their Hold failed
}

// hooks is wedge's hook on the mochi server: auth, interception, events, overflow and counters.
type hooks struct {
	mqtt.HookBase
	b *Broker

	policy       atomic.Pointer[policyBox]
	interceptors atomic.Pointer[[]Interceptor]
	listeners    atomic.Pointer[[]Listener]
	superusers   sync.Map // client id → struct{}
	resumed      sync.Map // client id → []packets.Packet, between resume and established
	connectedAt  sync.Map // client id → time.Time
	full         sync.Map // client id → *mqtt.Client whose queue is at max_queued_messages
	fullCount    atomic.Int64
	queueDrops   sync.Map     // client id → *atomic.Int64: QoS 1/2 messages dropped at a full queue
	flows        sync.Map     // *mqtt.Client → *flowState
	ingress      sync.Map     // *mqtt.Client → *ingressState
	ingressCount atomic.Int64 // ingress workers running (OnPublish stays on while any is)
	credited     sync.Map     // *flowState with credit > 0
	msgID        atomic.Uint64
}

type policyBox struct{ p Policy }

func (h *hooks) ID() string { return "wedge" }

func (h *hooks) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck:
		return true // a nil policy allows: cheap, and keeps the decision in one place
	case mqtt.OnConnect, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnPublishDropped, mqtt.OnPacketEncode, mqtt.OnQosComplete, mqtt.OnClientExpired,
		mqtt.OnQosPublish, mqtt.OnQosDropped, mqtt.OnPacketProcessed, mqtt.OnPacketRead:
		return true
	case mqtt.OnPublish:
		return h.fullCount.Load() > 0 || h.ingressCount.Load() > 0 || wantedAny(h.interceptors.Load())
	case mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnPacketSent:
		return h.listeners.Load() != nil
	}
	return false
}

// clientInfo builds the ClientInfo of a mochi client.
// Once the session is established (the connection has its flow state), the result is built
// once and kept for the connection's lifetime: a connection's identity does not change.
func (h *hooks) clientInfo(cl *mqtt.Client) ClientInfo {
	v, ok := h.flows.Load(cl)
	if !ok {
		return h.buildClientInfo(cl)
	}
	st := v.(*flowState)
	if ci := st.info.Load(); ci != nil {
		return *ci
	}
	ci := h.buildClientInfo(cl)
	st.info.Store(&ci)
	return ci
}

func (h *hooks) buildClientInfo(cl *mqtt.Client) ClientInfo {
	ci := ClientInfo{
		ClientID: cl.ID,
		Username: string(cl.Properties.Username),
		Listener: cl.Net.Listener,
		Protocol: "mqtt",
		ProtoVer: cl.Properties.ProtocolVersion,
	}
	if host, port, err := net.SplitHostPort(cl.Net.Remote); err == nil {
		ci.PeerHost = host
		ci.PeerPort, _ = strconv.Atoi(port)
	}
	if _, ok := h.superusers.Load(cl.ID); ok {
		ci.Superuser = true
	}
	if cert := peerCert(cl); cert != nil {
		ci.CertCN = cert.Subject.CommonName
		ci.CertDN = cert.Subject.String()
	}
	return ci
}

// peerCert returns the verified client certificate of a TLS connection, if any.
func peerCert(cl *mqtt.Client) *x509.Certificate {
	c := cl.Net.Conn
	if cc, ok := c.(*clientConn); ok {
		c = cc.Conn
	}
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		if len(st.PeerCertificates) > 0 {
			return st.PeerCertificates[0]
		}
	}
	return nil
}

// OnConnect applies the server keep alive: a configured value is imposed on MQTT 5 clients,
// and a longer keep alive than max_keepalive is reduced to it [MQTT-3.2.2-21].
//
// It also turns off server-to-client topic aliases (a server MAY use them, never must): mochi
// stores an aliased message without its topic, so it could not be resent after a reconnect or
// a restart.
func (h *hooks) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if cl.Properties.ProtocolVersion != 5 {
		return nil
	}
	cl.Properties.Props.TopicAliasMaximum = 0
	cfg := h.b.cfg()
	ka := cl.State.Keepalive
	switch {
	case cfg.ServerKeepAlive > 0:
		ka = cfg.ServerKeepAlive
	case ka == 0 || ka > cfg.MaxKeepAlive:
		ka = cfg.MaxKeepAlive
	default:
		return nil
	}
	cl.State.Keepalive = ka
	cl.State.ServerKeepalive = true
	return nil
}

func (h *hooks) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	pb := h.policy.Load()
	if pb == nil {
		return true
	}
	allow, super := pb.p.Authenticate(context.Background(), h.clientInfo(cl), pk.Connect.Password)
	if !allow {
		h.b.counters.AuthDenied.Add(1)
		return false
	}
	if super {
		h.superusers.Store(cl.ID, struct{}{})
	} else {
		h.superusers.Delete(cl.ID)
	}
	return true
}

func (h *hooks) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	pb := h.policy.Load()
	if pb == nil || cl.Net.Inline {
		return true
	}
	if _, ok := h.superusers.Load(cl.ID); ok {
		return true
	}
	access := AccessSubscribe
	if write {
		access = AccessPublish
	}
	if pb.p.Authorize(context.Background(), h.clientInfo(cl), access, topic) {
		return true
	}
	h.b.counters.ACLDenied.Add(1)
	return false
}

// OnSessionEstablish runs before a session is taken up again: see resume.
func (h *hooks) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if !pk.Connect.Clean {
		h.resume(cl)
	}
}

// OnPacketEncode completes MQTT 5 CONNACKs with the capabilities mochi does not announce:
// topic alias maximum (without it clients must not use aliases [MQTT-3.2.2-17]), maximum
// packet size, and retain, wildcard, subscription identifier and shared subscription
// availability when they are off.
func (h *hooks) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack || cl.Properties.ProtocolVersion != 5 || pk.ReasonCode >= 0x80 {
		return pk
	}
	c := h.b.cfg()
	p := &pk.Properties
	p.TopicAliasMaximum = c.TopicAliasMaximum
	p.MaximumPacketSize = c.MaxPacketSize
	if !c.RetainAvailable {
		p.RetainAvailable, p.RetainAvailableFlag = 0, true
	}
	if !c.WildcardSubscriptions {
		p.WildcardSubAvailable, p.WildcardSubAvailableFlag = 0, true
	}
	if !c.SharedSubscriptions {
		p.SharedSubAvailable, p.SharedSubAvailableFlag = 0, true
	}
	return pk
}

func (h *hooks) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	h.connectedAt.Store(cl.ID, time.Now())
	h.established(cl)
	if !h.listening() {
		return
	}
	h.emit(Event{Type: EventClientConnected, Client: h.clientInfo(cl), Keepalive: cl.State.Keepalive,
		CleanStart: pk.Connect.Clean, ExpiryInterval: pk.Properties.SessionExpiryInterval})
}

func (h *hooks) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	switch {
	case err == nil:
	case errors.Is(err, packets.ErrPacketTooLarge):
		h.b.counters.Oversize.Add(1)
	case errors.Is(err, packets.ErrReceiveMaximum):
		h.b.counters.ReceiveMaxExceeded.Add(1)
	case isMalformed(err):
		h.b.counters.Malformed.Add(1)
	}
	if h.listening() {
		reason := "normal"
		if err != nil {
			reason = err.Error()
		}
		h.emit(Event{Type: EventClientDisconnected, Client: h.clientInfo(cl), Reason: reason})
	}
	if v, ok := h.flows.LoadAndDelete(cl); ok {
		h.credited.Delete(v)
	}
	h.ingressClosed(cl)
	if expire {
		h.forget(cl.ID)
	}
}

// OnClientExpired forgets what wedge keeps about a session that expired.
func (h *hooks) OnClientExpired(cl *mqtt.Client) { h.forget(cl.ID) }

func (h *hooks) forget(id string) {
	h.superusers.Delete(id)
	h.connectedAt.Delete(id)
	h.queueDrops.Delete(id)
	if _, ok := h.full.LoadAndDelete(id); ok {
		h.fullCount.Add(-1)
	}
}

// isMalformed reports whether err is one of the protocol errors that close a connection.
func isMalformed(err error) bool {
	var code packets.Code
	if errors.As(err, &code) {
		return code.Code == packets.ErrMalformedPacket.Code || code.Code == packets.ErrProtocolViolation.Code ||
			(code.Code >= 0x81 && code.Code <= 0x82) || code.Code == packets.ErrTopicNameInvalid.Code
	}
	return false
}

// OnPublish runs the interceptors. A QoS 0/1 message with Holds goes to the connection's ingress
// pipeline (ingress.go): its acknowledgement and routing wait for the Holds while the connection
// goes on reading. A QoS 2 message's Holds are waited for here, on the publisher's goroutine.
// Either way only this publisher waits.
func (h *hooks) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	ist := h.ingressOf(cl)
	if ist.passThrough(pk) {
		return pk, nil // a queued message handed back by the ingress worker
	}
	if pk.FixedHeader.Qos > 0 && h.fullCount.Load() > 0 {
		h.holdForFullQueues(cl, pk.TopicName)
	}
	var holds []Hold
	if ics := h.interceptors.Load(); ics != nil && wanted(*ics, pk.TopicName) {
		m := messages.Get().(*Message)
		props := m.Properties[:0]
		*m = Message{
			ID:       h.msgID.Add(1),
			Client:   h.clientInfo(cl),
			Topic:    pk.TopicName,
			Payload:  pk.Payload,
			QoS:      pk.FixedHeader.Qos,
			Retain:   pk.FixedHeader.Retain,
			Received: time.Now(),
		}
		for _, up := range pk.Properties.User {
			props = append(props, Property{up.Key, up.Val})
		}
		if len(props) > 0 {
			m.Properties = props
		}
		for _, ic := range *ics {
			if hd := ic.OnMessage(m); hd != nil {
				holds = append(holds, hd)
			}
		}
		clear(props)
		*m = Message{Properties: props[:0]}
		messages.Put(m)
	}
	if pk.FixedHeader.Qos == 2 {
		if len(holds) == 0 && !ist.pending() {
			return pk, nil
		}
		ist.waitDrained()
		return h.waitHolds(cl, pk, holds)
	}
	if len(holds) == 0 && !ist.pending() {
		return pk, nil
	}
	return h.enqueue(cl, pk, holds)
}

// waitHolds waits for a message's Holds on the publisher's goroutine.
func (h *hooks) waitHolds(cl *mqtt.Client, pk packets.Packet, holds []Hold) (packets.Packet, error) {
	for _, hd := range holds {
		if err := hd.Wait(context.Background()); err != nil {
			if pk.FixedHeader.Qos == 0 {
				return pk, nil
			}
			h.b.counters.HoldFailed.Add(1)
			h.b.log.Warn("publish refused: durable work failed", "client", cl.ID, "topic", pk.TopicName, "error", err)
			if cl.Properties.ProtocolVersion == 5 {
				return pk, packets.ErrUnspecifiedError
			}
			_ = h.b.srv.DisconnectClient(cl, packets.ErrUnspecifiedError)
			return pk, packets.ErrRejectPacket
		}
	}
	return pk, nil
}

// OnPublishDropped is called when a subscriber's write queue is full. QoS 0 is dropped and
// counted. A QoS 1/2 message is never dropped: it is written to the subscriber's connection
// synchronously on the publisher's goroutine, so a fast publisher meets the slow subscriber's
// TCP back-pressure instead of losing messages.
func (h *hooks) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Qos == 0 {
		h.b.counters.QoS0Dropped.Add(1)
		if h.listening() {
			h.emit(Event{Type: EventMessageDropped, Client: h.clientInfo(cl), Topic: pk.TopicName, Reason: "queue_full", From: pk.Origin})
		}
		return
	}
	out := pk.Copy(false)
	qos, retainAsPublished, ids, ok := subscriptionFor(cl, pk.TopicName)
	if !ok {
		return // unsubscribed meanwhile
	}
	if out.FixedHeader.Qos > qos {
		out.FixedHeader.Qos = qos
	}
	if !retainAsPublished || cl.Properties.ProtocolVersion < 5 {
		out.FixedHeader.Retain = false
	}
	out.Properties.SubscriptionIdentifier = ids
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false
	if out.FixedHeader.Qos > 0 {
		id, err := cl.NextPacketID()
		if err != nil {
			return
		}
		out.PacketID = uint16(id)
		cl.State.Inflight.Set(out)
		for _, hk := range h.b.extra {
			if hk.Provides(mqtt.OnQosPublish) {
				hk.OnQosPublish(cl, out, out.Created, 0) // the storage hook keeps it
			}
		}
	}
	h.b.counters.QoSDirect.Add(1)
	_ = cl.WritePacket(out)
}

// subscriptionFor merges a client's subscriptions matching topic: the highest QoS, whether
// any keeps the retain flag, and the subscription identifiers.
func subscriptionFor(cl *mqtt.Client, topic string) (qos byte, rap bool, ids []int, ok bool) {
	for filter, sub := range cl.State.Subscriptions.GetAll() {
		if !matchFilter(stripShare(filter), topic) {
			continue
		}
		ok = true
		if sub.Qos > qos {
			qos = sub.Qos
		}
		rap = rap || sub.RetainAsPublished
		if sub.Identifier > 0 {
			ids = append(ids, sub.Identifier)
		}
	}
	return
}

func stripShare(filter string) string {
	if len(filter) > 7 && filter[:7] == "$share/" {
		if i := strings.IndexByte(filter[7:], '/'); i >= 0 {
			return filter[7+i+1:]
		}
	}
	return filter
}

// matchFilter reports whether an MQTT topic filter matches a topic name.
func matchFilter(filter, topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	for {
		fi, ti := indexSlash(filter), indexSlash(topic)
		fl := filter
		if fi >= 0 {
			fl = filter[:fi]
		}
		switch fl {
		case "#":
			return true
		case "+":
		default:
			tl := topic
			if ti >= 0 {
				tl = topic[:ti]
			}
			if fl != tl {
				return false
			}
		}
		if fi < 0 || ti < 0 {
			if fi < 0 && ti < 0 {
				return true
			}
			// "a/#" matches "a" too
			return ti < 0 && filter[fi+1:] == "#"
		}
		filter, topic = filter[fi+1:], topic[ti+1:]
	}
}

func indexSlash(s string) int { return strings.IndexByte(s, '/') }

func (h *hooks) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	if cl.Net.Inline {
		return
	}
	ci := h.clientInfo(cl)
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] >= 0x80 {
			continue
		}
		h.emit(Event{Type: EventSessionSubscribed, Client: ci, Topic: f.Filter, QoS: f.Qos})
	}
}

func (h *hooks) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	ci := h.clientInfo(cl)
	for _, f := range pk.Filters {
		h.emit(Event{Type: EventSessionUnsubscribed, Client: ci, Topic: f.Filter})
	}
}

func (h *hooks) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Publish {
		h.emit(Event{Type: EventMessageDelivered, Client: h.clientInfo(cl), Topic: pk.TopicName,
			QoS: pk.FixedHeader.Qos, Payload: pk.Payload, From: pk.Origin})
	}
}

// listening reports whether any event listener is registered; events are built only then.
func (h *hooks) listening() bool { return h.listeners.Load() != nil }

func (h *hooks) emit(e Event) {
	ls := h.listeners.Load()
	if ls == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	for _, l := range *ls {
		l.OnEvent(e)
	}
}
