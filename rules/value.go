package rules

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Value is a rule-language value. Its dynamic type is always one of:
//
//	nil              undefined (a missing column, key or index)
//	NullType         JSON null (the constant Null)
//	bool             boolean
//	int64            integer
//	float64          float (never NaN or infinite)
//	string           string (binary; payloads are strings)
//	[]Value          array
//	map[string]Value map (an object)
//
// Values handed to the evaluator are treated as immutable: nothing in this
// package modifies a map or slice it did not create.
type Value = any

// NullType is the type of Null.
type NullType struct{}

// Null is JSON null, distinct from undefined (nil).
var Null = NullType{}

// Columns holds the input columns of one message or event, by name.
type Columns map[string]Value

// KindOf names the kind of v as the error messages do: "undefined", "null",
// "boolean", "integer", "float", "string", "array", "map".
func KindOf(v Value) string {
	switch v.(type) {
	case nil:
		return "undefined"
	case NullType:
		return "null"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	case string:
		return "string"
	case []Value:
		return "array"
	case map[string]Value:
		return "map"
	}
	return fmt.Sprintf("unsupported Go type %T", v)
}

// Normalize converts common Go values (other integer and float widths,
// []byte, []any of such values, map[string]string, ...) into the Value model.
// The daemon uses it when it builds Columns from Go structures.
func Normalize(v any) Value {
	switch x := v.(type) {
	case nil, NullType, bool, int64, float64, string:
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		if uint64(x) > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case float32:
		return float64(x)
	case []byte:
		return string(x)
	case []Value:
		out := make([]Value, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case []string:
		out := make([]Value, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]Value:
		out := make(map[string]Value, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case Columns:
		return Normalize(map[string]Value(x))
	case map[string]string:
		out := make(map[string]Value, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	}
	return fmt.Sprint(v)
}

// FormatFloat renders f as EMQX 4.2 renders a float as text (str(), templates):
// at most 10 decimals, trailing zeros trimmed but one kept ("0.3333333333",
// "2.0").
func FormatFloat(f float64) string {
	return formatDecimals(f, 10)
}

func formatDecimals(f float64, decimals int) string {
	s := strconv.FormatFloat(f, 'f', decimals, 64)
	if !strings.Contains(s, ".") {
		return s + ".0"
	}
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

// formatFloatJSON renders the shortest round-trip form, always with a dot in
// the mantissa: 4.0, 0.1, 1.0e+21.
func formatFloatJSON(f float64) string {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-5 || abs >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		return mant + "e" + exp
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// ToText renders v as str() does: strings as they are, numbers as in
// FormatFloat, booleans as true/false, null as "null", undefined as
// "undefined", maps and arrays as compact JSON.
func ToText(v Value) string {
	switch x := v.(type) {
	case nil:
		return "undefined"
	case NullType:
		return "null"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return FormatFloat(x)
	case string:
		return x
	}
	return string(EncodeJSON(v))
}

// sortedKeys returns the keys of m in byte order (the order EMQX's JSON
// encoder gives small maps).
func sortedKeys(m map[string]Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseNumber parses text as EMQX converts a string to a number: an integer
// ([+-]digits) or else a float ([+-]digits.digits[e[+-]digits]).
func parseNumber(s string) (Value, bool) {
	if isIntText(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || math.IsInf(f, 0) {
				return nil, false
			}
			return f, true
		}
		return n, true
	}
	if isFloatText(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, false
		}
		return f, true
	}
	return nil, false
}

func isIntText(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return s != "" && allDigits(s)
}

func isFloatText(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	whole, rest, ok := strings.Cut(s, ".")
	if !ok || whole == "" || !allDigits(whole) {
		return false
	}
	frac, exp, hasExp := strings.Cut(strings.ToLower(rest), "e")
	if frac == "" || !allDigits(frac) {
		return false
	}
	if hasExp {
		if exp != "" && (exp[0] == '+' || exp[0] == '-') {
			exp = exp[1:]
		}
		return exp != "" && allDigits(exp)
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
