package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// TLV identifier kinds (bits 7-6 of the TLV type byte).
const (
	KindObjectInstance   byte = 0
	KindResourceInstance byte = 1
	KindMultipleResource byte = 2
	KindResource         byte = 3
)

// TLV is one OMA TLV element. Value holds the bytes of a resource or resource instance;
// Children the nested elements of an object instance or a multiple resource.
type TLV struct {
	Kind     byte
	ID       uint16
	Value    []byte
	Children []TLV
}

// ErrTLV is wrapped by every TLV decoding error.
var ErrTLV = errors.New("malformed TLV")

// maxTLVDepth bounds nesting: object instance > multiple resource > resource instance.
const maxTLVDepth = 3

// ParseTLV parses a TLV payload into its elements.
func ParseTLV(b []byte) ([]TLV, error) { return parseTLV(b, 0) }

func parseTLV(b []byte, depth int) ([]TLV, error) {
	if depth >= maxTLVDepth {
		return nil, fmt.Errorf("%w: nested too deep", ErrTLV)
	}
	var out []TLV
	for len(b) > 0 {
		h := b[0]
		i := 1
		t := TLV{Kind: h >> 6}
		idLen := 1
		if h&0x20 != 0 {
			idLen = 2
		}
		if len(b) < i+idLen {
			return nil, fmt.Errorf("%w: truncated identifier", ErrTLV)
		}
		if idLen == 1 {
			t.ID = uint16(b[i])
		} else {
			t.ID = binary.BigEndian.Uint16(b[i:])
		}
		i += idLen
		var n int
		switch lt := (h >> 3) & 3; lt {
		case 0:
			n = int(h & 7)
		default:
			ll := int(lt)
			if len(b) < i+ll {
				return nil, fmt.Errorf("%w: truncated length", ErrTLV)
			}
			for k := 0; k < ll; k++ {
				n = n<<8 | int(b[i+k])
			}
			i += ll
		}
		if n > len(b)-i {
			return nil, fmt.Errorf("%w: length %d beyond payload", ErrTLV, n)
		}
		v := b[i : i+n]
		b = b[i+n:]
		switch t.Kind {
		case KindObjectInstance, KindMultipleResource:
			ch, err := parseTLV(v, depth+1)
			if err != nil {
				return nil, err
			}
			if t.Kind == KindMultipleResource {
				for _, c := range ch {
					if c.Kind != KindResourceInstance {
						return nil, fmt.Errorf("%w: multiple resource holds kind %d", ErrTLV, c.Kind)
					}
				}
			}
			t.Children = ch
		default:
			t.Value = v
		}
		out = append(out, t)
	}
	return out, nil
}

// AppendTLV appends the encoding of t to dst.
func AppendTLV(dst []byte, t TLV) []byte {
	v := t.Value
	if t.Kind == KindObjectInstance || t.Kind == KindMultipleResource {
		v = nil
		for _, c := range t.Children {
			v = AppendTLV(v, c)
		}
	}
	h := t.Kind << 6
	if t.ID > 255 {
		h |= 0x20
	}
	n := len(v)
	var lb []byte
	switch {
	case n < 8:
		h |= byte(n)
	case n < 1<<8:
		h |= 1 << 3
		lb = []byte{byte(n)}
	case n < 1<<16:
		h |= 2 << 3
		lb = []byte{byte(n >> 8), byte(n)}
	default:
		h |= 3 << 3
		lb = []byte{byte(n >> 16), byte(n >> 8), byte(n)}
	}
	dst = append(dst, h)
	if t.ID > 255 {
		dst = append(dst, byte(t.ID>>8), byte(t.ID))
	} else {
		dst = append(dst, byte(t.ID))
	}
	dst = append(dst, lb...)
	return append(dst, v...)
}

// attach returns base cut or zero-padded to n-1 ids, plus id.
func attach(base Path, n int, id uint16) Path {
	p := make(Path, 0, n)
	for i := 0; i < n-1; i++ {
		if i < len(base) {
			p = append(p, base[i])
		} else {
			p = append(p, 0)
		}
	}
	return append(p, id)
}

// DecodeTLV decodes a TLV payload read at base into records typed by types (raw guesses where
// the type is unknown).
func DecodeTLV(b []byte, base Path, types TypeResolver) ([]Record, error) {
	tlvs, err := ParseTLV(b)
	if err != nil {
		return nil, err
	}
	var out []Record
	var walk func(ts []TLV, prefix Path) error
	walk = func(ts []TLV, prefix Path) error {
		for _, t := range ts {
			switch t.Kind {
			case KindObjectInstance:
				if err := walk(t.Children, attach(prefix, 2, t.ID)); err != nil {
					return err
				}
			case KindMultipleResource:
				if err := walk(t.Children, attach(prefix, 3, t.ID)); err != nil {
					return err
				}
			case KindResource, KindResourceInstance:
				n := 3
				if t.Kind == KindResourceInstance {
					n = 4
				}
				p := attach(prefix, n, t.ID)
				v, err := DecodeValue(t.Value, resolve(types, p))
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				out = append(out, Record{Path: p, Value: v})
			}
		}
		return nil
	}
	if err := walk(tlvs, base); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeInt(b []byte) (int64, error) {
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
	return 0, fmt.Errorf("%w: integer of %d bytes", ErrTLV, len(b))
}

// DecodeValue decodes the binary (TLV) representation of one value of type t.
func DecodeValue(b []byte, t DataType) (any, error) {
	switch t {
	case TypeString, TypeCorelnk:
		return string(b), nil
	case TypeInteger, TypeTime:
		return decodeInt(b)
	case TypeUnsigned:
		switch len(b) {
		case 1, 2, 4, 8:
			var u uint64
			for _, c := range b {
				u = u<<8 | uint64(c)
			}
			return u, nil
		}
		return nil, fmt.Errorf("%w: unsigned of %d bytes", ErrTLV, len(b))
	case TypeFloat:
		switch len(b) {
		case 4:
			return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
		case 8:
			return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
		}
		return nil, fmt.Errorf("%w: float of %d bytes", ErrTLV, len(b))
	case TypeBoolean:
		if len(b) != 1 || b[0] > 1 {
			return nil, fmt.Errorf("%w: bad boolean", ErrTLV)
		}
		return b[0] == 1, nil
	case TypeOpaque:
		return append([]byte(nil), b...), nil
	case TypeObjlnk:
		if len(b) != 4 {
			return nil, fmt.Errorf("%w: objlnk of %d bytes", ErrTLV, len(b))
		}
		return ObjLnk{binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])}, nil
	case TypeNone:
		return "", nil
	}
	return guess(b), nil
}

