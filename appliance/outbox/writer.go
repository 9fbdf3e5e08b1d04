package outbox

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// op is a change other than an enqueue (acknowledgements, dead-lettering,
// replay, purge, expiry), committed by the writer in the next group.
type op struct {
	fn   func(tx *bbolt.Tx, e *effects) error
	done chan error
	// lazy ops (delivery acknowledgements) may wait up to ackDelay for a
	// commit that writes records, so that a publisher's enqueue does not wait
	// behind a commit of acknowledgements alone.
	lazy bool
}

// ackDelay is how long lazy ops may wait for a commit of records before they
// are committed on their own. A crash in that window sends those records
// again, which at-least-once delivery allows.
const ackDelay = 10 * time.Millisecond

// maxLazy is how many lazy ops may wait: a queue draining a backlog has at
// most maxSettling acknowledgements in flight, and waits for them.
const maxLazy = maxSettling

// effects collects what a transaction changed, applied to the in-memory
// state only after it committed.
type effects struct {
	qs       map[*queue]*qeffect
	outcomes []outcomeEvent
}

type qeffect struct {
	count, bytes, dead      int64
	delivered, dropped      uint64
	deadLettered, replayed  uint64
	next                    uint64
	nextSet, added, removed bool
}

type outcomeEvent struct {
	q   QueueID
	seq uint64
	o   Outcome
	err error
}

func (e *effects) of(q *queue) *qeffect {
	if e.qs == nil {
		e.qs = make(map[*queue]*qeffect)
	}
	qe := e.qs[q]
	if qe == nil {
		qe = &qeffect{next: q.next}
		e.qs[q] = qe
	}
	return qe
}

func (e *effects) outcome(q QueueID, seq uint64, o Outcome, err error) {
	e.outcomes = append(e.outcomes, outcomeEvent{q, seq, o, err})
}

// submit hands fn to the writer and waits for its commit.
func (o *Outbox) submit(fn func(tx *bbolt.Tx, e *effects) error) error {
	return <-o.submitAsync(fn)
}

// submitAsync hands fn to the writer; the channel receives the commit's result.
func (o *Outbox) submitAsync(fn func(tx *bbolt.Tx, e *effects) error) chan error {
	return o.submitOp(&op{fn: fn, done: make(chan error, 1)})
}

// submitLazy is submitAsync for an op that may wait up to ackDelay for a
// commit of records.
func (o *Outbox) submitLazy(fn func(tx *bbolt.Tx, e *effects) error) chan error {
	return o.submitOp(&op{fn: fn, done: make(chan error, 1), lazy: true})
}

func (o *Outbox) submitOp(op *op) chan error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		op.done <- ErrClosed
		return op.done
	}
	o.ops = append(o.ops, op)
	if op.lazy {
		o.lazyOps++
	}
	o.mu.Unlock()
	kick(o.wake)
	return op.done
}

// spaceRetry is how often the writer retries records waiting for disk space.
const spaceRetry = 20 * time.Millisecond

// run is the writer goroutine: it takes every pending enqueue and op and
// commits them in one transaction.
func (o *Outbox) run() {
	defer close(o.writerDone)
	var retry []*Pending
	lastGroup := 0 // records in the last commit
	for {
		stopping := false
		select {
		case <-o.stop:
			stopping = true
		default:
		}
		if !stopping {
			stopping = o.gather(len(retry) > 0, lastGroup)
		}
		for {
			o.mu.Lock()
			group := retry
			retry = nil
			room := o.opts.MaxGroup - len(group)
			if room < 0 {
				room = 0
			}
			take := min(room, len(o.pend))
			group = append(group, o.pend[:take]...)
			o.pend = append(o.pend[:0:0], o.pend[take:]...)
			ops := o.ops
			o.ops = nil
			o.lazyOps = 0
			more := len(o.pend) > 0
			o.mu.Unlock()
			if len(group) > 0 || len(ops) > 0 {
				if len(group) > 0 {
					lastGroup = len(group)
				}
				retry = o.commit(group, ops, stopping)
			}
			if !more && !(stopping && len(retry) > 0) {
				break
			}
			if stopping && len(retry) > 0 {
				// One more attempt each at Close, then the records fail.
				for _, p := range o.commit(retry, nil, true) {
					o.fail(p, ErrClosed)
				}
				retry = nil
			}
		}
		if stopping {
			o.mu.Lock()
			ops := o.ops
			o.ops = nil
			o.mu.Unlock()
			for _, op := range ops {
				op.done <- ErrClosed
			}
			return
		}
	}
}

