package rules

import (
	"strconv"
	"strings"

	"github.com/wedge-iot/wedge/guest-sdk/abi"
)

// Compile-time specialization of the column reads. The compiler knows
// statically which paths of which columns a rule reads, and where the
// evaluator would read them from the unmodified input: then the host
// computes them before the call, extracting payload paths from the JSON
// text without decoding the rest (compile_json.go), and writes them into
// input slots the guest loads, instead of one host call per read. FOREACH
// elements get element slots the same way. Everything else (a written-back
// column, a dynamic index, a path through a string holding JSON) stays a
// host call, so the values are the evaluator's.

// slotPath is a path read through an input slot.
type slotPath struct {
	root  int    // index in compiled.roots
	steps []Step // static steps (no Dyn)
	// lazy: a FOREACH collection whose elements the host does not decode
	// (see lazyCollOK).
	lazy bool
}

// readCtx says what a path read sees at the point being compiled.
type readCtx struct {
	// wb holds the columns that may not be the input's at this point:
	// written back by an earlier field, or (in WHERE) in the output.
	wb map[string]bool
	// bind is the FOREACH element's simple name in DO and INCASE.
	bind  string
	bound bool
}

func pathKey(root string, steps []Step) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(root))
	for _, st := range steps {
		if st.IsIndex {
			b.WriteString("[" + strconv.FormatInt(st.Index, 10) + "]")
		} else {
			b.WriteString("." + strconv.Quote(st.Key))
		}
	}
	return b.String()
}

func staticSteps(steps []Step) bool {
	for i := range steps {
		if steps[i].Dyn != nil {
			return false
		}
	}
	return true
}

// slotFor returns where a path read can come from: an element slot
// (elem, index), an input slot (!elem, index), or nowhere (ok false).
func (g *gen) slotFor(p *Path) (elem bool, idx int, ok bool) {
	if !staticSteps(p.Steps) || g.ctx.wb[p.Root] {
		return false, 0, false
	}
	o := g.out
	if g.ctx.bound && p.Root == g.ctx.bind {
		k := pathKey("", p.Steps)
		if i, ok := g.elemIdx[k]; ok {
			return true, i, true
		}
		if len(o.elemPaths) >= maxElemPaths {
			return false, 0, false
		}
		g.elemIdx[k] = len(o.elemPaths)
		o.elemPaths = append(o.elemPaths, p.Steps)
		return true, len(o.elemPaths) - 1, true
	}
	i, ok := g.baseSlot(p, false)
	return false, i, ok
}

// baseSlot registers an input slot for p.
func (g *gen) baseSlot(p *Path, lazy bool) (int, bool) {
	o := g.out
	k := pathKey(p.Root, p.Steps)
	if lazy {
		k = "lazy " + k
	}
	if i, ok := g.slotIdx[k]; ok {
		return i, true
	}
	if len(o.slots) >= abi.MaxSlots {
		return 0, false
	}
	r, ok := g.rootIdx[p.Root]
	if !ok {
		if len(o.roots) >= abi.MaxRoots {
			return 0, false
		}
		r = len(o.roots)
		g.rootIdx[p.Root] = r
		o.roots = append(o.roots, internColumn(p.Root))
		o.rootKeys = append(o.rootKeys, nil)
		o.rootTerm = append(o.rootTerm, nil)
		o.rootSteps = append(o.rootSteps, false)
	}
	if len(p.Steps) > 0 {
		o.rootSteps[r] = true
		if st := p.Steps[0]; !st.IsIndex {
			j := -1
			for i, k := range o.rootKeys[r] {
				if k == st.Key {
					j = i
				}
			}
			if j < 0 {
				j = len(o.rootKeys[r])
				o.rootKeys[r] = append(o.rootKeys[r], st.Key)
				o.rootTerm[r] = append(o.rootTerm[r], false)
			}
			if len(p.Steps) == 1 && !lazy {
				o.rootTerm[r][j] = true
			}
		}
	}
	g.slotIdx[k] = len(o.slots)
	o.slots = append(o.slots, slotPath{root: r, steps: p.Steps, lazy: lazy})
	return len(o.slots) - 1, true
}

