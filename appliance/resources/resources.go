// Package resources keeps the shared connections rule actions name with "$resource" (EMQX 4.x's
// resources): one upstream MQTT session, one Kafka writer or one HTTP client pool per resource,
// used by every action bound to it. A resource is created through /api/v4/resources (persisted in
// bbolt, in the daemon's wedge.db), shows its health (a live check of its target), can be tested
// before it is created and reconnected, and cannot be deleted while an action uses it. A resource
// whose target is unreachable is still created: its status says so, and async actions queue in the
// outbox until the target comes.
//
// The package knows no connector: each Type's Open makes the connection (appliance/ruleactions
// defines the types for webhook, kafka and mqtt_bridge).
package resources

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/rules/engine"
)

// Bucket is the bbolt bucket holding the resources (key: id, value: Spec as JSON).
const Bucket = "resources"

// Conn is one resource's live connection.
type Conn interface {
	// Bind makes the connector for one action from the action's params (its
	// templates); it shares the connection. Closing the connector leaves the
	// connection open.
	Bind(params map[string]any) (actions.Connector, error)
	// Check tests the target now (a TCP or protocol handshake).
	Check(ctx context.Context) error
	// Reconnect drops idle or broken connections so the next use dials anew.
	Reconnect() error
	// Close releases the connection.
	Close() error
}

// Type is a resource type: its name, EMQX's aliases, params schema and
// constructor.
type Type struct {
	Name        string
	Aliases     []string
	Title       string
	Description string
	Params      map[string]engine.Param
	// Open checks the config and makes the connection without waiting for
	// the target (an unreachable target is not an error).
	Open func(config map[string]any) (Conn, error)
	// Probe, when set, is the connection test of POST /resources?test=true
	// (default: Open, Check, Close).
	Probe func(ctx context.Context, config map[string]any) error
}

// Spec is a resource as created and stored.
type Spec struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"`
	Config      map[string]any `json:"config"`
	Description string         `json:"description"`
	CreatedAt   int64          `json:"created_at"` // ms since the epoch
}

// Status is one node's view of a resource (EMQX's shape, with the reason).
type Status struct {
	Node    string `json:"node"`
	IsAlive bool   `json:"is_alive"`
	Detail  string `json:"detail,omitempty"`
}

// Info is a resource in the API: its spec with secrets masked, the actions
// bound to it ("rule/index") and, from Get, its status.
type Info struct {
	Spec
	UsedBy []string `json:"used_by"`
	Status []Status `json:"status,omitempty"`
}

// TypeInfo is a resource type in GET /api/v4/resource_types.
type TypeInfo struct {
	Name        string                  `json:"name"`
	Aliases     []string                `json:"aliases"`
	Provider    string                  `json:"provider"`
	Title       map[string]string       `json:"title"`
	Description map[string]string       `json:"description"`
	Params      map[string]engine.Param `json:"params"`
}

// Errors callers map to API statuses.
var (
	ErrNotFound = errors.New("resources: no such resource")
	ErrExists   = errors.New("resources: a resource with this id exists")
	ErrInUse    = errors.New("resources: resource in use")
	ErrBadSpec  = errors.New("resources: bad resource")
)

// Options configure a Manager.
type Options struct {
	// DB persists the resources (nil: in memory only).
	DB *bolt.DB
	// Types are the resource types offered.
	Types []Type
	// Node names this daemon in Status.
	Node   string
	Logger *slog.Logger
	// CheckTimeout bounds one health check (default 3s).
	CheckTimeout time.Duration
}

type resource struct {
	spec  Spec
	conn  Conn
	err   error // why conn is nil (Open failed at start)
	users map[string]int
}

// Manager holds the resources. It is safe for concurrent use.
type Manager struct {
	o     Options
	types map[string]*Type
	alias map[string]string

	mu  sync.Mutex
	res map[string]*resource
}

