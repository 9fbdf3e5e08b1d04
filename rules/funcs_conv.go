package rules

import (
	"encoding/hex"
	"math"
	"strings"
	"unicode/utf8"
)

// convFuncs: type conversions.
var convFuncs = []Builtin{
	fn1("str", func(a Value) (Value, error) { return ToText(a), nil }),
	fn1("str_utf8", func(a Value) (Value, error) {
		s := ToText(a)
		if !utf8.ValidString(s) {
			return nil, evalErr("str_utf8: not valid UTF-8")
		}
		return s, nil
	}),
	fn1("int", intFn),
	fn1("float", floatFn),
	fn1("bool", boolFn),
	fn1("map", mapFn),
	fn2("float2str", func(a, b Value) (Value, error) {
		f, ok := a.(float64)
		if !ok {
			return nil, badArg("float2str", a, "a float")
		}
		p, err := argInt("float2str", b)
		if err != nil {
			return nil, err
		}
		if p < 0 || p > 253 {
			return nil, evalErr("float2str: precision %d out of range 0..253", p)
		}
		return formatDecimals(f, int(p)), nil
	}),
	fn1("bin2hexstr", func(a Value) (Value, error) {
		s, err := argStr("bin2hexstr", a)
		if err != nil {
			return nil, err
		}
		return strings.ToUpper(hex.EncodeToString([]byte(s))), nil
	}),
	fn1("hexstr2bin", func(a Value) (Value, error) {
		s, err := argStr("hexstr2bin", a)
		if err != nil {
			return nil, err
		}
		b, herr := hex.DecodeString(s)
		if herr != nil {
			return nil, evalErr("hexstr2bin: %q is not hexadecimal text", clip(s))
		}
		return string(b), nil
	}),
}

// intFn: integers as they are, floats floored (-3.9 → -4), int or float
// text parsed (then floored), true/false → 1/0.
func intFn(a Value) (Value, error) {
	switch x := a.(type) {
	case int64:
		return x, nil
	case float64:
		return floatToInt("int", math.Floor(x))
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case string:
		n, ok := parseNumber(x)
		if !ok {
			return nil, evalErr("int: %q is not a number", clip(x))
		}
		return intFn(n)
	}
	return nil, badArg("int", a, "a number, a numeric string or a boolean")
}

func floatFn(a Value) (Value, error) {
	switch x := a.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		n, ok := parseNumber(x)
		if !ok {
			return nil, evalErr("float: %q is not a number", clip(x))
		}
		return toFloat(n), nil
	}
	return nil, badArg("float", a, "a number or a numeric string")
}

func boolFn(a Value) (Value, error) {
	switch x := a.(type) {
	case bool:
		return x, nil
	case int64:
		switch x {
		case 1:
			return true, nil
		case 0:
			return false, nil
		}
	case string:
		switch x {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return nil, evalErr("bool: cannot convert %s %s (only true/false, 'true'/'false', 1/0)", KindOf(a), clip(ToText(a)))
}

func mapFn(a Value) (Value, error) {
	switch x := a.(type) {
	case map[string]Value:
		return x, nil
	case string:
		v, err := DecodeJSON(x)
		if err != nil {
			return nil, evalErr("map: not a JSON object: %v", err)
		}
		if m, ok := v.(map[string]Value); ok {
			return m, nil
		}
		return nil, evalErr("map: the JSON text holds %s, not an object", KindOf(v))
	}
	return nil, badArg("map", a, "a map or a JSON object text")
}
