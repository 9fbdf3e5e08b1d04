package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Bucket layout (schema 1):
//
//	meta    "schema" -> uint32 BE; "clock" -> int64 BE (outbox running time, ns)
//	queues  <queue key> -> bucket { "next" -> uint64 BE next sequence number,
//	                                "r" -> bucket seq BE64 -> record,
//	                                "d" -> bucket seq BE64 -> dead letter }
//	retired <queue key> -> uint64 BE next sequence number of a removed queue,
//	                       so that a queue created again never reuses one
var (
	metaBucket    = []byte("meta")
	queuesBucket  = []byte("queues")
	retiredBucket = []byte("retired")
	recBucket     = []byte("r")
	deadBucket    = []byte("d")
	schemaKey     = []byte("schema")
	clockKey      = []byte("clock")
	nextKey       = []byte("next")
)

const schemaVersion = 1

// Outbox is a durable set of FIFO queues in its own bbolt file, with one
// writer goroutine that group-commits enqueues and one delivery goroutine per
// registered queue. All methods are safe for concurrent use.
type Outbox struct {
	db          *bbolt.DB
	path        string
	quarantined string
	opts        Options
	log         *slog.Logger

	clockBase int64     // outbox running time at open, ns
	opened    time.Time // monotonic reading at open

	mu       sync.Mutex
	queues   map[QueueID]*queue
	retired  map[string]uint64 // next sequence numbers of removed queues
	pend     []*Pending
	ops      []*op
	lazyOps  int           // lazy ops among ops
	space    chan struct{} // closed (and replaced) when room is freed
	count    int64         // committed records, all queues
	bytes    int64         // committed bytes, all queues
	pcount   int64         // pending (not yet committed) records
	pbytes   int64
	diskFull bool
	closed   bool
	roomMade bool // writer only: the last commit's makeRoom freed records

	wake       chan struct{}
	stop       chan struct{}
	writerDone chan struct{}
	janitor    chan struct{}
	bg         sync.WaitGroup
}

// queue is one queue's in-memory state; the records live on disk.
type queue struct {
	id   QueueID
	key  []byte
	opts QueueOptions

	// Written by the writer goroutine under Outbox.mu; read under Outbox.mu
	// (the writer also reads them without it).
	next   uint64 // next sequence number
	count  int64  // committed records
	bytes  int64
	head   int64 // enqueue clock of the oldest committed record (when count > 0)
	dead   int64
	pcount int64 // pending records
	pbytes int64

	notify       map[uint64]func(Outcome, error) // per-record callbacks of committed records
	delivered    uint64
	dropped      uint64
	enqueued     uint64 // records given to Enqueue (admitted or refused) and replayed
	deadLettered uint64 // records ever moved to the dead-letter queue

	// Delivery (nil d: not registered).
	d       Deliverer
	state   State
	lastErr string
	kick    chan struct{}
	cancel  context.CancelFunc
	loop    chan struct{} // closed when the delivery goroutine ends
}

// Open opens (or creates) the outbox file at path. A file that cannot be
// opened or read back because it is damaged is quarantined: renamed aside
// (path + ".quarantined-<time>"), reported by Info and logged at error level,
// and a fresh outbox is started in its place. A file locked by another
// process is an error, not damage.
func Open(path string, opts Options) (*Outbox, error) {
	opts = opts.withDefaults()
	if err := opts.Queue.validate(); err != nil {
		return nil, err
	}
	o := &Outbox{
		path:       path,
		opts:       opts,
		log:        opts.Logger.With("component", "outbox"),
		queues:     make(map[QueueID]*queue),
		space:      make(chan struct{}),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
		janitor:    make(chan struct{}),
	}
	if err := o.openFile(); err != nil {
		return nil, err
	}
	o.opened = time.Now()
	go o.run()
	o.bg.Add(1)
	go o.expireLoop()
	return o, nil
}

func (o *Outbox) boltOptions() *bbolt.Options {
	return &bbolt.Options{
		Timeout: time.Second,
		// The freelist is synced: with NoFreelistSync bbolt rebuilds it at
		// open by walking the tree in a goroutine of its own, which panics
		// (unrecoverably) on a damaged page instead of letting Open quarantine.
		FreelistType: bbolt.FreelistMapType,
		NoSync:       o.opts.NoSync,
		MaxSize:      o.opts.MaxFileBytes,
	}
}

