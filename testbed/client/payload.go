package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// HeaderSize is the number of bytes a [Header] takes at the start of a payload;
// payloads smaller than this cannot carry one.
const HeaderSize = 24

// headerMagic marks a payload written by [Header.Encode] (the bytes "wdg1").
const headerMagic uint32 = 0x77646731

// ErrNotTestbedPayload is returned by [DecodeHeader] for a payload that does not
// start with a testbed header.
var ErrNotTestbedPayload = errors.New("payload has no testbed header")

// Header is what the testbed writes at the start of every payload it publishes,
// so a subscriber can measure latency, loss and order.
type Header struct {
	// Publisher identifies the sending client within one run.
	Publisher uint32
	// Seq numbers the publisher's messages from 0, without gaps.
	Seq uint64
	// SentNanos is the send time in nanoseconds on the run's [Clock].
	SentNanos int64
}

// Encode writes h into the first [HeaderSize] bytes of payload and fills the
// rest of it with a fixed pattern. It fails when payload is too short.
func (h Header) Encode(payload []byte) error {
	if len(payload) < HeaderSize {
		return fmt.Errorf("encode header: payload of %d bytes, need at least %d", len(payload), HeaderSize)
	}
	binary.BigEndian.PutUint32(payload[0:4], headerMagic)
	binary.BigEndian.PutUint32(payload[4:8], h.Publisher)
	binary.BigEndian.PutUint64(payload[8:16], h.Seq)
	binary.BigEndian.PutUint64(payload[16:24], uint64(h.SentNanos))
	for i := HeaderSize; i < len(payload); i++ {
		payload[i] = byte('a' + i%26)
	}
	return nil
}

// NewPayload returns a payload of size bytes (at least [HeaderSize]) carrying h.
func NewPayload(h Header, size int) []byte {
	b := make([]byte, max(size, HeaderSize))
	_ = h.Encode(b) // cannot fail: b is long enough
	return b
}

// DecodeHeader reads the [Header] at the start of payload.
func DecodeHeader(payload []byte) (Header, error) {
	if len(payload) < HeaderSize || binary.BigEndian.Uint32(payload[0:4]) != headerMagic {
		return Header{}, ErrNotTestbedPayload
	}
	return Header{
		Publisher: binary.BigEndian.Uint32(payload[4:8]),
		Seq:       binary.BigEndian.Uint64(payload[8:16]),
		SentNanos: int64(binary.BigEndian.Uint64(payload[16:24])),
	}, nil
}

// Clock gives monotonic nanosecond timestamps relative to its creation. Send
// and receive times are only comparable on the same Clock, so publishers and
// subscribers of one run share one (they run in one process).
type Clock struct {
	base time.Time
}

// NewClock returns a Clock whose zero is now.
func NewClock() *Clock { return &Clock{base: time.Now()} }

// Nanos returns the monotonic nanoseconds elapsed since the clock was made.
func (c *Clock) Nanos() int64 { return int64(time.Since(c.base)) }
