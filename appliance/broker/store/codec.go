package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// msgCodecV1 is the first byte of every encoded message.
const msgCodecV1 = 1

// Flag bits of an encoded message.
const (
	flagDup = 1 << iota
	flagRetain
	flagPayloadFormat
)

// errShortMessage reports an encoded message that ends too early.
var errShortMessage = errors.New("message record truncated")

// encodeMessage appends the binary form of m to dst. The client id, the
// storage id and the topic alias are not stored: the first two come from the
// key, and an alias means nothing to the connection that follows a restart.
//
// Layout: version, flags, type, qos, payload format, packet id (BE16),
// created and sent (varint), message expiry (uvarint), then topic, origin,
// content type, response topic and correlation data (uvarint length + bytes),
// subscription identifiers (count + varints), user properties (count + key,
// value pairs) and the payload (length + bytes).
func encodeMessage(dst []byte, m *storage.Message) []byte {
	var flags byte
	if m.FixedHeader.Dup {
		flags |= flagDup
	}
	if m.FixedHeader.Retain {
		flags |= flagRetain
	}
	if m.Properties.PayloadFormatFlag {
		flags |= flagPayloadFormat
	}
	dst = append(dst, msgCodecV1, flags, m.FixedHeader.Type, m.FixedHeader.Qos, m.Properties.PayloadFormat)
	dst = binary.BigEndian.AppendUint16(dst, m.PacketID)
	dst = binary.AppendVarint(dst, m.Created)
	dst = binary.AppendVarint(dst, m.Sent)
	dst = binary.AppendUvarint(dst, uint64(m.Properties.MessageExpiryInterval))
	dst = appendBytes(dst, m.TopicName)
	dst = appendBytes(dst, m.Origin)
	dst = appendBytes(dst, m.Properties.ContentType)
	dst = appendBytes(dst, m.Properties.ResponseTopic)
	dst = appendBytes(dst, m.Properties.CorrelationData)
	dst = binary.AppendUvarint(dst, uint64(len(m.Properties.SubscriptionIdentifier)))
	for _, id := range m.Properties.SubscriptionIdentifier {
		dst = binary.AppendVarint(dst, int64(id))
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.Properties.User)))
	for _, u := range m.Properties.User {
		dst = appendBytes(dst, u.Key)
		dst = appendBytes(dst, u.Val)
	}
	dst = appendBytes(dst, m.Payload)
	return dst
}

func appendBytes[T string | []byte](dst []byte, s T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeMessage parses what encodeMessage wrote. It never panics on
// arbitrary input and never allocates more than the input's length implies.
func decodeMessage(b []byte) (storage.Message, error) {
	var m storage.Message
	if len(b) < 7 {
		return m, errShortMessage
	}
	if b[0] != msgCodecV1 {
		return m, fmt.Errorf("message record: unknown codec version %d", b[0])
	}
	flags := b[1]
	m.FixedHeader.Dup = flags&flagDup != 0
	m.FixedHeader.Retain = flags&flagRetain != 0
	m.Properties.PayloadFormatFlag = flags&flagPayloadFormat != 0
	m.FixedHeader.Type = b[2]
	m.FixedHeader.Qos = b[3]
	m.Properties.PayloadFormat = b[4]
	m.PacketID = binary.BigEndian.Uint16(b[5:7])

	r := reader{b: b[7:]}
	m.Created = r.varint()
	m.Sent = r.varint()
	exp := r.uvarint()
	if exp > 0xFFFFFFFF {
		r.fail(errors.New("message record: expiry out of range"))
	}
	m.Properties.MessageExpiryInterval = uint32(exp)
	m.TopicName = string(r.bytes())
	m.Origin = string(r.bytes())
	m.Properties.ContentType = string(r.bytes())
	m.Properties.ResponseTopic = string(r.bytes())
	m.Properties.CorrelationData = r.bytesOrNil()
	if n := r.count(1); n > 0 {
		m.Properties.SubscriptionIdentifier = make([]int, 0, n)
		for range n {
			m.Properties.SubscriptionIdentifier = append(m.Properties.SubscriptionIdentifier, int(r.varint()))
		}
	}
	if n := r.count(2); n > 0 {
		m.Properties.User = make([]packets.UserProperty, 0, n)
		for range n {
			k := string(r.bytes())
			v := string(r.bytes())
			m.Properties.User = append(m.Properties.User, packets.UserProperty{Key: k, Val: v})
		}
	}
	m.Payload = r.bytesOrNil()
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("message record: %d trailing bytes", len(r.b)))
	}
	if r.err != nil {
		return storage.Message{}, r.err
	}
	return m, nil
}

// reader consumes an encoded message; the first error sticks and every later
// read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShortMessage)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShortMessage)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads an element count, each element taking at least min bytes.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail(errShortMessage)
		return 0
	}
	return int(n)
}

// bytes returns a view of the next length-prefixed field.
func (r *reader) bytes() []byte {
	n := r.count(1)
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// bytesOrNil returns a copy of the next field, nil when it is empty, so that
// the result does not alias bbolt's memory map.
func (r *reader) bytesOrNil() []byte {
	v := r.bytes()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}
