// Package ruleactions offers the outbox's connectors (webhook, kafka, mqtt_bridge) to the rules
// engine as action types. It is wiring: it knows the engine, the outbox and the connectors.
//
// An async action (the default for these types) writes the rule's output to its outbox queue
// (rule id, action index) and defers the action's outcome to the outbox: the publisher's
// acknowledgement waits for the durable write (unless outbox.durability is fast), and the
// action's success or failure is counted when the target acknowledged the record or rejected it
// for good. A sync action delivers in the publish path (its error counts at once). "batch"
// ({"enabled", "size", "interval_ms"}) batches deliveries of the queue.
//
// When a rule is updated its queue keeps its records and gets the new connector; when the rule is
// deleted the queue is unregistered: its records stay on disk, visible in /api/v4/outbox.
package ruleactions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/appliance/actions/kafka"
	"github.com/wedge-iot/wedge/appliance/actions/mqttbridge"
	"github.com/wedge-iot/wedge/appliance/actions/webhook"
	"github.com/wedge-iot/wedge/appliance/outbox"
	"github.com/wedge-iot/wedge/appliance/resources"
	"github.com/wedge-iot/wedge/rules/engine"
)

// Publisher republishes upstream messages locally (the MQTT bridge's subscriptions).
type Publisher interface {
	Publish(topic string, payload []byte, qos byte, retain bool) error
}

