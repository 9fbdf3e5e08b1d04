package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// ErrSenML is wrapped by every SenML and LwM2M JSON decoding error.
var ErrSenML = errors.New("malformed SenML")

// maxRecords bounds the number of records one payload may hold.
const maxRecords = 4096

// senml is one SenML record with the fields LwM2M uses (RFC 8428; "vlo" from LwM2M 1.1).
type senml struct {
	BaseName  *string  `json:"bn,omitempty"`
	BaseTime  *float64 `json:"bt,omitempty"`
	BaseValue *float64 `json:"bv,omitempty"`
	Name      *string  `json:"n,omitempty"`
	Time      *float64 `json:"t,omitempty"`
	Value     *float64 `json:"v,omitempty"`
	String    *string  `json:"vs,omitempty"`
	Bool      *bool    `json:"vb,omitempty"`
	Data      *string  `json:"vd,omitempty"`
	ObjLnk    *string  `json:"vlo,omitempty"`
	data      []byte
}

// records resolves base names and values and types each value.
func senmlRecords(in []senml, types TypeResolver) ([]Record, error) {
	if len(in) > maxRecords {
		return nil, fmt.Errorf("%w: too many records", ErrSenML)
	}
	var out []Record
	bn := ""
	bv := 0.0
	for _, s := range in {
		if s.BaseName != nil {
			bn = *s.BaseName
		}
		if s.BaseValue != nil {
			bv = *s.BaseValue
		}
		name := bn
		if s.Name != nil {
			name += *s.Name
		}
		if name == "" {
			return nil, fmt.Errorf("%w: record without a name", ErrSenML)
		}
		p, err := ParsePath(name)
		if err != nil || len(p) < 3 {
			return nil, fmt.Errorf("%w: name %q is not a resource path", ErrSenML, name)
		}
		t := resolve(types, p)
		var v any
		switch {
		case s.Value != nil:
			f := *s.Value + bv
			v = f
			if t == TypeUnknown && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				v = int64(f)
			}
		case s.String != nil:
			v = *s.String
		case s.Bool != nil:
			v = *s.Bool
		case s.data != nil:
			v = s.data
		case s.Data != nil:
			d, err := decodeB64(*s.Data)
			if err != nil {
				return nil, fmt.Errorf("%w: vd of %s: %v", ErrSenML, name, err)
			}
			v = d
		case s.ObjLnk != nil:
			o, err := ParseObjLnk(*s.ObjLnk)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrSenML, err)
			}
			v = o
		default:
			continue // a record without a value (e.g. a base record)
		}
		if t != TypeUnknown && t != TypeNone {
			if _, isBytes := v.([]byte); !(isBytes && t == TypeOpaque) {
				if cv, err := Coerce(v, t, false); err == nil {
					v = cv
				} else {
					return nil, fmt.Errorf("%w: %s: %v", ErrSenML, name, err)
				}
			}
		}
		out = append(out, Record{Path: p, Value: v})
	}
	return out, nil
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// baseName returns the SenML base name for records under base: "/3/0/" style.
func baseName(base Path) string {
	if len(base) == 0 {
		return "/"
	}
	return base.String() + "/"
}

func relName(base Path, p Path) string {
	s := p.String() + "/"
	bn := baseName(base)
	if rel, ok := strings.CutPrefix(s, bn); ok {
		return strings.TrimSuffix(rel, "/")
	}
	return p.String()
}

func toSenML(base Path, recs []Record, types TypeResolver) ([]senml, error) {
	out := make([]senml, 0, len(recs))
	for i, r := range recs {
		var s senml
		if i == 0 {
			bn := baseName(base)
			s.BaseName = &bn
		}
		n := relName(base, r.Path)
		s.Name = &n
		v := r.Value
		if t := resolve(types, r.Path); t != TypeUnknown && t != TypeNone {
			cv, err := Coerce(v, t, false)
			if err != nil {
				if b, ok := v.([]byte); ok && t == TypeOpaque {
					cv = b
				} else {
					return nil, fmt.Errorf("%s: %w", r.Path, err)
				}
			}
			v = cv
		}
		switch x := v.(type) {
		case string:
			s.String = &x
		case bool:
			s.Bool = &x
		case int64:
			f := float64(x)
			s.Value = &f
		case uint64:
			f := float64(x)
			s.Value = &f
		case float64:
			s.Value = &x
		case []byte:
			d := base64.RawURLEncoding.EncodeToString(x)
			s.Data = &d
			s.data = x
		case ObjLnk:
			o := x.String()
			s.ObjLnk = &o
		default:
			return nil, fmt.Errorf("%s: cannot encode %T", r.Path, v)
		}
		out = append(out, s)
	}
	return out, nil
}

// DecodeSenMLJSON decodes a SenML JSON payload (content format 110).
func DecodeSenMLJSON(b []byte, types TypeResolver) ([]Record, error) {
	var in []senml
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSenML, err)
	}
	return senmlRecords(in, types)
}

