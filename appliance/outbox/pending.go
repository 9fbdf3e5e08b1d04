package outbox

import (
	"context"
	"time"
)

// Pending is one enqueued record on its way to disk. It satisfies the
// broker's Hold interface: the broker waits on it before acknowledging a
// QoS 1/2 publish.
type Pending struct {
	q        *queue
	data     []byte
	size     int64
	t        int64     // outbox clock at Enqueue
	deadline time.Time // when a record waiting for disk space gives up
	policy   Policy
	maxRecs  int64
	maxBytes int64
	early    bool // Fast durability: done was closed at Enqueue
	notify   func(Outcome, error)

	seq  uint64
	err  error
	done chan struct{}
}

// Wait returns nil once the record is committed to disk (at once with Fast
// durability), or the error that refused it (ErrFull, ErrDiskFull,
// ErrTooLarge, ErrClosed, or a disk error), or ctx's error if ctx ends first
// (the record's fate is then still decided, and reported through OnOutcome).
func (p *Pending) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when Wait would return without blocking.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Seq is the record's sequence number in its queue, valid once Wait has
// returned nil in Durable mode (0 before, and in Fast mode).
func (p *Pending) Seq() uint64 {
	select {
	case <-p.done:
		if p.early {
			return 0
		}
		return p.seq
	default:
		return 0
	}
}

func resolved(err error) *Pending {
	p := &Pending{err: err, done: make(chan struct{})}
	close(p.done)
	return p
}
