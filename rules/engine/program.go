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
// Program gives the same results more cheaply: its output is the input
// columns themselves, shared rather than copied, when its WHERE holds (WHERE
// sees the same values either way, as the output of SELECT * is the input).
func Evaluator(r *rules.Rule) (Program, error) {
	if isSelectStar(r) {
		return &selectStar{where: &rules.Rule{SQL: r.SQL, From: r.From, Where: r.Where}}, nil
	}
	return r, nil
}

// isSelectStar reports whether r is SELECT * [WHERE ...].
func isSelectStar(r *rules.Rule) bool {
	return !r.Foreach && len(r.Fields) == 1 && r.Fields[0].Star
}

// selectStar is the Program of a SELECT * rule: where is the rule without
// its fields, so evaluating it tests the WHERE condition on the input.
type selectStar struct {
	where *rules.Rule
}

// Eval implements Program. The output shares the input map: the engine
// hands both to actions read-only (see Env).
func (p *selectStar) Eval(in rules.Columns) (*rules.Output, error) {
	if p.where.Where != nil {
		out, err := p.where.Eval(in)
		if err != nil || out == nil {
			return nil, err
		}
		out.Object = in // a new Output, ours: reuse it
		return out, nil
	}
	return &rules.Output{Object: in}, nil
}

// sharesInput reports whether a Program's output may be its input map (the
// engine then gives the next rule of the same message its own copy of the
// columns, as it writes metadata.rule_id into them).
func sharesInput(p Program) bool {
	_, ok := p.(*selectStar)
	return ok
}

var _ Program = (*rules.Rule)(nil)
