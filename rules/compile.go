package rules

import (
	"errors"
	"math"

	"github.com/wedge-iot/wedge/guest-sdk/abi"
)

// Import function indexes, in the order of ruleImports.
const (
	impNode = iota
	impCall
	impOp
	impEq
	impEmit
	impWhere
	impForeachLast
	impForeachBegin
	impForeachBind
	impForeachItem
	impEmitNode
	impCallEmit
	impFlush
	impForeachFill
	numImports
)

// Function types of the module.
var ruleTypes = []wfuncType{
	{[]byte{wI32}, []byte{wI32, wI64}},                         // 0 node
	{[]byte{wI32, wI32}, []byte{wI32, wI64}},                   // 1 call
	{[]byte{wI32, wI32, wI64, wI32, wI64}, []byte{wI32, wI64}}, // 2 op
	{[]byte{wI32, wI32, wI64, wI32, wI64}, []byte{wI32}},       // 3 eq
	{[]byte{wI32, wI32, wI32, wI64}, []byte{wI32}},             // 4 emit
	{nil, []byte{wI32}},                                        // 5 status, eval
	{[]byte{wI32, wI64}, []byte{wI32}},                         // 6 foreach_last
	{[]byte{wI32, wI32}, []byte{wI32}},                         // 7 foreach_bind
	{[]byte{wI32, wI32, wI32}, []byte{wI32}},                   // 8 emit_node
	{[]byte{wI32, wI32, wI32, wI32}, []byte{wI32}},             // 9 call_emit
	{[]byte{wI32}, []byte{wI32}},                               // 10 foreach_fill
	{[]byte{wI64}, []byte{wI32, wI64, wI32}},                   // 11 eval: limit -> status, work, recs
}

// Function indexes of the module's own functions, after the imports: eval
// (exported) sets the budget and calls run, the rule's body, then returns
// the status, the work spent and the records' end, so that the host sets
// and reads no global on a call.
const (
	funcEval = numImports
	funcRun  = numImports + 1
)

// ruleImports lists the host functions (name, type index) by import index.
var ruleImports = [numImports]struct {
	name string
	typ  uint32
}{
	{abi.ImportNode, 0}, {abi.ImportCall, 1}, {abi.ImportOp, 2}, {abi.ImportEq, 3},
	{abi.ImportEmit, 4}, {abi.ImportWhere, 5}, {abi.ImportForeachLast, 6},
	{abi.ImportForeachBegin, 5}, {abi.ImportForeachBind, 7}, {abi.ImportForeachItem, 5},
	{abi.ImportEmitNode, 8}, {abi.ImportCallEmit, 9}, {abi.ImportFlush, 5},
	{abi.ImportForeachFill, 10},
}

// Globals of the module.
const (
	globWork   = 0
	globLimit  = 1
	globRecs   = 2
	globJCache = 3
)

// compiled is the output of the compiler: the module and the tables its
// host calls refer to.
type compiled struct {
	bin    []byte
	nodes  []Expr  // ImportNode's node ids
	calls  []*Call // ImportCall's call ids
	consts []Value // ref constants: refs[0:len(consts)] of every call
	// The input slots (see compile_plan.go): the columns they read, per
	// column the first keys of its paths (and whether a path ends at
	// one) and whether any path has steps, and the slots' paths.
	roots     []string
	rootKeys  [][]string
	rootTerm  [][]bool // per root and first key: a path ends there
	rootSteps []bool
	slots     []slotPath
	// elemPaths are the element slots' paths, from the FOREACH element;
	// elemKeys the distinct keys they start with, elemKeyIdx each path's
	// (-1: it starts otherwise).
	elemPaths  [][]Step
	elemKeys   []string
	elemKeyIdx []int
	// hasStar is true when SELECT has *: the output then holds the input.
	hasStar bool
}

// wval is a value held in two locals: its tag (i32) and bits (i64).
type wval struct{ t, b uint32 }

// gen generates the body of eval.
type gen struct {
	code    wbuf
	locals  []byte
	out     *compiled
	scratch uint32 // an i32 local for statuses
	// Column reads (compile_plan.go).
	ctx      readCtx
	slotIdx  map[string]int
	elemIdx  map[string]int
	rootIdx  map[string]int
	elemBase uint32 // an i32 local: the current element's slots
}

