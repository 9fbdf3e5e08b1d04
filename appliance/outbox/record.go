package outbox

import (
	"encoding/binary"
	"errors"
	"time"
)

// Record is one queued item as a Deliverer receives it.
type Record struct {
	Queue QueueID
	// Seq is the record's sequence number in its queue: assigned at commit,
	// strictly increasing within the queue, never reused (it survives
	// restarts and purges). Delivery is at-least-once, so a target that must
	// not see duplicates drops a (Queue, Seq) it has already seen.
	Seq uint64
	// Data is the bytes given to Enqueue. The Deliverer must not keep it
	// after Deliver returns.
	Data []byte
	// Age is how long the record has been queued, counted in outbox running
	// time (see the package doc: time while the outbox was closed does not
	// count).
	Age time.Duration
}

// DeadLetter is a record the target rejected for good, with the target's error.
type DeadLetter struct {
	Seq   uint64
	Data  []byte
	Error string
	Age   time.Duration // outbox running time since it was first enqueued
}

const recordVersion = 1

// Record values: version byte, enqueue clock (int64 ns of outbox running
// time, big-endian), then the data.
const recordHeader = 1 + 8

func encodeRecord(t int64, data []byte) []byte {
	v := make([]byte, recordHeader, recordHeader+len(data))
	v[0] = recordVersion
	binary.BigEndian.PutUint64(v[1:], uint64(t))
	return append(v, data...)
}

var errBadRecord = errors.New("outbox: malformed record")

func decodeRecord(v []byte) (t int64, data []byte, err error) {
	if len(v) < recordHeader || v[0] != recordVersion {
		return 0, nil, errBadRecord
	}
	return int64(binary.BigEndian.Uint64(v[1:])), v[recordHeader:], nil
}

// Dead-letter values: version byte, enqueue clock, uvarint error length, the
// error text, then the data.
func encodeDead(t int64, msg string, data []byte) []byte {
	v := make([]byte, recordHeader, recordHeader+binary.MaxVarintLen64+len(msg)+len(data))
	v[0] = recordVersion
	binary.BigEndian.PutUint64(v[1:], uint64(t))
	v = binary.AppendUvarint(v, uint64(len(msg)))
	v = append(v, msg...)
	return append(v, data...)
}

func decodeDead(v []byte) (t int64, msg string, data []byte, err error) {
	if len(v) < recordHeader || v[0] != recordVersion {
		return 0, "", nil, errBadRecord
	}
	t = int64(binary.BigEndian.Uint64(v[1:]))
	rest := v[recordHeader:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) < n {
		return 0, "", nil, errBadRecord
	}
	return t, string(rest[w : w+int(n)]), rest[w+int(n):], nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func keySeq(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// recordSize is what a record costs against the byte bounds: key and value.
func recordSize(dataLen int) int64 { return int64(8 + recordHeader + dataLen) }
