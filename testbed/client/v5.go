package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// v5Conn is a [Conn] over github.com/eclipse/paho.golang.
type v5Conn struct {
	c        *paho.Client
	closed   chan struct{}
	lostOnce sync.Once
}

func dialV5(ctx context.Context, opts Options) (Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.connectTimeout())
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", opts.Addr, err)
	}
	v := &v5Conn{closed: make(chan struct{})}
	lost := func(err error) {
		select {
		case <-v.closed:
			return
		default:
		}
		if opts.OnLost != nil {
			v.lostOnce.Do(func() { opts.OnLost(err) })
		}
	}
	cfg := paho.ClientConfig{
		ClientID:      opts.ClientID,
		Conn:          nc,
		PacketTimeout: 30 * time.Second,
		OnClientError: lost,
		OnServerDisconnect: func(d *paho.Disconnect) {
			lost(fmt.Errorf("server disconnected: reason %#x", d.ReasonCode))
		},
	}
	if h := opts.OnMessage; h != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				h(Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Duplicate: p.Duplicate()})
				return true, nil
			},
		}
	}
	v.c = paho.NewClient(cfg)
	cp := &paho.Connect{
		ClientID:   opts.ClientID,
		KeepAlive:  opts.keepAliveSeconds(),
		CleanStart: !opts.Persistent,
		Properties: &paho.ConnectProperties{},
	}
	if opts.Username != "" {
		cp.Username, cp.UsernameFlag = opts.Username, true
		cp.Password, cp.PasswordFlag = []byte(opts.Password), true
	}
	if opts.Persistent {
		exp := uint32(3600)
		if opts.SessionExpiry > 0 {
			exp = uint32(min(opts.SessionExpiry/time.Second, 1<<32-1))
		}
		cp.Properties.SessionExpiryInterval = &exp
	}
	if opts.ReceiveMaximum > 0 {
		rm := opts.ReceiveMaximum
		cp.Properties.ReceiveMaximum = &rm
	}
	if _, err := v.c.Connect(ctx, cp); err != nil {
		close(v.closed)
		_ = nc.Close()
		return nil, fmt.Errorf("connect %s as %s: %w", opts.Addr, opts.ClientID, err)
	}
	return v, nil
}

// Publish implements [Conn].
func (v *v5Conn) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	_, err := v.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: payload})
	if err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Subscribe implements [Conn].
func (v *v5Conn) Subscribe(ctx context.Context, filter string, qos byte) error {
	sa, err := v.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		return fmt.Errorf("subscribe %s: refused with reasons %v", filter, sa.Reasons)
	}
	return nil
}

// Close implements [Conn].
func (v *v5Conn) Close() error {
	select {
	case <-v.closed:
		return errors.New("close: already closed")
	default:
	}
	close(v.closed)
	err := v.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	select {
	case <-v.c.Done():
	case <-time.After(5 * time.Second):
	}
	return err
}
