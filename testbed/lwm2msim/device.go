package lwm2msim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// Config describes a simulated device.
type Config struct {
	Endpoint string
	Lifetime int    // seconds (default 300)
	Version  string // "1.0" (default) or "1.1"
	Binding  string // "U" (default), "UQ" for 1.0 queue mode
	Queue    bool   // 1.1 queue mode (the Q parameter)
	// PreferredFormat is announced in the root link as ct= (1.1), e.g. CFSenMLCBOR.
	PreferredFormat int
	// Params are extra register query parameters (e.g. "imei").
	Params map[string]string
	// ConfirmableNotify sends notifications as CON instead of NON.
	ConfirmableNotify bool
	// IgnoreRequests makes the device silent to server requests (a sleeping radio).
	IgnoreRequests bool
	// PlainSingle answers single-resource reads in plain text without a Content-Format option
	// (opaque ones as application/octet-stream), whatever the Accept, as some clients do
	// (e.g. lwm2m-node-lib).
	PlainSingle bool
	// PSKIdentity and PSKKey, when set, make the device connect with DTLS (PSK).
	PSKIdentity string
	PSKKey      []byte
}

// Device is one simulated LwM2M client.
type Device struct {
	cfg  Config
	conn *udpClient.Conn

	mu         sync.Mutex
	objects    map[uint16]map[uint16]map[uint16]any // object > instance > resource > value (map[uint16]any for multiple)
	attrs      map[string]string                    // path -> write-attributes query
	executed   []string                             // "path args"
	observers  map[string]*observer                 // token -> observer
	notifyMIDs map[int32]string                     // message id of recent notifications -> token
	location   string
	seq        uint32
	silent     atomic.Bool

	lastAccept atomic.Int64

	// Requests counts the server requests the device answered.
	Requests atomic.Int64
	// Notifications counts notifications sent.
	Notifications atomic.Int64
}

type observer struct {
	token  message.Token
	path   []uint16
	accept int
}

// New returns a device with the standard objects 1 (Server), 3 (Device) and 5 (Firmware
// Update) filled in; Set adds or changes resources.
func New(cfg Config) *Device {
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 300
	}
	if cfg.Version == "" {
		cfg.Version = "1.0"
	}
	if cfg.Binding == "" {
		cfg.Binding = "U"
	}
	d := &Device{cfg: cfg, objects: map[uint16]map[uint16]map[uint16]any{}, attrs: map[string]string{}, observers: map[string]*observer{}, notifyMIDs: map[int32]string{}}
	d.silent.Store(cfg.IgnoreRequests)
	d.Set("/1/0/0", int64(1))
	d.Set("/1/0/1", int64(cfg.Lifetime))
	d.Set("/1/0/6", false)
	d.Set("/1/0/7", cfg.Binding)
	d.Set("/3/0/0", "wedge simulator")
	d.Set("/3/0/1", "lwm2msim")
	d.Set("/3/0/2", "SN-"+cfg.Endpoint)
	d.Set("/3/0/3", "1.0.0")
	d.Set("/3/0/6/0", int64(1))
	d.Set("/3/0/6/1", int64(5))
	d.Set("/3/0/9", int64(100))
	d.Set("/3/0/11/0", int64(0))
	d.Set("/3/0/13", int64(1700000000))
	d.Set("/3/0/14", "+00:00")
	d.Set("/3/0/16", "U")
	d.Set("/5/0/1", "")
	d.Set("/5/0/3", int64(0))
	d.Set("/5/0/5", int64(0))
	return d
}

// Endpoint returns the endpoint name.
func (d *Device) Endpoint() string { return d.cfg.Endpoint }

// SetSilent makes the device ignore (true) or answer (false) server requests.
func (d *Device) SetSilent(v bool) { d.silent.Store(v) }

// Set sets the resource at path ("/3/0/9" or "/3/0/6/1") and notifies its observers.
func (d *Device) Set(path string, v any) {
	p, err := parsePath(path)
	if err != nil || len(p) < 3 {
		panic(fmt.Sprintf("lwm2msim: bad resource path %q", path))
	}
	d.mu.Lock()
	d.setLocked(p, v)
	d.mu.Unlock()
	d.notify(p)
}