// gather waits until there is something to commit. It reports whether the
// outbox is stopping.
//
// Records waiting for disk space are retried at a steady pace, not at the
// pace of new enqueues. Otherwise the writer waits for work, then lingers
// CommitInterval to gather a group, but only if the last group held more than
// one record: records from more than one publisher are arriving and can share
// the fsync. A lone publisher (one record per group) gains nothing from
// waiting, so its record is committed at once. Work already queued when the
// writer looks (it arrived during the last commit) is committed at once too:
// that group formed while the disk was busy.
//
// Delivery acknowledgements alone (lazy ops) wait up to ackDelay for records
// to carry them, so that an enqueue seldom waits behind a commit of
// acknowledgements; maxLazy of them are committed at once.
func (o *Outbox) gather(retrying bool, lastGroup int) (stopping bool) {
	if retrying {
		if !o.roomMade {
			lingerFor(spaceRetry, o.stop, &stopping)
		}
		return stopping
	}
	var ackTimer <-chan time.Time
	waited := false
	for {
		o.mu.Lock()
		records := len(o.pend) > 0
		eager := records || len(o.ops) > o.lazyOps || o.lazyOps >= maxLazy
		lazy := o.lazyOps > 0
		o.mu.Unlock()
		if eager {
			if waited && records && o.opts.CommitInterval > 0 && lastGroup > 1 {
				lingerFor(o.opts.CommitInterval, o.stop, &stopping)
			}
			return stopping
		}
		if lazy && ackTimer == nil {
			t := time.NewTimer(ackDelay)
			defer t.Stop()
			ackTimer = t.C
		}
		select {
		case <-o.wake:
			waited = true
		case <-ackTimer:
			return false
		case <-o.stop:
			return true
		}
	}
}

// lingerFor waits d, or until stop is closed (setting *stopping).
func lingerFor(d time.Duration, stop chan struct{}, stopping *bool) {
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-stop:
		*stopping = true
	}
	t.Stop()
}

// isSpace reports whether err means the file could not grow.
func isSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, berrors.ErrMaxSizeReached)
}

// commit writes group and ops in one transaction and settles them. It returns
// the records to try again (they wait for disk space).
func (o *Outbox) commit(group []*Pending, ops []*op, final bool) (retry []*Pending) {
	e, err := o.apply(group, ops)
	if err != nil && len(ops) > 0 && len(group) > 0 {
		// Acknowledgements free space: commit them on their own, then the group.
		e2, err2 := o.apply(nil, ops)
		o.settle(e2, nil, ops, err2)
		ops = nil
		e, err = o.apply(group, nil)
	}
	o.settle(e, group, ops, err)
	if err == nil {
		return nil
	}
	if !isSpace(err) {
		o.log.Error("outbox: commit failed", "records", len(group), "err", err)
		for _, p := range group {
			o.fail(p, fmt.Errorf("outbox: commit: %w", err))
		}
		return nil
	}
	o.mu.Lock()
	if !o.diskFull {
		o.diskFull = true
		o.log.Error("outbox: no space for the outbox file; applying the queues' policies", "path", o.path, "err", err)
	}
	o.mu.Unlock()
	now := time.Now()
	var room map[*queue]int
	for _, p := range group {
		switch {
		case final || p.policy == DropNew || !now.Before(p.deadline):
			o.fail(p, fmt.Errorf("%w: %v", ErrDiskFull, err))
		default:
			if p.policy == DropOldest {
				if room == nil {
					room = make(map[*queue]int)
				}
				room[p.q]++
			}
			retry = append(retry, p)
		}
	}
	o.roomMade = false
	if len(room) > 0 {
		o.roomMade = o.makeRoom(room)
	}
	return retry
}

