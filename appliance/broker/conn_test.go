package broker

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func encode(t testing.TB, pk packets.Packet) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func connectBytes(t testing.TB, ver byte) []byte {
	return encode(t, packets.Packet{ProtocolVersion: ver, FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "c", Keepalive: 10, Clean: true}})
}

func TestFrameReader(t *testing.T) {
	pub := func(n int) []byte {
		return encode(t, packets.Packet{ProtocolVersion: 5, FixedHeader: packets.FixedHeader{Type: packets.Publish},
			TopicName: "t", Payload: bytes.Repeat([]byte("x"), n)})
	}
	disc := encode(t, packets.Packet{ProtocolVersion: 5, FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	cases := []struct {
		name      string
		max       uint32
		stream    []byte
		version   byte
		packets   uint64
		violation frameViolation
		disc      bool
	}{
		{"v5 connect", 0, connectBytes(t, 5), 5, 1, violationNone, false},
		{"v4 connect", 0, connectBytes(t, 4), 4, 1, violationNone, false},
		{"publishes", 1000, cat(connectBytes(t, 5), pub(10), pub(500)), 5, 3, violationNone, false},
		{"too large", 100, cat(connectBytes(t, 5), pub(10), pub(200)), 5, 2, violationTooLarge, false},
		{"exactly max", uint32(len(pub(50))) - 1, cat(connectBytes(t, 5), pub(50)), 5, 2, violationNone, false},
		{"one over max", uint32(len(pub(50))) - 2, cat(connectBytes(t, 5), pub(50)), 5, 1, violationTooLarge, false},
		{"five length bytes", 0, cat(connectBytes(t, 4), []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}), 4, 1, violationBadLength, false},
		{"disconnect", 0, cat(connectBytes(t, 5), disc), 5, 2, violationNone, true},
		{"pingreq", 0, cat(connectBytes(t, 4), encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})), 4, 2, violationNone, false},
	}
	for _, tc := range cases {
		// Byte by byte and all at once must agree: the network splits reads anywhere.
		for _, split := range []int{1, 3, 1 << 20} {
			f := newFrameReader(tc.max)
			var v frameViolation
			for i := 0; i < len(tc.stream) && v == violationNone; i += split {
				end := min(i+split, len(tc.stream))
				v = f.feed(tc.stream[i:end])
			}
			if v != tc.violation || f.version != tc.version || f.packets != tc.packets || f.sawDisc != tc.disc {
				t.Errorf("%s/split %d: violation %d version %d packets %d disc %v", tc.name, split, v, f.version, f.packets, f.sawDisc)
			}
		}
	}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// FuzzFrameReader: any byte stream, split anywhere, gives the same answer and never panics.
func FuzzFrameReader(f *testing.F) {
	f.Add(connectBytes(f, 5), uint32(0), uint8(1))
	f.Add(connectBytes(f, 4), uint32(64), uint8(7))
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0x7f}, uint32(100), uint8(2))
	f.Add([]byte{0x10, 0x03, 0x00, 0xff, 0xff}, uint32(0), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, max uint32, split uint8) {
		whole := newFrameReader(max)
		v1 := whole.feed(b)
		parts := newFrameReader(max)
		var v2 frameViolation
		step := int(split%16) + 1
		for i := 0; i < len(b) && v2 == violationNone; i += step {
			v2 = parts.feed(b[i:min(i+step, len(b))])
		}
		if v1 != v2 || whole.packets != parts.packets || whole.version != parts.version {
			t.Fatalf("split changes the answer: %d/%d %d/%d", v1, v2, whole.packets, parts.packets)
		}
	})
}

// TestOutboundChannel: a connection's outbound channel is mqtt.write_queue long while few
// clients are connected, shrinks as more connect so that all of them stay near the budget,
// and never goes below the floor.
func TestOutboundChannel(t *testing.T) {
	for _, c := range []struct {
		queue     int32
		connected int64
		ptr       int
		want      int32
	}{
		{8192, 0, 8, 8192},
		{8192, 50, 8, 8192},
		{8192, 1023, 8, outboundBudget / 8 / 1024},
		{8192, 1999, 8, outboundBudget / 8 / 2000},
		{8192, 9999, 8, minOutboundChannel},
		{8192, 1_000_000, 8, minOutboundChannel},
		{8192, 1023, 4, 1024},
		{32, 5000, 8, 32},
	} {
		if got := outboundChannel(c.queue, c.connected, c.ptr); got != c.want {
			t.Errorf("outboundChannel(%d, %d connected, %d-byte pointers) = %d, want %d", c.queue, c.connected, c.ptr, got, c.want)
		}
	}
}