// EncodeSenMLJSON encodes records as SenML JSON with base name base.
func EncodeSenMLJSON(base Path, recs []Record, types TypeResolver) ([]byte, error) {
	s, err := toSenML(base, recs, types)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// SenML CBOR labels (RFC 8428 section 6).
const (
	cborBaseName  = -2
	cborBaseTime  = -3
	cborBaseValue = -5
	cborName      = 0
	cborValue     = 2
	cborString    = 3
	cborBool      = 4
	cborTime      = 6
	cborData      = 8
)

var cborDec = func() cbor.DecMode {
	m, err := cbor.DecOptions{MaxArrayElements: maxRecords, MaxMapPairs: 64, MaxNestedLevels: 4}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// DecodeSenMLCBOR decodes a SenML CBOR payload (content format 112).
func DecodeSenMLCBOR(b []byte, types TypeResolver) ([]Record, error) {
	var raw []map[any]any
	if err := cborDec.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSenML, err)
	}
	in := make([]senml, 0, len(raw))
	for _, m := range raw {
		var s senml
		for k, v := range m {
			label, isStr := k.(string)
			num, isNum := cborLabel(k)
			switch {
			case isStr && label == "vlo":
				str, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("%w: vlo is not a string", ErrSenML)
				}
				s.ObjLnk = &str
			case isNum:
				if err := setCBORField(&s, num, v); err != nil {
					return nil, err
				}
			}
		}
		in = append(in, s)
	}
	return senmlRecords(in, types)
}

func cborLabel(k any) (int64, bool) {
	switch x := k.(type) {
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt32 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

func cborFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

func setCBORField(s *senml, label int64, v any) error {
	bad := func() error { return fmt.Errorf("%w: label %d has a value of type %T", ErrSenML, label, v) }
	switch label {
	case cborBaseName, cborName:
		str, ok := v.(string)
		if !ok {
			return bad()
		}
		if label == cborName {
			s.Name = &str
		} else {
			s.BaseName = &str
		}
	case cborBaseTime, cborTime, cborBaseValue, cborValue:
		f, ok := cborFloat(v)
		if !ok {
			return bad()
		}
		switch label {
		case cborBaseTime:
			s.BaseTime = &f
		case cborTime:
			s.Time = &f
		case cborBaseValue:
			s.BaseValue = &f
		default:
			s.Value = &f
		}
	case cborString:
		str, ok := v.(string)
		if !ok {
			return bad()
		}
		s.String = &str
	case cborBool:
		bo, ok := v.(bool)
		if !ok {
			return bad()
		}
		s.Bool = &bo
	case cborData:
		d, ok := v.([]byte)
		if !ok {
			return bad()
		}
		s.data = d
	}
	return nil
}

// EncodeSenMLCBOR encodes records as SenML CBOR with base name base.
func EncodeSenMLCBOR(base Path, recs []Record, types TypeResolver) ([]byte, error) {
	ss, err := toSenML(base, recs, types)
	if err != nil {
		return nil, err
	}
	out := make([]map[any]any, 0, len(ss))
	for _, s := range ss {
		m := map[any]any{}
		if s.BaseName != nil {
			m[cborBaseName] = *s.BaseName
		}
		if s.Name != nil {
			m[cborName] = *s.Name
		}
		switch {
		case s.Value != nil:
			if *s.Value == math.Trunc(*s.Value) && math.Abs(*s.Value) < 1<<53 {
				m[cborValue] = int64(*s.Value)
			} else {
				m[cborValue] = *s.Value
			}
		case s.String != nil:
			m[cborString] = *s.String
		case s.Bool != nil:
			m[cborBool] = *s.Bool
		case s.data != nil:
			m[cborData] = s.data
		case s.ObjLnk != nil:
			m["vlo"] = *s.ObjLnk
		}
		out = append(out, m)
	}
	return cbor.Marshal(out)
}

// omaJSON is the OMA LwM2M JSON format (content format 11543, LwM2M 1.0).
type omaJSON struct {
	BaseName string     `json:"bn,omitempty"`
	BaseTime *float64   `json:"bt,omitempty"`
	E        []omaEntry `json:"e"`
}

type omaEntry struct {
	Name   string   `json:"n,omitempty"`
	Value  *float64 `json:"v,omitempty"`
	String *string  `json:"sv,omitempty"`
	Bool   *bool    `json:"bv,omitempty"`
	ObjLnk *string  `json:"ov,omitempty"`
	Time   *float64 `json:"t,omitempty"`
}

// DecodeJSON decodes an OMA LwM2M JSON payload (content format 11543). Opaque values travel as
// base64 strings in "sv".
func DecodeJSON(b []byte, types TypeResolver) ([]Record, error) {
	var in omaJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSenML, err)
	}
	if len(in.E) > maxRecords {
		return nil, fmt.Errorf("%w: too many entries", ErrSenML)
	}
	ss := make([]senml, 0, len(in.E))
	for i, e := range in.E {
		name := in.BaseName + e.Name
		s := senml{Name: &name, Value: e.Value, Bool: e.Bool, ObjLnk: e.ObjLnk}
		if e.String != nil {
			p, _ := ParsePath(name)
			if p != nil && resolve(types, p) == TypeOpaque {
				d, err := base64.StdEncoding.DecodeString(*e.String)
				if err != nil {
					return nil, fmt.Errorf("%w: entry %d: %v", ErrSenML, i, err)
				}
				s.data = d
			} else {
				s.String = e.String
			}
		}
		ss = append(ss, s)
	}
	return senmlRecords(ss, types)
}

// EncodeJSON encodes records as OMA LwM2M JSON with base name base.
func EncodeJSON(base Path, recs []Record, types TypeResolver) ([]byte, error) {
	ss, err := toSenML(base, recs, types)
	if err != nil {
		return nil, err
	}
	out := omaJSON{BaseName: baseName(base), E: make([]omaEntry, 0, len(ss))}
	for _, s := range ss {
		e := omaEntry{Name: *s.Name, Value: s.Value, String: s.String, Bool: s.Bool, ObjLnk: s.ObjLnk}
		if s.data != nil {
			d := base64.StdEncoding.EncodeToString(s.data)
			e.String = &d
		}
		out.E = append(out.E, e)
	}
	return json.Marshal(out)
}
