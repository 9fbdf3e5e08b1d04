package rules

import (
	"sort"
	"unicode/utf8"
)

// ColumnReader gives built-in functions that read the message context
// (topic(), clientid(), payload(path), ...) access to the input columns.
type ColumnReader interface {
	// Column returns the named column, or nil (undefined).
	Column(name string) Value
}

// Builtin is one built-in function: plain Go code over the Value model,
// shared by the reference evaluator and (as host functions) by compiled
// rules.
type Builtin struct {
	Name    string // as called in SQL (case-sensitive)
	MinArgs int    // fewest arguments
	MaxArgs int    // most arguments; -1: any number
	// Fn computes the result; args has between MinArgs and MaxArgs
	// elements, and Fn must not keep the slice (its values it may). Wrong
	// types give an *EvalError.
	Fn func(c ColumnReader, args []Value) (Value, error)
	// readsColumns is true for the functions that read the context
	// through c (topic(), payload(), ...).
	readsColumns bool
}

// Call checks the number of arguments and calls the function.
func (b *Builtin) Call(c ColumnReader, args []Value) (Value, error) {
	if len(args) < b.MinArgs || (b.MaxArgs >= 0 && len(args) > b.MaxArgs) {
		return nil, evalErr("function %s takes %s, got %d", b.Name, arityText(b), len(args))
	}
	return b.Fn(c, args)
}

var registry = buildRegistry()

func buildRegistry() map[string]*Builtin {
	m := map[string]*Builtin{}
	for _, fam := range []struct {
		funcs        []Builtin
		readsColumns bool
	}{
		{contextFuncs, true}, {mathFuncs, false}, {bitsFuncs, false}, {convFuncs, false},
		{predFuncs, false}, {stringFuncs, false}, {mapFuncs, false}, {arrayFuncs, false},
		{hashFuncs, false}, {codecFuncs, false}, {timeFuncs, false},
	} {
		for i := range fam.funcs {
			b := &fam.funcs[i]
			b.readsColumns = fam.readsColumns
			m[b.Name] = b
		}
	}
	return m
}

// LookupBuiltin returns the built-in function with this (case-sensitive)
// name.
func LookupBuiltin(name string) (*Builtin, bool) {
	b, ok := registry[name]
	return b, ok
}

// Builtins returns every built-in function, sorted by name.
func Builtins() []*Builtin {
	out := make([]*Builtin, 0, len(registry))
	for _, b := range registry {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Constructors for the family tables.

func fn0(name string, f func() (Value, error)) Builtin {
	return Builtin{Name: name, Fn: func(_ ColumnReader, _ []Value) (Value, error) { return f() }}
}

func fn1(name string, f func(a Value) (Value, error)) Builtin {
	return Builtin{Name: name, MinArgs: 1, MaxArgs: 1,
		Fn: func(_ ColumnReader, a []Value) (Value, error) { return f(a[0]) }}
}

func fn2(name string, f func(a, b Value) (Value, error)) Builtin {
	return Builtin{Name: name, MinArgs: 2, MaxArgs: 2,
		Fn: func(_ ColumnReader, a []Value) (Value, error) { return f(a[0], a[1]) }}
}

func fnN(name string, min, max int, f func(a []Value) (Value, error)) Builtin {
	return Builtin{Name: name, MinArgs: min, MaxArgs: max,
		Fn: func(_ ColumnReader, a []Value) (Value, error) { return f(a) }}
}

// Argument helpers: each names the function in its error.

func badArg(fn string, v Value, want string) error {
	return evalErr("%s: expected %s, got %s", fn, want, KindOf(v))
}

func argInt(fn string, v Value) (int64, error) {
	if n, ok := v.(int64); ok {
		return n, nil
	}
	return 0, badArg(fn, v, "an integer")
}

func argNum(fn string, v Value) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, badArg(fn, v, "a number")
}

func argStr(fn string, v Value) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", badArg(fn, v, "a string")
}

func argList(fn string, v Value) ([]Value, error) {
	if l, ok := v.([]Value); ok {
		return l, nil
	}
	return nil, badArg(fn, v, "an array")
}

func argMap(fn string, v Value) (map[string]Value, error) {
	if m, ok := v.(map[string]Value); ok {
		return m, nil
	}
	return nil, badArg(fn, v, "a map")
}

// maxStringOut bounds strings the functions build (pad, sprintf, ...).
const maxStringOut = 1 << 20

func runeCount(s string) int { return utf8.RuneCountInString(s) }
