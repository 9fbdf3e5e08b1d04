package api

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeBroker is an in-memory Broker.
type fakeBroker struct {
	mu        sync.Mutex
	clients   map[string]ClientInfo
	subs      []SubscriptionInfo
	published []Message
	failWith  error
}

func newFakeBroker() *fakeBroker {
	b := &fakeBroker{clients: map[string]ClientInfo{}}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	for i, c := range []struct {
		id, user, ip string
		ver          int
		connected    bool
	}{
		{"sensor-1", "dev", "10.0.0.1", 4, true},
		{"sensor-2", "dev", "10.0.0.2", 5, true},
		{"sensor-3", "dev", "10.0.0.3", 5, false},
		{"gateway", "ops", "10.0.0.9", 5, true},
		{"a/b c", "", "10.0.0.4", 3, true},
	} {
		ci := ClientInfo{ClientID: c.id, Username: c.user, IPAddress: c.ip, Port: 40000 + i, ProtoName: "MQTT", ProtoVer: c.ver,
			Connected: c.connected, Keepalive: 60, CleanStart: i%2 == 0, CreatedAt: Timestamp{base.Add(time.Duration(i) * time.Hour)},
			Zone: "external", MaxInflight: 32}
		if c.connected {
			ci.ConnectedAt = ci.CreatedAt
		} else {
			ci.DisconnectedAt = Timestamp{base.Add(10 * time.Hour)}
		}
		b.clients[c.id] = ci
	}
	b.subs = []SubscriptionInfo{
		{ClientID: "sensor-1", Topic: "cmd/sensor-1", QoS: 1},
		{ClientID: "gateway", Topic: "data/#", QoS: 0},
		{ClientID: "gateway", Topic: "$share/g1/data/+/temp", QoS: 2},
		{ClientID: "sensor-2", Topic: "$share/g1/data/+/temp", QoS: 1},
		{ClientID: "a/b c", Topic: "x", QoS: 0},
	}
	return b
}

func (b *fakeBroker) Clients() iter.Seq[ClientInfo] {
	b.mu.Lock()
	all := slices.Collect(maps.Values(b.clients)) // map order: random, as a real broker's
	b.mu.Unlock()
	return slices.Values(all)
}

func (b *fakeBroker) Client(id string) (ClientInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ci, ok := b.clients[id]
	return ci, ok
}

func (b *fakeBroker) Kick(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.clients[id]
	delete(b.clients, id)
	return ok
}

func (b *fakeBroker) Subscriptions() iter.Seq[SubscriptionInfo] {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Values(slices.Clone(b.subs))
}

func (b *fakeBroker) Routes() iter.Seq[RouteInfo] {
	return func(yield func(RouteInfo) bool) {
		seen := map[string]bool{}
		for s := range b.Subscriptions() {
			_, f, _ := shareGroup(s.Topic)
			if !seen[f] {
				seen[f] = true
				if !yield(RouteInfo{Topic: f}) {
					return
				}
			}
		}
	}
}

func (b *fakeBroker) Stats() map[string]int64 {
	return map[string]int64{"connections.count": 4, "connections.max": 5, "subscriptions.count": 5}
}

func (b *fakeBroker) Metrics() map[string]int64 {
	return map[string]int64{"messages.received": 10, "messages.sent": 7}
}

func (b *fakeBroker) Publish(_ context.Context, m Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failWith != nil {
		return b.failWith
	}
	b.published = append(b.published, m)
	return nil
}

func brokerEnv(t *testing.T) (*testEnv, *fakeBroker) {
	b := newFakeBroker()
	env := newEnv(t, func(o *Options) {
		o.Broker = b
		o.Listeners = func() []ListenerInfo {
			return []ListenerInfo{{Protocol: "mqtt:tcp", Listen: "127.0.0.1:1883", Running: true, CurrentConns: 4}}
		}
	}).start()
	return env, b
}

func clientIDs(cs []ClientInfo) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ClientID)
	}
	return ids
}

