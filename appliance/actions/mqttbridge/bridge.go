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
	// TLS enables TLS; nil: plain TCP, or what SSL says.
	TLS *tls.Config `json:"-"`
	// SSL is the "ssl" param (CA, client certificate, verify), used when TLS is nil.
	SSL *actions.SSL `json:"ssl,omitempty"`
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

	// session is the Connector that owns the client when this one is bound
	// to a shared session (NewSession, Bind); nil when it owns its own.
	session *Connector

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
	if cfg.Topic == "" && len(cfg.Subscriptions) == 0 {
		return nil, errors.New("mqttbridge: topic is required")
	}
	return open(cfg)
}

// NewSession opens a shared upstream session (an mqtt_bridge resource): its
// subscriptions bring upstream topics here, and Bind makes the connectors
// that forward through it. Topic may be empty.
func NewSession(cfg Config) (*Connector, error) { return open(cfg) }

// Bind returns a connector that publishes through c's session with its own
// topic and payload templates, QoS and retain flag (cfg's other fields are
// c's). Closing it leaves the session open; Health is the session's.
func (c *Connector) Bind(cfg Config) (*Connector, error) {
	if cfg.Topic == "" {
		return nil, errors.New("mqttbridge: topic is required")
	}
	if err := checkTopic(cfg.Topic); err != nil {
		return nil, err
	}
	root := c
	if c.session != nil {
		root = c.session
	}
	bc := root.cfg
	bc.Topic, bc.PayloadTmpl, bc.QoS, bc.Retain = cfg.Topic, cfg.PayloadTmpl, cfg.QoS, cfg.Retain
	return &Connector{cfg: bc, topic: actions.ParseTemplate(cfg.Topic), payload: actions.ParseTemplate(cfg.PayloadTmpl),
		qos: qosOf(cfg.QoS), client: root.client, session: root}, nil
}

func checkTopic(t string) error {
	if strings.ContainsAny(t, "+#") {
		return fmt.Errorf("mqttbridge: topic %q: wildcards cannot be published to", t)
	}
	return nil
}

func qosOf(q *byte) byte {
	if q == nil {
		return 1
	}
	return min(*q, 1)
}

func open(cfg Config) (*Connector, error) {
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return nil, fmt.Errorf("mqttbridge: server %q: want host:port", cfg.Server)
	}
	if err := checkTopic(cfg.Topic); err != nil {
		return nil, err
	}
	qos := qosOf(cfg.QoS)
	if cfg.TLS == nil {
		tc, err := cfg.SSL.Config()
		if err != nil {
			return nil, fmt.Errorf("mqttbridge: %w", err)
		}
		cfg.TLS = tc
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
	if c.session != nil {
		c.session.setErr(err)
		return
	}
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
	if c.session != nil {
		return c.session.Health()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client.IsConnectionOpen() {
		return true, "connected to " + c.cfg.Server
	}
	return false, "not connected to " + c.cfg.Server + ": " + c.lastErr
}

// Close disconnects (the upstream keeps the session for the next start); a
// bound connector's Close leaves the shared session open.
func (c *Connector) Close() error {
	if c.session != nil {
		return nil
	}
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

// Probe connects to cfg's upstream once with a clean session and a client id
// of its own (so that a live session with cfg.ClientID is not taken over),
// and disconnects: the connection test of a resource before it is created.
func Probe(ctx context.Context, cfg Config) error {
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return fmt.Errorf("mqttbridge: server %q: want host:port", cfg.Server)
	}
	if cfg.TLS == nil {
		tc, err := cfg.SSL.Config()
		if err != nil {
			return fmt.Errorf("mqttbridge: %w", err)
		}
		cfg.TLS = tc
	}
	scheme := "tcp://"
	if cfg.TLS != nil {
		scheme = "ssl://"
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	opts := mqtt.NewClientOptions().AddBroker(scheme + cfg.Server).
		SetClientID(fmt.Sprintf("wedge-probe-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(timeout)
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	cl := mqtt.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(timeout) {
		return fmt.Errorf("mqttbridge: %s: no CONNACK within %v", cfg.Server, timeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqttbridge: %s: %w", cfg.Server, err)
	}
	cl.Disconnect(100)
	return nil
}
