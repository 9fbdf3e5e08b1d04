package codec

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Content formats (CoAP Content-Format numbers) used by LwM2M.
const (
	FormatText      uint16 = 0
	FormatLink      uint16 = 40
	FormatOpaque    uint16 = 42
	FormatCBOR      uint16 = 60
	FormatSenMLJSON uint16 = 110
	FormatSenMLCBOR uint16 = 112
	FormatTLV       uint16 = 11542
	FormatJSON      uint16 = 11543
	FormatOldTLV    uint16 = 1542
	FormatOldJSON   uint16 = 1543
)

// Path is an LwM2M path: object, instance, resource and resource instance ids (0 to 4 of them).
type Path []uint16

// ParsePath parses "/3/0/1" (the leading slash is optional; "/" and "" are the root).
func ParsePath(s string) (Path, error) {
	s = strings.Trim(s, "/")
	if s == "" {
		return Path{}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) > 4 {
		return nil, fmt.Errorf("path %q: more than 4 segments", s)
	}
	p := make(Path, 0, len(parts))
	for _, part := range parts {
		n, err := strconv.ParseUint(part, 10, 16)
		if err != nil || n == 65535 {
			return nil, fmt.Errorf("path %q: bad segment %q", s, part)
		}
		p = append(p, uint16(n))
	}
	return p, nil
}

// MustPath is ParsePath for constants; it panics on a bad path.
func MustPath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path as "/3/0/1" ("/" for the root).
func (p Path) String() string {
	if len(p) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, id := range p {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(int(id)))
	}
	return b.String()
}

// Append returns a new path with ids appended.
func (p Path) Append(ids ...uint16) Path {
	out := make(Path, 0, len(p)+len(ids))
	return append(append(out, p...), ids...)
}

// HasPrefix reports whether q is a prefix of p.
func (p Path) HasPrefix(q Path) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// DataType is an LwM2M resource data type.
type DataType int

// Data types of the OMA object model.
const (
	TypeUnknown DataType = iota
	TypeString
	TypeInteger
	TypeUnsigned
	TypeFloat
	TypeBoolean
	TypeOpaque
	TypeTime
	TypeObjlnk
	TypeCorelnk
	TypeNone
)

var typeNames = [...]string{"Unknown", "String", "Integer", "Unsigned Integer", "Float", "Boolean", "Opaque", "Time", "Objlnk", "Corelnk", "None"}

// String returns the OMA name of the type ("Integer", "Unsigned Integer", ...).
func (t DataType) String() string {
	if t < 0 || int(t) >= len(typeNames) {
		return "Unknown"
	}
	return typeNames[t]
}

// ParseDataType maps an OMA XML or EMQX command type name to a DataType (case-insensitive).
func ParseDataType(s string) DataType {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "string":
		return TypeString
	case "integer", "int":
		return TypeInteger
	case "unsigned integer", "unsigned", "uint":
		return TypeUnsigned
	case "float":
		return TypeFloat
	case "boolean", "bool":
		return TypeBoolean
	case "opaque":
		return TypeOpaque
	case "time":
		return TypeTime
	case "objlnk":
		return TypeObjlnk
	case "corelnk":
		return TypeCorelnk
	case "none", "":
		return TypeNone
	}
	return TypeUnknown
}

// TypeResolver returns the data type of the resource at a resource or resource-instance path;
// nil or TypeUnknown means the type is not known.
type TypeResolver func(p Path) DataType

func resolve(types TypeResolver, p Path) DataType {
	if types == nil {
		return TypeUnknown
	}
	return types(p)
}

// ObjLnk is an object link value: an object id and an instance id.
type ObjLnk struct{ Object, Instance uint16 }

// String returns "3:0".
func (o ObjLnk) String() string { return fmt.Sprintf("%d:%d", o.Object, o.Instance) }

