package rules

// predFuncs: type predicates. is_null is true only for undefined: JSON null
// is a value (spec §4.3).
var predFuncs = []Builtin{
	pred("is_null", func(v Value) bool { return v == nil }),
	pred("is_not_null", func(v Value) bool { return v != nil }),
	pred("is_str", func(v Value) bool { _, ok := v.(string); return ok }),
	pred("is_bool", func(v Value) bool { _, ok := v.(bool); return ok }),
	pred("is_int", func(v Value) bool { _, ok := v.(int64); return ok }),
	pred("is_float", func(v Value) bool { _, ok := v.(float64); return ok }),
	pred("is_num", isNumber),
	pred("is_map", func(v Value) bool { _, ok := v.(map[string]Value); return ok }),
	pred("is_array", func(v Value) bool { _, ok := v.([]Value); return ok }),
}

func pred(name string, f func(Value) bool) Builtin {
	return fn1(name, func(a Value) (Value, error) { return f(a), nil })
}
