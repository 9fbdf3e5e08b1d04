package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// refDecodeJSON is the reference DecodeJSON must agree with: encoding/json
// with UseNumber, converted to the Value model.
func refDecodeJSON(text string) (Value, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data")
	}
	return refConvert(x)
}

func refConvert(x any) (Value, error) {
	switch v := x.(type) {
	case nil:
		return Null, nil
	case json.Number:
		s := string(v)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errors.New("out of range")
		}
		return f, nil
	case map[string]any:
		for k, e := range v {
			c, err := refConvert(e)
			if err != nil {
				return nil, err
			}
			v[k] = c
		}
		return v, nil
	case []any:
		for i, e := range v {
			c, err := refConvert(e)
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
		return v, nil
	}
	return x, nil
}

func checkDecodeAgrees(t *testing.T, text string) {
	got, err := DecodeJSON(text)
	want, werr := refDecodeJSON(text)
	if (err == nil) != (werr == nil) {
		t.Fatalf("DecodeJSON(%q) error %v, encoding/json error %v", text, err, werr)
	}
	if err == nil && !exactEqual(got, want) {
		t.Fatalf("DecodeJSON(%q) = %#v, encoding/json gives %#v", text, got, want)
	}
}

var jsonSeeds = []string{
	`[999999999999999999, -999999999999999999, 9223372036854775807, -9223372036854775808, 9223372036854775808, -0, 0, 7, -12]`,
	`{"a": [1, 2.5, -0, -0.0, 1e3, 1E-2, 12345678901234567890, true, false, null, "x"]}`,
	`"\u00e9\ud83d\ude00\ud800\u0041\n\t\"\\\/"`, `"\ud800\ud800"`, "\"\xff\xfe\"", `"é"`,
	` [ ] `, `{}`, `{"a":1,"a":2}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `[1,]`, `{"a"}`, `{"a":1,}`,
	`"a` + "\x01" + `"`, `"\x"`, `"\u12"`, `tru`, `nul`, `1 2`, ``, `  `, `1e400`, `-1e400`,
	`[[[[[]]]]]`, `{"k": {"k": {"k": "v"}}}`, `"\u0000"`, "\"\u2028\"",
}

func TestDecodeJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkDecodeAgrees(t, s)
	}
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	if _, err := DecodeJSON(deep); err == nil {
		t.Error("DecodeJSON accepted a document nested too deeply")
	}
}

// FuzzDecodeJSON checks DecodeJSON against encoding/json on any input.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkDecodeAgrees(t, s) })
}

// BenchmarkDecodeJSON compares DecodeJSON with encoding/json decoding into
// interfaces (and converting to the value model), on the benchmarks' payload.
func BenchmarkDecodeJSON(b *testing.B) {
	payload := benchColumns()["payload"].(string)
	b.Run("rules", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeJSON(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := refDecodeJSON(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// refEncodeJSON is EncodeJSON as it was before it remembered key orders and
// copied runs of plain bytes: the keys of every map collected and sorted, and
// strings escaped byte by byte.
func refEncodeJSON(b []byte, v Value) []byte {
	switch x := v.(type) {
	case map[string]Value:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		first := true
		for _, k := range keys {
			if x[k] == nil {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = refEncodeJSON(b, k)
			b = append(b, ':')
			b = refEncodeJSON(b, x[k])
		}
		return append(b, '}')
	case []Value:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = refEncodeJSON(b, e)
		}
		return append(b, ']')
	case string:
		b = append(b, '"')
		for i := 0; i < len(x); {
			c := x[i]
			if c < utf8.RuneSelf {
				switch {
				case c == '"' || c == '\\':
					b = append(b, '\\', c)
				case c == '\n':
					b = append(b, '\\', 'n')
				case c == '\r':
					b = append(b, '\\', 'r')
				case c == '\t':
					b = append(b, '\\', 't')
				case c < 0x20 || c == 0x7f:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				default:
					b = append(b, c)
				}
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(x[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, x[i:i+size]...)
			}
			i += size
		}
		return append(b, '"')
	}
	return append(b, EncodeJSON(v)...)
}

// TestEncodeJSONKeyOrder checks EncodeJSON against refEncodeJSON on maps of
// the same sizes with different keys, in turn (the remembered key order of a
// size must never be applied to another map's keys), and on strings that
// need escapes in every position.
func TestEncodeJSONKeyOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "a", "ab\"c", "x\\", "\n", "é", "\xff", "a\x01b", "\x7f", "plain text", "\"", "日本\t語", "z\xe2\x82",
		"~}", " !#[]", "\x1f", "\x80", "\xc3", "0123456", "\U0001F600"}
	pick := func() string {
		// Up to a few dozen bytes: the words of eight bytes see every escape at every offset.
		var b strings.Builder
		for range 1 + rnd.IntN(8) {
			b.WriteString(strs[rnd.IntN(len(strs))])
		}
		return b.String()
	}
	var gen func(depth int) Value
	gen = func(depth int) Value {
		switch k := rnd.IntN(8); {
		case k == 0 && depth < 3:
			n := rnd.IntN(maxOrderKeys + 4)
			m := make(map[string]Value, n)
			for len(m) < n {
				m[fmt.Sprint("k", rnd.IntN(40))] = gen(depth + 1)
			}
			return m
		case k == 1 && depth < 3:
			return []Value{gen(depth + 1), gen(depth + 1)}
		case k == 2:
			return nil
		case k == 3:
			return int64(rnd.IntN(100))
		case k == 4:
			return rnd.Float64()
		}
		return pick()
	}
	for i := 0; i < 20000; i++ {
		v := gen(0)
		if i%3 == 0 {
			// Same size as the map before, different keys.
			v = map[string]Value{"a": pick(), fmt.Sprint("b", i%5): int64(i), "c": nil}
		}
		got, want := string(EncodeJSON(v)), string(refEncodeJSON(nil, v))
		if got != want {
			t.Fatalf("EncodeJSON(%#v)\n got %s\nwant %s", v, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("invalid JSON %s", got)
		}
	}
}

// BenchmarkEncodeJSON encodes a SELECT * output of a publish (the
// republish action's payload with an empty template).
func BenchmarkEncodeJSON(b *testing.B) {
	m := map[string]Value{
		"clientid":            "c1",
		"event":               "message.publish",
		"flags":               map[string]Value{"dup": false, "retain": false},
		"headers":             map[string]Value{"peerhost": "127.0.0.1", "proto_ver": int64(4), "protocol": "MQTT", "username": "u1"},
		"id":                  "8f1b2c3d4e5f60718f1b2c3d4e5f6071",
		"metadata":            map[string]Value{"rule_id": "filter"},
		"node":                "wedge@localhost",
		"payload":             `{"temperature":71,"ts":123456789012}`,
		"peerhost":            "127.0.0.1",
		"pub_props":           map[string]Value{},
		"publish_received_at": int64(1700000000123),
		"qos":                 int64(0),
		"timestamp":           int64(1700000000123),
		"topic":               "t/1",
		"username":            "u1",
	}
	b.ReportAllocs()
	for b.Loop() {
		EncodeJSON(m)
	}
}

// TestEncodeJSONConcurrent: goroutines encoding maps of one size with
// different keys at once all get their own keys' order.
func TestEncodeJSONConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				m := map[string]Value{fmt.Sprint("k", g): int64(i), fmt.Sprint("j", i%7): "x", "a": true}
				if got, want := string(EncodeJSON(m)), string(refEncodeJSON(nil, m)); got != want {
					t.Errorf("got %s, want %s", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestNeedsLook: a word with a byte that needs a look is never passed over.
func TestNeedsLook(t *testing.T) {
	look := func(c byte) bool { return c >= utf8.RuneSelf || !jsonSafe[c] }
	word := func(bs [8]byte) uint64 {
		var w uint64
		for i, c := range bs {
			w |= uint64(c) << (8 * i)
		}
		return w
	}
	for pos := range 8 {
		for c := range 256 {
			bs := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			bs[pos] = byte(c)
			if got := needsLook(word(bs)); got != look(byte(c)) {
				t.Fatalf("byte %#x at %d: needsLook %v", c, pos, got)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var bs [8]byte
		bad := false
		for i := range bs {
			bs[i] = byte(rnd.IntN(256))
			if rnd.IntN(3) > 0 {
				bs[i] = byte(0x20 + rnd.IntN(0x5f))
			}
			bad = bad || look(bs[i])
		}
		if bad && !needsLook(word(bs)) {
			t.Fatalf("%q passed over", bs[:])
		}
	}
}
