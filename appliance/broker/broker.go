package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wedge-iot/wedge/appliance/config"
)

// Options configure a Broker.
type Options struct {
	// MQTT is the mqtt section of the configuration.
	MQTT config.MQTT
	// Logger receives the broker's structured logs.
	Logger *slog.Logger
	// Hooks are extra mochi hooks (the bbolt storage hook) added before wedge's own.
	Hooks []mqtt.Hook
}

// ListenerInfo describes one open listener.
type ListenerInfo struct {
	ID       string `json:"id"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
}

// Broker is wedge's MQTT broker.
type Broker struct {
	srv       *mqtt.Server
	h         *hooks
	extra     []mqtt.Hook
	log       *slog.Logger
	counters  Counters
	conf      atomic.Pointer[config.MQTT]
	opened    []ListenerInfo
	started   time.Time
	stopOnce  sync.Once
	sweepDone chan struct{}

	outboundMu sync.Mutex // held while mochi creates a client (see outboundChannel)
}

// New creates a broker from the configuration; Start opens its listeners.
func New(o Options) (*Broker, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := o.MQTT
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = c.MaxConnections
	caps.MaximumPacketSize = c.MaxPacketSize
	caps.MaximumInflight = c.MaxQueuedMessages
	caps.ReceiveMaximum = c.ReceiveMaximum
	// Until the listeners serve, mochi creates only the inline client and the sessions restored
	// from the store, offline: they never write through the channel (a reconnecting client gets
	// a new one, sized in establish), so they get the shortest.
	caps.MaximumClientWritesPending = min(c.WriteQueue, minOutboundChannel)
	caps.MaximumSessionExpiryInterval = c.MaxSessionExpiry
	caps.MaximumMessageExpiryInterval = c.MaxMessageExpiry
	caps.TopicAliasMaximum = c.TopicAliasMaximum
	caps.RetainAvailable = boolByte(c.RetainAvailable)
	caps.SharedSubAvailable = boolByte(c.SharedSubscriptions)
	caps.WildcardSubAvailable = boolByte(c.WildcardSubscriptions)
	// MQTT 5 acknowledgements must not echo the publisher's user properties back.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	srv := mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  c.ReadBuffer,
		ClientNetWriteBufferSize: c.WriteBuffer,
		Logger:                   o.Logger.With("component", "mqtt"),
		InlineClient:             true,
		SysTopicResendInterval:   math.MaxInt32, // $SYS is served by the REST API and /metrics
	})
	b := &Broker{srv: srv, log: o.Logger, extra: o.Hooks}
	b.conf.Store(&c)
	b.h = &hooks{b: b}
	for _, hk := range o.Hooks {
		if err := srv.AddHook(hk, nil); err != nil {
			return nil, fmt.Errorf("broker: add hook %s: %w", hk.ID(), err)
		}
	}
	if err := srv.AddHook(b.h, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	return b, nil
}

// Per-connection outbound channel.
//
// mochi gives every connection an outbound channel of Capabilities.MaximumClientWritesPending
// packet pointers, allocated and zeroed when the client connects and scanned by the garbage
// collector for as long as it stays, used or not. The channel is what absorbs a QoS 0 burst
// routed to a client faster than its write loop gets scheduled: on this 2-core class of machine
// a fan-in of 20 publishers delivers about as many messages as the channel holds. mochi's
// default of 8192 slots is 64 KB per connection: 640 MB for 10,000 connections, and at a
// connection storm each connect pays for zeroing it and every GC cycle for scanning it.
//
// wedge sizes each new connection's channel from the number already connected, so that the
// channels together stay near outboundBudget: mqtt.write_queue slots while few clients are
// connected (a gateway with dozens of clients gets mochi's deep queues), outboundBudget /
// connected beyond, never fewer than minOutboundChannel. A client that falls behind because
// its link is slow is covered by the connection's elastic write buffer (conn.go), which holds
// up to mqtt.write_queue QoS 0 messages and costs nothing while idle.
//
// mochi reads the capability when it creates the client (NewClient, first thing in
// EstablishConnection). wedge sets it under outboundMu just before and releases the lock when
// mochi first reads from the connection, by which time the client exists: writes and reads
// of the field are ordered, and connections being set up at once each get their own size.

// outboundBudget is what the outbound channels of all connections together aim at, in bytes.
const outboundBudget = 4 << 20

// minOutboundChannel is the shortest outbound channel a connection gets.
const minOutboundChannel = 128

// outboundChannel is the outbound channel length for a new connection when connected clients
// are already connected, for mqtt.write_queue and a pointer size of ptrSize bytes.
func outboundChannel(writeQueue int32, connected int64, ptrSize int) int32 {
	n := int64(outboundBudget) / int64(ptrSize) / max(connected+1, 1)
	return int32(min(int64(writeQueue), max(n, minOutboundChannel)))
}

// establish hands a connection accepted by one of wedge's listeners to mochi (fn), sizing its
// outbound channel first.
func (b *Broker) establish(fn listeners.EstablishFn, id string, conn net.Conn) error {
	c := b.cfg()
	cc := newClientConn(conn, c.MaxPacketSize, int(c.WriteQueue), &b.counters)
	b.outboundMu.Lock()
	cc.sized = b.outboundMu.Unlock
	b.srv.Options.Capabilities.MaximumClientWritesPending = outboundChannel(c.WriteQueue,
		atomic.LoadInt64(&b.srv.Info.ClientsConnected), strconv.IntSize/8)
	err := fn(id, cc)
	cc.endSizing() // when mochi gave up before reading
	return err
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (b *Broker) cfg() *config.MQTT { return b.conf.Load() }

// Start binds every configured listener and starts serving. It returns once every listener
// is open, or the first bind error.
func (b *Broker) Start(ctx context.Context) error {
	c := b.cfg()
	var lc net.ListenConfig
	bind := func(addr string) (net.Listener, error) { return lc.Listen(ctx, "tcp", addr) }
	var added []listeners.Listener
	fail := func(err error) error {
		for _, l := range added {
			l.Close(func(string) {})
		}
		return err
	}
	if c.TCP != "" {
		ln, err := bind(c.TCP)
		if err != nil {
			return fail(fmt.Errorf("mqtt.tcp: %w", err))
		}
		added = append(added, &netListener{id: "tcp", proto: "tcp", ln: ln, log: b.log, b: b})
	}
	if c.TLS.Enabled() {
		tc, err := TLSConfig(c.TLS, b.log, &b.counters.TLSDepthRefused)
		if err != nil {
			return fail(err)
		}
		ln, err := bind(c.TLS.Listen)
		if err != nil {
			return fail(fmt.Errorf("mqtt.tls.listen: %w", err))
		}
		added = append(added, &netListener{id: "tls", proto: "tls", ln: &tlsListener{Listener: ln, conf: tc, log: b.log},
			log: b.log, b: b})
	}
	if c.WS != "" {
		ln, err := bind(c.WS)
		if err != nil {
			return fail(fmt.Errorf("mqtt.ws: %w", err))
		}
		added = append(added, &wsListener{id: "ws", ln: ln, log: b.log, b: b})
	}
	for _, l := range added {
		if err := b.srv.AddListener(l); err != nil {
			return fail(fmt.Errorf("broker: add listener %s: %w", l.ID(), err))
		}
		b.opened = append(b.opened, ListenerInfo{ID: l.ID(), Protocol: l.Protocol(), Address: l.Address()})
	}
	if err := b.srv.Serve(); err != nil {
		return fail(fmt.Errorf("broker: serve: %w", err))
	}
	b.started = time.Now()
	b.sweepDone = make(chan struct{})
	go func() {
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.h.sweep()
			case <-b.sweepDone:
				return
			}
		}
	}()
	return nil
}

// tlsListener performs the TLS handshake in the connection's own goroutine (on first read),
// so a slow or hostile handshake never blocks Accept.
type tlsListener struct {
	net.Listener
	conf *tls.Config
	log  *slog.Logger
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, l.conf), nil
}

// Listeners returns the open listeners with their bound addresses.
func (b *Broker) Listeners() []ListenerInfo { return append([]ListenerInfo(nil), b.opened...) }

// Addr returns the bound address of a listener ("tcp", "tls", "ws"), or "".
func (b *Broker) Addr(id string) string {
	for _, l := range b.opened {
		if l.ID == id {
			return l.Address
		}
	}
	return ""
}

// Stop drains the broker: listeners close, clients are disconnected with "server shutting
// down", and hooks (storage included) flush and stop.
func (b *Broker) Stop(ctx context.Context) error {
	var err error
	b.stopOnce.Do(func() {
		if b.sweepDone != nil {
			close(b.sweepDone)
		}
		done := make(chan error, 1)
		go func() { done <- b.srv.Close() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			err = fmt.Errorf("broker: stop: %w", ctx.Err())
		}
	})
	return err
}

// Server returns the underlying mochi server, for the packages that read its state.
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Counters returns the broker's own counters.
func (b *Broker) Counters() *Counters { return &b.counters }

// Started returns when the broker started serving.
func (b *Broker) Started() time.Time { return b.started }

// SetPolicy installs the auth/ACL policy; nil allows everything. Safe at run time.
func (b *Broker) SetPolicy(p Policy) {
	if p == nil {
		b.h.policy.Store(nil)
		return
	}
	b.h.policy.Store(&policyBox{p})
}

// AddInterceptor adds a publish interceptor. Safe at run time.
func (b *Broker) AddInterceptor(ic Interceptor) {
	for {
		old := b.h.interceptors.Load()
		var next []Interceptor
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, ic)
		if b.h.interceptors.CompareAndSwap(old, &next) {
			return
		}
	}
}

// AddListener adds a client/session event listener. Safe at run time.
func (b *Broker) AddListener(l Listener) {
	for {
		old := b.h.listeners.Load()
		var next []Listener
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, l)
		if b.h.listeners.CompareAndSwap(old, &next) {
			return
		}
	}
}

// SetMaxConnections changes mqtt.max_connections at run time (SIGHUP).
func (b *Broker) SetMaxConnections(n int64) {
	c := *b.cfg()
	c.MaxConnections = n
	b.conf.Store(&c)
	atomic.StoreInt64(&b.srv.Options.Capabilities.MaximumClients, n)
}

// PublishRequest is a message published by wedge itself (REST API, rules).
type PublishRequest struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	ClientID   string // shown as the message's origin; "" for wedge itself
	Properties []Property
}

// ErrInvalidTopic is returned for a publish to an empty or wildcard topic.
var ErrInvalidTopic = errors.New("invalid topic name")

// Publish routes a message from wedge itself to subscribers (and retains it when asked), as
// if a client with the given id had published it, without ACL checks.
func (b *Broker) Publish(r PublishRequest) error {
	if r.Topic == "" || !mqtt.IsValidFilter(r.Topic, true) {
		return ErrInvalidTopic
	}
	if r.QoS > 2 {
		return fmt.Errorf("invalid qos %d", r.QoS)
	}
	id := r.ClientID
	if id == "" {
		id = mqtt.InlineClientId
	}
	cl := b.srv.NewClient(nil, mqtt.LocalListener, id, true)
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: r.QoS, Retain: r.Retain},
		TopicName:   r.Topic,
		Payload:     r.Payload,
	}
	if r.QoS > 0 {
		pk.PacketID = 1 // required by validation; the inline client keeps no QoS state
	}
	for _, p := range r.Properties {
		pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: p.Key, Val: p.Value})
	}
	return b.srv.InjectPacket(cl, pk)
}

// Delivery is a message delivered to a wedge-internal subscriber.
type Delivery struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Origin     string // publishing client id
	Properties []Property
}

// Subscribe registers a wedge-internal subscriber (the CoAP gateway's observers, bridges) for
// an MQTT filter; id identifies it for Unsubscribe and must be unique per filter. fn runs on the
// publisher's goroutine for each matching message (retained ones at once) and must not
// block. Internal subscriptions are not persisted: their owners subscribe again at start.
func (b *Broker) Subscribe(filter string, id int, fn func(Delivery)) error {
	return b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		d := Delivery{Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain, Origin: pk.Origin}
		for _, up := range pk.Properties.User {
			d.Properties = append(d.Properties, Property{up.Key, up.Val})
		}
		fn(d)
	})
}

// Unsubscribe removes a wedge-internal subscriber.
func (b *Broker) Unsubscribe(filter string, id int) error { return b.srv.Unsubscribe(filter, id) }