// Compile compiles a checked rule to a WebAssembly module implementing the
// rule-module ABI (see guest-sdk/README.md). The module is deterministic:
// compiling the same rule gives the same bytes.
func Compile(r *Rule) ([]byte, error) {
	c, err := compileRule(r)
	if err != nil {
		return nil, err
	}
	return c.bin, nil
}

func compileRule(r *Rule) (*compiled, error) {
	if r == nil || (len(r.Fields) == 0 && r.Where == nil) {
		return nil, errors.New("rules: compile: empty rule") // a WHERE alone is a filter (engine.ShareSelectStar)
	}
	g := &gen{out: &compiled{}, slotIdx: map[string]int{}, elemIdx: map[string]int{}, rootIdx: map[string]int{}}
	g.scratch = g.local(wI32)
	g.elemBase = g.local(wI32)
	for i := range r.Fields {
		g.out.hasStar = g.out.hasStar || r.Fields[i].Star
	}
	g.rule(r)
	g.out.indexElemKeys()
	g.out.bin = g.module()
	return g.out, nil
}

func (g *gen) local(t byte) uint32 {
	g.locals = append(g.locals, t)
	return uint32(len(g.locals) - 1)
}

func (g *gen) newVal() wval { return wval{g.local(wI32), g.local(wI64)} }

func (g *gen) op(c ...byte)   { g.code.byte1(c...) }
func (g *gen) get(l uint32)   { g.op(opLocalGet); g.code.u32(l) }
func (g *gen) set(l uint32)   { g.op(opLocalSet); g.code.u32(l) }
func (g *gen) i32(v int32)    { g.op(opI32Const); g.code.s64(int64(v)) }
func (g *gen) i64(v int64)    { g.op(opI64Const); g.code.s64(v) }
func (g *gen) call(f uint32)  { g.op(opCall); g.code.u32(f) }
func (g *gen) ifThen()        { g.op(opIf, blockVoid) }
func (g *gen) end()           { g.op(opEnd) }
func (g *gen) pushVal(v wval) { g.get(v.t); g.get(v.b) }
func (g *gen) setConst(v wval, tag int32, bits int64) {
	g.i32(tag)
	g.set(v.t)
	g.i64(bits)
	g.set(v.b)
}

// tagIs pushes v.t == tag.
func (g *gen) tagIs(v wval, tag int32) {
	g.get(v.t)
	g.i32(tag)
	g.op(opI32Eq)
}

// returnStatus returns the status on the stack from eval when it is not 0.
func (g *gen) returnStatus() {
	g.op(opLocalTee)
	g.code.u32(g.scratch)
	g.ifThen()
	g.get(g.scratch)
	g.op(opReturn)
	g.end()
}

// checkErr returns StatusHostError when v is an error.
func (g *gen) checkErr(v wval) {
	g.tagIs(v, abi.TagError)
	g.ifThen()
	g.i32(abi.StatusHostError)
	g.op(opReturn)
	g.end()
}

// hostResult stores a (tag, bits) result of a host call into a new value.
func (g *gen) hostResult() wval {
	v := g.newVal()
	g.set(v.b)
	g.set(v.t)
	g.checkErr(v)
	return v
}

// charge spends n units of the work budget, returning StatusBudget from
// eval when it is exceeded (as env.charge does).
func (g *gen) charge(n int64) {
	g.op(opGlobalGet)
	g.code.u32(globWork)
	g.i64(n)
	g.op(opI64Add, opGlobalSet)
	g.code.u32(globWork)
	g.op(opGlobalGet)
	g.code.u32(globWork)
	g.op(opGlobalGet)
	g.code.u32(globLimit)
	g.op(opI64GtS)
	g.ifThen()
	g.i32(abi.StatusBudget)
	g.op(opReturn)
	g.end()
}

// node evaluates x on the host.
func (g *gen) node(x Expr) wval {
	g.i32(int32(len(g.out.nodes)))
	g.out.nodes = append(g.out.nodes, x)
	g.call(impNode)
	return g.hostResult()
}

// hostOp applies op on the host.
func (g *gen) hostOp(code int32, l, r wval, res wval) {
	g.i32(code)
	g.pushVal(l)
	g.pushVal(r)
	g.call(impOp)
	g.set(res.b)
	g.set(res.t)
	g.checkErr(res)
}

