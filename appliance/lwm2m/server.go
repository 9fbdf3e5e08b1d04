package lwm2m

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	piondtls "github.com/pion/dtls/v3"
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
	"github.com/wedge-iot/wedge/appliance/coap"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/lwm2m/model"
)

// Counters are the server's cumulative counts.
type Counters struct {
	Registrations       atomic.Int64 // accepted registrations
	RegistrationsDenied atomic.Int64 // refused registrations (bad query, version, auth)
	Updates             atomic.Int64
	Deregistrations     atomic.Int64
	Expirations         atomic.Int64 // lifetimes that ran out
	Commands            atomic.Int64 // commands sent to devices
	CommandsQueued      atomic.Int64 // commands that waited for a queue-mode device
	CommandsDropped     atomic.Int64 // over the per-device queue limit, or the device went away
	CommandsInvalid     atomic.Int64 // undecodable downlink messages
	Timeouts            atomic.Int64 // commands the device did not answer
	Notifications       atomic.Int64 // observe notifications published
	Malformed           atomic.Int64 // malformed datagrams dropped
}

// CounterSnapshot is a copy of Counters.
type CounterSnapshot struct {
	Registrations, RegistrationsDenied, Updates, Deregistrations, Expirations int64
	Commands, CommandsQueued, CommandsDropped, CommandsInvalid, Timeouts      int64
	Notifications, Malformed                                                  int64
	Clients                                                                   int
}

// Server is the LwM2M server.
type Server struct {
	o        Options
	log      *slog.Logger
	reg      *model.Registry
	counters Counters

	mu       sync.RWMutex
	sessions map[string]*session
	byConn   map[*udpClient.Conn]*session

	udp     *udpServer.Server
	udpL    *coapnet.UDPConn
	dtls    *dtlsServer.Server
	dtlsL   *coapnet.DTLSListener
	subID   atomic.Int64
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	started bool
}

// New returns a server; Start opens its listeners.
func New(o Options) (*Server, error) {
	o.fill()
	if o.Broker == nil {
		return nil, errors.New("lwm2m: no broker")
	}
	if o.XMLDir != "" {
		if err := o.Registry.LoadDir(o.XMLDir); err != nil {
			return nil, fmt.Errorf("lwm2m: xml_dir: %w", err)
		}
	}
	s := &Server{o: o, log: o.Logger.With("component", "lwm2m"), reg: o.Registry,
		sessions: map[string]*session{}, byConn: map[*udpClient.Conn]*session{}}
	s.subID.Store(2 << 20)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Registry returns the object model.
func (s *Server) Registry() *model.Registry { return s.reg }

// Counters returns a snapshot of the counters.
func (s *Server) Counters() CounterSnapshot {
	c := &s.counters
	s.mu.RLock()
	n := len(s.sessions)
	s.mu.RUnlock()
	return CounterSnapshot{c.Registrations.Load(), c.RegistrationsDenied.Load(), c.Updates.Load(), c.Deregistrations.Load(),
		c.Expirations.Load(), c.Commands.Load(), c.CommandsQueued.Load(), c.CommandsDropped.Load(), c.CommandsInvalid.Load(),
		c.Timeouts.Load(), c.Notifications.Load(), c.Malformed.Load(), n}
}

func (s *Server) serverOptions() []udpServer.Option {
	return []udpServer.Option{
		options.WithHandlerFunc(s.handle),
		options.WithErrors(s.onError),
		options.WithInactivityMonitor(time.Minute, func(cc *udpClient.Conn) {
			// Registered devices live by their lifetime, not by traffic; others are dropped.
			s.mu.RLock()
			_, registered := s.byConn[cc]
			s.mu.RUnlock()
			if !registered {
				_ = cc.Close()
			}
		}),
		options.WithBlockwise(true, 6, 30*time.Second),
		// A 1 s tick (go-coap's default is 4 s) keeps retransmissions to devices timely.
		options.WithPeriodicRunner(periodic.New(s.ctx.Done(), time.Second)),
	}
}

func (s *Server) onError(err error) {
	var mm *udpClient.MalformedMessageError
	if errors.As(err, &mm) {
		s.counters.Malformed.Add(1)
	}
	s.log.Debug("coap", "err", err)
}

// Start opens the UDP (and, with PSK identities, DTLS) listeners.
func (s *Server) Start(ctx context.Context) error {
	if s.o.Listen != "" {
		l, err := coapnet.NewListenUDP("udp", s.o.Listen)
		if err != nil {
			return fmt.Errorf("lwm2m: listen %s: %w", s.o.Listen, err)
		}
		s.udpL = l
		s.udp = udp.NewServer(s.serverOptions()...)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.udp.Serve(l); err != nil && s.ctx.Err() == nil {
				s.log.Error("lwm2m udp server stopped", "err", err)
			}
		}()
	}
	if s.o.DTLSListen != "" && len(s.o.PSK) > 0 {
		l, err := coap.ListenPSK(s.o.DTLSListen, s.o.PSK)
		if err != nil {
			s.Stop(ctx)
			return fmt.Errorf("lwm2m: dtls listen %s: %w", s.o.DTLSListen, err)
		}
		s.dtlsL = l
		s.dtls = dtls.NewServer(options.WithHandlerFunc(s.handle), options.WithErrors(s.onError),
			options.WithPeriodicRunner(periodic.New(s.ctx.Done(), time.Second)),
			options.WithInactivityMonitor(s.o.LifetimeMax+time.Minute, func(cc *udpClient.Conn) { _ = cc.Close() }))
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.dtls.Serve(l); err != nil && s.ctx.Err() == nil {
				s.log.Error("lwm2m dtls server stopped", "err", err)
			}
		}()
	}
	s.started = true
	return nil
}

