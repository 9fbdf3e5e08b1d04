package client

import (
	"context"
	"fmt"
	"time"
)

// Message is a PUBLISH received by a [Conn].
type Message struct {
	// Topic is the topic the message was published to.
	Topic string
	// Payload is the application message.
	Payload []byte
	// QoS is the delivery QoS.
	QoS byte
	// Retain is set for a retained message.
	Retain bool
	// Duplicate is the DUP flag: a redelivery.
	Duplicate bool
}

// Handler receives the messages of one connection, one at a time and in the
// order they arrived. For QoS 1 and 2 the acknowledgement is sent after the
// handler returns, so a slow handler slows the broker's delivery to it.
type Handler func(Message)

// Conn is a connected MQTT client, whatever its protocol version.
type Conn interface {
	// Publish sends one message. For QoS 1 and 2 it returns once the broker
	// acknowledged it, with an error when the broker refused it.
	Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error
	// Subscribe subscribes to filter at qos; messages go to [Options.OnMessage].
	// It fails when the broker refuses the subscription.
	Subscribe(ctx context.Context, filter string, qos byte) error
	// Close disconnects cleanly and releases the connection.
	Close() error
}

// Protocol versions accepted by [Options.Version].
const (
	// V311 is MQTT 3.1.1 (protocol level 4).
	V311 = 4
	// V5 is MQTT 5.0.
	V5 = 5
)

// Options configures [Dial].
type Options struct {
	// Addr is the broker's host:port.
	Addr string
	// ClientID is the client identifier; required.
	ClientID string
	// Version is V5 (the default when zero) or V311.
	Version int
	// KeepAlive is the keep-alive interval sent in CONNECT (60s when zero).
	KeepAlive time.Duration
	// Persistent asks for a persistent session (clean start / clean session
	// off). MQTT 5 sessions then get SessionExpiry.
	Persistent bool
	// SessionExpiry is the MQTT 5 session expiry interval for a persistent
	// session (one hour when zero).
	SessionExpiry time.Duration
	// Username and Password are sent when Username is not empty.
	Username, Password string
	// ReceiveMaximum, when not zero, is the MQTT 5 receive maximum the client
	// announces (the library's default otherwise).
	ReceiveMaximum uint16
	// ConnectTimeout bounds the dial and the CONNECT/CONNACK exchange (10s
	// when zero); the context passed to Dial bounds it too.
	ConnectTimeout time.Duration
	// OnMessage receives every PUBLISH the broker sends; nil drops them.
	OnMessage Handler
	// OnLost, when set, is called once the connection is lost other than by
	// Close.
	OnLost func(error)
}

func (o Options) keepAliveSeconds() uint16 {
	if o.KeepAlive <= 0 {
		return 60
	}
	return uint16(min(o.KeepAlive/time.Second, 65535))
}

func (o Options) connectTimeout() time.Duration {
	if o.ConnectTimeout <= 0 {
		return 10 * time.Second
	}
	return o.ConnectTimeout
}

// Dial connects a client to the broker at opts.Addr with the protocol version
// of opts.Version.
func Dial(ctx context.Context, opts Options) (Conn, error) {
	if opts.ClientID == "" {
		return nil, fmt.Errorf("dial %s: empty client id", opts.Addr)
	}
	switch opts.Version {
	case 0, V5:
		return dialV5(ctx, opts)
	case V311:
		return dialV311(ctx, opts)
	default:
		return nil, fmt.Errorf("dial %s: unsupported MQTT version %d", opts.Addr, opts.Version)
	}
}
