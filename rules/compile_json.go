package rules

import (
	"strconv"
	"unicode/utf8"
)

// Path extraction for the compiled path: instead of decoding a whole JSON
// payload into maps and lists, the host validates it in one scan that
// builds nothing and then decodes only the values at the paths the rule
// reads (payload.temp, payload.a.b, payload.list[2]). The values are
// exactly DecodeJSON's: the same parser decodes the extracted text, the
// validation accepts exactly what DecodeJSON accepts (so a payload that is
// not JSON still reads as an empty object), and a key present twice gives
// its last value, as a decoded map does.

// jsonValid reports whether DecodeJSON accepts s. When it does and s is an
// object, it also records, for each of keys (the first steps of the paths
// read), the span of the value of its last occurrence in spans (start,
// end; -1 when absent; two entries per key) and, for the keys whose
// decode entry is set (a path ends there), its value decoded in the same
// scan in vals.
func jsonValid(s string, keys []string, decode []bool, spans []int, vals []Value) bool {
	for i := range spans {
		spans[i] = -1
	}
	clear(vals)
	p := jsonParser{s: s}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '{' && len(keys) > 0 {
		if !p.scanObject(keys, decode, spans, vals) {
			return false
		}
	} else if !p.skip() {
		return false
	}
	p.ws()
	return p.i == len(p.s)
}

// skip validates and skips one value (DecodeJSON's value without building
// it).
func (p *jsonParser) skip() bool {
	p.ws()
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.skipObject()
	case c == '[':
		return p.skipArray()
	case c == '"':
		return p.skipStr()
	case c == 't':
		return p.skipLit("true")
	case c == 'f':
		return p.skipLit("false")
	case c == 'n':
		return p.skipLit("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.skipNumber()
	}
	return false
}

func (p *jsonParser) skipLit(word string) bool {
	if len(p.s)-p.i >= len(word) && p.s[p.i:p.i+len(word)] == word {
		p.i += len(word)
		return true
	}
	return false
}

// scanObject validates the object at p.i as skipObject does, recording
// the spans and values of keys (see jsonValid).
func (p *jsonParser) scanObject(keys []string, decode []bool, spans []int, vals []Value) bool {
	if p.enter() != nil {
		return false
	}
	p.i++ // {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		return true
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return false
		}
		ks := p.i
		if !p.skipStr() {
			return false
		}
		k := jsonKey(p.s, ks, p.i)
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return false
		}
		p.i++
		p.ws()
		vs := p.i
		j := -1
		for i, want := range keys {
			if k == want {
				j = i
				break
			}
		}
		if j >= 0 && decode[j] {
			v, err := p.value()
			if err != nil {
				return false
			}
			vals[j] = v
		} else if !p.skip() {
			return false
		}
		if j >= 0 {
			spans[2*j], spans[2*j+1] = vs, p.i
		}
		p.ws()
		if p.i >= len(p.s) {
			return false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return true
		default:
			return false
		}
	}
}

// skipObject validates and skips an object.
func (p *jsonParser) skipObject() bool {
	if p.enter() != nil {
		return false
	}
	p.i++ // {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		return true
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return false
		}
		if !p.skipStr() {
			return false
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return false
		}
		p.i++
		if !p.skip() {
			return false
		}
		p.ws()
		if p.i >= len(p.s) {
			return false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return true
		default:
			return false
		}
	}
}

func (p *jsonParser) skipArray() bool {
	if p.enter() != nil {
		return false
	}
	p.i++ // [
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.depth--
		return true
	}
	for {
		if !p.skip() {
			return false
		}
		p.ws()
		if p.i >= len(p.s) {
			return false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return true
		default:
			return false
		}
	}
}

// skipStr validates a string as rawStr and slowStr do: no control
// characters, valid escapes (invalid UTF-8 is not an error: it decodes to
// U+FFFD).
func (p *jsonParser) skipStr() bool {
	p.i++ // "
	s := p.s
	for p.i < len(s) {
		c := s[p.i]
		switch {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		case c != '\\':
			p.i++
			continue
		}
		p.i++
		if p.i >= len(s) {
			return false
		}
		e := s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			// A surrogate not followed by a valid pair decodes to U+FFFD
			// and the next escape is read on its own: every \u needs
			// four hex digits, nothing more.
			if _, ok := p.hex4(); !ok {
				return false
			}
		default:
			return false
		}
	}
	return false
}

// skipNumber validates a number as number does, without boxing it. It repeats
// number's scan rather than sharing a helper: the payload scan runs it for
// every number of every message, and the shared version (a call returning
// four results) cost the FOREACH benchmark 3-4 %.
func (p *jsonParser) skipNumber() bool {
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
		return false
	}
	isFloat, exp := false, false
	if p.i < len(s) && s[p.i] == '.' {
		p.i++
		isFloat = true
		if digits() == 0 {
			return false
		}
	}
	if p.i < len(s) && (s[p.i] == 'e' || s[p.i] == 'E') {
		p.i++
		isFloat, exp = true, true
		if p.i < len(s) && (s[p.i] == '+' || s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return false
		}
	}
	text := s[start:p.i]
	// Integers never fail (beyond int64 they become floats, below 10^309
	// without an exponent); floats without an exponent and under 300
	// characters are finite. Anything else is parsed as number does.
	if !exp && len(text) < 300 {
		return true
	}
	if !isFloat {
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			return true
		}
	}
	_, err := strconv.ParseFloat(text, 64)
	return err == nil
}

