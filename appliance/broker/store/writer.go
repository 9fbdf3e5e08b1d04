package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrStopped is returned by Flush when the hook has stopped with records
// still pending (which Stop does not let happen unless the disk fails).
var ErrStopped = errors.New("store: hook stopped")

// pendKey identifies one record in the pending queue.
type pendKey struct {
	b bucketID
	k string
}

// pendOp is the latest event for one key: a delete, or a put of val
// (*storage.Message, *storage.Client, *storage.Subscription or
// *storage.SystemInfo), encoded by the writer only if it survives coalescing.
type pendOp struct {
	val any
	del bool
}

// group is what the writer takes from the queue and commits in one
// transaction.
type group struct {
	ops      map[pendKey]pendOp
	prefixes []pendKey // prefix deletes; applied before ops
	seq      uint64    // every event numbered <= seq is in this group or an earlier one
}

// record is one prepared put or delete.
type record struct {
	key []byte
	val []byte
	b   bucketID
	del bool
}

// enqueue records the latest event for key. It blocks while the queue is full.
func (h *Hook) enqueue(b bucketID, key string, op pendOp) {
	k := pendKey{b: b, k: key}
	h.mu.Lock()
	for {
		if h.stopping {
			h.mu.Unlock()
			h.droppedAfterStop(1)
			return
		}
		if _, ok := h.pending[k]; ok {
			h.pending[k] = op
			h.seq++
			h.mu.Unlock()
			h.stats.coalesced.Add(1)
			h.stats.events.Add(1)
			return
		}
		if h.queuedLocked() < h.opts.QueueSize {
			break
		}
		h.waitLocked()
	}
	h.pending[k] = op
	h.seq++
	n := h.queuedLocked()
	h.mu.Unlock()
	h.stats.events.Add(1)
	h.signal(n)
}

// enqueuePrefixDelete removes every record of bucket b whose key starts with
// prefix, including the ones still pending.
func (h *Hook) enqueuePrefixDelete(b bucketID, prefix string) {
	h.mu.Lock()
	for {
		if h.stopping {
			h.mu.Unlock()
			h.droppedAfterStop(1)
			return
		}
		if h.queuedLocked() < h.opts.QueueSize {
			break
		}
		h.waitLocked()
	}
	var superseded uint64
	for k := range h.pending {
		if k.b == b && len(k.k) >= len(prefix) && k.k[:len(prefix)] == prefix {
			delete(h.pending, k)
			superseded++
		}
	}
	h.prefixes = append(h.prefixes, pendKey{b: b, k: prefix})
	h.seq++
	n := h.queuedLocked()
	h.mu.Unlock()
	h.stats.coalesced.Add(superseded)
	h.stats.events.Add(1)
	h.signal(n)
}

// waitLocked releases h.mu until the writer makes progress, then takes it
// again. The caller holds h.mu.
func (h *Hook) waitLocked() {
	h.stats.blocked.Add(1)
	ch := h.progress
	h.mu.Unlock()
	kick(h.urgent)
	<-ch
	h.mu.Lock()
}

func (h *Hook) queuedLocked() int { return len(h.pending) + len(h.prefixes) }