func opCode(op Op) int32 {
	switch op {
	case OpAdd:
		return abi.OpAdd
	case OpSub:
		return abi.OpSub
	case OpMul:
		return abi.OpMul
	case OpDiv:
		return abi.OpDiv
	case OpIntDiv:
		return abi.OpIntDiv
	case OpMod:
		return abi.OpMod
	case OpEq:
		return abi.OpEq
	case OpNe:
		return abi.OpNe
	case OpLt:
		return abi.OpLt
	case OpLe:
		return abi.OpLe
	case OpGt:
		return abi.OpGt
	case OpGe:
		return abi.OpGe
	case OpMatch:
		return abi.OpMatch
	}
	return 0
}

// callArgsOnly evaluates a call's arguments and writes them to the
// argument slots.
func (g *gen) callArgsOnly(n *Call) {
	args := make([]wval, len(n.Args))
	for i, a := range n.Args {
		args[i] = g.expr(a)
	}
	for i, a := range args {
		off := uint32(abi.ArgsOffset + i*abi.ArgSlotSize)
		g.i32(0)
		g.get(a.t)
		g.op(opI32Store)
		g.code.u32(2)
		g.code.u32(off)
		g.i32(0)
		g.get(a.b)
		g.op(opI64Store)
		g.code.u32(3)
		g.code.u32(off + 8)
	}
}

// pushCall pushes a call site's id and argument count.
func (g *gen) pushCall(n *Call) {
	g.i32(int32(len(g.out.calls)))
	g.out.calls = append(g.out.calls, n)
	g.i32(int32(len(n.Args)))
}

// callArgs evaluates a call's arguments, writes them to the argument
// slots and pushes the call id and argc (for impCall).
func (g *gen) callArgs(n *Call) {
	g.callArgsOnly(n)
	g.pushCall(n)
}

// expr compiles an expression; the result is in the returned locals.
func (g *gen) expr(x Expr) wval {
	switch n := x.(type) {
	case *Literal:
		v := g.newVal()
		switch c := n.Value.(type) {
		case int64:
			g.setConst(v, abi.TagInt, c)
		case float64:
			g.setConst(v, abi.TagFloat, int64(math.Float64bits(c)))
		case bool:
			b := int64(0)
			if c {
				b = 1
			}
			g.setConst(v, abi.TagBool, b)
		case NullType:
			g.setConst(v, abi.TagNull, 0)
		case nil:
			g.setConst(v, abi.TagUndefined, 0)
		default:
			g.setConst(v, abi.TagRef, int64(len(g.out.consts)))
			g.out.consts = append(g.out.consts, c)
		}
		return v
	case *Call:
		if n.Builtin == nil || len(n.Args) > abi.MaxArgs {
			return g.node(x)
		}
		g.callArgs(n)
		g.call(impCall)
		return g.hostResult()
	case *Unary:
		return g.unary(n)
	case *Binary:
		return g.binary(n)
	case *In:
		return g.in(n)
	case *Logic, *Not:
		t := g.test(x)
		v := g.newVal()
		g.i32(abi.TagBool)
		g.set(v.t)
		g.get(t)
		g.op(opI64ExtI32U)
		g.set(v.b)
		return v
	case *Case:
		return g.caseExpr(n)
	case *Path:
		if elem, idx, ok := g.slotFor(n); ok {
			return g.slotRead(n, elem, idx)
		}
	}
	// Path, Slice, Range, ListLit: on the host (see wasm/README.md).
	return g.node(x)
}

func (g *gen) unary(n *Unary) wval {
	x := g.expr(n.X)
	v := g.newVal()
	code := int32(abi.OpPlus)
	if n.Op == OpSub {
		code = abi.OpNeg
	}
	// Native: a float, or +int, or -int other than the smallest.
	g.tagIs(x, abi.TagFloat)
	if n.Op == OpSub {
		g.tagIs(x, abi.TagInt)
		g.get(x.b)
		g.i64(math.MinInt64)
		g.op(opI64Ne, opI32And)
	} else {
		g.tagIs(x, abi.TagInt)
	}
	g.op(opI32Or)
	g.ifThen()
	g.get(x.t)
	g.set(v.t)
	if n.Op == OpSub {
		g.tagIs(x, abi.TagInt)
		g.ifThen()
		g.i64(0)
		g.get(x.b)
		g.op(opI64Sub)
		g.set(v.b)
		g.op(opElse)
		g.get(x.b)
		g.i64(math.MinInt64)
		g.op(opI64Xor)
		g.set(v.b)
		g.end()
	} else {
		g.get(x.b)
		g.set(v.b)
	}
	g.op(opElse)
	g.hostOp(code, x, wval{x.t, x.b}, v)
	g.end()
	return v
}

