package rules

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/tetratelabs/wazero/api"
	"github.com/wedge-iot/wedge/guest-sdk/abi"
	"github.com/wedge-iot/wedge/wasm"
)

// Engine names a way of running rules.
type Engine string

// Engines.
const (
	// EngineEval is the reference evaluator ((*Rule).Eval).
	EngineEval Engine = "eval"
	// EngineWasm is the compiled path: the rule as a Wasm module run in
	// wazero (CompiledRule.Eval).
	EngineWasm Engine = "wasm"
)

// DefaultEngine is the engine rules run on by default: EngineWasm where
// wazero has a compiler (amd64, arm64), EngineEval elsewhere (armv7, where
// wazero's interpreter is far slower than the evaluator).
func DefaultEngine() Engine {
	if wasm.CompilerSupported() {
		return EngineWasm
	}
	return EngineEval
}

// ParseEngine parses an engine name ("eval" or "wasm").
func ParseEngine(s string) (Engine, error) {
	switch Engine(s) {
	case EngineEval, EngineWasm:
		return Engine(s), nil
	}
	return "", fmt.Errorf("unknown engine %q (wasm or eval)", s)
}

// Evaluator runs a rule on one input: *Rule and *CompiledRule implement it,
// with identical results.
type Evaluator interface {
	Eval(in Columns) (*Output, error)
}

// WasmHost runs compiled rules: a wasm.Runtime with the rule host
// functions registered. It is safe for concurrent use.
type WasmHost struct {
	rt *wasm.Runtime
}

