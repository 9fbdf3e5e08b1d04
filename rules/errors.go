package rules

import "fmt"

// Pos is a position in the SQL text: 1-based line and column (in characters).
type Pos struct {
	Line, Col int // 1-based
}

// String renders the position as line:col.
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// SyntaxError reports invalid SQL: where, and what was expected.
type SyntaxError struct {
	Pos Pos    // where the problem is
	Msg string // what was expected and what was found
}

// Error implements error.
func (e *SyntaxError) Error() string { return fmt.Sprintf("sql syntax error at %s: %s", e.Pos, e.Msg) }

// EvalError is an evaluation error: the rule's exception case (a wrong type,
// a non-numeric string compared with a number, an unknown function, ...).
type EvalError struct {
	Msg string // the reason
}

// Error implements error.
func (e *EvalError) Error() string { return "rule evaluation failed: " + e.Msg }

func evalErr(format string, args ...any) error {
	return &EvalError{Msg: fmt.Sprintf(format, args...)}
}
