// Package rules implements wedge's rule language: EMQX 4.2's rule SQL.
//
// It owns the lexer, the parser, the checked AST, the built-in functions and
// the reference evaluator. The language is specified in the project's
// spec/rule-sql.md; rules/README.md lists every decision taken where the spec
// leaves a choice open.
//
// The entry points are small:
//
//	r, err := rules.Parse(sql)          // *SyntaxError on bad SQL
//	if r.Triggered(cols) {              // FROM: topic filters and $events topics
//		out, err := r.Eval(cols)        // nil Output: WHERE was false
//		body := out.JSON()              // object, array for FOREACH, or null
//	}
//
// Values follow EMQX's model (see Value): undefined (Go nil) is distinct from
// JSON null (Null), and integers (int64) stay distinct from floats (float64)
// through evaluation and JSON output. Built-in functions are plain Go
// functions registered by name (see LookupBuiltin and Builtins) so that the
// Wasm compiler can import the same code as host functions.
//
// Evaluation never panics on any input: wrong types raise an *EvalError, and
// the parser caps nesting depth so that no rule can recurse without bound.
package rules
