package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/wedge-iot/wedge/rules"
)

// Message is a publish as the engine sees it (the wiring converts the
// broker's).
type Message struct {
	ID         uint64 // unique within the process
	ClientID   string
	Username   string
	PeerHost   string
	PeerPort   int
	Protocol   string // mqtt, coap, lwm2m
	ProtoVer   byte
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Dup        bool
	Properties []Property
	Received   time.Time
	// Local is true for messages wedge published itself (republish, REST):
	// the loop guard only trusts ClientID on those.
	Local bool
}

// WantsAny reports whether any rule's FROM names a topic filter (not only
// events): whether HandleMessage may run a rule at all.
func (e *Engine) WantsAny() bool { return e.snap.Load().nTopic > 0 }

// Wants reports whether HandleMessage may run a rule for a message on topic:
// a rule's FROM matches it.
func (e *Engine) Wants(topic string) bool {
	var buf [8]*rule
	_, matched := e.match(topic, buf[:0])
	return len(matched) > 0
}

// match appends to buf the rules whose FROM matches topic, in the current
// snapshot, which it returns too.
func (e *Engine) match(topic string, buf []*rule) (*snapshot, []*rule) {
	s := e.snap.Load()
	if s.nTopic == 0 || (!e.opts.SysMessages && strings.HasPrefix(topic, "$SYS/")) {
		return s, nil
	}
	return s, s.topics.match(topic, buf)
}

// HandleMessage runs the rules whose FROM matches the message's topic, on
// the caller's goroutine. Rule errors and action failures are counted and
// logged, never returned. The Hold, nil unless an async action deferred its
// outcome with one, delays the publisher's acknowledgement.
func (e *Engine) HandleMessage(m *Message) Hold {
	var buf [8]*rule
	s, matched := e.match(m.Topic, buf[:0])
	if len(matched) == 0 {
		return nil
	}
	matched = dedupe(matched)
	hops := 0
	if m.Local {
		// Loop guard: a rule never sees what its own actions published, and
		// a chain of rules republishing each other's output stops after
		// MaxHops messages.
		base, n := splitHops(m.ClientID)
		if owner, ok := s.owner[base]; ok {
			hops = n
			if hops >= MaxHops {
				e.logLimited(&e.hopLog, "rule chain stopped: too many republish hops", "topic", m.Topic, "from", base, "hops", hops)
				return nil
			}
			kept := matched[:0]
			for _, r := range matched {
				if r.spec.ID != owner {
					kept = append(kept, r)
				}
			}
			matched = kept
		}
	}
	if len(matched) == 0 {
		return nil
	}
	cb := e.messageColumns(m)
	cols := cb.c
	t := &cb.trig
	for i, r := range matched {
		if i > 0 && matched[i-1].shares {
			cols = maps.Clone(cols) // the previous rule's output is cols: leave it as it was
		}
		e.runRule(t, r, cols, hops)
	}
	h := joinHolds(t.holds)
	*t = trigger{}
	cb.meta = true // the first rule's metadata is in cb.c (see runRule)
	cb.release()
	return h
}

// MaxHops bounds a chain of rules republishing each other's output (A's
// output triggers B, whose output triggers A, ...): a message that is the
// MaxHops-th republish in a chain triggers no rule.
const MaxHops = 8

// splitHops splits a republished message's client id "<action id>~<n>"
// into the action id and n (1 when there is no suffix).
func splitHops(cid string) (string, int) {
	i := strings.LastIndexByte(cid, '~')
	if i < 0 || i == len(cid)-1 {
		return cid, 1
	}
	n, err := strconv.Atoi(cid[i+1:])
	if err != nil || n < 2 {
		return cid, 1
	}
	return cid[:i], n
}

// hopsClientID is the client id of a message an action publishes from an
// input that was itself the hops-th republish (0 for a device's message).
func hopsClientID(actionID string, hops int) string {
	if hops == 0 {
		return actionID
	}
	return actionID + "~" + strconv.Itoa(hops+1)
}

// dedupe removes repeats (a rule with several matching filters) and keeps
// creation order.
func dedupe(rs []*rule) []*rule {
	if len(rs) <= 1 {
		return rs
	}
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].seq < rs[j-1].seq; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	out := rs[:1]
	for _, r := range rs[1:] {
		if r != out[len(out)-1] {
			out = append(out, r)
		}
	}
	return out
}