func TestClientsListFiltersAndPaging(t *testing.T) {
	env, _ := brokerEnv(t)
	tests := []struct {
		query   string
		want    []string
		count   int
		hasNext bool
	}{
		{"", []string{"a/b c", "gateway", "sensor-1", "sensor-2", "sensor-3"}, 5, false},
		{"_limit=2", []string{"a/b c", "gateway"}, 5, true},
		{"_limit=2&_page=2", []string{"sensor-1", "sensor-2"}, 5, true},
		{"_limit=2&_page=3", []string{"sensor-3"}, 5, false},
		{"_limit=2&_page=9", nil, 5, false},
		{"clientid=gateway", []string{"gateway"}, 1, false},
		{"username=dev", []string{"sensor-1", "sensor-2", "sensor-3"}, 3, false},
		{"username=", []string{"a/b c"}, 1, false},
		{"ip_address=10.0.0.2", []string{"sensor-2"}, 1, false},
		{"conn_state=disconnected", []string{"sensor-3"}, 1, false},
		{"conn_state=connected&proto_ver=5", []string{"gateway", "sensor-2"}, 2, false},
		{"_like_clientid=sens&_limit=1", []string{"sensor-1"}, 3, true},
		{"_like_username=o", []string{"gateway"}, 1, false},
		{"proto_name=MQTT&zone=external&clean_start=true", []string{"a/b c", "sensor-1", "sensor-3"}, 3, false},
		{"_gte_created_at=" + url.QueryEscape("2026-01-02 05:04:05"), []string{"a/b c", "gateway", "sensor-3"}, 3, false},
		{"_lte_connected_at=" + fmt.Sprint(time.Date(2026, 1, 2, 4, 4, 5, 0, time.Local).Unix()), []string{"sensor-1", "sensor-2"}, 2, false},
		{"unknown=ignored", []string{"a/b c", "gateway", "sensor-1", "sensor-2", "sensor-3"}, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := env.admin(http.MethodGet, Prefix+"/clients?"+tt.query, nil).want(t, http.StatusOK, CodeOK)
			var cs []ClientInfo
			r.data(t, &cs)
			if got := clientIDs(cs); !slices.Equal(got, tt.want) {
				t.Errorf("clients = %q, want %q", got, tt.want)
			}
			if r.Meta == nil || r.Meta.Count != tt.count || r.Meta.HasNext != tt.hasNext {
				t.Errorf("meta = %+v, want count %d hasnext %v", r.Meta, tt.count, tt.hasNext)
			}
		})
	}
	for _, q := range []string{"_page=0", "_page=x", "_limit=-1", "conn_state=maybe", "proto_ver=v5", "clean_start=perhaps", "_gte_created_at=yesterday"} {
		env.admin(http.MethodGet, Prefix+"/clients?"+q, nil).want(t, http.StatusBadRequest, CodeBadParam)
	}
}

func TestClientShape(t *testing.T) {
	env, _ := brokerEnv(t)
	r := env.admin(http.MethodGet, Prefix+"/clients/sensor-3", nil).want(t, http.StatusOK, CodeOK)
	var cs []map[string]any
	r.data(t, &cs)
	if len(cs) != 1 {
		t.Fatalf("data = %s", r.Data)
	}
	c := cs[0]
	for _, k := range []string{"node", "clientid", "username", "ip_address", "port", "connected", "proto_ver", "proto_name",
		"keepalive", "clean_start", "expiry_interval", "created_at", "subscriptions_cnt", "inflight", "max_inflight",
		"mqueue_len", "mqueue_dropped", "recv_msg", "send_msg", "disconnected_at"} {
		if _, ok := c[k]; !ok {
			t.Errorf("field %s missing", k)
		}
	}
	if _, ok := c["connected_at"]; ok {
		t.Error("connected_at shown for a disconnected client")
	}
	if c["node"] != "wedge@test" || c["created_at"] != "2026-01-02 05:04:05" || c["connected"] != false {
		t.Errorf("client = %v", c)
	}
	// A client id with "/" and " " in it, percent-encoded.
	r = env.admin(http.MethodGet, Prefix+"/clients/"+url.PathEscape("a/b c"), nil).want(t, http.StatusOK, CodeOK)
	var one []ClientInfo
	r.data(t, &one)
	if one[0].ClientID != "a/b c" {
		t.Fatalf("got %+v", one)
	}
	env.admin(http.MethodGet, Prefix+"/clients/nobody", nil).want(t, http.StatusNotFound, CodeClientNotFound)
}

func TestKick(t *testing.T) {
	env, b := brokerEnv(t)
	env.admin(http.MethodDelete, Prefix+"/clients/gateway", nil).want(t, http.StatusOK, CodeOK)
	if _, ok := b.Client("gateway"); ok {
		t.Fatal("not kicked")
	}
	env.admin(http.MethodDelete, Prefix+"/clients/gateway", nil).want(t, http.StatusNotFound, CodeClientNotFound)
	env.admin(http.MethodDelete, Prefix+"/clients/"+url.PathEscape("a/b c"), nil).want(t, http.StatusOK, CodeOK)
}

