package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Pace says how fast [ConnectMany] opens connections.
type Pace struct {
	// Rate is the number of connection attempts started per second; zero or
	// less means as fast as Concurrency allows.
	Rate float64
	// Concurrency is the number of attempts in progress at once (1 when zero).
	Concurrency int
}

// FleetStats describes a [ConnectMany] run.
type FleetStats struct {
	// Attempted, Connected and Failed count connection attempts.
	Attempted, Connected, Failed int
	// Elapsed is the time from the first attempt to the last answer.
	Elapsed time.Duration
	// ConnectLatency holds the time each successful attempt took.
	ConnectLatency LatencySummary
	// FirstError is the first failure seen, if any.
	FirstError error
}

// ConnectsPerSecond returns the successful connections per second of the run.
func (s FleetStats) ConnectsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Connected) / s.Elapsed.Seconds()
}

// ConnectMany calls dial for i = 0..n-1 at the given pace and returns the
// connections that succeeded (in no particular order) with the run's
// statistics. It stops starting new attempts when ctx ends; failures do not
// stop it.
func ConnectMany[T any](ctx context.Context, n int, pace Pace, dial func(ctx context.Context, i int) (T, error)) ([]T, FleetStats) {
	conc := max(pace.Concurrency, 1)
	var (
		mu       sync.Mutex
		conns    = make([]T, 0, n)
		firstErr error
		failed   atomic.Int64
		started  int
	)
	lat := NewRecorder(n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t0 := time.Now()
				c, err := dial(ctx, i)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				lat.Add(time.Since(t0))
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	var interval time.Duration
	if pace.Rate > 0 {
		interval = time.Duration(float64(time.Second) / pace.Rate)
	}
feed:
	for i := range n {
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				select {
				case <-ctx.Done():
					break feed
				case <-time.After(wait):
				}
			}
		}
		select {
		case <-ctx.Done():
			break feed
		case jobs <- i:
			started++
		}
	}
	close(jobs)
	wg.Wait()
	st := FleetStats{
		Attempted:      started,
		Connected:      len(conns),
		Failed:         int(failed.Load()),
		Elapsed:        time.Since(start),
		ConnectLatency: lat.Summary(),
		FirstError:     firstErr,
	}
	if st.FirstError == nil && started < n {
		st.FirstError = fmt.Errorf("connect many: stopped after %d of %d attempts: %w", started, n, ctx.Err())
	}
	return conns, st
}
