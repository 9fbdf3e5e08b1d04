package outbox

import "errors"

// Errors returned by Enqueue's Pending and by the Outbox's methods.
var (
	// ErrFull: a bound (records or bytes, per queue or in total) was reached
	// and the queue's policy refused the record (drop_new, or block after its
	// timeout). The record is counted as dropped.
	ErrFull = errors.New("outbox: queue full")
	// ErrDiskFull: the file could not grow (the disk is full or the file hit
	// Options.MaxFileBytes) and the queue's policy did not make room in time.
	// The record is counted as dropped.
	ErrDiskFull = errors.New("outbox: no space for the outbox file")
	// ErrTooLarge: one record is larger than its queue's byte bound.
	ErrTooLarge = errors.New("outbox: record larger than the queue's byte bound")
	// ErrDropped is the outcome error of a record removed by drop_oldest, by
	// age expiry, or by Remove, before it was delivered.
	ErrDropped = errors.New("outbox: record dropped")
	// ErrClosed: the outbox is closed.
	ErrClosed = errors.New("outbox: closed")
)

// permanent marks an error the target will return again for the same record.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err to say the target rejects the record(s) for good:
// retrying cannot help (an HTTP 4xx, a message too large, a template that
// renders an invalid topic). A Deliverer returns it; the outbox then bisects a
// batch until the bad records are isolated and moves them to the dead-letter
// queue. Any other error is transient: the outbox retries with backoff.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanent{err}
}

// IsPermanent reports whether err (or an error it wraps) was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