// makeRoom deletes the oldest committed records of each queue (drop_oldest on
// a full disk: n per waiting record, plus 1/64 of the queue so that a full
// file does not fail every commit), in its own transaction so the freed pages
// can be reused. It reports whether it deleted anything.
func (o *Outbox) makeRoom(room map[*queue]int) bool {
	dropped := false
	e, err := o.apply(nil, []*op{{fn: func(tx *bbolt.Tx, e *effects) error {
		for q, n := range room {
			qb := tx.Bucket(queuesBucket).Bucket(q.key)
			if qb == nil {
				continue
			}
			r := qb.Bucket(recBucket)
			for range n + int(q.count/64) {
				if !dropHead(r, q, e) {
					break
				}
				dropped = true
			}
		}
		return nil
	}, done: make(chan error, 1)}})
	o.settle(e, nil, nil, err)
	if err != nil {
		o.log.Warn("outbox: could not drop oldest records to make room", "err", err)
		return false
	}
	return dropped
}

// dropHead deletes the oldest record of q's record bucket r, counting it as
// dropped. It reports false if r is empty.
func dropHead(r *bbolt.Bucket, q *queue, e *effects) bool {
	k, v := r.Cursor().First()
	if k == nil {
		return false
	}
	k = append([]byte(nil), k...)
	size := int64(len(k) + len(v))
	if err := r.Delete(k); err != nil {
		return false
	}
	qe := e.of(q)
	qe.count--
	qe.bytes -= size
	qe.dropped++
	e.outcome(q.id, keySeq(k), Dropped, ErrDropped)
	return true
}

// queueBuckets returns q's record and dead-letter buckets, creating them.
func queueBuckets(tx *bbolt.Tx, q *queue) (qb, r, d *bbolt.Bucket, err error) {
	if qb, err = tx.Bucket(queuesBucket).CreateBucketIfNotExists(q.key); err != nil {
		return nil, nil, nil, err
	}
	if r, err = qb.CreateBucketIfNotExists(recBucket); err != nil {
		return nil, nil, nil, err
	}
	if d, err = qb.CreateBucketIfNotExists(deadBucket); err != nil {
		return nil, nil, nil, err
	}
	return qb, r, d, nil
}