func (g *gen) binary(n *Binary) wval {
	l := g.expr(n.L)
	r := g.expr(n.R)
	v := g.newVal()
	code := opCode(n.Op)
	var intOp, floatOp byte
	arith := false
	switch n.Op {
	case OpEq:
		intOp, floatOp = opI64Eq, opF64Eq
	case OpNe:
		intOp, floatOp = opI64Ne, opF64Ne
	case OpLt:
		intOp, floatOp = opI64LtS, opF64Lt
	case OpLe:
		intOp, floatOp = opI64LeS, opF64Le
	case OpGt:
		intOp, floatOp = opI64GtS, opF64Gt
	case OpGe:
		intOp, floatOp = opI64GeS, opF64Ge
	case OpAdd:
		intOp, floatOp, arith = opI64Add, opF64Add, true
	case OpSub:
		intOp, floatOp, arith = opI64Sub, opF64Sub, true
	case OpMul:
		intOp, floatOp, arith = opI64Mul, opF64Mul, true
	case OpIntDiv:
		intOp, arith = opI64DivS, true
	case OpMod:
		intOp, arith = opI64RemS, true
	default:
		g.hostOp(code, l, r, v)
		return v
	}
	both := func(tag int32) {
		g.tagIs(l, tag)
		g.tagIs(r, tag)
		g.op(opI32And)
	}
	if !arith {
		both(abi.TagInt)
		g.ifThen()
		g.charge(1)
		g.i32(abi.TagBool)
		g.set(v.t)
		g.get(l.b)
		g.get(r.b)
		g.op(intOp, opI64ExtI32U)
		g.set(v.b)
		g.op(opElse)
		g.bothNum(l, r)
		g.ifThen()
		g.charge(1)
		g.i32(abi.TagBool)
		g.set(v.t)
		g.f64(l)
		g.f64(r)
		g.op(floatOp, opI64ExtI32U)
		g.set(v.b)
		g.op(opElse)
		g.hostOp(code, l, r, v)
		g.end()
		g.end()
		return v
	}
	// Arithmetic: compute natively into v.b, then keep it only when it did
	// not overflow (integers) or is finite (floats); otherwise the host
	// recomputes it and reports the error.
	ok := g.local(wI32)
	g.i32(0)
	g.set(ok)
	if intOp != 0 {
		both(abi.TagInt)
		g.ifThen()
		pre := n.Op != OpAdd && n.Op != OpSub
		if pre {
			// Checked before computing (div and rem trap on 0):
			// mul: both operands fit in 32 bits, so the product fits;
			// div, mod: the divisor is neither 0 nor -1.
			if n.Op == OpMul {
				g.fits32(l)
				g.fits32(r)
				g.op(opI32And)
			} else {
				g.get(r.b)
				g.i64(0)
				g.op(opI64Ne)
				g.get(r.b)
				g.i64(-1)
				g.op(opI64Ne, opI32And)
			}
			g.op(opLocalTee)
			g.code.u32(ok)
			g.ifThen()
		}
		g.get(l.b)
		g.get(r.b)
		g.op(intOp)
		g.set(v.b)
		if !pre {
			// add: (l^s)&(r^s) >= 0; sub: (l^r)&(l^s) >= 0
			if n.Op == OpAdd {
				g.get(l.b)
				g.get(v.b)
				g.op(opI64Xor)
				g.get(r.b)
				g.get(v.b)
				g.op(opI64Xor)
			} else {
				g.get(l.b)
				g.get(r.b)
				g.op(opI64Xor)
				g.get(l.b)
				g.get(v.b)
				g.op(opI64Xor)
			}
			g.op(opI64And)
			g.i64(0)
			g.op(opI64GeS)
			g.set(ok)
		}
		g.i32(abi.TagInt)
		g.set(v.t)
		if pre {
			g.end()
		}
		g.end()
	}
	if floatOp == 0 {
		g.get(ok)
		g.ifThen()
		g.charge(1)
		g.op(opElse)
		g.hostOp(code, l, r, v)
		g.end()
		return v
	}
	// Numbers, not both integers: as floats (Arith's toFloat).
	g.bothNum(l, r)
	g.get(l.t)
	g.get(r.t)
	g.op(opI32Ne)
	g.tagIs(l, abi.TagFloat)
	g.op(opI32Or, opI32And)
	g.ifThen()
	g.f64(l)
	g.f64(r)
	g.op(floatOp, opI64FromF64)
	g.set(v.b)
	// finite: f - f == 0
	g.get(v.b)
	g.op(opF64FromI64)
	g.get(v.b)
	g.op(opF64FromI64, opF64Sub)
	g.op(opF64Const)
	g.code.f64(0)
	g.op(opF64Eq)
	g.set(ok)
	g.i32(abi.TagFloat)
	g.set(v.t)
	g.end()
	g.get(ok)
	g.ifThen()
	g.charge(1)
	g.op(opElse)
	g.hostOp(code, l, r, v)
	g.end()
	return v
}

