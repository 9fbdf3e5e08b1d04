package loadgen

import (
	"context"

	"github.com/wedge-iot/wedge/testbed/client"
)

// pubConn is a publisher's connection, whichever client implements it.
type pubConn interface {
	publish(ctx context.Context, topic string, qos byte, payload []byte) error
	// settle waits for outstanding acknowledgements and returns how many
	// publishes the broker acknowledged and refused in all.
	settle(ctx context.Context, written int64, qos byte) (acked, refused int64)
	close()
}

// dialSub connects a subscriber and subscribes it to filter.
func dialSub(ctx context.Context, s Scenario, id string, filter string, h client.Handler) (func(), error) {
	if s.Client == "paho" {
		c, err := client.Dial(ctx, client.Options{Addr: s.Addr, ClientID: id, Version: s.Version, OnMessage: h})
		if err != nil {
			return nil, err
		}
		if err := c.Subscribe(ctx, filter, s.QoS); err != nil {
			_ = c.Close()
			return nil, err
		}
		return func() { _ = c.Close() }, nil
	}
	p, err := client.DialPipe(ctx, client.PipeOptions{
		RawOptions: client.RawOptions{Addr: s.Addr, ClientID: id, Version: s.Version, KeepAlive: idleKeepAlive},
		OnMessage:  h,
	})
	if err != nil {
		return nil, err
	}
	if err := p.Subscribe(ctx, filter, s.QoS); err != nil {
		_ = p.Close()
		return nil, err
	}
	return func() { _ = p.Close() }, nil
}

// dialPub connects a publisher.
func dialPub(ctx context.Context, s Scenario, id string) (pubConn, error) {
	if s.Client == "paho" {
		c, err := client.Dial(ctx, client.Options{Addr: s.Addr, ClientID: id, Version: s.Version})
		if err != nil {
			return nil, err
		}
		return pahoPub{c}, nil
	}
	p, err := client.DialPipe(ctx, client.PipeOptions{
		RawOptions: client.RawOptions{Addr: s.Addr, ClientID: id, Version: s.Version, KeepAlive: idleKeepAlive},
		Window:     s.Window,
	})
	if err != nil {
		return nil, err
	}
	return pipePub{p}, nil
}

// pahoPub publishes through client.Conn: each publish waits for its PUBACK
// and returns an error when refused, so written publishes are acknowledged.
type pahoPub struct{ c client.Conn }

func (p pahoPub) publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	return p.c.Publish(ctx, topic, qos, false, payload)
}

func (p pahoPub) settle(_ context.Context, written int64, _ byte) (int64, int64) { return written, 0 }

func (p pahoPub) close() { _ = p.c.Close() }

// pipePub publishes through client.Pipe, pipelined.
type pipePub struct{ p *client.Pipe }

func (p pipePub) publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	return p.p.Publish(ctx, topic, qos, payload)
}

func (p pipePub) settle(ctx context.Context, written int64, qos byte) (int64, int64) {
	if qos == 0 {
		return written, 0
	}
	_ = p.p.Drain(ctx)
	return p.p.Acked(), p.p.Refused()
}

func (p pipePub) close() { _ = p.p.Close() }
