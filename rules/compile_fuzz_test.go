package rules

import (
	"fmt"
	"strings"
	"testing"
)

// ruleGen builds rule SQL from fuzz bytes by picking productions of a small
// grammar of the rule language: every choice consumes a byte, and running
// out of bytes picks the simplest production.
type ruleGen struct {
	data  []byte
	depth int
}

func (g *ruleGen) pick(n int) int {
	if len(g.data) == 0 {
		return 0
	}
	c := int(g.data[0])
	g.data = g.data[1:]
	return c % n
}

var (
	genPaths = []string{"qos", "clientid", "topic", "payload.a", "payload.b", "payload.s", "payload.l",
		"payload.l[1]", "payload.l[-1]", "payload.m.x", "payload.m", "payload.f", "payload.n", "payload.big",
		"payload.l[payload.a]", "nope", "flags.retain", "x", "y", "item", "e", "e.v"}
	genLits = []string{"0", "1", "-1", "2", "7", "9223372036854775807", "-9223372036854775808", "0.5", "2.5",
		"1.0e300", "'a'", "'1'", "'2.5'", "'x y'", "''", "true", "false", "'t/#'", "'t/+'"}
	genFuncs = []struct {
		name string
		args int
	}{{"abs", 1}, {"upper", 1}, {"lower", 1}, {"str", 1}, {"int", 1}, {"float", 1}, {"length", 1},
		{"concat", 2}, {"is_null", 1}, {"is_num", 1}, {"is_array", 1}, {"nth", 2}, {"first", 1},
		{"json_encode", 1}, {"substr", 2}, {"eq", 2}, {"map_get", 2}, {"sqrt", 1}, {"round", 1}, {"nope_fn", 1}}
	genBinOps = []string{"+", "-", "*", "/", "div", "mod", "=", "!=", "<", "<=", ">", ">=", "=~"}
)

func (g *ruleGen) expr() string {
	g.depth++
	defer func() { g.depth-- }()
	k := g.pick(14)
	if g.depth > 4 {
		k %= 2
	}
	switch k {
	case 0:
		return genPaths[g.pick(len(genPaths))]
	case 1:
		return genLits[g.pick(len(genLits))]
	case 2, 3:
		return "(" + g.expr() + " " + genBinOps[g.pick(len(genBinOps))] + " " + g.expr() + ")"
	case 4:
		return "-(" + g.expr() + ")"
	case 5:
		f := genFuncs[g.pick(len(genFuncs))]
		args := make([]string, f.args)
		for i := range args {
			args[i] = g.expr()
		}
		return f.name + "(" + strings.Join(args, ", ") + ")"
	case 6:
		not := ""
		if g.pick(2) == 1 {
			not = "NOT "
		}
		return "(" + g.expr() + " " + not + "IN (" + g.expr() + ", " + g.expr() + "))"
	case 7:
		if g.pick(2) == 0 {
			s := "CASE WHEN " + g.cond() + " THEN " + g.expr()
			if g.pick(2) == 0 {
				s += " WHEN " + g.cond() + " THEN " + g.expr()
			}
			if g.pick(2) == 0 {
				s += " ELSE " + g.expr()
			}
			return s + " END"
		}
		s := "CASE " + g.expr() + " WHEN " + g.expr() + " THEN " + g.expr()
		if g.pick(2) == 0 {
			s += " ELSE " + g.expr()
		}
		return s + " END"
	case 8:
		return "[" + g.expr() + ", " + g.expr() + "]"
	case 9:
		return "[" + genLits[g.pick(5)] + ".." + genLits[g.pick(5)] + "]"
	case 10:
		return "payload.l[" + genLits[g.pick(5)] + ".." + genLits[g.pick(5)] + "]"
	case 11:
		return "+(" + g.expr() + ")"
	}
	return genPaths[g.pick(len(genPaths))]
}

// condLeaf is a comparison, IN or a function call (the conditions the
// checker accepts).
func (g *ruleGen) condLeaf() string {
	switch g.pick(4) {
	case 0:
		return g.expr() + " IN (" + g.expr() + ", " + g.expr() + ")"
	case 1:
		return "is_null(" + g.expr() + ")"
	}
	return g.expr() + " " + genBinOps[6+g.pick(len(genBinOps)-6)] + " " + g.expr()
}

func (g *ruleGen) cond() string {
	g.depth++
	defer func() { g.depth-- }()
	k := g.pick(5)
	if g.depth > 4 {
		k = 0
	}
	switch k {
	case 1:
		return "(" + g.cond() + " AND " + g.cond() + ")"
	case 2:
		return "(" + g.cond() + " OR " + g.cond() + ")"
	case 3:
		return "NOT " + g.cond()
	}
	return g.condLeaf()
}

var genAliases = []string{"x", "y", "payload.a", "d.e", "c[1]", "c[-0]", "qos", "topic"}

func (g *ruleGen) fields(n int) string {
	fs := make([]string, 0, n)
	for i := 0; i < n; i++ {
		switch g.pick(5) {
		case 0:
			fs = append(fs, g.expr())
		case 1:
			fs = append(fs, "*")
		default:
			fs = append(fs, g.expr()+" AS "+genAliases[g.pick(len(genAliases))])
		}
	}
	return strings.Join(fs, ", ")
}

