package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.etcd.io/bbolt"
)

// Deliverer sends records to a target. Deliver is called by one goroutine per
// queue, never concurrently for one queue, with the queue's oldest records in
// order.
type Deliverer interface {
	Deliver(ctx context.Context, recs []Record) BatchResult
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, recs []Record) BatchResult

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, recs []Record) BatchResult { return f(ctx, recs) }

// BatchResult is what the target said about a batch.
//
// Either Errs is nil and Err speaks for the whole batch (nil: every record
// acknowledged; a Permanent error: the batch is bisected to isolate the bad
// records; any other error: nothing was acknowledged, the batch is retried
// after a backoff), or Errs has one entry per record (nil: acknowledged;
// Permanent: dead-lettered; other: retried, with the records after it that
// were not acknowledged).
type BatchResult struct {
	Err  error
	Errs []error
}

// State is a queue's delivery state.
type State string

// Delivery states.
const (
	StateUnregistered State = "unregistered" // no Deliverer: records wait
	StateIdle         State = "idle"         // nothing to deliver
	StateDelivering   State = "delivering"   // a Deliver call is running or about to
	StateBackoff      State = "backoff"      // the last attempt failed; waiting to retry
	StateOpenCircuit  State = "open-circuit" // BreakerThreshold attempts in a row failed; probing one record at a time
)

type deadItem struct {
	seq uint64
	err error
}

func (o *Outbox) setState(q *queue, s State, lastErr error) {
	o.mu.Lock()
	if q.d != nil {
		q.state = s
	}
	if lastErr != nil {
		q.lastErr = lastErr.Error()
	} else if s == StateIdle {
		q.lastErr = ""
	}
	o.mu.Unlock()
}

// maxSettling is how many batches' acknowledgements may be waiting for the
// writer while the next batches are delivered.
const maxSettling = 4

// deliverLoop delivers q's records in order until ctx ends. It does not wait
// for one batch's acknowledgements to commit before sending the next batch
// (up to maxSettling batches ahead): it reads on after the last record it
// handled. After a failure it waits for them and reads from the oldest record
// on disk again.
func (o *Outbox) deliverLoop(ctx context.Context, q *queue, d Deliverer, opts QueueOptions, kickC chan struct{}, done chan struct{}) {
	defer close(done)
	var settling []chan error
	var after uint64 // every record up to this seq was handled (its settle may be in flight)
	// settled waits for the oldest (all: every) settle in flight and
	// reports the first error.
	settled := func(all bool) error {
		var first error
		for len(settling) > 0 {
			err := <-settling[0]
			settling = settling[1:]
			if err != nil && first == nil {
				first = err
			}
			if !all && first == nil {
				break
			}
		}
		return first
	}
	reap := func() error { // settles that already finished, without waiting
		for len(settling) > 0 {
			select {
			case err := <-settling[0]:
				settling = settling[1:]
				if err != nil {
					return err
				}
			default:
				return nil
			}
		}
		return nil
	}
	defer func() { _ = settled(true) }()
	failures := 0
	for ctx.Err() == nil {
		err := reap()
		if err == nil && len(settling) >= maxSettling {
			err = settled(false)
		}
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return
			}
			o.log.Warn("outbox: recording delivery failed; records will be sent again", "queue", q.id.String(), "err", err)
			_ = settled(true)
			after = 0
			failures++
			o.sleep(ctx, q, opts, failures, err)
			continue
		}
		n := opts.BatchSize
		if failures >= opts.BreakerThreshold {
			n = 1 // half-open: probe with one record
		}
		recs, err := o.readBatch(q, after, n)
		if err != nil {
			o.log.Error("outbox: reading queue", "queue", q.id.String(), "err", err)
			failures++
			o.sleep(ctx, q, opts, failures, err)
			continue
		}
		if len(recs) == 0 {
			if len(settling) > 0 {
				// Let the last acknowledgements land before going idle.
				err := settled(true)
				after = 0
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					o.log.Warn("outbox: recording delivery failed; records will be sent again", "queue", q.id.String(), "err", err)
					failures++
					o.sleep(ctx, q, opts, failures, err)
				}
				continue
			}
			after = 0
			o.setState(q, StateIdle, nil)
			select {
			case <-kickC:
			case <-ctx.Done():
			}
			continue
		}
		if len(recs) < n && opts.BatchInterval > 0 && failures == 0 {
			if wait := opts.BatchInterval - recs[0].Age; wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-kickC: // more records: read again
				case <-t.C:
				case <-ctx.Done():
				}
				t.Stop()
				continue
			}
		}
		o.setState(q, StateDelivering, nil)
		acked, dead, terr := o.attempt(ctx, q, d, opts, recs)
		if len(acked) > 0 || len(dead) > 0 {
			settling = append(settling, o.settleDelivery(q, acked, dead))
		}
		if terr != nil {
			if ctx.Err() != nil {
				return
			}
			// Retry from the oldest record on disk, once the records this
			// batch did deliver are deleted (so they are not sent again).
			if err := settled(true); errors.Is(err, ErrClosed) {
				return
			}
			after = 0
			failures++
			o.sleep(ctx, q, opts, failures, terr)
			continue
		}
		after = recs[len(recs)-1].Seq
		failures = 0
	}
}

