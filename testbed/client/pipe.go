package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// PipeOptions configures [DialPipe].
type PipeOptions struct {
	RawOptions
	// Window is the number of QoS 1 publishes that may await their PUBACK at
	// once (1 when zero): 1 behaves like a blocking client, more pipelines.
	Window int
	// OnMessage receives every PUBLISH, one at a time, in arrival order. The
	// message's Payload is only valid during the call. QoS 1 messages are
	// acknowledged after it returns.
	OnMessage Handler
}

// Pipe is a lightweight MQTT client for load generation: the minimal CONNECT
// of [DialRaw], then one reader goroutine, no per-message goroutine or
// channel, pipelined QoS 0 and 1 publishes, and acknowledgements written in
// batches. Publish and Subscribe are for one goroutine at a time. It speaks
// just enough MQTT (3.1.1 and 5) to publish, subscribe and receive; use
// [Dial] for anything else.
type Pipe struct {
	raw     *RawConn
	version int

	wmu sync.Mutex
	w   *bufio.Writer

	window  chan struct{} // one token per unacknowledged QoS 1 publish
	nextID  uint16
	subAck  chan []byte // SUBACK bodies
	acked   atomic.Int64
	refused atomic.Int64

	done    chan struct{}
	errOnce sync.Once
	err     error
}

// ErrPipeClosed is returned by a [Pipe] whose connection has ended.
var ErrPipeClosed = errors.New("pipe closed")

// DialPipe connects a [Pipe] to opts.Addr.
func DialPipe(ctx context.Context, opts PipeOptions) (*Pipe, error) {
	raw, err := DialRaw(ctx, opts.RawOptions)
	if err != nil {
		return nil, err
	}
	p := &Pipe{
		raw:     raw,
		version: raw.version,
		w:       bufio.NewWriterSize(raw.conn, 16<<10),
		window:  make(chan struct{}, max(opts.Window, 1)),
		subAck:  make(chan []byte, 1),
		done:    make(chan struct{}),
	}
	go p.readLoop(opts.OnMessage)
	return p, nil
}

func (p *Pipe) fail(err error) {
	p.errOnce.Do(func() {
		p.err = err
		close(p.done)
	})
}

// Err returns why the pipe ended, or nil while it runs.
func (p *Pipe) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Acked counts QoS 1 publishes the broker acknowledged with success;
// Refused those it acknowledged with an error reason code (MQTT 5).
func (p *Pipe) Acked() int64 { return p.acked.Load() }

// Refused counts QoS 1 publishes the broker refused in their PUBACK.
func (p *Pipe) Refused() int64 { return p.refused.Load() }

func (p *Pipe) packetID() uint16 {
	p.nextID++
	if p.nextID == 0 {
		p.nextID = 1
	}
	return p.nextID
}

