package broker

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// frameReader follows MQTT framing in the bytes a client sends, without decoding packets:
// it knows where each packet starts, its type and its announced length, and reads the
// protocol version from CONNECT. It is what lets wedge refuse an oversized packet with
// DISCONNECT 0x95 before mochi reads it. It is fed arbitrary bytes from the network and
// must never panic (FuzzFrameReader).
type frameReader struct {
	max       uint32 // maximum packet size (whole packet), 0 = none
	state     byte   // 0 header byte, 1 length, 2 body
	typ       byte
	remaining uint32 // body bytes left
	length    uint32 // remaining length being decoded
	mul       uint32
	lenBytes  byte
	first     bool // in the first packet (CONNECT)
	bodyIdx   uint32
	nameLen   uint32
	version   byte
	packets   uint64
	sawDisc   bool // a complete DISCONNECT went by
	violation frameViolation
}

type frameViolation byte

const (
	violationNone frameViolation = iota
	violationTooLarge
	violationBadLength
)

func newFrameReader(max uint32) *frameReader { return &frameReader{max: max, first: true} }

// feed consumes bytes read from the client and reports the first violation met.
func (f *frameReader) feed(b []byte) frameViolation {
	for i := 0; i < len(b) && f.violation == violationNone; {
		switch f.state {
		case 0:
			f.typ = b[i] >> 4
			f.state, f.length, f.mul, f.lenBytes = 1, 0, 1, 0
			i++
		case 1:
			c := b[i]
			i++
			f.length += uint32(c&127) * f.mul
			f.mul *= 128
			f.lenBytes++
			if c&128 != 0 {
				if f.lenBytes == 4 {
					f.violation = violationBadLength // [MQTT-1.5.5-1] at most four bytes
				}
				continue
			}
			// The same rule as mochi's reader (remaining length + 1), so both refuse the same packets.
			if f.max > 0 && uint64(f.length)+1 > uint64(f.max) {
				f.violation = violationTooLarge
				continue
			}
			f.remaining, f.bodyIdx = f.length, 0
			f.state = 2
			if f.remaining == 0 {
				f.endPacket()
			}
		case 2:
			n := uint32(len(b) - i)
			if n > f.remaining {
				n = f.remaining
			}
			if f.first && f.typ == 1 && f.version == 0 {
				for k := uint32(0); k < n; k++ {
					f.connectByte(f.bodyIdx+k, b[i+int(k)])
				}
			}
			f.bodyIdx += n
			f.remaining -= n
			i += int(n)
			if f.remaining == 0 {
				f.endPacket()
			}
		}
	}
	return f.violation
}

// connectByte reads the protocol version out of CONNECT's variable header.
func (f *frameReader) connectByte(idx uint32, c byte) {
	switch {
	case idx == 0:
		f.nameLen = uint32(c) << 8
	case idx == 1:
		f.nameLen |= uint32(c)
	case idx == 2+f.nameLen:
		f.version = c
	}
}

func (f *frameReader) endPacket() {
	if f.typ == 14 {
		f.sawDisc = true
	}
	f.state = 0
	f.packets++
	f.first = false
}