// lazyCollOK reports whether a FOREACH rule may iterate over a collection
// read from JSON text without the host decoding its elements: when nothing
// on the host can see the collection or the bound element (no WHERE, no
// other SELECT field, DO and INCASE read the element only through element
// slots, call no function that reads columns, and there is no * in DO).
// The element slots then come straight from the text; should one need the
// host (TagSlow), the host decodes the elements after all.
func lazyCollOK(r *Rule, bind string) bool {
	if len(r.Fields) != 1 || r.Where != nil || r.Do == nil {
		return false
	}
	last := &r.Fields[0]
	p, ok := last.Expr.(*Path)
	if !ok || len(p.Steps) == 0 || !staticSteps(p.Steps) {
		return false
	}
	for _, st := range last.Key {
		if st.IsIndex {
			return false // writing it into the output may fail
		}
	}
	check := func(x Expr) {
		walk(x, func(x Expr) {
			switch n := x.(type) {
			case *Path:
				ok = ok && staticSteps(n.Steps)
			case *Slice, *Range, *ListLit:
				ok = false
			case *Call:
				ok = ok && n.Builtin != nil && !n.Builtin.readsColumns && len(n.Args) <= abi.MaxArgs
			}
		})
	}
	check(r.Incase)
	for i := range r.Do {
		f := &r.Do[i]
		if f.Star || f.writeBack && f.Key[0].Key == bind {
			return false
		}
		check(f.Expr)
	}
	return ok
}

// maxElemPaths bounds the element paths of a rule (so that a chunk holds
// at least ElemSlots/maxElemPaths elements).
const maxElemPaths = 64

// slotRead compiles a path read from a slot, falling back to ImportNode
// when the host tagged the slot TagSlow, and charging the decoding of the
// column as the evaluator's cache would.
func (g *gen) slotRead(p *Path, elem bool, idx int) wval {
	v := g.newVal()
	load := func(op byte, align, off uint32) {
		if elem {
			g.get(g.elemBase)
			off += uint32(idx * abi.ArgSlotSize)
		} else {
			g.i32(0)
			off += uint32(abi.SlotsOffset + idx*abi.ArgSlotSize)
		}
		g.op(op)
		g.code.u32(align)
		g.code.u32(off)
	}
	load(opI32Load, 2, 0)
	g.set(v.t)
	load(opI64Load, 3, 8)
	g.set(v.b)
	g.tagIs(v, abi.TagSlow)
	g.ifThen()
	g.i32(int32(len(g.out.nodes)))
	g.out.nodes = append(g.out.nodes, p)
	g.call(impNode)
	g.set(v.b)
	g.set(v.t)
	g.checkErr(v)
	if !elem && len(p.Steps) > 0 {
		// The evaluator decodes the column (a string) at the first step,
		// charging its length unless its one-entry cache holds it.
		root := uint32(abi.RootsOffset + g.out.slots[idx].root*16)
		g.op(opElse)
		g.i32(0)
		g.op(opI32Load)
		g.code.u32(2)
		g.code.u32(root)
		g.op(opLocalTee)
		g.code.u32(g.scratch)
		g.i32(0)
		g.op(opI32GeS)
		g.get(g.scratch)
		g.globalGet(globJCache)
		g.op(opI32Ne, opI32And)
		g.ifThen()
		g.i32(0)
		g.op(opI64Load)
		g.code.u32(3)
		g.code.u32(root + 8)
		g.chargeStack()
		g.get(g.scratch)
		g.globalSet(globJCache)
		g.end()
	}
	g.end()
	return v
}

func (g *gen) globalGet(i uint32) { g.op(opGlobalGet); g.code.u32(i) }
func (g *gen) globalSet(i uint32) { g.op(opGlobalSet); g.code.u32(i) }

// chargeStack spends the i64 on the stack from the work budget.
func (g *gen) chargeStack() {
	g.globalGet(globWork)
	g.op(opI64Add)
	g.globalSet(globWork)
	g.globalGet(globWork)
	g.globalGet(globLimit)
	g.op(opI64GtS)
	g.ifThen()
	g.i32(abi.StatusBudget)
	g.op(opReturn)
	g.end()
}

// deferrable reports whether a field's output write may be deferred: its
// key does not decode a raw payload on the way (which changes the
// evaluator's decoding cache, which the guest mirrors).
func deferrable(f *Field) bool {
	return f.Star || !(len(f.Key) > 1 && f.Key[0].Key == "payload")
}

