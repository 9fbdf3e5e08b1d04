package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// PublishRequest is the body of POST /api/v4/mqtt/publish (EMQX 4): Topic, or Topics as a
// comma-separated list, or both; Payload is text or, with Encoding "base64", base64.
type PublishRequest struct {
	Topic    string `json:"topic,omitempty"`
	Topics   string `json:"topics,omitempty" doc:"comma-separated topics, each published to"`
	ClientID string `json:"clientid,omitempty" doc:"the publisher's client id"`
	Payload  string `json:"payload"`
	Encoding string `json:"encoding,omitempty" doc:"plain (default) or base64"`
	QoS      int    `json:"qos" doc:"0, 1 or 2"`
	Retain   bool   `json:"retain"`
}

// NodeStats is one element of GET /api/v4/stats.
type NodeStats struct {
	Node  string           `json:"node"`
	Stats map[string]int64 `json:"stats"`
}

// NodeMetrics is one element of GET /api/v4/metrics.
type NodeMetrics struct {
	Node    string           `json:"node"`
	Metrics map[string]int64 `json:"metrics"`
}

var aggregateParam = Param{Name: "aggregate", Type: "boolean", Description: "true: one object instead of one entry per node"}

func (s *Server) registerBroker(b Broker) {
	h := brokerHandlers{b: b, node: s.opts.Node}
	s.Register(
		Route{Method: http.MethodGet, Path: "/clients", Tag: "clients", Name: "list_clients",
			Summary: "List MQTT clients (connected and persistent sessions)", Paged: true, Response: []ClientInfo{},
			Description: "Sorted by clientid so pages are stable. Unknown query parameters are ignored.",
			Query: []Param{
				{Name: "clientid", Description: "exact client id"},
				{Name: "username", Description: "exact username"},
				{Name: "zone"},
				{Name: "ip_address"},
				{Name: "conn_state", Enum: []string{"connected", "disconnected"}},
				{Name: "clean_start", Type: "boolean"},
				{Name: "proto_name", Description: "MQTT, MQIsdp, CoAP, LwM2M"},
				{Name: "proto_ver", Type: "integer"},
				{Name: "_like_clientid", Description: "substring of the client id"},
				{Name: "_like_username", Description: "substring of the username"},
				{Name: "_gte_created_at", Description: "session created at or after (Unix seconds or YYYY-MM-DD HH:mm:ss)"},
				{Name: "_lte_created_at", Description: "session created at or before"},
				{Name: "_gte_connected_at", Description: "connected at or after"},
				{Name: "_lte_connected_at", Description: "connected at or before"},
			},
			Handler: h.listClients},
		Route{Method: http.MethodGet, Path: "/clients/:clientid", Tag: "clients", Name: "get_client",
			Summary: "Look up one client (data is a one-element list, as EMQX 4)", Response: []ClientInfo{}, Handler: h.getClient},
		Route{Method: http.MethodDelete, Path: "/clients/:clientid", Tag: "clients", Name: "kick_client",
			Summary: "Disconnect a client and discard its session", Handler: h.kickClient},
		Route{Method: http.MethodGet, Path: "/subscriptions", Tag: "subscriptions", Name: "list_subscriptions",
			Summary: "List subscriptions", Paged: true, Response: []SubscriptionInfo{},
			Description: "Sorted by clientid, then topic.",
			Query: []Param{
				{Name: "clientid"},
				{Name: "topic", Description: "exact topic filter"},
				{Name: "qos", Type: "integer"},
				{Name: "share", Description: "shared-subscription group"},
				{Name: "_match_topic", Description: "subscriptions whose filter matches this topic name"},
			},
			Handler: h.listSubscriptions},
		Route{Method: http.MethodGet, Path: "/subscriptions/:clientid", Tag: "subscriptions", Name: "client_subscriptions",
			Summary: "List one client's subscriptions", Response: []SubscriptionInfo{}, Handler: h.clientSubscriptions},
		Route{Method: http.MethodGet, Path: "/routes", Tag: "routes", Name: "list_routes",
			Summary: "List routes (topic filters with subscribers)", Paged: true, Response: []RouteInfo{}, Handler: h.listRoutes},
		Route{Method: http.MethodGet, Path: "/routes/:topic", Tag: "routes", Name: "lookup_route",
			Summary: "Look up the route of one topic filter (percent-encode its slashes)", Response: []RouteInfo{}, Handler: h.lookupRoute},
		Route{Method: http.MethodGet, Path: "/stats", Tag: "metrics", Name: "stats",
			Summary: "Broker gauges (connections, sessions, topics, subscriptions, retained)", Query: []Param{aggregateParam},
			Response: []NodeStats{}, Handler: h.stats},
		Route{Method: http.MethodGet, Path: "/metrics", Tag: "metrics", Name: "metrics",
			Summary: "Broker counters (bytes, packets, messages)", Query: []Param{aggregateParam},
			Response: []NodeMetrics{}, Handler: h.metrics},
		Route{Method: http.MethodPost, Path: "/mqtt/publish", Tag: "mqtt", Name: "publish",
			Summary: "Publish a message", Request: PublishRequest{}, MaxBody: 4 << 20, Handler: h.publish},
	)
}