// clientConn wraps a client's connection: it follows the framing of what the client sends,
// refuses oversized packets with DISCONNECT 0x95 (MQTT 5) before mochi reads them, and on a
// close caused by a malformed packet sends MQTT 5 clients DISCONNECT 0x81 first, which mochi
// does not do itself.
type clientConn struct {
	net.Conn
	fr *frameReader

	wmu          sync.Mutex
	sentDisc     atomic.Bool // the server wrote a DISCONNECT (or a refusing CONNACK)
	peerDisc     atomic.Bool // the client sent DISCONNECT
	readErr      atomic.Bool // the last read failed: EOF, reset or timeout
	oversize     atomic.Bool
	closed       atomic.Bool
	counters     *Counters
	closeHandled atomic.Bool

	held int          // hold depth; while > 0 writes collect in buf (wmu)
	buf  bytes.Buffer // collected writes

	// replies is set (wmu) while the read goroutine handles a read that brought more than one
	// packet: the replies it writes (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK,
	// PINGRESP) collect in buf and leave in one write when it comes back to Read, instead of
	// one system call each. Any other write (a PUBLISH to this client) flushes them first, so
	// the order on the wire is kept; replyTimer flushes them if the read goroutine is held up.
	replies    bool
	replyTimer *time.Timer

	// The elastic write buffer (see below), all under wmu.
	raw      syscall.RawConn // plain TCP: a write is first tried without blocking
	pend     *bytes.Buffer   // bytes waiting for the flusher, whole packets after the first
	spare    *bytes.Buffer   // the flusher's buffer, swapped with pend each round
	pendQ0   int             // QoS 0 PUBLISHes in pend
	flushing bool            // a flusher goroutine owns the socket's writes
	drained  chan struct{}   // closed when the current flusher ends
	werr     error           // the flusher's write error: later writes fail with it
	maxQ0    int             // QoS 0 PUBLISHes pend may hold (mqtt.write_queue)
	// drops reports the QoS 0 PUBLISHes dropped at the buffer (message_dropped events); set
	// when the session is established. Reports leave on a goroutine of their own, outside
	// wmu: a listener may publish to this very client.
	drops     dropSink
	dropQ     [][]byte
	reporting bool

	// sized, while set, releases Broker.outboundMu: on mochi's first Read, or when mochi gave
	// up on the connection before. Only the connection's own goroutine touches it.
	sized func()
}

// endSizing releases the outbound channel sizing lock if it is still held.
func (c *clientConn) endSizing() {
	if c.sized != nil {
		c.sized()
		c.sized = nil
	}
}

// dropSink receives the QoS 0 PUBLISHes a connection's write buffer dropped.
type dropSink interface {
	wantDrops() bool       // whether drops are reported at all (checked before copying)
	dropped(pkts [][]byte) // called outside the connection's locks
}

// setDropSink sets where the connection reports dropped QoS 0 PUBLISHes.
func (c *clientConn) setDropSink(d dropSink) {
	c.wmu.Lock()
	c.drops = d
	c.wmu.Unlock()
}

// reportDrops hands the dropped packets to the sink until none are left.
func (c *clientConn) reportDrops() {
	for {
		c.wmu.Lock()
		q := c.dropQ
		c.dropQ = nil
		if len(q) == 0 {
			c.reporting = false
			c.wmu.Unlock()
			return
		}
		d := c.drops
		c.wmu.Unlock()
		d.dropped(q)
	}
}

// replyFlushAfter bounds how long a collected reply can wait for its read goroutine.
const replyFlushAfter = 2 * time.Millisecond

// isReply reports whether an encoded packet is one the server writes in reply to a client's
// packet, on the client's read goroutine.
func isReply(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch p[0] >> 4 {
	case 4, 5, 6, 7, 9, 11, 13: // PUBACK PUBREC PUBREL PUBCOMP SUBACK UNSUBACK PINGRESP
		return true
	}
	return false
}

// holdFlushAt flushes collected writes early once they reach this size.
const holdFlushAt = 16 << 10

// hold starts collecting writes so that a burst of packets leaves in one system call.
func (c *clientConn) hold() {
	c.wmu.Lock()
	c.held++
	c.wmu.Unlock()
}

// endReplies ends the collection of replies and writes them: the read goroutine is back in
// Read, or it was held up for replyFlushAfter.
func (c *clientConn) endReplies() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.replies {
		return
	}
	c.replies = false
	if c.held == 0 {
		_ = c.flushLocked()
	}
}

// release ends a hold and writes what was collected.
func (c *clientConn) release() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.held > 0 {
		c.held--
	}
	if c.held == 0 {
		_ = c.flushLocked()
	}
}

