package rules

import (
	"encoding/binary"
	"math"
)

// bitsFuncs: integer bit operations and [4.4] binary parsing.
var bitsFuncs = []Builtin{
	fn1("bitnot", func(a Value) (Value, error) {
		x, err := argInt("bitnot", a)
		return ^x, err
	}),
	bitOp2("bitand", func(x, y int64) (int64, error) { return x & y, nil }),
	bitOp2("bitor", func(x, y int64) (int64, error) { return x | y, nil }),
	bitOp2("bitxor", func(x, y int64) (int64, error) { return x ^ y, nil }),
	bitOp2("bitsl", shiftLeft),
	bitOp2("bitsr", func(x, n int64) (int64, error) {
		if n < 0 {
			if n == math.MinInt64 {
				return 0, overflow("bitsr")
			}
			return shiftLeft(x, -n)
		}
		return shiftRight(x, n), nil
	}),
	fn1("bitsize", func(a Value) (Value, error) {
		s, err := argStr("bitsize", a)
		return int64(len(s)) * 8, err
	}),
	fnN("subbits", 2, 6, subbits),
}

func bitOp2(name string, f func(x, y int64) (int64, error)) Builtin {
	return fn2(name, func(a, b Value) (Value, error) {
		x, err := argInt(name, a)
		if err != nil {
			return nil, err
		}
		y, err := argInt(name, b)
		if err != nil {
			return nil, err
		}
		r, err := f(x, y)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
}

func shiftRight(x, n int64) int64 {
	if n >= 63 {
		if x < 0 {
			return -1
		}
		return 0
	}
	return x >> uint(n)
}

// shiftLeft is Erlang's bsl limited to int64: a result that does not fit is
// an error.
func shiftLeft(x, n int64) (int64, error) {
	if n < 0 {
		if n == math.MinInt64 {
			return 0, overflow("bitsl")
		}
		return shiftRight(x, -n), nil
	}
	if x == 0 {
		return 0, nil
	}
	if n >= 63 {
		return 0, overflow("bitsl")
	}
	r := x << uint(n)
	if r>>uint(n) != x {
		return 0, overflow("bitsl")
	}
	return r, nil
}

// subbits(bin, len), subbits(bin, start, len) and subbits(bin, start, len,
// type, signedness, endianness): start is a 1-based bit position; type is
// 'integer' (default), 'float' or 'bits'; signedness 'unsigned' (default)
// or 'signed'; endianness 'big' (default) or 'little'. Bits beyond the end
// give undefined.
func subbits(a []Value) (Value, error) {
	const fn = "subbits"
	if len(a) == 4 || len(a) == 5 {
		return nil, evalErr("subbits takes 2, 3 or 6 arguments, got %d", len(a))
	}
	bin, err := argStr(fn, a[0])
	if err != nil {
		return nil, err
	}
	start, length := int64(1), int64(0)
	if len(a) == 2 {
		if length, err = argInt(fn, a[1]); err != nil {
			return nil, err
		}
	} else {
		if start, err = argInt(fn, a[1]); err != nil {
			return nil, err
		}
		if length, err = argInt(fn, a[2]); err != nil {
			return nil, err
		}
	}
	typ, sign, endian := "integer", "unsigned", "big"
	if len(a) == 6 {
		for i, p := range []*string{&typ, &sign, &endian} {
			if *p, err = argStr(fn, a[3+i]); err != nil {
				return nil, err
			}
		}
	}
	if start < 1 || length < 0 {
		return nil, evalErr("subbits: invalid start %d or length %d", start, length)
	}
	total := int64(len(bin)) * 8
	if start-1 > total || length > total-(start-1) {
		return nil, nil
	}
	switch typ {
	case "bits":
		if length%8 != 0 {
			return nil, evalErr("subbits: 'bits' needs a length that is a multiple of 8")
		}
		out := make([]byte, length/8)
		for i := range out {
			out[i] = byte(readBits(bin, start-1+int64(i)*8, 8))
		}
		return string(out), nil
	case "integer", "float":
	default:
		return nil, evalErr("subbits: unknown type %q (integer, float or bits)", typ)
	}
	if sign != "signed" && sign != "unsigned" {
		return nil, evalErr("subbits: unknown signedness %q", sign)
	}
	if endian != "big" && endian != "little" {
		return nil, evalErr("subbits: unknown endianness %q", endian)
	}
	if length > 64 {
		return nil, evalErr("subbits: %d bits do not fit a 64-bit number", length)
	}
	u := readBits(bin, start-1, length)
	if endian == "little" {
		if length%8 != 0 {
			return nil, evalErr("subbits: little-endian needs a length that is a multiple of 8")
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], u<<(64-uint(length)))
		n := length / 8
		for i := int64(0); i < n/2; i++ {
			buf[i], buf[n-1-i] = buf[n-1-i], buf[i]
		}
		if length > 0 {
			u = binary.BigEndian.Uint64(buf[:]) >> (64 - uint(length))
		}
	}
	if typ == "float" {
		switch length {
		case 32:
			return checkFloat(float64(math.Float32frombits(uint32(u))))
		case 64:
			return checkFloat(math.Float64frombits(u))
		}
		return nil, evalErr("subbits: a float needs 32 or 64 bits, got %d", length)
	}
	if sign == "signed" && length > 0 {
		if length < 64 && u&(1<<(uint(length)-1)) != 0 {
			return int64(u) - int64(1)<<uint(length), nil
		}
		return int64(u), nil
	}
	if u > math.MaxInt64 {
		return nil, evalErr("subbits: unsigned value does not fit a 64-bit integer")
	}
	return int64(u), nil
}

// readBits reads n (≤ 64) bits starting at bit off (0-based, big-endian).
func readBits(s string, off, n int64) uint64 {
	var u uint64
	for i := int64(0); i < n; i++ {
		bit := off + i
		b := s[bit/8] >> (7 - uint(bit%8)) & 1
		u = u<<1 | uint64(b)
	}
	return u
}