// jsonKey returns the decoded text of the valid JSON string s[start:end]
// (quotes included): a substring when it has no escapes and no bytes
// beyond ASCII.
func jsonKey(s string, start, end int) string {
	raw := s[start+1 : end-1]
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c == '\\' || c >= utf8.RuneSelf {
			p := jsonParser{s: s, i: start}
			k, _ := p.rawStr()
			return k
		}
	}
	return raw
}

// skipValid returns the end of the valid JSON value starting at s[i]
// (known valid: nothing is checked).
func skipValid(s string, i int) int {
	switch s[i] {
	case '"':
		return skipValidStr(s, i)
	case '{', '[':
		depth := 0
		for {
			switch s[i] {
			case '"':
				i = skipValidStr(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for i < len(s) {
		switch s[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// skipValidStr returns the end of the valid JSON string at s[i].
func skipValidStr(s string, i int) int {
	i++
	for {
		switch s[i] {
		case '"':
			return i + 1
		case '\\':
			i++
		}
		i++
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// membersSpans records in spans (two entries per key, -1 when absent) the
// value spans of the last members named keys of the valid object at s[i].
func membersSpans(s string, i int, keys []string, spans []int) {
	for j := range spans {
		spans[j] = -1
	}
	i++
	for {
		i = skipWS(s, i)
		if s[i] == '}' {
			return
		}
		ks := i
		ke := skipValidStr(s, i)
		i = skipWS(s, ke) + 1 // :
		i = skipWS(s, i)
		vs := i
		i = skipValid(s, i)
		if len(keys) > 0 {
			k := jsonKey(s, ks, ke)
			for j, want := range keys {
				if k == want {
					spans[2*j], spans[2*j+1] = vs, i
				}
			}
		}
		i = skipWS(s, i)
		if s[i] == '}' {
			return
		}
		i++ // ,
	}
}

// memberSpan finds the last member named key of the valid object at
// s[i], giving its value's span.
func memberSpan(s string, i int, key string) (int, int, bool) {
	var spans [2]int
	membersSpans(s, i, []string{key}, spans[:])
	return spans[0], spans[1], spans[0] >= 0
}

// elemSpans returns the spans of the elements of the valid array at s[i].
func elemSpans(s string, i int, spans []int) []int {
	i++
	for {
		i = skipWS(s, i)
		if s[i] == ']' {
			return spans
		}
		start := i
		i = skipValid(s, i)
		spans = append(spans, start, i)
		i = skipWS(s, i)
		if s[i] == ']' {
			return spans
		}
		i++ // ,
	}
}

// elemSpan finds element idx (1-based, negative from the end, as
// indexList) of the valid array at s[i].
func elemSpan(s string, i int, idx int64) (int, int, bool) {
	if idx > 0 {
		i++
		for n := int64(1); ; n++ {
			i = skipWS(s, i)
			if s[i] == ']' {
				return 0, 0, false
			}
			start := i
			i = skipValid(s, i)
			if n == idx {
				return start, i, true
			}
			i = skipWS(s, i)
			if s[i] == ']' {
				return 0, 0, false
			}
			i++ // ,
		}
	}
	var buf [32]int
	spans := elemSpans(s, i, buf[:0])
	n := int64(len(spans) / 2)
	if idx < 0 && -idx <= n {
		k := n + idx
		return spans[2*k], spans[2*k+1], true
	}
	return 0, 0, false
}

// extractSpan is extract without the final decoding: the span of the
// value the steps reach (ok false: undefined).
func extractSpan(s string, start, end int, steps []Step) (vs, ve int, ok, slow bool) {
	for i := range steps {
		st := &steps[i]
		switch s[start] {
		case '"':
			return 0, 0, false, true
		case '{':
			if st.IsIndex {
				return 0, 0, false, false
			}
			if start, end, ok = memberSpan(s, start, st.Key); !ok {
				return 0, 0, false, false
			}
		case '[':
			if !st.IsIndex {
				return 0, 0, false, false
			}
			if start, end, ok = elemSpan(s, start, st.Index); !ok {
				return 0, 0, false, false
			}
		default:
			return 0, 0, false, false
		}
	}
	return start, end, true, false
}

// extract reads the path steps (all static) from the valid JSON value
// s[start:end], as stepping through DecodeJSON's value would. slow is true
// when a step meets a string, which the evaluator would decode in turn (the
// caller leaves such a path to it).
func extract(s string, start, end int, steps []Step) (v Value, slow bool) {
	start, end, ok, slow := extractSpan(s, start, end, steps)
	if !ok {
		return nil, slow
	}
	p := jsonParser{s: s[start:end]}
	v, _ = p.value()
	return v, false
}

// stepStatic applies static steps to a value that needs no decoding, as
// Path.eval would; slow is true when a step meets a string (to decode).
func stepStatic(v Value, steps []Step) (Value, bool) {
	for i := range steps {
		if v == nil {
			return nil, false
		}
		st := &steps[i]
		switch x := v.(type) {
		case string:
			return nil, true
		case map[string]Value:
			if st.IsIndex {
				return nil, false
			}
			v = x[st.Key]
		case []Value:
			if !st.IsIndex {
				return nil, false
			}
			v = indexList(x, st.Index)
		default:
			return nil, false
		}
	}
	return v, false
}