func (d *Device) setLocked(p []uint16, v any) {
	obj := d.objects[p[0]]
	if obj == nil {
		obj = map[uint16]map[uint16]any{}
		d.objects[p[0]] = obj
	}
	inst := obj[p[1]]
	if inst == nil {
		inst = map[uint16]any{}
		obj[p[1]] = inst
	}
	if len(p) == 4 {
		m, _ := inst[p[2]].(map[uint16]any)
		if m == nil {
			m = map[uint16]any{}
			inst[p[2]] = m
		}
		m[p[3]] = v
		return
	}
	inst[p[2]] = v
}

// Get returns the value at a resource path.
func (d *Device) Get(path string) (any, bool) {
	p, err := parsePath(path)
	if err != nil || len(p) < 3 {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.objects[p[0]][p[1]][p[2]]
	if ok && len(p) == 4 {
		m, _ := v.(map[uint16]any)
		v, ok = m[p[3]]
	}
	return v, ok
}

// HasInstance reports whether /o/i exists.
func (d *Device) HasInstance(o, i uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.objects[o][i]
	return ok
}

// Executed returns the executes received, as "path args".
func (d *Device) Executed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.executed...)
}

// Attributes returns the write-attributes query last written at path.
func (d *Device) Attributes(path string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attrs["/"+strings.Trim(path, "/")]
}

// Observers returns the number of active observations.
func (d *Device) Observers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.observers)
}

// ObjectLinks returns the registration payload: the object list in link format.
func (d *Device) ObjectLinks() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var links []string
	if d.cfg.PreferredFormat != 0 {
		links = append(links, fmt.Sprintf(`</>;rt="oma.lwm2m";ct=%d`, d.cfg.PreferredFormat))
	}
	for _, o := range sortedKeys(d.objects) {
		if len(d.objects[o]) == 0 {
			links = append(links, fmt.Sprintf("</%d>", o))
		}
		for _, i := range sortedKeys(d.objects[o]) {
			links = append(links, fmt.Sprintf("</%d/%d>", o, i))
		}
	}
	return strings.Join(links, ",")
}

func sortedKeys[V any](m map[uint16]V) []uint16 {
	out := make([]uint16, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Register dials the server (host:port) from a new UDP socket and registers.
func (d *Device) Register(ctx context.Context, server string) error {
	if d.conn == nil {
		// Blockwise is off so that a notification keeps the message id it was given: a RST
		// to it is matched by that id.
		var c *udpClient.Conn
		var err error
		if d.cfg.PSKIdentity != "" {
			c, err = dtls.Dial(server, &piondtls.Config{
				PSK:             func([]byte) ([]byte, error) { return d.cfg.PSKKey, nil },
				PSKIdentityHint: []byte(d.cfg.PSKIdentity),
				CipherSuites:    []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8},
			}, options.WithHandlerFunc(d.handle), options.WithBlockwise(false, 6, time.Minute),
				options.WithInactivityMonitor(time.Hour, func(*udpClient.Conn) {}))
		} else {
			c, err = udp.Dial(server, options.WithHandlerFunc(d.handle), options.WithBlockwise(false, 6, time.Minute),
				options.WithInactivityMonitor(time.Hour, func(*udpClient.Conn) {}))
		}
		if err != nil {
			return err
		}
		d.conn = c
	}
	q := []string{"ep=" + d.cfg.Endpoint, "lt=" + strconv.Itoa(d.cfg.Lifetime), "lwm2m=" + d.cfg.Version, "b=" + d.cfg.Binding}
	if d.cfg.Queue {
		q = append(q, "Q")
	}
	keys := make([]string, 0, len(d.cfg.Params))
	for k := range d.cfg.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q = append(q, k+"="+d.cfg.Params[k])
	}
	req, err := d.conn.NewPostRequest(ctx, "/rd", message.AppLinkFormat, bytes.NewReader([]byte(d.ObjectLinks())))
	if err != nil {
		return err
	}
	defer d.conn.ReleaseMessage(req)
	for _, x := range q {
		req.AddQuery(x)
	}
	resp, err := d.conn.Do(req)
	if err != nil {
		return err
	}
	defer d.conn.ReleaseMessage(resp)
	if resp.Code() != codes.Created {
		return fmt.Errorf("register: %v", resp.Code())
	}
	var loc []string
	for _, o := range resp.Options() {
		if o.ID == message.LocationPath {
			loc = append(loc, string(o.Value))
		}
	}
	d.mu.Lock()
	d.location = "/" + strings.Join(loc, "/")
	d.mu.Unlock()
	return nil
}