// fits32 pushes whether the integer v is within the int32 range.
func (g *gen) fits32(v wval) {
	g.get(v.b)
	g.i64(1 << 31)
	g.op(opI64Add)
	g.i64(1 << 32)
	g.op(opI64LtU)
}

// isNum pushes whether v is an integer or a float.
func (g *gen) isNum(v wval) {
	g.tagIs(v, abi.TagInt)
	g.tagIs(v, abi.TagFloat)
	g.op(opI32Or)
}

// bothNum pushes whether l and r are both numbers.
func (g *gen) bothNum(l, r wval) {
	g.isNum(l)
	g.isNum(r)
	g.op(opI32And)
}

// f64 pushes a number as an f64 (an integer converted, as toFloat does).
func (g *gen) f64(v wval) {
	g.tagIs(v, abi.TagInt)
	g.op(opIf, wF64)
	g.get(v.b)
	g.op(opF64FromI64S)
	g.op(opElse)
	g.get(v.b)
	g.op(opF64FromI64)
	g.end()
}

// exactEq pushes exactEqual(a, b) as an i32, calling the host when both
// are refs (charging b to the budget when charge is set: IN does).
func (g *gen) exactEq(a, b wval, charge bool) uint32 {
	res := g.local(wI32)
	g.i32(0)
	g.set(res)
	chargeHost := int32(0)
	if charge {
		chargeHost = 1
		// IN charges 1 + sizeOf(b): a ref's size is known on the host.
		g.tagIs(b, abi.TagRef)
	} else {
		g.tagIs(a, abi.TagRef)
		g.tagIs(b, abi.TagRef)
		g.op(opI32And)
	}
	g.ifThen()
	g.i32(chargeHost)
	g.pushVal(a)
	g.pushVal(b)
	g.call(impEq)
	g.op(opLocalTee)
	g.code.u32(res)
	g.i32(2)
	g.op(opI32Eq)
	g.ifThen()
	g.i32(abi.StatusHostError)
	g.op(opReturn)
	g.end()
	g.op(opElse)
	if charge {
		g.charge(1)
	}
	g.get(a.t)
	g.get(b.t)
	g.op(opI32Eq)
	g.ifThen()
	g.tagIs(a, abi.TagFloat)
	g.ifThen()
	g.get(a.b)
	g.op(opF64FromI64)
	g.get(b.b)
	g.op(opF64FromI64, opF64Eq)
	g.set(res)
	g.op(opElse)
	g.get(a.b)
	g.get(b.b)
	g.op(opI64Eq)
	g.set(res)
	g.end()
	g.end()
	g.end()
	return res
}

