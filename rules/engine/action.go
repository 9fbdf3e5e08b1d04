package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/wedge-iot/wedge/rules"
)

// Action is one configured action instance, made by its ActionType's New
// from the rule's params. Run is called once per rule output (once per
// element for FOREACH), on the publisher's goroutine, and must be safe for
// concurrent use.
//
// Sync and async. A sync action (republish, inspect, do_nothing) does its
// work inside Run: nil counts as success, an error as failed (and runs the
// fallbacks and on_action_failed). An async action (the outbox's connectors,
// issue 6) hands its work off inside Run and calls env.Defer(hold) before
// returning: the publisher's acknowledgement then waits for hold (the
// outbox's durable write), and the action's final outcome is counted when the
// done function that Defer returns is called, possibly much later and on
// another goroutine. An error returned by Run is still a failure at once. As
// in EMQX, a deferred failure is counted but runs no fallbacks.
type Action interface {
	Run(ctx context.Context, env *Env) error
}

// Closer is implemented by actions that hold connections: Close is called once the
// action's rule version is no longer installed (the rule was updated, disabled through an
// update, or deleted). deleted says the rule itself is gone.
type Closer interface {
	Close(deleted bool)
}

// Hold delays the publisher's acknowledgement until durable work finished
// (the same shape as the broker's Hold, which the wiring passes it through
// to).
type Hold interface {
	Wait(ctx context.Context) error
}

// Env is what an action sees of one rule output.
type Env struct {
	// RuleID and ActionID name the rule and this action instance.
	RuleID, ActionID string
	// Selected is the rule's output (one element's output for FOREACH):
	// templates read from it. Read-only, and valid only during Run: the
	// engine reuses the maps of a publish's columns once its rules ran, and
	// the output of a SELECT * rule is those columns. Copy what you keep.
	Selected map[string]rules.Value
	// Columns are the input columns (with metadata.rule_id): EMQX's envs.
	// Read-only, and valid only during Run, as Selected.
	Columns rules.Columns
	// Node is the node name.
	Node string
	// Hops is 0 for a device's message or an event, n when the input was
	// the n-th republish of a chain of rules (see MaxHops).
	Hops int

	deferred bool
	trig     *trigger // nil for an Env made outside the engine
	metrics  *ActionMetrics
}

// PublishClientID is the client id an action gives a message it publishes
// into the broker: the action id (with the chain's hop count after '~' from
// the second hop on), which the loop guard reads.
func (e *Env) PublishClientID() string { return hopsClientID(e.ActionID, e.Hops) }

// outputJSON is rules.EncodeJSON(e.Selected), encoded once for all the
// actions that run on one output (several republish actions and their
// fallbacks). The result is shared: it must not be modified.
func (e *Env) outputJSON() []byte {
	if e.trig == nil {
		return rules.EncodeJSON(e.Selected)
	}
	if e.trig.outJSON == nil {
		e.trig.outJSON = rules.EncodeJSON(e.Selected)
	}
	return e.trig.outJSON
}

// Defer marks the action's outcome as pending (async actions): hold, when
// not nil, delays the publisher's acknowledgement; the returned function
// must be called exactly once with the final outcome (nil = success). Later
// calls do nothing.
func (e *Env) Defer(hold Hold) (done func(err error)) {
	e.deferred = true
	if hold != nil && e.trig != nil {
		e.trig.holds = append(e.trig.holds, hold)
	}
	m := e.metrics
	var once atomic.Bool
	return func(err error) {
		if !once.CompareAndSwap(false, true) {
			return
		}
		if err != nil {
			m.Failed.Add(1)
		} else {
			m.Success.Add(1)
		}
	}
}

// Publish is a message an action publishes (republish).
type Publish struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	ClientID   string // the message's origin: Env.PublishClientID(), for the loop guard
	Properties []Property
}

// Property is an MQTT 5 user property.
type Property struct{ Key, Value string }

