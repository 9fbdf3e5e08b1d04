package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// QueueID names one queue: one queue per rule action, as in DESIGN's
// /api/v4/outbox (rule id and the action's index in the rule).
type QueueID struct {
	Rule   string // the rule's id
	Action int    // the action's index within the rule, from 0
}

// String renders the id as "rule/action".
func (id QueueID) String() string { return id.Rule + "/" + strconv.Itoa(id.Action) }

// key is the queue's bucket name: the rule id's length (uvarint), the rule id,
// then the action index as a big-endian uint32. The length prefix keeps every
// rule id distinct whatever bytes it holds.
func (id QueueID) key() []byte {
	b := binary.AppendUvarint(nil, uint64(len(id.Rule)))
	b = append(b, id.Rule...)
	return binary.BigEndian.AppendUint32(b, uint32(id.Action))
}

func parseQueueKey(k []byte) (QueueID, error) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) != n+4 {
		return QueueID{}, errors.New("outbox: malformed queue key")
	}
	rule := string(k[w : w+int(n)])
	a := binary.BigEndian.Uint32(k[w+int(n):])
	if a > 1<<31-1 {
		return QueueID{}, fmt.Errorf("outbox: queue %q: action index %d out of range", rule, a)
	}
	return QueueID{Rule: rule, Action: int(a)}, nil
}