// NewWasmHost creates a host for compiled rules (cfg.CacheDir enables the
// on-disk compilation cache).
func NewWasmHost(ctx context.Context, cfg wasm.Config) (*WasmHost, error) {
	rt, err := wasm.NewRuntime(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := rt.RegisterHost(ctx, abi.RuleImportModule, ruleHostFuncs()); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &WasmHost{rt: rt}, nil
}

// Runtime returns the host's wasm runtime.
func (h *WasmHost) Runtime() *wasm.Runtime { return h.rt }

// Close closes the host and every rule loaded into it.
func (h *WasmHost) Close() error { return h.rt.Close(context.Background()) }

var defaultHost = sync.OnceValues(func() (*WasmHost, error) {
	return NewWasmHost(context.Background(), wasm.Config{})
})

// DefaultWasmHost returns the process-wide host (no on-disk cache), made on
// first use.
func DefaultWasmHost() (*WasmHost, error) { return defaultHost() }

// CompiledRule is a rule compiled to Wasm and loaded into a WasmHost. Its
// Eval gives exactly what the rule's own Eval gives. It is safe for
// concurrent use: each call takes an instance from a pool.
type CompiledRule struct {
	// Rule is the rule it was compiled from.
	Rule *Rule
	c    *compiled
	mod  *wasm.Module
}

// Load compiles r and loads it (compiling the module to machine code, or
// taking it from the compilation cache). Do it once per rule version.
func (h *WasmHost) Load(r *Rule) (*CompiledRule, error) {
	c, err := compileRule(r)
	if err != nil {
		return nil, err
	}
	cr := &CompiledRule{Rule: r, c: c}
	mod, err := h.rt.Compile(context.Background(), c.bin, abi.ExportEval, func(i *wasm.Instance) any {
		mem, _ := i.Mem.Read(0, i.Mem.Size())
		st := &wasmCall{cr: cr, inst: i, mem: mem, work: i.Global(abi.ExportWork), limit: i.Global(abi.ExportLimit),
			recs: i.Global(abi.ExportRecs), jcache: i.Global(abi.ExportJCache)}
		st.refs, st.rootStr, st.rootVal = st.refBuf[:0], st.rootStrBuf[:0], st.rootValBuf[:0]
		st.at, st.spans, st.vals = st.atBuf[:0], st.spanBuf[:0], st.valBuf[:0]
		st.nFields, st.foreach, st.hasStar = len(r.Fields), r.Foreach, c.hasStar
		return st
	})
	if err != nil {
		return nil, err
	}
	cr.mod = mod
	return cr, nil
}

// CompileRule compiles and loads r into DefaultWasmHost.
func CompileRule(r *Rule) (*CompiledRule, error) {
	h, err := DefaultWasmHost()
	if err != nil {
		return nil, err
	}
	return h.Load(r)
}

// Wasm returns the rule's module binary.
func (c *CompiledRule) Wasm() []byte { return c.c.bin }

// Close releases the compiled module and its instances.
func (c *CompiledRule) Close() error { return c.mod.Close(context.Background()) }

// Prepare returns an Evaluator for r on engine: r itself for EngineEval, a
// CompiledRule loaded into DefaultWasmHost for EngineWasm.
func Prepare(r *Rule, engine Engine) (Evaluator, error) {
	switch engine {
	case EngineEval:
		return r, nil
	case EngineWasm:
		return CompileRule(r)
	}
	return nil, fmt.Errorf("unknown engine %q (wasm or eval)", engine)
}

// TestEngine is Test on the given engine.
func TestEngine(engine Engine, sql, contextJSON string) ([]byte, error) {
	if engine == EngineEval {
		return Test(sql, contextJSON)
	}
	r, err := Parse(sql)
	if err != nil {
		return nil, err
	}
	cols, err := DecodeColumns(contextJSON)
	if err != nil {
		return nil, fmt.Errorf("context: %w", err)
	}
	if !r.Triggered(cols) {
		return []byte("null"), nil
	}
	ev, err := Prepare(r, engine)
	if err != nil {
		return nil, err
	}
	if c, ok := ev.(*CompiledRule); ok {
		defer c.Close()
	}
	out, err := ev.Eval(cols)
	if err != nil {
		return nil, err
	}
	return out.JSON(), nil
}

// wasmCall is the host-side state of one instance, reset for each call.
type wasmCall struct {
	cr          *CompiledRule
	inst        *wasm.Instance
	mem         []byte // the instance's memory (one page, never grown)
	work, limit api.MutableGlobal
	recs        api.MutableGlobal // the deferred records' end
	jcache      api.MutableGlobal // the guest's view of e's decoding cache
	e           *env              // &ev during a call
	ev          env
	glimit      int64     // the budget the guest was given (e.limit may become exact later)
	stack       [3]uint64 // eval's parameter and results
	refs        []Value
	args        []Value
	res         map[string]Value
	out         *Output
	collKey     []Step
	coll        []Value
	item        map[string]Value
	err         error
	// The input slots' columns (compile_exec.go): their values, their
	// strings (for the decoding cache) and JSON value spans.
	rootStr []string
	rootVal []Value // (only during fillSlots)
	spans   []int
	vals    []Value
	at      []int
	// A lazy FOREACH collection (lazyCollOK): its text and element spans.
	lazy      bool
	lazyS     string
	lazySpans []int
	// Inline backing arrays of the slices above for small rules, so that
	// a call touches fewer separate allocations (with many rules, each
	// call of another module meets cold caches).
	// The rule's shape, copied next to the rest (see refBuf).
	nFields    int
	foreach    bool
	hasStar    bool
	refBuf     [8]Value
	rootStrBuf [4]string
	rootValBuf [4]Value
	atBuf      [4]int
	spanBuf    [16]int
	valBuf     [8]Value
	// jc is the cache id last agreed with the guest, lastSrc the string
	// e's cache held then.
	jc      int32
	lastSrc string
}

var itemKey = []Step{{Key: "item"}}

// Eval evaluates the rule on in, like (*Rule).Eval: a nil Output when WHERE
// is false, an *EvalError when evaluation fails.
func (c *CompiledRule) Eval(in Columns) (*Output, error) {
	return c.run(in, true)
}

// Match reports whether Eval would give an output (WHERE holds), with
// Eval's errors, without returning the output: for a rule without fields
// (a WHERE alone, as engine.ShareSelectStar compiles SELECT * rules to) it
// builds none.
func (c *CompiledRule) Match(in Columns) (bool, error) {
	out, err := c.run(in, false)
	return out != nil, err
}

// noOutput is run's output for Match when the rule's output is not built.
var noOutput = &Output{}

func (c *CompiledRule) run(in Columns, wantOut bool) (out *Output, err error) {
	inst, err := c.mod.Get(context.Background())
	if err != nil {
		return nil, err
	}
	st := inst.State.(*wasmCall)
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, evalErr("internal error: %v", p)
		}
		st.reset()
		c.mod.Put(inst)
	}()
	out, err, again := st.eval(in, wantOut, maxWork, true)
	if again {
		// The guest ran out of the base budget before the input's share
		// was added: run it again with the exact budget.
		limit := st.e.limit
		st.reset()
		out, err, _ = st.eval(in, wantOut, limit, false)
	}
	return out, err
}

