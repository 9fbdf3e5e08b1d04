package coap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/plgd-dev/go-coap/v3/dtls"
	dtlsServer "github.com/plgd-dev/go-coap/v3/dtls/server"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/pkg/runner/periodic"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	udpServer "github.com/plgd-dev/go-coap/v3/udp/server"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/config"
)

// Broker is what the gateway needs from the MQTT broker; *broker.Broker implements it.
type Broker interface {
	Publish(r broker.PublishRequest) error
	Subscribe(filter string, id int, fn func(broker.Delivery)) error
	Unsubscribe(filter string, id int) error
}

// Auth checks credentials and topic access; broker.Policy implements it. nil allows everything.
type Auth interface {
	Authenticate(ctx context.Context, c broker.ClientInfo, password []byte) (allow, superuser bool)
	Authorize(ctx context.Context, c broker.ClientInfo, access broker.Access, topic string) bool
}

// Options configure a Gateway.
type Options struct {
	// Listen is the UDP address; empty disables plain CoAP.
	Listen string
	// DTLSListen is opened when PSK has identities.
	DTLSListen string
	PSK        map[string][]byte
	// Keepalive ends a session (and its observations) after this long without traffic (120 s).
	Keepalive time.Duration
	// NotifyTimeout is how long a confirmable notification waits for its ACK (30 s).
	NotifyTimeout time.Duration
	// QueueLength bounds the messages waiting to be notified per observation (64); more are
	// dropped and counted.
	QueueLength int
	Broker      Broker
	Auth        Auth
	Logger      *slog.Logger
}

// FromConfig returns the options of the coap section of the configuration.
func FromConfig(c config.CoAP) Options {
	o := Options{Listen: c.Listen, DTLSListen: c.DTLSListen, Keepalive: c.Keepalive, NotifyTimeout: c.NotifyTimeout}
	if len(c.PSK) > 0 {
		o.PSK = map[string][]byte{}
		for id, k := range c.PSK {
			o.PSK[id] = config.PSKBytes(k)
		}
	}
	return o
}

// Counters are the gateway's cumulative counts.
type Counters struct {
	Published     atomic.Int64 // CoAP publishes routed into MQTT
	Notifications atomic.Int64 // notifications sent
	Dropped       atomic.Int64 // messages dropped at a full observation queue
	Observations  atomic.Int64 // observations started
	Refused       atomic.Int64 // requests answered with a 4.xx/5.xx code
	Malformed     atomic.Int64 // malformed datagrams dropped
	Keepalives    atomic.Int64 // plain GET keepalives
}

// CounterSnapshot is a copy of Counters plus the current number of observations.
type CounterSnapshot struct {
	Published, Notifications, Dropped, Observations, Refused, Malformed, Keepalives int64
	Active                                                                          int
}

// Gateway is the CoAP gateway.
type Gateway struct {
	o        Options
	log      *slog.Logger
	counters Counters

	mu    sync.Mutex
	conns map[*udpClient.Conn]*session

	udp   *udpServer.Server
	udpL  *coapnet.UDPConn
	dtls  *dtlsServer.Server
	dtlsL *coapnet.DTLSListener
	subID atomic.Int64
	wg    sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
}

type session struct {
	clientID string
	obs      map[string]*observation // token -> observation
	mids     map[int32]*observation  // message id of raw-sent notifications
}

type observation struct {
	g        *Gateway
	cc       *udpClient.Conn
	token    message.Token
	filter   string
	subID    int
	con      bool
	queue    chan broker.Delivery
	done     chan struct{}
	once     sync.Once
	seq      atomic.Uint32
	lastSent atomic.Int64
	last     atomic.Pointer[[]byte] // payload of the last notification, for its later blocks
}

