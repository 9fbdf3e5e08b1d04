package rules

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"strings"
)

// contextFuncs read the message context, plus the [4.4] extras random(),
// uuid_v4(), uuid_v4_no_hyphen() and null().
var contextFuncs = []Builtin{
	{Name: "topic", MaxArgs: 1, Fn: topicFn},
	column0("clientid", "from"), // 4.2 quirk kept: reads an internal "from" key
	column0("username", "username"),
	column0("qos", "qos"),
	column0("flags", "flags"),
	column0("peerhost", "peerhost"),
	column0("clientip", "peerhost"),
	column0("msgid", "id"),
	{Name: "flag", MinArgs: 1, MaxArgs: 1, Fn: func(c ColumnReader, a []Value) (Value, error) {
		name, err := argStr("flag", a[0])
		if err != nil {
			return nil, err
		}
		if m, ok := c.Column("flags").(map[string]Value); ok {
			return m[name], nil
		}
		return nil, nil
	}},
	{Name: "payload", MaxArgs: 1, Fn: func(c ColumnReader, a []Value) (Value, error) {
		p := c.Column("payload")
		if len(a) == 0 {
			return p, nil
		}
		path, err := argStr("payload", a[0])
		if err != nil {
			return nil, err
		}
		return getDotted(p, path), nil
	}},
	fnN("contains_topic", 2, 3, func(a []Value) (Value, error) { return containsTopic("contains_topic", a, false) }),
	fnN("contains_topic_match", 2, 3, func(a []Value) (Value, error) { return containsTopic("contains_topic_match", a, true) }),
	fn0("random", func() (Value, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<53))
		if err != nil {
			return nil, evalErr("random: %v", err)
		}
		return float64(n.Int64()) / (1 << 53), nil
	}),
	fn0("uuid_v4", func() (Value, error) { return uuid4(true) }),
	fn0("uuid_v4_no_hyphen", func() (Value, error) { return uuid4(false) }),
	fn0("null", func() (Value, error) { return nil, nil }),
}

func column0(name, col string) Builtin {
	return Builtin{Name: name, Fn: func(c ColumnReader, _ []Value) (Value, error) { return c.Column(col), nil }}
}

func topicFn(c ColumnReader, a []Value) (Value, error) {
	t := c.Column("topic")
	if len(a) == 0 {
		return t, nil
	}
	n, err := argInt("topic", a[0])
	if err != nil {
		return nil, err
	}
	s, ok := t.(string)
	if !ok {
		return nil, nil
	}
	levels := strings.Split(s, "/")
	if n < 1 || n > int64(len(levels)) {
		return nil, evalErr("topic: level %d out of range (topic has %d levels)", n, len(levels))
	}
	return levels[n-1], nil
}

// getDotted looks up a dotted key path ("a.b.c") in a map, or in a string
// holding JSON.
func getDotted(v Value, path string) Value {
	for _, k := range strings.Split(path, ".") {
		if s, ok := v.(string); ok {
			d, err := DecodeJSON(s)
			if err != nil {
				return nil
			}
			v = d
		}
		m, ok := v.(map[string]Value)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// containsTopic: filters is a list of topic filters (strings) or of maps
// {"topic": filter, "qos": n}, or a map from filter to {"qos": n} or to n.
func containsTopic(fn string, a []Value, match bool) (Value, error) {
	topic, err := argStr(fn, a[1])
	if err != nil {
		return nil, err
	}
	type entry struct {
		filter string
		qos    Value
	}
	var entries []entry
	switch f := a[0].(type) {
	case []Value:
		for _, e := range f {
			switch x := e.(type) {
			case string:
				entries = append(entries, entry{filter: x})
			case map[string]Value:
				t, _ := x["topic"].(string)
				entries = append(entries, entry{filter: t, qos: x["qos"]})
			default:
				return nil, badArg(fn, e, "a topic filter (string or {topic, qos} map)")
			}
		}
	case map[string]Value:
		for k, x := range f {
			q := x
			if m, ok := x.(map[string]Value); ok {
				q = m["qos"]
			}
			entries = append(entries, entry{filter: k, qos: q})
		}
	default:
		return nil, badArg(fn, a[0], "a list of topic filters")
	}
	for _, e := range entries {
		hit := e.filter == topic
		if match {
			hit = MatchTopic(topic, e.filter)
		}
		if hit && (len(a) < 3 || exactEqual(e.qos, a[2])) {
			return true, nil
		}
	}
	return false, nil
}

func uuid4(hyphens bool) (Value, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, evalErr("uuid_v4: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	if !hyphens {
		return h, nil
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