// Location returns the registration's location path ("/rd/ep").
func (d *Device) Location() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.location
}

// ErrNotRegistered is returned by Update and Deregister before Register.
var ErrNotRegistered = errors.New("lwm2msim: not registered")

// Update sends an Update: empty (a lifetime refresh) or, with objects, carrying the object list;
// query is extra "k=v" parameters (e.g. "lt=60"). It returns the response code.
func (d *Device) Update(ctx context.Context, objects bool, query ...string) (codes.Code, error) {
	loc := d.Location()
	if d.conn == nil || loc == "" {
		return 0, ErrNotRegistered
	}
	var body *bytes.Reader
	if objects {
		body = bytes.NewReader([]byte(d.ObjectLinks()))
	}
	var req *pool.Message
	var err error
	if body != nil {
		req, err = d.conn.NewPostRequest(ctx, loc, message.AppLinkFormat, body)
	} else {
		req, err = d.conn.NewPostRequest(ctx, loc, message.TextPlain, nil)
	}
	if err != nil {
		return 0, err
	}
	defer d.conn.ReleaseMessage(req)
	for _, x := range query {
		req.AddQuery(x)
	}
	resp, err := d.conn.Do(req)
	if err != nil {
		return 0, err
	}
	defer d.conn.ReleaseMessage(resp)
	return resp.Code(), nil
}

// Deregister sends a De-register and returns the response code.
func (d *Device) Deregister(ctx context.Context) (codes.Code, error) {
	loc := d.Location()
	if d.conn == nil || loc == "" {
		return 0, ErrNotRegistered
	}
	resp, err := d.conn.Delete(ctx, loc)
	if err != nil {
		return 0, err
	}
	defer d.conn.ReleaseMessage(resp)
	return resp.Code(), nil
}

// Close closes the device's socket (without de-registering).
func (d *Device) Close() error {
	if d.conn == nil {
		return nil
	}
	return d.conn.Close()
}

// LocalAddr returns the device's UDP address.
func (d *Device) LocalAddr() net.Addr {
	if d.conn == nil {
		return nil
	}
	return d.conn.LocalAddr()
}

// entriesLocked lists the values under p (object, instance, resource or resource instance).
func (d *Device) entriesLocked(p []uint16) ([]Entry, bool) {
	var out []Entry
	if len(p) == 0 {
		return nil, false
	}
	obj, ok := d.objects[p[0]]
	if !ok {
		return nil, false
	}
	for _, i := range sortedKeys(obj) {
		if len(p) > 1 && p[1] != i {
			continue
		}
		inst := obj[i]
		for _, r := range sortedKeys(inst) {
			if len(p) > 2 && p[2] != r {
				continue
			}
			if m, ok := inst[r].(map[uint16]any); ok {
				for _, ri := range sortedKeys(m) {
					if len(p) > 3 && p[3] != ri {
						continue
					}
					out = append(out, Entry{Path: []uint16{p[0], i, r, ri}, Value: m[ri]})
				}
				continue
			}
			out = append(out, Entry{Path: []uint16{p[0], i, r}, Value: inst[r]})
		}
	}
	if len(out) == 0 && len(p) > 1 {
		if _, ok := obj[p[1]]; !ok || len(p) > 2 {
			return nil, false
		}
	}
	return out, true
}