func (s *Server) status(c echo.Context) error {
	up := time.Since(s.created)
	st := StatusInfo{
		Node:          s.opts.Node,
		Version:       s.opts.Version,
		Ready:         s.ready.Load(),
		UptimeSeconds: int64(up / time.Second),
		Uptime:        up.Truncate(time.Second).String(),
		Listeners:     []ListenerInfo{},
	}
	if s.opts.Listeners != nil {
		st.Listeners = append(st.Listeners, s.opts.Listeners()...)
	}
	s.mu.Lock()
	ln, scheme := s.ln, s.scheme
	s.mu.Unlock()
	if ln != nil {
		st.Listeners = append(st.Listeners, ListenerInfo{Protocol: scheme + ":api", Listen: ln.Addr().String(), Running: true, CurrentConns: int(s.conns.Load())})
	}
	return OK(c, st)
}

type brokerHandlers struct {
	b    Broker
	node string
}

func (h brokerHandlers) withNode(ci ClientInfo) ClientInfo {
	if ci.Node == "" {
		ci.Node = h.node
	}
	return ci
}

func (h brokerHandlers) listClients(c echo.Context) error {
	keep, err := clientFilter(c.QueryParams())
	if err != nil {
		return err
	}
	var out []ClientInfo
	for ci := range h.b.Clients() {
		if keep(ci) {
			out = append(out, h.withNode(ci))
		}
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	return Page(c, seq(out))
}

// clientFilter compiles the EMQX client query parameters into a predicate.
func clientFilter(q url.Values) (func(ClientInfo) bool, error) {
	var preds []func(ClientInfo) bool
	str := func(name string, field func(ClientInfo) string) {
		if v, ok := q[name]; ok && len(v) > 0 {
			want := v[0]
			preds = append(preds, func(ci ClientInfo) bool { return field(ci) == want })
		}
	}
	like := func(name string, field func(ClientInfo) string) {
		if v := q.Get(name); v != "" {
			preds = append(preds, func(ci ClientInfo) bool { return strings.Contains(field(ci), v) })
		}
	}
	str("clientid", func(ci ClientInfo) string { return ci.ClientID })
	str("username", func(ci ClientInfo) string { return ci.Username })
	str("zone", func(ci ClientInfo) string { return ci.Zone })
	str("ip_address", func(ci ClientInfo) string { return ci.IPAddress })
	str("proto_name", func(ci ClientInfo) string { return ci.ProtoName })
	like("_like_clientid", func(ci ClientInfo) string { return ci.ClientID })
	like("_like_username", func(ci ClientInfo) string { return ci.Username })
	if v := q.Get("conn_state"); v != "" {
		switch v {
		case "connected", "disconnected":
			want := v == "connected"
			preds = append(preds, func(ci ClientInfo) bool { return ci.Connected == want })
		default:
			return nil, BadRequest("conn_state must be connected or disconnected")
		}
	}
	if v := q.Get("clean_start"); v != "" {
		want, err := strconv.ParseBool(v)
		if err != nil {
			return nil, BadRequest("clean_start must be true or false")
		}
		preds = append(preds, func(ci ClientInfo) bool { return ci.CleanStart == want })
	}
	if v := q.Get("proto_ver"); v != "" {
		want, err := strconv.Atoi(v)
		if err != nil {
			return nil, BadRequest("proto_ver must be an integer")
		}
		preds = append(preds, func(ci ClientInfo) bool { return ci.ProtoVer == want })
	}
	for _, tf := range []struct {
		name  string
		after bool
		field func(ClientInfo) time.Time
	}{
		{"_gte_created_at", true, func(ci ClientInfo) time.Time { return ci.CreatedAt.Time }},
		{"_lte_created_at", false, func(ci ClientInfo) time.Time { return ci.CreatedAt.Time }},
		{"_gte_connected_at", true, func(ci ClientInfo) time.Time { return ci.ConnectedAt.Time }},
		{"_lte_connected_at", false, func(ci ClientInfo) time.Time { return ci.ConnectedAt.Time }},
	} {
		v := q.Get(tf.name)
		if v == "" {
			continue
		}
		t, err := parseTimeParam(v)
		if err != nil {
			return nil, BadRequest("%s must be Unix seconds or YYYY-MM-DD HH:mm:ss", tf.name)
		}
		field, after := tf.field, tf.after
		preds = append(preds, func(ci ClientInfo) bool {
			ft := field(ci)
			if ft.IsZero() {
				return false
			}
			if after {
				return !ft.Before(t)
			}
			return !ft.After(t)
		})
	}
	return func(ci ClientInfo) bool {
		for _, p := range preds {
			if !p(ci) {
				return false
			}
		}
		return true
	}, nil
}

func parseTimeParam(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > 1e11 { // milliseconds, as some EMQX clients send
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	return time.ParseInLocation(time.DateTime, v, time.Local)
}

func (h brokerHandlers) getClient(c echo.Context) error {
	id := PathParam(c, "clientid")
	ci, ok := h.b.Client(id)
	if !ok {
		return Errorf(http.StatusNotFound, CodeClientNotFound, "client %q not found", id)
	}
	return OK(c, []ClientInfo{h.withNode(ci)})
}

func (h brokerHandlers) kickClient(c echo.Context) error {
	id := PathParam(c, "clientid")
	if !h.b.Kick(id) {
		return Errorf(http.StatusNotFound, CodeClientNotFound, "client %q not found", id)
	}
	return Done(c)
}

func (h brokerHandlers) subs(keep func(SubscriptionInfo) bool) []SubscriptionInfo {
	var out []SubscriptionInfo
	for si := range h.b.Subscriptions() {
		if keep(si) {
			if si.Node == "" {
				si.Node = h.node
			}
			out = append(out, si)
		}
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int {
		return cmp.Or(strings.Compare(a.ClientID, b.ClientID), strings.Compare(a.Topic, b.Topic))
	})
	return nonNil(out)
}

func (h brokerHandlers) listSubscriptions(c echo.Context) error {
	q := c.QueryParams()
	var preds []func(SubscriptionInfo) bool
	if v, ok := q["clientid"]; ok {
		preds = append(preds, func(si SubscriptionInfo) bool { return si.ClientID == v[0] })
	}
	if v, ok := q["topic"]; ok {
		preds = append(preds, func(si SubscriptionInfo) bool { return si.Topic == v[0] })
	}
	if v := q.Get("qos"); v != "" {
		want, err := strconv.Atoi(v)
		if err != nil || want < 0 || want > 2 {
			return BadRequest("qos must be 0, 1 or 2")
		}
		preds = append(preds, func(si SubscriptionInfo) bool { return si.QoS == want })
	}
	if v := q.Get("share"); v != "" {
		preds = append(preds, func(si SubscriptionInfo) bool {
			g, _, ok := shareGroup(si.Topic)
			return ok && g == v
		})
	}
	if v := q.Get("_match_topic"); v != "" {
		preds = append(preds, func(si SubscriptionInfo) bool {
			_, filter, _ := shareGroup(si.Topic)
			return TopicMatch(filter, v)
		})
	}
	return Page(c, seq(h.subs(func(si SubscriptionInfo) bool {
		for _, p := range preds {
			if !p(si) {
				return false
			}
		}
		return true
	})))
}

func (h brokerHandlers) clientSubscriptions(c echo.Context) error {
	id := PathParam(c, "clientid")
	return OK(c, h.subs(func(si SubscriptionInfo) bool { return si.ClientID == id }))
}

func (h brokerHandlers) routes(keep func(RouteInfo) bool) []RouteInfo {
	var out []RouteInfo
	for ri := range h.b.Routes() {
		if keep(ri) {
			if ri.Node == "" {
				ri.Node = h.node
			}
			out = append(out, ri)
		}
	}
	slices.SortFunc(out, func(a, b RouteInfo) int { return strings.Compare(a.Topic, b.Topic) })
	return nonNil(out)
}

func (h brokerHandlers) listRoutes(c echo.Context) error {
	return Page(c, seq(h.routes(func(RouteInfo) bool { return true })))
}

func (h brokerHandlers) lookupRoute(c echo.Context) error {
	topic := PathParam(c, "topic")
	return OK(c, h.routes(func(ri RouteInfo) bool { return ri.Topic == topic }))
}

func aggregate(c echo.Context) (bool, error) {
	v := c.QueryParam("aggregate")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, BadRequest("aggregate must be true or false")
	}
	return b, nil
}

func (h brokerHandlers) stats(c echo.Context) error {
	agg, err := aggregate(c)
	if err != nil {
		return err
	}
	m := maps.Clone(h.b.Stats())
	if m == nil {
		m = map[string]int64{}
	}
	if agg {
		return OK(c, m)
	}
	return OK(c, []NodeStats{{Node: h.node, Stats: m}})
}

func (h brokerHandlers) metrics(c echo.Context) error {
	agg, err := aggregate(c)
	if err != nil {
		return err
	}
	m := maps.Clone(h.b.Metrics())
	if m == nil {
		m = map[string]int64{}
	}
	if agg {
		return OK(c, m)
	}
	return OK(c, []NodeMetrics{{Node: h.node, Metrics: m}})
}

func (h brokerHandlers) publish(c echo.Context) error {
	var req PublishRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	msgs, err := req.Messages()
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := h.b.Publish(c.Request().Context(), m); err != nil {
			switch {
			case errors.Is(err, ErrInvalidTopic):
				return Errorf(http.StatusBadRequest, CodeInvalidTopic, "topic %q: %v", m.Topic, err)
			case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
				return Errorf(http.StatusServiceUnavailable, CodeServiceUnavailable, "publish to %q did not complete: %v", m.Topic, err)
			default:
				return &Error{Status: http.StatusInternalServerError, Code: CodeUnknown, Message: "publish to " + strconv.Quote(m.Topic) + " failed: " + err.Error(), Err: err}
			}
		}
	}
	return Done(c)
}

