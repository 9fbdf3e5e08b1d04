package lwm2m

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/lwm2m/codec"
)

// Command is a downlink command in EMQX's JSON shape: {"reqID":..,"msgType":"read","data":{..}}.
// ReqID is echoed back verbatim (a number or a string).
type Command struct {
	ReqID    json.RawMessage `json:"reqID,omitempty"`
	MsgType  string          `json:"msgType"`
	Data     CommandData     `json:"data"`
	Encoding string          `json:"encoding,omitempty"` // "hex": opaque values are hex strings
}

// CommandData is the "data" object of a command; which fields count depends on msgType.
type CommandData struct {
	Path     string        `json:"path,omitempty"`
	BasePath string        `json:"basePath,omitempty"`
	Type     string        `json:"type,omitempty"`
	Value    any           `json:"value,omitempty"`
	Content  []ContentItem `json:"content,omitempty"`
	Args     any           `json:"args,omitempty"`
	Pmin     any           `json:"pmin,omitempty"`
	Pmax     any           `json:"pmax,omitempty"`
	Gt       any           `json:"gt,omitempty"`
	Lt       any           `json:"lt,omitempty"`
	St       any           `json:"st,omitempty"`
	Epmin    any           `json:"epmin,omitempty"`
	Epmax    any           `json:"epmax,omitempty"`
}

// ContentItem is one value of a batch write or create.
type ContentItem struct {
	Path  string `json:"path"`
	Type  string `json:"type,omitempty"`
	Value any    `json:"value"`
}

// Response is an uplink message on up/resp or up/notify. IMEI (as EMQX 4.2's README shows it) is
// set when one is derived that differs from the endpoint name.
type Response struct {
	ReqID   json.RawMessage `json:"reqID,omitempty"`
	IMEI    string          `json:"imei,omitempty"`
	MsgType string          `json:"msgType"`
	SeqNum  *uint32         `json:"seqNum,omitempty"`
	Data    ResponseData    `json:"data"`
}

// ResponseData is the result of a command.
type ResponseData struct {
	ReqPath string `json:"reqPath"`
	Code    string `json:"code"`
	CodeMsg string `json:"codeMsg"`
	Content any    `json:"content,omitempty"`
}

// ContentValue is one value of a read or notify result.
type ContentValue struct {
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Errors of Do.
var (
	ErrNoClient   = errors.New("no such LwM2M client")
	ErrTimeout    = errors.New("the device did not answer in time")
	ErrBadCommand = errors.New("bad command")
	errGone       = errors.New("the device went away")
)

type job struct {
	cmd  Command
	done chan jobResult
}

type jobResult struct {
	resp *Response
	err  error
}

func (j *job) finish(r *Response, err error) {
	if j.done != nil {
		select {
		case j.done <- jobResult{r, err}:
		default:
		}
	}
}

var msgTypes = map[string]bool{"read": true, "write": true, "execute": true, "discover": true, "write-attr": true,
	"create": true, "delete": true, "observe": true, "cancel-observe": true}

// Do sends a command to a device and waits for its answer (queue-mode devices: until they wake
// up) or for ctx. The answer is also published on up/resp.
func (s *Server) Do(ctx context.Context, ep string, cmd Command) (*Response, error) {
	ss := s.session(ep)
	if ss == nil {
		return nil, ErrNoClient
	}
	if !msgTypes[cmd.MsgType] {
		return nil, fmt.Errorf("%w: unknown msgType %q", ErrBadCommand, cmd.MsgType)
	}
	j := &job{cmd: cmd, done: make(chan jobResult, 1)}
	if err := s.enqueue(ss, j); err != nil {
		return nil, err
	}
	select {
	case r := <-j.done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ErrTimeout
	}
}

// downlink handles a message on lwm2m/{ep}/dn/#; it runs on the publisher's goroutine.
func (s *Server) downlink(ss *session, d broker.Delivery) {
	var cmd Command
	if err := json.Unmarshal(d.Payload, &cmd); err != nil || !msgTypes[cmd.MsgType] {
		s.counters.CommandsInvalid.Add(1)
		s.log.Warn("lwm2m: invalid downlink command", "topic", d.Topic, "err", err, "msgType", cmd.MsgType)
		return
	}
	_ = s.enqueue(ss, &job{cmd: cmd})
}

func (s *Server) enqueue(ss *session, j *job) error {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return ErrNoClient
	}
	if len(ss.jobs) >= s.o.QueueLimit {
		ss.mu.Unlock()
		s.counters.CommandsDropped.Add(1)
		return fmt.Errorf("%w: %d commands already wait for %s", ErrBadCommand, s.o.QueueLimit, ss.ep)
	}
	ss.jobs = append(ss.jobs, j)
	asleep := !ss.awakeLocked(time.Now())
	path := j.cmd.Data.Path
	if path == "" {
		path = j.cmd.Data.BasePath
	}
	ss.lookups[lookupKey(j.cmd.MsgType, normPath(path))] = &LookupEntry{MsgType: j.cmd.MsgType, Path: normPath(path),
		Code: "6.01", CodeMsg: "reply_not_received"}
	ss.mu.Unlock()
	if asleep {
		s.counters.CommandsQueued.Add(1)
	}
	s.kick(ss)
	return nil
}

