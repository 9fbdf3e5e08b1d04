package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// target is an in-process delivery target that records what it accepted.
type target struct {
	mu     sync.Mutex
	got    map[QueueID][]Record
	calls  int
	batch  []int // sizes of the batches it saw
	decide func(recs []Record) BatchResult
}

func newTarget() *target { return &target{got: make(map[QueueID][]Record)} }

func (t *target) Deliver(ctx context.Context, recs []Record) BatchResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	t.batch = append(t.batch, len(recs))
	res := BatchResult{}
	if t.decide != nil {
		res = t.decide(recs)
	}
	for i, r := range recs {
		if (res.Errs == nil && res.Err == nil) || (res.Errs != nil && res.Errs[i] == nil) {
			t.got[r.Queue] = append(t.got[r.Queue], r)
		}
	}
	return res
}

func (t *target) set(decide func(recs []Record) BatchResult) {
	t.mu.Lock()
	t.decide = decide
	t.mu.Unlock()
}

func (t *target) records(q QueueID) []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Record(nil), t.got[q]...)
}

func (t *target) count(q QueueID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.got[q])
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, path string, opts Options) *Outbox {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	o, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return o
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "outbox.db") }

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func mustWait(t testing.TB, p *Pending) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func payload(i int) []byte { return fmt.Appendf(nil, "rec-%06d", i) }

// checkOrder fails unless recs hold exactly want's payloads in order, with
// strictly increasing sequence numbers.
func checkOrder(t testing.TB, recs []Record, want [][]byte) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	var last uint64
	for i, r := range recs {
		if string(r.Data) != string(want[i]) {
			t.Fatalf("record %d: got %q, want %q", i, r.Data, want[i])
		}
		if r.Seq <= last {
			t.Fatalf("record %d: seq %d not after %d", i, r.Seq, last)
		}
		last = r.Seq
	}
}

func stats(t testing.TB, o *Outbox, id QueueID) QueueStats {
	t.Helper()
	s, ok := o.QueueStats(id)
	if !ok {
		t.Fatalf("no stats for %s", id)
	}
	return s
}