// reset clears the state of a call, for the next one.
func (st *wasmCall) reset() {
	clear(st.refs)
	st.refs = st.refs[:0]
	clear(st.rootStr)
	st.lastSrc, st.lazyS, st.lazy = "", "", false
	st.ev = env{}
	st.e, st.res, st.out, st.coll, st.item, st.err = nil, nil, nil, nil, nil, nil
}

// eval is one call of the module with the given budget (lazy: only
// maxWork so far, see env.overBudget). again reports that the guest
// exceeded a lazy budget that the exact one may allow.
func (st *wasmCall) eval(in Columns, wantOut bool, limit int64, lazy bool) (out *Output, err error, again bool) {
	c := st.cr
	st.ev = env{base: in, limit: limit, lazyLimit: lazy}
	st.e = &st.ev
	if wantOut || st.nFields > 0 {
		size := st.nFields
		if st.hasStar {
			size += len(in)
		}
		st.res = make(map[string]Value, size)
	}
	st.refs = append(st.refs, c.c.consts...)
	st.collKey = itemKey
	st.jc, st.lastSrc = -1, ""
	st.fillSlots(in)
	st.glimit = limit
	stack := st.stack[:]
	stack[0] = uint64(limit)
	if err := st.inst.Call(stack); err != nil {
		if st.err != nil {
			return nil, st.err, false
		}
		return nil, evalErr("internal error: %v", err), false
	}
	status := uint32(stack[0])
	switch status {
	case abi.StatusOK, abi.StatusNoMatch, abi.StatusBudget:
		if st.err != nil {
			return nil, st.err, false // foreach_begin failed (its count was 0)
		}
		// Apply the deferred records: an error of theirs came first.
		st.e.work = int64(stack[1])
		if err := st.flush(uint32(stack[2])); err != nil {
			return nil, err, false
		}
		if status == abi.StatusBudget && st.e.lazyLimit {
			if st.e.overBudget() == nil {
				return nil, nil, true
			}
		}
		if err := st.e.charge(0); err != nil {
			return nil, err, false
		}
		switch status {
		case abi.StatusOK:
			if st.foreach {
				return st.out, nil, false
			}
			if st.res == nil {
				return noOutput, nil, false
			}
			return &Output{Object: st.res}, nil, false
		case abi.StatusNoMatch:
			return nil, nil, false
		}
		return nil, evalErr("internal error: budget status within the budget"), false
	case abi.StatusHostError:
		return nil, st.err, false
	}
	return nil, evalErr("internal error: rule module returned status %d", status), false
}

func (st *wasmCall) value(t, b uint64) Value {
	switch uint32(t) {
	case abi.TagNull:
		return Null
	case abi.TagBool:
		return b != 0
	case abi.TagInt:
		return int64(b)
	case abi.TagFloat:
		return math.Float64frombits(b)
	case abi.TagRef:
		return st.refs[b]
	}
	return nil
}

