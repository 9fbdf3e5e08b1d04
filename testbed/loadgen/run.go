package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wedge-iot/wedge/testbed/client"
)

// Run executes scenario s and returns what it measured. It returns an error
// when the scenario is invalid or its clients cannot be set up; failures
// during the load itself are counted in the Result instead.
func Run(ctx context.Context, s Scenario) (Result, error) {
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return Result{}, err
	}
	switch s.Kind {
	case Connect:
		return runConnect(ctx, s)
	default:
		return runPubSub(ctx, s)
	}
}

// subscriber is one subscribing client and what it received.
type subscriber struct {
	close    func()
	tracker  *client.Tracker
	lat      *client.Recorder
	foreign  atomic.Int64
	unique   atomic.Int64
	lastRecv atomic.Int64 // clock nanos of the last unique message
	pause    sync.Once
}

func (sub *subscriber) handle(clock *client.Clock, pause time.Duration) client.Handler {
	return func(m client.Message) {
		now := clock.Nanos()
		h, err := client.DecodeHeader(m.Payload)
		if err != nil {
			sub.foreign.Add(1)
			return
		}
		if sub.tracker.Observe(h.Publisher, h.Seq) {
			sub.lat.Add(time.Duration(now - h.SentNanos))
			sub.unique.Add(1)
			sub.lastRecv.Store(now)
		}
		if pause > 0 {
			sub.pause.Do(func() { time.Sleep(pause) })
		}
	}
}

// publisher is one publishing client and what it sent.
type publisher struct {
	id      int
	conn    pubConn
	written int64 // publishes written (paho: acknowledged)
	acked   int64 // of which acknowledged with success (QoS 0: written)
	refused int64 // of which refused by the broker
}

func runPubSub(ctx context.Context, s Scenario) (Result, error) {
	res := Result{Scenario: s}
	clock := client.NewClock()
	base := "wedge-bench/" + s.RunID
	topicOf := func(p int) string {
		if s.Kind == FanOut {
			return base + "/out"
		}
		return fmt.Sprintf("%s/in/%d", base, p)
	}
	filter := base + "/in/+"
	if s.Kind == FanOut {
		filter = base + "/out"
	}
	setupCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	pace := client.Pace{Concurrency: 16}

	// Subscribers first, so nothing published is missed.
	subs, st := client.ConnectMany(setupCtx, s.Subscribers, pace, func(ctx context.Context, i int) (*subscriber, error) {
		sub := &subscriber{tracker: client.NewTracker(), lat: client.NewRecorder(0)}
		closeFn, err := dialSub(ctx, s, fmt.Sprintf("lg-%s-s%d", s.RunID, i), filter, sub.handle(clock, s.SubscriberPause))
		if err != nil {
			return nil, err
		}
		sub.close = closeFn
		return sub, nil
	})
	defer closeAll(subs, func(sub *subscriber) { sub.close() })
	if st.Failed > 0 || st.Connected < s.Subscribers {
		return res, fmt.Errorf("scenario %s: %d of %d subscribers connected: %w", s.Name, st.Connected, s.Subscribers, st.FirstError)
	}
	pubs, pst := client.ConnectMany(setupCtx, s.Publishers, pace, func(ctx context.Context, i int) (*publisher, error) {
		c, err := dialPub(ctx, s, fmt.Sprintf("lg-%s-p%d", s.RunID, i))
		if err != nil {
			return nil, err
		}
		return &publisher{id: i, conn: c}, nil
	})
	defer closeAll(pubs, func(p *publisher) { p.conn.close() })
	if pst.Failed > 0 || pst.Connected < s.Publishers {
		return res, fmt.Errorf("scenario %s: %d of %d publishers connected: %w", s.Name, pst.Connected, s.Publishers, pst.FirstError)
	}
	res.Connected = st.Connected + pst.Connected
	res.ConnectSeconds = (st.Elapsed + pst.Elapsed).Seconds()
	if res.ConnectSeconds > 0 {
		res.ConnectsPerSec = float64(res.Connected) / res.ConnectSeconds
	}
	res.ConnectLatency = millisOf(pst.ConnectLatency)

	// Publish.
	var firstErr atomic.Value
	pubCtx, pubCancel := context.WithTimeout(ctx, s.Duration)
	defer pubCancel()
	start := clock.Nanos()
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishAll(pubCtx, s, p, topicOf(p.id), clock, &firstErr)
		}()
	}
	wg.Wait()
	pubEnd := clock.Nanos()
	for _, p := range pubs {
		res.Sent += p.acked
		res.SendErrors += p.written - p.acked
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstSendError = e
	}
	res.Expected = res.Sent * int64(len(subs))
	if s.WatchPID > 0 {
		if m, err := ReadProcMemory(s.WatchPID); err == nil {
			res.BrokerRSSKiB, res.BrokerHWMKiB = m.RSS, m.HWM
		}
	}

	// Drain: wait for every expected delivery, for DrainIdle without
	// progress (after any subscriber pause), or for DrainTimeout.
	drainStart := time.Now()
	pauseEnd := drainStart.Add(s.SubscriberPause)
	lastTotal, lastChange := int64(-1), time.Now()
	for {
		var total int64
		for _, sub := range subs {
			total += sub.unique.Load()
		}
		if total >= res.Expected {
			break
		}
		now := time.Now()
		if total != lastTotal {
			lastTotal, lastChange = total, now
		}
		if now.Sub(drainStart) > s.DrainTimeout || ctx.Err() != nil ||
			(now.After(pauseEnd) && now.Sub(lastChange) > s.DrainIdle) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Account. A publish the broker did not acknowledge is a send error, not
	// a loss: only acknowledged messages that never arrived are lost.
	all := client.NewRecorder(0)
	last := pubEnd
	for _, sub := range subs {
		c := sub.tracker.Counts()
		res.Delivered += c.Unique
		res.Duplicates += c.Duplicates
		res.OutOfOrder += c.OutOfOrder
		res.Foreign += sub.foreign.Load()
		for _, p := range pubs {
			missing := sub.tracker.Missing(uint32(p.id), uint64(p.written))
			res.Lost += max(0, missing-(p.written-p.acked))
		}
		all.Merge(sub.lat)
		if t := sub.lastRecv.Load(); t > last {
			last = t
		}
	}
	res.Latency = millisOf(all.Summary())
	res.PublishSeconds = time.Duration(pubEnd - start).Seconds()
	res.ElapsedSeconds = time.Duration(last - start).Seconds()
	if res.ElapsedSeconds > 0 {
		res.MsgsPerSec = float64(res.Delivered) / res.ElapsedSeconds
	}
	if res.PublishSeconds > 0 {
		res.PublishedPerSec = float64(res.Sent) / res.PublishSeconds
	}
	return res, nil
}

