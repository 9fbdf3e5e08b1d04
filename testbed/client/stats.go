package client

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// DefaultRecorderCapacity is the number of samples a [Recorder] keeps exactly
// before it switches to reservoir sampling.
const DefaultRecorderCapacity = 1 << 21

// Recorder collects latency samples and reports percentiles. It keeps every
// sample up to its capacity, then a uniform reservoir sample of them, so its
// memory is bounded whatever the run length. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
	limit   int
	seen    int64
	max     time.Duration
	rng     *rand.Rand
}

// NewRecorder returns a Recorder that keeps at most capacity samples
// (DefaultRecorderCapacity when capacity <= 0).
func NewRecorder(capacity int) *Recorder {
	if capacity <= 0 {
		capacity = DefaultRecorderCapacity
	}
	return &Recorder{limit: capacity, rng: rand.New(rand.NewPCG(1, 2))}
}

// Add records one sample.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.add(d)
	r.mu.Unlock()
}

func (r *Recorder) add(d time.Duration) {
	r.seen++
	if d > r.max {
		r.max = d
	}
	if len(r.samples) < r.limit {
		r.samples = append(r.samples, d)
		return
	}
	if j := r.rng.Int64N(r.seen); j < int64(r.limit) {
		r.samples[j] = d
	}
}

// Merge adds every sample kept by other to r.
func (r *Recorder) Merge(other *Recorder) {
	other.mu.Lock()
	s := slices.Clone(other.samples)
	omax := other.max
	other.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range s {
		r.add(d)
	}
	if omax > r.max {
		r.max = omax
	}
}

// Count returns how many samples were added (kept or not).
func (r *Recorder) Count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// Summary returns the percentiles of the samples recorded so far.
func (r *Recorder) Summary() LatencySummary {
	r.mu.Lock()
	s := slices.Clone(r.samples)
	m := r.max
	n := r.seen
	r.mu.Unlock()
	slices.Sort(s)
	return LatencySummary{
		Count: n,
		P50:   Percentile(s, 50),
		P90:   Percentile(s, 90),
		P99:   Percentile(s, 99),
		Max:   m,
	}
}

// LatencySummary holds the percentiles of a set of latency samples.
type LatencySummary struct {
	// Count is the number of samples added.
	Count int64
	// P50, P90 and P99 are percentiles (nearest rank) of the kept samples.
	P50, P90, P99 time.Duration
	// Max is the largest sample added.
	Max time.Duration
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for an empty slice. sorted must be in ascending
// order.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Tracker accounts for the sequence numbers a subscriber receives from each
// publisher: unique messages, duplicates, and messages that arrived after a
// higher sequence number from the same publisher (out of order). It is safe
// for concurrent use.
type Tracker struct {
	mu   sync.Mutex
	pubs map[uint32]*pubTrack
}

type pubTrack struct {
	seen       []uint64 // bitset of sequence numbers received
	next       uint64   // one past the highest sequence number received
	unique     int64
	duplicates int64
	reordered  int64
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker { return &Tracker{pubs: make(map[uint32]*pubTrack)} }

// Observe records the receipt of message seq from publisher pub. It returns
// false when the message is a duplicate.
func (t *Tracker) Observe(pub uint32, seq uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pubs[pub]
	if p == nil {
		p = &pubTrack{}
		t.pubs[pub] = p
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if word >= uint64(len(p.seen)) {
		p.seen = slices.Grow(p.seen, int(word)+1-len(p.seen))[:word+1]
	}
	if p.seen[word]&bit != 0 {
		p.duplicates++
		return false
	}
	p.seen[word] |= bit
	p.unique++
	if seq+1 < p.next {
		p.reordered++
	} else {
		p.next = seq + 1
	}
	return true
}

// Counts returns the totals over all publishers.
func (t *Tracker) Counts() TrackerCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	var c TrackerCounts
	for _, p := range t.pubs {
		c.Unique += p.unique
		c.Duplicates += p.duplicates
		c.OutOfOrder += p.reordered
	}
	c.Publishers = len(t.pubs)
	return c
}

// Unique returns the number of distinct messages received from publisher pub.
func (t *Tracker) Unique(pub uint32) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.pubs[pub]; p != nil {
		return p.unique
	}
	return 0
}

// Missing returns how many of the first sent messages (sequence numbers 0 to
// sent-1) of publisher pub never arrived.
func (t *Tracker) Missing(pub uint32, sent uint64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pubs[pub]
	var got int64
	if p != nil {
		for seq := uint64(0); seq < sent; seq++ {
			if w := seq / 64; w < uint64(len(p.seen)) && p.seen[w]&(1<<(seq%64)) != 0 {
				got++
			}
		}
	}
	return int64(sent) - got
}

// TrackerCounts are a [Tracker]'s totals.
type TrackerCounts struct {
	// Publishers is the number of distinct publishers heard from.
	Publishers int
	// Unique counts distinct messages.
	Unique int64
	// Duplicates counts messages received more than once (extra copies).
	Duplicates int64
	// OutOfOrder counts messages that arrived after a higher sequence number
	// of the same publisher.
	OutOfOrder int64
}
