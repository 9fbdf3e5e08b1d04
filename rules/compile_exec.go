package rules

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/wedge-iot/wedge/guest-sdk/abi"
)

// The host side of the compiled path's specialization (compile_plan.go):
// filling the input and element slots, applying deferred records, and
// keeping the evaluator's decoding cache and the guest's view of it in step.

var le = binary.LittleEndian

// lazyJSON is the value of env's decoding cache after the guest charged a
// string's decoding without the host decoding it (its paths came from
// input slots): decoded reads such an entry as a miss that costs nothing.
type lazyJSON struct{}

// slotBits is put's (tag, bits) of v, for a slot in memory.
func (st *wasmCall) slotBits(v Value) (uint32, uint64) {
	switch x := v.(type) {
	case nil:
		return abi.TagUndefined, 0
	case NullType:
		return abi.TagNull, 0
	case bool:
		if x {
			return abi.TagBool, 1
		}
		return abi.TagBool, 0
	case int64:
		return abi.TagInt, uint64(x)
	case float64:
		return abi.TagFloat, math.Float64bits(x)
	}
	st.refs = append(st.refs, v)
	return abi.TagRef, uint64(len(st.refs) - 1)
}

func (st *wasmCall) writeSlot(off int, v Value, slow bool) {
	t, b := uint32(abi.TagSlow), uint64(0)
	if !slow {
		t, b = st.slotBits(v)
	}
	le.PutUint32(st.mem[off:], t)
	le.PutUint64(st.mem[off+8:], b)
}

// fillSlots writes the input slots: each path's value as the evaluator
// would read it from the unmodified input, TagSlow where that takes more
// than map and list lookups and JSON extraction (a string met on the way).
func (st *wasmCall) fillSlots(in Columns) {
	c := st.cr.c
	le.PutUint64(st.mem[abi.InfoOffset:], uint64(len(in)))
	if len(c.slots) == 0 {
		return
	}
	nr := len(c.roots)
	if cap(st.rootStr) < nr || cap(st.rootVal) < nr {
		st.rootStr = make([]string, nr)
		st.rootVal = make([]Value, nr)
	}
	st.rootStr, st.rootVal = st.rootStr[:nr], st.rootVal[:nr]
	// One lookup per column. at holds, per root, its first key's index in
	// spans/vals, -1 if it is not a JSON string read with steps.
	at := st.at[:0]
	nk := 0
	for k, root := range c.roots {
		v := in[root]
		st.rootVal[k] = v
		cid := int32(-1)
		st.rootStr[k] = ""
		n := -1
		if s, ok := v.(string); ok && c.rootSteps[k] {
			st.rootStr[k] = s
			cid = int32(k)
			for j := range k {
				if c.rootSteps[j] && st.rootStr[j] == s && at[j] >= 0 {
					cid = int32(j)
					break
				}
			}
			n = nk
			nk += len(c.rootKeys[k]) + 1 // +1: the valid flag, in vals
		}
		at = append(at, n)
		off := abi.RootsOffset + 16*k
		le.PutUint32(st.mem[off:], uint32(cid))
		le.PutUint64(st.mem[off+8:], uint64(len(st.rootStr[k])))
	}
	st.at = at
	if cap(st.spans) < 2*nk || cap(st.vals) < nk {
		st.spans = make([]int, 2*nk)
		st.vals = make([]Value, nk)
	}
	st.spans, st.vals = st.spans[:2*nk], st.vals[:nk]
	// One validating scan per JSON column, recording the spans of the
	// first keys its paths read (and decoding those where a path ends).
	for k := range c.roots {
		if n := at[k]; n >= 0 {
			nkeys := len(c.rootKeys[k])
			valid := jsonValid(st.rootStr[k], c.rootKeys[k], c.rootTerm[k], st.spans[2*n:2*(n+nkeys)], st.vals[n:n+nkeys])
			st.vals[n+nkeys] = valid
		}
	}
	for i := range c.slots {
		sp := &c.slots[i]
		var val Value
		slow := false
		switch n := at[sp.root]; {
		case len(sp.steps) == 0:
			val = st.rootVal[sp.root]
		case n >= 0 && sp.lazy:
			val, slow = st.lazySlot(sp, n)
		case n >= 0:
			val, slow = st.extractSlot(sp, n)
		default:
			val, slow = stepStatic(st.rootVal[sp.root], sp.steps)
		}
		st.writeSlot(abi.SlotsOffset+i*abi.ArgSlotSize, val, slow)
	}
	clear(st.vals)
	clear(st.rootVal)
}