// Messages validates the request and returns one message per topic. Errors are *Error.
func (r PublishRequest) Messages() ([]Message, error) {
	var topics []string
	if r.Topic != "" {
		topics = append(topics, r.Topic)
	}
	if r.Topics != "" {
		for t := range strings.SplitSeq(r.Topics, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	if len(topics) == 0 {
		return nil, Errorf(http.StatusBadRequest, CodeMissingParam, "topic or topics is required")
	}
	for _, t := range topics {
		if err := ValidTopicName(t); err != nil {
			return nil, Errorf(http.StatusBadRequest, CodeInvalidTopic, "topic %q: %v", truncate(t, 128), err)
		}
	}
	if r.QoS < 0 || r.QoS > 2 {
		return nil, BadRequest("qos must be 0, 1 or 2")
	}
	var payload []byte
	switch r.Encoding {
	case "", "plain":
		payload = []byte(r.Payload)
	case "base64":
		var err error
		if payload, err = base64.StdEncoding.DecodeString(r.Payload); err != nil {
			return nil, BadRequest("payload is not valid base64: %v", err)
		}
	default:
		return nil, BadRequest("encoding must be plain or base64")
	}
	msgs := make([]Message, len(topics))
	for i, t := range topics {
		msgs[i] = Message{Topic: t, Payload: payload, QoS: byte(r.QoS), Retain: r.Retain, ClientID: r.ClientID}
	}
	return msgs, nil
}

// ValidTopicName reports why t cannot be published to: empty, over 65535 bytes, not UTF-8, or
// holding NUL or a wildcard.
func ValidTopicName(t string) error {
	switch {
	case t == "":
		return errors.New("empty")
	case len(t) > 65535:
		return errors.New("longer than 65535 bytes")
	case !utf8.ValidString(t):
		return errors.New("not valid UTF-8")
	case strings.ContainsRune(t, 0):
		return errors.New("contains NUL")
	case strings.ContainsAny(t, "+#"):
		return errors.New("wildcards are not allowed in a topic name")
	}
	return nil
}

// shareGroup splits "$share/<group>/<filter>" into its group and filter; other filters come back
// whole with ok false.
func shareGroup(topic string) (group, filter string, ok bool) {
	rest, found := strings.CutPrefix(topic, "$share/")
	if !found {
		return "", topic, false
	}
	group, filter, found = strings.Cut(rest, "/")
	if !found {
		return "", topic, false
	}
	return group, filter, true
}

// TopicMatch reports whether the topic name matches the filter under MQTT rules: "+" matches
// one level, a final "#" the rest (including the parent level), and wildcards at the first level
// do not match names starting with "$".
func TopicMatch(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fs, ns := strings.Split(filter, "/"), strings.Split(name, "/")
	for i, f := range fs {
		if f == "#" {
			return i == len(fs)-1
		}
		if i >= len(ns) {
			return false
		}
		if f != "+" && f != ns[i] {
			return false
		}
	}
	return len(fs) == len(ns)
}
