package engine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Sources of a rule.
const (
	SourceAPI    = "api"    // created through the REST API, persisted in the Store
	SourceConfig = "config" // from the config file, read-only through the API
)

// Values of on_action_failed.
const (
	OnFailedContinue = "continue" // run the next action (default)
	OnFailedStop     = "stop"     // skip the rule's remaining actions for this message
)

// RuleSpec is a rule in the JSON shape of DESIGN.md ("Rules and actions as
// JSON"), as stored and as the REST API and the config file give it.
type RuleSpec struct {
	ID             string       `json:"id"`               // "rule:<hex>" when not given
	RawSQL         string       `json:"rawsql"`           // the rule SQL
	Enabled        bool         `json:"enabled"`          // default true
	Description    string       `json:"description"`      // free text
	OnActionFailed string       `json:"on_action_failed"` // OnFailedContinue (default) or OnFailedStop
	Actions        []ActionSpec `json:"actions"`          // run in order on each output
	// Source is SourceAPI or SourceConfig.
	Source string `json:"source"`
	// CreatedAt is when the rule was created (Unix ms).
	CreatedAt int64 `json:"created_at"`
}

// ActionSpec is one action instance of a rule: its type name, params and
// fallbacks (actions run when this one fails). Mode and Batch are kept for
// the async actions of the outbox (a sync action ignores them).
type ActionSpec struct {
	Name      string         `json:"name"`            // the action type (or an alias)
	Params    map[string]any `json:"params"`          // the type's params
	Fallbacks []ActionSpec   `json:"fallbacks"`       // run when this action fails
	Mode      string         `json:"mode,omitempty"`  // "sync" or "async"; the type's default when empty
	Batch     map[string]any `json:"batch,omitempty"` // batching options (async actions)
}

// RuleRequest is the body of a create (all fields) or update (only the
// fields given) request; it is also how config rules are read. Enabled is a
// pointer so that an update can leave it out (a create defaults it to true).
type RuleRequest struct {
	ID             string        `json:"id,omitempty"`               // create only
	RawSQL         *string       `json:"rawsql,omitempty"`           // required on create
	Enabled        *bool         `json:"enabled,omitempty"`          // default true on create
	Description    *string       `json:"description,omitempty"`      // free text
	OnActionFailed *string       `json:"on_action_failed,omitempty"` // continue (default) or stop
	Actions        *[]ActionSpec `json:"actions,omitempty"`          // replaces the whole list
}

// SpecError is an invalid rule or action definition (the API answers 400).
type SpecError struct {
	Field string // the JSON path of the bad field: "actions[0].params.target_qos"
	Msg   string // what is wrong
}

// Error implements error.
func (e *SpecError) Error() string { return e.Field + ": " + e.Msg }

func specErr(field, format string, args ...any) error {
	return &SpecError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Errors of the lifecycle operations.
var (
	ErrNotFound = errors.New("rule not found")
	ErrExists   = errors.New("rule already exists")
	ErrReadOnly = errors.New("rule comes from the config file and is read-only through the API")
	ErrClosed   = errors.New("rule engine closed")
)

// newRuleID returns "rule:<hex>", EMQX's form of a generated rule id.
func newRuleID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "rule:" + hex.EncodeToString(b[:])
}

// apply applies a request to a spec (create: spec is zero; update: the current spec).
func (q *RuleRequest) apply(s *RuleSpec, create bool) {
	if create {
		s.ID = q.ID
		s.Enabled = true
		s.OnActionFailed = OnFailedContinue
	}
	if q.RawSQL != nil {
		s.RawSQL = *q.RawSQL
	}
	if q.Enabled != nil {
		s.Enabled = *q.Enabled
	}
	if q.Description != nil {
		s.Description = *q.Description
	}
	if q.OnActionFailed != nil {
		s.OnActionFailed = *q.OnActionFailed
	}
	if q.Actions != nil {
		s.Actions = cloneActions(*q.Actions)
	}
	if s.OnActionFailed == "" {
		s.OnActionFailed = OnFailedContinue
	}
}

// ParseRuleRequest reads a rule given as a generic map (a config file entry).
func ParseRuleRequest(m map[string]any) (*RuleRequest, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var q RuleRequest
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, err
	}
	return &q, nil
}

func cloneActions(in []ActionSpec) []ActionSpec {
	if in == nil {
		return nil
	}
	b, _ := json.Marshal(in)
	var out []ActionSpec
	_ = json.Unmarshal(b, &out)
	return out
}