// Addr returns the UDP listener's address (nil when not listening).
func (s *Server) Addr() net.Addr {
	if s.udpL == nil {
		return nil
	}
	return s.udpL.LocalAddr()
}

// DTLSAddr returns the DTLS listener's address (nil when not listening).
func (s *Server) DTLSAddr() net.Addr {
	if s.dtlsL == nil {
		return nil
	}
	return s.dtlsL.Addr()
}

// Stop closes the listeners and drops every session (without publishing events).
func (s *Server) Stop(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		s.drop(ss, "")
	}
	if s.udp != nil {
		s.udp.Stop()
	}
	if s.dtls != nil {
		s.dtls.Stop()
	}
	if s.dtlsL != nil {
		_ = s.dtlsL.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Clients returns the registered devices ordered by endpoint name.
func (s *Server) Clients() []ClientInfo {
	s.mu.RLock()
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.RUnlock()
	out := make([]ClientInfo, 0, len(list))
	for _, ss := range list {
		out = append(out, ss.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Endpoint < out[j].Endpoint })
	return out
}

// Client returns one registered device.
func (s *Server) Client(ep string) (ClientInfo, bool) {
	ss := s.session(ep)
	if ss == nil {
		return ClientInfo{}, false
	}
	return ss.info(), true
}

func (s *Server) session(ep string) *session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions[ep]
}

// handle serves every CoAP message from devices.
func (s *Server) handle(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	if r.Type() == message.Reset || r.Code() == codes.Empty {
		return
	}
	if r.Code() >= codes.Created {
		// A response nobody waits for: a notification of an observation we dropped.
		// Reject it so that the device ends the observation (RFC 7641 3.6).
		s.reset(w, r)
		return
	}
	path, _ := r.Options().Path()
	path = "/" + strings.Trim(path, "/")
	switch {
	case path == "/rd" && r.Code() == codes.POST:
		s.register(w, r)
	case strings.HasPrefix(path, "/rd/"):
		ep := strings.TrimPrefix(path, "/rd/")
		switch r.Code() {
		case codes.POST:
			s.update(w, r, ep)
		case codes.DELETE:
			s.deregister(w, r, ep)
		default:
			reply(w, codes.MethodNotAllowed)
		}
	case path == "/rd":
		reply(w, codes.MethodNotAllowed)
	default:
		reply(w, codes.NotFound)
	}
}

