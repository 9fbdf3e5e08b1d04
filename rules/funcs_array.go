package rules

// arrayFuncs: list functions. Positions are 1-based; positions out of range
// are errors, as in Erlang's lists module.
var arrayFuncs = []Builtin{
	fn2("nth", func(a, b Value) (Value, error) {
		n, err := argInt("nth", a)
		if err != nil {
			return nil, err
		}
		l, err := argList("nth", b)
		if err != nil {
			return nil, err
		}
		if n < 1 || n > int64(len(l)) {
			return nil, evalErr("nth: position %d out of range for a list of %d", n, len(l))
		}
		return l[n-1], nil
	}),
	fn1("length", func(a Value) (Value, error) {
		l, err := argList("length", a)
		return int64(len(l)), err
	}),
	fnN("sublist", 2, 3, sublistFn),
	fn1("first", func(a Value) (Value, error) {
		l, err := argList("first", a)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			return nil, evalErr("first: empty list")
		}
		return l[0], nil
	}),
	fn1("last", func(a Value) (Value, error) {
		l, err := argList("last", a)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			return nil, evalErr("last: empty list")
		}
		return l[len(l)-1], nil
	}),
	fn2("contains", func(a, b Value) (Value, error) {
		l, err := argList("contains", b)
		if err != nil {
			return nil, err
		}
		for _, e := range l {
			if exactEqual(a, e) {
				return true, nil
			}
		}
		return false, nil
	}),
}

// sublistFn: sublist(len, l) takes the first len elements; sublist(start,
// len, l) len elements from start (1..length+1).
func sublistFn(a []Value) (Value, error) {
	start := int64(1)
	var length int64
	var err error
	lv := a[len(a)-1]
	if len(a) == 3 {
		if start, err = argInt("sublist", a[0]); err != nil {
			return nil, err
		}
		a = a[1:]
	}
	if length, err = argInt("sublist", a[0]); err != nil {
		return nil, err
	}
	l, err := argList("sublist", lv)
	if err != nil {
		return nil, err
	}
	n := int64(len(l))
	if start < 1 || start > n+1 || length < 0 {
		return nil, evalErr("sublist: start %d or length %d out of range for a list of %d", start, length, n)
	}
	end := n
	if length < n-start+1 {
		end = start - 1 + length
	}
	out := make([]Value, end-start+1)
	copy(out, l[start-1:end])
	return out, nil
}
