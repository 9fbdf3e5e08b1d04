package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxDepth caps how deeply expressions may nest (parentheses, calls, lists,
// CASE, unary operators, and the height of operator chains).
const maxDepth = 64

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) cur() token  { return p.toks[p.i] }
func (p *parser) peek() token { return p.toks[min(p.i+1, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

// kw reports whether the current token is the keyword word (case-insensitive).
func (p *parser) kw(word string) bool {
	t := p.cur()
	return t.kind == tIdent && strings.EqualFold(t.text, word)
}

func (p *parser) errorf(at Pos, format string, args ...any) error {
	return &SyntaxError{Pos: at, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) expected(what string) error {
	t := p.cur()
	return p.errorf(t.pos, "expected %s, found %s", what, t.describe())
}

func (p *parser) expectKw(word string) error {
	if !p.kw(word) {
		return p.expected(strings.ToUpper(word))
	}
	p.next()
	return nil
}

func (p *parser) expect(k tokKind) (token, error) {
	if p.cur().kind != k {
		return token{}, p.expected(k.String())
	}
	return p.next(), nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(p.cur().pos, "expression nested more than %d levels deep", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseRule() (*Rule, error) {
	r := &Rule{}
	var err error
	switch {
	case p.kw("select"):
		p.next()
		if r.Fields, err = p.parseFields(); err != nil {
			return nil, err
		}
	case p.kw("foreach"):
		p.next()
		r.Foreach = true
		if r.Fields, err = p.parseFields(); err != nil {
			return nil, err
		}
		if p.kw("do") {
			p.next()
			if r.Do, err = p.parseFields(); err != nil {
				return nil, err
			}
		}
		if p.kw("incase") {
			p.next()
			if r.Incase, err = p.parseCondition(); err != nil {
				return nil, err
			}
		}
	default:
		return nil, p.expected("SELECT or FOREACH")
	}
	if err := p.expectKw("from"); err != nil {
		return nil, err
	}
	if r.From, err = p.parseFrom(); err != nil {
		return nil, err
	}
	if p.kw("where") {
		p.next()
		if r.Where, err = p.parseCondition(); err != nil {
			return nil, err
		}
	}
	if p.cur().kind != tEOF {
		if r.Where == nil {
			return nil, p.expected("WHERE, ',' or end of input")
		}
		return nil, p.expected("end of input")
	}
	return r, nil
}

func (p *parser) parseFields() ([]Field, error) {
	var fields []Field
	for {
		f, err := p.parseField()
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
		if p.cur().kind != tComma {
			return fields, nil
		}
		p.next()
	}
}

func (p *parser) parseField() (Field, error) {
	if p.cur().kind == tStar {
		p.next()
		return Field{Star: true}, nil
	}
	if p.kw("from") || p.cur().kind == tEOF {
		return Field{}, p.expected("a field ('*' or an expression)")
	}
	e, err := p.parseExpr()
	if err != nil {
		return Field{}, err
	}
	if err := checkValue(e); err != nil {
		return Field{}, err
	}
	f := Field{Expr: e}
	t := p.cur()
	switch {
	case p.kw("as"):
		p.next()
		if f.Alias, err = p.parseTarget(); err != nil {
			return Field{}, err
		}
	case t.kind == tQIdent || t.kind == tIdent && !isKeyword(t.text):
		if f.Alias, err = p.parseTarget(); err != nil {
			return Field{}, err
		}
	}
	if f.Alias != nil {
		f.Key = f.Alias
	} else {
		f.Key = derivedKey(e)
	}
	return f, nil
}

// parseTarget parses an alias: name {. key | [int] | [-0]}.
func (p *parser) parseTarget() ([]Step, error) {
	t := p.cur()
	if !(t.kind == tQIdent || t.kind == tIdent && !isKeyword(t.text)) {
		return nil, p.expected("an alias name")
	}
	p.next()
	steps := []Step{{Key: t.text}}
	for {
		switch p.cur().kind {
		case tDot:
			p.next()
			keys, err := p.parseKey()
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				steps = append(steps, Step{Key: k})
			}
		case tLBrack:
			p.next()
			neg := false
			if p.cur().kind == tMinus {
				p.next()
				neg = true
			}
			it, err := p.expect(tInt)
			if err != nil {
				return nil, err
			}
			n, perr := strconv.ParseInt(it.text, 10, 64)
			if perr != nil {
				return nil, p.errorf(it.pos, "index %s out of range", it.text)
			}
			st := Step{IsIndex: true, Index: n}
			if neg {
				st.Index = -n
				st.Tail = n == 0
			}
			if _, err := p.expect(tRBrack); err != nil {
				return nil, err
			}
			steps = append(steps, st)
		default:
			return steps, nil
		}
	}
}

// parseKey parses what follows a '.' in a path: a name, a number, a quoted
// name or a string. "a.1.2" lexes 1.2 as a float: it is split into two keys.
func (p *parser) parseKey() ([]string, error) {
	t := p.cur()
	dot := p.toks[p.i-1].pos
	switch t.kind {
	case tIdent:
		// A keyword is a key only right after the dot (payload.end).
		if isKeyword(t.text) && (t.pos.Line != dot.Line || t.pos.Col != dot.Col+1) {
			break
		}
		p.next()
		return []string{t.text}, nil
	case tInt, tString, tQIdent:
		p.next()
		return []string{t.text}, nil
	case tFloat:
		a, b, ok := strings.Cut(t.text, ".")
		if ok && allDigits(a) && allDigits(b) {
			p.next()
			return []string{a, b}, nil
		}
	}
	return nil, p.expected("a key after '.'")
}

func (p *parser) parseFrom() ([]string, error) {
	var from []string
	for {
		t := p.cur()
		if t.kind != tQIdent {
			return nil, p.expected(`a topic filter in double quotes ("t/#") or "$events/..."`)
		}
		p.next()
		if err := validateFrom(t.text); err != nil {
			return nil, p.errorf(t.pos, "%v", err)
		}
		from = append(from, t.text)
		if p.cur().kind != tComma {
			return from, nil
		}
		p.next()
	}
}

// parseCondition parses a WHERE, WHEN or INCASE condition and checks its shape.
func (p *parser) parseCondition() (Expr, error) {
	e, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if err := checkCond(e); err != nil {
		return nil, err
	}
	return e, nil
}

// parseExpr parses the unified expression grammar (OR at the lowest level);
// checkValue and checkCond then enforce where AND/OR/NOT may appear.
func (p *parser) parseExpr() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.kw("or") {
		t := p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &Logic{At: t.pos, Op: OpOr, L: l, R: r}
	}
	return l, nil
}

func (p *parser) parseAnd() (Expr, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.kw("and") {
		t := p.next()
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = &Logic{At: t.pos, Op: OpAnd, L: l, R: r}
	}
	return l, nil
}

func (p *parser) parseNot() (Expr, error) {
	if p.kw("not") {
		t := p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &Not{At: t.pos, X: x}, nil
	}
	return p.parseCmp()
}

var cmpOps = map[tokKind]Op{tEq: OpEq, tNe: OpNe, tLt: OpLt, tLe: OpLe, tGt: OpGt, tGe: OpGe, tMatch: OpMatch}

func (p *parser) parseCmp() (Expr, error) {
	l, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	t := p.cur()
	if op, ok := cmpOps[t.kind]; ok {
		p.next()
		r, err := p.parseAdd()
		if err != nil {
			return nil, err
		}
		return &Binary{At: t.pos, Op: op, L: l, R: r}, nil
	}
	not := false
	if p.kw("not") && p.peek().kind == tIdent && strings.EqualFold(p.peek().text, "in") {
		p.next()
		not = true
	}
	if p.kw("in") {
		p.next()
		if _, err := p.expect(tLParen); err != nil {
			return nil, err
		}
		in := &In{At: t.pos, X: l, Not: not}
		for {
			e, err := p.parseAdd()
			if err != nil {
				return nil, err
			}
			in.List = append(in.List, e)
			if p.cur().kind != tComma {
				break
			}
			p.next()
		}
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return in, nil
	}
	return l, nil
}

func (p *parser) parseAdd() (Expr, error) {
	l, err := p.parseMul()
	if err != nil {
		return nil, err
	}
	for {
		t := p.cur()
		var op Op
		switch t.kind {
		case tPlus:
			op = OpAdd
		case tMinus:
			op = OpSub
		default:
			return l, nil
		}
		p.next()
		r, err := p.parseMul()
		if err != nil {
			return nil, err
		}
		l = &Binary{At: t.pos, Op: op, L: l, R: r}
	}
}

func (p *parser) parseMul() (Expr, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.cur()
		var op Op
		switch {
		case t.kind == tStar:
			op = OpMul
		case t.kind == tSlash:
			op = OpDiv
		case t.kind == tIdent && strings.EqualFold(t.text, "div"):
			op = OpIntDiv
		case t.kind == tIdent && strings.EqualFold(t.text, "mod"):
			op = OpMod
		default:
			return l, nil
		}
		p.next()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &Binary{At: t.pos, Op: op, L: l, R: r}
	}
}

func (p *parser) parseUnary() (Expr, error) {
	t := p.cur()
	if t.kind != tMinus && t.kind != tPlus {
		return p.parsePrimary()
	}
	p.next()
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	// A negative number is unary minus applied to a literal: fold it, so
	// that -9223372036854775808 and [-1] work.
	if t.kind == tMinus && p.cur().kind == tInt {
		it := p.next()
		if it.text == "9223372036854775808" {
			return &Literal{At: t.pos, Value: int64(math.MinInt64)}, nil
		}
		n, err := strconv.ParseInt(it.text, 10, 64)
		if err != nil {
			return nil, p.errorf(it.pos, "integer %s out of range", it.text)
		}
		return &Literal{At: t.pos, Value: -n}, nil
	}
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	op := OpAdd
	if t.kind == tMinus {
		op = OpSub
		if lit, ok := x.(*Literal); ok {
			if f, ok := lit.Value.(float64); ok {
				return &Literal{At: t.pos, Value: -f}, nil
			}
		}
	}
	return &Unary{At: t.pos, Op: op, X: x}, nil
}

func (p *parser) parsePrimary() (Expr, error) {
	t := p.cur()
	switch t.kind {
	case tInt:
		p.next()
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, p.errorf(t.pos, "integer %s out of range", t.text)
		}
		return &Literal{At: t.pos, Value: n}, nil
	case tFloat:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, p.errorf(t.pos, "float %s out of range", t.text)
		}
		return &Literal{At: t.pos, Value: f}, nil
	case tString:
		p.next()
		return &Literal{At: t.pos, Value: t.text}, nil
	case tQIdent:
		p.next()
		return p.parsePath(t.pos, t.text)
	case tLParen:
		p.next()
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return e, nil
	case tLBrack:
		return p.parseListOrRange()
	case tIdent:
		switch {
		case t.text == "true" || t.text == "false":
			p.next()
			return &Literal{At: t.pos, Value: t.text == "true"}, nil
		case strings.EqualFold(t.text, "case"):
			return p.parseCase()
		case p.peek().kind == tLParen && !isKeyword(t.text):
			return p.parseCall()
		case isKeyword(t.text):
			return nil, p.expected("an expression")
		}
		p.next()
		return p.parsePath(t.pos, t.text)
	}
	return nil, p.expected("an expression")
}

func (p *parser) parseCall() (Expr, error) {
	t := p.next()
	p.next() // (
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	c := &Call{At: t.pos, Name: t.text}
	if p.cur().kind != tRParen {
		for {
			a, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, a)
			if p.cur().kind != tComma {
				break
			}
			p.next()
		}
	}
	if _, err := p.expect(tRParen); err != nil {
		if p.cur().kind != tEOF {
			return nil, p.expected("',' or ')'")
		}
		return nil, err
	}
	if b, ok := LookupBuiltin(c.Name); ok {
		c.Builtin = b
	}
	return c, nil
}

