package ruleactions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	kgo "github.com/segmentio/kafka-go"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/appliance/actions/kafka"
	"github.com/wedge-iot/wedge/appliance/actions/mqttbridge"
	"github.com/wedge-iot/wedge/appliance/actions/webhook"
	"github.com/wedge-iot/wedge/appliance/resources"
	"github.com/wedge-iot/wedge/rules/engine"
)

// ResourceTypes returns the resource types of the connectors, for
// resources.Open: webhook (EMQX's web_hook), kafka (bridge_kafka) and
// mqtt_bridge (bridge_mqtt). local receives the mqtt_bridge resources'
// subscriptions (nil: subscriptions are refused).
func ResourceTypes(local Publisher) []resources.Type {
	return []resources.Type{
		{Name: "webhook", Aliases: []string{"web_hook"}, Title: "HTTP server",
			Description: "an HTTP client pool for one server; actions add a path, headers and a body",
			Params: map[string]engine.Param{
				"url":     {Type: "string", Required: true, Description: "base URL (http or https); an action's path is appended"},
				"method":  {Type: "string", Default: "POST", Description: "default method"},
				"headers": {Type: "object", Description: "headers sent with every request (an action's headers win)"},
				"ssl":     {Type: "object", Description: "true, or {cacertfile, certfile, keyfile, verify, server_name}"}},
			Open: openWebhook},
		{Name: "kafka", Aliases: []string{"bridge_kafka"}, Title: "Kafka",
			Description: "one kafka-go writer for a cluster; actions name the topic, key and value",
			Params: map[string]engine.Param{
				"servers":       {Type: "string", Required: true, Description: "host:port list, comma separated"},
				"partitioner":   {Type: "string", Description: "hash, round_robin, least_bytes, crc32, random"},
				"required_acks": {Type: "string", Description: "all, one, none"},
				"compression":   {Type: "string", Description: "none, gzip, snappy, lz4, zstd"},
				"ssl":           {Type: "object", Description: "true, or {cacertfile, certfile, keyfile, verify, server_name}"},
				"sasl":          {Type: "object", Description: "{mechanism: plain|scram_sha_256|scram_sha_512, username, password}"}},
			Open: openKafka},
		{Name: "mqtt_bridge", Aliases: []string{"bridge_mqtt"}, Title: "MQTT broker",
			Description: "one persistent MQTT session with an upstream broker; actions forward through it, subscriptions bring upstream topics here",
			Params: map[string]engine.Param{
				"server":        {Type: "string", Required: true, Description: "host:port"},
				"clientid":      {Type: "string", Description: "client id (default wedge-bridge-<server>)"},
				"username":      {Type: "string", Description: "user"},
				"password":      {Type: "string", Description: "password"},
				"ssl":           {Type: "object", Description: "true, or {cacertfile, certfile, keyfile, verify, server_name}"},
				"subscriptions": {Type: "array", Description: "[{topic, qos, local_topic}] upstream → local"}},
			Open: func(p map[string]any) (resources.Conn, error) { return openBridge(p, local) },
			Probe: func(ctx context.Context, p map[string]any) error {
				var c mqttbridge.Config
				if err := decode(p, &c); err != nil {
					return err
				}
				return mqttbridge.Probe(ctx, c)
			}},
	}
}

// bindResource builds an action's connector on the resource its params name
// with "$resource"; ok is false when they name none.
func bindResource(res *resources.Manager, typ string, p map[string]any, d engine.Deps) (conn actions.Connector, ok bool, err error) {
	id, has := p["$resource"]
	if !has {
		return nil, false, nil
	}
	sid, _ := id.(string)
	if sid == "" {
		return nil, true, &engine.SpecError{Field: "params.$resource", Msg: "must be a resource id"}
	}
	if res == nil {
		return nil, true, &engine.SpecError{Field: "params.$resource", Msg: "resources are not available here"}
	}
	p = clone(p)
	delete(p, "$resource")
	conn, err = res.Bind(sid, typ, fmt.Sprintf("%s/%d", d.RuleID, d.Index), p)
	if err != nil {
		return nil, true, &engine.SpecError{Field: "params.$resource", Msg: err.Error()}
	}
	return conn, true, nil
}

// webhookConn is a webhook resource: a base URL and one HTTP client.
type webhookConn struct {
	cfg    webhook.Config
	base   *url.URL
	client *http.Client
}

func openWebhook(p map[string]any) (resources.Conn, error) {
	var c webhook.Config
	if err := decode(p, &c); err != nil {
		return nil, err
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: url %q: must be an http or https URL", c.URL)
	}
	// Let webhook.New check method and headers once.
	if _, err := webhook.New(c); err != nil {
		return nil, err
	}
	client, err := webhook.NewClient(c)
	if err != nil {
		return nil, err
	}
	return &webhookConn{cfg: c, base: u, client: client}, nil
}