func (d *Device) encode(cf int, p []uint16, es []Entry) ([]byte, int, error) {
	switch cf {
	case CFTLV:
		return encodeTLV(len(p), es), cf, nil
	case CFSenMLJSON:
		b, err := jsonMarshal(toSenML(p, es))
		return b, cf, err
	case CFSenMLCBOR:
		b, err := encodeSenMLCBOR(p, es)
		return b, cf, err
	case CFJSON:
		b, err := encodeOMAJSON(p, es)
		return b, cf, err
	case CFText, CFOpaque:
		if len(es) != 1 || len(p) < 3 {
			return nil, 0, errors.New("not a single resource")
		}
		if cf == CFOpaque {
			b, ok := es[0].Value.([]byte)
			if !ok {
				return nil, 0, errors.New("not opaque")
			}
			return b, cf, nil
		}
		return textValue(es[0].Value), cf, nil
	}
	return nil, 0, errors.New("unsupported")
}

func (d *Device) decode(cf int, p []uint16, body []byte) ([]Entry, error) {
	switch cf {
	case CFTLV:
		return decodeTLV(p, body)
	case CFSenMLJSON:
		var recs []senmlRec
		if err := jsonUnmarshal(body, &recs); err != nil {
			return nil, err
		}
		return fromSenML(recs)
	case CFSenMLCBOR:
		return decodeSenMLCBOR(body)
	case CFJSON:
		return decodeOMAJSON(body)
	case CFText:
		return []Entry{{Path: p, Value: string(body)}}, nil
	case CFOpaque:
		return []Entry{{Path: p, Value: append([]byte(nil), body...)}}, nil
	}
	return nil, errors.New("unsupported")
}

func setResp(w *responsewriter.ResponseWriter[*udpClient.Conn], c codes.Code) {
	_ = w.SetResponse(c, message.TextPlain, nil)
}

// handle answers the server's requests.
func (d *Device) handle(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	if debug {
		fmt.Printf("sim %s: in type=%v code=%v mid=%d token=%x\n", d.cfg.Endpoint, r.Type(), r.Code(), r.MessageID(), r.Token())
	}
	if r.Type() == message.Reset {
		// A reset to a notification ends its observation.
		d.mu.Lock()
		if tok, ok := d.notifyMIDs[r.MessageID()]; ok {
			delete(d.observers, tok)
			delete(d.notifyMIDs, r.MessageID())
		}
		d.mu.Unlock()
		return
	}
	if r.Code() == codes.Empty || r.Code() >= codes.Created || d.silent.Load() {
		return
	}
	d.Requests.Add(1)
	ps, _ := r.Options().Path()
	p, err := parsePath(ps)
	if err != nil {
		setResp(w, codes.BadRequest)
		return
	}
	switch r.Code() {
	case codes.GET:
		d.get(w, r, p)
	case codes.PUT:
		d.put(w, r, p)
	case codes.POST:
		d.post(w, r, p)
	case codes.DELETE:
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(p) != 2 || d.objects[p[0]][p[1]] == nil {
			setResp(w, codes.NotFound)
			return
		}
		delete(d.objects[p[0]], p[1])
		setResp(w, codes.Deleted)
	default:
		setResp(w, codes.MethodNotAllowed)
	}
}

func (d *Device) get(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, p []uint16) {
	accept := -1
	if a, err := r.Accept(); err == nil {
		accept = int(a)
	}
	d.lastAccept.Store(int64(accept))
	if accept == CFLink {
		d.discover(w, p)
		return
	}
	obs, obsErr := r.Observe()
	if obsErr == nil && obs == 1 {
		d.mu.Lock()
		delete(d.observers, string(r.Token()))
		d.mu.Unlock()
	}
	d.mu.Lock()
	es, ok := d.entriesLocked(p)
	d.mu.Unlock()
	if !ok {
		setResp(w, codes.NotFound)
		return
	}
	cf := accept
	if cf < 0 {
		cf = CFTLV
		if d.cfg.Version != "1.0" {
			cf = CFSenMLJSON
		}
		if len(p) == 3 && len(es) == 1 {
			cf = CFText
		}
	}
	bare := false
	if d.cfg.PlainSingle && len(p) >= 3 && len(es) == 1 {
		cf, bare = CFText, true
		if _, ok := es[0].Value.([]byte); ok {
			cf, bare = CFOpaque, false
		}
	}
	body, cf, err := d.encode(cf, p, es)
	if err != nil {
		setResp(w, codes.NotAcceptable)
		return
	}
	if obsErr == nil && obs == 0 {
		d.mu.Lock()
		d.observers[string(r.Token())] = &observer{token: append(message.Token(nil), r.Token()...), path: p, accept: cf}
		d.seq++
		d.mu.Unlock()
	}
	_ = w.SetResponse(codes.Content, message.MediaType(cf), bytes.NewReader(body))
	if bare {
		w.Message().Remove(message.ContentFormat)
	}
	if obsErr == nil && obs == 0 {
		w.Message().SetObserve(d.currentSeq())
	}
}

