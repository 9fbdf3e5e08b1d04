package rulesapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/rules"
	"github.com/wedge-iot/wedge/rules/engine"
)

// Register adds the rule endpoints to the API server.
func Register(s *api.Server, e *engine.Engine) {
	h := &handlers{e: e}
	s.Register(
		api.Route{Method: http.MethodGet, Path: "/rules", Tag: "rules", Name: "listRules",
			Summary: "Every rule with its metrics", Response: []engine.RuleInfo{}, Handler: h.list},
		api.Route{Method: http.MethodPost, Path: "/rules", Tag: "rules", Name: "createRule",
			Summary:     "Create a rule, or with ?test=true run EMQX's dry run",
			Description: `With test=true the body is {"rawsql": …, "ctx": {…}}: ctx is merged over the example values of the first FROM entry's event; 404 "SQL Not Match" when FROM or WHERE does not match.`,
			Query:       []api.Param{{Name: "test", Type: "boolean", Description: "dry run: evaluate rawsql on ctx, create nothing"}},
			Request:     createBody{}, Response: engine.RuleInfo{}, Status: http.StatusCreated, Handler: h.create},
		api.Route{Method: http.MethodGet, Path: "/rules/:id", Tag: "rules", Name: "getRule",
			Summary: "One rule with its metrics", Response: engine.RuleInfo{}, Handler: h.get},
		api.Route{Method: http.MethodPut, Path: "/rules/:id", Tag: "rules", Name: "updateRule",
			Summary: `Update the fields given (enable or disable with {"enabled": false})`,
			Request: engine.RuleRequest{}, Response: engine.RuleInfo{}, Handler: h.update},
		api.Route{Method: http.MethodDelete, Path: "/rules/:id", Tag: "rules", Name: "deleteRule",
			Summary: "Delete a rule", Handler: h.delete},
		api.Route{Method: http.MethodPost, Path: "/rule_test", Tag: "rules", Name: "ruleTest",
			Summary:     "Evaluate SQL on a context exactly as given (spec/rule-sql.md §14)",
			Description: `Body {"sql": …, "context": {…}} ("rawsql" and "ctx" are accepted too). data is the output object, an array for FOREACH, or null.`,
			Request:     ruleTestBody{}, Response: json.RawMessage{}, Handler: h.ruleTest},
		api.Route{Method: http.MethodGet, Path: "/rule_events", Tag: "rules", Name: "ruleEvents",
			Summary: "The events rules can be triggered by, with their columns and example values", Response: []engine.EventInfo{}, Handler: h.events},
		api.Route{Method: http.MethodGet, Path: "/actions", Tag: "rules", Name: "listActions",
			Summary: "The action types with their params", Response: []ActionTypeInfo{}, Handler: h.actions},
		api.Route{Method: http.MethodGet, Path: "/actions/:name", Tag: "rules", Name: "getAction",
			Summary: "One action type", Response: ActionTypeInfo{}, Handler: h.action},
	)
}

type handlers struct{ e *engine.Engine }

// createBody is POST /rules' body: a rule, or with ?test=true rawsql and ctx.
type createBody struct {
	engine.RuleRequest
	Ctx json.RawMessage `json:"ctx,omitempty"`
}

type ruleTestBody struct {
	SQL     string          `json:"sql"`
	RawSQL  string          `json:"rawsql,omitempty"`
	Context json.RawMessage `json:"context"`
	Ctx     json.RawMessage `json:"ctx,omitempty"`
}

// ActionTypeInfo is an action type in GET /api/v4/actions (EMQX 4's shape).
type ActionTypeInfo struct {
	Name        string                  `json:"name"`
	Aliases     []string                `json:"aliases"`
	For         []string                `json:"for"`
	App         string                  `json:"app"`
	Types       []string                `json:"types"`
	Title       map[string]string       `json:"title"`
	Description map[string]string       `json:"description"`
	Mode        string                  `json:"mode"`
	Params      map[string]engine.Param `json:"params"`
}