// put writes v as (tag, bits) into stack[0:2].
func (st *wasmCall) put(stack []uint64, v Value) {
	var t, b uint64
	switch x := v.(type) {
	case nil:
		t = abi.TagUndefined
	case NullType:
		t = abi.TagNull
	case bool:
		t = abi.TagBool
		if x {
			b = 1
		}
	case int64:
		t, b = abi.TagInt, uint64(x)
	case float64:
		t, b = abi.TagFloat, math.Float64bits(x)
	default:
		t, b = abi.TagRef, uint64(len(st.refs))
		st.refs = append(st.refs, v)
	}
	stack[0], stack[1] = t, b
}

// fail records err and writes the failure code.
func (st *wasmCall) fail(stack []uint64, code uint64, err error) {
	st.err = err
	stack[0] = code
}

// hostFunc wraps a rule host function: it finds the call state, keeps the
// work budget in step with the module's global, and turns a panic into the
// evaluator's "internal error".
func hostFunc(name string, params, results []api.ValueType, failCode uint64, f func(st *wasmCall, stack []uint64)) wasm.HostFunc {
	return wasm.HostFunc{Name: name, Params: params, Results: results,
		Fn: func(_ context.Context, inst *wasm.Instance, stack []uint64) {
			st := inst.State.(*wasmCall)
			defer func() {
				if p := recover(); p != nil {
					st.fail(stack, failCode, evalErr("internal error: %v", p))
				}
			}()
			st.e.work = int64(st.work.Get())
			end := uint32(st.recs.Get())
			if end != abi.RecOffset {
				st.recs.Set(abi.RecOffset)
			}
			if err := st.flush(end); err != nil {
				st.fail(stack, failCode, err)
				return
			}
			if err := st.e.charge(0); err != nil {
				st.fail(stack, failCode, err)
				return
			}
			st.cacheIn()
			f(st, stack)
			st.cacheOut()
			st.work.Set(uint64(st.e.work))
			if st.e.limit != st.glimit {
				// A charge on the host made the budget exact: so is
				// the guest's.
				st.glimit = st.e.limit
				st.limit.Set(uint64(st.glimit))
			}
		}}
}

var (
	tI32 = api.ValueTypeI32
	tI64 = api.ValueTypeI64
)

