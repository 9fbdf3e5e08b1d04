package rules

// maxRange bounds the length of a [a..b] range list.
const maxRange = 100000

// maxWork is the base work budget of one evaluation: function calls and
// the sizes of their arguments and results, comparisons and the sizes of
// their operands, FOREACH items, ranges, lists and JSON decoding all draw
// from it, so that no rule can run for long or allocate without bound
// (FOREACH [1..99999] DO pad('x', 1000000) fails instead of eating memory).
// Each evaluation adds four units per byte of its input's top-level strings,
// so that big payloads get a budget in proportion.
const maxWork = 64 << 20

// env is the state of one evaluation: the input columns, the values
// written back by SELECT (or the selected output, for WHERE), and the
// decoded-payload cache.
type env struct {
	base     Columns
	over     map[string]Value
	cacheSrc string
	cacheVal Value
	cached   bool
	work     int64 // spent from limit
	limit    int64 // maxWork plus the input's share
	// lazyLimit means limit is only maxWork so far: the input's share is
	// added when the work first exceeds it (see overBudget), which spares
	// the compiled path a pass over the columns on every message.
	lazyLimit bool
	args      []Value
	// A FOREACH element bound to a simple name (see inputColumn).
	bindKey string
	bindVal Value
	bound   bool
}

func (e *env) popArgs(base int) {
	clear(e.args[base:])
	e.args = e.args[:base]
}

// charge spends n units of the work budget.
func (e *env) charge(n int64) error {
	e.work += n
	if e.work > e.limit {
		return e.overBudget()
	}
	return nil
}

// overBudget is charge's error, once the limit is exact.
func (e *env) overBudget() error {
	if e.lazyLimit {
		e.lazyLimit = false
		e.limit = workLimit(e.base)
		if e.work <= e.limit {
			return nil
		}
	}
	return evalErr("evaluation exceeded its work budget (%d units)", e.limit)
}

// workLimit is the work budget of an evaluation of in: maxWork plus 4
// units per byte of its top-level strings.
func workLimit(in Columns) int64 {
	limit := int64(maxWork)
	for _, v := range in {
		if s, ok := v.(string); ok {
			limit += 4 * int64(len(s))
		}
	}
	return limit
}

func newEnv(in Columns) *env {
	return &env{base: in, limit: workLimit(in)}
}

// sizeOf estimates what producing v cost, for the work budget.
func sizeOf(v Value) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x))
	case []Value:
		return 8 * int64(len(x))
	case map[string]Value:
		return 16 * int64(len(x))
	}
	return 0
}

// Column implements ColumnReader: written-back values win over the input.
func (e *env) Column(name string) Value {
	if e.over != nil {
		if v, ok := e.over[name]; ok {
			return v
		}
	}
	return e.inputColumn(name)
}

// inputColumn reads the input: the columns, plus the FOREACH element bound
// to a simple name while DO and INCASE run.
func (e *env) inputColumn(name string) Value {
	if e.bound && name == e.bindKey {
		return e.bindVal
	}
	return e.base[name]
}

func (x *Literal) eval(*env) (Value, error) { return x.Value, nil }

func (x *Path) eval(e *env) (Value, error) {
	v := e.Column(x.Root)
	for i := range x.Steps {
		if v == nil {
			return nil, nil
		}
		var err error
		if v, err = e.step(v, &x.Steps[i]); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func evalInt(e *env, x Expr, what string) (int64, error) {
	v, err := x.eval(e)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, evalErr("%s must be an integer, got %s", what, KindOf(v))
	}
	return n, nil
}

func (x *Slice) eval(e *env) (Value, error) {
	v, err := x.X.eval(e)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		if v, err = e.decoded(s); err != nil {
			return nil, err
		}
	}
	l, ok := v.([]Value)
	if !ok {
		return nil, evalErr("cannot slice a %s: only lists have ranges", KindOf(v))
	}
	from, err := evalInt(e, x.From, "a slice bound")
	if err != nil {
		return nil, err
	}
	to, err := evalInt(e, x.To, "a slice bound")
	if err != nil {
		return nil, err
	}
	out, err := sliceList(l, from, to)
	if err != nil {
		return nil, err
	}
	return out, e.charge(sizeOf(out))
}

// sliceList is EMQX's range get: 1-based inclusive bounds, negative bounds
// count from the end, 0 is an error, a start past the end+1 or an end
// before start-1 is an error, an end past the list is cut.
func sliceList(l []Value, from, to int64) (Value, error) {
	n := int64(len(l))
	idx := func(i int64) (int64, error) {
		switch {
		case i == 0:
			return 0, evalErr("invalid slice index 0 (lists are 1-based)")
		case i < 0:
			return n + i + 1, nil
		}
		return i, nil
	}
	b, err := idx(from)
	if err != nil {
		return nil, err
	}
	en, err := idx(to)
	if err != nil {
		return nil, err
	}
	if b < 1 || b > n+1 || en < b-1 {
		return nil, evalErr("slice [%d..%d] out of range for a list of %d", from, to, n)
	}
	if en > n {
		en = n
	}
	out := make([]Value, en-b+1)
	copy(out, l[b-1:en])
	return out, nil
}