func TestSubscriptions(t *testing.T) {
	env, _ := brokerEnv(t)
	tests := []struct {
		query string
		want  []string // clientid topic
	}{
		{"", []string{"a/b c x", "gateway $share/g1/data/+/temp", "gateway data/#", "sensor-1 cmd/sensor-1", "sensor-2 $share/g1/data/+/temp"}},
		{"clientid=gateway", []string{"gateway $share/g1/data/+/temp", "gateway data/#"}},
		{"topic=data/%23", []string{"gateway data/#"}},
		{"qos=1", []string{"sensor-1 cmd/sensor-1", "sensor-2 $share/g1/data/+/temp"}},
		{"share=g1", []string{"gateway $share/g1/data/+/temp", "sensor-2 $share/g1/data/+/temp"}},
		{"_match_topic=data/7/temp", []string{"gateway $share/g1/data/+/temp", "gateway data/#", "sensor-2 $share/g1/data/+/temp"}},
		{"_limit=1&_page=2", []string{"gateway $share/g1/data/+/temp"}},
	}
	for _, tt := range tests {
		r := env.admin(http.MethodGet, Prefix+"/subscriptions?"+tt.query, nil).want(t, http.StatusOK, CodeOK)
		var subs []SubscriptionInfo
		r.data(t, &subs)
		var got []string
		for _, s := range subs {
			got = append(got, s.ClientID+" "+s.Topic)
			if s.Node != "wedge@test" {
				t.Errorf("node = %q", s.Node)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.query, got, tt.want)
		}
		if r.Meta == nil {
			t.Errorf("%q: no meta", tt.query)
		}
	}
	env.admin(http.MethodGet, Prefix+"/subscriptions?qos=3", nil).want(t, http.StatusBadRequest, CodeBadParam)

	var subs []SubscriptionInfo
	env.admin(http.MethodGet, Prefix+"/subscriptions/sensor-1", nil).want(t, http.StatusOK, CodeOK).data(t, &subs)
	if len(subs) != 1 || subs[0].Topic != "cmd/sensor-1" || subs[0].QoS != 1 {
		t.Fatalf("subs = %+v", subs)
	}
	r := env.admin(http.MethodGet, Prefix+"/subscriptions/nobody", nil).want(t, http.StatusOK, CodeOK)
	if string(r.Data) != "[]" {
		t.Fatalf("unknown client: data %s, want []", r.Data)
	}
}

func TestRoutes(t *testing.T) {
	env, _ := brokerEnv(t)
	r := env.admin(http.MethodGet, Prefix+"/routes", nil).want(t, http.StatusOK, CodeOK)
	var routes []RouteInfo
	r.data(t, &routes)
	want := []RouteInfo{{"cmd/sensor-1", "wedge@test"}, {"data/#", "wedge@test"}, {"data/+/temp", "wedge@test"}, {"x", "wedge@test"}}
	if !slices.Equal(routes, want) || r.Meta.Count != 4 {
		t.Fatalf("routes = %+v meta %+v", routes, r.Meta)
	}
	env.admin(http.MethodGet, Prefix+"/routes/"+url.PathEscape("data/#"), nil).want(t, http.StatusOK, CodeOK).data(t, &routes)
	if len(routes) != 1 || routes[0].Topic != "data/#" {
		t.Fatalf("lookup = %+v", routes)
	}
}

func TestStatsAndMetrics(t *testing.T) {
	env, _ := brokerEnv(t)
	var stats []NodeStats
	env.admin(http.MethodGet, Prefix+"/stats", nil).want(t, http.StatusOK, CodeOK).data(t, &stats)
	if len(stats) != 1 || stats[0].Node != "wedge@test" || stats[0].Stats["connections.count"] != 4 {
		t.Fatalf("stats = %+v", stats)
	}
	var agg map[string]int64
	env.admin(http.MethodGet, Prefix+"/stats?aggregate=true", nil).want(t, http.StatusOK, CodeOK).data(t, &agg)
	if agg["connections.max"] != 5 {
		t.Fatalf("aggregate = %v", agg)
	}
	var metrics []NodeMetrics
	env.admin(http.MethodGet, Prefix+"/metrics", nil).want(t, http.StatusOK, CodeOK).data(t, &metrics)
	if len(metrics) != 1 || metrics[0].Metrics["messages.received"] != 10 {
		t.Fatalf("metrics = %+v", metrics)
	}
	env.admin(http.MethodGet, Prefix+"/metrics?aggregate=1", nil).want(t, http.StatusOK, CodeOK).data(t, &agg)
	if agg["messages.sent"] != 7 {
		t.Fatalf("aggregate = %v", agg)
	}
	env.admin(http.MethodGet, Prefix+"/metrics?aggregate=sure", nil).want(t, http.StatusBadRequest, CodeBadParam)
}

