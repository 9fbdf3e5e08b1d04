package rules

import "math"

// A minimal encoder for the WebAssembly binary format (core spec 2.0,
// §5): LEB128 integers, names, sections and the opcodes the rule compiler
// emits. It is written here rather than taken from a library: it is small
// and the compiler needs only this much of it.

// Wasm value types.
const (
	wI32 byte = 0x7f
	wI64 byte = 0x7e
	wF64 byte = 0x7c
)

// Opcodes used by the compiler.
const (
	opBlock       byte = 0x02
	opLoop        byte = 0x03
	opIf          byte = 0x04
	opElse        byte = 0x05
	opEnd         byte = 0x0b
	opBr          byte = 0x0c
	opBrIf        byte = 0x0d
	opReturn      byte = 0x0f
	opCall        byte = 0x10
	opLocalGet    byte = 0x20
	opLocalSet    byte = 0x21
	opLocalTee    byte = 0x22
	opGlobalGet   byte = 0x23
	opGlobalSet   byte = 0x24
	opI32Load     byte = 0x28
	opI64Load     byte = 0x29
	opI32Store    byte = 0x36
	opI64Store    byte = 0x37
	opI32Const    byte = 0x41
	opI64Const    byte = 0x42
	opF64Const    byte = 0x44
	opI32Eqz      byte = 0x45
	opI32Eq       byte = 0x46
	opI32Ne       byte = 0x47
	opI32GtU      byte = 0x4b
	opI32GeS      byte = 0x4e
	opI32GeU      byte = 0x4f
	opI64Eqz      byte = 0x50
	opI64Eq       byte = 0x51
	opI64Ne       byte = 0x52
	opI64LtS      byte = 0x53
	opI64LtU      byte = 0x54
	opI64GtS      byte = 0x55
	opI64LeS      byte = 0x57
	opI64GeS      byte = 0x59
	opF64Eq       byte = 0x61
	opF64Ne       byte = 0x62
	opF64Lt       byte = 0x63
	opF64Gt       byte = 0x64
	opF64Le       byte = 0x65
	opF64Ge       byte = 0x66
	opI32Add      byte = 0x6a
	opI32Mul      byte = 0x6c
	opI32RemU     byte = 0x70
	opI32And      byte = 0x71
	opI32Or       byte = 0x72
	opI32Shl      byte = 0x74
	opI64Add      byte = 0x7c
	opI64Sub      byte = 0x7d
	opI64Mul      byte = 0x7e
	opI64DivS     byte = 0x7f
	opI64RemS     byte = 0x81
	opI64And      byte = 0x83
	opI64Xor      byte = 0x85
	opF64Add      byte = 0xa0
	opF64Sub      byte = 0xa1
	opF64Mul      byte = 0xa2
	opI64ExtI32U  byte = 0xad
	opF64FromI64S byte = 0xb9 // f64.convert_i64_s
	opI64FromF64  byte = 0xbd // i64.reinterpret_f64
	opF64FromI64  byte = 0xbf // f64.reinterpret_i64
	blockVoid     byte = 0x40
)

// wbuf is a growing byte buffer with the binary format's primitives.
type wbuf []byte

func (b *wbuf) byte1(c ...byte) { *b = append(*b, c...) }

// u32 writes an unsigned LEB128 integer.
func (b *wbuf) u32(v uint32) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		*b = append(*b, c)
		if v == 0 {
			return
		}
	}
}

// s64 writes a signed LEB128 integer (also used for i32 constants).
func (b *wbuf) s64(v int64) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		*b = append(*b, c)
		if done {
			return
		}
	}
}

func (b *wbuf) name(s string) {
	b.u32(uint32(len(s)))
	*b = append(*b, s...)
}

func (b *wbuf) f64(f float64) {
	u := math.Float64bits(f)
	for i := 0; i < 8; i++ {
		*b = append(*b, byte(u>>(8*i)))
	}
}

// section writes a section: its id, its size and its content.
func (b *wbuf) section(id byte, content wbuf) {
	b.byte1(id)
	b.u32(uint32(len(content)))
	*b = append(*b, content...)
}

// wfuncType is a function type.
type wfuncType struct{ params, results []byte }

func (b *wbuf) funcType(t wfuncType) {
	b.byte1(0x60)
	b.u32(uint32(len(t.params)))
	b.byte1(t.params...)
	b.u32(uint32(len(t.results)))
	b.byte1(t.results...)
}
