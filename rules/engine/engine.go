package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wedge-iot/wedge/rules"
)

// Options configure an Engine. Everything but Publisher has a default; with no
// Publisher, rules with a republish action are refused.
type Options struct {
	// Publisher publishes republished messages into the broker.
	Publisher Publisher
	// Store persists rules created through the API (in memory when nil).
	Store Store
	// Logger receives the engine's logs (slog.Default() when nil).
	Logger *slog.Logger
	// Node is the node name (the node column, and "node" in metrics).
	Node string
	// Compile turns a parsed rule into a Program (Evaluator when nil).
	Compile Compiler
	// Actions is the action registry (NewRegistry() when nil).
	Actions *Registry
	// SysMessages makes rules see $SYS/... messages (EMQX's
	// ignore_sys_message = false). Off by default.
	SysMessages bool
}

// Engine is the running rule set. Its methods are safe for concurrent use;
// HandleMessage and HandleEvent take no lock.
type Engine struct {
	opts    Options
	log     *slog.Logger
	reg     *Registry
	store   Store
	compile Compiler
	idPfx   string
	nodeVal rules.Value // Options.Node, boxed once for the node column
	clients clientCache // per-client columns of publishes

	mu   sync.Mutex // serialises lifecycle changes
	snap atomic.Pointer[snapshot]
	seq  int

	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool
	hopLog atomic.Int64

	watchMu  sync.Mutex
	watchers []func()
}

// rule is one immutable version of a rule: a message that loaded it sees it
// entirely.
type rule struct {
	spec    RuleSpec
	parsed  *rules.Rule
	prog    Program
	actions []*actionInst
	metrics *RuleMetrics // shared by the versions of one rule id
	seq     int
	logged  *atomic.Int64 // last error log (unix ns), rate limit
	meta    rules.Value   // the metadata column, {"rule_id": id}, made once
	shares  bool          // prog's output may be its input map (sharesInput)
	star    *selectStar   // prog, when it is one (runRule tests its WHERE alone)
}

type actionInst struct {
	id        string
	typ       *ActionType
	act       Action
	metrics   *ActionMetrics
	fallbacks []*actionInst
	spec      ActionSpec
}

// snapshot is the immutable rule set one message or event sees.
type snapshot struct {
	order  []*rule // every rule, enabled or not, in creation order
	byID   map[string]*rule
	topics index
	events map[string][]*rule // event column value → enabled rules
	owner  map[string]string  // action id → rule id (the loop guard)
	nTopic int                // enabled rules with a topic filter
}

// New creates an engine and loads the rules of the Store.
func New(o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Node == "" {
		o.Node = "wedge@localhost"
	}
	if o.Compile == nil {
		o.Compile = Evaluator
	}
	if o.Actions == nil {
		o.Actions = NewRegistry()
	}
	if o.Store == nil {
		o.Store = NewMemStore()
	}
	var pfx [8]byte
	_, _ = rand.Read(pfx[:])
	e := &Engine{opts: o, log: o.Logger, reg: o.Actions, store: o.Store, compile: o.Compile, idPfx: hex.EncodeToString(pfx[:])}
	e.nodeVal = o.Node
	e.clients.seed = maphash.MakeSeed()
	e.ctx, e.cancel = context.WithCancel(context.Background())
	specs, err := o.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("rules: load: %w", err)
	}
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].CreatedAt < specs[j].CreatedAt })
	var list []*rule
	for _, sp := range specs {
		sp.Source = SourceAPI
		r, err := e.build(sp, nil)
		if err != nil {
			// Kept in the store: a newer wedge (or a registered action type) may run it.
			e.log.Error("stored rule cannot run; skipped", "rule", sp.ID, "error", err)
			continue
		}
		list = append(list, r)
	}
	e.install(list)
	return e, nil
}

// Registry returns the action registry.
func (e *Engine) Registry() *Registry { return e.reg }

// Node returns the node name.
func (e *Engine) Node() string { return e.opts.Node }

