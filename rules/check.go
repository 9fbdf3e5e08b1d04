package rules

import (
	"fmt"
	"strconv"
)

// checkValue checks an expression used as a value (a SELECT/DO field, a
// function argument, a CASE branch): AND, OR and NOT belong to conditions.
func checkValue(e Expr) error { return checkNode(e, false, 0) }

// checkCond checks an expression used as a condition (WHERE, WHEN, INCASE):
// a comparison, IN, a function call, NOT, or AND/OR of those.
func checkCond(e Expr) error { return checkNode(e, true, 0) }

func checkNode(e Expr, cond bool, depth int) error {
	if depth > maxDepth {
		return &SyntaxError{Pos: e.Position(), Msg: fmt.Sprintf("expression nested more than %d levels deep", maxDepth)}
	}
	d := depth + 1
	if cond {
		switch x := e.(type) {
		case *Logic:
			if err := checkNode(x.L, true, d); err != nil {
				return err
			}
			return checkNode(x.R, true, d)
		case *Not:
			return checkNode(x.X, true, d)
		case *Binary:
			if !x.Op.IsComparison() {
				break
			}
			return checkNode(x, false, depth)
		case *In, *Call:
			return checkNode(x, false, depth)
		}
		return &SyntaxError{Pos: e.Position(), Msg: "expected a condition (a comparison, IN, a function call, NOT, AND or OR), found " + describeExpr(e)}
	}
	switch x := e.(type) {
	case *Logic:
		return &SyntaxError{Pos: x.At, Msg: fmt.Sprintf("%s is only allowed in WHERE, WHEN and INCASE conditions", describeOp(x.Op))}
	case *Not:
		return &SyntaxError{Pos: x.At, Msg: "NOT is only allowed in WHERE, WHEN and INCASE conditions"}
	case *Literal:
		return nil
	case *Path:
		for _, s := range x.Steps {
			if s.Dyn != nil {
				if err := checkNode(s.Dyn, false, d); err != nil {
					return err
				}
			}
		}
		return nil
	case *Slice:
		for _, c := range []Expr{x.X, x.From, x.To} {
			if err := checkNode(c, false, d); err != nil {
				return err
			}
		}
		return nil
	case *Range:
		if err := checkNode(x.From, false, d); err != nil {
			return err
		}
		return checkNode(x.To, false, d)
	case *ListLit:
		for _, c := range x.Elems {
			if err := checkNode(c, false, d); err != nil {
				return err
			}
		}
		return nil
	case *Call:
		if b := x.Builtin; b != nil {
			n := len(x.Args)
			if n < b.MinArgs || (b.MaxArgs >= 0 && n > b.MaxArgs) {
				return &SyntaxError{Pos: x.At, Msg: fmt.Sprintf("function %s takes %s, got %d", b.Name, arityText(b), n)}
			}
		}
		for _, c := range x.Args {
			if err := checkNode(c, false, d); err != nil {
				return err
			}
		}
		return nil
	case *Unary:
		return checkNode(x.X, false, d)
	case *Binary:
		if err := checkNode(x.L, false, d); err != nil {
			return err
		}
		return checkNode(x.R, false, d)
	case *In:
		if err := checkNode(x.X, false, d); err != nil {
			return err
		}
		for _, c := range x.List {
			if err := checkNode(c, false, d); err != nil {
				return err
			}
		}
		return nil
	case *Case:
		if x.Subject != nil {
			if err := checkNode(x.Subject, false, d); err != nil {
				return err
			}
		}
		for _, w := range x.Whens {
			if err := checkNode(w.Cond, x.Subject == nil, d); err != nil {
				return err
			}
			if err := checkNode(w.Then, false, d); err != nil {
				return err
			}
		}
		if x.Else != nil {
			return checkNode(x.Else, false, d)
		}
		return nil
	}
	return &SyntaxError{Pos: e.Position(), Msg: "unexpected expression"}
}

func arityText(b *Builtin) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return strconv.Itoa(n) + " arguments"
	}
	switch {
	case b.MaxArgs < 0:
		return "at least " + plural(b.MinArgs)
	case b.MinArgs == b.MaxArgs:
		return plural(b.MinArgs)
	}
	return fmt.Sprintf("%d to %d arguments", b.MinArgs, b.MaxArgs)
}