func (c *clientConn) flushLocked() error {
	if c.buf.Len() == 0 {
		return nil
	}
	err := c.sendLocked(c.buf.Bytes())
	c.buf.Reset()
	if c.buf.Cap() > 4*holdFlushAt {
		c.buf = bytes.Buffer{} // do not keep a burst's memory on an idle connection
	}
	return err
}

func newClientConn(c net.Conn, maxPacket uint32, maxQ0 int, counters *Counters) *clientConn {
	cc := &clientConn{Conn: c, fr: newFrameReader(maxPacket), counters: counters, maxQ0: maxQ0}
	if sc, ok := c.(syscall.Conn); ok && canTryWrite { // plain TCP; not TLS or WebSocket
		cc.raw, _ = sc.SyscallConn()
	}
	return cc
}

// The elastic write buffer.
//
// mochi writes a client's packets with blocking writes: its write loop, fed by the
// connection's outbound channel, stops while the client's socket is full, the channel fills
// and further QoS 0 messages are dropped. A channel costs its full size from the moment the
// client connects, idle or not, so wedge keeps the channels within a budget (broker.go), and
// lets no write block instead: a write is tried at once without blocking (plain TCP) and what
// the socket does not take waits in a buffer that a flusher goroutine writes out while the
// socket drains (TLS and WebSocket connections: the flusher makes every write).
// The buffer costs nothing until a client falls behind, and it holds at most
// mqtt.write_queue QoS 0 PUBLISHes and pendMaxBytes bytes: beyond that a QoS 0 PUBLISH is
// dropped and counted, as mochi would at its channel. Everything else (QoS 1/2 messages,
// bounded by the send quota, and acknowledgements) always waits. Bytes leave in the order
// they were written.

// pendMaxBytes is the most a connection's write buffer holds before QoS 0 is dropped.
const pendMaxBytes = 2 << 20

// pendHardMax is where writes of what cannot be dropped start waiting for the socket.
const pendHardMax = 4 * pendMaxBytes

// sendLocked writes p, a run of whole packets, or queues it for the flusher; wmu is held.
func (c *clientConn) sendLocked(p []byte) error {
	if c.werr != nil {
		return c.werr
	}
	for c.flushing && c.pend.Len() >= pendHardMax {
		// Only what may not be dropped got the buffer this far (a client sending packets
		// but reading none of the replies): the writer waits for the socket, as it would
		// without the buffer.
		done := c.drained
		c.wmu.Unlock()
		<-done
		c.wmu.Lock()
		if c.werr != nil {
			return c.werr
		}
	}
	if c.flushing {
		c.queueLocked(p)
		return nil
	}
	if c.raw != nil {
		n, err := tryWrite(c.raw, p)
		if err != nil {
			return err
		}
		if n == len(p) {
			return nil
		}
		if c.pend == nil {
			c.pend = new(bytes.Buffer)
		}
		c.pend.Write(p[n:]) // the rest of a packet already begun is never dropped
	} else {
		c.queueLocked(p) // TLS and WebSocket: the flusher makes every write
	}
	c.flushing = true
	c.drained = make(chan struct{})
	go c.flusher()
	return nil
}

// queueLocked appends p, a run of whole packets, to the write buffer, dropping the QoS 0
// PUBLISHes it has no room for.
func (c *clientConn) queueLocked(p []byte) {
	if c.pend == nil {
		c.pend = new(bytes.Buffer)
	}
	for len(p) > 0 {
		size := packetLen(p)
		if size <= 0 || size > len(p) {
			c.pend.Write(p) // not whole packets: keep it as it is
			return
		}
		pkt := p[:size]
		p = p[size:]
		if pkt[0]&0xF6 == 0x30 { // PUBLISH, QoS 0
			if (c.pendQ0 >= c.maxQ0 || c.pend.Len() >= pendMaxBytes) && !setsTopicAlias(pkt, c.fr.version == 5) {
				c.counters.QoS0Dropped.Add(1)
				c.counters.LateQoS0Dropped.Add(1)
				if c.drops != nil && len(c.dropQ) < c.maxQ0 && c.drops.wantDrops() {
					c.dropQ = append(c.dropQ, bytes.Clone(pkt))
					if !c.reporting {
						c.reporting = true
						go c.reportDrops()
					}
				}
				continue
			}
			c.pendQ0++
		}
		c.pend.Write(pkt)
	}
}