// Publisher publishes messages into the broker (appliance/rulesapi adapts
// *broker.Broker). Publish may call back into Engine.HandleMessage on the
// same goroutine.
type Publisher interface {
	Publish(p Publish) error
}

// Deps are what an ActionType's New may use.
type Deps struct {
	Publisher Publisher
	Logger    *slog.Logger
	Node      string
	// RuleID and Index name the instance: the rule and the action's position in its
	// actions (0-based; fallbacks have Index -1). Async actions key their outbox queue on them.
	RuleID string
	Index  int
	// Mode ("sync", "async" or "" for the type's default) and Batch are the action spec's.
	Mode  string
	Batch map[string]any
}

// Param documents one action parameter (GET /api/v4/actions).
type Param struct {
	Type        string   `json:"type"` // string, number, boolean, object, array
	Required    bool     `json:"required"`
	Default     any      `json:"default,omitempty"`
	Enum        []any    `json:"enum,omitempty"`
	Title       string   `json:"title,omitempty"`
	Description string   `json:"description"`
	Aliases     []string `json:"-"`
}

// ActionType is a kind of action: its name, description, params schema and
// constructor.
type ActionType struct {
	Name        string
	Aliases     []string // other accepted names (EMQX's)
	Title       string
	Description string
	// For lists what the action applies to ("$any": messages and events).
	For    []string
	Params map[string]Param
	// Mode is the default mode: "sync" or "async".
	Mode string
	// New builds an instance from the rule's params; an invalid param is a
	// *SpecError (400 through the API).
	New func(params map[string]any, d Deps) (Action, error)
}

// Registry holds the action types by name. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	types map[string]*ActionType
	alias map[string]string
}

// NewRegistry returns a registry with the built-in types: republish, inspect
// and do_nothing.
func NewRegistry() *Registry {
	r := &Registry{types: map[string]*ActionType{}, alias: map[string]string{}}
	for _, t := range builtinTypes() {
		if err := r.Register(t); err != nil {
			panic(err)
		}
	}
	return r
}

// Register adds an action type; a name (or alias) already taken is an error.
func (r *Registry) Register(t ActionType) error {
	if t.Name == "" || t.New == nil {
		return fmt.Errorf("action type needs a name and New")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range append([]string{t.Name}, t.Aliases...) {
		if _, ok := r.alias[n]; ok {
			return fmt.Errorf("action type %q already registered", n)
		}
	}
	if t.Mode == "" {
		t.Mode = "sync"
	}
	r.types[t.Name] = &t
	r.alias[t.Name] = t.Name
	for _, a := range t.Aliases {
		r.alias[a] = t.Name
	}
	return nil
}

// Lookup finds a type by name or alias.
func (r *Registry) Lookup(name string) (*ActionType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[r.alias[name]]
	return t, ok
}

// Types returns every type, sorted by name.
func (r *Registry) Types() []*ActionType {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*ActionType, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func builtinTypes() []ActionType {
	return []ActionType{
		republishType(),
		{
			Name: "inspect", Title: "Inspect (debug)", For: []string{"$any"},
			Description: "Logs the rule's output and input columns at info level (EMQX's inspect)",
			Params:      map[string]Param{},
			New: func(_ map[string]any, d Deps) (Action, error) {
				return inspect{log: d.Logger}, nil
			},
		},
		{
			Name: "do_nothing", Title: "Do nothing", For: []string{"$any"},
			Description: "Does nothing and succeeds (EMQX's do_nothing; for tests and benchmarks)",
			Params:      map[string]Param{},
			New: func(map[string]any, Deps) (Action, error) {
				return doNothing{}, nil
			},
		},
	}
}

type inspect struct{ log *slog.Logger }

func (a inspect) Run(_ context.Context, env *Env) error {
	a.log.Info("inspect", "rule", env.RuleID, "action", env.ActionID,
		"selected", string(rules.EncodeJSON(env.Selected)),
		"envs", string(rules.EncodeJSON(map[string]rules.Value(env.Columns))))
	return nil
}

type doNothing struct{}

func (doNothing) Run(context.Context, *Env) error { return nil }