// kick starts the session's command runner when it has work and the device is awake.
func (s *Server) kick(ss *session) {
	ss.mu.Lock()
	start := !ss.running && !ss.closed && len(ss.jobs) > 0 && ss.awakeLocked(time.Now())
	if start {
		ss.running = true
	}
	ss.mu.Unlock()
	if start {
		go s.run(ss)
	}
}

// run sends a session's commands one at a time (100 ms apart for queue-mode devices).
func (s *Server) run(ss *session) {
	for i := 0; ; i++ {
		ss.mu.Lock()
		if ss.closed || len(ss.jobs) == 0 || !ss.awakeLocked(time.Now()) {
			ss.running = false
			ss.mu.Unlock()
			return
		}
		j := ss.jobs[0]
		ss.jobs = ss.jobs[1:]
		queue := ss.queue
		ss.mu.Unlock()
		if queue && i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		resp, err := s.execute(ss, j.cmd)
		j.finish(resp, err)
	}
}

func normPath(p string) string {
	return "/" + strings.Trim(p, "/")
}

// codeText returns EMQX's "2.05" code text and lowercase reason.
func codeText(c codes.Code) (string, string) {
	num := fmt.Sprintf("%d.%02d", uint8(c)>>5, uint8(c)&0x1f)
	msg, ok := codeMsgs[c]
	if !ok {
		msg = strings.ToLower(strings.ReplaceAll(c.String(), " ", "_"))
	}
	return num, msg
}

var codeMsgs = map[codes.Code]string{
	codes.Created: "created", codes.Deleted: "deleted", codes.Valid: "valid", codes.Changed: "changed",
	codes.Content: "content", codes.Continue: "continue", codes.BadRequest: "bad_request",
	codes.Unauthorized: "unauthorized", codes.BadOption: "bad_option", codes.Forbidden: "forbidden",
	codes.NotFound: "not_found", codes.MethodNotAllowed: "method_not_allowed", codes.NotAcceptable: "not_acceptable",
	codes.RequestEntityIncomplete: "request_entity_incomplete", codes.PreconditionFailed: "precondition_failed",
	codes.RequestEntityTooLarge: "request_entity_too_large", codes.UnsupportedMediaType: "unsupported_content_format",
	codes.InternalServerError: "internal_server_error", codes.NotImplemented: "not_implemented",
	codes.BadGateway: "bad_gateway", codes.ServiceUnavailable: "service_unavailable",
	codes.GatewayTimeout: "gateway_timeout", codes.ProxyingNotSupported: "proxying_not_supported",
}

func typesFor(s *Server) codec.TypeResolver { return s.reg.Types() }

// noInstance marks a create record without an instance id.
const noInstance = 65535

