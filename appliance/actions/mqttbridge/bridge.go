package mqttbridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wedge-iot/wedge/appliance/actions"
)

// Subscription forwards an upstream topic filter to the local broker.
type Subscription struct {
	Topic string `json:"topic"` // upstream filter
	QoS   byte   `json:"qos"`
	// LocalTopic is a template rendered with ${topic} (the upstream topic)
	// and ${qos}; empty keeps the upstream topic.
	LocalTopic string `json:"local_topic"`
}

// Message is an upstream message on its way to the local broker.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Config is an mqtt_bridge action's (or resource's) params.
type Config struct {
	// Server is the upstream broker, host:port.
	Server string `json:"server"`
	// Topic and PayloadTmpl are templates rendered from the rule's output;
	// an empty PayloadTmpl sends the whole output as JSON.
	Topic       string `json:"topic"`
	PayloadTmpl string `json:"payload_tmpl"`
	// QoS of forwarded messages: 0 or 1 (default 1; 2 is sent as 1, which
	// already gives at-least-once with the outbox).
	QoS    *byte `json:"qos,omitempty"`
	Retain bool  `json:"retain"`
	// ClientID is fixed so the upstream keeps the session (clean session
	// false) across reconnects; default "wedge-bridge-<server>".
	ClientID string `json:"clientid"`
	Username string `json:"username"`
	Password string `json:"password"`
	// TLS enables TLS (the "ssl" param); nil: plain TCP.
	TLS *tls.Config `json:"-"`
	// Subscriptions: upstream → local, delivered to OnMessage.
	Subscriptions []Subscription `json:"subscriptions"`
	// OnMessage receives upstream messages (the wiring publishes them on the
	// local broker). The upstream message is acknowledged after it returns.
	OnMessage func(Message) `json:"-"`
	// KeepAlive (default 30s), ReconnectInterval (max backoff between
	// connection attempts, default 10s), PublishTimeout (one batch's wait for
	// PUBACKs, default 10s).
	KeepAlive         time.Duration `json:"-"`
	ReconnectInterval time.Duration `json:"-"`
	PublishTimeout    time.Duration `json:"-"`
}

// Connector keeps one persistent MQTT 3.1.1 session with the upstream broker.
type Connector struct {
	cfg     Config
	topic   *actions.Template
	payload *actions.Template
	qos     byte
	local   []*actions.Template
	client  mqtt.Client

	mu      sync.Mutex
	lastErr string
	closed  bool
}

// ErrNotConnected is the transient error for records while the upstream is
// unreachable.
var ErrNotConnected = errors.New("mqttbridge: upstream not connected")

// New checks cfg and starts connecting in the background: a target that is
// down is not an error (the outbox keeps the records until it comes).
func New(cfg Config) (*Connector, error) {
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return nil, fmt.Errorf("mqttbridge: server %q: want host:port", cfg.Server)
	}
	if cfg.Topic == "" && len(cfg.Subscriptions) == 0 {
		return nil, errors.New("mqttbridge: topic is required")
	}
	if strings.ContainsAny(cfg.Topic, "+#") {
		return nil, fmt.Errorf("mqttbridge: topic %q: wildcards cannot be published to", cfg.Topic)
	}
	qos := byte(1)
	if cfg.QoS != nil {
		qos = min(*cfg.QoS, 1)
	}
	for _, s := range cfg.Subscriptions {
		if s.Topic == "" || s.QoS > 2 {
			return nil, fmt.Errorf("mqttbridge: subscription %+v: needs a topic and a qos of 0, 1 or 2", s)
		}
	}
	if len(cfg.Subscriptions) > 0 && cfg.OnMessage == nil {
		return nil, errors.New("mqttbridge: subscriptions need OnMessage")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "wedge-bridge-" + cfg.Server
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.ReconnectInterval <= 0 {
		cfg.ReconnectInterval = 10 * time.Second
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 10 * time.Second
	}
	c := &Connector{cfg: cfg, topic: actions.ParseTemplate(cfg.Topic), payload: actions.ParseTemplate(cfg.PayloadTmpl), qos: qos}
	for _, s := range cfg.Subscriptions {
		c.local = append(c.local, actions.ParseTemplate(s.LocalTopic))
	}
	scheme := "tcp://"
	if cfg.TLS != nil {
		scheme = "ssl://"
	}
	opts := mqtt.NewClientOptions().
		AddBroker(scheme + cfg.Server).
		SetClientID(cfg.ClientID).
		SetCleanSession(false).
		SetOrderMatters(true).
		SetKeepAlive(cfg.KeepAlive).
		SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(min(time.Second, cfg.ReconnectInterval)).
		SetMaxReconnectInterval(cfg.ReconnectInterval).
		SetResumeSubs(true).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.setErr(fmt.Errorf("mqttbridge: connection lost: %w", err)) })
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	c.client = mqtt.NewClient(opts)
	c.setErr(ErrNotConnected)
	c.client.Connect() // with ConnectRetry it keeps trying in the background
	return c, nil
}

