package rules

import "fmt"

// Rule is a parsed and checked rule SQL statement.
type Rule struct {
	// SQL is the text the rule was parsed from.
	SQL string
	// Foreach is true for FOREACH ... [DO ...] [INCASE ...] rules.
	Foreach bool
	// Fields are the SELECT or FOREACH fields, in order.
	Fields []Field
	// Do holds the DO fields of a FOREACH rule (nil without DO).
	Do []Field
	// Incase is the INCASE condition of a FOREACH rule (nil without INCASE).
	Incase Expr
	// From lists the FROM entries: MQTT topic filters and $events/ topics.
	From []string
	// Where is the WHERE condition (nil without WHERE).
	Where Expr
}

// Parse parses and checks a rule. Invalid SQL gives a *SyntaxError naming
// the position and what was expected.
func Parse(sql string) (*Rule, error) {
	toks, err := lex(sql)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	r, err := p.parseRule()
	if err != nil {
		return nil, err
	}
	markWriteBacks(r.Fields)
	markWriteBacks(r.Do)
	r.SQL = sql
	return r, nil
}

// Output is what a rule produced for one input.
type Output struct {
	// Foreach is true when the rule is a FOREACH rule: Items holds the
	// outputs (possibly none). Otherwise Object holds the selected map.
	Foreach bool
	Object  map[string]Value   // the SELECT output
	Items   []map[string]Value // the FOREACH outputs, in order
}

// Value returns the output as one Value: the object, or an array of
// objects for FOREACH, or undefined (nil) for a nil Output.
func (o *Output) Value() Value {
	if o == nil {
		return nil
	}
	if !o.Foreach {
		return o.Object
	}
	l := make([]Value, len(o.Items))
	for i, m := range o.Items {
		l[i] = m
	}
	return l
}

// JSON encodes the output as spec §14 prints it: the object, an array for
// FOREACH, or null for a nil Output.
func (o *Output) JSON() []byte { return EncodeJSON(o.Value()) }

// Triggered reports whether the input fires the rule's FROM clause: a
// publish (no event column, or "message.publish") whose topic column
// matches one of the topic filters, or an event whose event column names
// one of the $events/ topics ("client.connected" for
// "$events/client_connected").
func (r *Rule) Triggered(in Columns) bool {
	ev, has := in["event"]
	if !has || ev == EventPublish {
		topic, ok := in["topic"].(string)
		return ok && r.MatchesTopic(topic)
	}
	name, ok := ev.(string)
	return ok && r.MatchesEvent(name)
}

// MatchesTopic reports whether a published topic matches one of the rule's
// FROM topic filters.
func (r *Rule) MatchesTopic(topic string) bool {
	for _, f := range r.From {
		if !IsEventTopic(f) && MatchTopic(topic, f) {
			return true
		}
	}
	return false
}

// MatchesEvent reports whether the rule's FROM lists the event, given as
// the event column's value ("client.connected") or as its topic
// ("$events/client_connected").
func (r *Rule) MatchesEvent(event string) bool {
	for _, f := range r.From {
		if f == event || eventTopics[f] == event {
			return true
		}
	}
	return false
}

// Eval evaluates the rule on the input columns (it does not check FROM; see
// Triggered). It returns a nil Output when WHERE is false, and an
// *EvalError when evaluation fails. The columns are not modified. Eval is
// safe for concurrent use: a Rule is never modified after Parse.
func (r *Rule) Eval(in Columns) (out *Output, err error) {
	// The last line of defence: evaluation is written not to panic (the
	// fuzz target calls eval directly, without this).
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, evalErr("internal error: %v", p)
		}
	}()
	return r.eval(in)
}

func (r *Rule) eval(in Columns) (*Output, error) {
	e := newEnv(in)
	res := make(map[string]Value, len(r.Fields))
	if !r.Foreach {
		if err := e.selectInto(r.Fields, res); err != nil {
			return nil, err
		}
		if r.Where != nil {
			e.over = res
			ok, err := e.test(r.Where)
			if err != nil || !ok {
				return nil, err
			}
		}
		return &Output{Object: res}, nil
	}
	return r.evalForeach(e, res)
}

func (r *Rule) evalForeach(e *env, res map[string]Value) (*Output, error) {
	collKey := []Step{{Key: "item"}}
	var coll []Value
	n := len(r.Fields)
	if err := e.selectInto(r.Fields[:n-1], res); err != nil {
		return nil, err
	}
	last := &r.Fields[n-1]
	if last.Star {
		if err := e.selectInto(r.Fields[n-1:], res); err != nil {
			return nil, err
		}
	} else {
		v, err := last.Expr.eval(e)
		if err != nil {
			return nil, err
		}
		if last.Alias != nil {
			collKey = last.Alias
		}
		if l, ok := v.([]Value); ok {
			coll = l
		}
		if v != nil {
			if err := putPath(res, last.Key, v, nil, e); err != nil {
				return nil, err
			}
		}
	}
	if r.Where != nil {
		e.over = res
		ok, err := e.test(r.Where)
		if err != nil || !ok {
			return nil, err
		}
	}
	out := &Output{Foreach: true, Items: make([]map[string]Value, 0, len(coll))}
	// [4.2] DO and INCASE see the original input plus the element only. A
	// simple element name is bound without a map (the common case); an
	// alias path is written into the working input.
	simple := len(collKey) == 1
	e.over = nil
	for _, el := range coll {
		if err := e.charge(1 + int64(len(e.base))); err != nil {
			return nil, err
		}
		clear(e.over)
		if simple {
			e.bindKey, e.bindVal, e.bound = collKey[0].Key, el, true
		} else if el != nil {
			if err := e.writeBack(collKey, el); err != nil {
				return nil, err
			}
		}
		if r.Incase != nil {
			ok, err := e.test(r.Incase)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		item := make(map[string]Value, len(r.Do))
		if r.Do != nil {
			if err := e.selectInto(r.Do, item); err != nil {
				return nil, err
			}
		} else {
			for k, v := range e.base {
				item[k] = v
			}
			if e.bound {
				item[e.bindKey] = e.bindVal
			}
			for k, v := range e.over {
				item[k] = v
			}
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

// Test runs a rule on a context the way `wedge rule test` and
// POST /api/v4/rule_test do (spec §14): the context is taken exactly as
// given, and the result is the JSON document to print: the output object,
// an array for FOREACH, or null when FROM does not match or WHERE is false.
// Invalid SQL, a context that is not a JSON object and evaluation errors
// are returned as errors.
func Test(sql, contextJSON string) ([]byte, error) {
	r, err := Parse(sql)
	if err != nil {
		return nil, err
	}
	cols, err := DecodeColumns(contextJSON)
	if err != nil {
		return nil, fmt.Errorf("context: %w", err)
	}
	if !r.Triggered(cols) {
		return []byte("null"), nil
	}
	out, err := r.Eval(cols)
	if err != nil {
		return nil, err
	}
	return out.JSON(), nil
}