func (g *gen) in(n *In) wval {
	x := g.expr(n.X)
	found := g.local(wI32)
	g.i32(0)
	g.set(found)
	g.op(opBlock, blockVoid)
	for _, el := range n.List {
		w := g.expr(el)
		eq := g.exactEq(x, w, true)
		g.get(eq)
		g.set(found)
		g.get(found)
		g.op(opBrIf)
		g.code.u32(0)
	}
	g.end()
	v := g.newVal()
	g.i32(abi.TagBool)
	g.set(v.t)
	g.get(found)
	if n.Not {
		g.op(opI32Eqz)
	}
	g.op(opI64ExtI32U)
	g.set(v.b)
	return v
}

func (g *gen) caseExpr(n *Case) wval {
	v := g.newVal()
	var subj wval
	if n.Subject != nil {
		subj = g.expr(n.Subject)
	}
	for _, w := range n.Whens {
		var c uint32
		if n.Subject == nil {
			c = g.test(w.Cond)
		} else {
			c = g.exactEq(subj, g.expr(w.Cond), false)
		}
		g.get(c)
		g.ifThen()
		t := g.expr(w.Then)
		g.get(t.t)
		g.set(v.t)
		g.get(t.b)
		g.set(v.b)
		g.op(opElse)
	}
	if n.Else != nil {
		t := g.expr(n.Else)
		g.get(t.t)
		g.set(v.t)
		g.get(t.b)
		g.set(v.b)
	} else {
		g.setConst(v, abi.TagUndefined, 0)
	}
	for range n.Whens {
		g.end()
	}
	return v
}

// test compiles a condition into an i32 local: only the value true passes
// (env.test).
func (g *gen) test(x Expr) uint32 {
	res := g.local(wI32)
	switch n := x.(type) {
	case *Logic:
		l := g.test(n.L)
		g.get(l)
		g.set(res)
		g.get(l)
		if n.Op == OpOr {
			g.op(opI32Eqz)
		}
		g.ifThen()
		r := g.test(n.R)
		g.get(r)
		g.set(res)
		g.end()
		return res
	case *Not:
		if _, ok := n.X.(*Call); ok {
			v := g.expr(n.X)
			g.tagIs(v, abi.TagBool)
			g.get(v.b)
			g.op(opI64Eqz, opI32And)
			g.set(res)
			return res
		}
		t := g.test(n.X)
		g.get(t)
		g.op(opI32Eqz)
		g.set(res)
		return res
	}
	v := g.expr(x)
	g.tagIs(v, abi.TagBool)
	g.get(v.b)
	g.i64(1)
	g.op(opI64Eq, opI32And)
	g.set(res)
	return res
}

// hostOnly reports whether expr compiles to nothing but a node call.
func hostOnly(x Expr) bool {
	switch n := x.(type) {
	case *Path, *Slice, *Range, *ListLit:
		return true
	case *Call:
		return n.Builtin == nil
	}
	return false
}

// fields compiles SELECT/FOREACH (set SetSelect) or DO (SetDo) fields.
// Output writes are deferred records where the host would do nothing else
// (see deferrable); a field whose value is a host-only node is read and
// written in one crossing.
func (g *gen) fields(set int32, fields []Field) {
	for i := range fields {
		f := &fields[i]
		g.field(set, i, f)
		if f.writeBack {
			g.ctx.wb[f.Key[0].Key] = true
		}
	}
}

func (g *gen) field(set int32, i int, f *Field) {
	index := func() { g.i32(int32(i)) }
	if f.Star {
		g.record(abi.RecEmit, set, index, nil)
		return
	}
	if c, ok := f.Expr.(*Call); ok && c.Builtin != nil && len(c.Args) <= abi.MaxArgs {
		if deferrable(f) {
			g.recCallEmit(set, i, c)
			return
		}
		// Evaluate the arguments before pushing set and field: they
		// may contain calls of their own.
		g.callArgsOnly(c)
		g.i32(set)
		g.i32(int32(i))
		g.pushCall(c)
		g.call(impCallEmit)
		g.returnStatus()
		return
	}
	if hostOnly(f.Expr) {
		slotted := false
		if p, ok := f.Expr.(*Path); ok {
			_, _, slotted = g.slotFor(p)
		}
		if !slotted {
			g.i32(set)
			g.i32(int32(i))
			g.i32(int32(len(g.out.nodes)))
			g.out.nodes = append(g.out.nodes, f.Expr)
			g.call(impEmitNode)
			g.returnStatus()
			return
		}
	}
	v := g.expr(f.Expr)
	g.tagIs(v, abi.TagUndefined)
	g.op(opI32Eqz)
	g.ifThen()
	if deferrable(f) {
		g.record(abi.RecEmit, set, index, &v)
	} else {
		g.i32(set)
		g.i32(int32(i))
		g.pushVal(v)
		g.call(impEmit)
		g.returnStatus()
	}
	g.end()
}

