package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQIdent // "double quoted": a name (a topic filter in FROM)
	tString // 'single quoted'
	tInt
	tFloat
	tComma
	tDot
	tDotDot
	tLParen
	tRParen
	tLBrack
	tRBrack
	tStar
	tPlus
	tMinus
	tSlash
	tEq
	tNe
	tLt
	tLe
	tGt
	tGe
	tMatch // =~
)

var tokNames = [...]string{
	tEOF: "end of input", tIdent: "name", tQIdent: "quoted name", tString: "string",
	tInt: "integer", tFloat: "float", tComma: "','", tDot: "'.'", tDotDot: "'..'",
	tLParen: "'('", tRParen: "')'", tLBrack: "'['", tRBrack: "']'", tStar: "'*'",
	tPlus: "'+'", tMinus: "'-'", tSlash: "'/'", tEq: "'='", tNe: "'!='", tLt: "'<'",
	tLe: "'<='", tGt: "'>'", tGe: "'>='", tMatch: "'=~'",
}

// String names the token kind in error messages.
func (k tokKind) String() string {
	if int(k) < len(tokNames) {
		return tokNames[k]
	}
	return fmt.Sprintf("token(%d)", int(k))
}

// token is one lexical token. For strings and quoted names, text is the
// content without the quotes; otherwise it is the source text.
type token struct {
	kind tokKind
	text string
	pos  Pos
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tIdent:
		if isKeyword(t.text) {
			return "keyword " + strings.ToUpper(t.text)
		}
		return fmt.Sprintf("name %s", t.text)
	case tQIdent:
		return fmt.Sprintf("quoted name %q", t.text)
	case tString:
		return fmt.Sprintf("string '%s'", t.text)
	case tInt, tFloat:
		return "number " + t.text
	}
	return t.kind.String()
}

var keywords = map[string]bool{
	"select": true, "from": true, "where": true, "as": true, "and": true, "or": true,
	"not": true, "in": true, "case": true, "when": true, "then": true, "else": true,
	"end": true, "foreach": true, "do": true, "incase": true, "if": true, "elsif": true,
}

func isKeyword(s string) bool { return keywords[strings.ToLower(s)] }

// maxSQLLen bounds the SQL text a rule may have.
const maxSQLLen = 1 << 20

// lex splits src into tokens, ending with tEOF.
func lex(src string) ([]token, error) {
	if len(src) > maxSQLLen {
		return nil, &SyntaxError{Pos{1, 1}, fmt.Sprintf("SQL longer than %d bytes", maxSQLLen)}
	}
	l := lexer{src: src, line: 1, col: 1}
	var toks []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}

type lexer struct {
	src       string
	i         int
	line, col int
}

func (l *lexer) peekByte(off int) byte {
	if l.i+off < len(l.src) {
		return l.src[l.i+off]
	}
	return 0
}

// advance moves over n bytes, keeping line and column (in characters).
func (l *lexer) advance(n int) {
	end := l.i + n
	for l.i < end {
		c := l.src[l.i]
		if c == '\n' {
			l.line++
			l.col = 1
			l.i++
			continue
		}
		_, size := utf8.DecodeRuneInString(l.src[l.i:])
		l.i += size
		l.col++
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isIdentChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '_' || c == '$' || c == '@' || c == '~'
}

func (l *lexer) next() (token, error) {
	// Skip whitespace and comments.
	for l.i < len(l.src) {
		c := l.src[l.i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			l.advance(1)
			continue
		}
		if c == '-' && l.peekByte(1) == '-' {
			j := strings.IndexByte(l.src[l.i:], '\n')
			if j < 0 {
				l.advance(len(l.src) - l.i)
			} else {
				l.advance(j)
			}
			continue
		}
		break
	}
	pos := Pos{l.line, l.col}
	if l.i >= len(l.src) {
		return token{kind: tEOF, pos: pos}, nil
	}
	c := l.src[l.i]
	start := l.i
	switch {
	case isLetter(c) || c == '_':
		j := l.i + 1
		for j < len(l.src) && isIdentChar(l.src[j]) {
			j++
		}
		l.advance(j - l.i)
		return token{kind: tIdent, text: l.src[start:j], pos: pos}, nil
	case isDigit(c):
		j := l.i
		for j < len(l.src) && isDigit(l.src[j]) {
			j++
		}
		kind := tInt
		if j+1 < len(l.src) && l.src[j] == '.' && isDigit(l.src[j+1]) {
			kind = tFloat
			j++
			for j < len(l.src) && isDigit(l.src[j]) {
				j++
			}
			if j < len(l.src) && (l.src[j] == 'e' || l.src[j] == 'E') {
				k := j + 1
				if k < len(l.src) && (l.src[k] == '+' || l.src[k] == '-') {
					k++
				}
				if k < len(l.src) && isDigit(l.src[k]) {
					for k < len(l.src) && isDigit(l.src[k]) {
						k++
					}
					j = k
				}
			}
		}
		l.advance(j - l.i)
		return token{kind: kind, text: l.src[start:j], pos: pos}, nil
	case c == '\'' || c == '"':
		end := strings.IndexByte(l.src[l.i+1:], c)
		if end < 0 {
			what := "string literal"
			if c == '"' {
				what = "quoted name"
			}
			return token{}, &SyntaxError{pos, fmt.Sprintf("unterminated %s: expected a closing %c", what, c)}
		}
		text := l.src[l.i+1 : l.i+1+end]
		l.advance(end + 2)
		kind := tString
		if c == '"' {
			kind = tQIdent
		}
		return token{kind: kind, text: text, pos: pos}, nil
	}
	two := ""
	if l.i+1 < len(l.src) {
		two = l.src[l.i : l.i+2]
	}
	switch two {
	case "..":
		l.advance(2)
		return token{kind: tDotDot, text: two, pos: pos}, nil
	case "!=", "<>":
		l.advance(2)
		return token{kind: tNe, text: two, pos: pos}, nil
	case "<=":
		l.advance(2)
		return token{kind: tLe, text: two, pos: pos}, nil
	case ">=":
		l.advance(2)
		return token{kind: tGe, text: two, pos: pos}, nil
	case "=~":
		l.advance(2)
		return token{kind: tMatch, text: two, pos: pos}, nil
	}
	var kind tokKind
	switch c {
	case ',':
		kind = tComma
	case '.':
		kind = tDot
	case '(':
		kind = tLParen
	case ')':
		kind = tRParen
	case '[':
		kind = tLBrack
	case ']':
		kind = tRBrack
	case '*':
		kind = tStar
	case '+':
		kind = tPlus
	case '-':
		kind = tMinus
	case '/':
		kind = tSlash
	case '=':
		kind = tEq
	case '<':
		kind = tLt
	case '>':
		kind = tGt
	default:
		r, _ := utf8.DecodeRuneInString(l.src[l.i:])
		return token{}, &SyntaxError{pos, fmt.Sprintf("unexpected character %q", r)}
	}
	l.advance(1)
	return token{kind: kind, text: l.src[start : start+1], pos: pos}, nil
}
