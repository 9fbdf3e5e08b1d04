package codec

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrUnsupported is returned for a content format the codec does not handle.
var ErrUnsupported = errors.New("unsupported content format")

// DecodeText decodes a plain-text single value of the resource at p.
func DecodeText(b []byte, p Path, types TypeResolver) ([]Record, error) {
	if len(p) < 3 {
		return nil, fmt.Errorf("text payload for %s: not a resource", p)
	}
	t := resolve(types, p)
	s := string(b)
	var v any = s
	switch t {
	case TypeOpaque:
		v = append([]byte(nil), b...)
	case TypeUnknown, TypeString, TypeCorelnk, TypeNone:
	default:
		cv, err := Coerce(strings.TrimSpace(s), t, false)
		if err != nil {
			return nil, err
		}
		v = cv
	}
	return []Record{{Path: p, Value: v}}, nil
}

// EncodeText encodes a single value as plain text (opaque as base64, per LwM2M 1.1).
func EncodeText(v any) []byte {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case bool:
		if x {
			return []byte("1")
		}
		return []byte("0")
	case []byte:
		return []byte(JSONValue(x, false).(string))
	case ObjLnk:
		return []byte(x.String())
	}
	return []byte(formatNumber(v))
}

// Decode decodes a payload of content format cf read at path base.
func Decode(cf uint16, b []byte, base Path, types TypeResolver) ([]Record, error) {
	switch cf {
	case FormatText:
		return DecodeText(b, base, types)
	case FormatOpaque:
		if len(base) < 3 {
			return nil, fmt.Errorf("opaque payload for %s: not a resource", base)
		}
		return []Record{{Path: base, Value: append([]byte(nil), b...)}}, nil
	case FormatTLV, FormatOldTLV:
		return DecodeTLV(b, base, types)
	case FormatJSON, FormatOldJSON:
		return DecodeJSON(b, types)
	case FormatSenMLJSON:
		return DecodeSenMLJSON(b, types)
	case FormatSenMLCBOR:
		return DecodeSenMLCBOR(b, types)
	}
	return nil, fmt.Errorf("%w: %d", ErrUnsupported, cf)
}

// Encode encodes records under base in content format cf.
func Encode(cf uint16, base Path, recs []Record, types TypeResolver) ([]byte, error) {
	switch cf {
	case FormatText, FormatOpaque:
		if len(recs) != 1 {
			return nil, fmt.Errorf("content format %d carries one value, not %d", cf, len(recs))
		}
		if cf == FormatOpaque {
			b, ok := recs[0].Value.([]byte)
			if !ok {
				return nil, fmt.Errorf("opaque format needs an opaque value")
			}
			return b, nil
		}
		return EncodeText(recs[0].Value), nil
	case FormatTLV, FormatOldTLV:
		return EncodeTLV(base, recs, types)
	case FormatJSON, FormatOldJSON:
		return EncodeJSON(base, recs, types)
	case FormatSenMLJSON:
		return EncodeSenMLJSON(base, recs, types)
	case FormatSenMLCBOR:
		return EncodeSenMLCBOR(base, recs, types)
	}
	return nil, fmt.Errorf("%w: %d", ErrUnsupported, cf)
}

// Link is one CoRE link: its target and its parameters (values unquoted; a parameter without a
// value maps to "").
type Link struct {
	Target string
	Params map[string]string
}

// String renders the link in link format.
func (l Link) String() string {
	var b strings.Builder
	b.WriteString("<" + l.Target + ">")
	keys := make([]string, 0, len(l.Params))
	for k := range l.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := l.Params[k]
		b.WriteString(";" + k)
		if v != "" {
			if _, err := strconv.ParseFloat(v, 64); err == nil && strings.TrimSpace(v) == v {
				b.WriteString("=" + v)
			} else {
				b.WriteString(`="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`)
			}
		}
	}
	return b.String()
}

// ErrLink is wrapped by every link-format decoding error.
var ErrLink = errors.New("malformed link format")

// maxLinks bounds the links of one payload.
const maxLinks = 4096

// ParseLinks parses a CoRE link-format payload (RFC 6690): `</1>;ver=1.1,</3/0>,</5/0>;ct=110`.
func ParseLinks(s string) ([]Link, error) {
	var out []Link
	i := 0
	n := len(s)
	skipWS := func() {
		for i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
	}
	for {
		skipWS()
		if i >= n {
			break
		}
		if len(out) >= maxLinks {
			return nil, fmt.Errorf("%w: too many links", ErrLink)
		}
		if s[i] != '<' {
			return nil, fmt.Errorf("%w: expected '<' at %d", ErrLink, i)
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			return nil, fmt.Errorf("%w: unterminated target", ErrLink)
		}
		l := Link{Target: s[i+1 : i+end], Params: map[string]string{}}
		i += end + 1
		for {
			skipWS()
			if i >= n || s[i] == ',' {
				i++
				break
			}
			if s[i] != ';' {
				return nil, fmt.Errorf("%w: expected ';' or ',' at %d", ErrLink, i)
			}
			i++
			skipWS()
			st := i
			for i < n && s[i] != '=' && s[i] != ';' && s[i] != ',' {
				i++
			}
			name := strings.TrimSpace(s[st:i])
			if name == "" {
				return nil, fmt.Errorf("%w: empty parameter name", ErrLink)
			}
			val := ""
			if i < n && s[i] == '=' {
				i++
				if i < n && s[i] == '"' {
					i++
					var b strings.Builder
					closed := false
					for i < n {
						c := s[i]
						i++
						if c == '\\' && i < n {
							b.WriteByte(s[i])
							i++
							continue
						}
						if c == '"' {
							closed = true
							break
						}
						b.WriteByte(c)
					}
					if !closed {
						return nil, fmt.Errorf("%w: unterminated quoted value", ErrLink)
					}
					val = b.String()
				} else {
					st := i
					for i < n && s[i] != ';' && s[i] != ',' {
						i++
					}
					val = strings.TrimSpace(s[st:i])
				}
			}
			l.Params[name] = val
		}
		out = append(out, l)
	}
	return out, nil
}