// countConn counts the writes that reach the socket.
type countConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// SyscallConn gives clientConn the socket for its non-blocking writes, counted too.
func (c *countConn) SyscallConn() (syscall.RawConn, error) {
	raw, err := c.Conn.(syscall.Conn).SyscallConn()
	return countRaw{raw, &c.writes}, err
}

type countRaw struct {
	syscall.RawConn
	writes *atomic.Int32
}

func (r countRaw) Write(f func(uintptr) bool) error {
	r.writes.Add(1)
	return r.RawConn.Write(f)
}

// loopbackPair returns both ends of a loopback TCP connection, the server's counting writes.
func loopbackPair(t *testing.T) (server *countConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(); _ = client.Close() })
	return &countConn{Conn: s}, client
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// The replies to a read that brought several packets leave in one write when the read
// goroutine comes back to Read; a PUBLISH written meanwhile goes after them.
func TestRepliesToOneReadShareAWrite(t *testing.T) {
	server, client := loopbackPair(t)
	cc := newClientConn(server, 0, 1024, nil)
	cc.fr.first = false // past CONNECT
	// Three QoS 1 PUBLISH packets (topic "a", ids 1-3) in one write.
	var in []byte
	for id := byte(1); id <= 3; id++ {
		in = append(in, 0x32, 0x06, 0x00, 0x01, 'a', 0x00, id, 'x')
	}
	if _, err := client.Write(in); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	got := 0
	for got < len(in) {
		n, err := cc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if !cc.replies {
		t.Skip("the three packets did not arrive in one read") // loopback normally delivers them together
	}
	for id := byte(1); id <= 3; id++ {
		if _, err := cc.Write([]byte{0x40, 0x02, 0x00, id}); err != nil { // PUBACK
			t.Fatal(err)
		}
	}
	if w := server.writes.Load(); w != 0 {
		t.Fatalf("%d writes before the read goroutine came back; want 0", w)
	}
	// A PUBLISH to this client flushes the replies first, in one write, then goes itself.
	if _, err := cc.Write([]byte{0x30, 0x04, 0x00, 0x01, 'b', 'y'}); err != nil {
		t.Fatal(err)
	}
	if w := server.writes.Load(); w != 2 {
		t.Fatalf("%d writes; want 2 (the three PUBACKs, then the PUBLISH)", w)
	}
	want := []byte{0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x02, 0x40, 0x02, 0x00, 0x03, 0x30, 0x04, 0x00, 0x01, 'b', 'y'}
	if b := readN(t, client, len(want)); !bytes.Equal(b, want) {
		t.Fatalf("wire % x, want % x", b, want)
	}
}

// Collected replies go out when the read goroutine returns to Read, or after replyFlushAfter
// if it is held up.
func TestCollectedRepliesAreFlushed(t *testing.T) {
	server, client := loopbackPair(t)
	cc := newClientConn(server, 0, 1024, nil)
	cc.fr.first = false
	in := []byte{0xC0, 0x00, 0xC0, 0x00} // two PINGREQs
	if _, err := client.Write(in); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for got := 0; got < len(in); {
		n, err := cc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if !cc.replies {
		t.Skip("the two packets did not arrive in one read")
	}
	_, _ = cc.Write([]byte{0xD0, 0x00}) // PINGRESP, collected
	if w := server.writes.Load(); w != 0 {
		t.Fatalf("%d writes; want the PINGRESP collected", w)
	}
	// The read goroutine is held up (no Read): the timer sends it.
	if b := readN(t, client, 2); !bytes.Equal(b, []byte{0xD0, 0x00}) {
		t.Fatalf("got % x", b)
	}
	// Back in Read: what was collected leaves before Read blocks.
	if _, err := client.Write(in); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < len(in); {
		n, err := cc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	_, _ = cc.Write([]byte{0xD0, 0x00})
	_, _ = cc.Write([]byte{0xD0, 0x00})
	go func() { _, _ = cc.Read(buf) }() // blocks after flushing
	if b := readN(t, client, 4); !bytes.Equal(b, []byte{0xD0, 0x00, 0xD0, 0x00}) {
		t.Fatalf("got % x", b)
	}
}