// Open loads the stored resources and opens their connections. A stored
// resource that cannot be opened any more (a certificate file gone) is kept
// with its error in its status; actions cannot bind to it.
func Open(o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 3 * time.Second
	}
	m := &Manager{o: o, types: map[string]*Type{}, alias: map[string]string{}, res: map[string]*resource{}}
	for i := range o.Types {
		t := &o.Types[i]
		for _, n := range append([]string{t.Name}, t.Aliases...) {
			if _, dup := m.alias[n]; dup {
				return nil, fmt.Errorf("resources: type %q registered twice", n)
			}
			m.alias[n] = t.Name
		}
		m.types[t.Name] = t
	}
	if o.DB == nil {
		return m, nil
	}
	var specs []Spec
	err := o.DB.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(Bucket))
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var s Spec
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("resource %q: %w", k, err)
			}
			specs = append(specs, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("resources: load: %w", err)
	}
	for _, s := range specs {
		r := &resource{spec: s, users: map[string]int{}}
		t, ok := m.types[m.alias[s.Type]]
		if !ok {
			r.err = fmt.Errorf("unknown resource type %q", s.Type)
		} else if r.conn, r.err = t.Open(clone(s.Config)); r.err != nil {
			r.conn = nil
		}
		if r.err != nil {
			o.Logger.Error("resource cannot be opened; actions naming it fail until it is recreated", "resource", s.ID, "err", r.err)
		}
		m.res[s.ID] = r
	}
	return m, nil
}

// Types returns the resource types, sorted by name.
func (m *Manager) Types() []TypeInfo {
	out := make([]TypeInfo, 0, len(m.types))
	for _, t := range m.types {
		out = append(out, typeInfo(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Type returns one resource type by name or alias.
func (m *Manager) Type(name string) (TypeInfo, bool) {
	t, ok := m.types[m.alias[name]]
	if !ok {
		return TypeInfo{}, false
	}
	return typeInfo(t), true
}

func typeInfo(t *Type) TypeInfo {
	return TypeInfo{Name: t.Name, Aliases: append([]string{}, t.Aliases...), Provider: "wedge",
		Title: map[string]string{"en": t.Title}, Description: map[string]string{"en": t.Description}, Params: t.Params}
}

// Canonical returns a type's canonical name ("" for an unknown type).
func (m *Manager) Canonical(typ string) string { return m.alias[typ] }

func (m *Manager) open(s Spec) (Spec, Conn, error) {
	t, ok := m.types[m.alias[s.Type]]
	if !ok {
		names := make([]string, 0, len(m.alias))
		for n := range m.alias {
			names = append(names, n)
		}
		sort.Strings(names)
		return s, nil, fmt.Errorf("%w: type %q: not one of %s", ErrBadSpec, s.Type, strings.Join(names, ", "))
	}
	s.Type = t.Name
	if s.Config == nil {
		s.Config = map[string]any{}
	}
	conn, err := t.Open(clone(s.Config))
	if err != nil {
		return s, nil, fmt.Errorf("%w: %v", ErrBadSpec, err)
	}
	return s, conn, nil
}

// Test opens a connection for s, checks the target and closes it again;
// nothing is created.
func (m *Manager) Test(ctx context.Context, s Spec) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.CheckTimeout)
	defer cancel()
	if t, ok := m.types[m.alias[s.Type]]; ok && t.Probe != nil {
		return t.Probe(ctx, clone(s.Config))
	}
	_, conn, err := m.open(s)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Check(ctx)
}

// Create makes a resource (an id "resource:<hex>" when s.ID is empty),
// stores it and opens its connection.
func (m *Manager) Create(s Spec) (Info, error) {
	if s.ID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		s.ID = "resource:" + hex.EncodeToString(b[:])
	}
	if strings.ContainsAny(s.ID, "/ \t\n") || len(s.ID) > 128 {
		return Info{}, fmt.Errorf("%w: id %q: at most 128 characters, no slash or space", ErrBadSpec, s.ID)
	}
	s.CreatedAt = time.Now().UnixMilli()
	s, conn, err := m.open(s)
	if err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.res[s.ID]; ok {
		conn.Close()
		return Info{}, fmt.Errorf("%w: %q", ErrExists, s.ID)
	}
	if err := m.put(s); err != nil {
		conn.Close()
		return Info{}, err
	}
	r := &resource{spec: s, conn: conn, users: map[string]int{}}
	m.res[s.ID] = r
	m.o.Logger.Info("resource created", "resource", s.ID, "type", s.Type)
	return r.info(), nil
}

func (m *Manager) put(s Spec) error {
	if m.o.DB == nil {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSpec, err)
	}
	return m.o.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Bucket)).Put([]byte(s.ID), b)
	})
}