// records builds the records of a write or create from the command.
func (s *Server) records(cmd Command, base codec.Path) ([]codec.Record, error) {
	hexOpaque := strings.EqualFold(cmd.Encoding, "hex")
	types := typesFor(s)
	one := func(p codec.Path, typ string, v any) (codec.Record, error) {
		t := codec.ParseDataType(typ)
		if typ == "" {
			t = types(p)
		}
		cv, err := codec.Coerce(v, t, hexOpaque)
		if err != nil {
			return codec.Record{}, fmt.Errorf("%s: %w", p, err)
		}
		return codec.Record{Path: p, Value: cv}, nil
	}
	if len(cmd.Data.Content) == 0 {
		if len(base) < 3 {
			return nil, fmt.Errorf("%w: a single write needs a resource path", ErrBadCommand)
		}
		r, err := one(base, cmd.Data.Type, cmd.Data.Value)
		if err != nil {
			return nil, err
		}
		return []codec.Record{r}, nil
	}
	var out []codec.Record
	for _, it := range cmd.Data.Content {
		p, err := codec.ParsePath(it.Path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
		}
		if !(strings.HasPrefix(it.Path, "/") && p.HasPrefix(base) && len(p) > len(base)) {
			if cmd.MsgType == "create" && len(base) == 1 && len(p) == 1 {
				// create without an instance id: a resource id only, the device picks the instance
				p = codec.Path{base[0], noInstance, p[0]}
			} else {
				p = base.Append(p...) // relative to basePath
			}
		}
		if len(p) < 3 || len(p) > 4 {
			return nil, fmt.Errorf("%w: %s is not a resource", ErrBadCommand, p)
		}
		r, err := one(p, it.Type, it.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// execute sends one command and publishes the answer on up/resp.
func (s *Server) execute(ss *session, cmd Command) (*Response, error) {
	s.counters.Commands.Add(1)
	pathStr := cmd.Data.Path
	if pathStr == "" {
		pathStr = cmd.Data.BasePath
	}
	resp := &Response{ReqID: cmd.ReqID, MsgType: cmd.MsgType, Data: ResponseData{ReqPath: normPath(pathStr)}}
	fail := func(c codes.Code) (*Response, error) {
		resp.Data.Code, resp.Data.CodeMsg = codeText(c)
		s.respond(ss, resp)
		return resp, nil
	}
	p, err := codec.ParsePath(pathStr)
	if err != nil {
		return fail(codes.BadRequest)
	}
	ss.mu.Lock()
	conn := ss.conn
	ss.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, s.o.RequestTimeout)
	defer cancel()
	var req *pool.Message
	uri := ss.uri(p)
	cf := ss.contentFormat()
	types := typesFor(s)
	switch cmd.MsgType {
	case "read":
		req, err = conn.NewGetRequest(ctx, uri)
		if err == nil {
			req.SetAccept(message.MediaType(cf))
		}
	case "discover":
		req, err = conn.NewGetRequest(ctx, uri)
		if err == nil {
			req.SetAccept(message.AppLinkFormat)
		}
	case "write", "create":
		recs, rerr := s.records(cmd, p)
		if rerr != nil {
			s.log.Info("lwm2m: bad write", "ep", ss.ep, "err", rerr)
			return fail(codes.BadRequest)
		}
		base := p
		if cmd.MsgType == "create" && len(p) == 1 && len(recs) > 0 && recs[0].Path[1] == noInstance {
			// Resources without an instance id: sent as bare resources, the device picks the instance.
			for i := range recs {
				recs[i].Path = codec.Path{p[0], 0, recs[i].Path[2]}
			}
			base = codec.Path{p[0], 0}
		}
		wcf := cf
		if wcf == codec.FormatJSON {
			wcf = codec.FormatTLV
		}
		body, eerr := codec.Encode(wcf, base, recs, types)
		if eerr != nil {
			s.log.Info("lwm2m: cannot encode", "ep", ss.ep, "err", eerr)
			return fail(codes.BadRequest)
		}
		if cmd.MsgType == "create" || len(p) == 2 {
			req, err = conn.NewPostRequest(ctx, uri, message.MediaType(wcf), bytes.NewReader(body))
		} else {
			req, err = conn.NewPutRequest(ctx, uri, message.MediaType(wcf), bytes.NewReader(body))
		}
	case "write-attr":
		req, err = conn.NewPutRequest(ctx, uri, message.TextPlain, nil)
		if err == nil {
			for _, a := range []struct {
				k string
				v any
			}{{"pmin", cmd.Data.Pmin}, {"pmax", cmd.Data.Pmax}, {"gt", cmd.Data.Gt}, {"lt", cmd.Data.Lt},
				{"st", cmd.Data.St}, {"epmin", cmd.Data.Epmin}, {"epmax", cmd.Data.Epmax}} {
				if a.v != nil {
					req.AddQuery(a.k + "=" + attrText(a.v))
				}
			}
		}
	case "execute":
		args := ""
		if cmd.Data.Args != nil {
			args = fmt.Sprint(cmd.Data.Args)
		}
		if args != "" {
			req, err = conn.NewPostRequest(ctx, uri, message.TextPlain, bytes.NewReader([]byte(args)))
		} else {
			req, err = conn.NewPostRequest(ctx, uri, message.TextPlain, nil)
		}
	case "delete":
		req, err = conn.NewDeleteRequest(ctx, uri)
	case "observe":
		return s.observe(ctx, ss, cmd, p, resp)
	case "cancel-observe":
		return s.cancelObserve(ctx, ss, cmd, p, resp)
	}
	if err != nil {
		return nil, err
	}
	defer conn.ReleaseMessage(req)
	r, err := conn.Do(req)
	if err != nil {
		s.counters.Timeouts.Add(1)
		s.log.Info("lwm2m: no answer", "ep", ss.ep, "msgType", cmd.MsgType, "path", resp.Data.ReqPath, "err", err)
		return nil, ErrTimeout
	}
	defer conn.ReleaseMessage(r)
	s.fillResult(ss, resp, p, r)
	s.respond(ss, resp)
	return resp, nil
}

func attrText(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// fillResult sets code, codeMsg and content from a device's answer.
func (s *Server) fillResult(ss *session, resp *Response, p codec.Path, r *pool.Message) {
	resp.Data.Code, resp.Data.CodeMsg = codeText(r.Code())
	if r.Code() != codes.Content {
		return
	}
	body, _ := r.ReadBody()
	if resp.MsgType == "discover" {
		var links []string
		for _, l := range strings.Split(string(body), ",") {
			if l = strings.TrimSpace(l); l != "" {
				links = append(links, l)
			}
		}
		resp.Data.Content = links
		return
	}
	cf := codec.FormatText // devices that send no Content-Format mean text/plain
	if v, err := r.ContentFormat(); err == nil {
		cf = uint16(v)
	}
	recs, err := codec.Decode(cf, body, p, typesFor(s))
	if err != nil {
		s.log.Info("lwm2m: undecodable answer", "ep", ss.ep, "cf", cf, "err", err)
		c := codes.BadRequest
		if errors.Is(err, codec.ErrUnsupported) {
			c = codes.NotImplemented
		}
		resp.Data.Code, resp.Data.CodeMsg = codeText(c)
		return
	}
	content := make([]ContentValue, 0, len(recs))
	for _, rec := range recs {
		content = append(content, ContentValue{Path: rec.Path.String(), Value: codec.JSONValue(rec.Value, false)})
		if rec.Path.String() == "/3/0/2" {
			if v, ok := rec.Value.(string); ok {
				ss.mu.Lock()
				ss.serial = v
				ss.mu.Unlock()
			}
		}
	}
	resp.Data.Content = content
}

// respond publishes a command's answer on up/resp and caches it for lookup_cmd.
func (s *Server) respond(ss *session, resp *Response) {
	resp.IMEI = ss.derivedIMEI()
	ss.mu.Lock()
	ss.lookups[lookupKey(resp.MsgType, resp.Data.ReqPath)] = &LookupEntry{MsgType: resp.MsgType, Path: resp.Data.ReqPath,
		Code: resp.Data.Code, CodeMsg: resp.Data.CodeMsg, Content: resp.Data.Content}
	ss.mu.Unlock()
	s.publish(ss, s.o.Topics.Response, resp)
}

func (s *Server) observe(ctx context.Context, ss *session, cmd Command, p codec.Path, resp *Response) (*Response, error) {
	ss.mu.Lock()
	conn := ss.conn
	ss.mu.Unlock()
	req, err := conn.NewObserveRequest(ctx, ss.uri(p))
	if err != nil {
		return nil, err
	}
	defer conn.ReleaseMessage(req)
	req.SetAccept(message.MediaType(ss.contentFormat()))
	token := string(req.Token())
	first := make(chan *Response, 1)
	key := p.String()
	var n atomic.Int32
	o, err := conn.DoObserve(req, func(m *pool.Message) {
		r := &Response{ReqID: cmd.ReqID, MsgType: cmd.MsgType, Data: ResponseData{ReqPath: key}}
		s.fillResult(ss, r, p, m)
		if n.Add(1) == 1 {
			first <- r
			return
		}
		ss.mu.Lock()
		cur := ss.observes[key]
		ss.mu.Unlock()
		if cur == nil || cur.token != token {
			return // superseded or cancelled
		}
		seq, _ := m.Observe()
		r.MsgType = "notify"
		r.SeqNum = &seq
		r.IMEI = ss.derivedIMEI()
		s.counters.Notifications.Add(1)
		s.publish(ss, s.o.Topics.Notify, r)
	})
	var r *Response
	select {
	case r = <-first:
	default:
		if err != nil {
			s.counters.Timeouts.Add(1)
			return nil, ErrTimeout
		}
		select {
		case r = <-first:
		case <-ctx.Done():
			return nil, ErrTimeout
		}
	}
	if err == nil && o != nil && r.Data.Code == "2.05" {
		ss.mu.Lock()
		old := ss.observes[key]
		ss.observes[key] = &observation{obs: o, cmd: cmd, token: token}
		ss.mu.Unlock()
		if old != nil {
			go func() {
				c, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = old.obs.Cancel(c)
			}()
		}
	}
	s.respond(ss, r)
	return r, nil
}

func (s *Server) cancelObserve(ctx context.Context, ss *session, cmd Command, p codec.Path, resp *Response) (*Response, error) {
	key := p.String()
	ss.mu.Lock()
	o := ss.observes[key]
	delete(ss.observes, key)
	conn := ss.conn
	ss.mu.Unlock()
	if o != nil {
		if err := o.obs.Cancel(ctx); err != nil {
			// The observation is gone locally; the device learns it from our RST.
			resp.Data.Code, resp.Data.CodeMsg = codeText(codes.Content)
			s.respond(ss, resp)
			return resp, nil
		}
		resp.Data.Code, resp.Data.CodeMsg = codeText(codes.Content)
		s.respond(ss, resp)
		return resp, nil
	}
	req, err := conn.NewGetRequest(ctx, ss.uri(p))
	if err != nil {
		return nil, err
	}
	defer conn.ReleaseMessage(req)
	req.SetObserve(1)
	r, err := conn.Do(req)
	if err != nil {
		s.counters.Timeouts.Add(1)
		return nil, ErrTimeout
	}
	defer conn.ReleaseMessage(r)
	resp.Data.Code, resp.Data.CodeMsg = codeText(r.Code())
	s.respond(ss, resp)
	return resp, nil
}

// autoObserve observes the configured paths, or the object list's instances (objects
// 0,1,2,4,5,6,7,9,15 skipped, /19/0 narrowed to /19/0/0), 100 ms apart.
func (s *Server) autoObserve(ss *session) {
	ss.mu.Lock()
	list := ss.objectList
	closed := ss.closed
	ss.mu.Unlock()
	if closed {
		return
	}
	paths := s.o.AutoObservePaths
	if len(paths) == 0 {
		skip := map[uint16]bool{0: true, 1: true, 2: true, 4: true, 5: true, 6: true, 7: true, 9: true, 15: true}
		for _, l := range list {
			p, err := codec.ParsePath(l)
			if err != nil || len(p) < 2 || skip[p[0]] {
				continue
			}
			if p.String() == "/19/0" {
				l = "/19/0/0"
			}
			paths = append(paths, l)
		}
	}
	for _, p := range paths {
		_ = s.enqueue(ss, &job{cmd: Command{MsgType: "observe", Data: CommandData{Path: p}}})
	}
}

// topic returns mountpoint + suffix for a session.
func (s *Server) topic(ss *session, suffix string) string {
	host, _ := splitPeer(ss.peer)
	mp := strings.ReplaceAll(s.o.Mountpoint, "%e", ss.ep)
	mp = strings.ReplaceAll(mp, "%a", host)
	return mp + suffix
}

func (s *Server) publish(ss *session, suffix string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("lwm2m: encode uplink", "err", err)
		return
	}
	t := s.topic(ss, suffix)
	if err := s.o.Broker.Publish(broker.PublishRequest{Topic: t, Payload: b, ClientID: ss.ep}); err != nil {
		s.log.Warn("lwm2m: publish", "topic", t, "err", err)
	}
}

// Event is a register, update, deregister or expired message.
type Event struct {
	MsgType string    `json:"msgType"`
	Data    EventData `json:"data"`
}

// EventData is the registration information of an Event.
type EventData struct {
	EP            string   `json:"ep"`
	LT            int      `json:"lt"`
	LwM2M         string   `json:"lwm2m"`
	B             string   `json:"b"`
	SMS           string   `json:"sms,omitempty"`
	AlternatePath string   `json:"alternatePath"`
	ObjectList    []string `json:"objectList"`
	IMEI          string   `json:"imei,omitempty"`
}

func (s *Server) publishEvent(ss *session, msgType, suffix string) {
	ss.mu.Lock()
	ev := Event{MsgType: msgType, Data: EventData{EP: ss.ep, LT: ss.lifetime, LwM2M: ss.version, B: ss.binding,
		SMS: ss.sms, AlternatePath: ss.alternatePath, ObjectList: append([]string{}, ss.objectList...)}}
	ss.mu.Unlock()
	ev.Data.IMEI = ss.derivedIMEI()
	s.publish(ss, suffix, ev)
}

// LookupEntry is the last result of a command for a path (EMQX 4.2's lookup_cmd).
type LookupEntry struct {
	IMEI    string `json:"imei"`
	MsgType string `json:"msgType"`
	Code    string `json:"code"`
	CodeMsg string `json:"codeMsg"`
	Path    string `json:"path"`
	Content any    `json:"content"`
}

func lookupKey(msgType, path string) string { return msgType + " " + path }

// Lookup returns the last result of msgType at path for a device (ok false: never sent).
func (s *Server) Lookup(ep, msgType, path string) (LookupEntry, bool, error) {
	ss := s.session(ep)
	if ss == nil {
		return LookupEntry{}, false, ErrNoClient
	}
	ss.mu.Lock()
	e, ok := ss.lookups[lookupKey(msgType, normPath(path))]
	imei := IMEI(ss.ep, ss.params, ss.serial)
	ss.mu.Unlock()
	if !ok {
		return LookupEntry{}, false, nil
	}
	out := *e
	out.IMEI = imei
	if msgType == "discover" {
		out.Content = s.describeLinks(out.Content)
	}
	return out, true, nil
}

// LinkDescription is a discover result entry described from the object model.
type LinkDescription struct {
	Path       string `json:"path"`
	Name       string `json:"name"`
	DataType   string `json:"dataType"`
	Operations string `json:"operations"`
}

func (s *Server) describeLinks(content any) any {
	links, ok := content.([]string)
	if !ok {
		return content
	}
	out := make([]LinkDescription, 0, len(links))
	for _, l := range links {
		target := l
		if i := strings.IndexByte(l, '>'); strings.HasPrefix(l, "<") && i > 0 {
			target = l[1:i]
		}
		d := LinkDescription{Path: target}
		if p, err := codec.ParsePath(target); err == nil {
			d.Name = s.reg.Name(p)
			if len(p) >= 3 {
				if r, ok := s.reg.Resource(p[0], p[2]); ok {
					d.DataType, d.Operations = r.TypeName, r.Operations
				}
			}
		}
		out = append(out, d)
	}
	return out
}