// apply runs one write transaction: ops first, then the group's records.
func (o *Outbox) apply(group []*Pending, ops []*op) (e *effects, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("outbox: transaction panicked: %v", r)
		}
	}()
	e = &effects{}
	err = o.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(metaBucket).Put(clockKey, be64(uint64(o.clock(time.Now())))); err != nil {
			return err
		}
		for _, op := range ops {
			if err := op.fn(tx, e); err != nil {
				return err
			}
		}
		var tc, tb int64 // totals added by this transaction
		rbs := make(map[*queue]*bbolt.Bucket)
		for _, p := range group {
			q := p.q
			qe := e.of(q)
			r := rbs[q]
			if r == nil {
				var err error
				if _, r, _, err = queueBuckets(tx, q); err != nil {
					return err
				}
				rbs[q] = r
			}
			seq := qe.next
			if err := r.Put(seqKey(seq), encodeRecord(p.t, p.data)); err != nil {
				return err
			}
			p.seq = seq
			qe.next = seq + 1
			qe.nextSet, qe.added = true, true
			qe.count++
			qe.bytes += p.size
			tc++
			tb += p.size
			if p.policy == DropOldest {
				for q.count+qe.count > p.maxRecs || q.bytes+qe.bytes > p.maxBytes ||
					o.count+tc > o.opts.MaxTotalRecords || o.bytes+tb > o.opts.MaxTotalBytes {
					before := qe.bytes
					if !dropHead(r, q, e) {
						break
					}
					tc--
					tb -= before - qe.bytes
				}
			}
		}
		// Sequence numbers survive even when every record is deleted.
		for q, qe := range e.qs {
			if !qe.nextSet || qe.removed {
				continue
			}
			if err := tx.Bucket(queuesBucket).Bucket(q.key).Put(nextKey, be64(qe.next)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// settle applies a committed transaction's effects (or its failure) to the
// in-memory state, resolves the group's Pendings, and reports outcomes.
func (o *Outbox) settle(e *effects, group []*Pending, ops []*op, err error) {
	if err != nil {
		for _, op := range ops {
			op.done <- err
		}
		return
	}
	defer func() {
		for _, op := range ops {
			op.done <- nil
		}
	}()
	if len(e.qs) > 0 {
		o.refreshHeads(e)
	}
	var kicks []chan struct{}
	freed := false
	o.mu.Lock()
	for q, qe := range e.qs {
		q.count += qe.count
		q.bytes += qe.bytes
		q.dead += qe.dead
		q.delivered += qe.delivered
		q.dropped += qe.dropped
		q.deadLettered += qe.deadLettered
		q.enqueued += qe.replayed
		if qe.nextSet || qe.next > q.next {
			q.next = max(q.next, qe.next)
		}
		o.count += qe.count
		o.bytes += qe.bytes
		if qe.count < 0 || qe.bytes < 0 {
			freed = true
		}
		if qe.removed {
			q.count, q.bytes, q.dead = 0, 0, 0
		}
		if qe.added && q.kick != nil {
			kicks = append(kicks, q.kick)
		}
	}
	for _, p := range group {
		q := p.q
		q.pcount--
		q.pbytes -= p.size
		o.pcount--
		o.pbytes -= p.size
		if p.notify != nil {
			if q.notify == nil {
				q.notify = make(map[uint64]func(Outcome, error))
			}
			q.notify[p.seq] = p.notify
		}
	}
	var notes []func()
	for _, ev := range e.outcomes {
		q := o.queues[ev.q]
		if q == nil || q.notify == nil {
			continue
		}
		if f, ok := q.notify[ev.seq]; ok {
			delete(q.notify, ev.seq)
			notes = append(notes, func() { f(ev.o, ev.err) })
		}
	}
	if o.diskFull {
		o.diskFull = false
		o.log.Info("outbox: space is back; commits succeed again")
	}
	if freed {
		close(o.space)
		o.space = make(chan struct{})
	}
	o.mu.Unlock()
	// Outcomes first: whoever waits on a Pending or on an op sees the
	// metrics of the same commit already counted.
	if f := o.opts.OnOutcome; f != nil {
		for _, ev := range e.outcomes {
			f(ev.q, ev.seq, ev.o, ev.err)
		}
	}
	for _, f := range notes {
		f()
	}
	for _, p := range group {
		if !p.early {
			close(p.done)
		}
	}
	for _, ch := range kicks {
		kick(ch)
	}
}

// refreshHeads reads the oldest record's enqueue time of each changed queue.
func (o *Outbox) refreshHeads(e *effects) {
	heads := make(map[*queue]int64, len(e.qs))
	_ = o.db.View(func(tx *bbolt.Tx) error {
		for q := range e.qs {
			qb := tx.Bucket(queuesBucket).Bucket(q.key)
			if qb == nil {
				continue
			}
			if r := qb.Bucket(recBucket); r != nil {
				if k, v := r.Cursor().First(); k != nil {
					if t, _, err := decodeRecord(v); err == nil {
						heads[q] = t
					}
				}
			}
		}
		return nil
	})
	o.mu.Lock()
	for q, t := range heads {
		q.head = t
	}
	o.mu.Unlock()
}

// fail refuses a pending record that could not be committed.
func (o *Outbox) fail(p *Pending, err error) {
	o.mu.Lock()
	q := p.q
	q.pcount--
	q.pbytes -= p.size
	q.dropped++
	o.pcount--
	o.pbytes -= p.size
	if errors.Is(err, ErrDiskFull) && !o.diskFull {
		o.diskFull = true
		o.log.Error("outbox: no space for the outbox file; applying the queues' policies", "path", o.path, "err", err)
	}
	close(o.space)
	o.space = make(chan struct{})
	o.mu.Unlock()
	if f := o.opts.OnOutcome; f != nil {
		f(q.id, 0, Dropped, err)
	}
	if p.notify != nil {
		p.notify(Dropped, err)
	}
	if p.early {
		o.log.Warn("outbox: record acknowledged in fast mode was lost", "queue", q.id.String(), "err", err)
	} else {
		p.err = err
		close(p.done)
	}
}