func (g *gen) where(r *Rule) {
	if r.Where == nil {
		return
	}
	if len(r.Fields) > 0 {
		// (Without fields the output WHERE sees is empty: nothing to do.)
		g.record(abi.RecWhere, 0, nil, nil)
	}
	g.ctx = whereCtx(r)
	t := g.test(r.Where)
	g.get(t)
	g.op(opI32Eqz)
	g.ifThen()
	g.i32(abi.StatusNoMatch)
	g.op(opReturn)
	g.end()
}

func (g *gen) rule(r *Rule) {
	// Instances are reused: reset the record area and the decoding cache.
	g.i32(abi.RecOffset)
	g.globalSet(globRecs)
	g.i32(-1)
	g.globalSet(globJCache)
	g.ctx = readCtx{wb: map[string]bool{}}
	if !r.Foreach {
		g.fields(abi.SetSelect, r.Fields)
		g.where(r)
		g.i32(abi.StatusOK)
		return
	}
	n := len(r.Fields)
	g.fields(abi.SetSelect, r.Fields[:n-1])
	last := &r.Fields[n-1]
	if last.Star {
		g.fields(abi.SetSelect, r.Fields[n-1:])
	}
	// DO and INCASE see the input and the element: bound to a simple
	// name (item, or the alias), or written back at an alias path.
	simple := last.Alias == nil || len(last.Alias) == 1
	bind := "item"
	if last.Alias != nil {
		bind = last.Alias[0].Key
	}
	if !last.Star {
		// The host needs the field's index: emit it through foreach_last.
		var v wval
		p, isPath := last.Expr.(*Path)
		idx, lazy := 0, false
		if isPath && simple && lazyCollOK(r, bind) && !g.ctx.wb[p.Root] {
			idx, lazy = g.baseSlot(p, true)
		}
		if lazy {
			v = g.slotRead(p, false, idx)
		} else {
			v = g.expr(last.Expr)
		}
		g.pushVal(v)
		g.call(impForeachLast)
		g.returnStatus()
	}
	g.where(r)
	g.ctx = readCtx{wb: map[string]bool{}}
	if simple {
		g.ctx.bind, g.ctx.bound = bind, true
	} else {
		g.ctx.wb[last.Alias[0].Key] = true
	}
	// The loop body is compiled first, so that the number of element
	// paths (and so the chunk size) is known for the loop head.
	body := g.code
	g.code = nil
	g.op(opBlock, blockVoid)
	if r.Incase != nil {
		c := g.test(r.Incase)
		g.get(c)
		g.op(opI32Eqz, opBrIf)
		g.code.u32(0)
		g.record(abi.RecItem, 0, nil, nil)
	}
	if r.Do != nil {
		g.fields(abi.SetDo, r.Do)
	}
	g.end()
	loopBody := g.code
	g.code = body
	count, i := g.local(wI32), g.local(wI32)
	g.call(impForeachBegin)
	g.set(count)
	g.i32(0)
	g.set(i)
	g.op(opBlock, blockVoid)
	g.op(opLoop, blockVoid)
	g.get(i)
	g.get(count)
	g.op(opI32GeU, opBrIf)
	g.code.u32(1)
	if simple {
		// e.charge(1 + len(input)), then bind (deferred).
		g.i32(0)
		g.op(opI64Load)
		g.code.u32(3)
		g.code.u32(abi.InfoOffset)
		g.i64(1)
		g.op(opI64Add)
		g.chargeStack()
		if m := len(g.out.elemPaths); m > 0 {
			chunk := int32(abi.ElemSlots / m)
			g.get(i)
			g.i32(chunk)
			g.op(opI32RemU, opLocalTee)
			g.code.u32(g.scratch)
			g.op(opI32Eqz)
			g.get(i)
			g.i32(0)
			g.op(opI32Ne, opI32And)
			g.ifThen()
			g.get(i)
			g.call(impForeachFill)
			g.returnStatus()
			g.end()
			g.get(g.scratch)
			g.i32(int32(m * abi.ArgSlotSize))
			g.op(opI32Mul)
			g.i32(abi.ElemOffset)
			g.op(opI32Add)
			g.set(g.elemBase)
		}
		g.record(abi.RecBind, 0, func() { g.get(i) }, nil)
		if r.Incase == nil {
			g.record(abi.RecItem, 0, nil, nil)
		}
	} else {
		g.get(i)
		if r.Incase == nil {
			g.i32(1) // no INCASE: start the item now, in the same crossing
		} else {
			g.i32(0)
		}
		g.call(impForeachBind)
		g.returnStatus()
	}
	g.code = append(g.code, loopBody...)
	g.get(i)
	g.i32(1)
	g.op(opI32Add)
	g.set(i)
	g.op(opBr)
	g.code.u32(0)
	g.end()
	g.end()
	g.i32(abi.StatusOK)
}