// recReserve makes room for size bytes of records, flushing them when the
// area is full.
func (g *gen) recReserve(size int32) {
	g.globalGet(globRecs)
	g.i32(size)
	g.op(opI32Add)
	g.i32(abi.RecEnd)
	g.op(opI32GtU)
	g.ifThen()
	g.call(impFlush)
	g.returnStatus()
	g.end()
}

func (g *gen) recStore(op byte, align, off uint32, push func()) {
	g.globalGet(globRecs)
	push()
	g.op(op)
	g.code.u32(align)
	g.code.u32(off)
}

// record writes a deferred record of kind with the given set, index and
// value (v nil: none), stamped with the work spent so far.
func (g *gen) record(kind, set int32, index func(), v *wval) {
	g.recReserve(abi.RecSize)
	g.recHead(kind, set, index, v)
	g.recAdvance(abi.RecSize)
}

func (g *gen) recHead(kind, set int32, index func(), v *wval) {
	g.recStore(opI32Store, 2, 0, func() {
		g.i32(kind | set<<8)
		if v != nil {
			g.get(v.t)
			g.i32(16)
			g.op(opI32Shl, opI32Or)
		}
	})
	if index != nil {
		g.recStore(opI32Store, 2, 4, index)
	}
	if v != nil {
		g.recStore(opI64Store, 3, 8, func() { g.get(v.b) })
	}
	g.recStore(opI64Store, 3, 16, func() { g.globalGet(globWork) })
}

func (g *gen) recAdvance(size int32) {
	g.globalGet(globRecs)
	g.i32(size)
	g.op(opI32Add)
	g.globalSet(globRecs)
}

// recCallEmit defers a field that is a function call: the arguments are
// evaluated now and written into the record, the host calls the function
// and writes the field when it applies the record.
func (g *gen) recCallEmit(set int32, field int, n *Call) {
	args := make([]wval, len(n.Args))
	for i, a := range n.Args {
		args[i] = g.expr(a)
	}
	size := int32(abi.RecSize + len(args)*abi.ArgSlotSize)
	g.recReserve(size)
	g.recHead(abi.RecCallEmit, set, func() { g.i32(int32(field)) }, nil)
	g.recStore(opI32Store, 2, 8, func() {
		g.i32(int32(len(g.out.calls)))
		g.out.calls = append(g.out.calls, n)
	})
	g.recStore(opI32Store, 2, 12, func() { g.i32(int32(len(args))) })
	for i, a := range args {
		off := uint32(abi.RecSize + i*abi.ArgSlotSize)
		g.recStore(opI32Store, 2, off, func() { g.get(a.t) })
		g.recStore(opI64Store, 3, off+8, func() { g.get(a.b) })
	}
	g.recAdvance(size)
}

// whereCtx is what WHERE reads: the output merged over the input, so every
// column an output field or a write-back may have set is not the input's.
func whereCtx(r *Rule) readCtx {
	wb := map[string]bool{}
	for i := range r.Fields {
		f := &r.Fields[i]
		if !f.Star {
			wb[f.Key[0].Key] = true
		}
	}
	return readCtx{wb: wb}
}

// indexElemKeys fills elemKeys and elemKeyIdx.
func (c *compiled) indexElemKeys() {
	for _, steps := range c.elemPaths {
		j := -1
		if len(steps) > 0 && !steps[0].IsIndex {
			for i, k := range c.elemKeys {
				if k == steps[0].Key {
					j = i
				}
			}
			if j < 0 {
				j = len(c.elemKeys)
				c.elemKeys = append(c.elemKeys, steps[0].Key)
			}
		}
		c.elemKeyIdx = append(c.elemKeyIdx, j)
	}
}

// columnNames are the names of the columns of publishes and events (spec
// §6), as one set of strings shared by every rule.
var columnNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"event", "id", "clientid", "username", "payload", "peerhost", "topic", "qos",
		"flags", "headers", "pub_props", "timestamp", "publish_received_at", "node", "metadata"} {
		m[n] = n
	}
	return m
}()

// internColumn returns the shared copy of a well-known column name: the
// host looks the input slots' columns up on every call, and with many
// rules one string read by all of them stays in the cache where each
// rule's own copy would not.
func internColumn(name string) string {
	if s, ok := columnNames[name]; ok {
		return s
	}
	return name
}