// onConnect (re)subscribes: the session keeps subscriptions, but a first
// connect, or an upstream that lost its state, needs them again.
func (c *Connector) onConnect(cl mqtt.Client) {
	c.setErr(nil)
	for i, s := range c.cfg.Subscriptions {
		local := c.local[i]
		tok := cl.Subscribe(s.Topic, s.QoS, func(_ mqtt.Client, m mqtt.Message) {
			topic := m.Topic()
			if !local.Empty() {
				topic = local.Render(map[string]any{"topic": m.Topic(), "qos": int(m.Qos())})
			}
			c.cfg.OnMessage(Message{Topic: topic, Payload: m.Payload(), QoS: min(m.Qos(), s.QoS), Retain: m.Retained()})
		})
		go func() {
			if tok.WaitTimeout(c.cfg.PublishTimeout) && tok.Error() != nil {
				c.setErr(fmt.Errorf("mqttbridge: subscribe %q: %w", s.Topic, tok.Error()))
			}
		}()
	}
}

// Deliver publishes recs in order, all at once, then waits for their
// PUBACKs. While the upstream is unreachable every record fails transiently
// at once (nothing is queued inside the MQTT client), so the outbox's backoff
// and circuit breaker apply.
func (c *Connector) Deliver(ctx context.Context, recs []actions.Record) actions.BatchResult {
	errs := make([]error, len(recs))
	if !c.client.IsConnectionOpen() {
		for i := range errs {
			errs[i] = ErrNotConnected
		}
		return actions.BatchResult{Errs: errs}
	}
	toks := make([]mqtt.Token, len(recs))
	for i, r := range recs {
		out, err := actions.DecodeOutput(r.Data)
		if err != nil {
			errs[i] = err
			continue
		}
		topic := c.topic.Render(out)
		if topic == "" || strings.ContainsAny(topic, "+#\x00") {
			errs[i] = actions.Permanent(fmt.Errorf("mqttbridge: topic %q (from %q) cannot be published to", topic, c.topic))
			continue
		}
		payload := r.Data
		if !c.payload.Empty() {
			payload = c.payload.RenderBytes(out)
		}
		toks[i] = c.client.Publish(topic, c.qos, c.cfg.Retain, payload)
	}
	deadline := time.Now().Add(c.cfg.PublishTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var last error
	for i, tok := range toks {
		if tok == nil {
			continue
		}
		if !tok.WaitTimeout(time.Until(deadline)) {
			errs[i] = fmt.Errorf("mqttbridge: no PUBACK within %v", c.cfg.PublishTimeout)
		} else if err := tok.Error(); err != nil {
			errs[i] = fmt.Errorf("mqttbridge: publish: %w", err)
		}
		if errs[i] != nil {
			last = errs[i]
		}
	}
	if last != nil {
		c.setErr(last)
	}
	return actions.BatchResult{Errs: errs}
}

func (c *Connector) setErr(err error) {
	c.mu.Lock()
	if err == nil {
		c.lastErr = ""
	} else {
		c.lastErr = err.Error()
	}
	c.mu.Unlock()
}

// Health reports whether the upstream connection is open.
func (c *Connector) Health() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client.IsConnectionOpen() {
		return true, "connected to " + c.cfg.Server
	}
	return false, "not connected to " + c.cfg.Server + ": " + c.lastErr
}

// Close disconnects (the upstream keeps the session for the next start).
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.client.Disconnect(250)
	return nil
}

var _ actions.Connector = (*Connector)(nil)