func ruleHostFuncs() []wasm.HostFunc {
	val := []api.ValueType{tI32, tI64}
	status := []api.ValueType{tI32}
	return []wasm.HostFunc{
		hostFunc(abi.ImportNode, []api.ValueType{tI32}, val, abi.TagError, func(st *wasmCall, s []uint64) {
			v, err := st.cr.c.nodes[uint32(s[0])].eval(st.e)
			if err != nil {
				st.fail(s, abi.TagError, err)
				return
			}
			st.put(s, v)
		}),
		hostFunc(abi.ImportCall, []api.ValueType{tI32, tI32}, val, abi.TagError, hostCall),
		hostFunc(abi.ImportOp, []api.ValueType{tI32, tI32, tI64, tI32, tI64}, val, abi.TagError, hostOp),
		hostFunc(abi.ImportEq, []api.ValueType{tI32, tI32, tI64, tI32, tI64}, status, 2, func(st *wasmCall, s []uint64) {
			a, b := st.value(s[1], s[2]), st.value(s[3], s[4])
			if s[0] == 1 {
				if err := st.e.charge(1 + sizeOf(b)); err != nil {
					st.fail(s, 2, err)
					return
				}
			}
			s[0] = 0
			if exactEqual(a, b) {
				s[0] = 1
			}
		}),
		hostFunc(abi.ImportEmit, []api.ValueType{tI32, tI32, tI32, tI64}, status, abi.StatusHostError, hostEmit),
		hostFunc(abi.ImportEmitNode, []api.ValueType{tI32, tI32, tI32}, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			v, err := st.cr.c.nodes[uint32(s[2])].eval(st.e)
			if err != nil {
				st.fail(s, abi.StatusHostError, err)
				return
			}
			st.emit(s, s[0], s[1], v)
		}),
		hostFunc(abi.ImportCallEmit, []api.ValueType{tI32, tI32, tI32, tI32}, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			v, err := st.callBuiltin(s[2], s[3], abi.ArgsOffset)
			if err != nil {
				st.fail(s, abi.StatusHostError, err)
				return
			}
			st.emit(s, s[0], s[1], v)
		}),
		hostFunc(abi.ImportWhere, nil, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			st.e.over = st.res
			s[0] = abi.StatusOK
		}),
		hostFunc(abi.ImportForeachLast, []api.ValueType{tI32, tI64}, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			r := st.cr.Rule
			last := &r.Fields[len(r.Fields)-1]
			v := st.value(s[0], s[1])
			if last.Alias != nil {
				st.collKey = last.Alias
			}
			if _, ok := v.(lazyList); ok {
				// Nothing reads the output before the items (lazyCollOK).
				st.lazy = true
				s[0] = abi.StatusOK
				return
			}
			if l, ok := v.([]Value); ok {
				st.coll = l
			}
			if v != nil {
				if err := putPath(st.res, last.Key, v, nil, st.e); err != nil {
					st.fail(s, abi.StatusHostError, err)
					return
				}
			}
			s[0] = abi.StatusOK
		}),
		hostFunc(abi.ImportForeachBegin, nil, status, 0, func(st *wasmCall, s []uint64) {
			st.out = &Output{Foreach: true, Items: make([]map[string]Value, 0, st.collLen())}
			st.e.over = nil
			st.fillElems(0)
			s[0] = uint64(st.collLen())
		}),
		hostFunc(abi.ImportForeachFill, []api.ValueType{tI32}, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			st.fillElems(int(uint32(s[0])))
			s[0] = abi.StatusOK
		}),
		hostFunc(abi.ImportFlush, nil, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			s[0] = abi.StatusOK
		}),
		hostFunc(abi.ImportForeachBind, []api.ValueType{tI32, tI32}, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			e := st.e
			el := st.coll[uint32(s[0])]
			if err := e.charge(1 + int64(len(e.base))); err != nil {
				st.fail(s, abi.StatusHostError, err)
				return
			}
			clear(e.over)
			if len(st.collKey) == 1 {
				e.bindKey, e.bindVal, e.bound = st.collKey[0].Key, el, true
			} else if el != nil {
				if err := e.writeBack(st.collKey, el); err != nil {
					st.fail(s, abi.StatusHostError, err)
					return
				}
			}
			if s[1] == 1 {
				st.startItem()
			}
			s[0] = abi.StatusOK
		}),
		hostFunc(abi.ImportForeachItem, nil, status, abi.StatusHostError, func(st *wasmCall, s []uint64) {
			st.startItem()
			s[0] = abi.StatusOK
		}),
	}
}

// startItem appends a FOREACH output item: the DO fields follow, or,
// without DO, what * selects.
func (st *wasmCall) startItem() {
	e, do := st.e, st.cr.Rule.Do
	item := make(map[string]Value, len(do))
	if do == nil {
		fillStar(e, item)
	}
	st.out.Items = append(st.out.Items, item)
	st.item = item
}

// fillStar copies what * selects: the input, the bound element and the
// written-back values.
func fillStar(e *env, out map[string]Value) {
	for k, v := range e.base {
		out[k] = v
	}
	if e.bound {
		out[e.bindKey] = e.bindVal
	}
	for k, v := range e.over {
		out[k] = v
	}
}