func TestStatus(t *testing.T) {
	env, _ := brokerEnv(t)
	var st StatusInfo
	env.admin(http.MethodGet, Prefix+"/status", nil).want(t, http.StatusOK, CodeOK).data(t, &st)
	if st.Version != "0.0.0-test" || st.Node != "wedge@test" || st.Ready || len(st.Listeners) != 2 || st.Listeners[0].Protocol != "mqtt:tcp" ||
		st.Listeners[1].Protocol != "http:api" || st.Listeners[1].Listen != env.s.Addr().String() || st.Listeners[1].CurrentConns < 1 {
		t.Fatalf("status = %+v", st)
	}
	env.s.SetReady(true)
	env.admin(http.MethodGet, Prefix+"/status", nil).data(t, &st)
	if !st.Ready {
		t.Fatal("not ready after SetReady(true)")
	}
}

func TestPublish(t *testing.T) {
	env, b := brokerEnv(t)
	env.admin(http.MethodPost, Prefix+"/mqtt/publish", map[string]any{
		"topic": "a/b", "payload": "hello", "qos": 1, "retain": true, "clientid": "api"}).want(t, http.StatusOK, CodeOK)
	env.admin(http.MethodPost, Prefix+"/mqtt/publish", map[string]any{
		"topics": "c, d,c", "payload": "AAEC", "encoding": "base64"}).want(t, http.StatusOK, CodeOK)
	want := []Message{
		{Topic: "a/b", Payload: []byte("hello"), QoS: 1, Retain: true, ClientID: "api"},
		{Topic: "c", Payload: []byte{0, 1, 2}},
		{Topic: "d", Payload: []byte{0, 1, 2}},
	}
	got, _ := json.Marshal(b.published)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("published %s, want %s", got, exp)
	}
	for _, tc := range []struct {
		body         string
		status, code int
	}{
		{`{"payload":"x"}`, http.StatusBadRequest, CodeMissingParam},
		{`{"topic":"a/+","payload":"x"}`, http.StatusBadRequest, CodeInvalidTopic},
		{`{"topic":"a","payload":"x","qos":3}`, http.StatusBadRequest, CodeBadParam},
		{`{"topic":"a","payload":"***","encoding":"base64"}`, http.StatusBadRequest, CodeBadParam},
		{`{"topic":"a","payload":"x","encoding":"hex"}`, http.StatusBadRequest, CodeBadParam},
		{`{"topic":`, http.StatusBadRequest, CodeBadJSON},
		{`{"topic":"a"} {}`, http.StatusBadRequest, CodeBadJSON},
	} {
		env.admin(http.MethodPost, Prefix+"/mqtt/publish", tc.body).want(t, tc.status, tc.code)
	}
	b.failWith = fmt.Errorf("acl: %w", ErrInvalidTopic)
	env.admin(http.MethodPost, Prefix+"/mqtt/publish", `{"topic":"a"}`).want(t, http.StatusBadRequest, CodeInvalidTopic)
	b.failWith = fmt.Errorf("queue full: %w", context.DeadlineExceeded)
	env.admin(http.MethodPost, Prefix+"/mqtt/publish", `{"topic":"a"}`).want(t, http.StatusServiceUnavailable, CodeServiceUnavailable)
	b.failWith = fmt.Errorf("disk on fire")
	r := env.admin(http.MethodPost, Prefix+"/mqtt/publish", `{"topic":"a"}`).want(t, http.StatusInternalServerError, CodeUnknown)
	if r.Message == "" {
		t.Fatal("no message")
	}
}

func TestTopicMatch(t *testing.T) {
	tests := []struct {
		filter, name string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+/+", "/x", true},
		{"a/#/b", "a/x/b", false},
		{"a", "a/b", false},
	}
	for _, tt := range tests {
		if got := TopicMatch(tt.filter, tt.name); got != tt.want {
			t.Errorf("TopicMatch(%q, %q) = %v", tt.filter, tt.name, got)
		}
	}
}

func TestNoBrokerNoBrokerRoutes(t *testing.T) {
	env := newEnv(t, nil).start()
	env.admin(http.MethodGet, Prefix+"/clients", nil).want(t, http.StatusNotFound, CodeNotFound)
}
