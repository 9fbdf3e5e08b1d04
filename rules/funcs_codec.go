package rules

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math"
	"math/big"
	"strings"
)

// codecFuncs: base64, JSON, the [4.4] compression functions and Erlang's
// external term format. schema_encode/schema_decode need the schema
// registry (broker state) and are not built in.
var codecFuncs = []Builtin{
	str1("base64_encode", func(s string) (Value, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
	str1("base64_decode", func(s string) (Value, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, evalErr("base64_decode: %v", err)
		}
		return string(b), nil
	}),
	fn1("json_encode", func(a Value) (Value, error) { return string(EncodeJSON(a)), nil }),
	str1("json_decode", func(s string) (Value, error) {
		v, err := DecodeJSON(s)
		if err != nil {
			return nil, evalErr("json_decode: %v", err)
		}
		return v, nil
	}),
	str1("gzip", func(s string) (Value, error) {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		return compress(&b, w, s)
	}),
	str1("gunzip", func(s string) (Value, error) {
		r, err := gzip.NewReader(strings.NewReader(s))
		if err != nil {
			return nil, evalErr("gunzip: %v", err)
		}
		return decompress("gunzip", r)
	}),
	str1("zip", func(s string) (Value, error) {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.DefaultCompression)
		return compress(&b, w, s)
	}),
	str1("unzip", func(s string) (Value, error) {
		return decompress("unzip", flate.NewReader(strings.NewReader(s)))
	}),
	str1("zip_compress", func(s string) (Value, error) {
		var b bytes.Buffer
		return compress(&b, zlib.NewWriter(&b), s)
	}),
	str1("zip_uncompress", func(s string) (Value, error) {
		r, err := zlib.NewReader(strings.NewReader(s))
		if err != nil {
			return nil, evalErr("zip_uncompress: %v", err)
		}
		return decompress("zip_uncompress", r)
	}),
	fn1("term_encode", func(a Value) (Value, error) {
		b, err := appendTerm([]byte{131}, a, 0)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}),
	str1("term_decode", func(s string) (Value, error) {
		if len(s) == 0 || s[0] != 131 {
			return nil, evalErr("term_decode: not an Erlang external term")
		}
		d := termDecoder{s: s, i: 1}
		v, err := d.term(0)
		if err != nil {
			return nil, err
		}
		if d.i != len(s) {
			return nil, evalErr("term_decode: trailing bytes")
		}
		return v, nil
	}),
}

func compress(b *bytes.Buffer, w io.WriteCloser, s string) (Value, error) {
	if _, err := io.WriteString(w, s); err != nil {
		return nil, evalErr("compress: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, evalErr("compress: %v", err)
	}
	return b.String(), nil
}

// maxInflated bounds decompressed output (a defence against zip bombs).
const maxInflated = 16 << 20

func decompress(fn string, r io.Reader) (Value, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return nil, evalErr("%s: %v", fn, err)
	}
	if len(b) > maxInflated {
		return nil, evalErr("%s: output larger than %d bytes", fn, maxInflated)
	}
	return string(b), nil
}

// Erlang external term format tags.
const (
	etfNewFloat   = 70
	etfSmallInt   = 97
	etfInt        = 98
	etfAtom       = 100
	etfNil        = 106
	etfString     = 107
	etfList       = 108
	etfBinary     = 109
	etfSmallBig   = 110
	etfSmallAtom  = 115
	etfMap        = 116
	etfAtomUTF8   = 118
	etfSmallAtomU = 119
)

func appendAtom(b []byte, name string) []byte {
	return append(append(b, etfSmallAtomU, byte(len(name))), name...)
}