// rule builds one rule.
func (g *ruleGen) rule() string {
	var s string
	if g.pick(3) == 0 {
		s = "FOREACH "
		if g.pick(2) == 0 {
			s += g.fields(g.pick(2)) + ", "
		}
		coll := []string{"payload.l", "payload.m", "[1..3]", "payload.objs", "payload.s"}[g.pick(5)]
		s += coll
		if g.pick(2) == 0 {
			s += " AS " + []string{"e", "x", "e.v"}[g.pick(3)]
		}
		if g.pick(2) == 0 {
			s += " DO " + g.fields(1+g.pick(3))
		}
		if g.pick(2) == 0 {
			s += " INCASE " + g.cond()
		}
	} else {
		s = "SELECT " + g.fields(1+g.pick(4))
	}
	s += ` FROM "t/#"`
	if g.pick(2) == 0 {
		s += " WHERE " + g.cond()
	}
	return s
}

// FuzzCompiledEqualsEval generates a rule and a message from the fuzz
// input and requires the compiled path and the evaluator to give identical
// output JSON, or the same error.
func FuzzCompiledEqualsEval(f *testing.F) {
	f.Add([]byte{}, `{"a": 1}`)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, `{"a": 2, "b": 2.5, "l": [1, 2, 3], "s": "x"}`)
	f.Add([]byte("SELECT where foreach case in"), `{"a": 9223372036854775807, "m": {"x": "1"}, "objs": [{"v": 1}, {"v": 2}]}`)
	f.Add([]byte{0, 7, 2, 1, 3, 2, 0, 4, 13, 5, 9, 6, 10, 1, 3, 3, 14}, `not json`)
	f.Add([]byte{2, 0, 3, 1, 2, 3, 1, 1, 0, 0, 6, 1, 0}, `{"l": [1, 2.5, "x", null, true], "n": null, "f": 1.5}`)
	f.Fuzz(func(t *testing.T, prog []byte, payload string) {
		g := &ruleGen{data: prog}
		sql := g.rule()
		r, err := Parse(sql)
		if err != nil {
			return // the grammar can make unchecked combinations
		}
		in := Columns{"topic": "t/a", "clientid": "c1", "qos": int64(1), "payload": payload,
			"flags": map[string]Value{"retain": false}, "y": []Value{int64(1), 2.5, "x", Null}}
		want, werr := r.Eval(in)
		c, err := CompileRule(r)
		if err != nil {
			t.Fatalf("compile %q: %v", sql, err)
		}
		defer c.Close()
		got, gerr := c.Eval(in)
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Fatalf("%s\npayload %q\n eval error %v\n wasm error %v", sql, payload, werr, gerr)
		}
		if (want == nil) != (got == nil) || string(want.JSON()) != string(got.JSON()) {
			t.Fatalf("%s\npayload %q\n eval %s\n wasm %s", sql, payload, want.JSON(), got.JSON())
		}
	})
}

// TestRuleGenParses checks that the fuzz grammar mostly makes valid rules
// (a generator making only syntax errors would test nothing).
func TestRuleGenParses(t *testing.T) {
	ok := 0
	for i := 0; i < 200; i++ {
		data := make([]byte, 40)
		for j := range data {
			data[j] = byte(i*131 + j*j*7 + j)
		}
		g := &ruleGen{data: data}
		sql := g.rule()
		if _, err := Parse(sql); err == nil {
			ok++
		} else if testing.Verbose() {
			t.Logf("%s: %v", sql, err)
		}
	}
	if ok < 150 {
		t.Fatalf("only %d of 200 generated rules parse", ok)
	}
}

// FuzzCompiledJSONPaths checks the compiled path's JSON extraction against
// DecodeJSON: the same documents are valid, and every path reads the value
// stepping through the decoded document gives (or is left to the
// evaluator, where a string would be decoded on the way).
func FuzzCompiledJSONPaths(f *testing.F) {
	f.Add(`{"a": {"b": [1, 2.5, "x"]}, "a": {"b": [3]}, "c": "{\"d\":1}"}`)
	f.Add(`[{"a": 1}, {"a": "\u00e9"}, null]`)
	f.Add(`{"k\u0065y": 1e400}`)
	f.Add(`{"a":1} x`)
	paths := [][]Step{
		{{Key: "a"}}, {{Key: "a"}, {Key: "b"}}, {{Key: "a"}, {Key: "b"}, {IsIndex: true, Index: -1}},
		{{Key: "key"}}, {{Key: "c"}, {Key: "d"}}, {{IsIndex: true, Index: 2}, {Key: "a"}}, {{IsIndex: true, Index: -3}},
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := DecodeJSON(s)
		keys := []string{"a", "key", "c"}
		spans := make([]int, 2*len(keys))
		vals := make([]Value, len(keys))
		valid := jsonValid(s, keys, []bool{true, false, true}, spans, vals)
		if valid != (err == nil) {
			t.Fatalf("%q: jsonValid %v, DecodeJSON error %v", s, valid, err)
		}
		if !valid {
			return
		}
		i := skipWS(s, 0)
		for _, p := range paths {
			w, slow := stepStatic(want, p)
			got, gslow := extract(s, i, len(s), p)
			if slow != gslow || !slow && string(EncodeJSON(Normalize(w))) != string(EncodeJSON(Normalize(got))) {
				t.Fatalf("%q %v: extract %v %v, want %v %v", s, pathKey("", p), got, gslow, w, slow)
			}
		}
		if m, ok := want.(map[string]Value); ok {
			for j, k := range keys {
				v, has := m[k]
				if has != (spans[2*j] >= 0) || j != 1 && string(EncodeJSON(Normalize(v))) != string(EncodeJSON(Normalize(vals[j]))) {
					t.Fatalf("%q key %q: span %d value %v, want %v", s, k, spans[2*j], vals[j], v)
				}
			}
		}
	})
}