func reply(w *responsewriter.ResponseWriter[*udpClient.Conn], c codes.Code) {
	_ = w.SetResponse(c, message.TextPlain, nil)
}

func queries(r *pool.Message) (map[string]string, map[string]bool) {
	qs, _ := r.Queries()
	vals := map[string]string{}
	bare := map[string]bool{}
	for _, q := range qs {
		k, v, ok := strings.Cut(q, "=")
		if !ok {
			bare[k] = true
			continue
		}
		vals[k] = v
	}
	return vals, bare
}

var knownParams = map[string]bool{"ep": true, "lt": true, "lwm2m": true, "b": true, "sms": true, "Q": true}

func (s *Server) register(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	q, bare := queries(r)
	deny := func(c codes.Code, why string) {
		s.counters.RegistrationsDenied.Add(1)
		s.log.Info("lwm2m registration refused", "ep", q["ep"], "peer", w.Conn().RemoteAddr().String(), "reason", why)
		reply(w, c)
	}
	ep := q["ep"]
	if ep == "" {
		deny(codes.BadRequest, "no endpoint name")
		return
	}
	if strings.ContainsAny(ep, "+#/") || len(ep) > 256 {
		deny(codes.BadRequest, "endpoint name not usable in a topic")
		return
	}
	ver := q["lwm2m"]
	if ver == "" || !(ver == "1" || strings.HasPrefix(ver, "1.")) {
		deny(codes.PreconditionFailed, "unsupported lwm2m version "+strconv.Quote(ver))
		return
	}
	lt := 86400
	if v, ok := q["lt"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			deny(codes.BadRequest, "bad lifetime")
			return
		}
		lt = n
	}
	if time.Duration(lt)*time.Second < s.o.LifetimeMin || time.Duration(lt)*time.Second > s.o.LifetimeMax {
		deny(codes.BadRequest, "lifetime out of range")
		return
	}
	body, _ := r.ReadBody()
	list, alt, ct, err := parseObjectList(body)
	if err != nil {
		deny(codes.BadRequest, "bad object list: "+err.Error())
		return
	}
	conn := w.Conn()
	peer := conn.RemoteAddr()
	host, port := splitPeer(peer)
	ci := broker.ClientInfo{ClientID: ep, PeerHost: host, PeerPort: port, Listener: "lwm2m", Protocol: "lwm2m"}
	if s.o.Auth != nil {
		if ok, _ := s.o.Auth.Authenticate(r.Context(), ci, nil); !ok {
			deny(codes.Forbidden, "not authorized")
			return
		}
	}
	if s.dtls != nil && s.isDTLS(conn) && !s.o.AnyPSKIdentity {
		// The PSK identity must be the endpoint name.
		if pskIdentity(conn) != ep {
			deny(codes.Forbidden, "PSK identity does not match endpoint")
			return
		}
	}
	binding := q["b"]
	if binding == "" {
		binding = "U"
	}
	params := map[string]string{}
	for k, v := range q {
		if !knownParams[k] {
			params[k] = v
		}
	}
	now := time.Now()
	ss := &session{ep: ep, lifetime: lt, version: ver, binding: binding, sms: q["sms"],
		queue: strings.Contains(binding, "Q") || bare["Q"], alternatePath: alt, objectList: list, preferredCT: ct,
		params: params, conn: conn, peer: peer, secure: s.isDTLS(conn), registeredAt: now, updatedAt: now,
		awakeUntil: now.Add(s.o.QModeTimeWindow), observes: map[string]*observation{}, lookups: map[string]*LookupEntry{}}
	if len(params) == 0 {
		ss.params = nil
	}
	s.mu.Lock()
	old := s.sessions[ep]
	s.mu.Unlock()
	if old != nil {
		// A re-registration replaces the old registration; its pending commands carry over.
		old.mu.Lock()
		ss.jobs = old.jobs
		old.jobs = nil
		old.mu.Unlock()
		s.drop(old, "")
	}
	ss.subTopic = s.topic(ss, s.o.Topics.Command)
	ss.subID = int(s.subID.Add(1))
	for _, f := range subFilters(ss.subTopic) {
		if err := s.o.Broker.Subscribe(f, ss.subID, func(d broker.Delivery) { s.downlink(ss, d) }); err != nil {
			s.log.Error("lwm2m: subscribe", "topic", f, "err", err)
		}
	}
	s.mu.Lock()
	s.sessions[ep] = ss
	s.byConn[conn] = ss
	s.mu.Unlock()
	ss.mu.Lock()
	ss.timer = time.AfterFunc(s.expiry(lt), func() { s.expire(ss) })
	ss.mu.Unlock()
	s.counters.Registrations.Add(1)
	_ = w.SetResponse(codes.Created, message.TextPlain, nil)
	w.Message().AddOptionString(message.LocationPath, "rd")
	w.Message().AddOptionString(message.LocationPath, ep)
	s.log.Info("lwm2m registered", "ep", ep, "lt", lt, "lwm2m", ver, "b", binding, "peer", peer.String())
	s.publishEvent(ss, "register", s.o.Topics.Register)
	s.kick(ss)
	if s.o.AutoObserve {
		time.AfterFunc(s.o.AutoObserveDelay, func() { s.autoObserve(ss) })
	}
}

