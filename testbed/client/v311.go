package client

import (
	"context"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// v311Conn is a [Conn] over github.com/eclipse/paho.mqtt.golang.
type v311Conn struct {
	c mqtt.Client
}

func dialV311(ctx context.Context, opts Options) (Conn, error) {
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + opts.Addr).
		SetClientID(opts.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(!opts.Persistent).
		SetKeepAlive(time.Duration(opts.keepAliveSeconds()) * time.Second).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetConnectTimeout(opts.connectTimeout())
	if opts.Username != "" {
		o.SetUsername(opts.Username).SetPassword(opts.Password)
	}
	if h := opts.OnMessage; h != nil {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			h(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retain: m.Retained(), Duplicate: m.Duplicate()})
		})
	}
	if opts.OnLost != nil {
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { opts.OnLost(err) })
	}
	c := mqtt.NewClient(o)
	if err := wait(ctx, c.Connect(), opts.connectTimeout()); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("connect %s as %s: %w", opts.Addr, opts.ClientID, err)
	}
	return &v311Conn{c: c}, nil
}

// wait waits for t until ctx ends or timeout passes.
func wait(ctx context.Context, t mqtt.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("no answer within %v", timeout)
	}
}

// Publish implements [Conn].
func (v *v311Conn) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	if err := wait(ctx, v.c.Publish(topic, qos, retain, payload), 30*time.Second); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Subscribe implements [Conn].
func (v *v311Conn) Subscribe(ctx context.Context, filter string, qos byte) error {
	t := v.c.Subscribe(filter, qos, nil)
	if err := wait(ctx, t, 30*time.Second); err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if st, ok := t.(*mqtt.SubscribeToken); ok {
		if rc, found := st.Result()[filter]; found && rc >= 0x80 {
			return fmt.Errorf("subscribe %s: refused with return code %#x", filter, rc)
		}
	}
	return nil
}

// Close implements [Conn].
func (v *v311Conn) Close() error {
	v.c.Disconnect(250)
	return nil
}