// appendString appends an MQTT UTF-8 string (two-byte length, bytes).
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendLength appends an MQTT variable byte integer.
func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// Publish sends one PUBLISH at QoS 0 or 1 and flushes it. At QoS 1 it waits
// only for a free slot in the window, not for the PUBACK: use [Pipe.Drain]
// to wait for every acknowledgement.
func (p *Pipe) Publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	if qos > 1 {
		return fmt.Errorf("publish to %s: pipe supports QoS 0 and 1, not %d", topic, qos)
	}
	if qos == 1 {
		select {
		case p.window <- struct{}{}:
		case <-p.done:
			return fmt.Errorf("publish to %s: %w: %v", topic, ErrPipeClosed, p.err)
		case <-ctx.Done():
			return fmt.Errorf("publish to %s: %w", topic, ctx.Err())
		}
	}
	var vh [8]byte
	h := appendString(vh[:0], topic)
	if qos == 1 {
		h = binary.BigEndian.AppendUint16(h, p.packetID())
	}
	if p.version == V5 {
		h = append(h, 0) // no properties
	}
	var fh [5]byte
	f := appendLength(append(fh[:0], 0x30|qos<<1), len(h)+len(payload))
	p.wmu.Lock()
	_, _ = p.w.Write(f)
	_, _ = p.w.Write(h)
	_, _ = p.w.Write(payload)
	err := p.w.Flush()
	p.wmu.Unlock()
	if err != nil {
		p.fail(err)
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Drain waits until every QoS 1 publish was acknowledged, the pipe ended, or
// ctx ended.
func (p *Pipe) Drain(ctx context.Context) error {
	for i := 0; i < cap(p.window); i++ {
		select {
		case p.window <- struct{}{}:
		case <-p.done:
			return fmt.Errorf("drain: %w: %v", ErrPipeClosed, p.err)
		case <-ctx.Done():
			return fmt.Errorf("drain: %w", ctx.Err())
		}
	}
	for i := 0; i < cap(p.window); i++ {
		<-p.window
	}
	return nil
}

// Subscribe subscribes to one filter and waits for the SUBACK.
func (p *Pipe) Subscribe(ctx context.Context, filter string, qos byte) error {
	b := binary.BigEndian.AppendUint16(nil, p.packetID())
	if p.version == V5 {
		b = append(b, 0)
	}
	b = append(appendString(b, filter), qos)
	pk := append(appendLength([]byte{0x82}, len(b)), b...)
	p.wmu.Lock()
	_, _ = p.w.Write(pk)
	err := p.w.Flush()
	p.wmu.Unlock()
	if err != nil {
		p.fail(err)
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	select {
	case body := <-p.subAck:
		if len(body) == 0 || body[len(body)-1] >= 0x80 {
			return fmt.Errorf("subscribe %s: refused (SUBACK % x)", filter, body)
		}
		return nil
	case <-p.done:
		return fmt.Errorf("subscribe %s: %w: %v", filter, ErrPipeClosed, p.err)
	case <-ctx.Done():
		return fmt.Errorf("subscribe %s: %w", filter, ctx.Err())
	}
}

func (p *Pipe) readLoop(h Handler) {
	r := bufio.NewReaderSize(p.raw.conn, 64<<10)
	var body []byte
	var acks []byte
	for {
		b0, err := r.ReadByte()
		if err != nil {
			p.fail(err)
			return
		}
		n, err := readLength(r)
		if err != nil {
			p.fail(err)
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			p.fail(err)
			return
		}
		switch b0 >> 4 {
		case 3: // PUBLISH
			id, ok := p.deliver(b0, body, h)
			if !ok {
				p.fail(fmt.Errorf("malformed PUBLISH"))
				return
			}
			if id != 0 {
				acks = append(acks, 0x40, 2, byte(id>>8), byte(id))
			}
		case 4: // PUBACK
			if len(body) >= 3 && body[2] >= 0x80 {
				p.refused.Add(1)
			} else {
				p.acked.Add(1)
			}
			select {
			case <-p.window:
			default:
			}
		case 9: // SUBACK
			select {
			case p.subAck <- append([]byte(nil), body...):
			default:
			}
		case 13: // PINGRESP
		case 14: // DISCONNECT from the server
			p.fail(fmt.Errorf("server sent DISCONNECT % x", body))
			return
		}
		// Write acknowledgements once the input is drained, in one write.
		if len(acks) > 0 && r.Buffered() == 0 {
			p.wmu.Lock()
			_, _ = p.w.Write(acks)
			err := p.w.Flush()
			p.wmu.Unlock()
			if err != nil {
				p.fail(err)
				return
			}
			acks = acks[:0]
		}
	}
}

// deliver decodes a PUBLISH body and hands it to h; it returns the packet
// id to acknowledge (0 for QoS 0).
func (p *Pipe) deliver(b0 byte, body []byte, h Handler) (uint16, bool) {
	qos := (b0 >> 1) & 3
	if len(body) < 2 {
		return 0, false
	}
	tl := int(binary.BigEndian.Uint16(body))
	i := 2 + tl
	if len(body) < i {
		return 0, false
	}
	topic := body[2:i]
	var id uint16
	if qos > 0 {
		if len(body) < i+2 {
			return 0, false
		}
		id = binary.BigEndian.Uint16(body[i:])
		i += 2
	}
	if p.version == V5 {
		pl, w, ok := decodeLength(body[i:])
		if !ok || len(body) < i+w+pl {
			return 0, false
		}
		i += w + pl
	}
	if h != nil {
		h(Message{Topic: string(topic), Payload: body[i:], QoS: qos, Retain: b0&1 == 1, Duplicate: b0&8 != 0})
	}
	if qos == 2 {
		return 0, true // not supported: never acknowledged
	}
	return id, true
}

func readLength(r io.ByteReader) (int, error) {
	n, mult := 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			return n, nil
		}
		mult *= 128
	}
	return 0, errors.New("malformed remaining length")
}

func decodeLength(b []byte) (n, width int, ok bool) {
	mult := 1
	for i := 0; i < 4 && i < len(b); i++ {
		n += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return n, i + 1, true
		}
		mult *= 128
	}
	return 0, 0, false
}

// Close sends DISCONNECT and closes the connection; it waits briefly for the
// reader to stop.
func (p *Pipe) Close() error {
	p.wmu.Lock()
	_, _ = p.w.Write([]byte{0xe0, 0})
	_ = p.w.Flush()
	p.wmu.Unlock()
	err := p.raw.conn.Close()
	select {
	case <-p.done:
	case <-time.After(time.Second):
	}
	p.fail(ErrPipeClosed)
	return err
}
