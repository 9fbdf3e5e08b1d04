package wasm

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
)

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

func mod(sections ...[]byte) []byte {
	b := append([]byte{}, header...)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// loopModule exports run: () -> () looping forever.
var loopModule = mod(
	[]byte{0x01, 0x04, 0x01, 0x60, 0x00, 0x00},
	[]byte{0x03, 0x02, 0x01, 0x00},
	[]byte{0x07, 0x07, 0x01, 0x03, 'r', 'u', 'n', 0x00, 0x00},
	[]byte{0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b},
)

// hostModule imports env.add1: (i32) -> i32 and exports run: (i32) -> i32
// calling it.
var hostModule = mod(
	[]byte{0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f},
	[]byte{0x02, 0x0c, 0x01, 0x03, 'e', 'n', 'v', 0x04, 'a', 'd', 'd', '1', 0x00, 0x00},
	[]byte{0x03, 0x02, 0x01, 0x00},
	[]byte{0x07, 0x07, 0x01, 0x03, 'r', 'u', 'n', 0x00, 0x01},
	[]byte{0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b},
)

// bigMemModule has a 32-page memory and an empty run.
var bigMemModule = mod(
	[]byte{0x01, 0x04, 0x01, 0x60, 0x00, 0x00},
	[]byte{0x03, 0x02, 0x01, 0x00},
	[]byte{0x05, 0x03, 0x01, 0x00, 0x20},
	[]byte{0x07, 0x07, 0x01, 0x03, 'r', 'u', 'n', 0x00, 0x00},
	[]byte{0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b},
)

func newRT(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	r, err := NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func registerAdd1(t *testing.T, r *Runtime) {
	t.Helper()
	err := r.RegisterHost(context.Background(), "env", []HostFunc{{
		Name: "add1", Params: []api.ValueType{api.ValueTypeI32}, Results: []api.ValueType{api.ValueTypeI32},
		Fn: func(_ context.Context, inst *Instance, stack []uint64) {
			if inst == nil || inst.State.(*int) == nil {
				panic("no instance state")
			}
			*inst.State.(*int)++
			stack[0] = uint64(uint32(stack[0]) + 1)
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHostCallAndPool(t *testing.T) {
	for _, interp := range []bool{false, true} {
		r := newRT(t, Config{Interpreter: interp, PoolSize: 2})
		if r.Compiler() != (CompilerSupported() && !interp) {
			t.Fatalf("Compiler() = %v", r.Compiler())
		}
		registerAdd1(t, r)
		m, err := r.Compile(context.Background(), hostModule, "run", func(*Instance) any { return new(int) })
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					inst, err := m.Get(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					stack := []uint64{uint64(i)}
					if err := inst.Call(stack); err != nil || stack[0] != uint64(i+1) {
						t.Errorf("run(%d) = %d, %v", i, stack[0], err)
					}
					m.Put(inst)
				}
			}()
		}
		wg.Wait()
		idle := len(m.idle)
		if m.hot.Load() != nil {
			idle++
		}
		if idle == 0 || idle > 2 {
			t.Fatalf("%d idle instances, want 1..2", idle)
		}
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTimeout(t *testing.T) {
	r := newRT(t, Config{Timeout: 50 * time.Millisecond})
	m, err := r.Compile(context.Background(), loopModule, "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = inst.Call(nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Call = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	m.Put(inst) // broken: closed, not pooled
	if len(m.idle) != 0 {
		t.Fatal("a timed-out instance went back to the pool")
	}
}

func TestMemoryCap(t *testing.T) {
	r := newRT(t, Config{MaxMemoryPages: 16})
	m, err := r.Compile(context.Background(), bigMemModule, "run", nil)
	if err == nil {
		_, err = m.Instantiate(context.Background())
	}
	if err == nil {
		t.Fatal("a 32-page module loaded under a 16-page cap")
	}
	r2 := newRT(t, Config{MaxMemoryPages: 64})
	if _, err := r2.Compile(context.Background(), bigMemModule, "run", nil); err != nil {
		t.Fatal(err)
	}
}

func TestCompileErrors(t *testing.T) {
	r := newRT(t, Config{})
	if _, err := r.Compile(context.Background(), []byte("not wasm"), "run", nil); err == nil {
		t.Fatal("garbage compiled")
	}
	if _, err := r.Compile(context.Background(), loopModule, "nope", nil); err == nil {
		t.Fatal("missing entry accepted")
	}
}

func TestCompilationCache(t *testing.T) {
	if !CompilerSupported() {
		t.Skip("the cache holds compiled code; no compiler here")
	}
	dir := t.TempDir()
	r := newRT(t, Config{CacheDir: dir})
	if _, err := r.Compile(context.Background(), loopModule, "run", nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range dirFiles(t, dir) {
		n++
	}
	if n == 0 {
		t.Fatal("nothing written to the compilation cache")
	}
}

func dirFiles(t *testing.T, dir string) []string {
	var out []string
	var walk func(string)
	walk = func(d string) {
		es, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.IsDir() {
				walk(d + "/" + e.Name())
			} else {
				out = append(out, e.Name())
			}
		}
	}
	walk(dir)
	return out
}