// toAPIError maps engine errors to API errors.
func toAPIError(err error) error {
	var se *rules.SyntaxError
	var spe *engine.SpecError
	var ee *rules.EvalError
	switch {
	case errors.As(err, &se):
		return api.BadRequest("%s", se.Error())
	case errors.As(err, &spe):
		return api.BadRequest("%s", spe.Error())
	case errors.As(err, &ee):
		return api.BadRequest("%s", ee.Error())
	case errors.Is(err, engine.ErrNotFound):
		return api.NotFound("%s", err.Error())
	case errors.Is(err, engine.ErrNoMatch):
		return api.NotFound("%s", err.Error())
	case errors.Is(err, engine.ErrExists):
		return api.Errorf(http.StatusConflict, api.CodeConflict, "%s", err.Error())
	case errors.Is(err, engine.ErrReadOnly):
		return api.Errorf(http.StatusForbidden, http.StatusForbidden, "%s", err.Error())
	case errors.Is(err, engine.ErrClosed):
		return api.Errorf(http.StatusServiceUnavailable, api.CodeServiceUnavailable, "%s", err.Error())
	}
	return api.Internal("rules", err)
}

func (h *handlers) list(c echo.Context) error { return api.OK(c, h.e.List()) }

func (h *handlers) get(c echo.Context) error {
	r, ok := h.e.Get(api.PathParam(c, "id"))
	if !ok {
		return api.NotFound("rule not found: %s", api.PathParam(c, "id"))
	}
	return api.OK(c, r)
}

func (h *handlers) create(c echo.Context) error {
	var b createBody
	if err := api.Bind(c, &b); err != nil {
		return err
	}
	if b.RawSQL == nil || *b.RawSQL == "" {
		return api.Errorf(http.StatusBadRequest, api.CodeMissingParam, "rawsql is required")
	}
	if c.QueryParam("test") == "true" {
		ctx := map[string]rules.Value{}
		if len(b.Ctx) > 0 && string(b.Ctx) != "null" {
			cols, err := rules.DecodeColumns(string(b.Ctx))
			if err != nil {
				return api.BadRequest("ctx: %v", err)
			}
			ctx = cols
		}
		out, err := engine.DryRun(*b.RawSQL, ctx)
		if err != nil {
			return toAPIError(err)
		}
		return api.OK(c, json.RawMessage(rules.EncodeJSON(out)))
	}
	r, err := h.e.Create(&b.RuleRequest)
	if err != nil {
		return toAPIError(err)
	}
	return api.Created(c, r)
}

func (h *handlers) update(c echo.Context) error {
	var q engine.RuleRequest
	if err := api.Bind(c, &q); err != nil {
		return err
	}
	r, err := h.e.Update(api.PathParam(c, "id"), &q)
	if err != nil {
		return toAPIError(err)
	}
	return api.OK(c, r)
}

func (h *handlers) delete(c echo.Context) error {
	if err := h.e.Delete(api.PathParam(c, "id")); err != nil {
		return toAPIError(err)
	}
	return api.Done(c)
}

func (h *handlers) ruleTest(c echo.Context) error {
	var b ruleTestBody
	if err := api.Bind(c, &b); err != nil {
		return err
	}
	sql := b.SQL
	if sql == "" {
		sql = b.RawSQL
	}
	if sql == "" {
		return api.Errorf(http.StatusBadRequest, api.CodeMissingParam, "sql is required")
	}
	ctx := b.Context
	if len(ctx) == 0 {
		ctx = b.Ctx
	}
	if len(ctx) == 0 {
		ctx = json.RawMessage("{}")
	}
	out, err := rules.Test(sql, string(ctx))
	if err != nil {
		var se *rules.SyntaxError
		var ee *rules.EvalError
		if errors.As(err, &se) || errors.As(err, &ee) {
			return toAPIError(err)
		}
		return api.BadRequest("%v", err) // a context that is not a JSON object
	}
	return api.OK(c, json.RawMessage(out))
}

func (h *handlers) events(c echo.Context) error { return api.OK(c, engine.Events()) }

func typeInfo(t *engine.ActionType) ActionTypeInfo {
	aliases := append([]string{}, t.Aliases...)
	sort.Strings(aliases)
	return ActionTypeInfo{Name: t.Name, Aliases: aliases, For: t.For, App: "wedge", Types: []string{},
		Title: map[string]string{"en": t.Title}, Description: map[string]string{"en": t.Description},
		Mode: t.Mode, Params: t.Params}
}

func (h *handlers) actions(c echo.Context) error {
	ts := h.e.Registry().Types()
	out := make([]ActionTypeInfo, len(ts))
	for i, t := range ts {
		out[i] = typeInfo(t)
	}
	return api.OK(c, out)
}

func (h *handlers) action(c echo.Context) error {
	t, ok := h.e.Registry().Lookup(api.PathParam(c, "name"))
	if !ok {
		return api.NotFound("action type not found: %s", api.PathParam(c, "name"))
	}
	return api.OK(c, typeInfo(t))
}
