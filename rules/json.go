package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeJSON decodes one JSON document into the Value model: integers become
// int64, numbers with a fraction or exponent float64 (integers beyond int64
// become float64), null becomes Null. Strings without escapes share memory
// with text. It accepts exactly what encoding/json accepts (invalid UTF-8 in
// strings becomes U+FFFD), checked by FuzzDecodeJSON.
func DecodeJSON(text string) (Value, error) {
	p := jsonParser{s: text}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, p.fail("trailing data after the document")
	}
	return v, nil
}

// DecodeColumns decodes a JSON object (a rule test context) into Columns,
// exactly as given.
func DecodeColumns(text string) (Columns, error) {
	v, err := DecodeJSON(text)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]Value)
	if !ok {
		return nil, fmt.Errorf("decode columns: want a JSON object, got %s", KindOf(v))
	}
	return Columns(m), nil
}

// EncodeJSON encodes v as compact JSON with map keys in byte order. Integers
// print without a dot, floats always with one (4.0). Undefined prints as null
// at the top level and inside arrays, and map entries whose value is
// undefined are left out.
func EncodeJSON(v Value) []byte {
	p := encodeBufs.Get().(*[]byte)
	b := appendJSON((*p)[:0], v)
	out := make([]byte, len(b))
	copy(out, b)
	if cap(b) <= 64<<10 {
		*p = b
		encodeBufs.Put(p)
	}
	return out
}

// encodeBufs are EncodeJSON's scratch buffers: encoding into a buffer of
// the right size and copying the result out costs less than growing a new
// one from nothing.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func appendJSON(b []byte, v Value) []byte {
	switch x := v.(type) {
	case nil, NullType:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
		return append(b, formatFloatJSON(x)...)
	case string:
		return appendJSONString(b, x)
	case []Value:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case map[string]Value:
		return appendJSONMap(b, x)
	case Columns:
		return appendJSON(b, map[string]Value(x))
	}
	return appendJSON(b, Normalize(v))
}

// maxOrderKeys bounds the size of the maps whose key order keyOrders
// remembers.
const maxOrderKeys = 32

// keyOrder is the sorted key list of one map shape, with each key encoded
// as a JSON string followed by ':'. Never modified once made.
type keyOrder struct {
	keys    []string
	encoded []string
}

// keyOrders holds, for each map size up to maxOrderKeys, the key order of
// the last map of that size appendJSONMap sorted. A rule encodes maps of the
// same shape over and over (its output, the input columns, headers):
// checking that a map holds exactly these keys (one lookup each) costs less
// than collecting and sorting them, and gives the same order.
var keyOrders [maxOrderKeys + 1]atomic.Pointer[keyOrder]

// appendJSONMap encodes a map with its keys in byte order, leaving out the
// entries whose value is undefined.
func appendJSONMap(b []byte, m map[string]Value) []byte {
	n := len(m)
	if n == 0 {
		return append(b, "{}"...)
	}
	if n == 1 {
		b = append(b, '{')
		for k, v := range m {
			if v != nil {
				b = appendJSONString(b, k)
				b = append(b, ':')
				b = appendJSON(b, v)
			}
		}
		return append(b, '}')
	}
	if n <= maxOrderKeys {
		if ko := keyOrders[n].Load(); ko != nil {
			if out, ok := appendJSONKnownOrder(b, m, ko); ok {
				return out
			}
		}
	}
	keys := make([]string, 0, n)
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if n <= maxOrderKeys {
		var enc []byte
		ends := make([]int, n)
		for i, k := range keys {
			enc = append(appendJSONString(enc, k), ':')
			ends[i] = len(enc)
		}
		all := string(enc)
		ko := &keyOrder{keys: keys, encoded: make([]string, n)}
		for i, start := range ends {
			if i > 0 {
				start = ends[i-1]
			} else {
				start = 0
			}
			ko.encoded[i] = all[start:ends[i]]
		}
		keyOrders[n].Store(ko)
	}
	b = append(b, '{')
	first := true
	for _, k := range keys {
		v := m[k]
		if v == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSON(b, v)
	}
	return append(b, '}')
}

// appendJSONKnownOrder encodes m in the order of ko if m holds exactly its
// keys (as many as m has entries; they are distinct); it reports false,
// having appended nothing, if it does not.
func appendJSONKnownOrder(b []byte, m map[string]Value, ko *keyOrder) ([]byte, bool) {
	var vals [maxOrderKeys]Value
	for i, k := range ko.keys {
		v, ok := m[k]
		if !ok {
			return b, false
		}
		vals[i] = v
	}
	b = append(b, '{')
	first := true
	for i, v := range vals[:len(ko.keys)] {
		if v == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, ko.encoded[i]...)
		b = appendJSON(b, v)
	}
	return append(b, '}'), true
}

const hexDigits = "0123456789abcdef"

// jsonSafe tells the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != 0x7f
	}
	return t
}()