// flusher writes the buffer out while the socket takes it, and ends when it is empty.
func (c *clientConn) flusher() {
	for {
		c.wmu.Lock()
		if c.pend.Len() == 0 || c.werr != nil {
			c.flushing = false
			close(c.drained)
			c.pend, c.spare = nil, nil // a caught-up connection keeps no buffer
			c.wmu.Unlock()
			return
		}
		out := c.pend
		if c.spare == nil {
			c.spare = new(bytes.Buffer)
		}
		c.pend, c.spare = c.spare, out
		c.pendQ0 = 0
		c.wmu.Unlock()
		_, err := c.Conn.Write(out.Bytes())
		out.Reset()
		if err != nil {
			c.wmu.Lock()
			c.werr = err
			c.wmu.Unlock()
		}
	}
}

// packetLen returns the length of the MQTT packet p begins with (fixed header included),
// 0 when p does not hold its whole fixed header, -1 when the length is malformed.
func packetLen(p []byte) int {
	n, mul := 0, 1
	for i := 1; i < len(p) && i <= 4; i++ {
		n += int(p[i]&127) * mul
		if p[i]&128 == 0 {
			return i + 1 + n
		}
		mul *= 128
	}
	if len(p) > 4 {
		return -1
	}
	return 0
}

// scanPublish splits an encoded PUBLISH into its topic name, its properties (MQTT 5) and its
// payload; ok is false when the bytes do not hold them.
func scanPublish(pkt []byte, v5 bool) (topic, props, payload []byte, ok bool) {
	i := 2 // past the fixed header's length bytes
	for i < len(pkt) && i < 5 && pkt[i-1]&128 != 0 {
		i++
	}
	if i+2 > len(pkt) {
		return nil, nil, nil, false
	}
	tl := int(pkt[i])<<8 | int(pkt[i+1])
	i += 2
	if i+tl > len(pkt) {
		return nil, nil, nil, false
	}
	topic = pkt[i : i+tl]
	i += tl
	if pkt[0]&0x06 != 0 {
		i += 2 // packet id
	}
	if v5 {
		plen, mul, j := 0, 1, i
		for ; j < len(pkt) && j < i+4; j++ {
			plen += int(pkt[j]&127) * mul
			mul *= 128
			if pkt[j]&128 == 0 {
				break
			}
		}
		j++
		if j+plen > len(pkt) {
			return nil, nil, nil, false
		}
		props, i = pkt[j:j+plen], j+plen
	}
	if i > len(pkt) {
		return nil, nil, nil, false
	}
	return topic, props, pkt[i:], true
}

// setsTopicAlias reports whether an encoded QoS 0 PUBLISH carries both a topic name and a
// topic alias: dropping it would leave the client without the alias's topic. Anything it
// cannot read counts as setting one, so it is kept.
func setsTopicAlias(pkt []byte, v5 bool) bool {
	if !v5 {
		return false
	}
	topic, props, _, ok := scanPublish(pkt, v5)
	if !ok {
		return true
	}
	if len(topic) == 0 {
		return false // alias only
	}
	p, end := props, len(props)
	for k := 0; k < end; {
		id := p[k]
		k++
		switch id {
		case 0x23: // topic alias
			return true
		case 0x01: // payload format indicator
			k++
		case 0x02: // message expiry interval
			k += 4
		case 0x0B: // subscription identifier (variable byte integer)
			for k < end && p[k]&128 != 0 {
				k++
			}
			k++
		case 0x03, 0x08, 0x09: // content type, response topic, correlation data
			if k+2 > end {
				return true
			}
			k += 2 + (int(p[k])<<8 | int(p[k+1]))
		case 0x26: // user property: two strings
			for range 2 {
				if k+2 > end {
					return true
				}
				k += 2 + (int(p[k])<<8 | int(p[k+1]))
			}
		default:
			return true
		}
	}
	return false
}