// Close stops the engine: later messages and events are ignored and the
// lifecycle operations fail with ErrClosed. It does not close the Store.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.snap.Swap(emptySnapshot())
	for _, r := range old.byID {
		for _, a := range r.actions {
			if c, ok := a.act.(Closer); ok {
				c.Close(false) // the engine stops; the rule is not deleted
			}
		}
	}
	return nil
}

func emptySnapshot() *snapshot {
	return &snapshot{byID: map[string]*rule{}, events: map[string][]*rule{}, owner: map[string]string{}}
}

// build makes a runnable rule from a spec; metrics, when given, are kept.
func (e *Engine) build(sp RuleSpec, metrics *RuleMetrics) (*rule, error) {
	if sp.ID == "" {
		return nil, specErr("id", "must be set")
	}
	if strings.TrimSpace(sp.RawSQL) == "" {
		return nil, specErr("rawsql", "must be set")
	}
	switch sp.OnActionFailed {
	case "":
		sp.OnActionFailed = OnFailedContinue
	case OnFailedContinue, OnFailedStop:
	default:
		return nil, specErr("on_action_failed", "must be continue or stop, not %q", sp.OnActionFailed)
	}
	parsed, err := rules.Parse(sp.RawSQL)
	if err != nil {
		return nil, err
	}
	prog, err := e.compile(parsed)
	if err != nil {
		return nil, fmt.Errorf("compile rule %s: %w", sp.ID, err)
	}
	if metrics == nil {
		metrics = new(RuleMetrics)
	}
	r := &rule{spec: sp, parsed: parsed, prog: prog, metrics: metrics, logged: new(atomic.Int64),
		meta: map[string]rules.Value{"rule_id": sp.ID}, shares: sharesInput(prog)}
	r.star, _ = prog.(*selectStar)
	r.actions, err = e.buildActions(sp.ID, "actions", sp.Actions, "")
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (e *Engine) buildActions(ruleID, field string, specs []ActionSpec, parent string) ([]*actionInst, error) {
	out := make([]*actionInst, 0, len(specs))
	for i, as := range specs {
		f := fmt.Sprintf("%s[%d]", field, i)
		t, ok := e.reg.Lookup(as.Name)
		if !ok {
			return nil, specErr(f+".name", "unknown action type %q", as.Name)
		}
		if as.Params == nil {
			as.Params = map[string]any{}
		}
		idx := i
		if parent != "" {
			idx = -1
		}
		act, err := t.New(as.Params, Deps{Publisher: e.opts.Publisher, Logger: e.log.With("action", t.Name), Node: e.opts.Node,
			RuleID: ruleID, Index: idx, Mode: as.Mode, Batch: as.Batch})
		if err != nil {
			var se *SpecError
			if errors.As(err, &se) {
				return nil, specErr(f+"."+se.Field, "%s", se.Msg)
			}
			return nil, specErr(f, "%v", err)
		}
		id := fmt.Sprintf("%s:%s:%d", ruleID, t.Name, i+1)
		if parent != "" {
			id = fmt.Sprintf("%s/fallback:%s:%d", parent, t.Name, i+1)
		}
		ai := &actionInst{id: id, typ: t, act: act, metrics: new(ActionMetrics), spec: as}
		ai.fallbacks, err = e.buildActions(ruleID, f+".fallbacks", as.Fallbacks, id)
		if err != nil {
			return nil, err
		}
		out = append(out, ai)
	}
	return out, nil
}

// install publishes a new snapshot holding list (in creation order).
func (e *Engine) install(list []*rule) {
	sort.SliceStable(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	s := emptySnapshot()
	for _, r := range list {
		s.order = append(s.order, r)
		s.byID[r.spec.ID] = r
		var walk func([]*actionInst)
		walk = func(as []*actionInst) {
			for _, a := range as {
				s.owner[a.id] = r.spec.ID
				walk(a.fallbacks)
			}
		}
		walk(r.actions)
		if !r.spec.Enabled {
			continue
		}
		topic := false
		for _, f := range r.parsed.From {
			if ev, ok := rules.EventName(f); ok {
				s.events[ev] = append(s.events[ev], r)
			} else {
				s.topics.add(f, r)
				topic = true
			}
		}
		if topic {
			s.nTopic++
		}
	}
	old := e.snap.Swap(s)
	closeDropped(old, s)
	e.watchMu.Lock()
	ws := e.watchers
	e.watchMu.Unlock()
	for _, f := range ws {
		f()
	}
}

// closeDropped closes the actions (Closer) of the rule versions in old that next no longer
// holds.
func closeDropped(old, next *snapshot) {
	if old == nil {
		return
	}
	for id, r := range old.byID {
		nr, still := next.byID[id]
		if still && nr == r {
			continue
		}
		var walk func([]*actionInst)
		walk = func(as []*actionInst) {
			for _, a := range as {
				if c, ok := a.act.(Closer); ok {
					c.Close(!still)
				}
				walk(a.fallbacks)
			}
		}
		walk(r.actions)
	}
}

// OnChange registers f to be called after every change of the rule set
// (with the engine's lifecycle lock held: f must not call Create, Update,
// Delete or LoadConfig).
func (e *Engine) OnChange(f func()) {
	e.watchMu.Lock()
	e.watchers = append(e.watchers, f)
	e.watchMu.Unlock()
}

// HasEventRules reports whether an enabled rule listens to an $events/
// topic. The wiring uses it to subscribe to the broker's events only when
// needed: building an event for every delivery costs the broker.
func (e *Engine) HasEventRules() bool { return len(e.snap.Load().events) > 0 }

// change runs a change on a copy of the current rule list under the lock
// and installs the result.
func (e *Engine) change(f func(cur *snapshot, list []*rule) ([]*rule, error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	cur := e.snap.Load()
	list := append([]*rule(nil), cur.order...)
	list, err := f(cur, list)
	if err != nil {
		return err
	}
	e.install(list)
	return nil
}

func (e *Engine) nextSeq() int {
	e.seq++
	return e.seq
}

func replace(list []*rule, r *rule) []*rule {
	for i, x := range list {
		if x.spec.ID == r.spec.ID {
			list[i] = r
			return list
		}
	}
	return append(list, r)
}

func remove(list []*rule, id string) []*rule {
	out := list[:0]
	for _, x := range list {
		if x.spec.ID != id {
			out = append(out, x)
		}
	}
	return out
}

// Create adds a rule through the API and persists it. A missing id becomes
// "rule:<hex>"; an id in use is ErrExists; bad SQL is a *rules.SyntaxError;
// a bad definition a *SpecError.
func (e *Engine) Create(q *RuleRequest) (RuleInfo, error) {
	var sp RuleSpec
	q.apply(&sp, true)
	if sp.ID == "" {
		sp.ID = newRuleID()
	}
	sp.Source = SourceAPI
	sp.CreatedAt = time.Now().UnixMilli()
	var out *rule
	err := e.change(func(cur *snapshot, list []*rule) ([]*rule, error) {
		if _, ok := cur.byID[sp.ID]; ok {
			return nil, fmt.Errorf("%w: %s", ErrExists, sp.ID)
		}
		r, err := e.build(sp, nil)
		if err != nil {
			return nil, err
		}
		r.seq = e.nextSeq()
		if err := e.store.Put(sp); err != nil {
			return nil, fmt.Errorf("store rule %s: %w", sp.ID, err)
		}
		out = r
		return append(list, r), nil
	})
	if err != nil {
		return RuleInfo{}, err
	}
	return e.info(out), nil
}

// Update changes the fields a request gives (PUT /rules/:id; enabling and
// disabling is {"enabled": false}). The new version replaces the old one
// atomically; the rule's metrics are kept, its actions' metrics restart.
func (e *Engine) Update(id string, q *RuleRequest) (RuleInfo, error) {
	var out *rule
	err := e.change(func(cur *snapshot, list []*rule) ([]*rule, error) {
		old, ok := cur.byID[id]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if old.spec.Source == SourceConfig {
			return nil, fmt.Errorf("%w: %s", ErrReadOnly, id)
		}
		sp := old.spec
		sp.Actions = cloneActions(old.spec.Actions)
		q.apply(&sp, false)
		sp.ID = id
		r, err := e.build(sp, old.metrics)
		if err != nil {
			return nil, err
		}
		r.seq = old.seq
		if err := e.store.Put(sp); err != nil {
			return nil, fmt.Errorf("store rule %s: %w", sp.ID, err)
		}
		out = r
		return replace(list, r), nil
	})
	if err != nil {
		return RuleInfo{}, err
	}
	return e.info(out), nil
}

// SetEnabled enables or disables a rule created through the API.
func (e *Engine) SetEnabled(id string, enabled bool) (RuleInfo, error) {
	return e.Update(id, &RuleRequest{Enabled: &enabled})
}

// Delete removes a rule created through the API (and its metrics).
func (e *Engine) Delete(id string) error {
	return e.change(func(cur *snapshot, list []*rule) ([]*rule, error) {
		old, ok := cur.byID[id]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if old.spec.Source == SourceConfig {
			return nil, fmt.Errorf("%w: %s", ErrReadOnly, id)
		}
		if err := e.store.Delete(id); err != nil {
			return nil, fmt.Errorf("delete rule %s: %w", id, err)
		}
		return remove(list, id), nil
	})
}

// LoadConfig replaces the rules from the config file (config key rules,
// also at SIGHUP) with these, atomically: all of them or, on an error, none.
// A rule without an id gets "config:<n>" (its 1-based position). Rules kept
// under the same id keep their metrics.
func (e *Engine) LoadConfig(list []map[string]any) error {
	specs := make([]RuleSpec, 0, len(list))
	seen := map[string]bool{}
	for i, m := range list {
		q, err := ParseRuleRequest(m)
		if err != nil {
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
		var sp RuleSpec
		q.apply(&sp, true)
		if sp.ID == "" {
			sp.ID = fmt.Sprintf("config:%d", i+1)
		}
		if seen[sp.ID] {
			return fmt.Errorf("rules[%d]: duplicate id %s", i, sp.ID)
		}
		seen[sp.ID] = true
		sp.Source = SourceConfig
		specs = append(specs, sp)
	}
	return e.change(func(cur *snapshot, list []*rule) ([]*rule, error) {
		keep := list[:0]
		for _, r := range list {
			if r.spec.Source != SourceConfig {
				keep = append(keep, r)
			}
		}
		for i, sp := range specs {
			var metrics *RuleMetrics
			seq := 0
			if old, ok := cur.byID[sp.ID]; ok {
				if old.spec.Source != SourceConfig {
					return nil, fmt.Errorf("rules[%d]: id %s is taken by a rule created through the API", i, sp.ID)
				}
				metrics, seq = old.metrics, old.seq
				sp.CreatedAt = old.spec.CreatedAt
			} else {
				sp.CreatedAt = time.Now().UnixMilli()
			}
			r, err := e.build(sp, metrics)
			if err != nil {
				return nil, fmt.Errorf("rules[%d] (%s): %w", i, sp.ID, err)
			}
			if seq == 0 {
				seq = e.nextSeq()
			}
			r.seq = seq
			keep = append(keep, r)
		}
		return keep, nil
	})
}

// Get returns one rule.
func (e *Engine) Get(id string) (RuleInfo, bool) {
	r, ok := e.snap.Load().byID[id]
	if !ok {
		return RuleInfo{}, false
	}
	return e.info(r), true
}

// List returns every rule, in creation order.
func (e *Engine) List() []RuleInfo {
	s := e.snap.Load()
	out := make([]RuleInfo, 0, len(s.order))
	for _, r := range s.order {
		out = append(out, e.info(r))
	}
	return out
}

// Metrics returns a rule's live counters (nil when there is no such rule).
func (e *Engine) Metrics(id string) *RuleMetrics {
	if r, ok := e.snap.Load().byID[id]; ok {
		return r.metrics
	}
	return nil
}

// ActionMetrics returns the live counters of a rule's actions, in order
// (fallbacks not included).
func (e *Engine) ActionMetrics(id string) []*ActionMetrics {
	r, ok := e.snap.Load().byID[id]
	if !ok {
		return nil
	}
	out := make([]*ActionMetrics, len(r.actions))
	for i, a := range r.actions {
		out[i] = a.metrics
	}
	return out
}
