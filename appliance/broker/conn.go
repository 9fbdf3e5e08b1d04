package broker

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
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
	_, err := c.Conn.Write(c.buf.Bytes())
	c.buf.Reset()
	if c.buf.Cap() > 4*holdFlushAt {
		c.buf = bytes.Buffer{} // do not keep a burst's memory on an idle connection
	}
	return err
}

func newClientConn(c net.Conn, maxPacket uint32, counters *Counters) *clientConn {
	return &clientConn{Conn: c, fr: newFrameReader(maxPacket), counters: counters}
}

// errTooLarge ends the read side after an oversized packet header.
var errTooLarge = errors.New("packet too large")

func (c *clientConn) Read(p []byte) (int, error) {
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
	return c.Conn.Write(p)
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
	_, _ = c.Conn.Write(b)
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