// errTooLarge ends the read side after an oversized packet header.
var errTooLarge = errors.New("packet too large")

func (c *clientConn) Read(p []byte) (int, error) {
	c.endSizing()
	c.endReplies()
	if c.oversize.Load() {
		return 0, errTooLarge
	}
	n, err := c.Conn.Read(p)
	if err != nil {
		c.readErr.Store(true)
	}
	if n > 0 {
		before := c.fr.packets
		v := c.fr.feed(p[:n])
		if c.fr.packets-before > 1 && err == nil {
			c.wmu.Lock()
			c.replies = true
			c.wmu.Unlock()
		}
		if c.fr.sawDisc {
			c.peerDisc.Store(true) // a DISCONNECT from the client went by
		}
		if v == violationTooLarge {
			c.oversize.Store(true)
			if c.fr.version == 5 {
				c.writeControl(disconnectPacket(0x95))
			}
			// Hand mochi the bytes: it sees the same length and closes with ErrPacketTooLarge.
		}
	}
	return n, err
}

func (c *clientConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(p) > 0 {
		switch p[0] >> 4 {
		case 14:
			c.sentDisc.Store(true)
		case 2:
			if len(p) >= 4 && p[3] >= 0x80 {
				c.sentDisc.Store(true) // a refusing CONNACK
			}
		}
	}
	if c.held > 0 || (c.replies && isReply(p)) {
		if c.held == 0 && c.buf.Len() == 0 {
			if c.replyTimer == nil {
				c.replyTimer = time.AfterFunc(replyFlushAfter, c.endReplies)
			} else {
				c.replyTimer.Reset(replyFlushAfter)
			}
		}
		c.buf.Write(p)
		if c.buf.Len() >= holdFlushAt {
			if err := c.flushLocked(); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	if c.buf.Len() > 0 {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if err := c.sendLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeControl writes a server-originated packet, serialised with mochi's writes.
func (c *clientConn) writeControl(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sentDisc.Swap(true) {
		return
	}
	_ = c.Conn.SetWriteDeadline(deadlineSoon())
	_ = c.flushLocked()
	if c.flushing {
		// Behind what the flusher has yet to write; wait for it (the deadline bounds it).
		c.queueLocked(b)
		done := c.drained
		c.wmu.Unlock()
		<-done
		c.wmu.Lock()
		return
	}
	if c.werr == nil {
		_, _ = c.Conn.Write(b)
	}
}

func (c *clientConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	// A close that is neither the client's nor announced by the server, with the read side
	// healthy, is mochi refusing a packet it could not decode: tell an MQTT 5 client why.
	if c.fr.version == 5 && !c.oversize.Load() && !c.sentDisc.Load() && !c.peerDisc.Load() && !c.readErr.Load() && c.fr.packets > 1 {
		c.writeControl(disconnectPacket(0x81))
	}
	c.wmu.Lock()
	c.replies = false
	if c.replyTimer != nil {
		c.replyTimer.Stop()
	}
	_ = c.flushLocked() // what a sender or the read goroutine collected, best effort
	c.wmu.Unlock()
	return c.Conn.Close()
}

// disconnectPacket encodes an MQTT 5 DISCONNECT with a reason code and no properties.
func disconnectPacket(reason byte) []byte { return []byte{0xE0, 0x02, reason, 0x00} }

func deadlineSoon() time.Time { return time.Now().Add(2 * time.Second) }