// extractSlot reads a slot's path from its JSON column, whose scan
// results are at st.spans[2n:] and st.vals[n:]: as Path.eval over the
// column's decoded value (an empty object when it is not JSON).
func (st *wasmCall) extractSlot(sp *slotPath, n int) (Value, bool) {
	c := st.cr.c
	s := st.rootStr[sp.root]
	keys := c.rootKeys[sp.root]
	if st.vals[n+len(keys)] != true {
		return nil, false // not JSON: an empty object
	}
	first := &sp.steps[0]
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	if s[i] == '{' && !first.IsIndex {
		for j, k := range keys {
			if k == first.Key {
				vs, ve := st.spans[2*(n+j)], st.spans[2*(n+j)+1]
				if vs < 0 {
					return nil, false
				}
				if len(sp.steps) == 1 {
					return st.vals[n+j], false
				}
				return extract(s, vs, ve, sp.steps[1:])
			}
		}
		return nil, false
	}
	return extract(s, i, len(s), sp.steps)
}

// lazyList is the value of a lazy collection's slot (see lazyCollOK):
// its elements' spans are in wasmCall.lazySpans.
type lazyList struct{}

// lazySlot reads a lazy FOREACH collection: an array stays text.
func (st *wasmCall) lazySlot(sp *slotPath, n int) (Value, bool) {
	c := st.cr.c
	s := st.rootStr[sp.root]
	keys := c.rootKeys[sp.root]
	if st.vals[n+len(keys)] != true {
		return nil, false // not JSON: an empty object
	}
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	start, end, steps := i, len(s), sp.steps
	if s[i] == '{' && !steps[0].IsIndex {
		found := false
		for j, k := range keys {
			if k == steps[0].Key {
				start, end, found = st.spans[2*(n+j)], st.spans[2*(n+j)+1], st.spans[2*(n+j)] >= 0
				break
			}
		}
		if !found {
			return nil, false
		}
		steps = steps[1:]
	}
	vs, ve, ok, slow := extractSpan(s, start, end, steps)
	if !ok {
		return nil, slow
	}
	if s[vs] != '[' {
		p := jsonParser{s: s[vs:ve]}
		v, _ := p.value()
		return v, false
	}
	st.lazyS = s
	st.lazySpans = elemSpans(s, vs, st.lazySpans[:0])
	return lazyList{}, false
}

// materialize decodes a lazy collection's elements.
func (st *wasmCall) materialize() {
	n := len(st.lazySpans) / 2
	st.coll = make([]Value, n)
	for i := range n {
		p := jsonParser{s: st.lazyS[st.lazySpans[2*i]:st.lazySpans[2*i+1]]}
		st.coll[i], _ = p.value()
	}
	st.lazy = false
}

// collLen is the number of FOREACH elements.
func (st *wasmCall) collLen() int {
	if st.lazy {
		return len(st.lazySpans) / 2
	}
	return len(st.coll)
}

