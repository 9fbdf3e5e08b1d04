package wasm

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Module is a compiled module with a pool of idle instances. Compile it once
// per module version (at rule deploy), never on the message path.
type Module struct {
	r        *Runtime
	compiled wazero.CompiledModule
	entry    string
	// hot is the most recently returned idle instance: Get and Put swap
	// it atomically, which costs less than the channel (and touches less
	// memory) when one goroutine at a time runs the module. idle holds
	// the others.
	hot      atomic.Pointer[Instance]
	idle     chan *Instance
	newState func(*Instance) any
}

// Compile validates and compiles a binary module (or loads it from the
// compilation cache). entry names the exported function Call runs;
// newState, when not nil, makes each new instance's State.
func (r *Runtime) Compile(ctx context.Context, bin []byte, entry string, newState func(*Instance) any) (*Module, error) {
	c, err := r.rt.CompileModule(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("wasm: compile: %w", err)
	}
	if _, ok := c.ExportedFunctions()[entry]; !ok {
		c.Close(ctx)
		return nil, fmt.Errorf("wasm: module does not export %q", entry)
	}
	// hot is one of the PoolSize idle instances, the channel the others.
	return &Module{r: r, compiled: c, entry: entry, idle: make(chan *Instance, r.cfg.PoolSize-1), newState: newState}, nil
}

// Instance is one instantiation of a Module. It runs one call at a time:
// take it with Get, give it back with Put.
type Instance struct {
	// Mod is the wazero module instance.
	Mod api.Module
	// Mem is its memory (nil if it has none).
	Mem api.Memory
	// State is the embedder's per-instance state (see Compile).
	State  any
	m      *Module
	fn     api.Function
	ctx    context.Context
	broken bool
}

// Instantiate makes a new instance (Get does it when the pool is empty).
func (m *Module) Instantiate(ctx context.Context) (*Instance, error) {
	mod, err := m.r.rt.InstantiateModule(ctx, m.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("wasm: instantiate: %w", err)
	}
	i := &Instance{Mod: mod, Mem: mod.Memory(), m: m, fn: mod.ExportedFunction(m.entry)}
	i.ctx = context.WithValue(m.r.ctx, instKey{}, i)
	if m.newState != nil {
		i.State = m.newState(i)
	}
	return i, nil
}

// Get takes an idle instance, or makes one.
func (m *Module) Get(ctx context.Context) (*Instance, error) {
	if i := m.hot.Swap(nil); i != nil {
		return i, nil
	}
	select {
	case i := <-m.idle:
		return i, nil
	default:
		return m.Instantiate(ctx)
	}
}

// Put gives an instance back to the pool; a broken instance (one whose call
// failed in wazero) or one the full pool has no room for is closed.
func (m *Module) Put(i *Instance) {
	if !i.broken {
		if m.hot.CompareAndSwap(nil, i) {
			return
		}
		select {
		case m.idle <- i:
			return
		default:
		}
	}
	i.Mod.Close(context.Background())
}

// ErrTimeout is returned by Call when the call ran out of time.
var ErrTimeout = errors.New("wasm: call timed out")

// Call runs the module's entry function with wazero's stack convention:
// stack holds the parameters and receives the results. An error from
// wazero (a trap, a timeout) marks the instance broken.
func (i *Instance) Call(stack []uint64) error {
	ctx := i.ctx
	if t := i.m.r.cfg.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	if err := i.fn.CallWithStack(ctx, stack); err != nil {
		i.broken = true
		if ctx.Err() != nil {
			return ErrTimeout
		}
		return err
	}
	return nil
}

// Global returns the instance's exported mutable global name, or nil.
func (i *Instance) Global(name string) api.MutableGlobal {
	g, _ := i.Mod.ExportedGlobal(name).(api.MutableGlobal)
	return g
}

// Close closes the module: its idle instances and its compiled code.
func (m *Module) Close(ctx context.Context) error {
	if i := m.hot.Swap(nil); i != nil {
		i.Mod.Close(ctx)
	}
	for {
		select {
		case i := <-m.idle:
			i.Mod.Close(ctx)
		default:
			return m.compiled.Close(ctx)
		}
	}
}
