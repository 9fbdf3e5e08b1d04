package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wedge-iot/wedge/appliance/config"
)

// testBroker starts a broker on loopback ports with the defaults changed by mod.
func testBroker(t testing.TB, mod func(c *config.MQTT)) *Broker {
	t.Helper()
	c := config.Default().MQTT
	c.TCP, c.WS = "127.0.0.1:0", "127.0.0.1:0"
	if mod != nil {
		mod(&c)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("WEDGE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := New(Options{MQTT: c, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Stop(ctx)
	})
	return b
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// raw is a byte-level MQTT client: tests use it to check exactly what goes over the wire.
type raw struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	ver  byte
	next uint16
}

func dialRaw(t testing.TB, addr string, ver byte) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &raw{t: t, c: c, r: newBufReader(c), ver: ver}
}

func (r *raw) send(pk packets.Packet) {
	r.t.Helper()
	pk.ProtocolVersion = r.ver
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		r.t.Fatalf("raw: cannot send %v", pk.FixedHeader.Type)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(buf.Bytes())
}

func (r *raw) write(b []byte) {
	r.t.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// recv reads one packet, failing the test after d.
func (r *raw) recv(d time.Duration) (packets.Packet, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	var pk packets.Packet
	pk.ProtocolVersion = r.ver
	hb, err := r.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.r.ReadByte()
		if err != nil {
			return pk, err
		}
		n += int(b&127) * mul
		if b&128 == 0 {
			break
		}
		mul *= 128
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r.r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Pingresp:
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	default:
		err = fmt.Errorf("raw: unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// expect reads one packet of type typ or fails.
func (r *raw) expect(typ byte) packets.Packet {
	r.t.Helper()
	pk, err := r.recv(5 * time.Second)
	if err != nil {
		r.t.Fatalf("waiting for packet type %d: %v", typ, err)
	}
	if pk.FixedHeader.Type != typ {
		r.t.Fatalf("want packet type %d, got %d (%+v)", typ, pk.FixedHeader.Type, pk)
	}
	return pk
}

// expectClosed waits for the server to close the connection, returning a DISCONNECT if one came first.
func (r *raw) expectClosed(d time.Duration) *packets.Packet {
	r.t.Helper()
	var disc *packets.Packet
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		pk, err := r.recv(time.Until(deadline))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatal("connection still open")
			}
			return disc
		}
		if pk.FixedHeader.Type == packets.Disconnect {
			p := pk
			disc = &p
		}
	}
	r.t.Fatal("connection still open")
	return nil
}

type connOpt func(*packets.Packet)

func (r *raw) connect(id string, clean bool, opts ...connOpt) packets.Packet {
	r.t.Helper()
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            clean,
			Keepalive:        30,
			ClientIdentifier: id,
		},
	}
	if r.ver == 3 {
		pk.Connect.ProtocolName = []byte("MQIsdp")
	}
	for _, o := range opts {
		o(&pk)
	}
	r.send(pk)
	ack := r.expect(packets.Connack)
	return ack
}

func (r *raw) subscribe(filter string, qos byte, opts ...func(*packets.Subscription)) packets.Packet {
	r.t.Helper()
	r.next++
	sub := packets.Subscription{Filter: filter, Qos: qos}
	for _, o := range opts {
		o(&sub)
	}
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: r.next,
		Filters: packets.Subscriptions{sub}})
	return r.expect(packets.Suback)
}

func (r *raw) publish(topic string, payload string, qos byte, retain bool, opts ...func(*packets.Packet)) uint16 {
	r.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName: topic, Payload: []byte(payload)}
	if qos > 0 {
		r.next++
		pk.PacketID = r.next
	}
	for _, o := range opts {
		o(&pk)
	}
	r.send(pk)
	return pk.PacketID
}

func (r *raw) puback(id uint16) {
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
}

func newBufReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