func describeOp(op Op) string {
	switch op {
	case OpAnd:
		return "AND"
	case OpOr:
		return "OR"
	}
	return string(op)
}

func describeExpr(e Expr) string {
	switch x := e.(type) {
	case *Literal:
		return "the constant " + string(EncodeJSON(x.Value))
	case *Path:
		return "the column " + x.Root
	case *Binary:
		return "an arithmetic expression (" + string(x.Op) + ")"
	case *Case:
		return "a CASE expression"
	case *ListLit, *Range:
		return "a list"
	case *Slice:
		return "a slice"
	case *Unary:
		return "an arithmetic expression"
	}
	return "an expression"
}

// derivedKey is the output key of an un-aliased field, as EMQX 4.2 names it.
func derivedKey(e Expr) []Step {
	gen := func(kind, name string) []Step { return []Step{{Key: "_v_" + kind + "_" + name}} }
	switch x := e.(type) {
	case *Path:
		steps := []Step{{Key: x.Root}}
		for _, s := range x.Steps {
			if s.Dyn != nil {
				return gen("path", x.Root)
			}
			steps = append(steps, s)
		}
		return steps
	case *Slice:
		return derivedKey(x.X)
	case *Literal:
		if s, ok := x.Value.(string); ok {
			return []Step{{Key: s}}
		}
		return gen("const", ToText(x.Value))
	case *ListLit:
		return gen("list", strconv.Itoa(len(x.Elems)))
	case *Range:
		return gen("range", "range")
	case *Binary:
		return gen("op", string(x.Op))
	case *Unary:
		return gen("op", string(x.Op))
	case *Case:
		return gen("case", "case")
	case *Call:
		return gen("fun", x.Name)
	}
	return gen("unknown", "unknown")
}

// markWriteBacks decides, for each field of a SELECT, FOREACH or DO list,
// whether its value must be written back into the working input: only when a
// later field of the same list may read it (a path from the same root, *, or
// a function that reads columns). WHERE reads the selected output instead,
// so the common case writes nothing back.
func markWriteBacks(fields []Field) {
	for i := range fields {
		f := &fields[i]
		if f.Star {
			continue
		}
		root := f.Key[0].Key
		for j := i + 1; j < len(fields) && !f.writeBack; j++ {
			g := &fields[j]
			f.writeBack = g.Star || readsColumn(g.Expr, root)
		}
	}
}

// readsColumn reports whether evaluating e may read the column root: a path
// from it, or a call to a function that reads columns (or an unknown one).
func readsColumn(e Expr, root string) bool {
	found := false
	walk(e, func(x Expr) {
		switch n := x.(type) {
		case *Path:
			found = found || n.Root == root
		case *Call:
			found = found || n.Builtin == nil || n.Builtin.readsColumns
		}
	})
	return found
}

// walk calls f on e and every expression under it.
func walk(e Expr, f func(Expr)) {
	if e == nil {
		return
	}
	f(e)
	switch x := e.(type) {
	case *Path:
		for _, s := range x.Steps {
			walk(s.Dyn, f)
		}
	case *Slice:
		walk(x.X, f)
		walk(x.From, f)
		walk(x.To, f)
	case *Range:
		walk(x.From, f)
		walk(x.To, f)
	case *ListLit:
		for _, c := range x.Elems {
			walk(c, f)
		}
	case *Call:
		for _, c := range x.Args {
			walk(c, f)
		}
	case *Unary:
		walk(x.X, f)
	case *Binary:
		walk(x.L, f)
		walk(x.R, f)
	case *In:
		walk(x.X, f)
		for _, c := range x.List {
			walk(c, f)
		}
	case *Logic:
		walk(x.L, f)
		walk(x.R, f)
	case *Not:
		walk(x.X, f)
	case *Case:
		walk(x.Subject, f)
		for _, w := range x.Whens {
			walk(w.Cond, f)
			walk(w.Then, f)
		}
		walk(x.Else, f)
	}
}
