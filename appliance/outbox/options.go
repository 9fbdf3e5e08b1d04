package outbox

import (
	"fmt"
	"log/slog"
	"time"
)

// Policy is what happens when a bound is reached.
type Policy string

// Policies at a bound.
const (
	// Block makes Enqueue wait for room, up to QueueOptions.BlockTimeout,
	// then refuse the record with ErrFull.
	Block Policy = "block"
	// DropOldest deletes the queue's oldest records to make room.
	DropOldest Policy = "drop_oldest"
	// DropNew refuses the new record with ErrFull.
	DropNew Policy = "drop_new"
)

// Durability says when an enqueue is acknowledged.
type Durability string

// Durability modes.
const (
	// Durable acknowledges (Pending.Wait returns nil) once the record's group
	// has committed and been fsynced.
	Durable Durability = "durable"
	// Fast acknowledges at once. The loss window: records enqueued less than
	// about CommitInterval plus one commit before a crash or power cut are lost
	// (a clean Close still commits them).
	Fast Durability = "fast"
)

// Outcome is a record's final fate, reported once per record through
// Options.OnOutcome.
type Outcome int

// Outcomes.
const (
	// Delivered: the target acknowledged the record; it is deleted.
	Delivered Outcome = iota
	// DeadLettered: the target rejected it for good; it is in the dead-letter queue.
	DeadLettered
	// Dropped: a bound, age expiry, a full disk, or Remove took it (or it was
	// refused at Enqueue).
	Dropped
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case DeadLettered:
		return "dead_lettered"
	case Dropped:
		return "dropped"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// QueueOptions are one queue's delivery settings and bounds. Zero fields take
// the defaults of DefaultQueueOptions.
type QueueOptions struct {
	BatchSize     int           // records per Deliver call (default 1: no batching)
	BatchInterval time.Duration // wait up to this for a batch to fill (0: send what is there)

	MaxRecords   int64         // bound on queued records (default 100000)
	MaxBytes     int64         // bound on queued bytes: keys, values, headers (default 32 MiB)
	MaxAge       time.Duration // records older than this expire, counted as dropped (0: never; default 0)
	Policy       Policy        // at a bound (default Block)
	BlockTimeout time.Duration // how long Block waits (default 5s)

	RetryBase        time.Duration // first backoff (default 100ms)
	RetryMax         time.Duration // backoff ceiling (default 30s)
	BreakerThreshold int           // consecutive failed attempts that open the circuit (default 5)
	DeliverTimeout   time.Duration // one Deliver call's deadline (default 30s)
}

// DefaultQueueOptions are the defaults of every queue.
func DefaultQueueOptions() QueueOptions {
	return QueueOptions{
		BatchSize:        1,
		MaxRecords:       100_000,
		MaxBytes:         32 << 20,
		Policy:           Block,
		BlockTimeout:     5 * time.Second,
		RetryBase:        100 * time.Millisecond,
		RetryMax:         30 * time.Second,
		BreakerThreshold: 5,
		DeliverTimeout:   30 * time.Second,
	}
}

func (q QueueOptions) withDefaults(d QueueOptions) QueueOptions {
	if q.BatchSize <= 0 {
		q.BatchSize = d.BatchSize
	}
	if q.BatchInterval <= 0 {
		q.BatchInterval = d.BatchInterval
	}
	if q.MaxRecords <= 0 {
		q.MaxRecords = d.MaxRecords
	}
	if q.MaxBytes <= 0 {
		q.MaxBytes = d.MaxBytes
	}
	if q.MaxAge <= 0 {
		q.MaxAge = d.MaxAge
	}
	if q.Policy == "" {
		q.Policy = d.Policy
	}
	if q.BlockTimeout <= 0 {
		q.BlockTimeout = d.BlockTimeout
	}
	if q.RetryBase <= 0 {
		q.RetryBase = d.RetryBase
	}
	if q.RetryMax <= 0 {
		q.RetryMax = d.RetryMax
	}
	if q.RetryMax < q.RetryBase {
		q.RetryMax = q.RetryBase
	}
	if q.BreakerThreshold <= 0 {
		q.BreakerThreshold = d.BreakerThreshold
	}
	if q.DeliverTimeout <= 0 {
		q.DeliverTimeout = d.DeliverTimeout
	}
	return q
}

func (q QueueOptions) validate() error {
	switch q.Policy {
	case Block, DropOldest, DropNew:
	default:
		return fmt.Errorf("outbox: policy %q: must be block, drop_oldest or drop_new", q.Policy)
	}
	return nil
}

// Options configure an Outbox. Zero fields take the defaults below.
type Options struct {
	// Durability: Durable (default) or Fast.
	Durability Durability
	// CommitInterval is how long the writer lingers after the first pending
	// enqueue to gather a larger group (default 1ms; negative: no linger).
	// The writer lingers only while groups hold more than one record: a
	// lone publisher's record is committed at once.
	CommitInterval time.Duration
	// MaxGroup caps the records committed in one transaction (default 8192).
	MaxGroup int
	// MaxTotalRecords and MaxTotalBytes bound all queues together (defaults
	// 1,000,000 and 128 MiB). The queue being written applies its policy.
	MaxTotalRecords int64
	MaxTotalBytes   int64
	// MaxFileBytes caps the bbolt file, which is memory-mapped: on armv7 the
	// whole file must fit the 32-bit address space next to everything else
	// (default 256 MiB). Reaching it is handled like a full disk.
	MaxFileBytes int
	// Queue holds the defaults for queues (bounds apply from the first
	// Enqueue, before Register).
	Queue QueueOptions
	// OnOutcome, when set, is called once per record with its final outcome
	// (on the writer's goroutine after the commit that made it final, or on
	// the caller's goroutine for a record refused by Enqueue; keep it fast,
	// and do not call the Outbox from it). Records refused at Enqueue report Dropped too, so every Enqueue
	// yields exactly one outcome unless the record is still queued.
	OnOutcome func(q QueueID, seq uint64, o Outcome, err error)
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// NoSync disables fsync (tests and benchmarks of the code path only).
	NoSync bool
}

func (o Options) withDefaults() Options {
	if o.Durability == "" {
		o.Durability = Durable
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = time.Millisecond
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = 8192
	}
	if o.MaxTotalRecords <= 0 {
		o.MaxTotalRecords = 1_000_000
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = 128 << 20
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 256 << 20
	}
	o.Queue = o.Queue.withDefaults(DefaultQueueOptions())
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
