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
// reference evaluator's compiler returns the rule itself.
type Compiler func(r *rules.Rule) (Program, error)

// Evaluator is the Compiler of the reference evaluator.
func Evaluator(r *rules.Rule) (Program, error) { return r, nil }

var _ Program = (*rules.Rule)(nil)
