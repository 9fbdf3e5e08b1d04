// Package engine runs rules inside the broker: the rule set with its topic
// index, the rule lifecycle (create, update, delete, enable, disable,
// persisted through a Store), the input columns of messages and events
// (spec/rule-sql.md §6), exact per-rule and per-action metrics, and the
// action runtime with its registry (republish, inspect, do_nothing built in).
//
// The engine knows nothing of the broker or the REST API: the daemon's wiring
// feeds it Messages and Events (appliance/rulesapi adapts the broker's
// interceptor and listener) and gives it a Publisher for republish. Every
// message loads one immutable snapshot of the rule set, so a rule replaced
// under load is seen either entirely old or entirely new.
//
// Rules are evaluated through the Program interface; the reference evaluator
// (*rules.Rule) is the default, and Options.Compile slots in the compiled
// (Wasm) path when it exists.
package engine
