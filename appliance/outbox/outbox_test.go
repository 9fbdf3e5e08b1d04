package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEnqueueDeliverInOrder(t *testing.T) {
	o := openTest(t, tempPath(t), Options{})
	defer o.Close()
	tg := newTarget()
	ids := []QueueID{{"r1", 0}, {"r1", 1}, {"r2", 0}}
	want := map[QueueID][][]byte{}
	var ps []*Pending
	for i := range 600 {
		id := ids[i%3]
		want[id] = append(want[id], payload(i))
		ps = append(ps, o.Enqueue(id, payload(i)))
		if i == 300 { // half before Register, half after
			for _, id := range ids {
				if err := o.Register(id, tg, QueueOptions{BatchSize: 7}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, p := range ps {
		mustWait(t, p)
	}
	for _, id := range ids {
		eventually(t, 10*time.Second, "all delivered", func() bool { return tg.count(id) == len(want[id]) })
		checkOrder(t, tg.records(id), want[id])
		eventually(t, time.Second, "stats settle", func() bool {
			s := stats(t, o, id)
			return s.Depth == 0 && s.Delivered == uint64(len(want[id])) && s.State == StateIdle && s.Bytes == 0
		})
	}
	for _, n := range tg.batch {
		if n > 7 {
			t.Fatalf("batch of %d records, BatchSize is 7", n)
		}
	}
}

func TestRestartKeepsRecordsAndSequence(t *testing.T) {
	path := tempPath(t)
	id := QueueID{"rule-ü/with/slashes", 3}
	o := openTest(t, path, Options{})
	var want [][]byte
	for i := range 50 {
		want = append(want, payload(i))
		mustWait(t, o.Enqueue(id, payload(i)))
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openTest(t, path, Options{})
	if s := stats(t, o, id); s.Depth != 50 || s.Bytes != 50*recordSize(len(payload(0))) || s.State != StateUnregistered {
		t.Fatalf("after reopen: %+v", s)
	}
	tg := newTarget()
	if err := o.Register(id, tg, QueueOptions{BatchSize: 16}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "delivered", func() bool { return tg.count(id) == 50 })
	checkOrder(t, tg.records(id), want)
	last := tg.records(id)[49].Seq
	// A new record after everything was delivered and deleted gets a larger
	// sequence number, also after another restart.
	eventually(t, time.Second, "deleted", func() bool { return stats(t, o, id).Depth == 0 })
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openTest(t, path, Options{})
	defer o.Close()
	p := o.Enqueue(id, []byte("after"))
	mustWait(t, p)
	if p.Seq() <= last {
		t.Fatalf("seq %d reused (last delivered %d)", p.Seq(), last)
	}
}

func TestBisectIsolatesBadRecords(t *testing.T) {
	o := openTest(t, tempPath(t), Options{})
	defer o.Close()
	id := QueueID{"r", 0}
	tg := newTarget()
	bad := map[string]bool{string(payload(13)): true, string(payload(40)): true}
	// The target rejects a whole batch that contains a bad record, without
	// saying which one (as most HTTP and SQL targets do).
	tg.set(func(recs []Record) BatchResult {
		for _, r := range recs {
			if bad[string(r.Data)] {
				return BatchResult{Err: Permanent(fmt.Errorf("invalid record %s", r.Data))}
			}
		}
		return BatchResult{}
	})
	var want [][]byte
	for i := range 64 {
		if !bad[string(payload(i))] {
			want = append(want, payload(i))
		}
		mustWait(t, o.Enqueue(id, payload(i)))
	}
	if err := o.Register(id, tg, QueueOptions{BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "good records delivered", func() bool { return tg.count(id) == 62 })
	checkOrder(t, tg.records(id), want)
	eventually(t, time.Second, "dead letters", func() bool { return stats(t, o, id).DeadLetters == 2 })
	dl, err := o.DeadLetters(id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 2 || string(dl[0].Data) != string(payload(13)) || string(dl[1].Data) != string(payload(40)) ||
		!strings.Contains(dl[0].Error, "invalid record rec-000013") {
		t.Fatalf("dead letters: %+v", dl)
	}
	// Replay after the target is fixed: both arrive, in their order.
	tg.set(nil)
	n, err := o.Replay(id)
	if err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	eventually(t, 5*time.Second, "replayed", func() bool { return tg.count(id) == 64 })
	got := tg.records(id)
	if string(got[62].Data) != string(payload(13)) || string(got[63].Data) != string(payload(40)) || got[62].Seq <= got[61].Seq {
		t.Fatalf("replayed records: %q %q", got[62].Data, got[63].Data)
	}
	if s := stats(t, o, id); s.DeadLetters != 0 {
		t.Fatalf("dead letters after replay: %+v", s)
	}
}

func TestPerRecordErrorsAndPurge(t *testing.T) {
	var outcomes sync.Map
	o := openTest(t, tempPath(t), Options{OnOutcome: func(q QueueID, seq uint64, oc Outcome, err error) {
		outcomes.Store(seq, oc)
	}})
	defer o.Close()
	id := QueueID{"r", 1}
	tg := newTarget()
	tg.set(func(recs []Record) BatchResult {
		errs := make([]error, len(recs))
		for i, r := range recs {
			if r.Seq%5 == 0 {
				errs[i] = Permanent(errors.New("rejected"))
			}
		}
		return BatchResult{Errs: errs}
	})
	for i := range 20 {
		mustWait(t, o.Enqueue(id, payload(i)))
	}
	if err := o.Register(id, tg, QueueOptions{BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "settled", func() bool { s := stats(t, o, id); return s.Depth == 0 && s.DeadLetters == 4 })
	if tg.count(id) != 16 {
		t.Fatalf("delivered %d, want 16", tg.count(id))
	}
	for seq := uint64(1); seq <= 20; seq++ {
		v, ok := outcomes.Load(seq)
		want := Delivered
		if seq%5 == 0 {
			want = DeadLettered
		}
		if !ok || v.(Outcome) != want {
			t.Fatalf("seq %d: outcome %v, want %v", seq, v, want)
		}
	}
	n, err := o.Purge(id)
	if err != nil || n != 4 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if s := stats(t, o, id); s.DeadLetters != 0 {
		t.Fatalf("after purge: %+v", s)
	}
	if dl, _ := o.DeadLetters(id, 0); len(dl) != 0 {
		t.Fatalf("dead letters after purge: %d", len(dl))
	}
}

func TestBackoffCircuitBreakerAndSelfDraining(t *testing.T) {
	o := openTest(t, tempPath(t), Options{})
	defer o.Close()
	id := QueueID{"flaky", 0}
	tg := newTarget()
	var down atomic.Bool
	down.Store(true)
	tg.set(func(recs []Record) BatchResult {
		if down.Load() {
			return BatchResult{Err: errors.New("connection refused")}
		}
		return BatchResult{}
	})
	var want [][]byte
	for i := range 30 {
		want = append(want, payload(i))
		mustWait(t, o.Enqueue(id, payload(i)))
	}
	if err := o.Register(id, tg, QueueOptions{BatchSize: 10, RetryBase: 2 * time.Millisecond, RetryMax: 40 * time.Millisecond, BreakerThreshold: 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "circuit opens", func() bool { return stats(t, o, id).State == StateOpenCircuit })
	if s := stats(t, o, id); !strings.Contains(s.LastError, "connection refused") || s.Depth != 30 {
		t.Fatalf("open circuit stats: %+v", s)
	}
	// While open, attempts are paced by the backoff ceiling and probe one record.
	tg.mu.Lock()
	c0 := tg.calls
	tg.mu.Unlock()
	time.Sleep(400 * time.Millisecond)
	tg.mu.Lock()
	c1, lastBatch := tg.calls, tg.batch[len(tg.batch)-1]
	tg.mu.Unlock()
	if c1-c0 > 400/20+2 { // at least RetryMax/2 between attempts
		t.Fatalf("%d attempts in 400ms with a 40ms backoff ceiling", c1-c0)
	}
	if c1-c0 < 3 {
		t.Fatalf("only %d probes in 400ms", c1-c0)
	}
	if lastBatch != 1 {
		t.Fatalf("probe batch of %d records, want 1", lastBatch)
	}
	// The target comes back: the queue drains with no new traffic.
	down.Store(false)
	eventually(t, 5*time.Second, "drained", func() bool { return tg.count(id) == 30 })
	checkOrder(t, tg.records(id), want)
	eventually(t, time.Second, "idle", func() bool { s := stats(t, o, id); return s.State == StateIdle && s.LastError == "" })
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	for n := 1; n <= 12; n++ {
		want := min(10*time.Millisecond<<(n-1), time.Second)
		for range 50 {
			d := Backoff(10*time.Millisecond, time.Second, n)
			if d < want/2 || d >= want {
				t.Fatalf("Backoff(n=%d) = %v, want in [%v, %v)", n, d, want/2, want)
			}
		}
	}
}

func TestBoundsPolicies(t *testing.T) {
	rec := recordSize(len(payload(0)))
	cases := []struct {
		name       string
		q          QueueOptions
		n          int
		wantErr    error
		wantDepth  int64
		wantDrop   uint64
		firstKept  int // payload index of the oldest record kept
		totalBound int64
	}{
		{name: "drop_new records", q: QueueOptions{Policy: DropNew, MaxRecords: 10}, n: 15, wantErr: ErrFull, wantDepth: 10, wantDrop: 5, firstKept: 0},
		{name: "drop_new bytes", q: QueueOptions{Policy: DropNew, MaxBytes: 4 * rec}, n: 6, wantErr: ErrFull, wantDepth: 4, wantDrop: 2, firstKept: 0},
		{name: "drop_oldest records", q: QueueOptions{Policy: DropOldest, MaxRecords: 10}, n: 15, wantDepth: 10, wantDrop: 5, firstKept: 5},
		{name: "drop_oldest bytes", q: QueueOptions{Policy: DropOldest, MaxBytes: 4 * rec}, n: 6, wantDepth: 4, wantDrop: 2, firstKept: 2},
		{name: "block times out", q: QueueOptions{Policy: Block, MaxRecords: 5, BlockTimeout: 30 * time.Millisecond}, n: 7, wantErr: ErrFull, wantDepth: 5, wantDrop: 2, firstKept: 0},
		{name: "total bound", q: QueueOptions{Policy: DropNew}, n: 9, wantErr: ErrFull, wantDepth: 8, wantDrop: 1, totalBound: 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dropped atomic.Int64
			o := openTest(t, tempPath(t), Options{Queue: tc.q, MaxTotalRecords: tc.totalBound, OnOutcome: func(_ QueueID, _ uint64, oc Outcome, _ error) {
				if oc == Dropped {
					dropped.Add(1)
				}
			}})
			defer o.Close()
			id := QueueID{"b", 0}
			var errs []error
			for i := range tc.n {
				if err := o.Enqueue(id, payload(i)).Wait(context.Background()); err != nil {
					errs = append(errs, err)
				}
			}
			if tc.wantErr == nil && len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if tc.wantErr != nil && (uint64(len(errs)) != tc.wantDrop || !errors.Is(errs[0], tc.wantErr)) {
				t.Fatalf("errors %v, want %d × %v", errs, tc.wantDrop, tc.wantErr)
			}
			s := stats(t, o, id)
			if s.Depth != tc.wantDepth || s.Dropped != tc.wantDrop || dropped.Load() != int64(tc.wantDrop) {
				t.Fatalf("stats %+v (outcomes dropped %d), want depth %d dropped %d", s, dropped.Load(), tc.wantDepth, tc.wantDrop)
			}
			tg := newTarget()
			if err := o.Register(id, tg, QueueOptions{BatchSize: 100}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "delivered", func() bool { return tg.count(id) == int(tc.wantDepth) })
			if got := tg.records(id)[0].Data; string(got) != string(payload(tc.firstKept)) {
				t.Fatalf("oldest kept %q, want %q", got, payload(tc.firstKept))
			}
		})
	}
}

func TestBlockWaitsForRoom(t *testing.T) {
	o := openTest(t, tempPath(t), Options{Queue: QueueOptions{Policy: Block, MaxRecords: 5, BlockTimeout: 10 * time.Second}})
	defer o.Close()
	id := QueueID{"b", 0}
	for i := range 5 {
		mustWait(t, o.Enqueue(id, payload(i)))
	}
	done := make(chan *Pending)
	go func() { done <- o.Enqueue(id, payload(5)) }()
	select {
	case <-done:
		t.Fatal("Enqueue did not block at the bound")
	case <-time.After(50 * time.Millisecond):
	}
	tg := newTarget()
	if err := o.Register(id, tg, QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	mustWait(t, <-done)
	eventually(t, 5*time.Second, "all delivered", func() bool { return tg.count(id) == 6 })
	if s := stats(t, o, id); s.Dropped != 0 {
		t.Fatalf("dropped %d", s.Dropped)
	}
}

func TestTooLargeAndClosed(t *testing.T) {
	o := openTest(t, tempPath(t), Options{Queue: QueueOptions{MaxBytes: 100}})
	id := QueueID{"b", 0}
	if err := o.Enqueue(id, make([]byte, 200)).Wait(context.Background()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large record: %v", err)
	}
	o.Close()
	if err := o.Enqueue(id, []byte("x")).Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestMaxAgeExpires(t *testing.T) {
	var expired atomic.Int64
	o := openTest(t, tempPath(t), Options{Queue: QueueOptions{MaxAge: 400 * time.Millisecond}, OnOutcome: func(_ QueueID, _ uint64, oc Outcome, err error) {
		if oc == Dropped && errors.Is(err, ErrDropped) {
			expired.Add(1)
		}
	}})
	defer o.Close()
	id := QueueID{"age", 0}
	for i := range 3 {
		mustWait(t, o.Enqueue(id, payload(i)))
	}
	if s := stats(t, o, id); s.OldestAgeMs > 400 || s.Depth != 3 {
		t.Fatalf("before expiry: %+v", s)
	}
	eventually(t, 3*time.Second, "old records expire", func() bool { return stats(t, o, id).Depth == 0 })
	mustWait(t, o.Enqueue(id, []byte("fresh")))
	if s := stats(t, o, id); s.Dropped != 3 || expired.Load() != 3 || s.Depth != 1 {
		t.Fatalf("after expiry: %+v, outcomes %d", s, expired.Load())
	}
	eventually(t, 3*time.Second, "the fresh one expires in turn", func() bool { return stats(t, o, id).Depth == 0 })
}

func TestAgeSurvivesRestartInRunningTime(t *testing.T) {
	path := tempPath(t)
	o := openTest(t, path, Options{})
	id := QueueID{"age", 0}
	mustWait(t, o.Enqueue(id, []byte("x")))
	time.Sleep(120 * time.Millisecond)
	o.Close()
	time.Sleep(200 * time.Millisecond) // time closed does not count
	o = openTest(t, path, Options{})
	defer o.Close()
	s := stats(t, o, id)
	if s.OldestAgeMs < 120 || s.OldestAgeMs > 300 {
		t.Fatalf("oldest_age_ms after restart = %d, want about 120", s.OldestAgeMs)
	}
}

func TestFastDurabilityAcknowledgesAtOnce(t *testing.T) {
	path := tempPath(t)
	o := openTest(t, path, Options{Durability: Fast, CommitInterval: 50 * time.Millisecond})
	id := QueueID{"f", 0}
	p := o.Enqueue(id, []byte("x"))
	select {
	case <-p.Done():
	default:
		t.Fatal("fast mode: Pending not done at once")
	}
	if err := o.Close(); err != nil { // a clean close commits it
		t.Fatal(err)
	}
	o = openTest(t, path, Options{})
	defer o.Close()
	if s := stats(t, o, id); s.Depth != 1 {
		t.Fatalf("after clean close: %+v", s)
	}
}

func TestRemoveDeletesQueue(t *testing.T) {
	o := openTest(t, tempPath(t), Options{})
	id := QueueID{"gone", 0}
	for i := range 4 {
		mustWait(t, o.Enqueue(id, payload(i)))
	}
	if err := o.Remove(id); err != nil {
		t.Fatal(err)
	}
	if s, ok := o.QueueStats(id); ok {
		t.Fatalf("queue still listed: %+v", s)
	}
	if i := o.Info(); i.Records != 0 || i.Bytes != 0 {
		t.Fatalf("info after remove: %+v", i)
	}
	// A queue created again with the same id never reuses a sequence number,
	// also after a restart.
	path := o.Path()
	o.Close()
	o = openTest(t, path, Options{})
	defer o.Close()
	p := o.Enqueue(id, []byte("again"))
	mustWait(t, p)
	if p.Seq() <= 4 {
		t.Fatalf("seq %d reused after Remove", p.Seq())
	}
}

// TestOutcomesAddUp samples under concurrency that every record taken is
// delivered, dead-lettered, dropped or still queued, at every moment.
func TestOutcomesAddUp(t *testing.T) {
	var delivered, dead, dropped atomic.Int64
	o := openTest(t, tempPath(t), Options{Queue: QueueOptions{MaxRecords: 200, Policy: DropOldest}, OnOutcome: func(_ QueueID, _ uint64, oc Outcome, _ error) {
		switch oc {
		case Delivered:
			delivered.Add(1)
		case DeadLettered:
			dead.Add(1)
		case Dropped:
			dropped.Add(1)
		}
	}})
	defer o.Close()
	id := QueueID{"m", 0}
	tg := newTarget()
	tg.set(func(recs []Record) BatchResult {
		errs := make([]error, len(recs))
		for i, r := range recs {
			if r.Data[len(r.Data)-1] == '7' {
				errs[i] = Permanent(errors.New("no sevens"))
			}
		}
		return BatchResult{Errs: errs}
	})
	if err := o.Register(id, tg, QueueOptions{BatchSize: 16}); err != nil {
		t.Fatal(err)
	}
	var taken atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Count before Enqueue: the outcome may come before Enqueue returns.
				taken.Add(1)
				p := o.Enqueue(id, payload(w*1_000_000+i))
				if i%16 == 0 { // publishers wait for their acknowledgements now and then
					_ = p.Wait(context.Background())
				}
			}
		}()
	}
	check := func() {
		// One snapshot is exact: every record given to Enqueue is delivered,
		// dead-lettered, dropped or still queued.
		s := stats(t, o, id)
		if s.Enqueued != s.Delivered+s.DeadLettered+s.Dropped+uint64(s.Depth) {
			t.Fatalf("snapshot: enqueued %d != delivered %d + dead %d + dropped %d + depth %d", s.Enqueued, s.Delivered, s.DeadLettered, s.Dropped, s.Depth)
		}
		// The callbacks lag the snapshot a little, never lead it: read them
		// first, then the queue, then taken.
		sum := delivered.Load() + dead.Load() + dropped.Load()
		s = stats(t, o, id)
		if tk := taken.Load(); sum+s.Depth > tk {
			t.Fatalf("outcomes %d + queued %d > taken %d", sum, s.Depth, tk)
		}
	}
	for range 50 {
		check()
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	eventually(t, 10*time.Second, "quiet", func() bool { return stats(t, o, id).Depth == 0 })
	s := stats(t, o, id)
	sum := delivered.Load() + dead.Load() + dropped.Load()
	check()
	if sum != taken.Load() || uint64(taken.Load()) != s.Enqueued || uint64(delivered.Load()) != s.Delivered || uint64(dropped.Load()) != s.Dropped || dead.Load() != s.DeadLetters {
		t.Fatalf("taken %d, delivered %d dead %d dropped %d; stats %+v", taken.Load(), delivered.Load(), dead.Load(), dropped.Load(), s)
	}
	if delivered.Load() == 0 || dead.Load() == 0 {
		t.Fatalf("test did not exercise both outcomes: delivered %d dead %d", delivered.Load(), dead.Load())
	}
}

func TestQuarantineDamagedFile(t *testing.T) {
	for _, where := range []string{"header", "middle"} {
		t.Run(where, func(t *testing.T) {
			path := tempPath(t)
			o := openTest(t, path, Options{})
			id := QueueID{"q", 0}
			for i := range 2000 {
				o.Enqueue(id, payload(i))
			}
			mustWait(t, o.Enqueue(id, []byte("last")))
			o.Close()
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			off := int64(0)
			if where == "middle" {
				off = 4 * 4096 // past both meta pages: the tree's pages
			}
			garbage := []byte(strings.Repeat("\xde\xad\xbe\xef garbage ", 1024))
			for ; off < st.Size()/2+int64(len(garbage)) && off < st.Size(); off += int64(len(garbage)) {
				if _, err := f.WriteAt(garbage, off); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
			o, err = Open(path, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatalf("Open of a damaged file: %v", err)
			}
			defer o.Close()
			info := o.Info()
			if info.Quarantined == "" || !strings.HasPrefix(info.Quarantined, path+".quarantined-") {
				t.Fatalf("not quarantined: %+v", info)
			}
			if _, err := os.Stat(info.Quarantined); err != nil {
				t.Fatalf("quarantined file: %v", err)
			}
			if len(o.Stats()) != 0 {
				t.Fatalf("fresh outbox has queues: %+v", o.Stats())
			}
			mustWait(t, o.Enqueue(id, []byte("fresh")))
		})
	}
}

func TestLockedFileIsNotQuarantined(t *testing.T) {
	path := tempPath(t)
	o := openTest(t, path, Options{})
	defer o.Close()
	_, err := Open(path, Options{Logger: quietLogger()})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	if _, serr := os.Stat(path); serr != nil {
		t.Fatalf("locked file was moved: %v", serr)
	}
}

// TestEnqueueNotify: each record's own callback hears its final outcome
// exactly once: delivered, dead-lettered, dropped by drop_oldest, refused.
func TestEnqueueNotify(t *testing.T) {
	o := openTest(t, tempPath(t), Options{Queue: QueueOptions{MaxRecords: 8, Policy: DropOldest}})
	defer o.Close()
	id := QueueID{"n", 0}
	var mu sync.Mutex
	got := map[int][]Outcome{}
	enqueue := func(q QueueID, i int, data []byte) *Pending {
		return o.EnqueueNotify(q, data, func(oc Outcome, err error) {
			mu.Lock()
			got[i] = append(got[i], oc)
			mu.Unlock()
		})
	}
	// 12 records into a bound of 8 with drop_oldest: 0..3 dropped.
	for i := range 12 {
		data := payload(i)
		if i == 9 {
			data = []byte("bad")
		}
		mustWait(t, enqueue(id, i, data))
	}
	// Refused at once: larger than the queue's byte bound.
	big := QueueID{"n", 1}
	if err := o.Register(big, newTarget(), QueueOptions{MaxBytes: 64, Policy: DropNew}); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(big, 100, make([]byte, 100)).Wait(context.Background()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large record: %v", err)
	}
	tg := newTarget()
	tg.set(func(recs []Record) BatchResult {
		errs := make([]error, len(recs))
		for i, r := range recs {
			if string(r.Data) == "bad" {
				errs[i] = Permanent(errors.New("bad"))
			}
		}
		return BatchResult{Errs: errs}
	})
	if err := o.Register(id, tg, QueueOptions{BatchSize: 4}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "all outcomes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 13
	})
	time.Sleep(20 * time.Millisecond) // a second call would show up here
	mu.Lock()
	defer mu.Unlock()
	for i, ocs := range got {
		want := Delivered
		switch {
		case i < 4 || i == 100:
			want = Dropped
		case i == 9:
			want = DeadLettered
		}
		if len(ocs) != 1 || ocs[0] != want {
			t.Errorf("record %d: outcomes %v, want [%v]", i, ocs, want)
		}
	}
}