func appendTerm(b []byte, v Value, depth int) ([]byte, error) {
	if depth > 1000 {
		return nil, evalErr("term_encode: value nested too deeply")
	}
	switch x := v.(type) {
	case nil, NullType, bool:
		return appendAtom(b, atomText(x)), nil
	case int64:
		switch {
		case x >= 0 && x <= 255:
			return append(b, etfSmallInt, byte(x)), nil
		case x >= math.MinInt32 && x <= math.MaxInt32:
			return binary.BigEndian.AppendUint32(append(b, etfInt), uint32(int32(x))), nil
		}
		sign, mag := byte(0), uint64(x)
		if x < 0 {
			sign, mag = 1, uint64(-x) // -MinInt64 wraps to 1<<63, its magnitude
		}
		var digits []byte
		for mag > 0 {
			digits = append(digits, byte(mag))
			mag >>= 8
		}
		b = append(b, etfSmallBig, byte(len(digits)), sign)
		return append(b, digits...), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, etfNewFloat), math.Float64bits(x)), nil
	case string:
		b = binary.BigEndian.AppendUint32(append(b, etfBinary), uint32(len(x)))
		return append(b, x...), nil
	case []Value:
		if len(x) == 0 {
			return append(b, etfNil), nil
		}
		b = binary.BigEndian.AppendUint32(append(b, etfList), uint32(len(x)))
		var err error
		for _, e := range x {
			if b, err = appendTerm(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, etfNil), nil
	case map[string]Value:
		b = binary.BigEndian.AppendUint32(append(b, etfMap), uint32(len(x)))
		var err error
		for _, k := range sortedKeys(x) {
			b = binary.BigEndian.AppendUint32(append(b, etfBinary), uint32(len(k)))
			b = append(b, k...)
			if b, err = appendTerm(b, x[k], depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, badArg("term_encode", v, "a value")
}

type termDecoder struct {
	s string
	i int
}

func (d *termDecoder) take(n int) (string, error) {
	if n < 0 || n > len(d.s)-d.i {
		return "", evalErr("term_decode: truncated term")
	}
	s := d.s[d.i : d.i+n]
	d.i += n
	return s, nil
}

func (d *termDecoder) u8() (int, error) {
	s, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return int(s[0]), nil
}

func (d *termDecoder) u16() (int, error) {
	s, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16([]byte(s))), nil
}

func (d *termDecoder) u32() (int, error) {
	s, err := d.take(4)
	if err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32([]byte(s))
	if int64(n) > int64(len(d.s)) {
		return 0, evalErr("term_decode: length %d beyond the input", n)
	}
	return int(n), nil
}

func atomValue(name string) Value {
	switch name {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return Null
	case "undefined":
		return nil
	}
	return name
}

func (d *termDecoder) term(depth int) (Value, error) {
	if depth > 1000 {
		return nil, evalErr("term_decode: term nested too deeply")
	}
	tag, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch tag {
	case etfSmallInt:
		n, err := d.u8()
		return int64(n), err
	case etfInt:
		n, err := d.u32raw()
		return int64(int32(n)), err
	case etfSmallBig:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		sign, err := d.u8()
		if err != nil {
			return nil, err
		}
		digits, err := d.take(n)
		if err != nil {
			return nil, err
		}
		mag := new(big.Int)
		for i := len(digits) - 1; i >= 0; i-- {
			mag.Lsh(mag, 8)
			mag.Or(mag, big.NewInt(int64(digits[i])))
		}
		if sign != 0 {
			mag.Neg(mag)
		}
		if !mag.IsInt64() {
			return nil, evalErr("term_decode: integer does not fit 64 bits")
		}
		return mag.Int64(), nil
	case etfNewFloat:
		s, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return checkFloat(math.Float64frombits(binary.BigEndian.Uint64([]byte(s))))
	case etfAtom, etfAtomUTF8:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		s, err := d.take(n)
		return atomValue(s), err
	case etfSmallAtom, etfSmallAtomU:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		s, err := d.take(n)
		return atomValue(s), err
	case etfBinary:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.take(n)
	case etfNil:
		return []Value{}, nil
	case etfString:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		s, err := d.take(n)
		if err != nil {
			return nil, err
		}
		out := make([]Value, len(s))
		for i := 0; i < len(s); i++ {
			out[i] = int64(s[i])
		}
		return out, nil
	case etfList:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		out := make([]Value, 0, min(n, 1024))
		for range n {
			v, err := d.term(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		tail, err := d.u8()
		if err != nil {
			return nil, err
		}
		if tail != etfNil {
			return nil, evalErr("term_decode: improper lists are not supported")
		}
		return out, nil
	case etfMap:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		out := make(map[string]Value, min(n, 1024))
		for range n {
			k, err := d.term(depth + 1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, evalErr("term_decode: map keys must be binaries, got %s", KindOf(k))
			}
			v, err := d.term(depth + 1)
			if err != nil {
				return nil, err
			}
			out[ks] = v
		}
		return out, nil
	}
	return nil, evalErr("term_decode: unsupported term tag %d", tag)
}

func (d *termDecoder) u32raw() (uint32, error) {
	s, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32([]byte(s)), nil
}
