package rules

import (
	"math"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	cases := []struct {
		in, kinds string
	}{
		{`1`, "integer"},
		{`1.0`, "float"},
		{`1e3`, "float"},
		{`-0`, "integer"},
		{`12345678901234567890`, "float"},
		{`null`, "null"},
		{`"s"`, "string"},
		{`[1]`, "array"},
		{`{"a":1}`, "map"},
		{`true`, "boolean"},
	}
	for _, c := range cases {
		v, err := DecodeJSON(c.in)
		if err != nil || KindOf(v) != c.kinds {
			t.Errorf("DecodeJSON(%s) = %v (%s), %v; want %s", c.in, v, KindOf(v), err, c.kinds)
		}
	}
	for _, bad := range []string{``, `{`, `1 2`, `{"a":1}x`, `1e999`} {
		if _, err := DecodeJSON(bad); err == nil {
			t.Errorf("DecodeJSON(%q) accepted", bad)
		}
	}
	if _, err := DecodeColumns(`[1]`); err == nil {
		t.Error("DecodeColumns accepted an array")
	}
}

func TestEncodeJSON(t *testing.T) {
	cases := []struct {
		v    Value
		want string
	}{
		{nil, `null`},
		{Null, `null`},
		{int64(4), `4`},
		{4.0, `4.0`},
		{-0.5, `-0.5`},
		{1e21, `1.0e+21`},
		{1.5e-7, `1.5e-07`},
		{123456789.125, `123456789.125`},
		{"a\"b\\c\n\x01<>&é", `"a\"b\\c\n\u0001<>&é"`},
		{"\xff", `"\ufffd"`},
		{[]Value{nil, int64(1)}, `[null,1]`},
		{map[string]Value{"b": int64(1), "a": nil, "c": map[string]Value{}}, `{"b":1,"c":{}}`},
		{Columns{"z": true}, `{"z":true}`},
		{[]string{"x"}, `["x"]`},
		{3, `3`},
		{math.NaN(), `null`},
	}
	for _, c := range cases {
		if got := string(EncodeJSON(c.v)); got != c.want {
			t.Errorf("EncodeJSON(%#v) = %s, want %s", c.v, got, c.want)
		}
	}
}

func TestToText(t *testing.T) {
	cases := []struct {
		v    Value
		want string
	}{
		{1.0 / 3, "0.3333333333"},
		{2.0, "2.0"},
		{math.Copysign(0, -1), "-0.0"},
		{-1e-12, "-0.0"},
		{1e20, "100000000000000000000.0"},
		{0.1 + 0.2, "0.3"},
		{int64(-7), "-7"},
		{false, "false"},
		{nil, "undefined"},
		{Null, "null"},
		{[]Value{int64(1), "a"}, `[1,"a"]`},
	}
	for _, c := range cases {
		if got := ToText(c.v); got != c.want {
			t.Errorf("ToText(%#v) = %s, want %s", c.v, got, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	m1 := map[string]Value{"a": int64(1)}
	cases := []struct {
		op      Op
		l, r    Value
		want    bool
		wantErr string
	}{
		{OpEq, int64(2), 2.0, true, ""},
		{OpEq, "25", int64(25), true, ""},
		{OpEq, int64(25), "25.0", true, ""},
		{OpLt, "abc", int64(1), false, "non-numeric"},
		{OpEq, int64(1), "1e3", false, "non-numeric"},
		{OpEq, true, "true", true, ""},
		{OpEq, Null, "null", true, ""},
		{OpGt, "1.9", "1.10", true, ""},
		{OpEq, nil, nil, true, ""},
		{OpNe, nil, int64(1), true, ""},
		{OpEq, nil, "undefined", false, ""},
		{OpLe, nil, nil, false, ""},
		{OpGt, nil, int64(5), false, ""},
		{OpLt, int64(5), nil, false, ""},
		{OpLt, int64(1), true, true, ""},         // number < atom
		{OpLt, true, m1, true, ""},               // atom < map
		{OpLt, m1, []Value{}, true, ""},          // map < list
		{OpLt, []Value{int64(9)}, "a", true, ""}, // list < string
		{OpLt, false, Null, true, ""},            // atoms alphabetically
		{OpEq, []Value{int64(1)}, []Value{1.0}, true, ""},
		{OpLt, []Value{int64(1)}, []Value{int64(1), int64(0)}, true, ""},
		{OpEq, m1, map[string]Value{"a": 1.0}, true, ""},
		{OpLt, m1, map[string]Value{"a": int64(1), "b": int64(0)}, true, ""},
		{OpMatch, "a/b", "a/+", true, ""},
		{OpMatch, nil, nil, true, ""},
		{OpMatch, "a", nil, false, ""},
		{OpMatch, int64(1), "a", false, "=~ needs"},
		{OpNe, "<>", "<>", false, ""},
	}
	for _, c := range cases {
		got, err := Compare(c.op, c.l, c.r)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Compare(%s, %#v, %#v) = %v, %v; want error %q", c.op, c.l, c.r, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Compare(%s, %#v, %#v) = %v, %v; want %v", c.op, c.l, c.r, got, err, c.want)
		}
	}
}

func TestArith(t *testing.T) {
	cases := []struct {
		op      Op
		l, r    Value
		want    string
		wantErr string
	}{
		{OpAdd, int64(1), int64(2), `3`, ""},
		{OpAdd, int64(1), 2.0, `3.0`, ""},
		{OpSub, 1.5, int64(2), `-0.5`, ""},
		{OpMul, int64(-3), int64(4), `-12`, ""},
		{OpDiv, int64(8), int64(2), `4.0`, ""},
		{OpDiv, int64(1), 0.0, ``, "division by zero"},
		{OpIntDiv, int64(-7), int64(2), `-3`, ""},
		{OpIntDiv, int64(7), int64(0), ``, "by zero"},
		{OpIntDiv, int64(math.MinInt64), int64(-1), ``, "overflow"},
		{OpMod, int64(-7), int64(3), `-1`, ""},
		{OpMod, int64(math.MinInt64), int64(-1), `0`, ""},
		{OpAdd, "a", "b", `"ab"`, ""},
		{OpAdd, "a", int64(1), ``, "needs numbers"},
		{OpSub, "a", "b", ``, "needs numbers"},
		{OpAdd, nil, int64(1), ``, "undefined"},
		{OpAdd, int64(math.MaxInt64), int64(1), ``, "overflow"},
		{OpSub, int64(math.MinInt64), int64(1), ``, "overflow"},
		{OpMul, int64(math.MaxInt64), int64(2), ``, "overflow"},
		{OpMul, int64(-1), int64(math.MinInt64), ``, "overflow"},
		{OpMul, int64(0), int64(math.MinInt64), `0`, ""},
		{OpMul, 1e308, 10.0, ``, "finite"},
		{OpMod, 7.0, int64(2), ``, "integers"},
	}
	for _, c := range cases {
		got, err := Arith(c.op, c.l, c.r)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Arith(%s, %#v, %#v) = %v, %v; want error %q", c.op, c.l, c.r, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || string(EncodeJSON(got)) != c.want {
			t.Errorf("Arith(%s, %#v, %#v) = %v, %v; want %s", c.op, c.l, c.r, got, err, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	got := EncodeJSON(Normalize(map[string]Value{"i": 3, "u": uint8(2), "f": float32(1.5), "b": []byte("x"),
		"m": map[string]string{"k": "v"}, "big": uint64(math.MaxUint64)}))
	want := `{"b":"x","big":1.8446744073709552e+19,"f":1.5,"i":3,"m":{"k":"v"},"u":2}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