func (d *Device) currentSeq() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

func (d *Device) discover(w *responsewriter.ResponseWriter[*udpClient.Conn], p []uint16) {
	d.mu.Lock()
	es, ok := d.entriesLocked(p)
	var links []string
	if ok {
		links = append(links, "<"+pathString(p)+">")
		seen := map[string]bool{}
		for _, e := range es {
			rp := pathString(e.Path[:3])
			if seen[rp] {
				continue
			}
			seen[rp] = true
			l := "<" + rp + ">"
			if m, isMulti := d.objects[e.Path[0]][e.Path[1]][e.Path[2]].(map[uint16]any); isMulti {
				l += ";dim=" + strconv.Itoa(len(m))
			}
			if a := d.attrs[rp]; a != "" {
				l += ";" + strings.ReplaceAll(a, "&", ";")
			}
			links = append(links, l)
		}
	}
	d.mu.Unlock()
	if !ok {
		setResp(w, codes.NotFound)
		return
	}
	_ = w.SetResponse(codes.Content, message.AppLinkFormat, bytes.NewReader([]byte(strings.Join(links, ","))))
}

func (d *Device) put(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, p []uint16) {
	qs, _ := r.Queries()
	body, _ := r.ReadBody()
	if len(qs) > 0 && len(body) == 0 {
		d.mu.Lock()
		d.attrs[pathString(p)] = strings.Join(qs, "&")
		d.mu.Unlock()
		setResp(w, codes.Changed)
		return
	}
	d.write(w, r, p, body, true)
}

func (d *Device) write(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, p []uint16, body []byte, replace bool) {
	cf := CFText
	if c, err := r.ContentFormat(); err == nil {
		cf = int(c)
	}
	es, err := d.decode(cf, p, body)
	if err != nil {
		setResp(w, codes.BadRequest)
		return
	}
	var changed [][]uint16
	d.mu.Lock()
	if _, ok := d.objects[p[0]][p[1]]; !ok && len(p) >= 2 {
		d.mu.Unlock()
		setResp(w, codes.NotFound)
		return
	}
	for _, e := range es {
		if len(e.Path) < 3 {
			continue
		}
		var like any
		if old, ok := d.objects[e.Path[0]][e.Path[1]][e.Path[2]]; ok {
			like = old
			if m, isMulti := old.(map[uint16]any); isMulti {
				like = nil
				for _, v := range m {
					like = v
					break
				}
			}
		}
		v, err := convert(e.Value, like)
		if err != nil {
			d.mu.Unlock()
			setResp(w, codes.BadRequest)
			return
		}
		d.setLocked(e.Path, v)
		changed = append(changed, e.Path)
	}
	d.mu.Unlock()
	for _, c := range changed {
		d.notify(c)
	}
	setResp(w, codes.Changed)
}

