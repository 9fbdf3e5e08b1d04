package codec

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// stable reports whether records can be compared after a round trip (no NaN or infinity).
func stable(recs []Record) bool {
	for _, r := range recs {
		if f, ok := r.Value.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return false
		}
	}
	return true
}

// FuzzTLV: parsing never panics, and the canonical re-encoding of what parses is a fixed point.
func FuzzTLV(f *testing.F) {
	f.Add(append([]byte{0xc8, 0x02, 0x09}, "345000123"...))
	f.Add([]byte{0x08, 0x00, 0x0b, 0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05, 0xc1, 0x09, 0x64})
	f.Add([]byte{0xe1, 0x01, 0x2c, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		tlvs, err := ParseTLV(b)
		if err != nil {
			return
		}
		var enc1 []byte
		for _, x := range tlvs {
			enc1 = AppendTLV(enc1, x)
		}
		again, err := ParseTLV(enc1)
		if err != nil {
			t.Fatalf("re-encoding does not parse: %v", err)
		}
		var enc2 []byte
		for _, x := range again {
			enc2 = AppendTLV(enc2, x)
		}
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("not a fixed point:\n% x\n% x", enc1, enc2)
		}
		_, _ = DecodeTLV(b, Path{3}, nil)
		_, _ = DecodeTLV(b, Path{3, 0, 6}, func(Path) DataType { return TypeInteger })
	})
}

func roundTrip(t *testing.T, name string, recs []Record, enc func(Path, []Record, TypeResolver) ([]byte, error),
	dec func([]byte, TypeResolver) ([]Record, error)) {
	if !stable(recs) {
		return
	}
	b, err := enc(Path{}, recs, nil)
	if err != nil {
		t.Fatalf("%s: cannot re-encode %v: %v", name, recs, err)
	}
	back, err := dec(b, nil)
	if err != nil {
		t.Fatalf("%s: re-encoding does not decode: %v\n%s", name, err, b)
	}
	if !reflect.DeepEqual(fmt.Sprintf("%#v", back), fmt.Sprintf("%#v", recs)) {
		t.Fatalf("%s: round trip changed the records:\n%#v\n%#v", name, recs, back)
	}
}

// FuzzLwM2MJSON: OMA LwM2M JSON decoding never panics; what decodes survives a round trip.
func FuzzLwM2MJSON(f *testing.F) {
	f.Add([]byte(`{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"9","v":95},{"n":"6/0","v":1},{"n":"x","bv":true},{"n":"22/0","ov":"3:0"}]}`))
	f.Add([]byte(`{"e":[{"n":"/5/0/0","sv":"AQI="}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeJSON(b, nil)
		if err != nil {
			return
		}
		roundTrip(t, "oma-json", recs, EncodeJSON, DecodeJSON)
	})
}

// FuzzSenMLJSON: SenML JSON decoding never panics; what decodes survives a round trip.
func FuzzSenMLJSON(f *testing.F) {
	f.Add([]byte(`[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"22/0","vlo":"4:0"},{"n":"24","vb":true},{"n":"25","vd":"AQI"}]`))
	f.Add([]byte(`[{"bn":"/3303/0/","bt":1.3e9,"bv":20,"n":"5700","v":1.5,"t":10}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeSenMLJSON(b, nil)
		if err != nil {
			return
		}
		roundTrip(t, "senml-json", recs, EncodeSenMLJSON, DecodeSenMLJSON)
	})
}

// FuzzSenMLCBOR: SenML CBOR decoding never panics; what decodes survives a round trip.
func FuzzSenMLCBOR(f *testing.F) {
	seed, _ := EncodeSenMLCBOR(Path{3, 0}, []Record{{Path{3, 0, 0}, "x"}, {Path{3, 0, 9}, int64(5)}, {Path{3, 0, 24}, true},
		{Path{3, 0, 25}, []byte{1}}, {Path{3, 0, 22, 0}, ObjLnk{4, 0}}, {Path{3, 0, 23}, 1.25}}, nil)
	f.Add(seed)
	f.Add([]byte{0x81, 0xa2, 0x00, 0x66, 0x2f, 0x33, 0x2f, 0x30, 0x2f, 0x39, 0x02, 0x18, 0x64})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeSenMLCBOR(b, nil)
		if err != nil {
			return
		}
		roundTrip(t, "senml-cbor", recs, EncodeSenMLCBOR, DecodeSenMLCBOR)
	})
}

// FuzzLinkFormat: link-format parsing never panics; what parses renders and parses back equal.
func FuzzLinkFormat(f *testing.F) {
	f.Add(`</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</31024/10>`)
	f.Add(`</3/0/9>;pmin=10;pmax=60,</3/0/6>;dim=2;title="a,b;c\"d"`)
	f.Fuzz(func(t *testing.T, s string) {
		links, err := ParseLinks(s)
		if err != nil {
			return
		}
		var b bytes.Buffer
		for i, l := range links {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.String())
		}
		back, err := ParseLinks(b.String())
		if err != nil {
			t.Fatalf("rendered links do not parse: %v\n%s", err, b.String())
		}
		if len(back) != len(links) {
			t.Fatalf("%d links became %d: %q", len(links), len(back), b.String())
		}
		for i := range links {
			if links[i].Target != back[i].Target || !reflect.DeepEqual(links[i].Params, back[i].Params) {
				t.Fatalf("link %d: %v became %v (%q)", i, links[i], back[i], b.String())
			}
		}
	})
}
