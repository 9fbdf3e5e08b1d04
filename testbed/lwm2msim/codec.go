package lwm2msim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Content formats the simulator speaks.
const (
	CFText      = 0
	CFLink      = 40
	CFOpaque    = 42
	CFSenMLJSON = 110
	CFSenMLCBOR = 112
	CFTLV       = 11542
	CFJSON      = 11543
)

// ObjLnk is an object link value.
type ObjLnk struct{ Object, Instance uint16 }

// Entry is one resource (instance) value at a path such as [3 0 9] or [3 0 6 0].
type Entry struct {
	Path  []uint16
	Value any // int64, float64, string, bool, []byte, ObjLnk
}

func pathString(p []uint16) string {
	var b strings.Builder
	for _, id := range p {
		b.WriteString("/" + strconv.Itoa(int(id)))
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

func parsePath(s string) ([]uint16, error) {
	s = strings.Trim(s, "/")
	if s == "" {
		return nil, nil
	}
	var p []uint16
	for _, part := range strings.Split(s, "/") {
		n, err := strconv.ParseUint(part, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad path %q", s)
		}
		p = append(p, uint16(n))
	}
	return p, nil
}

// binaryValue is the TLV value encoding.
func binaryValue(v any) []byte {
	switch x := v.(type) {
	case int64:
		switch {
		case x >= -128 && x <= 127:
			return []byte{byte(x)}
		case x >= -32768 && x <= 32767:
			return binary.BigEndian.AppendUint16(nil, uint16(x))
		case x >= math.MinInt32 && x <= math.MaxInt32:
			return binary.BigEndian.AppendUint32(nil, uint32(x))
		}
		return binary.BigEndian.AppendUint64(nil, uint64(x))
	case float64:
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(x))
	case string:
		return []byte(x)
	case bool:
		if x {
			return []byte{1}
		}
		return []byte{0}
	case []byte:
		return x
	case ObjLnk:
		return []byte{byte(x.Object >> 8), byte(x.Object), byte(x.Instance >> 8), byte(x.Instance)}
	}
	return nil
}

// fromBinary decodes a TLV value like the given example value's type.
func fromBinary(b []byte, like any) (any, error) {
	switch like.(type) {
	case int64:
		switch len(b) {
		case 1:
			return int64(int8(b[0])), nil
		case 2:
			return int64(int16(binary.BigEndian.Uint16(b))), nil
		case 4:
			return int64(int32(binary.BigEndian.Uint32(b))), nil
		case 8:
			return int64(binary.BigEndian.Uint64(b)), nil
		}
		return nil, errors.New("bad integer length")
	case float64:
		switch len(b) {
		case 4:
			return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
		case 8:
			return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
		}
		return nil, errors.New("bad float length")
	case bool:
		if len(b) != 1 {
			return nil, errors.New("bad boolean")
		}
		return b[0] != 0, nil
	case ObjLnk:
		if len(b) != 4 {
			return nil, errors.New("bad objlnk")
		}
		return ObjLnk{binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])}, nil
	case []byte:
		return append([]byte(nil), b...), nil
	}
	return string(b), nil
}

func tlvHeader(kind byte, id uint16, n int) []byte {
	h := kind << 6
	var out []byte
	if id > 255 {
		h |= 0x20
	}
	var ln []byte
	switch {
	case n < 8:
		h |= byte(n)
	case n < 256:
		h |= 0x08
		ln = []byte{byte(n)}
	case n < 65536:
		h |= 0x10
		ln = []byte{byte(n >> 8), byte(n)}
	default:
		h |= 0x18
		ln = []byte{byte(n >> 16), byte(n >> 8), byte(n)}
	}
	out = append(out, h)
	if id > 255 {
		out = append(out, byte(id>>8), byte(id))
	} else {
		out = append(out, byte(id))
	}
	return append(out, ln...)
}