func (x *Range) eval(e *env) (Value, error) {
	from, err := evalInt(e, x.From, "a range bound")
	if err != nil {
		return nil, err
	}
	to, err := evalInt(e, x.To, "a range bound")
	if err != nil {
		return nil, err
	}
	if to < from-1 || from == -1<<63 {
		return nil, evalErr("invalid range [%d..%d]", from, to)
	}
	if to-from >= maxRange || to-from < -1 {
		return nil, evalErr("range [%d..%d] longer than %d elements", from, to, maxRange)
	}
	if err := e.charge(8 * (to - from + 1)); err != nil {
		return nil, err
	}
	out := make([]Value, 0, to-from+1)
	for i := from; i <= to; i++ {
		out = append(out, i)
		if i == 1<<63-1 {
			break
		}
	}
	return out, nil
}

func (x *ListLit) eval(e *env) (Value, error) {
	if err := e.charge(int64(len(x.Elems))); err != nil {
		return nil, err
	}
	out := make([]Value, len(x.Elems))
	for i, el := range x.Elems {
		v, err := el.eval(e)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (x *Call) eval(e *env) (Value, error) {
	if x.Builtin == nil {
		return nil, evalErr("function not supported: %s", x.Name)
	}
	// Arguments go on a stack shared by the evaluation's calls (one
	// allocation per evaluation, not per call); Fn must not keep args.
	base := len(e.args)
	cost := int64(1) // the call, its arguments' sizes, its result's size
	for _, a := range x.Args {
		v, err := a.eval(e)
		if err != nil {
			e.popArgs(base)
			return nil, err
		}
		e.args = append(e.args, v)
		cost += sizeOf(v)
	}
	v, err := x.Builtin.Call(e, e.args[base:len(e.args):len(e.args)])
	e.popArgs(base)
	if err != nil {
		return nil, err
	}
	if err := e.charge(cost + sizeOf(v)); err != nil {
		return nil, err
	}
	return v, nil
}

func (x *Unary) eval(e *env) (Value, error) {
	v, err := x.X.eval(e)
	if err != nil {
		return nil, err
	}
	switch n := v.(type) {
	case int64:
		if x.Op == OpSub {
			if n == -1<<63 {
				return nil, overflow(OpSub)
			}
			return -n, nil
		}
		return n, nil
	case float64:
		if x.Op == OpSub {
			return -n, nil
		}
		return n, nil
	}
	return nil, evalErr("unary %s needs a number, got %s", x.Op, KindOf(v))
}

func (x *Binary) eval(e *env) (Value, error) {
	l, err := x.L.eval(e)
	if err != nil {
		return nil, err
	}
	r, err := x.R.eval(e)
	if err != nil {
		return nil, err
	}
	if err := e.charge(1 + sizeOf(l) + sizeOf(r)); err != nil {
		return nil, err
	}
	if x.Op.IsComparison() {
		return Compare(x.Op, l, r)
	}
	return Arith(x.Op, l, r)
}

func (x *In) eval(e *env) (Value, error) {
	v, err := x.X.eval(e)
	if err != nil {
		return nil, err
	}
	found := false
	for _, el := range x.List {
		w, err := el.eval(e)
		if err != nil {
			return nil, err
		}
		if err := e.charge(1 + sizeOf(w)); err != nil {
			return nil, err
		}
		if exactEqual(v, w) {
			found = true
			break
		}
	}
	return found != x.Not, nil
}

func (x *Logic) eval(e *env) (Value, error) { return e.test(x) }
func (x *Not) eval(e *env) (Value, error)   { return e.test(x) }

func (x *Case) eval(e *env) (Value, error) {
	if x.Subject == nil {
		for _, w := range x.Whens {
			ok, err := e.test(w.Cond)
			if err != nil {
				return nil, err
			}
			if ok {
				return w.Then.eval(e)
			}
		}
	} else {
		s, err := x.Subject.eval(e)
		if err != nil {
			return nil, err
		}
		for _, w := range x.Whens {
			v, err := w.Cond.eval(e)
			if err != nil {
				return nil, err
			}
			if exactEqual(s, v) {
				return w.Then.eval(e)
			}
		}
	}
	if x.Else != nil {
		return x.Else.eval(e)
	}
	return nil, nil
}

// test evaluates a condition: only the value true passes.
func (e *env) test(x Expr) (bool, error) {
	switch n := x.(type) {
	case *Logic:
		l, err := e.test(n.L)
		if err != nil {
			return false, err
		}
		if n.Op == OpAnd && !l || n.Op == OpOr && l {
			return l, nil
		}
		return e.test(n.R)
	case *Not:
		if c, ok := n.X.(*Call); ok {
			// NOT of a non-boolean value is false.
			v, err := c.eval(e)
			if err != nil {
				return false, err
			}
			b, ok := v.(bool)
			return ok && !b, nil
		}
		b, err := e.test(n.X)
		return !b, err
	}
	v, err := x.eval(e)
	if err != nil {
		return false, err
	}
	return v == true, nil
}

// selectInto evaluates fields left to right into out, writing each value
// back into the working input (e.over) so that later fields see it.
// Undefined values are left out.
func (e *env) selectInto(fields []Field, out map[string]Value) error {
	for i := range fields {
		f := &fields[i]
		if f.Star {
			for k, v := range e.base {
				out[k] = v
			}
			if e.bound {
				out[e.bindKey] = e.bindVal
			}
			for k, v := range e.over {
				out[k] = v
			}
			continue
		}
		v, err := f.Expr.eval(e)
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		if f.writeBack {
			if err := e.writeBack(f.Key, v); err != nil {
				return err
			}
		}
		if err := putPath(out, f.Key, v, nil, e); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) writeBack(key []Step, v Value) error {
	if e.over == nil {
		e.over = make(map[string]Value, 4)
	}
	return putPath(e.over, key, v, e.inputColumn, e)
}