// Register adds the connector action types to the engine's registry; call it before the
// rules are loaded. An action whose params name a "$resource" binds to that resource of res
// (nil: "$resource" is refused); its params then carry only the action's own part (templates).
func Register(reg *engine.Registry, ob *outbox.Outbox, local Publisher, res *resources.Manager) error {
	types := []engine.ActionType{
		{Name: "webhook", Aliases: []string{"data_to_webserver", "web_hook"}, Title: "Webhook",
			Description: "HTTP(S) request per record: url, method, headers and body templates; retried on 5xx and timeouts, not on 4xx",
			For:         []string{"$any"}, Mode: "async", Params: map[string]engine.Param{
				"$resource": {Type: "string", Description: "a webhook resource's id: its URL, method and headers, shared; then path is appended to its URL"},
				"path":      {Type: "string", Description: "with $resource: a path template appended to the resource's URL"},
				"url":       {Type: "string", Required: true, Description: "URL template (not with $resource)"}, "method": {Type: "string", Default: "POST", Description: "HTTP method"},
				"headers": {Type: "object", Description: "header templates"}, "body": {Type: "string", Description: "body template (empty: the output as JSON)"}},
			New: func(p map[string]any, d engine.Deps) (engine.Action, error) {
				if conn, ok, err := bindResource(res, "webhook", p, d); ok {
					return build(ob, d, conn, err)
				}
				var c webhook.Config
				if err := decode(p, &c); err != nil {
					return nil, err
				}
				conn, err := webhook.New(c)
				return build(ob, d, conn, err)
			}},
		{Name: "kafka", Aliases: []string{"data_to_kafka"}, Title: "Kafka",
			Description: "produce to a Kafka topic (segmentio/kafka-go): servers, topic, key and value templates, partitioner, acks, compression",
			For:         []string{"$any"}, Mode: "async", Params: map[string]engine.Param{
				"$resource": {Type: "string", Description: "a kafka resource's id: its writer (servers, partitioner, acks, compression, ssl, sasl) is shared"},
				"servers":   {Type: "string", Required: true, Description: "host:port list, comma separated (not with $resource)"}, "topic": {Type: "string", Required: true, Description: "topic"},
				"key": {Type: "string", Description: "key template"}, "value": {Type: "string", Description: "value template (empty: the output as JSON)"},
				"partitioner": {Type: "string", Description: "hash, round_robin, …"}, "required_acks": {Type: "string", Description: "all, one, none"},
				"compression": {Type: "string", Description: "none, gzip, snappy, lz4, zstd"}},
			New: func(p map[string]any, d engine.Deps) (engine.Action, error) {
				if conn, ok, err := bindResource(res, "kafka", p, d); ok {
					return build(ob, d, conn, err)
				}
				c, err := kafkaConfig(p)
				if err != nil {
					return nil, err
				}
				conn, err := kafka.New(c)
				return build(ob, d, conn, err)
			}},
		{Name: "mqtt_bridge", Aliases: []string{"data_to_mqtt_broker"}, Title: "MQTT bridge",
			Description: "forward to an upstream MQTT broker (QoS 1, persistent session): server, topic and payload templates; subscriptions bring upstream topics here",
			For:         []string{"$any"}, Mode: "async", Params: map[string]engine.Param{
				"$resource": {Type: "string", Description: "an mqtt_bridge resource's id: its upstream session is shared"},
				"server":    {Type: "string", Required: true, Description: "host:port (not with $resource)"}, "topic": {Type: "string", Required: true, Description: "topic template"},
				"payload_tmpl": {Type: "string", Description: "payload template (empty: the output as JSON)"}, "qos": {Type: "number", Default: 1, Description: "QoS"},
				"retain": {Type: "boolean", Description: "retain flag"}, "clientid": {Type: "string", Description: "client id"},
				"username": {Type: "string", Description: "user"}, "password": {Type: "string", Description: "password"},
				"subscriptions": {Type: "array", Description: "[{topic, qos, local_topic}] upstream → local"}},
			New: func(p map[string]any, d engine.Deps) (engine.Action, error) {
				if conn, ok, err := bindResource(res, "mqtt_bridge", p, d); ok {
					return build(ob, d, conn, err)
				}
				var c mqttbridge.Config
				if err := decode(p, &c); err != nil {
					return nil, err
				}
				if local != nil {
					c.OnMessage = func(m mqttbridge.Message) { _ = local.Publish(m.Topic, m.Payload, m.QoS, m.Retain) }
				}
				conn, err := mqttbridge.New(c)
				return build(ob, d, conn, err)
			}},
	}
	for _, t := range types {
		if err := reg.Register(t); err != nil {
			return err
		}
	}
	return nil
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// decode maps an action's params onto a connector's Config through its json tags.
func decode(p map[string]any, into any) error {
	b, err := json.Marshal(p)
	if err != nil {
		return &engine.SpecError{Field: "params", Msg: err.Error()}
	}
	if err := json.Unmarshal(b, into); err != nil {
		return &engine.SpecError{Field: "params", Msg: err.Error()}
	}
	return nil
}

// action is one connector instance of one rule version.
type action struct {
	ob    *outbox.Outbox
	q     outbox.QueueID
	conn  actions.Connector
	async bool
}

func build(ob *outbox.Outbox, d engine.Deps, conn actions.Connector, err error) (engine.Action, error) {
	if err != nil {
		return nil, &engine.SpecError{Field: "params", Msg: err.Error()}
	}
	a := &action{ob: ob, conn: conn, async: d.Mode != "sync", q: outbox.QueueID{Rule: d.RuleID, Action: d.Index}}
	if d.Index < 0 {
		a.async = false // fallbacks run in the publish path: they have no queue of their own
	}
	if a.async {
		qo, err := batchOptions(d.Batch)
		if err != nil {
			conn.Close()
			return nil, err
		}
		if err := ob.Register(a.q, conn, qo); err != nil {
			conn.Close()
			return nil, fmt.Errorf("outbox queue %s/%d: %w", a.q.Rule, a.q.Action, err)
		}
	}
	return a, nil
}

// batchOptions reads {"enabled": true, "size": 100, "interval_ms": 10}.
func batchOptions(b map[string]any) (outbox.QueueOptions, error) {
	var qo outbox.QueueOptions
	if b == nil {
		return qo, nil
	}
	if on, _ := b["enabled"].(bool); !on {
		return qo, nil
	}
	size, _ := b["size"].(float64)
	if n, ok := b["size"].(int); ok {
		size = float64(n)
	}
	ms, _ := b["interval_ms"].(float64)
	if n, ok := b["interval_ms"].(int); ok {
		ms = float64(n)
	}
	if size < 1 || size > 10000 {
		return qo, &engine.SpecError{Field: "batch.size", Msg: "must be between 1 and 10000"}
	}
	qo.BatchSize, qo.BatchInterval = int(size), time.Duration(ms)*time.Millisecond
	return qo, nil
}

// Run writes the output to the queue (async) or delivers it now (sync).
func (a *action) Run(ctx context.Context, env *engine.Env) error {
	data, err := actions.EncodeOutput(env.Selected)
	if err != nil {
		return err
	}
	if !a.async {
		res := a.conn.Deliver(ctx, []outbox.Record{{Queue: a.q, Data: data}})
		if res.Err != nil {
			return res.Err
		}
		if len(res.Errs) > 0 && res.Errs[0] != nil {
			return res.Errs[0]
		}
		return nil
	}
	// The outcome callback may run before Defer returned, even inside EnqueueNotify (a record
	// refused at a bound or on a full disk): then it leaves the outcome for Run to report.
	var mu sync.Mutex
	var done func(error)
	var early error
	var settled bool
	p := a.ob.EnqueueNotify(a.q, data, func(o outbox.Outcome, err error) {
		if o == outbox.Delivered {
			err = nil
		} else if err == nil {
			err = fmt.Errorf("outbox: %s", o)
		}
		mu.Lock()
		d := done
		if d == nil {
			early, settled = err, true
		}
		mu.Unlock()
		if d != nil {
			d(err)
		}
	})
	d := env.Defer(policyHold{p})
	mu.Lock()
	done = d
	report := settled
	mu.Unlock()
	if report {
		d(early)
	}
	return nil
}

// policyHold holds the publisher's acknowledgement until the record is durable. A record the
// queue's policy dropped (a bound or a full disk: drop_new, drop_oldest, block after its timeout)
// does not refuse the publish: the drop is the policy the operator chose, counted in the queue's
// dropped and the action's failed. Any other failure (the outbox closing, an I/O error) refuses
// it, so the client publishes again and nothing acknowledged is lost.
type policyHold struct{ p *outbox.Pending }

func (h policyHold) Wait(ctx context.Context) error {
	err := h.p.Wait(ctx)
	if errors.Is(err, outbox.ErrFull) || errors.Is(err, outbox.ErrDiskFull) || errors.Is(err, outbox.ErrTooLarge) {
		return nil
	}
	return err
}

// Close releases the connector; a deleted rule's queue is unregistered (records stay on disk).
func (a *action) Close(deleted bool) {
	if a.async && deleted {
		a.ob.Unregister(a.q)
	}
	go func() { _ = a.conn.Close() }() // a new version has re-registered the queue already
}