// encodeTLV encodes entries read at base (depth 1: object, 2: instance, 3: resource).
func encodeTLV(depth int, es []Entry) []byte {
	// group by the level below base
	var out []byte
	i := 0
	for i < len(es) {
		level := depth // index of the id that becomes the top element
		if level > 2 {
			level = 2
		}
		id := es[i].Path[level]
		j := i
		for j < len(es) && es[j].Path[level] == id {
			j++
		}
		group := es[i:j]
		switch level {
		case 1: // object instance
			inner := encodeTLV(2, group)
			out = append(append(out, tlvHeader(0, id, len(inner))...), inner...)
		case 2:
			if len(group[0].Path) == 4 { // multiple resource
				var inner []byte
				for _, e := range group {
					v := binaryValue(e.Value)
					inner = append(append(inner, tlvHeader(1, e.Path[3], len(v))...), v...)
				}
				out = append(append(out, tlvHeader(2, id, len(inner))...), inner...)
			} else {
				v := binaryValue(group[0].Value)
				out = append(append(out, tlvHeader(3, id, len(v))...), v...)
			}
		}
		i = j
	}
	return out
}

type rawTLV struct {
	kind  byte
	id    uint16
	value []byte
}

func readTLV(b []byte) ([]rawTLV, error) {
	var out []rawTLV
	for len(b) > 0 {
		h := b[0]
		i := 1
		var id uint16
		if h&0x20 != 0 {
			if len(b) < 3 {
				return nil, errors.New("short tlv")
			}
			id = binary.BigEndian.Uint16(b[1:])
			i = 3
		} else {
			if len(b) < 2 {
				return nil, errors.New("short tlv")
			}
			id = uint16(b[1])
			i = 2
		}
		n := int(h & 7)
		if ll := int(h>>3) & 3; ll > 0 {
			if len(b) < i+ll {
				return nil, errors.New("short tlv")
			}
			n = 0
			for k := 0; k < ll; k++ {
				n = n<<8 | int(b[i+k])
			}
			i += ll
		}
		if len(b) < i+n {
			return nil, errors.New("short tlv")
		}
		out = append(out, rawTLV{h >> 6, id, b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// decodeTLV decodes a TLV payload written at base into entries with raw []byte values.
func decodeTLV(base []uint16, b []byte) ([]Entry, error) {
	tl, err := readTLV(b)
	if err != nil {
		return nil, err
	}
	var out []Entry
	at := func(n int, id uint16) []uint16 {
		p := make([]uint16, n-1, n)
		copy(p, base)
		return append(p, id)
	}
	for _, t := range tl {
		switch t.kind {
		case 0:
			sub, err := decodeTLV(at(2, t.id), t.value)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		case 2:
			ins, err := readTLV(t.value)
			if err != nil {
				return nil, err
			}
			rp := at(3, t.id)
			for _, ri := range ins {
				out = append(out, Entry{Path: append(append([]uint16{}, rp...), ri.id), Value: ri.value})
			}
		case 3:
			out = append(out, Entry{Path: at(3, t.id), Value: t.value})
		case 1:
			out = append(out, Entry{Path: at(4, t.id), Value: t.value})
		}
	}
	return out, nil
}

type senmlRec struct {
	Bn  string   `json:"bn,omitempty"`
	N   string   `json:"n,omitempty"`
	V   *float64 `json:"v,omitempty"`
	Vs  *string  `json:"vs,omitempty"`
	Vb  *bool    `json:"vb,omitempty"`
	Vd  string   `json:"vd,omitempty"`
	Vlo string   `json:"vlo,omitempty"`
}

func toSenML(base []uint16, es []Entry) []senmlRec {
	out := make([]senmlRec, 0, len(es))
	bn := pathString(base)
	if bn != "/" {
		bn += "/"
	}
	for i, e := range es {
		r := senmlRec{N: relative(bn, e.Path)}
		if !strings.HasPrefix(r.N, "/") && i == 0 {
			r.Bn = bn
		}
		switch x := e.Value.(type) {
		case int64:
			f := float64(x)
			r.V = &f
		case float64:
			r.V = &x
		case string:
			r.Vs = &x
		case bool:
			r.Vb = &x
		case []byte:
			r.Vd = base64.RawURLEncoding.EncodeToString(x)
		case ObjLnk:
			r.Vlo = fmt.Sprintf("%d:%d", x.Object, x.Instance)
		}
		out = append(out, r)
	}
	// a record with an absolute name needs bn cleared: use bn only when every name is relative
	for _, r := range out {
		if strings.HasPrefix(r.N, "/") {
			for k := range out {
				out[k].Bn = ""
				if !strings.HasPrefix(out[k].N, "/") {
					out[k].N = bn + out[k].N
				}
			}
			break
		}
	}
	return out
}

func fromSenML(recs []senmlRec) ([]Entry, error) {
	var out []Entry
	bn := ""
	for _, r := range recs {
		if r.Bn != "" {
			bn = r.Bn
		}
		p, err := parsePath(bn + r.N)
		if err != nil {
			return nil, err
		}
		var v any
		switch {
		case r.V != nil:
			v = *r.V
		case r.Vs != nil:
			v = *r.Vs
		case r.Vb != nil:
			v = *r.Vb
		case r.Vd != "":
			d, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.Vd, "="))
			if err != nil {
				return nil, err
			}
			v = d
		case r.Vlo != "":
			var o, i uint16
			if _, err := fmt.Sscanf(r.Vlo, "%d:%d", &o, &i); err != nil {
				return nil, err
			}
			v = ObjLnk{o, i}
		default:
			continue
		}
		out = append(out, Entry{Path: p, Value: v})
	}
	return out, nil
}

func encodeSenMLCBOR(base []uint16, es []Entry) ([]byte, error) {
	recs := toSenML(base, es)
	arr := make([]map[any]any, 0, len(recs))
	for _, r := range recs {
		m := map[any]any{}
		if r.Bn != "" {
			m[-2] = r.Bn
		}
		m[0] = r.N
		switch {
		case r.V != nil:
			m[2] = *r.V
		case r.Vs != nil:
			m[3] = *r.Vs
		case r.Vb != nil:
			m[4] = *r.Vb
		case r.Vd != "":
			d, _ := base64.RawURLEncoding.DecodeString(r.Vd)
			m[8] = d
		case r.Vlo != "":
			m["vlo"] = r.Vlo
		}
		arr = append(arr, m)
	}
	return cbor.Marshal(arr)
}

func decodeSenMLCBOR(b []byte) ([]Entry, error) {
	var raw []map[any]any
	if err := cbor.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	recs := make([]senmlRec, 0, len(raw))
	for _, rm := range raw {
		var r senmlRec
		m := map[int]any{}
		for k, v := range rm {
			switch x := k.(type) {
			case int64:
				m[int(x)] = v
			case uint64:
				m[int(x)] = v
			case string:
				if x == "vlo" {
					r.Vlo, _ = v.(string)
				}
			}
		}
		r.Bn, _ = m[-2].(string)
		r.N, _ = m[0].(string)
		switch v := m[2].(type) {
		case float64:
			r.V = &v
		case uint64:
			f := float64(v)
			r.V = &f
		case int64:
			f := float64(v)
			r.V = &f
		}
		if s, ok := m[3].(string); ok {
			r.Vs = &s
		}
		if bo, ok := m[4].(bool); ok {
			r.Vb = &bo
		}
		if d, ok := m[8].([]byte); ok {
			r.Vd = base64.RawURLEncoding.EncodeToString(d)
		}
		recs = append(recs, r)
	}
	return fromSenML(recs)
}

type omaDoc struct {
	Bn string     `json:"bn"`
	E  []senmlRec `json:"e"`
}

// OMA JSON uses sv/bv/ov names; map them through a small custom shape.
type omaRec struct {
	N  string   `json:"n"`
	V  *float64 `json:"v,omitempty"`
	Sv *string  `json:"sv,omitempty"`
	Bv *bool    `json:"bv,omitempty"`
	Ov string   `json:"ov,omitempty"`
}

func encodeOMAJSON(base []uint16, es []Entry) ([]byte, error) {
	bn := pathString(base)
	if bn != "/" {
		bn += "/"
	}
	doc := struct {
		Bn string   `json:"bn"`
		E  []omaRec `json:"e"`
	}{Bn: bn}
	for _, e := range es {
		r := omaRec{N: relative(bn, e.Path)}
		switch x := e.Value.(type) {
		case int64:
			f := float64(x)
			r.V = &f
		case float64:
			r.V = &x
		case string:
			r.Sv = &x
		case bool:
			r.Bv = &x
		case []byte:
			s := base64.StdEncoding.EncodeToString(x)
			r.Sv = &s
		case ObjLnk:
			r.Ov = fmt.Sprintf("%d:%d", x.Object, x.Instance)
		}
		doc.E = append(doc.E, r)
	}
	return json.Marshal(doc)
}

func decodeOMAJSON(b []byte) ([]Entry, error) {
	var doc struct {
		Bn string   `json:"bn"`
		E  []omaRec `json:"e"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var out []Entry
	for _, r := range doc.E {
		p, err := parsePath(doc.Bn + r.N)
		if err != nil {
			return nil, err
		}
		var v any
		switch {
		case r.V != nil:
			v = *r.V
		case r.Sv != nil:
			v = *r.Sv
		case r.Bv != nil:
			v = *r.Bv
		case r.Ov != "":
			var o, i uint16
			fmt.Sscanf(r.Ov, "%d:%d", &o, &i)
			v = ObjLnk{o, i}
		}
		out = append(out, Entry{Path: p, Value: v})
	}
	return out, nil
}

func textValue(v any) []byte {
	switch x := v.(type) {
	case int64:
		return []byte(strconv.FormatInt(x, 10))
	case float64:
		return []byte(strconv.FormatFloat(x, 'g', -1, 64))
	case string:
		return []byte(x)
	case bool:
		if x {
			return []byte("1")
		}
		return []byte("0")
	case []byte:
		return []byte(base64.StdEncoding.EncodeToString(x))
	case ObjLnk:
		return []byte(fmt.Sprintf("%d:%d", x.Object, x.Instance))
	}
	return nil
}

// convert turns a decoded value (raw bytes from TLV, float64 from JSON, text) into the type of like.
func convert(v any, like any) (any, error) {
	if b, ok := v.([]byte); ok {
		if like == nil {
			return b, nil
		}
		if _, isBytes := like.([]byte); !isBytes {
			return fromBinary(b, like)
		}
		return b, nil
	}
	switch like.(type) {
	case int64:
		switch x := v.(type) {
		case float64:
			return int64(x), nil
		case string:
			return strconv.ParseInt(x, 10, 64)
		}
	case float64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case string:
			return strconv.ParseFloat(x, 64)
		}
	case bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			return x == "1" || x == "true", nil
		}
	case string:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return fmt.Sprint(v), nil
	case []byte:
		if s, ok := v.(string); ok {
			return base64.StdEncoding.DecodeString(s)
		}
	case ObjLnk:
		if o, ok := v.(ObjLnk); ok {
			return o, nil
		}
	case nil:
		return v, nil
	}
	return nil, fmt.Errorf("cannot convert %T to %T", v, like)
}

// relative returns p's name relative to the base name bn ("/3/0/"), "" for the base itself, or
// the absolute path when p is not under bn.
func relative(bn string, p []uint16) string {
	s := pathString(p) + "/"
	if rel, ok := strings.CutPrefix(s, bn); ok {
		return strings.TrimSuffix(rel, "/")
	}
	return pathString(p)
}
