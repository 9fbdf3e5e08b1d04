// Package rulesapi connects the rule engine (rules/engine) to the daemon: it
// feeds the broker's publishes and events to the engine (Attach), publishes
// the engine's republished messages (NewPublisher), and serves the EMQX 4
// rule endpoints under /api/v4: /rules (with ?test=true, EMQX's dry run),
// /rules/:id, /rule_test (spec/rule-sql.md §14), /rule_events and /actions.
package rulesapi