// EncodeValue returns the binary (TLV) representation of v as type t (TypeUnknown: by v's Go type).
func EncodeValue(v any, t DataType) ([]byte, error) {
	if t == TypeUnknown || t == TypeNone {
		switch v.(type) {
		case string:
			t = TypeString
		case int64, int:
			t = TypeInteger
		case uint64:
			t = TypeUnsigned
		case float64:
			t = TypeFloat
		case bool:
			t = TypeBoolean
		case []byte:
			t = TypeOpaque
		case ObjLnk:
			t = TypeObjlnk
		default:
			return nil, fmt.Errorf("cannot encode %T", v)
		}
	}
	v, err := Coerce(v, t, false)
	if err != nil {
		if b, ok := v.([]byte); ok && t == TypeOpaque {
			return b, nil
		}
		return nil, err
	}
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case int64:
		switch {
		case x >= math.MinInt8 && x <= math.MaxInt8:
			return []byte{byte(x)}, nil
		case x >= math.MinInt16 && x <= math.MaxInt16:
			return binary.BigEndian.AppendUint16(nil, uint16(x)), nil
		case x >= math.MinInt32 && x <= math.MaxInt32:
			return binary.BigEndian.AppendUint32(nil, uint32(x)), nil
		}
		return binary.BigEndian.AppendUint64(nil, uint64(x)), nil
	case uint64:
		switch {
		case x <= math.MaxUint8:
			return []byte{byte(x)}, nil
		case x <= math.MaxUint16:
			return binary.BigEndian.AppendUint16(nil, uint16(x)), nil
		case x <= math.MaxUint32:
			return binary.BigEndian.AppendUint32(nil, uint32(x)), nil
		}
		return binary.BigEndian.AppendUint64(nil, x), nil
	case float64:
		if float64(float32(x)) == x {
			return binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(x))), nil
		}
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(x)), nil
	case bool:
		if x {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	case []byte:
		return x, nil
	case ObjLnk:
		return binary.BigEndian.AppendUint32(nil, uint32(x.Object)<<16|uint32(x.Instance)), nil
	}
	return nil, fmt.Errorf("cannot encode %T", v)
}

// EncodeTLV encodes records under base (an object, object instance or resource path) as TLV.
// Records deeper than base nest in object instance and multiple resource elements as needed;
// a record at /o/i/r/ri is always inside a multiple resource element.
func EncodeTLV(base Path, recs []Record, types TypeResolver) ([]byte, error) {
	type node struct {
		tlv  TLV
		kids map[uint16]*node
		ord  []uint16
	}
	root := &node{kids: map[uint16]*node{}}
	for _, r := range recs {
		if len(r.Path) < 3 || !r.Path.HasPrefix(base[:min(len(base), len(r.Path))]) {
			return nil, fmt.Errorf("record %s is not a resource under %s", r.Path, base)
		}
		v, err := EncodeValue(r.Value, resolve(types, r.Path))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Path, err)
		}
		start := len(base)
		if start > 2 {
			start = 2 // a resource path base still encodes the resource element itself
		}
		if len(r.Path) == 4 && start > 2 {
			start = 2
		}
		cur := root
		for d := start; d < len(r.Path); d++ {
			id := r.Path[d]
			k, ok := cur.kids[id]
			if !ok {
				var kind byte
				switch d {
				case 1:
					kind = KindObjectInstance
				case 2:
					kind = KindResource
					if len(r.Path) == 4 {
						kind = KindMultipleResource
					}
				case 3:
					kind = KindResourceInstance
				}
				k = &node{tlv: TLV{Kind: kind, ID: id}, kids: map[uint16]*node{}}
				cur.kids[id] = k
				cur.ord = append(cur.ord, id)
			}
			if d == len(r.Path)-1 {
				k.tlv.Value = v
			}
			cur = k
		}
	}
	var build func(n *node) []TLV
	build = func(n *node) []TLV {
		var out []TLV
		for _, id := range n.ord {
			k := n.kids[id]
			t := k.tlv
			if t.Kind == KindObjectInstance || t.Kind == KindMultipleResource {
				t.Children = build(k)
			}
			out = append(out, t)
		}
		return out
	}
	var b []byte
	for _, t := range build(root) {
		b = AppendTLV(b, t)
	}
	return b, nil
}

// formatNumber renders a number for plain text.
func formatNumber(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