// fillElems writes the element slots of the chunk of elements starting at
// from.
func (st *wasmCall) fillElems(from int) {
	paths := st.cr.c.elemPaths
	m := len(paths)
	if m == 0 {
		return
	}
	chunk := abi.ElemSlots / m
	off := abi.ElemOffset
	if st.lazy {
		s := st.lazyS
		c := st.cr.c
		var buf [16]int
		ks := buf[:0]
		if 2*len(c.elemKeys) > len(buf) {
			ks = make([]int, 0, 2*len(c.elemKeys))
		}
		ks = ks[:2*len(c.elemKeys)]
		for i := from; i < st.collLen() && i < from+chunk; i++ {
			vs, ve := st.lazySpans[2*i], st.lazySpans[2*i+1]
			obj := s[vs] == '{'
			if obj && len(ks) > 0 {
				// One pass over the element for the keys its paths
				// start with.
				membersSpans(s, vs, c.elemKeys, ks)
			}
			for m, steps := range paths {
				var v Value
				slow := false
				switch j := c.elemKeyIdx[m]; {
				case len(steps) == 0:
					p := jsonParser{s: s[vs:ve]}
					v, _ = p.value()
				case obj && j >= 0:
					if ks[2*j] >= 0 {
						v, slow = extract(s, ks[2*j], ks[2*j+1], steps[1:])
					}
				default:
					v, slow = extract(s, vs, ve, steps)
				}
				if slow {
					// The host will evaluate the path: it needs the
					// elements after all.
					st.materialize()
					st.fillElems(from)
					return
				}
				st.writeSlot(off, v, false)
				off += abi.ArgSlotSize
			}
		}
		return
	}
	for i := from; i < len(st.coll) && i < from+chunk; i++ {
		el := st.coll[i]
		for _, steps := range paths {
			var v Value
			slow := false
			if len(steps) == 0 {
				v = el
			} else {
				v, slow = stepStatic(el, steps)
			}
			st.writeSlot(off, v, slow)
			off += abi.ArgSlotSize
		}
	}
}

// flush applies the deferred records in order, each at the work spent
// when it was written plus what the records before it charged (so that a
// budget overrun or an error is the one the evaluator meets first).
//
// end is the end of the records (the recs global); a host function resets
// recs before calling flush, eval's end does not need to (eval resets it).
func (st *wasmCall) flush(end uint32) error {
	if end == abi.RecOffset {
		return nil
	}
	mem, e := st.mem, st.e
	cur := e.work
	var extra int64
	for off := uint32(abi.RecOffset); off < end; {
		head := le.Uint32(mem[off:])
		idx := le.Uint32(mem[off+4:])
		e.work = int64(le.Uint64(mem[off+16:])) + extra
		if err := e.charge(0); err != nil {
			return err
		}
		before := e.work
		set := uint64(head >> 8 & 0xff)
		size := uint32(abi.RecSize)
		var err error
		switch head & 0xff {
		case abi.RecEmit:
			err = st.emitValue(set, uint64(idx), st.value(uint64(head>>16), le.Uint64(mem[off+8:])))
		case abi.RecWhere:
			e.over = st.res
		case abi.RecItem:
			st.startItem()
		case abi.RecBind:
			clear(e.over)
			var el Value
			if !st.lazy {
				el = st.coll[idx] // (lazy: nothing on the host reads it)
			}
			e.bindKey, e.bindVal, e.bound = st.collKey[0].Key, el, true
		case abi.RecCallEmit:
			argc := le.Uint32(mem[off+12:])
			var v Value
			v, err = st.callBuiltin(uint64(le.Uint32(mem[off+8:])), uint64(argc), off+abi.RecSize)
			if err == nil {
				err = st.emitValue(set, uint64(idx), v)
			}
			size += argc * abi.ArgSlotSize
		default:
			err = evalErr("internal error: record kind %d", head&0xff)
		}
		if err != nil {
			return err
		}
		extra += e.work - before
		off += size
	}
	e.work = cur + extra
	return nil
}

func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// cacheIn gives e's decoding cache the string the guest charged for, if
// it did since the last host call.
func (st *wasmCall) cacheIn() {
	j := int32(st.jcache.Get())
	if j == st.jc {
		return
	}
	st.jc = j
	e := st.e
	s := st.rootStr[j]
	e.cacheSrc, e.cacheVal, e.cached = s, lazyJSON{}, true
	st.lastSrc = s
}

// cacheOut tells the guest which slot column e's cache now holds, if it
// changed.
func (st *wasmCall) cacheOut() {
	e := st.e
	if !e.cached || sameString(e.cacheSrc, st.lastSrc) {
		return
	}
	st.lastSrc = e.cacheSrc
	j := int32(-1)
	for k, s := range st.rootStr {
		if s == e.cacheSrc && st.cr.c.rootSteps[k] {
			if _, ok := st.e.base[st.cr.c.roots[k]].(string); ok {
				j = int32(k)
				break
			}
		}
	}
	if j != st.jc {
		st.jc = j
		st.jcache.Set(uint64(uint32(j)))
	}
}
