package outbox

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Target behaviours the property test switches between.
const (
	modeOK        = iota
	modeDown      // every batch fails transiently
	modePartial   // a prefix is acknowledged, the rest fails transiently
	modeSlowFlaky // alternate failures and successes
	numModes
)

// TestPropertyOrderAndNoLoss runs random sequences of enqueues, target
// behaviours, replays and restarts, and checks that every queue's records
// reach the target exactly once (restarts here are clean) and in order, that
// exactly the bad records are dead letters, and that nothing is lost.
func TestPropertyOrderAndNoLoss(t *testing.T) {
	seeds := 25
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { propertyRun(t, uint64(seed)) })
	}
}

func propertyRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	path := tempPath(t)
	ids := []QueueID{{"p", 0}, {"p", 1}, {"q", 0}}
	var mode atomic.Int32
	var calls atomic.Int64
	tg := newTarget()
	tg.set(func(recs []Record) BatchResult {
		for _, r := range recs {
			if strings.HasSuffix(string(r.Data), "bad") {
				return BatchResult{Err: Permanent(errors.New("bad record"))}
			}
		}
		switch mode.Load() {
		case modeDown:
			return BatchResult{Err: errors.New("down")}
		case modePartial:
			errs := make([]error, len(recs))
			cut := int(calls.Add(1)) % (len(recs) + 1)
			for i := cut; i < len(recs); i++ {
				errs[i] = errors.New("not sent")
			}
			return BatchResult{Errs: errs}
		case modeSlowFlaky:
			if calls.Add(1)%2 == 0 {
				return BatchResult{Err: errors.New("flaky")}
			}
		}
		return BatchResult{}
	})
	qopts := func() QueueOptions {
		return QueueOptions{BatchSize: 1 + rng.IntN(8), RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond, BreakerThreshold: 3}
	}
	open := func() *Outbox {
		o := openTest(t, path, Options{CommitInterval: time.Duration(rng.IntN(3)) * time.Millisecond})
		for _, id := range ids {
			if rng.IntN(4) > 0 { // sometimes a queue stays unregistered for a while
				if err := o.Register(id, tg, qopts()); err != nil {
					t.Fatal(err)
				}
			}
		}
		return o
	}
	o := open()
	want := map[QueueID][]string{}
	bad := map[QueueID][]string{}
	counter := 0
	for range 40 {
		switch k := rng.IntN(10); {
		case k < 6: // a burst of enqueues
			id := ids[rng.IntN(len(ids))]
			var ps []*Pending
			for range 1 + rng.IntN(30) {
				counter++
				s := fmt.Sprintf("%s-%d", id, counter)
				if rng.IntN(25) == 0 {
					s += "-bad"
					bad[id] = append(bad[id], s)
				} else {
					want[id] = append(want[id], s)
				}
				ps = append(ps, o.Enqueue(id, []byte(s)))
			}
			if rng.IntN(2) == 0 {
				for _, p := range ps {
					mustWait(t, p)
				}
			}
		case k < 8:
			mode.Store(int32(rng.IntN(numModes)))
		case k < 9:
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			o = open()
		default:
			time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
		}
	}
	mode.Store(modeOK)
	for _, id := range ids {
		if err := o.Register(id, tg, qopts()); err != nil {
			t.Fatal(err)
		}
	}
	defer o.Close()
	for _, id := range ids {
		eventually(t, 20*time.Second, "queue "+id.String()+" drained", func() bool {
			s := stats(t, o, id)
			return tg.count(id) >= len(want[id]) && s.Depth == 0 && s.DeadLetters == int64(len(bad[id]))
		})
		got := tg.records(id)
		if len(got) != len(want[id]) {
			t.Fatalf("%s: delivered %d, want %d", id, len(got), len(want[id]))
		}
		var last uint64
		for i, r := range got {
			if string(r.Data) != want[id][i] || r.Seq <= last {
				t.Fatalf("%s: record %d = %q seq %d (previous seq %d), want %q", id, i, r.Data, r.Seq, last, want[id][i])
			}
			last = r.Seq
		}
		dl, err := o.DeadLetters(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range dl {
			if string(d.Data) != bad[id][i] || d.Error != "bad record" {
				t.Fatalf("%s: dead letter %d = %q (%s), want %q", id, i, d.Data, d.Error, bad[id][i])
			}
		}
	}
}