// publishAll sends publisher p's messages at the scenario's rate until done,
// the first error, or ctx's end, then settles its acknowledgements.
func publishAll(ctx context.Context, s Scenario, p *publisher, topic string, clock *client.Clock, firstErr *atomic.Value) {
	var interval time.Duration
	if s.Rate > 0 {
		interval = time.Duration(float64(time.Second) / s.Rate)
	}
	t0 := time.Now()
	for seq := range s.Messages {
		if interval > 0 {
			if wait := time.Until(t0.Add(time.Duration(seq) * interval)); wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		payload := client.NewPayload(client.Header{Publisher: uint32(p.id), Seq: uint64(seq), SentNanos: clock.Nanos()}, s.PayloadSize)
		if err := p.conn.publish(ctx, topic, s.QoS, payload); err != nil {
			if ctx.Err() == nil {
				firstErr.CompareAndSwap(nil, err.Error())
			}
			break
		}
		p.written++
	}
	settleCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.acked, p.refused = p.conn.settle(settleCtx, p.written, s.QoS)
	if p.refused > 0 {
		firstErr.CompareAndSwap(nil, fmt.Sprintf("%d publishes refused by the broker", p.refused))
	}
}

// closeAll closes every item concurrently (a few at a time) and waits.
func closeAll[T any](items []T, closeFn func(T)) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			closeFn(it)
		}()
	}
	wg.Wait()
}

// idleKeepAlive is the keep-alive of Connect runs' connections: long enough
// that no hold needs a PINGREQ, short enough that no broker rejects it.
const idleKeepAlive = 10 * time.Minute

func runConnect(ctx context.Context, s Scenario) (Result, error) {
	res := Result{Scenario: s}
	runCtx, cancel := context.WithTimeout(ctx, s.Duration+s.Hold)
	defer cancel()
	conns, st := client.ConnectMany(runCtx, s.Connections, client.Pace{Rate: s.ConnectRate, Concurrency: s.ConnectConcurrency},
		func(ctx context.Context, i int) (*client.RawConn, error) {
			return client.DialRaw(ctx, client.RawOptions{Addr: s.Addr, ClientID: fmt.Sprintf("lg-%s-c%d", s.RunID, i), Version: s.Version, KeepAlive: idleKeepAlive})
		})
	defer closeAll(conns, func(c *client.RawConn) { c.Abort() })
	res.Connected = st.Connected
	res.ConnectFailed = st.Failed + (s.Connections - st.Attempted)
	res.ConnectSeconds = st.Elapsed.Seconds()
	res.ConnectsPerSec = st.ConnectsPerSecond()
	res.ConnectLatency = millisOf(st.ConnectLatency)
	if st.FirstError != nil {
		res.FirstError = st.FirstError.Error()
	}
	if s.Hold > 0 {
		holdStart := time.Now()
		// Sample the broker half-way through the hold, once it settled.
		select {
		case <-ctx.Done():
		case <-time.After(s.Hold / 2):
		}
		if s.WatchPID > 0 {
			if m, err := ReadProcMemory(s.WatchPID); err == nil {
				res.BrokerRSSKiB, res.BrokerHWMKiB = m.RSS, m.HWM
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.Hold - time.Since(holdStart)):
		}
		res.HoldSeconds = time.Since(holdStart).Seconds()
	} else if s.WatchPID > 0 {
		if m, err := ReadProcMemory(s.WatchPID); err == nil {
			res.BrokerRSSKiB, res.BrokerHWMKiB = m.RSS, m.HWM
		}
	}
	if st.Connected == 0 && st.FirstError != nil {
		return res, errors.Join(fmt.Errorf("scenario %s: no connection", s.Name), st.FirstError)
	}
	return res, nil
}
