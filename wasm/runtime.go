package wasm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// DefaultMaxMemoryPages caps a module's memory when Config leaves it zero:
// 16 pages of 64 KiB (1 MiB).
const DefaultMaxMemoryPages = 16

// CompilerSupported reports whether wazero has an ahead-of-time compiler for
// this platform (amd64 and arm64). Elsewhere (armv7) modules run in
// wazero's interpreter, which is much slower than Go code.
func CompilerSupported() bool {
	switch runtime.GOARCH {
	case "amd64", "arm64":
		switch runtime.GOOS {
		case "linux", "darwin", "windows", "freebsd", "netbsd", "dragonfly", "solaris", "illumos":
			return true
		}
	}
	return false
}

// Config configures a Runtime.
type Config struct {
	// CacheDir is the directory of the on-disk compilation cache; empty
	// means no on-disk cache (compiled code is kept in memory only).
	CacheDir string
	// MaxMemoryPages caps the memory of every module, in 64 KiB pages;
	// zero means DefaultMaxMemoryPages.
	MaxMemoryPages uint32
	// Timeout bounds one Call; zero means none. A call that runs out of
	// time fails and its instance is discarded (the module is closed by
	// wazero's WithCloseOnContextDone).
	Timeout time.Duration
	// Interpreter forces wazero's interpreter even where the compiler is
	// supported.
	Interpreter bool
	// PoolSize is how many idle instances of each module are kept; zero
	// means 2×GOMAXPROCS.
	PoolSize int
}

// HostFunc is a host function a module may import. Fn reads its parameters
// from stack and writes its results to stack (wazero's stack convention);
// inst is the calling instance.
type HostFunc struct {
	Name    string          // the export name in the host module
	Params  []api.ValueType // parameter types
	Results []api.ValueType // result types
	Fn      func(ctx context.Context, inst *Instance, stack []uint64)
}

// Runtime is a wazero runtime with its compilation cache and host modules.
// It is safe for concurrent use.
type Runtime struct {
	cfg     Config
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	ctx     context.Context
	mu      sync.Mutex
	hosts   map[string]bool
	usesJIT bool
}

// NewRuntime creates a runtime: the compiler where CompilerSupported and
// not cfg.Interpreter, the interpreter otherwise.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.MaxMemoryPages == 0 {
		cfg.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 2 * runtime.GOMAXPROCS(0)
	}
	jit := CompilerSupported() && !cfg.Interpreter
	var rc wazero.RuntimeConfig
	if jit {
		rc = wazero.NewRuntimeConfigCompiler()
	} else {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.WithMemoryLimitPages(cfg.MaxMemoryPages).WithCloseOnContextDone(cfg.Timeout > 0)
	r := &Runtime{cfg: cfg, ctx: ctx, hosts: map[string]bool{}, usesJIT: jit}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache: %w", err)
		}
		r.cache = c
		rc = rc.WithCompilationCache(c)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	return r, nil
}

// Compiler reports whether the runtime uses wazero's compiler (rather than
// its interpreter).
func (r *Runtime) Compiler() bool { return r.usesJIT }

// Close closes every module and the runtime (and the cache handle).
func (r *Runtime) Close(ctx context.Context) error {
	err := r.rt.Close(ctx)
	if r.cache != nil {
		err = errors.Join(err, r.cache.Close(ctx))
	}
	return err
}

type instKey struct{}

// InstanceOf returns the instance a host function was called from, or nil.
func InstanceOf(ctx context.Context) *Instance {
	i, _ := ctx.Value(instKey{}).(*Instance)
	return i
}

// RegisterHost instantiates a host module named name exporting funcs. It
// is done once per name; registering a name again is a no-op.
func (r *Runtime) RegisterHost(ctx context.Context, name string, funcs []HostFunc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hosts[name] {
		return nil
	}
	b := r.rt.NewHostModuleBuilder(name)
	for _, f := range funcs {
		fn := f.Fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
				fn(ctx, InstanceOf(ctx), stack)
			}), f.Params, f.Results).
			Export(f.Name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("wasm: host module %s: %w", name, err)
	}
	r.hosts[name] = true
	return nil
}
