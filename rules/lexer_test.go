package rules

import (
	"strings"
	"testing"
)

func TestLex(t *testing.T) {
	type tk struct {
		kind tokKind
		text string
		pos  string
	}
	cases := []struct {
		src  string
		want []tk
	}{
		{`SELECT a.b`, []tk{{tIdent, "SELECT", "1:1"}, {tIdent, "a", "1:8"}, {tDot, ".", "1:9"}, {tIdent, "b", "1:10"}}},
		{`'it''s'`, []tk{{tString, "it", "1:1"}, {tString, "s", "1:5"}}},
		{`"t/#" 'x y'`, []tk{{tQIdent, "t/#", "1:1"}, {tString, "x y", "1:7"}}},
		{`1 1.5 12.5e3 1e3 2.5E-2`, []tk{{tInt, "1", "1:1"}, {tFloat, "1.5", "1:3"}, {tFloat, "12.5e3", "1:7"}, {tInt, "1", "1:14"}, {tIdent, "e3", "1:15"}, {tFloat, "2.5E-2", "1:18"}}},
		{`[1..3]`, []tk{{tLBrack, "[", "1:1"}, {tInt, "1", "1:2"}, {tDotDot, "..", "1:3"}, {tInt, "3", "1:5"}, {tRBrack, "]", "1:6"}}},
		{`a[-1]`, []tk{{tIdent, "a", "1:1"}, {tLBrack, "[", "1:2"}, {tMinus, "-", "1:3"}, {tInt, "1", "1:4"}, {tRBrack, "]", "1:5"}}},
		{`= != <> < <= > >= =~`, []tk{{tEq, "=", "1:1"}, {tNe, "!=", "1:3"}, {tNe, "<>", "1:6"}, {tLt, "<", "1:9"}, {tLe, "<=", "1:11"}, {tGt, ">", "1:14"}, {tGe, ">=", "1:16"}, {tMatch, "=~", "1:19"}}},
		{"a -- comment\n  b--c", []tk{{tIdent, "a", "1:1"}, {tIdent, "b", "2:3"}}},
		{`x_1$@~ _y`, []tk{{tIdent, "x_1$@~", "1:1"}, {tIdent, "_y", "1:8"}}},
		{"'é' x", []tk{{tString, "é", "1:1"}, {tIdent, "x", "1:5"}}},
		{`+ - * / ( ) ,`, []tk{{tPlus, "+", "1:1"}, {tMinus, "-", "1:3"}, {tStar, "*", "1:5"}, {tSlash, "/", "1:7"}, {tLParen, "(", "1:9"}, {tRParen, ")", "1:11"}, {tComma, ",", "1:13"}}},
	}
	for _, c := range cases {
		toks, err := lex(c.src)
		if err != nil {
			t.Fatalf("lex(%q): %v", c.src, err)
		}
		if toks[len(toks)-1].kind != tEOF {
			t.Fatalf("lex(%q): no EOF", c.src)
		}
		toks = toks[:len(toks)-1]
		if len(toks) != len(c.want) {
			t.Fatalf("lex(%q): %d tokens, want %d: %+v", c.src, len(toks), len(c.want), toks)
		}
		for i, w := range c.want {
			g := toks[i]
			if g.kind != w.kind || g.text != w.text || g.pos.String() != w.pos {
				t.Errorf("lex(%q)[%d] = %v %q %s, want %v %q %s", c.src, i, g.kind, g.text, g.pos, w.kind, w.text, w.pos)
			}
		}
	}
}

func TestLexErrors(t *testing.T) {
	cases := []struct{ src, pos, msg string }{
		{`'abc`, "1:1", "unterminated string"},
		{"a\n  \"t/#", "2:3", "unterminated quoted name"},
		{`a # b`, "1:3", "unexpected character '#'"},
		{`a ! b`, "1:3", "unexpected character '!'"},
		{"é", "1:1", "unexpected character 'é'"},
	}
	for _, c := range cases {
		_, err := lex(c.src)
		se, ok := err.(*SyntaxError)
		if !ok {
			t.Fatalf("lex(%q) = %v, want *SyntaxError", c.src, err)
		}
		if se.Pos.String() != c.pos || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("lex(%q) = %v, want %s %q", c.src, err, c.pos, c.msg)
		}
	}
}