// module assembles the binary module around the generated body.
func (g *gen) module() []byte {
	var m wbuf
	m.byte1(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)
	var s wbuf
	s.u32(uint32(len(ruleTypes)))
	for _, t := range ruleTypes {
		s.funcType(t)
	}
	m.section(1, s)
	s = nil
	s.u32(numImports)
	for _, im := range ruleImports {
		s.name(abi.RuleImportModule)
		s.name(im.name)
		s.byte1(0x00)
		s.u32(im.typ)
	}
	m.section(2, s)
	s = nil
	s.u32(2)
	s.u32(11) // eval: (limit i64) -> (status i32, work i64, recs i32)
	s.u32(5)  // run: () -> status i32
	m.section(3, s)
	s = nil
	s.u32(1)
	s.byte1(0x01) // min and max
	s.u32(1)
	s.u32(1)
	m.section(5, s)
	s = nil
	s.u32(4)
	for range 2 {
		s.byte1(wI64, 0x01, opI64Const, 0x00, opEnd)
	}
	s.byte1(wI32, 0x01, opI32Const)
	s.s64(abi.RecOffset)
	s.byte1(opEnd)
	s.byte1(wI32, 0x01, opI32Const)
	s.s64(-1)
	s.byte1(opEnd)
	m.section(6, s)
	s = nil
	s.u32(6)
	s.name(abi.ExportMemory)
	s.byte1(0x02)
	s.u32(0)
	s.name(abi.ExportEval)
	s.byte1(0x00)
	s.u32(funcEval)
	s.name(abi.ExportWork)
	s.byte1(0x03)
	s.u32(globWork)
	s.name(abi.ExportLimit)
	s.byte1(0x03)
	s.u32(globLimit)
	s.name(abi.ExportRecs)
	s.byte1(0x03)
	s.u32(globRecs)
	s.name(abi.ExportJCache)
	s.byte1(0x03)
	s.u32(globJCache)
	m.section(7, s)
	// Code: locals in runs of one type.
	var body wbuf
	var runs [][2]uint32
	for _, t := range g.locals {
		if len(runs) > 0 && byte(runs[len(runs)-1][1]) == t {
			runs[len(runs)-1][0]++
		} else {
			runs = append(runs, [2]uint32{1, uint32(t)})
		}
	}
	body.u32(uint32(len(runs)))
	for _, r := range runs {
		body.u32(r[0])
		body.byte1(byte(r[1]))
	}
	body = append(body, g.code...)
	body.byte1(opEnd)
	// eval: limit = $0; work = 0; run(); then work and recs.
	var ev wbuf
	ev.u32(0) // no locals
	ev.byte1(opLocalGet)
	ev.u32(0)
	ev.byte1(opGlobalSet)
	ev.u32(globLimit)
	ev.byte1(opI64Const, 0x00, opGlobalSet)
	ev.u32(globWork)
	ev.byte1(opCall)
	ev.u32(funcRun)
	ev.byte1(opGlobalGet)
	ev.u32(globWork)
	ev.byte1(opGlobalGet)
	ev.u32(globRecs)
	ev.byte1(opEnd)
	s = nil
	s.u32(2)
	s.u32(uint32(len(ev)))
	s = append(s, ev...)
	s.u32(uint32(len(body)))
	s = append(s, body...)
	m.section(10, s)
	return m
}
