package rules

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseShape(t *testing.T) {
	r, err := Parse(`FOREACH payload.s AS s DO s.id AS id INCASE s.v > 1 FROM "t/#", "$events/client_connected" WHERE qos = 1`)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Foreach || len(r.Fields) != 1 || len(r.Do) != 1 || r.Incase == nil || r.Where == nil {
		t.Fatalf("bad shape: %+v", r)
	}
	if !reflect.DeepEqual(r.From, []string{"t/#", "$events/client_connected"}) {
		t.Fatalf("from = %v", r.From)
	}
	if got := r.Fields[0].Alias; len(got) != 1 || got[0].Key != "s" {
		t.Fatalf("alias = %+v", got)
	}
}

func TestParseAST(t *testing.T) {
	cases := []struct {
		expr string
		want string // a compact rendering of the tree
	}{
		{`1 + 2 * 3`, `(+ 1 (* 2 3))`},
		{`(1 + 2) * 3`, `(* (+ 1 2) 3)`},
		{`-a.b`, `(- a.b)`},
		{`-5`, `-5`},
		{`- 2.5`, `-2.5`},
		{`a - -1`, `(- a -1)`},
		{`7 div 2 mod 3`, `(mod (div 7 2) 3)`},
		{`a.b[1].c[-2]`, `a.b[1].c[-2]`},
		{`payload.x[2..-1]`, `(slice payload.x 2 -1)`},
		{`[1..n]`, `(range 1 n)`},
		{`[a, 'x', 1.5]`, `[a "x" 1.5]`},
		{`f(a, g(b), 1 + 2)`, `(f a (g b) (+ 1 2))`},
		{`a > 1`, `(> a 1)`},
		{`a = 'x'`, `(= a "x")`},
		{`CASE WHEN a > 1 THEN 'x' ELSE 'y' END`, `(case nil (when (> a 1) "x") (else "y"))`},
		{`CASE a WHEN 1 THEN 2 END`, `(case a (when 1 2))`},
		{`a.list[b.i]`, `a.list[b.i]`},
		{`"weird col".x`, `weird col.x`},
		{`mod(7, 2)`, `(mod 7 2)`},
		{`payload.end.in`, `payload.end.in`},
		{`div(7, 2)`, `(div 7 2)`},
		{`a mod (b + 1) DIV 2`, `(div (mod a (+ b 1)) 2)`},
	}
	for _, c := range cases {
		r, err := Parse("SELECT " + c.expr + ` AS x FROM "t"`)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := render(r.Fields[0].Expr); got != c.want {
			t.Errorf("%s: got %s, want %s", c.expr, got, c.want)
		}
	}
	conds := []struct{ cond, want string }{
		{`a = 1 OR b = 2 AND c = 3`, `(or (= a 1) (and (= b 2) (= c 3)))`},
		{`NOT a = 1 AND b = 2`, `(and (not (= a 1)) (= b 2))`},
		{`NOT (a = 1 OR b = 2)`, `(not (or (= a 1) (= b 2)))`},
		{`a IN (1, 'x')`, `(in a 1 "x")`},
		{`a NOT IN (1)`, `(notin a 1)`},
		{`topic =~ 't/#'`, `(=~ topic "t/#")`},
		{`is_null(a) or a <> 2`, `(or (is_null a) (!= a 2))`},
		{`(a + 1) * 2 >= 4`, `(>= (* (+ a 1) 2) 4)`},
	}
	for _, c := range conds {
		r, err := Parse(`SELECT a FROM "t" WHERE ` + c.cond)
		if err != nil {
			t.Errorf("%s: %v", c.cond, err)
			continue
		}
		if got := render(r.Where); got != c.want {
			t.Errorf("%s: got %s, want %s", c.cond, got, c.want)
		}
	}
}