// expiry is how long a registration lives without an Update: its lifetime plus a little grace
// for the update in flight.
func (s *Server) expiry(lt int) time.Duration {
	d := time.Duration(lt) * time.Second
	grace := d / 10
	if grace > 30*time.Second {
		grace = 30 * time.Second
	}
	return d + grace
}

func (s *Server) isDTLS(cc *udpClient.Conn) bool {
	_, isUDP := cc.NetConn().(*net.UDPConn)
	return !isUDP
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

func (s *Server) update(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, ep string) {
	ss := s.session(ep)
	if ss == nil {
		reply(w, codes.NotFound)
		return
	}
	q, bare := queries(r)
	body, _ := r.ReadBody()
	var list []string
	var alt string
	var ct uint16
	hasList := len(bytes.TrimSpace(body)) > 0
	if hasList {
		var err error
		if list, alt, ct, err = parseObjectList(body); err != nil {
			reply(w, codes.BadRequest)
			return
		}
	}
	lt := -1
	if v, ok := q["lt"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || time.Duration(n)*time.Second < s.o.LifetimeMin || time.Duration(n)*time.Second > s.o.LifetimeMax {
			reply(w, codes.BadRequest)
			return
		}
		lt = n
	}
	conn := w.Conn()
	now := time.Now()
	ss.mu.Lock()
	if lt > 0 {
		ss.lifetime = lt
	}
	if b, ok := q["b"]; ok && b != "" {
		ss.binding = b
		ss.queue = strings.Contains(b, "Q") || bare["Q"]
	}
	if v, ok := q["sms"]; ok {
		ss.sms = v
	}
	if hasList {
		ss.objectList, ss.alternatePath = list, alt
		if ct != 0 {
			ss.preferredCT = ct
		}
	}
	for k, v := range q {
		if !knownParams[k] {
			if ss.params == nil {
				ss.params = map[string]string{}
			}
			ss.params[k] = v
		}
	}
	oldConn := ss.conn
	ss.conn, ss.peer = conn, conn.RemoteAddr()
	ss.updatedAt = now
	ss.awakeUntil = now.Add(s.o.QModeTimeWindow)
	if ss.timer != nil {
		ss.timer.Reset(s.expiry(ss.lifetime))
	}
	ss.mu.Unlock()
	if oldConn != conn {
		s.mu.Lock()
		if s.byConn[oldConn] == ss {
			delete(s.byConn, oldConn)
		}
		s.byConn[conn] = ss
		s.mu.Unlock()
	}
	s.counters.Updates.Add(1)
	reply(w, codes.Changed)
	if hasList || s.o.UpdatePublishAlways {
		s.publishEvent(ss, "update", s.o.Topics.Update)
	}
	s.kick(ss)
}

func (s *Server) deregister(w *responsewriter.ResponseWriter[*udpClient.Conn], _ *pool.Message, ep string) {
	ss := s.session(ep)
	if ss == nil {
		reply(w, codes.NotFound)
		return
	}
	s.counters.Deregistrations.Add(1)
	reply(w, codes.Deleted)
	s.log.Info("lwm2m deregistered", "ep", ep)
	s.drop(ss, "deregister")
}

func (s *Server) expire(ss *session) {
	s.mu.RLock()
	cur := s.sessions[ss.ep]
	s.mu.RUnlock()
	if cur != ss {
		return
	}
	s.counters.Expirations.Add(1)
	s.log.Info("lwm2m registration expired", "ep", ss.ep)
	s.drop(ss, "expired")
}

// drop removes a session; event, when not empty, is published as its msgType.
func (s *Server) drop(ss *session, event string) {
	s.mu.Lock()
	if s.sessions[ss.ep] == ss {
		delete(s.sessions, ss.ep)
	}
	if s.byConn[ss.conn] == ss {
		delete(s.byConn, ss.conn)
	}
	s.mu.Unlock()
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	if ss.timer != nil {
		ss.timer.Stop()
	}
	jobs := ss.jobs
	ss.jobs = nil
	obs := ss.observes
	ss.observes = map[string]*observation{}
	ss.mu.Unlock()
	for _, f := range subFilters(ss.subTopic) {
		_ = s.o.Broker.Unsubscribe(f, ss.subID)
	}
	for _, j := range jobs {
		s.counters.CommandsDropped.Add(1)
		j.finish(nil, errGone)
	}
	for _, o := range obs {
		o := o
		go func() { // cancel locally; the device learns it from our RST to its next notification
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = o.obs.Cancel(ctx)
		}()
	}
	if event != "" {
		s.publishEvent(ss, event, s.o.Topics.Register)
	}
}

// Deregister removes a device's registration as if it had deregistered (the REST API's kick).
func (s *Server) Deregister(ep string) bool {
	ss := s.session(ep)
	if ss == nil {
		return false
	}
	s.counters.Deregistrations.Add(1)
	s.drop(ss, "deregister")
	return true
}

// subFilters returns the filters to subscribe for a command topic: "a/dn/#" also as "a/dn",
// because mochi-mqtt's inline subscriptions miss the parent level of a trailing "#".
func subFilters(f string) []string {
	if p, ok := strings.CutSuffix(f, "/#"); ok && p != "" {
		return []string{p, f}
	}
	return []string{f}
}

// reset answers a message with RST carrying its message id.
func (s *Server) reset(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	if r.Type() == message.Confirmable {
		w.Message().SetCode(codes.Empty)
		w.Message().SetType(message.Reset)
		w.Message().SetModified(true)
		return
	}
	// go-coap gives replies to NON messages a fresh message id; a RST must echo the rejected one.
	cc := w.Conn()
	m := cc.AcquireMessage(cc.Context())
	defer cc.ReleaseMessage(m)
	m.SetType(message.Reset)
	m.SetCode(codes.Empty)
	m.SetMessageID(r.MessageID())
	if err := cc.Session().WriteMessage(m); err != nil {
		s.log.Debug("lwm2m: cannot send RST", "err", err)
	}
}

// pskIdentity returns the PSK identity a DTLS peer used ("" for plain UDP).
func pskIdentity(cc *udpClient.Conn) string {
	dc, ok := cc.NetConn().(*piondtls.Conn)
	if !ok {
		return ""
	}
	st, ok := dc.ConnectionState()
	if !ok {
		return ""
	}
	return string(st.IdentityHint)
}
