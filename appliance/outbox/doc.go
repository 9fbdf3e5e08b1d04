// Package outbox is wedge's durable store-and-forward queue for async
// actions: one FIFO queue per rule action, in a bbolt file of its own
// (data_dir/outbox.db), so that a damaged outbox never touches broker state.
//
// # Writing
//
// Enqueue appends a record to a queue and returns a *Pending at once; its
// Wait returns when the record is on disk (it is the broker's Hold, so a
// QoS 1/2 publish is acknowledged only after its records are durable). One
// writer goroutine takes every pending enqueue (lingering Options.CommitInterval
// to gather more while more than one publisher is writing) and commits them in
// one bbolt transaction: durability costs
// one fsync per group, not per record. Acknowledgements, dead-lettering,
// replays and expiry are committed by the same writer in the same
// transactions. With Durability Fast, Wait returns at once; a crash loses the
// records of the last commit interval.
//
// Each record gets a sequence number, strictly increasing per queue and never
// reused, assigned in Enqueue order. Delivery is at-least-once: a record is
// deleted only after its target acknowledged it, so a crash between the two
// sends it again; targets that must not see duplicates drop a (queue, seq)
// they have seen (connectors pass it along as "rule/action/seq").
//
// # Delivery
//
// Register gives a queue a Deliverer and starts its goroutine: it reads the
// oldest records (up to BatchSize, waiting up to BatchInterval for a batch
// to fill), calls Deliver, deletes what was acknowledged and moves what was
// rejected for good (a Permanent error) to the queue's dead-letter queue. A
// batch rejected as a whole with a Permanent error is bisected until the bad
// records are isolated; the good ones are delivered. A transient error
// retries the same records after an exponential backoff with jitter; after
// BreakerThreshold failures in a row the circuit opens: one record at a time
// at the backoff ceiling, until one succeeds. Retries are driven by timers,
// so a queue drains on its own when its target returns. Enqueue never
// touches the target, so a dead target costs the publish path nothing.
//
// # Bounds
//
// Per queue (MaxRecords, MaxBytes, MaxAge) and in total (MaxTotalRecords,
// MaxTotalBytes); at a records or bytes bound the queue's Policy applies:
// Block (Enqueue waits up to BlockTimeout, then ErrFull), DropOldest, or
// DropNew (ErrFull). Records older than MaxAge expire. A full disk, or the
// file reaching MaxFileBytes, is handled the same way: commits fail cleanly
// (bbolt rolls back), the queue's policy decides, and commits succeed again
// once there is room. Every record that is not delivered is counted, and
// Options.OnOutcome (and EnqueueNotify's per-record callback) hears exactly
// one final outcome per record.
//
// # Time
//
// Ages use the outbox's running time: the monotonic clock since Open plus the
// running time persisted by earlier runs (stored with every commit). A Pi
// without a real-time clock therefore ages records correctly before NTP
// syncs, and the wall clock jumping has no effect; the time while wedge was
// stopped does not count towards MaxAge.
//
// See README.md for the guarantees, loss windows, file-size caps and
// benchmark figures.
package outbox