// ParseObjLnk parses "3:0".
func ParseObjLnk(s string) (ObjLnk, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return ObjLnk{}, fmt.Errorf("objlnk %q: want object:instance", s)
	}
	o, err1 := strconv.ParseUint(a, 10, 16)
	i, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil {
		return ObjLnk{}, fmt.Errorf("objlnk %q: bad number", s)
	}
	return ObjLnk{uint16(o), uint16(i)}, nil
}

// Record is one resource (or resource instance) value. Value is a string, int64, uint64, float64,
// bool, []byte (opaque) or ObjLnk.
type Record struct {
	Path  Path
	Value any
}

// JSONValue returns the value as it appears in wedge's (and EMQX's) JSON: opaque as base64 (hex
// when hexOpaque), object links as "3:0", everything else as is.
func JSONValue(v any, hexOpaque bool) any {
	switch x := v.(type) {
	case []byte:
		if hexOpaque {
			return hex.EncodeToString(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	case ObjLnk:
		return x.String()
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	}
	return v
}

// Coerce converts a JSON-decoded value (string, float64, json.Number, bool) to the Go value of type
// t, as written in a downlink command. hexOpaque reads opaque strings as hex instead of base64.
func Coerce(v any, t DataType, hexOpaque bool) (any, error) {
	str := func() (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case fmt.Stringer:
			return x.String(), true
		}
		return "", false
	}
	num := func() (float64, string, error) {
		switch x := v.(type) {
		case float64:
			return x, strconv.FormatFloat(x, 'f', -1, 64), nil
		case int:
			return float64(x), strconv.Itoa(x), nil
		case int64:
			return float64(x), strconv.FormatInt(x, 10), nil
		case uint64:
			return float64(x), strconv.FormatUint(x, 10), nil
		case bool:
			if x {
				return 1, "1", nil
			}
			return 0, "0", nil
		}
		s, ok := str()
		if !ok {
			return 0, "", fmt.Errorf("value %v is not a number", v)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, "", fmt.Errorf("value %q is not a number", s)
		}
		return f, strings.TrimSpace(s), nil
	}
	switch t {
	case TypeString, TypeCorelnk, TypeUnknown, TypeNone:
		if s, ok := str(); ok {
			return s, nil
		}
		return fmt.Sprint(v), nil
	case TypeInteger, TypeTime:
		f, s, err := num()
		if err != nil {
			return nil, err
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if f != math.Trunc(f) || f > math.MaxInt64 || f < math.MinInt64 {
			return nil, fmt.Errorf("value %v is not an integer", v)
		}
		return int64(f), nil
	case TypeUnsigned:
		f, s, err := num()
		if err != nil {
			return nil, err
		}
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n, nil
		}
		if f != math.Trunc(f) || f < 0 || f > math.MaxUint64 {
			return nil, fmt.Errorf("value %v is not an unsigned integer", v)
		}
		return uint64(f), nil
	case TypeFloat:
		f, _, err := num()
		return f, err
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case float64:
			return x != 0, nil
		}
		s, _ := str()
		switch strings.ToLower(s) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, fmt.Errorf("value %v is not a boolean", v)
	case TypeOpaque:
		if b, ok := v.([]byte); ok {
			return b, nil
		}
		s, ok := str()
		if !ok {
			return nil, fmt.Errorf("opaque value must be a string")
		}
		if hexOpaque {
			return hex.DecodeString(s)
		}
		return base64.StdEncoding.DecodeString(s)
	case TypeObjlnk:
		s, _ := str()
		return ParseObjLnk(s)
	}
	return nil, fmt.Errorf("unsupported type %v", t)
}

// guess types a raw value without a model: printable UTF-8 text is a string, 1/2/4/8 bytes an
// integer, anything else opaque.
func guess(b []byte) any {
	if len(b) > 0 && utf8.Valid(b) && printable(b) {
		return string(b)
	}
	switch len(b) {
	case 1, 2, 4, 8:
		v, _ := decodeInt(b)
		return v
	}
	return append([]byte(nil), b...)
}

func printable(b []byte) bool {
	for _, c := range string(b) {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == utf8.RuneError {
			return false
		}
	}
	return true
}
