package outbox

import (
	"cmp"
	"slices"
	"time"
)

// QueueStats is one queue's entry in GET /api/v4/outbox.
type QueueStats struct {
	Rule   string `json:"rule"`
	Action int    `json:"action"`
	// Depth counts queued records: committed and still being committed.
	Depth int64 `json:"depth"`
	// OldestAgeMs is the oldest committed record's age in outbox running time.
	OldestAgeMs int64 `json:"oldest_age_ms"`
	// Bytes is what the queued records cost against the byte bounds.
	Bytes       int64 `json:"bytes"`
	DeadLetters int64 `json:"dead_letters"`
	// Delivered and Dropped count records since Open.
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	State     State  `json:"state"`
	// Enqueued counts records given to Enqueue (admitted or refused) plus
	// replayed dead letters, and DeadLettered the records ever moved to the
	// dead-letter queue, since Open. One snapshot is consistent:
	// Enqueued = Delivered + DeadLettered + Dropped + Depth (records queued
	// before Open count in Depth only). Not part of the API's JSON.
	Enqueued     uint64 `json:"-"`
	DeadLettered uint64 `json:"-"`
	// LastError is the target's last error while not idle (not in DESIGN's JSON).
	LastError string `json:"-"`
}

func (o *Outbox) statsLocked(q *queue, now int64) QueueStats {
	s := QueueStats{
		Rule: q.id.Rule, Action: q.id.Action,
		Depth: q.count + q.pcount, Bytes: q.bytes + q.pbytes, DeadLetters: q.dead,
		Delivered: q.delivered, Dropped: q.dropped, State: q.state, LastError: q.lastErr,
		Enqueued: q.enqueued, DeadLettered: q.deadLettered,
	}
	if q.count > 0 {
		s.OldestAgeMs = max(0, now-q.head) / int64(time.Millisecond)
	}
	return s
}

// Stats returns every known queue's stats (registered ones and those with
// records or dead letters on disk), sorted by rule and action.
func (o *Outbox) Stats() []QueueStats {
	now := o.clock(time.Now())
	o.mu.Lock()
	out := make([]QueueStats, 0, len(o.queues))
	for _, q := range o.queues {
		out = append(out, o.statsLocked(q, now))
	}
	o.mu.Unlock()
	slices.SortFunc(out, func(a, b QueueStats) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Action, b.Action))
	})
	return out
}

// QueueStats returns one queue's stats; ok is false for an unknown queue.
func (o *Outbox) QueueStats(id QueueID) (s QueueStats, ok bool) {
	now := o.clock(time.Now())
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queues[id]
	if q == nil {
		return QueueStats{}, false
	}
	return o.statsLocked(q, now), true
}
