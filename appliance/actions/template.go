package actions

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Template is a string with ${path} placeholders, rendered against a rule's
// output map.
//
//   - A path is dot-separated keys: ${payload.a.b} descends into maps, and
//     into strings that hold a JSON object (the usual payload).
//   - Strings render as they are; integers in decimal; floats in the shortest
//     form that reads back exactly, always with a dot or an exponent (2.0);
//     booleans as true/false; null as null; maps and arrays as JSON.
//   - A path that is missing renders as the empty string. (EMQX 4.x renders
//     "undefined"; wedge follows newer EMQX releases here.)
//   - "${" without a closing "}" is literal text.
type Template struct {
	raw   string
	parts []part
}

type part struct {
	lit  string
	path []string // nil: literal
}

// ParseTemplate parses s. It never fails: anything that is not a placeholder
// is literal text.
func ParseTemplate(s string) *Template {
	t := &Template{raw: s}
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			t.parts = append(t.parts, part{lit: s})
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			t.parts = append(t.parts, part{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: s[:i]})
		}
		name := strings.TrimSpace(s[i+2 : i+2+j])
		t.parts = append(t.parts, part{path: strings.Split(name, ".")})
		s = s[i+3+j:]
	}
	return t
}

// String returns the template's source.
func (t *Template) String() string { return t.raw }

// Empty reports whether the template is the empty string.
func (t *Template) Empty() bool { return t.raw == "" }

// HasPlaceholders reports whether rendering depends on the output.
func (t *Template) HasPlaceholders() bool {
	for _, p := range t.parts {
		if p.path != nil {
			return true
		}
	}
	return false
}

// Render renders the template against out.
func (t *Template) Render(out map[string]any) string {
	return string(t.RenderBytes(out))
}

// RenderBytes is Render returning bytes.
func (t *Template) RenderBytes(out map[string]any) []byte {
	var b []byte
	for _, p := range t.parts {
		if p.path == nil {
			b = append(b, p.lit...)
			continue
		}
		if v, ok := Lookup(out, p.path); ok {
			b = appendValue(b, v)
		}
	}
	return b
}

// Lookup finds path in out, descending into maps and into strings holding a
// JSON object.
func Lookup(out map[string]any, path []string) (any, bool) {
	var cur any = out
	for _, k := range path {
		switch m := cur.(type) {
		case map[string]any:
			v, ok := m[k]
			if !ok {
				return nil, false
			}
			cur = v
		case string:
			inner, ok := jsonObject(m)
			if !ok {
				return nil, false
			}
			v, ok := inner[k]
			if !ok {
				return nil, false
			}
			cur = v
		default:
			return nil, false
		}
	}
	return cur, true
}

func jsonObject(s string) (map[string]any, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return nil, false
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil {
		return nil, false
	}
	return m, true
}

// appendValue renders one value.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(b, x...)
	case json.Number:
		if f, err := x.Float64(); err == nil && strings.ContainsAny(string(x), ".eE") {
			return appendFloat(b, f)
		}
		return append(b, x...)
	case float64:
		return appendFloat(b, x)
	case float32:
		return appendFloat(b, float64(x))
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case bool:
		return strconv.AppendBool(b, x)
	case nil:
		return append(b, "null"...)
	case []byte:
		return append(b, x...)
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return b
		}
		return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
	}
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if !bytes.ContainsAny(b[n:], ".e") {
		b = append(b, ".0"...)
	}
	return b
}