// Bind: path (a template appended to the resource's URL), method, headers
// (merged over the resource's), body.
func (w *webhookConn) Bind(p map[string]any) (actions.Connector, error) {
	var a struct {
		Path    string            `json:"path"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	if err := decode(p, &a); err != nil {
		return nil, err
	}
	c := w.cfg
	c.URL = strings.TrimSuffix(w.cfg.URL, "/")
	if a.Path != "" {
		c.URL += "/" + strings.TrimPrefix(a.Path, "/")
	}
	if a.Method != "" {
		c.Method = a.Method
	}
	c.Headers = map[string]string{}
	for k, v := range w.cfg.Headers {
		c.Headers[k] = v
	}
	for k, v := range a.Headers {
		c.Headers[k] = v
	}
	c.Body, c.Client = a.Body, w.client
	return webhook.New(c)
}

func (w *webhookConn) Check(ctx context.Context) error {
	host := w.base.Host
	if w.base.Port() == "" {
		port := "80"
		if w.base.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(w.base.Hostname(), port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return conn.Close()
}

func (w *webhookConn) Reconnect() error { w.client.CloseIdleConnections(); return nil }
func (w *webhookConn) Close() error     { w.client.CloseIdleConnections(); return nil }

// kafkaConn is a kafka resource: one writer.
type kafkaConn struct {
	cfg kafka.Config
	w   *kgo.Writer
}

func kafkaConfig(p map[string]any) (kafka.Config, error) {
	if s, ok := p["servers"].(string); ok {
		p = clone(p)
		p["servers"] = strings.Split(s, ",")
	}
	var c kafka.Config
	err := decode(p, &c)
	return c, err
}

func openKafka(p map[string]any) (resources.Conn, error) {
	c, err := kafkaConfig(p)
	if err != nil {
		return nil, err
	}
	w, err := kafka.NewWriter(c)
	if err != nil {
		return nil, err
	}
	return &kafkaConn{cfg: c, w: w}, nil
}

// Bind: topic, key, value (the connection settings are the resource's).
func (k *kafkaConn) Bind(p map[string]any) (actions.Connector, error) {
	var a struct {
		Topic string `json:"topic"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := decode(p, &a); err != nil {
		return nil, err
	}
	return kafka.New(kafka.Config{Topic: a.Topic, Key: a.Key, Value: a.Value, Writer: k.w})
}

// Check asks one of the brokers for the cluster's metadata.
func (k *kafkaConn) Check(ctx context.Context) error {
	tr, _ := k.w.Transport.(*kgo.Transport)
	d := &kgo.Dialer{ClientID: "wedge"}
	if tr != nil {
		d.TLS, d.SASLMechanism = tr.TLS, tr.SASL
	}
	var errs []error
	for _, s := range k.cfg.Servers {
		conn, err := d.DialContext(ctx, "tcp", strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("kafka: no broker answers: %w", errors.Join(errs...))
}

func (k *kafkaConn) Reconnect() error {
	if tr, ok := k.w.Transport.(*kgo.Transport); ok {
		tr.CloseIdleConnections()
	}
	return nil
}

func (k *kafkaConn) Close() error { return k.w.Close() }

// bridgeConn is an mqtt_bridge resource: one upstream session.
type bridgeConn struct{ s *mqttbridge.Connector }

func openBridge(p map[string]any, local Publisher) (resources.Conn, error) {
	var c mqttbridge.Config
	if err := decode(p, &c); err != nil {
		return nil, err
	}
	c.Topic, c.PayloadTmpl = "", ""
	if local != nil {
		c.OnMessage = func(m mqttbridge.Message) { _ = local.Publish(m.Topic, m.Payload, m.QoS, m.Retain) }
	}
	s, err := mqttbridge.NewSession(c)
	if err != nil {
		return nil, err
	}
	return &bridgeConn{s: s}, nil
}

// Bind: topic (EMQX's forward_topic too), payload_tmpl, qos, retain.
func (b *bridgeConn) Bind(p map[string]any) (actions.Connector, error) {
	if ft, ok := p["forward_topic"]; ok {
		if _, has := p["topic"]; !has {
			p = clone(p)
			p["topic"] = ft
		}
	}
	var a struct {
		Topic       string `json:"topic"`
		PayloadTmpl string `json:"payload_tmpl"`
		QoS         *byte  `json:"qos"`
		Retain      bool   `json:"retain"`
	}
	if err := decode(p, &a); err != nil {
		return nil, err
	}
	return b.s.Bind(mqttbridge.Config{Topic: a.Topic, PayloadTmpl: a.PayloadTmpl, QoS: a.QoS, Retain: a.Retain})
}

// Check waits (up to ctx's deadline) for the session to be connected: a
// resource created a moment ago is still connecting.
func (b *bridgeConn) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, detail := b.s.Health()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New(detail)
		case <-t.C:
		}
	}
}

func (b *bridgeConn) Reconnect() error { return nil } // paho reconnects on its own, with backoff
func (b *bridgeConn) Close() error     { return b.s.Close() }