// needsLook reports whether one of the eight bytes of w may need an escape
// or UTF-8 checking: below 0x20, '"', '\\', or 0x7f and above. It may say
// yes for a clean word (a borrow or carry from a byte that does need a
// look), never no for one that is not.
func needsLook(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := (w - 0x20*ones) &^ w
	q := w ^ ('"' * ones)
	quote := (q - ones) &^ q
	bs := w ^ ('\\' * ones)
	backslash := (bs - ones) &^ bs
	high := w | (w + ones) // 0x7f and up
	return (ctl|quote|backslash|high)&highs != 0
}

// appendJSONString appends s as a JSON string: runs of bytes that need no
// escape are copied at once.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			// Eight bytes at a time while none needs a look: no control
			// character, '"', '\\', DEL or non-ASCII byte.
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if !needsLook(w) {
				i += 8
				continue
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default: // control characters and DEL
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// maxJSONDepth is the nesting limit of DecodeJSON (encoding/json's).
const maxJSONDepth = 10000

// jsonParser is a small strict JSON parser producing Values directly, faster
// than encoding/json into interfaces (see BenchmarkDecodeJSON).
type jsonParser struct {
	s     string
	i     int
	depth int
}

func (p *jsonParser) fail(msg string) error {
	return fmt.Errorf("decode json: %s at offset %d", msg, p.i)
}

func (p *jsonParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (Value, error) {
	p.ws()
	if p.i >= len(p.s) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", Null)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, p.fail(fmt.Sprintf("unexpected character %q", p.s[p.i]))
}

func (p *jsonParser) literal(word string, v Value) (Value, error) {
	if len(p.s)-p.i >= len(word) && p.s[p.i:p.i+len(word)] == word {
		p.i += len(word)
		return v, nil
	}
	return nil, p.fail("invalid literal")
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.fail("document nested too deeply")
	}
	return nil
}

func (p *jsonParser) object() (Value, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++ // {
	m := make(map[string]Value)
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		return m, nil
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.fail("expected a string key")
		}
		k, err := p.rawStr()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		p.ws()
		if p.i >= len(p.s) {
			return nil, p.fail("unexpected end of input")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return m, nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

func (p *jsonParser) array() (Value, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++ // [
	l := []Value{}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.depth--
		return l, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		l = append(l, v)
		p.ws()
		if p.i >= len(p.s) {
			return nil, p.fail("unexpected end of input")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return l, nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}

func (p *jsonParser) number() (Value, error) {
	start := p.i
	s := p.s
	if s[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(s) && s[p.i] >= '0' && s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	switch {
	case p.i < len(s) && s[p.i] == '0':
		p.i++
	case digits() == 0:
		return nil, p.fail("invalid number")
	}
	isFloat := false
	if p.i < len(s) && s[p.i] == '.' {
		p.i++
		isFloat = true
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	if p.i < len(s) && (s[p.i] == 'e' || s[p.i] == 'E') {
		p.i++
		isFloat = true
		if p.i < len(s) && (s[p.i] == '+' || s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	text := s[start:p.i]
	if !isFloat {
		if digits := text; len(digits) <= 18 || len(digits) == 19 && digits[0] == '-' {
			// At most 18 digits: no overflow, no need for ParseInt.
			neg := digits[0] == '-'
			if neg {
				digits = digits[1:]
			}
			var n int64
			for i := 0; i < len(digits); i++ {
				n = n*10 + int64(digits[i]-'0')
			}
			if neg {
				n = -n
			}
			return n, nil
		}
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, p.fail("number " + text + " out of range")
	}
	return f, nil
}

// str reads a string value.
func (p *jsonParser) str() (Value, error) {
	s, err := p.rawStr()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// rawStr reads a string; without escapes or invalid UTF-8 it is a
// substring.
func (p *jsonParser) rawStr() (string, error) {
	p.i++ // "
	start := p.i
	s := p.s
	for p.i < len(s) {
		c := s[p.i]
		switch {
		case c == '"':
			p.i++
			return s[start : p.i-1], nil
		case c == '\\' || c >= utf8.RuneSelf:
			return p.slowStr(start)
		case c < 0x20:
			return "", p.fail("control character in string")
		}
		p.i++
	}
	return "", p.fail("unterminated string")
}

func (p *jsonParser) slowStr(start int) (string, error) {
	s := p.s
	b := []byte(s[start:p.i])
	for p.i < len(s) {
		c := s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[p.i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[p.i:p.i+size]...)
			}
			p.i += size
			continue
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(s) {
			break
		}
		e := s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A valid pair makes one rune; anything else is U+FFFD.
				save := p.i
				if p.i+1 < len(s) && s[p.i] == '\\' && s[p.i+1] == 'u' {
					p.i += 2
					if r2, ok := p.hex4(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							continue
						}
					}
				}
				p.i = save
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", p.fail("invalid escape")
		}
	}
	return "", p.fail("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}