func (p *parser) parseListOrRange() (Expr, error) {
	t := p.next() // [
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if p.cur().kind == tRBrack {
		p.next()
		return &ListLit{At: t.pos}, nil
	}
	first, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if p.cur().kind == tDotDot {
		p.next()
		to, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRBrack); err != nil {
			return nil, err
		}
		return &Range{At: t.pos, From: first, To: to}, nil
	}
	l := &ListLit{At: t.pos, Elems: []Expr{first}}
	for p.cur().kind == tComma {
		p.next()
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		l.Elems = append(l.Elems, e)
	}
	if p.cur().kind != tRBrack {
		return nil, p.expected("',', '..' or ']'")
	}
	p.next()
	return l, nil
}

func (p *parser) parsePath(at Pos, root string) (Expr, error) {
	path := &Path{At: at, Root: root}
	for {
		switch p.cur().kind {
		case tDot:
			p.next()
			keys, err := p.parseKey()
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				path.Steps = append(path.Steps, Step{Key: k})
			}
		case tLBrack:
			lb := p.next()
			if err := p.enter(); err != nil {
				return nil, err
			}
			idx, err := p.parseAdd()
			p.leave()
			if err != nil {
				return nil, err
			}
			if p.cur().kind == tDotDot {
				p.next()
				if err := p.enter(); err != nil {
					return nil, err
				}
				to, err := p.parseAdd()
				p.leave()
				if err != nil {
					return nil, err
				}
				if _, err := p.expect(tRBrack); err != nil {
					return nil, err
				}
				return &Slice{At: lb.pos, X: path, From: idx, To: to}, nil
			}
			if p.cur().kind != tRBrack {
				return nil, p.expected("']' or '..'")
			}
			p.next()
			switch x := idx.(type) {
			case *Literal:
				n, ok := x.Value.(int64)
				if !ok {
					return nil, p.errorf(x.At, "expected an integer index or a path, found %s", KindOf(x.Value))
				}
				path.Steps = append(path.Steps, Step{IsIndex: true, Index: n})
			case *Path:
				path.Steps = append(path.Steps, Step{IsIndex: true, Dyn: x})
			default:
				return nil, p.errorf(idx.Position(), "expected an integer index or a path")
			}
		default:
			return path, nil
		}
	}
}

func (p *parser) parseCase() (Expr, error) {
	t := p.next() // CASE
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	c := &Case{At: t.pos}
	if !p.kw("when") {
		s, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if err := checkValue(s); err != nil {
			return nil, err
		}
		c.Subject = s
		if !p.kw("when") {
			return nil, p.expected("WHEN")
		}
	}
	for p.kw("when") {
		p.next()
		cond, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if c.Subject == nil {
			err = checkCond(cond)
		} else {
			err = checkValue(cond)
		}
		if err != nil {
			return nil, err
		}
		if err := p.expectKw("then"); err != nil {
			return nil, err
		}
		then, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if err := checkValue(then); err != nil {
			return nil, err
		}
		c.Whens = append(c.Whens, When{Cond: cond, Then: then})
	}
	if p.kw("else") {
		p.next()
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if err := checkValue(e); err != nil {
			return nil, err
		}
		c.Else = e
	}
	if err := p.expectKw("end"); err != nil {
		if c.Else == nil {
			return nil, p.expected("WHEN, ELSE or END")
		}
		return nil, err
	}
	return c, nil
}