// New returns a gateway; Start opens its listeners.
func New(o Options) (*Gateway, error) {
	if o.Broker == nil {
		return nil, errors.New("coap: no broker")
	}
	if o.Keepalive <= 0 {
		o.Keepalive = 120 * time.Second
	}
	if o.NotifyTimeout <= 0 {
		o.NotifyTimeout = 30 * time.Second
	}
	if o.QueueLength <= 0 {
		o.QueueLength = 64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Gateway{o: o, log: o.Logger.With("component", "coap"), conns: map[*udpClient.Conn]*session{}}
	g.subID.Store(1 << 20)
	g.ctx, g.stop = context.WithCancel(context.Background())
	return g, nil
}

// Counters returns a snapshot of the counters.
func (g *Gateway) Counters() CounterSnapshot {
	c := &g.counters
	g.mu.Lock()
	n := 0
	for _, s := range g.conns {
		n += len(s.obs)
	}
	g.mu.Unlock()
	return CounterSnapshot{c.Published.Load(), c.Notifications.Load(), c.Dropped.Load(), c.Observations.Load(),
		c.Refused.Load(), c.Malformed.Load(), c.Keepalives.Load(), n}
}

func (g *Gateway) onError(err error) {
	var mm *udpClient.MalformedMessageError
	if errors.As(err, &mm) {
		g.counters.Malformed.Add(1)
	}
	g.log.Debug("coap", "err", err)
}

func (g *Gateway) onNewConn(cc *udpClient.Conn) {
	cc.AddOnClose(func() { g.closeConn(cc) })
}

// Start opens the listeners.
func (g *Gateway) Start(ctx context.Context) error {
	if g.o.Listen != "" {
		l, err := coapnet.NewListenUDP("udp", g.o.Listen)
		if err != nil {
			return fmt.Errorf("coap: listen %s: %w", g.o.Listen, err)
		}
		g.udpL = l
		// A 1 s tick (go-coap's default is 4 s) keeps session timeouts and retransmissions timely.
		g.udp = udp.NewServer(options.WithHandlerFunc(g.handle), options.WithErrors(g.onError),
			options.WithPeriodicRunner(periodic.New(g.ctx.Done(), time.Second)),
			options.WithOnNewConn(g.onNewConn),
			options.WithInactivityMonitor(g.o.Keepalive, func(cc *udpClient.Conn) { _ = cc.Close() }),
			options.WithBlockwise(true, 6, 30*time.Second))
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := g.udp.Serve(l); err != nil && g.ctx.Err() == nil {
				g.log.Error("coap udp server stopped", "err", err)
			}
		}()
	}
	if g.o.DTLSListen != "" && len(g.o.PSK) > 0 {
		l, err := ListenPSK(g.o.DTLSListen, g.o.PSK)
		if err != nil {
			g.Stop(ctx)
			return fmt.Errorf("coap: dtls listen %s: %w", g.o.DTLSListen, err)
		}
		g.dtlsL = l
		g.dtls = dtls.NewServer(options.WithHandlerFunc(g.handle), options.WithErrors(g.onError),
			options.WithPeriodicRunner(periodic.New(g.ctx.Done(), time.Second)),
			options.WithOnNewConn(g.onNewConn),
			options.WithInactivityMonitor(g.o.Keepalive, func(cc *udpClient.Conn) { _ = cc.Close() }))
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := g.dtls.Serve(l); err != nil && g.ctx.Err() == nil {
				g.log.Error("coap dtls server stopped", "err", err)
			}
		}()
	}
	return nil
}

// Addr returns the UDP listener's address (nil when not listening).
func (g *Gateway) Addr() net.Addr {
	if g.udpL == nil {
		return nil
	}
	return g.udpL.LocalAddr()
}

// DTLSAddr returns the DTLS listener's address (nil when not listening).
func (g *Gateway) DTLSAddr() net.Addr {
	if g.dtlsL == nil {
		return nil
	}
	return g.dtlsL.Addr()
}