// sleep waits the backoff for the n-th consecutive failure (exponential with
// jitter: a random duration in [d/2, d)), in state backoff or open-circuit.
func (o *Outbox) sleep(ctx context.Context, q *queue, opts QueueOptions, n int, cause error) {
	s := StateBackoff
	if n >= opts.BreakerThreshold {
		s = StateOpenCircuit
	}
	o.setState(q, s, cause)
	t := time.NewTimer(Backoff(opts.RetryBase, opts.RetryMax, n))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Backoff is the delay before retry number n (from 1): base·2^(n-1) capped at
// max, then jittered uniformly into [d/2, d).
func Backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// readBatch reads up to n of q's oldest committed records after seq after.
func (o *Outbox) readBatch(q *queue, after uint64, n int) ([]Record, error) {
	var recs []Record
	now := o.clock(time.Now())
	err := o.db.View(func(tx *bbolt.Tx) error {
		qb := tx.Bucket(queuesBucket).Bucket(q.key)
		if qb == nil {
			return nil
		}
		r := qb.Bucket(recBucket)
		if r == nil {
			return nil
		}
		c := r.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(recs) < n; k, v = c.Next() {
			t, data, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("record %d: %w", keySeq(k), err)
			}
			recs = append(recs, Record{Queue: q.id, Seq: keySeq(k), Data: append([]byte(nil), data...), Age: time.Duration(max(0, now-t))})
		}
		return nil
	})
	return recs, err
}

// attempt delivers recs, bisecting a batch the target rejects for good as a
// whole. It returns the acknowledged records, the dead ones, and the
// transient error that stopped it (the rest are retried).
func (o *Outbox) attempt(ctx context.Context, q *queue, d Deliverer, opts QueueOptions, recs []Record) (acked []uint64, dead []deadItem, terr error) {
	res := o.call(ctx, d, opts, recs)
	if res.Errs != nil && len(res.Errs) != len(recs) {
		return nil, nil, fmt.Errorf("outbox: deliverer returned %d results for %d records", len(res.Errs), len(recs))
	}
	if res.Errs == nil {
		switch {
		case res.Err == nil:
			for _, r := range recs {
				acked = append(acked, r.Seq)
			}
			return acked, nil, nil
		case !IsPermanent(res.Err):
			return nil, nil, res.Err
		case len(recs) == 1:
			return nil, []deadItem{{recs[0].Seq, res.Err}}, nil
		}
		half := len(recs) / 2
		a1, d1, e1 := o.attempt(ctx, q, d, opts, recs[:half])
		if e1 != nil {
			return a1, d1, e1
		}
		a2, d2, e2 := o.attempt(ctx, q, d, opts, recs[half:])
		return append(a1, a2...), append(d1, d2...), e2
	}
	for i, err := range res.Errs {
		switch {
		case err == nil:
			acked = append(acked, recs[i].Seq)
		case IsPermanent(err):
			dead = append(dead, deadItem{recs[i].Seq, err})
		case terr == nil:
			terr = err
		}
	}
	return acked, dead, terr
}

// call runs one Deliver with the queue's deadline; a panic is a transient error.
func (o *Outbox) call(ctx context.Context, d Deliverer, opts QueueOptions, recs []Record) (res BatchResult) {
	ctx, cancel := context.WithTimeout(ctx, opts.DeliverTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			res = BatchResult{Err: fmt.Errorf("outbox: deliverer panicked: %v", r)}
		}
	}()
	return d.Deliver(ctx, recs)
}

// settleDelivery deletes acknowledged records and moves dead ones to the
// dead-letter queue, in the writer's next commit; the channel reports it.
func (o *Outbox) settleDelivery(q *queue, acked []uint64, dead []deadItem) chan error {
	return o.submitLazy(func(tx *bbolt.Tx, e *effects) error {
		qb := tx.Bucket(queuesBucket).Bucket(q.key)
		if qb == nil {
			return nil
		}
		_, r, dl, err := queueBuckets(tx, q)
		if err != nil {
			return err
		}
		qe := e.of(q)
		for _, s := range acked {
			k := seqKey(s)
			v := r.Get(k)
			if v == nil {
				continue // dropped meanwhile
			}
			size := int64(len(k) + len(v))
			if err := r.Delete(k); err != nil {
				return err
			}
			qe.count--
			qe.bytes -= size
			qe.delivered++
			e.outcome(q.id, s, Delivered, nil)
		}
		for _, di := range dead {
			k := seqKey(di.seq)
			v := r.Get(k)
			if v == nil {
				continue
			}
			t, data, err := decodeRecord(v)
			if err != nil {
				return err
			}
			size := int64(len(k) + len(v))
			if err := dl.Put(k, encodeDead(t, di.err.Error(), data)); err != nil {
				return err
			}
			if err := r.Delete(k); err != nil {
				return err
			}
			qe.count--
			qe.bytes -= size
			qe.dead++
			qe.deadLettered++
			e.outcome(q.id, di.seq, DeadLettered, di.err)
		}
		return nil
	})
}