// Path is the outbox file's path.
func (o *Outbox) Path() string { return o.path }

// clock is the outbox's running time at now: the time persisted at the last
// close or commit of a previous run plus the monotonic time since Open.
func (o *Outbox) clock(now time.Time) int64 { return o.clockBase + int64(now.Sub(o.opened)) }

// queueLocked returns the queue's state, creating it. o.mu is held.
func (o *Outbox) queueLocked(id QueueID) *queue {
	q := o.queues[id]
	if q == nil {
		q = &queue{id: id, key: id.key(), opts: o.opts.Queue, next: 1, state: StateUnregistered}
		if n, ok := o.retired[string(q.key)]; ok {
			q.next = n
		}
		o.queues[id] = q
	}
	return q
}

// Enqueue appends data to queue id and returns at once (unless the queue is
// full and its policy is Block: then it waits for room up to BlockTimeout).
// Records of one queue are committed and delivered in the order of their
// Enqueue calls. Wait on the result to know the record is on disk. data is
// copied.
func (o *Outbox) Enqueue(id QueueID, data []byte) *Pending {
	return o.EnqueueNotify(id, data, nil)
}

// EnqueueNotify is Enqueue with a per-record outcome callback: notify (when
// not nil) is called exactly once with the record's final outcome, like
// Options.OnOutcome and right after it, unless the record is still queued
// when the outbox closes (callbacks do not survive a restart; OnOutcome then
// reports the record). It runs on the writer's goroutine (or the caller's,
// for a record refused at once) and must not block.
func (o *Outbox) EnqueueNotify(id QueueID, data []byte, notify func(Outcome, error)) *Pending {
	now := time.Now()
	size := recordSize(len(data))
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return o.refused(id, notify, ErrClosed)
	}
	q := o.queueLocked(id)
	opts := q.opts
	if size > opts.MaxBytes || size > o.opts.MaxTotalBytes {
		q.dropped++
		q.enqueued++
		o.mu.Unlock()
		return o.refused(id, notify, fmt.Errorf("%w (%d bytes, bound %d)", ErrTooLarge, size, opts.MaxBytes))
	}
	var deadline time.Time
	for !o.fitsLocked(q, size) {
		if opts.Policy == DropOldest && q.count+q.pcount > 0 {
			break // the writer deletes the oldest records to make room
		}
		if opts.Policy != Block {
			q.dropped++
			q.enqueued++
			o.mu.Unlock()
			return o.refused(id, notify, ErrFull)
		}
		if deadline.IsZero() {
			deadline = now.Add(opts.BlockTimeout)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			q.dropped++
			q.enqueued++
			o.mu.Unlock()
			return o.refused(id, notify, fmt.Errorf("%w: no room within %v", ErrFull, opts.BlockTimeout))
		}
		space := o.space
		o.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-space:
		case <-t.C:
		}
		t.Stop()
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return o.refused(id, notify, ErrClosed)
		}
	}
	p := &Pending{
		q:        q,
		data:     append([]byte(nil), data...),
		size:     size,
		t:        o.clock(now),
		deadline: now.Add(opts.BlockTimeout),
		policy:   opts.Policy,
		maxRecs:  opts.MaxRecords,
		maxBytes: opts.MaxBytes,
		notify:   notify,
		done:     make(chan struct{}),
	}
	q.pcount++
	q.pbytes += size
	q.enqueued++
	o.pcount++
	o.pbytes += size
	o.pend = append(o.pend, p)
	if o.opts.Durability == Fast {
		p.early = true
		close(p.done)
	}
	o.mu.Unlock()
	kick(o.wake)
	return p
}

// fitsLocked reports whether one more record of size fits q and the totals.
func (o *Outbox) fitsLocked(q *queue, size int64) bool {
	return q.count+q.pcount+1 <= q.opts.MaxRecords &&
		q.bytes+q.pbytes+size <= q.opts.MaxBytes &&
		o.count+o.pcount+1 <= o.opts.MaxTotalRecords &&
		o.bytes+o.pbytes+size <= o.opts.MaxTotalBytes
}