// List returns every resource (without status), sorted by id; typ filters
// by type name or alias when not empty.
func (m *Manager) List(typ string) []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(m.res))
	for _, r := range m.res {
		if typ != "" && r.spec.Type != m.alias[typ] {
			continue
		}
		out = append(out, r.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns one resource with its status, checking the target now.
func (m *Manager) Get(ctx context.Context, id string) (Info, error) {
	m.mu.Lock()
	r, ok := m.res[id]
	var info Info
	var conn Conn
	var openErr error
	if ok {
		info, conn, openErr = r.info(), r.conn, r.err
	}
	m.mu.Unlock()
	if !ok {
		return Info{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	st := Status{Node: m.o.Node, IsAlive: true}
	if conn == nil {
		st.IsAlive, st.Detail = false, "not open: "+openErr.Error()
	} else {
		ctx, cancel := context.WithTimeout(ctx, m.o.CheckTimeout)
		defer cancel()
		if err := conn.Check(ctx); err != nil {
			st.IsAlive, st.Detail = false, err.Error()
		}
	}
	info.Status = []Status{st}
	return info, nil
}

// Reconnect drops the resource's idle or broken connections and returns it
// with its status.
func (m *Manager) Reconnect(ctx context.Context, id string) (Info, error) {
	m.mu.Lock()
	r, ok := m.res[id]
	m.mu.Unlock()
	if !ok {
		return Info{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if r.conn != nil {
		if err := r.conn.Reconnect(); err != nil {
			m.o.Logger.Warn("resource reconnect", "resource", id, "err", err)
		}
	}
	return m.Get(ctx, id)
}

// Delete removes a resource no action uses.
func (m *Manager) Delete(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.res[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if len(r.users) > 0 {
		return fmt.Errorf("%w: %q is used by %s", ErrInUse, id, strings.Join(r.usedBy(), ", "))
	}
	if m.o.DB != nil {
		err := m.o.DB.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(Bucket)).Delete([]byte(id)) })
		if err != nil {
			return err
		}
	}
	delete(m.res, id)
	if r.conn != nil {
		go r.conn.Close()
	}
	m.o.Logger.Info("resource deleted", "resource", id)
	return nil
}

// Bind makes the connector for one action (user: "rule/index") on resource
// id, which must be of type typ. The connector's Close releases the binding.
func (m *Manager) Bind(id, typ, user string, params map[string]any) (actions.Connector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.res[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if want := m.alias[typ]; r.spec.Type != want {
		return nil, fmt.Errorf("%w: %q is a %s resource, this action needs a %s one", ErrBadSpec, id, r.spec.Type, want)
	}
	if r.conn == nil {
		return nil, fmt.Errorf("resource %q is not open: %v", id, r.err)
	}
	c, err := r.conn.Bind(params)
	if err != nil {
		return nil, err
	}
	r.users[user]++
	return &bound{Connector: c, release: func() { m.release(id, user) }}, nil
}

func (m *Manager) release(id, user string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.res[id]
	if !ok {
		return
	}
	if r.users[user]--; r.users[user] <= 0 {
		delete(r.users, user)
	}
}

// Close closes every connection.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.res {
		if r.conn != nil {
			r.conn.Close()
		}
	}
	return nil
}

func (r *resource) usedBy() []string {
	out := make([]string, 0, len(r.users))
	for u := range r.users {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

func (r *resource) info() Info {
	s := r.spec
	s.Config = engine.MaskSecrets(s.Config)
	return Info{Spec: s, UsedBy: r.usedBy()}
}

type bound struct {
	actions.Connector
	once    sync.Once
	release func()
}

func (b *bound) Close() error {
	b.once.Do(b.release)
	return b.Connector.Close()
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{}
	}
	return out
}
