package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wedge-iot/wedge/rules"
)

func republishType() ActionType {
	return ActionType{
		Name: "republish", Title: "Republish", For: []string{"$any"},
		Description: "Republishes the rule's output as an MQTT message",
		Params: map[string]Param{
			"target_topic":  {Type: "string", Required: true, Description: "topic to publish to; ${path} placeholders read the rule's output; no wildcards"},
			"target_qos":    {Type: "number", Default: -1, Enum: []any{-1, 0, 1, 2}, Description: "QoS of the message; -1 keeps the original message's QoS"},
			"target_retain": {Type: "boolean", Default: false, Description: "publish as a retained message"},
			"payload_tmpl":  {Type: "string", Default: "", Description: "payload template with ${path} placeholders; empty sends the whole output as JSON"},
		},
		Mode: "sync",
		New:  newRepublish,
	}
}

type republish struct {
	pub    Publisher
	topic  *Template
	qos    int // -1 keeps the original
	retain bool
	tmpl   *Template // nil: the output as JSON
}

func newRepublish(p map[string]any, d Deps) (Action, error) {
	a := &republish{pub: d.Publisher, qos: -1}
	t, _ := p["target_topic"].(string)
	if t == "" {
		return nil, specErr("params.target_topic", "must be a non-empty string")
	}
	if strings.ContainsAny(t, "+#") {
		return nil, specErr("params.target_topic", "wildcards are not allowed in %q", t)
	}
	a.topic = ParseTemplate(t)
	if v, ok := p["target_qos"]; ok && v != nil {
		q, err := intParam(v)
		if err != nil || q < -1 || q > 2 {
			return nil, specErr("params.target_qos", "must be -1, 0, 1 or 2")
		}
		a.qos = q
	}
	if v, ok := p["target_retain"]; ok && v != nil {
		switch x := v.(type) {
		case bool:
			a.retain = x
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, specErr("params.target_retain", "must be a boolean")
			}
			a.retain = b
		default:
			return nil, specErr("params.target_retain", "must be a boolean")
		}
	}
	if v, ok := p["payload_tmpl"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, specErr("params.payload_tmpl", "must be a string")
		}
		if s != "" {
			a.tmpl = ParseTemplate(s)
		}
	}
	if a.pub == nil {
		return nil, errors.New("republish: no publisher configured")
	}
	return a, nil
}

func intParam(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != float64(int(x)) {
			return 0, errors.New("not an integer")
		}
		return int(x), nil
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case string:
		return strconv.Atoi(x)
	}
	return 0, fmt.Errorf("not a number: %T", v)
}

// ErrLoop is returned by republish when a message would be published to the
// topic it came from by the same action (EMQX's loop guard).
var ErrLoop = errors.New("republish: recursive republish detected")

func (a *republish) Run(_ context.Context, env *Env) error {
	topic := a.topic.Render(env.Selected)
	if topic == "" || strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("republish: invalid target topic %q", topic)
	}
	if cid, _ := env.Columns["clientid"].(string); cid == env.PublishClientID() || cid == env.ActionID {
		if t, _ := env.Columns["topic"].(string); t == topic {
			return ErrLoop
		}
	}
	qos := a.qos
	if qos < 0 {
		q, _ := env.Columns["qos"].(int64)
		qos = int(q)
	}
	var payload []byte
	if a.tmpl == nil {
		payload = env.outputJSON()
	} else {
		payload = []byte(a.tmpl.Render(env.Selected))
	}
	return a.pub.Publish(Publish{Topic: topic, Payload: payload, QoS: byte(qos), Retain: a.retain, ClientID: env.PublishClientID()})
}

// Template is a text with ${path} placeholders read from a rule's output
// (spec §8): a dotted path descends into maps and into strings holding JSON;
// values render as str() does (strings as they are, numbers as §5, maps and
// arrays as JSON, undefined as "undefined"). "${" without "}" is literal.
type Template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit  string
	path []string // nil: literal
}

// ParseTemplate parses a template.
func ParseTemplate(s string) *Template {
	t := &Template{}
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: s[:i]})
		}
		t.parts = append(t.parts, tmplPart{path: strings.Split(strings.TrimSpace(s[i+2:i+2+j]), ".")})
		s = s[i+2+j+1:]
	}
	if s != "" {
		t.parts = append(t.parts, tmplPart{lit: s})
	}
	return t
}

// Render renders the template against a rule's output.
func (t *Template) Render(sel map[string]rules.Value) string {
	if len(t.parts) == 1 && t.parts[0].path == nil {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == nil {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(rules.ToText(lookup(sel, p.path)))
	}
	return b.String()
}

// lookup reads a dotted path, decoding strings that hold JSON on the way.
func lookup(m map[string]rules.Value, path []string) rules.Value {
	var v rules.Value = m
	for _, k := range path {
		if s, ok := v.(string); ok {
			d, err := rules.DecodeJSON(s)
			if err != nil {
				return nil
			}
			v = d
		}
		switch x := v.(type) {
		case map[string]rules.Value:
			v = x[k]
		case []rules.Value:
			i, err := strconv.Atoi(k)
			if err != nil || i < 1 || i > len(x) {
				return nil
			}
			v = x[i-1]
		default:
			return nil
		}
	}
	return v
}