// signal wakes the writer for the first pending record, and at once (without
// waiting for FlushInterval) when the queue is half full.
func (h *Hook) signal(queued int) {
	if queued == 1 {
		kick(h.wake)
	}
	if queued >= h.opts.QueueSize/2 {
		kick(h.urgent)
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (h *Hook) droppedAfterStop(n uint64) {
	h.stats.dropped.Add(n)
	h.log.Warn("store: event after Stop not persisted", "records", n)
}

// run is the writer goroutine.
func (h *Hook) run() {
	defer close(h.exited)
	for {
		stopped, now := false, false
		select {
		case <-h.wake:
		case <-h.urgent:
			now = true
		case <-h.stopCh:
			stopped = true
		}
		if !stopped && !now && h.opts.FlushInterval > 0 {
			t := time.NewTimer(h.opts.FlushInterval)
			select {
			case <-t.C:
			case <-h.urgent:
			case <-h.stopCh:
				stopped = true
			}
			t.Stop()
		}
		for h.writeOne() && stopped {
		}
		if stopped {
			return
		}
	}
}

// writeOne takes the pending group, if any, and commits it. It reports
// whether there was a group.
func (h *Hook) writeOne() bool {
	g := h.take()
	if g == nil {
		return false
	}
	err := h.commit(g)
	h.mu.Lock()
	h.doneSeq = g.seq
	if err != nil {
		h.failSeq = g.seq
		h.lastErr = err
	}
	clear(g.ops)
	h.spare = g.ops
	close(h.progress)
	h.progress = make(chan struct{})
	h.mu.Unlock()
	return true
}

// take swaps the pending records out of the queue.
func (h *Hook) take() *group {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.queuedLocked() == 0 {
		return nil
	}
	g := &group{ops: h.pending, prefixes: h.prefixes, seq: h.seq}
	if h.spare != nil {
		h.pending, h.spare = h.spare, nil
	} else {
		h.pending = make(map[pendKey]pendOp, len(g.ops))
	}
	h.prefixes = nil
	close(h.progress) // room in the queue again
	h.progress = make(chan struct{})
	return g
}

// commit prepares g's records (encoding outside the transaction, keys
// sorted per bucket) and writes them in one transaction, retrying on failure.
func (h *Hook) commit(g *group) error {
	recs := make([]record, 0, len(g.ops))
	var rejected uint64
	for k, op := range g.ops {
		r := record{b: k.b, key: []byte(k.k), del: op.del}
		if len(r.key) == 0 || len(r.key) > bbolt.MaxKeySize {
			rejected++
			h.log.Error("store: record key cannot be stored", "bucket", string(bucketNames[k.b]), "key_bytes", len(r.key))
			continue
		}
		if !op.del {
			v, err := encodeValue(op.val)
			if err != nil {
				rejected++
				h.log.Error("store: encoding record", "bucket", string(bucketNames[k.b]), "error", err)
				continue
			}
			r.val = v
		}
		recs = append(recs, r)
	}
	if rejected > 0 {
		h.stats.dropped.Add(rejected)
	}
	slices.SortFunc(recs, func(a, b record) int {
		if c := cmp.Compare(a.b, b.b); c != 0 {
			return c
		}
		return bytes.Compare(a.key, b.key)
	})

	recs = h.dropAbsentDeletes(recs)
	if len(recs) == 0 && len(g.prefixes) == 0 {
		return nil // everything cancelled out: no transaction, no fsync
	}

	var err error
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		var removed int
		removed, err = h.apply(g.prefixes, recs)
		if err == nil {
			h.stats.groups.Add(1)
			h.stats.records.Add(uint64(len(recs) + removed))
			return nil
		}
		h.stats.writeErrors.Add(1)
		permanent := errors.Is(err, berrors.ErrDatabaseNotOpen) || errors.Is(err, berrors.ErrDatabaseReadOnly)
		if permanent || attempt >= h.opts.MaxRetries {
			break
		}
		h.log.Warn("store: group commit failed, retrying", "error", err, "records", len(recs), "attempt", attempt+1)
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
	lost := uint64(len(recs) + len(g.prefixes))
	h.stats.dropped.Add(lost)
	h.log.Error("store: group commit failed, records not persisted", "error", err, "records", lost)
	return fmt.Errorf("store: commit group of %d records: %w", lost, err)
}

// dropAbsentDeletes removes deletes of keys that are not on disk, such as
// the delete left by an in-flight message published and acknowledged within
// one group. The writer is the only one that writes these buckets, so what
// it reads here still holds when it writes. On a read error it keeps recs.
func (h *Hook) dropAbsentDeletes(recs []record) []record {
	hasDelete := false
	for i := range recs {
		if recs[i].del {
			hasDelete = true
			break
		}
	}
	if !hasDelete {
		return recs
	}
	out := recs[:0:0]
	var absent uint64
	err := h.db.View(func(tx *bbolt.Tx) error {
		for _, r := range recs {
			if r.del {
				if bk := tx.Bucket(bucketNames[r.b]); bk == nil || bk.Get(r.key) == nil {
					absent++
					continue
				}
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return recs
	}
	h.stats.absentDeletes.Add(absent)
	return out
}

// apply writes one group in one transaction and returns how many keys the
// prefix deletes removed.
func (h *Hook) apply(prefixes []pendKey, recs []record) (removed int, err error) {
	err = h.db.Update(func(tx *bbolt.Tx) error {
		removed = 0
		var bks [numBuckets]*bbolt.Bucket
		bucket := func(id bucketID) (*bbolt.Bucket, error) {
			if bks[id] == nil {
				bk, err := tx.CreateBucketIfNotExists(bucketNames[id])
				if err != nil {
					return nil, fmt.Errorf("bucket %s: %w", bucketNames[id], err)
				}
				bks[id] = bk
			}
			return bks[id], nil
		}
		for _, p := range prefixes {
			bk, err := bucket(p.b)
			if err != nil {
				return err
			}
			n, err := deletePrefix(bk, []byte(p.k))
			if err != nil {
				return err
			}
			removed += n
		}
		for _, r := range recs {
			bk, err := bucket(r.b)
			if err != nil {
				return err
			}
			if r.del {
				err = bk.Delete(r.key)
			} else {
				err = bk.Put(r.key, r.val)
			}
			if err != nil {
				return fmt.Errorf("%s %q: %w", bucketNames[r.b], r.key, err)
			}
		}
		return nil
	})
	return removed, err
}

// deletePrefix deletes every key of bk that starts with prefix. The keys are
// collected first: deleting under a moving cursor can skip keys.
func deletePrefix(bk *bbolt.Bucket, prefix []byte) (int, error) {
	var keys [][]byte
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return 0, fmt.Errorf("delete prefix: %w", err)
		}
	}
	return len(keys), nil
}

// encodeValue turns a pending put into its stored bytes.
func encodeValue(v any) ([]byte, error) {
	switch v := v.(type) {
	case *storage.Message:
		return encodeMessage(make([]byte, 0, 64+len(v.TopicName)+len(v.Payload)), v), nil
	case *storage.Client:
		return v.MarshalBinary()
	case *storage.Subscription:
		return v.MarshalBinary()
	case *storage.SystemInfo:
		return v.MarshalBinary()
	default:
		return nil, fmt.Errorf("unknown record type %T", v)
	}
}

// Flush waits until every event accepted before the call has been committed.
// It returns an error if a group resolved while it waited could not be
// written (conservatively: that group may hold events raised after the call).
// See FlushContext.
func (h *Hook) Flush() error {
	return h.FlushContext(context.Background())
}

// FlushContext is Flush with a context that bounds the wait.
func (h *Hook) FlushContext(ctx context.Context) error {
	h.mu.Lock()
	target, start := h.seq, h.doneSeq
	h.mu.Unlock()
	kick(h.urgent)
	for {
		h.mu.Lock()
		if h.doneSeq >= target {
			var err error
			if h.failSeq > start {
				err = h.lastErr
			}
			h.mu.Unlock()
			return err
		}
		ch := h.progress
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("store: flush: %w", ctx.Err())
		case <-h.exited:
			h.mu.Lock()
			done := h.doneSeq >= target
			h.mu.Unlock()
			if !done {
				return ErrStopped
			}
		}
	}
}

// Stop flushes every pending record, ends the writer goroutine and returns
// the error of the last failed group, if the final flush lost records. Events
// that arrive after Stop are not persisted (they are logged and counted in
// Stats.Dropped). Stop is safe to call more than once; mochi calls it from
// Server.Close.
func (h *Hook) Stop() error {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		h.stopping = true
		start := h.doneSeq
		h.mu.Unlock()
		close(h.stopCh)
		<-h.exited
		h.mu.Lock()
		if h.failSeq > start {
			h.stopErr = h.lastErr
		}
		h.mu.Unlock()
	})
	return h.stopErr
}