func TestParseAliases(t *testing.T) {
	cases := []struct {
		field string
		key   string
	}{
		{`a AS b`, `b`},
		{`a AS b.c.d`, `b.c.d`},
		{`a AS c[0]`, `c[0]`},
		{`a AS c[-0]`, `c[tail]`},
		{`a AS c[2].x`, `c[2].x`},
		{`a AS "quoted key"`, `quoted key`},
		{`payload.a.b`, `payload.a.b`},
		{`payload.list[1..2]`, `payload.list`},
		{`abs(x)`, `_v_fun_abs`},
		{`'text'`, `text`},
		{`1 + 2`, `_v_op_+`},
		{`x y`, `y`},
	}
	for _, c := range cases {
		r, err := Parse("SELECT " + c.field + ` FROM "t"`)
		if err != nil {
			t.Errorf("%s: %v", c.field, err)
			continue
		}
		if got := renderSteps(r.Fields[0].Key); got != c.key {
			t.Errorf("%s: key %s, want %s", c.field, got, c.key)
		}
	}
}

func TestParseKeywordsCaseInsensitive(t *testing.T) {
	r, err := Parse(`select a as b from "t" where a in (1) AnD not b = 2 oR CaSe when a = 1 then true EnD = true`)
	if err != nil {
		t.Fatal(err)
	}
	if r.Where == nil {
		t.Fatal("no where")
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ sql, pos, msg string }{
		{``, "1:1", "expected SELECT or FOREACH, found end of input"},
		{`UPDATE t`, "1:1", "expected SELECT or FOREACH"},
		{`SELECT FROM "t"`, "1:8", "expected a field"},
		{`SELECT a`, "1:9", "expected FROM"},
		{`SELECT a FROM t`, "1:15", "topic filter in double quotes"},
		{`SELECT a FROM "t",`, "1:19", "topic filter"},
		{`SELECT a FROM "t/#/x"`, "1:15", "'#' must be the whole last level"},
		{`SELECT a FROM "t/a+"`, "1:15", "'+' must be a whole level"},
		{`SELECT a FROM ""`, "1:15", "empty topic filter"},
		{`SELECT a FROM "$events/nope"`, "1:15", "unknown event"},
		{`SELECT a AND b FROM "t"`, "1:10", "AND is only allowed"},
		{`SELECT NOT a FROM "t"`, "1:8", "NOT is only allowed"},
		{`SELECT f(a OR b) FROM "t"`, "1:12", "OR is only allowed"},
		{`SELECT a FROM "t" WHERE a`, "1:25", "expected a condition"},
		{`SELECT a FROM "t" WHERE true`, "1:25", "expected a condition"},
		{`SELECT a FROM "t" WHERE a + 1`, "1:27", "expected a condition"},
		{`SELECT a FROM "t" WHERE a = 1 AND b`, "1:35", "expected a condition"},
		{"SELECT a\nFROM \"t\"\nWHERE a = 1 b", "3:13", "expected end of input"},
		{`SELECT a FROM "t" extra`, "1:19", "expected WHERE"},
		{`SELECT (a FROM "t"`, "1:11", "expected ')'"},
		{`SELECT f(a FROM "t"`, "1:12", "expected ',' or ')'"},
		{`SELECT [1, 2 FROM "t"`, "1:14", "expected ',', '..' or ']'"},
		{`SELECT a[1.5] FROM "t"`, "1:10", "integer index"},
		{`SELECT a['x'] FROM "t"`, "1:10", "integer index"},
		{`SELECT a. FROM "t"`, "1:11", "a key after '.'"},
		{`SELECT a AS FROM "t"`, "1:13", "expected an alias name"},
		{`SELECT a AS b[x] FROM "t"`, "1:15", "expected integer"},
		{`SELECT CASE WHEN a THEN 1 END FROM "t"`, "1:18", "expected a condition"},
		{`SELECT CASE a THEN 1 END FROM "t"`, "1:15", "expected WHEN"},
		{`SELECT CASE WHEN a = 1 THEN 2 FROM "t"`, "1:31", "expected WHEN, ELSE or END"},
		{`SELECT abs(1, 2) FROM "t"`, "1:8", "function abs takes 1 argument, got 2"},
		{`SELECT sprintf() FROM "t"`, "1:8", "at least 1 argument"},
		{`SELECT 99999999999999999999 FROM "t"`, "1:8", "out of range"},
		{`SELECT a FROM "t" WHERE a IN 1`, "1:30", "expected '('"},
		{`FOREACH a INCASE b FROM "t"`, "1:18", "expected a condition"},
		{`FOREACH a DO FROM "t"`, "1:14", "expected a field"},
		{`SELECT * * FROM "t"`, "1:10", "expected FROM"},
		{`SELECT a FROM "t" WHERE a = 1 = 2`, "1:31", "expected end of input"},
		{"SELECT a -- c\n, FROM \"t\"", "2:3", "expected a field"},
		{`SELECT ` + strings.Repeat("(", 100) + `1` + strings.Repeat(")", 100) + ` FROM "t"`, "", "nested more than"},
		{`SELECT ` + strings.Repeat("- ", 100) + `a FROM "t"`, "", "nested more than"},
		{`SELECT a FROM "t" WHERE ` + strings.Repeat("NOT ", 100) + `a = 1`, "", "nested more than"},
		{`SELECT ` + strings.Repeat("1 + ", 100) + `1 FROM "t"`, "", "nested more than"},
	}
	for _, c := range cases {
		_, err := Parse(c.sql)
		se, ok := err.(*SyntaxError)
		if !ok {
			t.Errorf("Parse(%q) = %v, want *SyntaxError", c.sql, err)
			continue
		}
		if (c.pos != "" && se.Pos.String() != c.pos) || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("Parse(%q) = %v\n want at %s: %q", c.sql, err, c.pos, c.msg)
		}
	}
}

