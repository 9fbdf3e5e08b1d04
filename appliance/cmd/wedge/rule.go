package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/wedge-iot/wedge/rules"
)

const ruleUsage = `usage: wedge rule test --sql SQL --context JSON [--engine wasm|eval]

The default engine is wasm where wazero has a compiler (amd64, arm64) and
eval elsewhere (armv7).

Runs a rule's SQL on a context (the input columns, exactly as given) and
prints the output as one JSON document: an object, an array for FOREACH,
or null when FROM does not match or WHERE is false.
`

// runRuleCmd implements `wedge rule ...` (spec/rule-sql.md §14). It opens no
// data directory, so it works while a daemon runs. It returns the exit
// status: 0 on success (including a null output), 1 for invalid SQL, an
// invalid context or an evaluation error, 2 for a usage error.
func runRuleCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, ruleUsage)
			return 0
		}
		fmt.Fprint(stderr, ruleUsage)
		return 2
	}
	fs := flag.NewFlagSet("wedge rule test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), ruleUsage)
		fs.PrintDefaults()
	}
	sql := fs.String("sql", "", "the rule's SQL (required)")
	context := fs.String("context", "{}", "the input columns as a JSON object")
	engine := fs.String("engine", string(rules.DefaultEngine()), "eval (the reference evaluator) or wasm (the compiled path)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge rule test: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *sql == "" {
		fmt.Fprintln(stderr, "wedge rule test: --sql is required")
		return 2
	}
	eng, err := rules.ParseEngine(*engine)
	if err != nil {
		fmt.Fprintf(stderr, "wedge rule test: %v\n", err)
		return 2
	}
	out, err := rules.TestEngine(eng, *sql, *context)
	if err != nil {
		fmt.Fprintf(stderr, "wedge rule test: %v\n", err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		fmt.Fprintf(stderr, "wedge rule test: %v\n", err)
		return 1
	}
	return 0
}