func (o *Outbox) refused(id QueueID, notify func(Outcome, error), err error) *Pending {
	if o.opts.OnOutcome != nil {
		o.opts.OnOutcome(id, 0, Dropped, err)
	}
	if notify != nil {
		notify(Dropped, err)
	}
	return resolved(err)
}

// Register starts delivering queue id to d with opts (zero fields take
// Options.Queue's values). Registering a queue again replaces its deliverer
// and options; the records stay. Records enqueued before Register (or left
// from an earlier run) are delivered from the oldest.
func (o *Outbox) Register(id QueueID, d Deliverer, opts QueueOptions) error {
	opts = opts.withDefaults(o.opts.Queue)
	if err := opts.validate(); err != nil {
		return err
	}
	o.Unregister(id)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	q := o.queueLocked(id)
	q.opts = opts
	q.d = d
	q.state = StateIdle
	q.kick = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	q.loop = make(chan struct{})
	go o.deliverLoop(ctx, q, d, opts, q.kick, q.loop)
	return nil
}

// Unregister stops delivering queue id (waiting for an ongoing Deliver call
// to return). Its records stay queued.
func (o *Outbox) Unregister(id QueueID) {
	o.mu.Lock()
	q := o.queues[id]
	if q == nil || q.d == nil {
		o.mu.Unlock()
		return
	}
	cancel, loop := q.cancel, q.loop
	q.d, q.cancel, q.loop, q.kick = nil, nil, nil, nil
	q.state = StateUnregistered
	o.mu.Unlock()
	cancel()
	<-loop
}

// Remove unregisters queue id and deletes its records and dead letters (each
// record reports Dropped). Use it when the rule or action is deleted.
func (o *Outbox) Remove(id QueueID) error {
	o.Unregister(id)
	err := o.submit(func(tx *bbolt.Tx, e *effects) error {
		qs := tx.Bucket(queuesBucket)
		qb := qs.Bucket(id.key())
		if qb == nil {
			return nil
		}
		o.mu.Lock()
		q := o.queues[id]
		o.mu.Unlock()
		if q == nil {
			return qs.DeleteBucket(id.key())
		}
		qe := e.of(q)
		if r := qb.Bucket(recBucket); r != nil {
			c := r.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				qe.count--
				qe.bytes -= int64(len(k) + len(v))
				qe.dropped++
				e.outcome(id, keySeq(k), Dropped, ErrDropped)
			}
		}
		if d := qb.Bucket(deadBucket); d != nil {
			qe.dead -= int64(d.Stats().KeyN)
		}
		qe.removed = true
		next := qe.next
		if v := qb.Get(nextKey); len(v) == 8 {
			next = max(next, binary.BigEndian.Uint64(v))
		}
		if err := tx.Bucket(retiredBucket).Put(id.key(), be64(next)); err != nil {
			return err
		}
		o.mu.Lock()
		o.retired[string(id.key())] = next
		o.mu.Unlock()
		return qs.DeleteBucket(id.key())
	})
	if err != nil {
		return fmt.Errorf("outbox: remove %s: %w", id, err)
	}
	o.mu.Lock()
	if q := o.queues[id]; q != nil && q.d == nil && q.pcount == 0 && q.count == 0 {
		delete(o.queues, id)
	}
	o.mu.Unlock()
	return nil
}

// Close stops delivery, commits what is pending, and closes the file.
// Pending records that cannot be committed fail with their error.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	var ids []QueueID
	for id, q := range o.queues {
		if q.d != nil {
			ids = append(ids, id)
		}
	}
	o.mu.Unlock()
	for _, id := range ids {
		o.Unregister(id)
	}
	o.mu.Lock()
	o.closed = true
	close(o.space)
	o.space = make(chan struct{})
	o.mu.Unlock()
	close(o.janitor)
	o.bg.Wait()
	close(o.stop)
	<-o.writerDone
	err := o.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(metaBucket).Put(clockKey, be64(uint64(o.clock(time.Now()))))
	})
	if cerr := o.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	return nil
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// errorsIsAny reports whether err is one of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