func (d *Device) post(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, p []uint16) {
	body, _ := r.ReadBody()
	switch len(p) {
	case 3: // execute
		d.mu.Lock()
		_, ok := d.objects[p[0]][p[1]]
		if ok {
			d.executed = append(d.executed, strings.TrimSpace(pathString(p)+" "+string(body)))
		}
		d.mu.Unlock()
		if !ok {
			setResp(w, codes.NotFound)
			return
		}
		setResp(w, codes.Changed)
	case 2: // partial update
		d.write(w, r, p, body, false)
	case 1: // create
		cf := CFTLV
		if c, err := r.ContentFormat(); err == nil {
			cf = int(c)
		}
		es, err := d.decode(cf, p, body)
		if err != nil {
			setResp(w, codes.BadRequest)
			return
		}
		d.mu.Lock()
		inst := uint16(0)
		for d.objects[p[0]][inst] != nil {
			inst++
		}
		if len(es) > 0 && len(es[0].Path) >= 2 && (cf != CFTLV || len(body) > 0 && body[0]>>6 == 0) {
			inst = es[0].Path[1]
		}
		if d.objects[p[0]][inst] != nil {
			d.mu.Unlock()
			setResp(w, codes.BadRequest)
			return
		}
		if d.objects[p[0]] == nil {
			d.objects[p[0]] = map[uint16]map[uint16]any{}
		}
		d.objects[p[0]][inst] = map[uint16]any{}
		for _, e := range es {
			if len(e.Path) < 3 {
				continue
			}
			path := append([]uint16{p[0], inst}, e.Path[2:]...)
			d.setLocked(path, e.Value)
		}
		d.mu.Unlock()
		_ = w.SetResponse(codes.Created, message.TextPlain, nil)
		w.Message().AddOptionString(message.LocationPath, strconv.Itoa(int(p[0])))
		w.Message().AddOptionString(message.LocationPath, strconv.Itoa(int(inst)))
	default:
		setResp(w, codes.MethodNotAllowed)
	}
}

func covers(obs, changed []uint16) bool {
	if len(obs) > len(changed) {
		return false
	}
	for i := range obs {
		if obs[i] != changed[i] {
			return false
		}
	}
	return true
}

// notify sends a notification to every observer of a path covering p.
func (d *Device) notify(p []uint16) {
	d.mu.Lock()
	var targets []*observer
	for _, o := range d.observers {
		if covers(o.path, p) {
			targets = append(targets, o)
		}
	}
	d.mu.Unlock()
	for _, o := range targets {
		d.sendNotification(o)
	}
}

func (d *Device) sendNotification(o *observer) {
	if d.conn == nil {
		return
	}
	d.mu.Lock()
	es, ok := d.entriesLocked(o.path)
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	if !ok {
		return
	}
	body, cf, err := d.encode(o.accept, o.path, es)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := d.conn.AcquireMessage(ctx)
	defer d.conn.ReleaseMessage(m)
	m.SetCode(codes.Content)
	m.SetToken(o.token)
	m.SetObserve(seq)
	m.SetContentFormat(message.MediaType(cf))
	m.SetBody(bytes.NewReader(body))
	mid := d.conn.GetMessageID()
	m.SetMessageID(mid)
	d.mu.Lock()
	if len(d.notifyMIDs) > 1024 {
		clear(d.notifyMIDs)
	}
	d.notifyMIDs[mid] = string(o.token)
	if debug {
		fmt.Printf("sim %s: notify mid=%d token=%x\n", d.cfg.Endpoint, mid, o.token)
	}
	d.mu.Unlock()
	if d.cfg.ConfirmableNotify {
		m.SetType(message.Confirmable)
	} else {
		m.SetType(message.NonConfirmable)
	}
	if err := d.conn.WriteMessage(m); err == nil {
		d.Notifications.Add(1)
	}
}

// StopObserving drops every observation on the device side (as a rebooted device would).
func (d *Device) StopObserving() {
	d.mu.Lock()
	d.observers = map[string]*observer{}
	d.mu.Unlock()
}

// InjectObserver adds an observation the server never asked for (as after a server restart),
// with the given token; its notifications should be answered with RST.
func (d *Device) InjectObserver(path string, token []byte) {
	p, err := parsePath(path)
	if err != nil {
		panic(err)
	}
	d.mu.Lock()
	d.observers[string(token)] = &observer{token: append(message.Token(nil), token...), path: p, accept: CFText}
	d.mu.Unlock()
}

var debug = os.Getenv("LWM2MSIM_DEBUG") != ""

// LastAccept returns the Accept option of the last GET the device got (-1: none).
func (d *Device) LastAccept() int { return int(d.lastAccept.Load()) }
