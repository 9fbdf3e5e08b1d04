package engine

import "github.com/wedge-iot/wedge/rules"

// Program evaluates one rule's SQL on a message's or event's columns. It
// returns a nil Output when nothing is produced (WHERE false) and a
// *rules.EvalError when evaluation fails. It must be safe for concurrent use.
// *rules.Rule (the reference evaluator) satisfies it; the Wasm compiler's
// modules will too.
type Program interface {
	Eval(rules.Columns) (*rules.Output, error)
}

// Compiler turns a parsed rule into a Program (Options.Compile). The
// reference evaluator's compiler, Evaluator, returns the rule itself or, for
// SELECT *, an equivalent that does not copy the columns.
type Compiler func(r *rules.Rule) (Program, error)

// Evaluator is the Compiler of the reference evaluator. It returns the rule
// itself, except for a plain SELECT * rule (one * field, no FOREACH), whose
// Program gives the same results more cheaply (see ShareSelectStar).
func Evaluator(r *rules.Rule) (Program, error) {
	return shareSelectStarEval(r)
}

var shareSelectStarEval = ShareSelectStar(func(r *rules.Rule) (Program, error) { return r, nil })

// ShareSelectStar wraps a Compiler (the evaluator's, or the Wasm host's) so
// that a plain SELECT * rule compiles to its WHERE alone: the Program's
// output is then the input columns themselves, shared rather than copied,
// when the WHERE holds (WHERE sees the same values either way, as the output
// of SELECT * is the input). Every other rule goes to c unchanged.
func ShareSelectStar(c Compiler) Compiler {
	return func(r *rules.Rule) (Program, error) {
		if !isSelectStar(r) {
			return c(r)
		}
		if r.Where == nil {
			return &selectStar{}, nil
		}
		w, err := c(&rules.Rule{SQL: r.SQL, From: r.From, Where: r.Where})
		if err != nil {
			return nil, err
		}
		return &selectStar{where: w}, nil
	}
}

// isSelectStar reports whether r is SELECT * [WHERE ...].
func isSelectStar(r *rules.Rule) bool {
	return !r.Foreach && len(r.Fields) == 1 && r.Fields[0].Star
}

// selectStar is the Program of a SELECT * rule: where is the rule without
// its fields (nil without a WHERE), so evaluating it tests the WHERE
// condition on the input.
type selectStar struct {
	where Program
}

// Eval implements Program. The output shares the input map: the engine
// hands both to actions read-only (see Env).
func (p *selectStar) Eval(in rules.Columns) (*rules.Output, error) {
	if p.where != nil {
		out, err := p.where.Eval(in)
		if err != nil || out == nil {
			return nil, err
		}
		out.Object = in // a new Output, ours: reuse it
		return out, nil
	}
	return &rules.Output{Object: in}, nil
}

// matcher is implemented by Programs that can test their WHERE without
// building an output (*rules.CompiledRule).
type matcher interface {
	Match(rules.Columns) (bool, error)
}

// match reports whether the rule's WHERE holds on in (Eval's output would
// be in itself), building no output when where is a matcher.
func (p *selectStar) match(in rules.Columns) (bool, error) {
	if p.where == nil {
		return true, nil
	}
	if m, ok := p.where.(matcher); ok {
		return m.Match(in)
	}
	out, err := p.where.Eval(in)
	return out != nil, err
}

// sharesInput reports whether a Program's output may be its input map (the
// engine then gives the next rule of the same message its own copy of the
// columns, as it writes metadata.rule_id into them).
func sharesInput(p Program) bool {
	_, ok := p.(*selectStar)
	return ok
}

var _ Program = (*rules.Rule)(nil)
