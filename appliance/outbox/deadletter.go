package outbox

import (
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// DeadLetters returns up to limit (0: all) of queue id's dead letters, oldest first.
func (o *Outbox) DeadLetters(id QueueID, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	now := o.clock(time.Now())
	err := o.db.View(func(tx *bbolt.Tx) error {
		qb := tx.Bucket(queuesBucket).Bucket(id.key())
		if qb == nil {
			return nil
		}
		d := qb.Bucket(deadBucket)
		if d == nil {
			return nil
		}
		c := d.Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			t, msg, data, err := decodeDead(v)
			if err != nil {
				return fmt.Errorf("dead letter %d: %w", keySeq(k), err)
			}
			out = append(out, DeadLetter{Seq: keySeq(k), Data: append([]byte(nil), data...), Error: msg, Age: time.Duration(max(0, now-t))})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: dead letters of %s: %w", id, err)
	}
	return out, nil
}

// Replay moves queue id's dead letters back to the end of the queue, in their
// order, with new sequence numbers (the target rejected the old ones, so no
// target has them), and returns how many moved. They are delivered again, and
// report a new outcome.
func (o *Outbox) Replay(id QueueID) (int, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, ErrClosed
	}
	q := o.queueLocked(id)
	o.mu.Unlock()
	n := 0
	err := o.submit(func(tx *bbolt.Tx, e *effects) error {
		n = 0
		if tx.Bucket(queuesBucket).Bucket(q.key) == nil {
			return nil
		}
		qb, r, d, err := queueBuckets(tx, q)
		if err != nil {
			return err
		}
		qe := e.of(q)
		type item struct {
			k, v []byte
		}
		var items []item
		c := d.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			t, _, data, err := decodeDead(v)
			if err != nil {
				return err
			}
			items = append(items, item{append([]byte(nil), k...), encodeRecord(t, data)})
		}
		for _, it := range items {
			if err := d.Delete(it.k); err != nil {
				return err
			}
			k := seqKey(qe.next)
			qe.next++
			if err := r.Put(k, it.v); err != nil {
				return err
			}
			qe.dead--
			qe.replayed++
			qe.count++
			qe.bytes += int64(len(k) + len(it.v))
			n++
		}
		if n > 0 {
			qe.nextSet, qe.added = true, true
			return qb.Put(nextKey, be64(qe.next))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: replay %s: %w", id, err)
	}
	return n, nil
}

// Purge deletes queue id's dead letters and returns how many there were.
func (o *Outbox) Purge(id QueueID) (int, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, ErrClosed
	}
	q := o.queueLocked(id)
	o.mu.Unlock()
	n := 0
	err := o.submit(func(tx *bbolt.Tx, e *effects) error {
		n = 0
		qb := tx.Bucket(queuesBucket).Bucket(q.key)
		if qb == nil || qb.Bucket(deadBucket) == nil {
			return nil
		}
		n = qb.Bucket(deadBucket).Stats().KeyN
		if err := qb.DeleteBucket(deadBucket); err != nil {
			return err
		}
		if _, err := qb.CreateBucket(deadBucket); err != nil {
			return err
		}
		e.of(q).dead -= int64(n)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: purge %s: %w", id, err)
	}
	return n, nil
}
