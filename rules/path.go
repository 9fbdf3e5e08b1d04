package rules

// decoded returns the JSON value a string holds, caching the last one for
// this evaluation (lazy payload decoding). A string that is not JSON reads
// as an empty object, as EMQX 4.2 does for payloads. Decoding is charged to
// the work budget.
func (e *env) decoded(s string) (Value, error) {
	if e.cached && s == e.cacheSrc {
		if _, lazy := e.cacheVal.(lazyJSON); lazy {
			// The compiled path charged for it and read its paths
			// without decoding it (compile_exec.go): decode it now.
			v, err := DecodeJSON(s)
			if err != nil {
				v = map[string]Value{}
			}
			e.cacheVal = v
		}
		return e.cacheVal, nil
	}
	if err := e.charge(int64(len(s))); err != nil {
		return nil, err
	}
	v, err := DecodeJSON(s)
	if err != nil {
		v = map[string]Value{}
	}
	e.cacheSrc, e.cacheVal, e.cached = s, v, true
	return v, nil
}

// step descends one path step from v. Missing keys, out-of-range indexes
// and lookups on scalars give undefined.
func (e *env) step(v Value, st *Step) (Value, error) {
	if s, ok := v.(string); ok {
		var err error
		if v, err = e.decoded(s); err != nil {
			return nil, err
		}
	}
	if !st.IsIndex {
		m, ok := v.(map[string]Value)
		if !ok {
			return nil, nil
		}
		return m[st.Key], nil
	}
	idx := st.Index
	if st.Dyn != nil {
		d, err := st.Dyn.eval(e)
		if err != nil {
			return nil, err
		}
		switch x := d.(type) {
		case int64:
			idx = x
		case string:
			if m, ok := v.(map[string]Value); ok {
				return m[x], nil
			}
			return nil, nil
		default:
			return nil, nil
		}
	}
	l, ok := v.([]Value)
	if !ok {
		return nil, nil
	}
	return indexList(l, idx), nil
}

// indexList reads element i (1-based; negative counts from the end; 0 and
// out of range give undefined).
func indexList(l []Value, i int64) Value {
	n := int64(len(l))
	switch {
	case i > 0 && i <= n:
		return l[i-1]
	case i < 0 && -i <= n:
		return l[n+i]
	}
	return nil
}

// putPath writes v at the target path into m (which the caller owns).
// Containers met on the way are copied, never modified. fallback, when not
// nil, supplies the root's current value when m does not have it. A raw
// (string) payload under a payload.<path> target is decoded first, as EMQX
// 4.2 does.
func putPath(m map[string]Value, steps []Step, v Value, fallback func(string) Value, e *env) error {
	root := steps[0].Key
	if len(steps) == 1 {
		m[root] = v
		return nil
	}
	cur, ok := m[root]
	if !ok && fallback != nil {
		cur = fallback(root)
	}
	if s, ok := cur.(string); ok && root == "payload" {
		var err error
		if cur, err = e.decoded(s); err != nil {
			return err
		}
	}
	nv, err := putInto(cur, steps[1:], v)
	if err != nil {
		return err
	}
	m[root] = nv
	return nil
}

func putInto(cur Value, steps []Step, v Value) (Value, error) {
	st, rest := &steps[0], steps[1:]
	elem := func(old Value) (Value, error) {
		if len(rest) == 0 {
			return v, nil
		}
		return putInto(old, rest, v)
	}
	if !st.IsIndex {
		old, _ := cur.(map[string]Value)
		nm := make(map[string]Value, len(old)+1)
		for k, x := range old {
			nm[k] = x
		}
		x, err := elem(old[st.Key])
		if err != nil {
			return nil, err
		}
		nm[st.Key] = x
		return nm, nil
	}
	var list []Value
	switch c := cur.(type) {
	case nil:
	case []Value:
		list = c
	default:
		return nil, evalErr("cannot set an index of a %s", KindOf(cur))
	}
	switch {
	case st.Index == 0 && !st.Tail:
		x, err := elem(nil)
		if err != nil {
			return nil, err
		}
		return append([]Value{x}, list...), nil
	case st.Tail:
		x, err := elem(nil)
		if err != nil {
			return nil, err
		}
		nl := make([]Value, len(list), len(list)+1)
		copy(nl, list)
		return append(nl, x), nil
	}
	n := int64(len(list))
	i := st.Index
	if i < 0 {
		i = n + i + 1
	}
	if i < 1 || i > n {
		return nil, evalErr("index %d out of range for a list of %d", st.Index, n)
	}
	nl := make([]Value, len(list))
	copy(nl, list)
	x, err := elem(nl[i-1])
	if err != nil {
		return nil, err
	}
	nl[i-1] = x
	return nl, nil
}
