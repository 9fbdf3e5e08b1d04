package outbox

import (
	"time"

	"go.etcd.io/bbolt"
)

// expireEvery is how often queues with a MaxAge are checked.
const expireEvery = 250 * time.Millisecond

// expireLoop drops records older than their queue's MaxAge.
func (o *Outbox) expireLoop() {
	defer o.bg.Done()
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	for {
		select {
		case <-o.janitor:
			return
		case <-t.C:
		}
		now := o.clock(time.Now())
		o.mu.Lock()
		type expiry struct {
			q     *queue
			limit int64 // records enqueued before this clock value expire
		}
		var due []expiry
		for _, q := range o.queues {
			if q.opts.MaxAge > 0 && q.count > 0 && now-q.head > int64(q.opts.MaxAge) {
				due = append(due, expiry{q, now - int64(q.opts.MaxAge)})
			}
		}
		o.mu.Unlock()
		if len(due) == 0 {
			continue
		}
		err := o.submit(func(tx *bbolt.Tx, e *effects) error {
			for _, x := range due {
				q, limit := x.q, x.limit
				qb := tx.Bucket(queuesBucket).Bucket(q.key)
				if qb == nil {
					continue
				}
				r := qb.Bucket(recBucket)
				for {
					k, v := r.Cursor().First()
					if k == nil {
						break
					}
					if t, _, err := decodeRecord(v); err != nil || t >= limit {
						break
					}
					dropHead(r, q, e)
				}
			}
			return nil
		})
		if err != nil && err != ErrClosed {
			o.log.Warn("outbox: expiring old records failed", "err", err)
		}
	}
}
