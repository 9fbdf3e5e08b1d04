package rules

import (
	"cmp"
	"math"
	"strings"
)

// termRank orders kinds as Erlang's term order does:
// number < atom (boolean, null, undefined) < map < list < string.
func termRank(v Value) int {
	switch v.(type) {
	case int64, float64:
		return 0
	case nil, bool, NullType:
		return 1
	case map[string]Value:
		return 2
	case []Value:
		return 3
	}
	return 4
}

func atomText(v Value) string {
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
	}
	return ""
}

// compareNumbers compares two numbers by value (2.0 and 2 are equal).
func compareNumbers(a, b Value) int {
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		return cmp.Compare(ai, bi)
	}
	return cmp.Compare(toFloat(a), toFloat(b))
}

func toFloat(v Value) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// termCompare orders two values as Erlang's == / < do: numbers by value,
// then kinds by termRank, strings byte-wise, lists element-wise, maps by
// size, then keys, then values.
func termCompare(a, b Value) int {
	ra, rb := termRank(a), termRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch ra {
	case 0:
		return compareNumbers(a, b)
	case 1:
		return strings.Compare(atomText(a), atomText(b))
	case 2:
		ma, mb := a.(map[string]Value), b.(map[string]Value)
		if len(ma) != len(mb) {
			return cmp.Compare(len(ma), len(mb))
		}
		ka, kb := sortedKeys(ma), sortedKeys(mb)
		for i := range ka {
			if c := strings.Compare(ka[i], kb[i]); c != 0 {
				return c
			}
		}
		for _, k := range ka {
			if c := termCompare(ma[k], mb[k]); c != 0 {
				return c
			}
		}
		return 0
	case 3:
		la, lb := a.([]Value), b.([]Value)
		for i := 0; i < len(la) && i < len(lb); i++ {
			if c := termCompare(la[i], lb[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(la), len(lb))
	}
	return strings.Compare(a.(string), b.(string))
}

// exactEqual is Erlang's =:= : same kinds all the way down (1 and 1.0
// differ). IN and the simple CASE use it.
func exactEqual(a, b Value) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case NullType:
		_, ok := b.(NullType)
		return ok
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []Value:
		y, ok := b.([]Value)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !exactEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]Value:
		y, ok := b.(map[string]Value)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !exactEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func isNumber(v Value) bool {
	switch v.(type) {
	case int64, float64:
		return true
	}
	return false
}

// Compare applies a comparison operator (= != < <= > >= =~) with the rules
// of spec §5: a string compared with a number is parsed as a number (an
// error when it is not numeric), a boolean or null compared with a string
// becomes text, undefined equals only undefined and is neither less nor
// greater than anything, other mixed kinds follow Erlang's term order.
func Compare(op Op, l, r Value) (bool, error) {
	if l == nil || r == nil {
		both := l == nil && r == nil
		switch op {
		case OpEq, OpMatch:
			return both, nil
		case OpNe:
			return !both, nil
		}
		return false, nil
	}
	if op == OpMatch {
		t, ok1 := l.(string)
		f, ok2 := r.(string)
		if !ok1 || !ok2 {
			return false, evalErr("=~ needs a topic and a filter (strings), got %s and %s", KindOf(l), KindOf(r))
		}
		return MatchTopic(t, f), nil
	}
	switch ls := l.(type) {
	case string:
		switch r.(type) {
		case int64, float64:
			n, ok := parseNumber(ls)
			if !ok {
				return false, evalErr("cannot compare the non-numeric string %q with a number", clip(ls))
			}
			l = n
		case bool, NullType:
			r = atomText(r)
		}
	case int64, float64:
		if rs, ok := r.(string); ok {
			n, ok := parseNumber(rs)
			if !ok {
				return false, evalErr("cannot compare a number with the non-numeric string %q", clip(rs))
			}
			r = n
		}
	case bool, NullType:
		if _, ok := r.(string); ok {
			l = atomText(l)
		}
	}
	c := termCompare(l, r)
	switch op {
	case OpEq:
		return c == 0, nil
	case OpNe:
		return c != 0, nil
	case OpLt:
		return c < 0, nil
	case OpLe:
		return c <= 0, nil
	case OpGt:
		return c > 0, nil
	case OpGe:
		return c >= 0, nil
	}
	return false, evalErr("unknown comparison %s", op)
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Arith applies an arithmetic operator (+ - * / div mod) with the rules of
// spec §5: integers stay integers (an overflow of int64 is an error), a float
// operand gives a float, / always gives a float, div and mod take integers
// only, + of two strings concatenates, anything else is an error.
func Arith(op Op, l, r Value) (Value, error) {
	li, lInt := l.(int64)
	ri, rInt := r.(int64)
	if lInt && rInt {
		switch op {
		case OpAdd:
			s := li + ri
			if (li^s)&(ri^s) < 0 {
				return nil, overflow(op)
			}
			return s, nil
		case OpSub:
			s := li - ri
			if (li^ri)&(li^s) < 0 {
				return nil, overflow(op)
			}
			return s, nil
		case OpMul:
			if li == 0 || ri == 0 {
				return int64(0), nil
			}
			s := li * ri
			if s/ri != li || (li == -1 && ri == math.MinInt64) || (ri == -1 && li == math.MinInt64) {
				return nil, overflow(op)
			}
			return s, nil
		case OpIntDiv, OpMod:
			if ri == 0 {
				return nil, evalErr("%s by zero", op)
			}
			if li == math.MinInt64 && ri == -1 {
				if op == OpMod {
					return int64(0), nil
				}
				return nil, overflow(op)
			}
			if op == OpMod {
				return li % ri, nil
			}
			return li / ri, nil
		}
	}
	if op == OpAdd {
		if ls, ok := l.(string); ok {
			if rs, ok := r.(string); ok {
				return ls + rs, nil
			}
		}
	}
	if !isNumber(l) || !isNumber(r) || op == OpIntDiv || op == OpMod {
		want := "numbers"
		if op == OpIntDiv || op == OpMod {
			want = "integers"
		}
		return nil, evalErr("%s needs %s, got %s and %s", op, want, KindOf(l), KindOf(r))
	}
	a, b := toFloat(l), toFloat(r)
	var f float64
	switch op {
	case OpAdd:
		f = a + b
	case OpSub:
		f = a - b
	case OpMul:
		f = a * b
	case OpDiv:
		if b == 0 {
			return nil, evalErr("division by zero")
		}
		f = a / b
	default:
		return nil, evalErr("unknown operator %s", op)
	}
	return checkFloat(f)
}

func overflow(op Op) error { return evalErr("integer overflow in %s", op) }

// checkFloat turns NaN and infinities (which Erlang never produces: it raises
// badarith) into an evaluation error.
func checkFloat(f float64) (Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, evalErr("arithmetic result is not a finite number")
	}
	return f, nil
}
