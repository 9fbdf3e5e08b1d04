package client

import (
	"sync"
	"testing"
	"time"
)

func durations(ms ...int) []time.Duration {
	d := make([]time.Duration, len(ms))
	for i, v := range ms {
		d[i] = time.Duration(v) * time.Millisecond
	}
	return d
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", durations(7), 50, 7 * time.Millisecond},
		{"single p99", durations(7), 99, 7 * time.Millisecond},
		{"p0 is min", durations(1, 2, 3), 0, time.Millisecond},
		{"p100 is max", durations(1, 2, 3), 100, 3 * time.Millisecond},
		{"p50 of odd", durations(1, 2, 3), 50, 2 * time.Millisecond},
		{"p50 of even nearest rank", durations(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of 100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p99.9 of 100", hundred, 99.9, 100 * time.Millisecond},
		{"p1 of 100", hundred, 1, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRecorderSummary(t *testing.T) {
	r := NewRecorder(0)
	// Added out of order: the summary sorts.
	for i := 1000; i >= 1; i-- {
		r.Add(time.Duration(i) * time.Microsecond)
	}
	s := r.Summary()
	if s.Count != 1000 || s.P50 != 500*time.Microsecond || s.P90 != 900*time.Microsecond ||
		s.P99 != 990*time.Microsecond || s.Max != 1000*time.Microsecond {
		t.Fatalf("summary = %+v", s)
	}
}

func TestRecorderReservoirIsBounded(t *testing.T) {
	r := NewRecorder(100)
	for i := range 10000 {
		r.Add(time.Duration(i))
	}
	if r.Count() != 10000 {
		t.Fatalf("count = %d", r.Count())
	}
	if n := len(r.samples); n != 100 {
		t.Fatalf("kept %d samples, want 100", n)
	}
	s := r.Summary()
	if s.Max != 9999 {
		t.Fatalf("max = %v, want the true maximum 9999", s.Max)
	}
	// A uniform sample of 0..9999: its median is near 5000.
	if s.P50 < 3000 || s.P50 > 7000 {
		t.Fatalf("p50 = %v, far from 5000", s.P50)
	}
}

func TestRecorderMergeAndConcurrency(t *testing.T) {
	a, b := NewRecorder(0), NewRecorder(0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				a.Add(time.Duration(g*250+i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	b.Add(5 * time.Second)
	a.Merge(b)
	s := a.Summary()
	if s.Count != 1001 || s.Max != 5*time.Second {
		t.Fatalf("summary = %+v", s)
	}
}

func TestTracker(t *testing.T) {
	type obs struct {
		pub uint32
		seq uint64
	}
	tests := []struct {
		name string
		in   []obs
		want TrackerCounts
		// missing[pub] with sent[pub] messages sent.
		sent    map[uint32]uint64
		missing map[uint32]int64
	}{
		{
			name: "in order",
			in:   []obs{{1, 0}, {1, 1}, {1, 2}},
			want: TrackerCounts{Publishers: 1, Unique: 3},
			sent: map[uint32]uint64{1: 3}, missing: map[uint32]int64{1: 0},
		},
		{
			name: "gap counts as missing, not reordered",
			in:   []obs{{1, 0}, {1, 2}, {1, 3}},
			want: TrackerCounts{Publishers: 1, Unique: 3},
			sent: map[uint32]uint64{1: 4}, missing: map[uint32]int64{1: 1},
		},
		{
			name: "late arrival is out of order",
			in:   []obs{{1, 0}, {1, 2}, {1, 1}},
			want: TrackerCounts{Publishers: 1, Unique: 3, OutOfOrder: 1},
			sent: map[uint32]uint64{1: 3}, missing: map[uint32]int64{1: 0},
		},
		{
			name: "duplicates",
			in:   []obs{{1, 0}, {1, 0}, {1, 1}, {1, 0}},
			want: TrackerCounts{Publishers: 1, Unique: 2, Duplicates: 2},
			sent: map[uint32]uint64{1: 2}, missing: map[uint32]int64{1: 0},
		},
		{
			name: "publishers are independent",
			in:   []obs{{1, 0}, {2, 5}, {1, 1}, {2, 0}},
			want: TrackerCounts{Publishers: 2, Unique: 4, OutOfOrder: 1},
			sent: map[uint32]uint64{1: 2, 2: 6, 3: 10}, missing: map[uint32]int64{1: 0, 2: 4, 3: 10},
		},
		{
			name: "sequence numbers beyond a word",
			in:   []obs{{9, 200}, {9, 63}, {9, 64}},
			want: TrackerCounts{Publishers: 1, Unique: 3, OutOfOrder: 2},
			sent: map[uint32]uint64{9: 201}, missing: map[uint32]int64{9: 198},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			for _, o := range tt.in {
				tr.Observe(o.pub, o.seq)
			}
			if got := tr.Counts(); got != tt.want {
				t.Fatalf("counts = %+v, want %+v", got, tt.want)
			}
			for pub, sent := range tt.sent {
				if got := tr.Missing(pub, sent); got != tt.missing[pub] {
					t.Errorf("Missing(%d, %d) = %d, want %d", pub, sent, got, tt.missing[pub])
				}
			}
		})
	}
}

func TestTrackerObserveReportsDuplicates(t *testing.T) {
	tr := NewTracker()
	if !tr.Observe(1, 10) || tr.Observe(1, 10) || tr.Unique(1) != 1 || tr.Unique(2) != 0 {
		t.Fatal("Observe/Unique disagree on duplicates")
	}
}