// Stop ends every observation and closes the listeners.
func (g *Gateway) Stop(ctx context.Context) error {
	g.stop()
	g.mu.Lock()
	var all []*observation
	for _, s := range g.conns {
		for _, o := range s.obs {
			all = append(all, o)
		}
	}
	g.mu.Unlock()
	for _, o := range all {
		g.end(o, "gateway stopping")
	}
	if g.udp != nil {
		g.udp.Stop()
	}
	if g.dtls != nil {
		g.dtls.Stop()
	}
	if g.dtlsL != nil {
		_ = g.dtlsL.Close()
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Gateway) refuse(w *responsewriter.ResponseWriter[*udpClient.Conn], c codes.Code, why string) {
	g.counters.Refused.Add(1)
	g.log.Debug("coap request refused", "peer", w.Conn().RemoteAddr().String(), "code", c, "reason", why)
	_ = w.SetResponse(c, message.TextPlain, bytes.NewReader([]byte(why)))
}

// credentials reads c/u/p (emqx-coap 4.x) or clientid/username/password (5.x) from the query.
func credentials(r *pool.Message) (map[string]string, error) {
	qs, err := r.Queries()
	if err != nil && !errors.Is(err, message.ErrOptionNotFound) {
		return nil, err
	}
	out := map[string]string{}
	for _, q := range qs {
		k, v, _ := strings.Cut(q, "=")
		switch k {
		case "clientid":
			k = "c"
		case "username":
			k = "u"
		case "password":
			k = "p"
		}
		out[k] = v
	}
	return out, nil
}

// handle serves every CoAP message.
func (g *Gateway) handle(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	if r.Type() == message.Reset {
		g.onReset(w.Conn(), r.MessageID())
		return
	}
	if r.Code() == codes.Empty || r.Code() >= codes.Created {
		return
	}
	path, _ := r.Options().Path()
	path = "/" + strings.Trim(path, "/")
	if path == "/.well-known/core" {
		if r.Code() != codes.GET {
			g.refuse(w, codes.MethodNotAllowed, "method not allowed")
			return
		}
		_ = w.SetResponse(codes.Content, message.AppLinkFormat, bytes.NewReader([]byte(`</mqtt>,</ps>`)))
		return
	}
	var topic string
	switch {
	case path == "/mqtt" || path == "/ps":
	case strings.HasPrefix(path, "/mqtt/"):
		topic = strings.TrimPrefix(path, "/mqtt/")
	case strings.HasPrefix(path, "/ps/"):
		topic = strings.TrimPrefix(path, "/ps/")
	default:
		g.refuse(w, codes.NotFound, "no such resource: use /mqtt/{topic}")
		return
	}
	if obs, err := r.Observe(); err == nil && obs == 1 && r.Code() == codes.GET && g.observing(w.Conn(), r.Token()) {
		// cancelling one's own observation needs no credentials (go-coap sends none)
		g.cancel(w.Conn(), r.Token())
		_ = w.SetResponse(codes.Content, message.AppOctets, nil)
		return
	}
	q, err := credentials(r)
	if err != nil {
		g.refuse(w, codes.BadOption, "bad query")
		return
	}
	cid := q["c"]
	if cid == "" {
		g.refuse(w, codes.BadRequest, "client id (c) missing")
		return
	}
	cc := w.Conn()
	host, port := splitPeer(cc.RemoteAddr())
	ci := broker.ClientInfo{ClientID: cid, Username: q["u"], PeerHost: host, PeerPort: port, Listener: "coap", Protocol: "coap"}
	superuser := false
	if g.o.Auth != nil {
		ok, su := g.o.Auth.Authenticate(r.Context(), ci, []byte(q["p"]))
		if !ok {
			g.refuse(w, codes.Unauthorized, "bad credentials")
			return
		}
		superuser = su
		ci.Superuser = su
	}
	g.touch(cc, cid)
	switch r.Code() {
	case codes.PUT, codes.POST:
		g.publish(w, r, ci, superuser, topic, q)
	case codes.GET:
		obs, err := r.Observe()
		switch {
		case err == nil && obs == 0:
			g.observe(w, r, ci, superuser, topic)
		case err == nil && obs == 1:
			g.cancel(cc, r.Token())
			_ = w.SetResponse(codes.Content, message.AppOctets, nil)
		case r.HasOption(message.Block2):
			g.block(w, r, cc, topic)
		default:
			g.counters.Keepalives.Add(1)
			_ = w.SetResponse(codes.Content, message.AppOctets, nil)
		}
	default:
		g.refuse(w, codes.MethodNotAllowed, "method not allowed")
	}
}

func splitPeer(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func (g *Gateway) touch(cc *udpClient.Conn, cid string) *session {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.conns[cc]
	if s == nil {
		s = &session{obs: map[string]*observation{}, mids: map[int32]*observation{}}
		g.conns[cc] = s
	}
	s.clientID = cid
	return s
}

func (g *Gateway) publish(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, ci broker.ClientInfo, superuser bool, topic string, q map[string]string) {
	if topic == "" || !mqtt.IsValidFilter(topic, true) {
		g.refuse(w, codes.BadRequest, "not a valid topic name")
		return
	}
	if g.o.Auth != nil && !superuser && !g.o.Auth.Authorize(r.Context(), ci, broker.AccessPublish, topic) {
		g.refuse(w, codes.Forbidden, "publish not authorized")
		return
	}
	body, err := r.ReadBody()
	if err != nil {
		g.refuse(w, codes.BadRequest, "cannot read payload")
		return
	}
	var qos byte
	if v, ok := q["qos"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 2 {
			g.refuse(w, codes.BadRequest, "qos must be 0, 1 or 2")
			return
		}
		qos = byte(n)
	}
	retain := q["retain"] == "true"
	if err := g.o.Broker.Publish(broker.PublishRequest{Topic: topic, Payload: body, QoS: qos, Retain: retain, ClientID: ci.ClientID}); err != nil {
		g.refuse(w, codes.InternalServerError, "publish failed")
		return
	}
	g.counters.Published.Add(1)
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
}

func (g *Gateway) observe(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, ci broker.ClientInfo, superuser bool, filter string) {
	if filter == "" || !mqtt.IsValidFilter(filter, false) {
		g.refuse(w, codes.BadRequest, "not a valid topic filter")
		return
	}
	if g.o.Auth != nil && !superuser && !g.o.Auth.Authorize(r.Context(), ci, broker.AccessSubscribe, filter) {
		g.refuse(w, codes.Forbidden, "subscribe not authorized")
		return
	}
	cc := w.Conn()
	tok := append(message.Token(nil), r.Token()...)
	g.cancel(cc, tok) // a repeated observe with the same token replaces the old one
	o := &observation{g: g, cc: cc, token: tok, filter: filter, subID: int(g.subID.Add(1)), con: r.Type() == message.Confirmable,
		queue: make(chan broker.Delivery, g.o.QueueLength), done: make(chan struct{})}
	o.seq.Store(1)
	s := g.touch(cc, ci.ClientID)
	g.mu.Lock()
	s.obs[string(tok)] = o
	g.mu.Unlock()
	if err := g.o.Broker.Subscribe(filter, o.subID, o.deliver); err != nil {
		g.mu.Lock()
		delete(s.obs, string(tok))
		g.mu.Unlock()
		g.refuse(w, codes.InternalServerError, "subscribe failed")
		return
	}
	g.counters.Observations.Add(1)
	_ = w.SetResponse(codes.Content, message.AppOctets, nil)
	w.Message().SetObserve(1)
	g.wg.Add(1)
	go o.run()
}

// deliver runs on the publisher's goroutine: it only queues.
func (o *observation) deliver(d broker.Delivery) {
	select {
	case o.queue <- d:
	case <-o.done:
	default:
		o.g.counters.Dropped.Add(1)
	}
}

func (o *observation) run() {
	defer o.g.wg.Done()
	for {
		select {
		case <-o.done:
			return
		case d := <-o.queue:
			if err := o.notify(d); err != nil {
				o.g.end(o, "notification failed: "+err.Error())
				return
			}
		}
	}
}

// notify sends one notification: a small NON one directly with a known message id (so that a
// RST can be matched), anything else through go-coap (retransmission, block-wise).
func (o *observation) notify(d broker.Delivery) error {
	cc := o.cc
	ctx, cancel := context.WithTimeout(o.g.ctx, o.g.o.NotifyTimeout)
	defer cancel()
	m := cc.AcquireMessage(ctx)
	defer cc.ReleaseMessage(m)
	m.SetCode(codes.Content)
	m.SetToken(o.token)
	m.SetObserve(o.seq.Add(1) & 0xffffff)
	m.SetContentFormat(message.AppOctets)
	m.SetBody(bytes.NewReader(d.Payload))
	o.lastSent.Store(time.Now().UnixNano())
	payload := d.Payload
	o.last.Store(&payload)
	if !o.con && len(d.Payload) <= 1024 {
		mid := cc.GetMessageID()
		m.SetType(message.NonConfirmable)
		m.SetMessageID(mid)
		o.g.mu.Lock()
		if s := o.g.conns[cc]; s != nil {
			if len(s.mids) > 256 {
				clear(s.mids)
			}
			s.mids[mid] = o
		}
		o.g.mu.Unlock()
		if err := cc.Session().WriteMessage(m); err != nil {
			return err
		}
	} else {
		if o.con {
			m.SetType(message.Confirmable)
		} else {
			m.SetType(message.NonConfirmable)
		}
		if err := cc.WriteMessage(m); err != nil {
			return err
		}
	}
	o.g.counters.Notifications.Add(1)
	return nil
}

// onReset ends the observation a RST answers.
func (g *Gateway) onReset(cc *udpClient.Conn, mid int32) {
	g.mu.Lock()
	s := g.conns[cc]
	var ended []*observation
	if s != nil {
		if o, ok := s.mids[mid]; ok {
			ended = append(ended, o)
		} else {
			// A RST to a notification sent through go-coap (whose message id we do not know):
			// it answers one sent in the last few seconds.
			recent := time.Now().Add(-5 * time.Second).UnixNano()
			for _, o := range s.obs {
				if o.lastSent.Load() > recent {
					ended = append(ended, o)
				}
			}
		}
	}
	g.mu.Unlock()
	for _, o := range ended {
		g.end(o, "RST from the observer")
	}
}

func (g *Gateway) cancel(cc *udpClient.Conn, tok message.Token) {
	g.mu.Lock()
	var o *observation
	if s := g.conns[cc]; s != nil {
		o = s.obs[string(tok)]
	}
	g.mu.Unlock()
	if o != nil {
		g.end(o, "cancelled")
	}
}

// end stops an observation and its subscription.
func (g *Gateway) end(o *observation, why string) {
	o.once.Do(func() {
		close(o.done)
		_ = g.o.Broker.Unsubscribe(o.filter, o.subID)
		g.mu.Lock()
		if s := g.conns[o.cc]; s != nil && s.obs[string(o.token)] == o {
			delete(s.obs, string(o.token))
			for mid, x := range s.mids {
				if x == o {
					delete(s.mids, mid)
				}
			}
		}
		g.mu.Unlock()
		g.log.Debug("coap observation ended", "filter", o.filter, "reason", why)
	})
}

func (g *Gateway) closeConn(cc *udpClient.Conn) {
	g.mu.Lock()
	s := g.conns[cc]
	delete(g.conns, cc)
	g.mu.Unlock()
	if s == nil {
		return
	}
	for _, o := range s.obs {
		g.end(o, "session closed")
	}
}

// block serves a later block (RFC 7959 Block2) of an observation's last notification: the
// observer fetches it with a GET on the observed URI.
func (g *Gateway) block(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, cc *udpClient.Conn, filter string) {
	v, err := r.GetOptionUint32(message.Block2)
	if err != nil {
		g.refuse(w, codes.BadOption, "bad Block2 option")
		return
	}
	num, szx := int(v>>4), v&7
	if szx == 7 {
		g.refuse(w, codes.BadOption, "bad block size")
		return
	}
	size := 1 << (szx + 4)
	g.mu.Lock()
	var payload []byte
	if s := g.conns[cc]; s != nil {
		for _, o := range s.obs {
			if p := o.last.Load(); o.filter == filter && p != nil {
				payload = *p
			}
		}
	}
	g.mu.Unlock()
	start := num * size
	if payload == nil || start >= len(payload) {
		g.refuse(w, codes.NotFound, "no such block")
		return
	}
	// go-coap's block-wise layer cuts the requested block out of the whole representation.
	_ = w.SetResponse(codes.Content, message.AppOctets, bytes.NewReader(payload))
	w.Message().SetOptionUint32(message.Size2, uint32(len(payload)))
}

func (g *Gateway) observing(cc *udpClient.Conn, tok message.Token) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.conns[cc]
	return s != nil && s.obs[string(tok)] != nil
}
