package rules

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// sweepValues holds one or more values of every kind, edge cases included.
var sweepValues = []Value{
	nil, Null, true, false, int64(0), int64(1), int64(-1), int64(3), int64(1 << 62), int64(-1 << 63),
	0.0, 1.5, -2.5, 1e300, "", "a", "t/#", "second", "12", "-3.5", `{"a":1}`, "\xff\x00",
	[]Value{}, []Value{int64(1), "x", nil}, map[string]Value{}, map[string]Value{"a": int64(1), "qos": int64(0)},
}

// TestBuiltinsSweep calls every built-in function with arguments of every
// kind (undefined, null, wrong types, negative and huge numbers, empty
// strings and lists): each call returns a value of the model or an
// *EvalError, and never panics.
func TestBuiltinsSweep(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cols := Columns{"topic": "t/a", "payload": `{"x":1}`, "flags": map[string]Value{"retain": true}}
	e := newEnv(cols)
	for _, b := range Builtins() {
		max := b.MaxArgs
		if max < 0 || max > b.MinArgs+3 {
			max = b.MinArgs + 3
		}
		for n := b.MinArgs; n <= max; n++ {
			for range 300 {
				args := make([]Value, n)
				for i := range args {
					args[i] = sweepValues[rng.IntN(len(sweepValues))]
				}
				call(t, e, b, args)
			}
		}
		// All undefined and all null, at the minimal arity.
		for _, v := range []Value{nil, Null} {
			args := make([]Value, b.MinArgs)
			for i := range args {
				args[i] = v
			}
			call(t, e, b, args)
		}
	}
}

func call(t *testing.T, e *env, b *Builtin, args []Value) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s%v panicked: %v", b.Name, args, p)
		}
	}()
	v, err := b.Call(e, args)
	if err != nil {
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Fatalf("%s%v: error %T %v, want *EvalError", b.Name, args, err, err)
		}
		return
	}
	if k := KindOf(v); strings.HasPrefix(k, "unsupported") {
		t.Fatalf("%s%v = %v: %s", b.Name, args, v, k)
	}
	if out := EncodeJSON(v); !json.Valid(out) {
		t.Fatalf("%s%v = %q: not valid JSON", b.Name, args, out)
	}
}
