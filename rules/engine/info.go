package engine

// RuleInfo is a rule in EMQX 4's REST reply shape (spec §11), plus wedge's
// source and created_at.
type RuleInfo struct {
	ID             string       `json:"id"`
	For            []string     `json:"for"`
	RawSQL         string       `json:"rawsql"`
	Actions        []ActionInfo `json:"actions"`
	OnActionFailed string       `json:"on_action_failed"`
	Metrics        []RuleCounts `json:"metrics"`
	Enabled        bool         `json:"enabled"`
	Description    string       `json:"description"`
	Source         string       `json:"source"`
	CreatedAt      int64        `json:"created_at"`
}

// ActionInfo is an action instance in the REST reply shape. Secret params
// (password, secret, keys) show as "******".
type ActionInfo struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Params    map[string]any `json:"params"`
	Mode      string         `json:"mode"`
	Metrics   []ActionCounts `json:"metrics"`
	Fallbacks []ActionInfo   `json:"fallbacks"`
}

func (e *Engine) info(r *rule) RuleInfo {
	rc := r.metrics.Counts()
	rc.Node = e.opts.Node
	from := r.parsed.From
	if from == nil {
		from = []string{}
	}
	return RuleInfo{
		ID: r.spec.ID, For: append([]string(nil), from...), RawSQL: r.spec.RawSQL,
		Actions: e.actionInfos(r.actions), OnActionFailed: r.spec.OnActionFailed,
		Metrics: []RuleCounts{rc}, Enabled: r.spec.Enabled, Description: r.spec.Description,
		Source: r.spec.Source, CreatedAt: r.spec.CreatedAt,
	}
}

func (e *Engine) actionInfos(as []*actionInst) []ActionInfo {
	out := make([]ActionInfo, 0, len(as))
	for _, a := range as {
		ac := a.metrics.Counts()
		ac.Node = e.opts.Node
		mode := a.spec.Mode
		if mode == "" {
			mode = a.typ.Mode
		}
		out = append(out, ActionInfo{ID: a.id, Name: a.typ.Name, Params: MaskSecrets(a.spec.Params), Mode: mode,
			Metrics: []ActionCounts{ac}, Fallbacks: e.actionInfos(a.fallbacks)})
	}
	return out
}

var secretKeys = map[string]bool{"password": true, "secret": true, "key": true, "keyfile": true, "sasl": true, "token": true}

// MaskSecrets copies params (an action's, or a resource's config) with the
// write-only values (password, secret, key, keyfile, sasl, token), at any
// depth of nested objects, shown as "******".
func MaskSecrets(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if secretKeys[k] && v != nil && v != "" {
			out[k] = "******"
			continue
		}
		if m, ok := v.(map[string]any); ok {
			v = MaskSecrets(m)
		}
		out[k] = v
	}
	return out
}