// hostCall calls a built-in function with the arguments the guest wrote,
// charging the budget as Call.eval does.
func hostCall(st *wasmCall, s []uint64) {
	v, err := st.callBuiltin(s[0], s[1], abi.ArgsOffset)
	if err != nil {
		st.fail(s, abi.TagError, err)
		return
	}
	st.put(s, v)
}

// callBuiltin calls call site id on the argc arguments in the slots at
// args.
func (st *wasmCall) callBuiltin(id, argc uint64, args uint32) (Value, error) {
	c := st.cr.c.calls[uint32(id)]
	mem := st.mem
	base := len(st.args)
	cost := int64(1)
	for i := 0; i < int(uint32(argc)); i++ {
		off := args + uint32(i*abi.ArgSlotSize)
		t := le.Uint32(mem[off:])
		b := le.Uint64(mem[off+8:])
		v := st.value(uint64(t), b)
		st.args = append(st.args, v)
		cost += sizeOf(v)
	}
	v, err := c.Builtin.Call(st.e, st.args[base:len(st.args):len(st.args)])
	clear(st.args[base:])
	st.args = st.args[:base]
	if err == nil {
		err = st.e.charge(cost + sizeOf(v))
	}
	return v, err
}

var abiOps = map[uint64]Op{
	abi.OpAdd: OpAdd, abi.OpSub: OpSub, abi.OpMul: OpMul, abi.OpDiv: OpDiv,
	abi.OpIntDiv: OpIntDiv, abi.OpMod: OpMod, abi.OpEq: OpEq, abi.OpNe: OpNe,
	abi.OpLt: OpLt, abi.OpLe: OpLe, abi.OpGt: OpGt, abi.OpGe: OpGe, abi.OpMatch: OpMatch,
	abi.OpNeg: OpSub, abi.OpPlus: OpAdd,
}

// hostOp applies an operator the module did not handle natively, through
// the evaluator's own Unary and Binary code on constant operands (so the
// results, errors and budget charges are the evaluator's).
func hostOp(st *wasmCall, s []uint64) {
	op := abiOps[s[0]]
	l := st.value(s[1], s[2])
	var v Value
	var err error
	if s[0] == abi.OpNeg || s[0] == abi.OpPlus {
		v, err = (&Unary{Op: op, X: &Literal{Value: l}}).eval(st.e)
	} else {
		// Binary.eval's charge and operation, on the values.
		r := st.value(s[3], s[4])
		if err = st.e.charge(1 + sizeOf(l) + sizeOf(r)); err == nil {
			if op.IsComparison() {
				v, err = Compare(op, l, r)
			} else {
				v, err = Arith(op, l, r)
			}
		}
	}
	if err != nil {
		st.fail(s, abi.TagError, err)
		return
	}
	st.put(s, v)
}

// hostEmit writes a field's value as selectInto does.
func hostEmit(st *wasmCall, s []uint64) {
	st.emit(s, s[0], s[1], st.value(s[2], s[3]))
}

// emit writes field of set with value v (skipped when undefined, except
// for *) and puts the status in s[0].
func (st *wasmCall) emit(s []uint64, set, field uint64, v Value) {
	s[0] = abi.StatusOK
	if err := st.emitValue(set, field, v); err != nil {
		st.fail(s, abi.StatusHostError, err)
	}
}

// emitValue writes field of set with value v as selectInto does.
func (st *wasmCall) emitValue(set, field uint64, v Value) error {
	r, e := st.cr.Rule, st.e
	fields, out := r.Fields, st.res
	if set == abi.SetDo {
		fields, out = r.Do, st.item
	}
	f := &fields[uint32(field)]
	if f.Star {
		fillStar(e, out)
		return nil
	}
	if v == nil {
		return nil
	}
	if f.writeBack {
		if err := e.writeBack(f.Key, v); err != nil {
			return err
		}
	}
	if len(f.Key) == 1 {
		out[f.Key[0].Key] = v
		return nil
	}
	return putPath(out, f.Key, v, nil, e)
}
