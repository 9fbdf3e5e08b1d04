package engine

import (
	"errors"
	"maps"

	"github.com/wedge-iot/wedge/rules"
)

// EventInfo describes one trigger for GET /api/v4/rule_events: its event
// column value, FROM topic, columns and an example of them.
type EventInfo struct {
	Event       string         `json:"event"` // the FROM entry: "$events/client_connected", or "message.publish"
	EventName   string         `json:"event_name"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Columns     []string       `json:"columns"`
	Example     map[string]any `json:"test_columns"`
	SQLExample  string         `json:"sql_example"`
}

var common = []string{"event", "timestamp", "node"}

func ex(m map[string]any) map[string]any {
	out := map[string]any{"timestamp": int64(1645000000000), "node": "wedge@127.0.0.1"}
	maps.Copy(out, m)
	return out
}

var msgExample = map[string]any{
	"id": "5d5e4b9a0c8f7a1b0000000000000001", "clientid": "c_emqx", "username": "u_emqx",
	"payload": `{"msg":"hello"}`, "peerhost": "127.0.0.1", "topic": "t/a", "qos": int64(1),
	"flags":               map[string]any{"retain": false, "dup": false},
	"headers":             map[string]any{"peerhost": "127.0.0.1", "username": "u_emqx", "protocol": "MQTT", "proto_ver": int64(4)},
	"pub_props":           map[string]any{"User-Property": map[string]any{"foo": "bar"}},
	"publish_received_at": int64(1645000000000),
}

func msgCols(extra ...string) []string {
	return append([]string{"id", "clientid", "username", "payload", "peerhost", "topic", "qos", "flags", "headers", "pub_props", "publish_received_at"}, extra...)
}

// Events lists every trigger the engine feeds: message.publish and the
// broker's events, with their columns (spec §6) and example values (the ones
// POST /rules?test=true merges the context over).
func Events() []EventInfo {
	withMsg := func(extra map[string]any) map[string]any {
		m := maps.Clone(msgExample)
		maps.Copy(m, extra)
		return ex(m)
	}
	list := []EventInfo{
		{Event: rules.EventPublish, EventName: rules.EventPublish, Title: "Message publish",
			Description: "A message was published (FROM an MQTT topic filter)",
			Columns:     msgCols(), Example: withMsg(nil),
			SQLExample: `SELECT payload.msg AS msg FROM "t/#" WHERE msg = 'hello'`},
		{Event: "$events/message_delivered", EventName: EventMessageDelivered, Title: "Message delivered",
			Description: "A message was delivered to a subscriber",
			Columns:     append(msgCols(), "from_clientid", "from_username"),
			Example:     withMsg(map[string]any{"from_clientid": "c_emqx_1", "from_username": "u_emqx_1", "clientid": "c_emqx_2", "username": "u_emqx_2"}),
			SQLExample:  `SELECT from_clientid, from_username, topic, qos, node, timestamp FROM "$events/message_delivered"`},
		{Event: "$events/message_acked", EventName: EventMessageAcked, Title: "Message acked",
			Description: "A subscriber acknowledged a QoS 1/2 message",
			Columns:     append(msgCols(), "from_clientid", "from_username", "puback_props"),
			Example:     withMsg(map[string]any{"from_clientid": "c_emqx_1", "from_username": "u_emqx_1", "clientid": "c_emqx_2", "username": "u_emqx_2", "puback_props": map[string]any{}}),
			SQLExample:  `SELECT from_clientid, from_username, topic, qos, node, timestamp FROM "$events/message_acked"`},
		{Event: "$events/message_dropped", EventName: EventMessageDropped, Title: "Message dropped",
			Description: "A message was dropped (e.g. a full queue)",
			Columns:     msgCols("reason"), Example: withMsg(map[string]any{"reason": "queue_full"}),
			SQLExample: `SELECT reason, topic, qos, node, timestamp FROM "$events/message_dropped"`},
		{Event: "$events/client_connected", EventName: EventClientConnected, Title: "Client connected",
			Description: "A client connected",
			Columns: []string{"clientid", "username", "mountpoint", "peername", "sockname", "proto_name", "proto_ver",
				"keepalive", "clean_start", "receive_maximum", "expiry_interval", "is_bridge", "conn_props", "connected_at"},
			Example: ex(map[string]any{"clientid": "c_emqx", "username": "u_emqx", "peername": "127.0.0.1:52918", "sockname": "0.0.0.0:1883",
				"proto_name": "MQTT", "proto_ver": int64(5), "keepalive": int64(60), "clean_start": true, "receive_maximum": int64(32),
				"expiry_interval": int64(3600), "is_bridge": false, "conn_props": map[string]any{}, "connected_at": int64(1645000000000)}),
			SQLExample: `SELECT clientid, username, peername, connected_at FROM "$events/client_connected"`},
		{Event: "$events/client_disconnected", EventName: EventClientDisconnected, Title: "Client disconnected",
			Description: "A client disconnected",
			Columns:     []string{"reason", "clientid", "username", "peername", "sockname", "disconn_props", "disconnected_at"},
			Example: ex(map[string]any{"reason": "normal", "clientid": "c_emqx", "username": "u_emqx", "peername": "127.0.0.1:52918",
				"sockname": "0.0.0.0:1883", "disconn_props": map[string]any{}, "disconnected_at": int64(1645000000000)}),
			SQLExample: `SELECT clientid, username, reason, disconnected_at FROM "$events/client_disconnected"`},
		{Event: "$events/session_subscribed", EventName: EventSessionSubscribed, Title: "Session subscribed",
			Description: "A client subscribed to a topic filter",
			Columns:     []string{"clientid", "username", "peerhost", "topic", "qos", "sub_props"},
			Example: ex(map[string]any{"clientid": "c_emqx", "username": "u_emqx", "peerhost": "127.0.0.1", "topic": "t/a",
				"qos": int64(1), "sub_props": map[string]any{}}),
			SQLExample: `SELECT clientid, topic, qos FROM "$events/session_subscribed"`},
		{Event: "$events/session_unsubscribed", EventName: EventSessionUnsubscribed, Title: "Session unsubscribed",
			Description: "A client unsubscribed from a topic filter",
			Columns:     []string{"clientid", "username", "peerhost", "topic", "qos", "unsub_props"},
			Example: ex(map[string]any{"clientid": "c_emqx", "username": "u_emqx", "peerhost": "127.0.0.1", "topic": "t/a",
				"qos": int64(1), "unsub_props": map[string]any{}}),
			SQLExample: `SELECT clientid, topic FROM "$events/session_unsubscribed"`},
	}
	for i := range list {
		list[i].Columns = append(list[i].Columns, common...)
		list[i].Example["event"] = list[i].EventName
	}
	return list
}

// ErrNoMatch is DryRun's "SQL Not Match": FROM does not match the context's
// topic, or WHERE is false.
var ErrNoMatch = errors.New("SQL Not Match")

// DryRun is EMQX 4's POST /rules?test=true (spec §10): ctx is merged over
// the example values of the first FROM entry's event, the rule is evaluated
// with a temporary id, no metrics change and no action runs. It returns the
// output (an object, or an array for FOREACH), ErrNoMatch, a
// *rules.SyntaxError or a *rules.EvalError.
func DryRun(sql string, ctx map[string]rules.Value) (rules.Value, error) {
	r, err := rules.Parse(sql)
	if err != nil {
		return nil, err
	}
	name := rules.EventPublish
	if ev, ok := rules.EventName(r.From[0]); ok {
		name = ev
	}
	var example map[string]any
	for _, e := range Events() {
		if e.EventName == name {
			example = e.Example
		}
	}
	in := rules.Columns(rules.Normalize(map[string]rules.Value(example)).(map[string]rules.Value))
	in["metadata"] = map[string]rules.Value{"rule_id": "test-rule"}
	maps.Copy(in, ctx)
	if name == rules.EventPublish {
		// Every FROM entry a topic: ctx.topic must match one of them.
		allTopics := true
		for _, f := range r.From {
			allTopics = allTopics && !rules.IsEventTopic(f)
		}
		topic, _ := in["topic"].(string)
		if allTopics && !r.MatchesTopic(topic) {
			return nil, ErrNoMatch
		}
	}
	out, err := r.Eval(in)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, ErrNoMatch
	}
	return out.Value(), nil
}