// render prints an expression tree compactly for the tests.
func render(e Expr) string {
	if e == nil {
		return "nil"
	}
	switch x := e.(type) {
	case *Literal:
		return string(EncodeJSON(x.Value))
	case *Path:
		s := x.Root
		for _, st := range x.Steps {
			switch {
			case st.Dyn != nil:
				s += "[" + render(st.Dyn) + "]"
			case st.IsIndex:
				s += "[" + ToText(st.Index) + "]"
			default:
				s += "." + st.Key
			}
		}
		return s
	case *Slice:
		return "(slice " + render(x.X) + " " + render(x.From) + " " + render(x.To) + ")"
	case *Range:
		return "(range " + render(x.From) + " " + render(x.To) + ")"
	case *ListLit:
		parts := make([]string, len(x.Elems))
		for i, el := range x.Elems {
			parts[i] = render(el)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *Call:
		s := "(" + x.Name
		for _, a := range x.Args {
			s += " " + render(a)
		}
		return s + ")"
	case *Unary:
		return "(" + string(x.Op) + " " + render(x.X) + ")"
	case *Binary:
		return "(" + string(x.Op) + " " + render(x.L) + " " + render(x.R) + ")"
	case *Logic:
		return "(" + string(x.Op) + " " + render(x.L) + " " + render(x.R) + ")"
	case *Not:
		return "(not " + render(x.X) + ")"
	case *In:
		s := "(in"
		if x.Not {
			s = "(notin"
		}
		s += " " + render(x.X)
		for _, el := range x.List {
			s += " " + render(el)
		}
		return s + ")"
	case *Case:
		s := "(case " + render(x.Subject)
		for _, w := range x.Whens {
			s += " (when " + render(w.Cond) + " " + render(w.Then) + ")"
		}
		if x.Else != nil {
			s += " (else " + render(x.Else) + ")"
		}
		return s + ")"
	}
	return "?"
}

func renderSteps(steps []Step) string {
	var s string
	for i, st := range steps {
		switch {
		case st.Tail:
			s += "[tail]"
		case st.IsIndex:
			s += "[" + ToText(st.Index) + "]"
		case i == 0:
			s += st.Key
		default:
			s += "." + st.Key
		}
	}
	return s
}