// HandleEvent runs the rules whose FROM lists the event's $events/ topic.
func (e *Engine) HandleEvent(ev *Event) Hold {
	s := e.snap.Load()
	rs := s.events[ev.Name]
	if len(rs) == 0 {
		return nil
	}
	hops := 0
	if ev.FromClientID != "" {
		// The loop guard for message events: a rule does not see the delivery
		// of what its own actions published (when the broker tells the
		// publisher: Event.FromClientID), and chains stop at MaxHops.
		base, n := splitHops(ev.FromClientID)
		if owner, ok := s.owner[base]; ok {
			hops = n
			if hops >= MaxHops {
				return nil
			}
			kept := make([]*rule, 0, len(rs)) // rs belongs to the snapshot: never filter it in place
			for _, r := range rs {
				if r.spec.ID != owner {
					kept = append(kept, r)
				}
			}
			rs = kept
		}
	}
	cols := e.eventColumns(ev)
	t := new(trigger)
	for i, r := range rs {
		if i > 0 && rs[i-1].shares {
			cols = maps.Clone(cols) // the previous rule's output is cols: leave it as it was
		}
		e.runRule(t, r, cols, hops)
	}
	return joinHolds(t.holds)
}

// trigger is the state of one message's or event's run through its rules:
// one Env, reused for each action run (an Env is valid only during Run), and
// the holds of the async actions.
type trigger struct {
	env   Env
	holds []Hold
	// outJSON is the JSON of the output the actions run on, encoded by the
	// first action that needs it (Env.outputJSON).
	outJSON []byte
}

// runRule evaluates one rule and runs its actions. cols gets the rule's
// metadata column; everything else in it is left as it is.
func (e *Engine) runRule(t *trigger, r *rule, cols rules.Columns, hops int) {
	r.metrics.Matched.Add(1)
	cols["metadata"] = r.meta
	if r.star != nil {
		// SELECT *: the output is cols itself when WHERE holds.
		ok, err := r.star.match(cols)
		switch {
		case err != nil:
			r.metrics.Exception.Add(1)
			e.logLimited(r.logged, "rule evaluation failed", "rule", r.spec.ID, "error", err)
			return
		case !ok:
			r.metrics.NoResult.Add(1)
			return
		}
		r.metrics.Passed.Add(1)
		if len(r.actions) > 0 {
			e.runActions(t, r, cols, cols, hops)
		}
		return
	}
	out, err := r.prog.Eval(cols)
	switch {
	case err != nil:
		r.metrics.Exception.Add(1)
		e.logLimited(r.logged, "rule evaluation failed", "rule", r.spec.ID, "error", err)
		return
	case out == nil || (out.Foreach && len(out.Items) == 0):
		r.metrics.NoResult.Add(1)
		return
	}
	r.metrics.Passed.Add(1)
	if len(r.actions) == 0 {
		return
	}
	if !out.Foreach {
		e.runActions(t, r, out.Object, cols, hops)
		return
	}
	for _, item := range out.Items {
		e.runActions(t, r, item, cols, hops)
	}
}

func (e *Engine) runActions(t *trigger, r *rule, sel map[string]rules.Value, cols rules.Columns, hops int) {
	t.outJSON = nil
	for _, a := range r.actions {
		if e.runAction(t, r, a, sel, cols, hops) {
			continue
		}
		for _, fb := range a.fallbacks {
			e.runAction(t, r, fb, sel, cols, hops)
		}
		if r.spec.OnActionFailed == OnFailedStop {
			return
		}
	}
}

// runAction runs one action instance and counts it; it reports whether the
// action succeeded (or deferred its outcome).
func (e *Engine) runAction(t *trigger, r *rule, a *actionInst, sel map[string]rules.Value, cols rules.Columns, hops int) (ok bool) {
	a.metrics.Taken.Add(1)
	env := &t.env
	*env = Env{RuleID: r.spec.ID, ActionID: a.id, Selected: sel, Columns: cols, Node: e.opts.Node, Hops: hops, trig: t, metrics: a.metrics}
	err := safeRun(e.ctx, a.act, env)
	if err == nil && env.deferred {
		return true
	}
	if err != nil {
		a.metrics.Failed.Add(1)
		e.logLimited(r.logged, "rule action failed", "rule", r.spec.ID, "action", a.id, "error", err)
		return false
	}
	a.metrics.Success.Add(1)
	return true
}

func safeRun(ctx context.Context, a Action, env *Env) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("action panicked: %v", p)
		}
	}()
	return a.Run(ctx, env)
}

// logLimited logs at warn level at most once a second per rule: a failing
// rule under load must not flood the log.
func (e *Engine) logLimited(last interface {
	Load() int64
	CompareAndSwap(old, new int64) bool
}, msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(time.Second) || !last.CompareAndSwap(prev, now) {
		return
	}
	e.log.Warn(msg, args...)
}

type holds []Hold

func (hs holds) Wait(ctx context.Context) error {
	var errs []error
	for _, h := range hs {
		if err := h.Wait(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func joinHolds(hs []Hold) Hold {
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return hs[0]
	}
	return holds(hs)
}
