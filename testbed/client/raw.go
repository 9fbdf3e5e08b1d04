package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// RawOptions configures [DialRaw].
type RawOptions struct {
	// Addr is the broker's host:port.
	Addr string
	// ClientID is the client identifier; required.
	ClientID string
	// Version is V311 (the default when zero) or V5.
	Version int
	// KeepAlive is the keep-alive interval in CONNECT; zero disables it, so
	// an idle connection needs no PINGREQ (unless the broker imposes one).
	KeepAlive time.Duration
	// Timeout bounds the dial and the CONNECT/CONNACK exchange (10s when zero).
	Timeout time.Duration
}

// RawConn is a minimal MQTT connection: one TCP socket that has sent CONNECT
// and received a successful CONNACK, with no goroutine and no buffers of its
// own, so a load generator can hold thousands of idle ones cheaply. It reads
// nothing after the CONNACK (an idle connection subscribes to nothing).
type RawConn struct {
	conn    net.Conn
	version int
}

// ErrConnackRefused is wrapped by [DialRaw]'s error when the broker refused
// the connection in its CONNACK.
var ErrConnackRefused = errors.New("connection refused by broker")

// DialRaw opens a TCP connection to opts.Addr, sends a minimal CONNECT (clean
// session, no credentials) and waits for a successful CONNACK.
func DialRaw(ctx context.Context, opts RawOptions) (*RawConn, error) {
	version := opts.Version
	if version == 0 {
		version = V311
	}
	if version != V311 && version != V5 {
		return nil, fmt.Errorf("raw dial %s: unsupported MQTT version %d", opts.Addr, version)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("raw dial %s: %w", opts.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	rc := &RawConn{conn: nc, version: version}
	if err := rc.handshake(opts); err != nil {
		rc.Abort()
		return nil, fmt.Errorf("raw connect %s as %s: %w", opts.Addr, opts.ClientID, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return rc, nil
}

func (r *RawConn) handshake(opts RawOptions) error {
	ka := uint16(min(max(opts.KeepAlive, 0)/time.Second, 65535))
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: byte(r.version),
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        ka,
			ClientIdentifier: opts.ClientID,
		},
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		return fmt.Errorf("encode CONNECT: %w", err)
	}
	if _, err := r.conn.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write CONNECT: %w", err)
	}
	// Read the CONNACK byte by byte: anything the broker sends after it
	// stays in the socket for whoever reads the connection next.
	ack, err := readPacket(exactReader{r.conn}, byte(r.version))
	if err != nil {
		return fmt.Errorf("read CONNACK: %w", err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		return fmt.Errorf("expected CONNACK, got packet type %d", ack.FixedHeader.Type)
	}
	if err := ack.ConnackDecode(ack.Payload); err != nil {
		return fmt.Errorf("decode CONNACK: %w", err)
	}
	if ack.ReasonCode != 0 {
		return fmt.Errorf("%w: reason code %#x", ErrConnackRefused, ack.ReasonCode)
	}
	return nil
}

// exactReader reads from a connection one byte at a time, so that it never
// consumes more than the packet being read.
type exactReader struct{ r io.Reader }

// Read reads from the connection.
func (e exactReader) Read(p []byte) (int, error) { return e.r.Read(p) }

// ReadByte reads exactly one byte.
func (e exactReader) ReadByte() (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(e.r, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

// packetReader is what readPacket reads from.
type packetReader interface {
	io.Reader
	io.ByteReader
}

// readPacket reads one packet's fixed header and body; the body is left in
// Payload for the caller to decode with the type's decoder.
func readPacket(r packetReader, version byte) (packets.Packet, error) {
	pk := packets.Packet{ProtocolVersion: version}
	b0, err := r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b0); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return pk, err
	}
	if n > 1<<20 {
		return pk, fmt.Errorf("packet of %d bytes too large", n)
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return pk, err
	}
	pk.Payload = body
	return pk, nil
}

// Ping sends PINGREQ and waits for PINGRESP (until ctx's deadline, at most
// 10s). Only use it on a connection that has no other traffic.
func (r *RawConn) Ping(ctx context.Context) error {
	dl := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = r.conn.SetDeadline(dl)
	defer r.conn.SetDeadline(time.Time{})
	if _, err := r.conn.Write([]byte{packets.Pingreq << 4, 0}); err != nil {
		return fmt.Errorf("write PINGREQ: %w", err)
	}
	pk, err := readPacket(exactReader{r.conn}, byte(r.version))
	if err != nil {
		return fmt.Errorf("read PINGRESP: %w", err)
	}
	if pk.FixedHeader.Type != packets.Pingresp {
		return fmt.Errorf("expected PINGRESP, got packet type %d", pk.FixedHeader.Type)
	}
	return nil
}

// Close sends DISCONNECT and closes the socket.
func (r *RawConn) Close() error {
	_, _ = r.conn.Write([]byte{packets.Disconnect << 4, 0})
	return r.conn.Close()
}

// Abort closes the socket at once with a reset (no DISCONNECT, no TIME_WAIT
// left behind), which is how a load generator drops thousands of connections
// without exhausting local ports.
func (r *RawConn) Abort() {
	if tc, ok := r.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = r.conn.Close()
}
