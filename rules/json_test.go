package rules

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
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
