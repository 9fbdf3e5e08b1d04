package rules

import "strings"

// mapFuncs: map functions. Key paths are dotted ("a.b.c"); mget and mput
// take one flat key and, like Erlang's maps module, a map (anything else is
// an error), where map_get gives its default and map_put starts a new map
// on undefined.
var mapFuncs = []Builtin{
	fn0("map_new", func() (Value, error) { return map[string]Value{}, nil }),
	fnN("map_get", 2, 3, func(a []Value) (Value, error) {
		key, err := argStr("map_get", a[0])
		if err != nil {
			return nil, err
		}
		v := getDotted(a[1], key)
		if v == nil && len(a) == 3 {
			return a[2], nil
		}
		return v, nil
	}),
	fnN("map_put", 3, 3, func(a []Value) (Value, error) {
		key, err := argStr("map_put", a[0])
		if err != nil {
			return nil, err
		}
		var steps []Step
		for _, k := range strings.Split(key, ".") {
			steps = append(steps, Step{Key: k})
		}
		return mapPut("map_put", steps, a[1], a[2])
	}),
	fnN("mget", 2, 3, func(a []Value) (Value, error) {
		key, err := argStr("mget", a[0])
		if err != nil {
			return nil, err
		}
		m, err := argMap("mget", a[1])
		if err != nil {
			return nil, err
		}
		v := m[key]
		if v == nil && len(a) == 3 {
			return a[2], nil
		}
		return v, nil
	}),
	fnN("mput", 3, 3, func(a []Value) (Value, error) {
		key, err := argStr("mput", a[0])
		if err != nil {
			return nil, err
		}
		if _, err := argMap("mput", a[2]); err != nil {
			return nil, err
		}
		return mapPut("mput", []Step{{Key: key}}, a[1], a[2])
	}),
}

// mapPut returns a copy of m with v at the key path (m itself unchanged).
// Putting undefined leaves the map as it is.
func mapPut(fn string, steps []Step, v, m Value) (Value, error) {
	switch m.(type) {
	case nil, map[string]Value:
	default:
		return nil, badArg(fn, m, "a map")
	}
	if v == nil {
		if m == nil {
			return map[string]Value{}, nil
		}
		return m, nil
	}
	return putInto(m, steps, v)
}
