package codec

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// deviceTypes types the resources of object 3 the way the OMA definition does.
func deviceTypes(p Path) DataType {
	if len(p) < 3 || p[0] != 3 {
		return TypeUnknown
	}
	switch p[2] {
	case 0, 1, 2, 3, 14, 15, 16, 17:
		return TypeString
	case 13:
		return TypeTime
	case 22:
		return TypeObjlnk
	case 23:
		return TypeFloat
	case 24:
		return TypeBoolean
	case 25:
		return TypeOpaque
	case 26:
		return TypeUnsigned
	}
	return TypeInteger
}

func TestTLVSpecExample(t *testing.T) {
	// LwM2M TS 1.0 example: resource 2, 9-byte string.
	b := append([]byte{0xc8, 0x02, 0x09}, "345000123"...)
	recs, err := DecodeTLV(b, MustPath("/3/0"), deviceTypes)
	if err != nil || len(recs) != 1 || recs[0].Path.String() != "/3/0/2" || recs[0].Value != "345000123" {
		t.Fatalf("%v %v", recs, err)
	}
	out, err := EncodeTLV(MustPath("/3/0"), recs, deviceTypes)
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("encode % x, want % x (%v)", out, b, err)
	}
}

func TestTLVDeviceObjectInstance(t *testing.T) {
	// Object instance /3/0 with a multiple resource 6 (two instances) and an integer 9.
	// 08 00 0e | 86 06 | 41 00 01 | 41 01 05 | c1 09 64
	inner, _ := hex.DecodeString("860641000141010" + "5c10964")
	b := append([]byte{0x08, 0x00, byte(len(inner))}, inner...)
	recs, err := DecodeTLV(b, MustPath("/3"), deviceTypes)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{MustPath("/3/0/6/0"), int64(1)}, {MustPath("/3/0/6/1"), int64(5)}, {MustPath("/3/0/9"), int64(100)}}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("got %v", recs)
	}
	out, err := EncodeTLV(MustPath("/3"), recs, deviceTypes)
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("encode % x, want % x (%v)", out, b, err)
	}
}

func TestTLVValues(t *testing.T) {
	for _, tc := range []struct {
		v    any
		t    DataType
		wire string
	}{
		{int64(-1), TypeInteger, "ff"},
		{int64(127), TypeInteger, "7f"},
		{int64(128), TypeInteger, "0080"},
		{int64(-70000), TypeInteger, "fffeee90"},
		{int64(1) << 40, TypeInteger, "0000010000000000"},
		{uint64(200), TypeUnsigned, "c8"},
		{1.5, TypeFloat, "3fc00000"},
		{0.1, TypeFloat, "3fb999999999999a"},
		{true, TypeBoolean, "01"},
		{ObjLnk{3, 1}, TypeObjlnk, "00030001"},
		{[]byte{1, 2}, TypeOpaque, "0102"},
		{int64(1700000000), TypeTime, "6553f100"},
	} {
		b, err := EncodeValue(tc.v, tc.t)
		if err != nil || hex.EncodeToString(b) != tc.wire {
			t.Errorf("%v: % x (%v), want %s", tc.v, b, err, tc.wire)
			continue
		}
		back, err := DecodeValue(b, tc.t)
		if err != nil || !reflect.DeepEqual(back, tc.v) {
			t.Errorf("%v: decoded %#v (%v)", tc.v, back, err)
		}
	}
	// signed decoding (EMQX decodes unsigned: a bug we do not copy)
	if v, _ := DecodeValue([]byte{0xff, 0xfe}, TypeInteger); v != int64(-2) {
		t.Fatalf("signed: %v", v)
	}
	for _, bad := range [][]byte{{0xc1}, {0xc8, 0x01, 0x05, 1}, {0x08, 0x00, 0x03, 0xc1, 0x01}, {0xe1, 0x00}} {
		if _, err := DecodeTLV(bad, MustPath("/3/0"), nil); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

func TestTLVLongLengthsAndIDs(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 70000)
	recs := []Record{{MustPath("/31024/10/300"), string(long)}, {MustPath("/31024/10/1"), "short"}}
	b, err := EncodeTLV(MustPath("/31024/10"), recs, func(Path) DataType { return TypeString })
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xc0|0x20|0x18 {
		t.Fatalf("header %x", b[0])
	}
	back, err := DecodeTLV(b, MustPath("/31024/10"), func(Path) DataType { return TypeString })
	if err != nil || !reflect.DeepEqual(back, recs) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestSenMLJSONAndCBOR(t *testing.T) {
	in := `[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"6/0","v":1},{"n":"13","v":1.7e9},{"n":"22/0","vlo":"4:0"},{"n":"24","vb":true},{"n":"25","vd":"AQI"}]`
	recs, err := DecodeSenMLJSON([]byte(in), deviceTypes)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{MustPath("/3/0/0"), "Open Mobile Alliance"}, {MustPath("/3/0/9"), int64(100)}, {MustPath("/3/0/6/0"), int64(1)},
		{MustPath("/3/0/13"), int64(1700000000)}, {MustPath("/3/0/22/0"), ObjLnk{4, 0}}, {MustPath("/3/0/24"), true}, {MustPath("/3/0/25"), []byte{1, 2}}}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("got %#v", recs)
	}
	for name, f := range map[string]struct {
		enc func(Path, []Record, TypeResolver) ([]byte, error)
		dec func([]byte, TypeResolver) ([]Record, error)
	}{"senml-json": {EncodeSenMLJSON, DecodeSenMLJSON}, "senml-cbor": {EncodeSenMLCBOR, DecodeSenMLCBOR}, "oma-json": {EncodeJSON, DecodeJSON}} {
		b, err := f.enc(MustPath("/3/0"), want, deviceTypes)
		if err != nil {
			t.Fatal(name, err)
		}
		back, err := f.dec(b, deviceTypes)
		if err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("%s round trip: %#v %v\n%s", name, back, err, b)
		}
	}
	// RFC 8428 CBOR example shape: labels -2 (bn), 0 (n), 2 (v)
	cb, _ := hex.DecodeString("81a3216a2f332f302f00000061390218" + "64")
	recs, err = DecodeSenMLCBOR(cb, deviceTypes)
	if err != nil || len(recs) != 1 || recs[0].Path.String() != "/3/0/0/9" && recs[0].Path.String() != "/3/0/9" {
		t.Logf("cbor example: %v %v", recs, err)
	}
	if _, err := DecodeSenMLJSON([]byte(`[{"n":"/3/0/9","v":"x"}]`), nil); err == nil {
		t.Fatal("bad value accepted")
	}
	if _, err := DecodeSenMLJSON([]byte(`[{"n":"/3","v":1}]`), nil); err == nil {
		t.Fatal("non-resource name accepted")
	}
}

func TestSingleResourceJSONBase(t *testing.T) {
	recs := []Record{{MustPath("/3/0/0"), "x"}}
	b, err := EncodeJSON(MustPath("/3/0/0"), recs, deviceTypes)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeJSON(b, deviceTypes)
	if err != nil || !reflect.DeepEqual(back, recs) {
		t.Fatalf("%s -> %v %v", b, back, err)
	}
}

func TestTextAndOpaque(t *testing.T) {
	recs, err := Decode(FormatText, []byte("42"), MustPath("/3/0/9"), deviceTypes)
	if err != nil || recs[0].Value != int64(42) {
		t.Fatalf("%v %v", recs, err)
	}
	recs, _ = Decode(FormatText, []byte("3:1"), MustPath("/3/0/22/0"), deviceTypes)
	if recs[0].Value != (ObjLnk{3, 1}) {
		t.Fatalf("objlnk %v", recs)
	}
	if _, err := Decode(FormatText, []byte("x"), MustPath("/3/0/9"), deviceTypes); err == nil {
		t.Fatal("bad integer accepted")
	}
	recs, _ = Decode(FormatOpaque, []byte{0, 1}, MustPath("/5/0/0"), nil)
	if !bytes.Equal(recs[0].Value.([]byte), []byte{0, 1}) {
		t.Fatal("opaque")
	}
	if b := EncodeText(true); string(b) != "1" {
		t.Fatal("bool text")
	}
	if _, err := Decode(9999, nil, MustPath("/3/0/9"), nil); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestLinks(t *testing.T) {
	links, err := ParseLinks(`</>;rt="oma.lwm2m";ct=110, </1>;ver=1.1,</1/0>,</3/0>,</31024/10>;title="a,b;c\"d"`)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(links)
	want := `[</>;ct=110;rt="oma.lwm2m" </1>;ver=1.1 </1/0> </3/0> </31024/10>;title="a,b;c\"d"]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{"/3/0", "</3/0", `</3>;a="x`, "</3>;;", "</3> x"} {
		if _, err := ParseLinks(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCoerce(t *testing.T) {
	for _, tc := range []struct {
		in   any
		t    DataType
		want any
	}{
		{float64(3600), TypeInteger, int64(3600)},
		{"3600", TypeInteger, int64(3600)},
		{"1.5", TypeFloat, 1.5},
		{"true", TypeBoolean, true},
		{float64(0), TypeBoolean, false},
		{"AQI=", TypeOpaque, []byte{1, 2}},
		{"3:0", TypeObjlnk, ObjLnk{3, 0}},
		{float64(12), TypeString, "12"},
	} {
		got, err := Coerce(tc.in, tc.t, false)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Coerce(%v, %v) = %#v, %v", tc.in, tc.t, got, err)
		}
	}
	if v, _ := Coerce("0102ff", TypeOpaque, true); !bytes.Equal(v.([]byte), []byte{1, 2, 0xff}) {
		t.Error("hex opaque")
	}
	for _, bad := range []struct {
		in any
		t  DataType
	}{{1.5, TypeInteger}, {"x", TypeFloat}, {"maybe", TypeBoolean}, {-1.0, TypeUnsigned}, {"3", TypeObjlnk}} {
		if _, err := Coerce(bad.in, bad.t, false); err == nil {
			t.Errorf("Coerce(%v, %v) accepted", bad.in, bad.t)
		}
	}
	if JSONValue(math.NaN(), false) != nil {
		t.Error("NaN must not reach JSON")
	}
}

func TestPaths(t *testing.T) {
	for _, bad := range []string{"/a", "/1/2/3/4/5", "/65535", "/-1"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p := MustPath("3/0/"); p.String() != "/3/0" || !p.HasPrefix(MustPath("/3")) || p.HasPrefix(MustPath("/3/1")) {
		t.Fatal(p)
	}
}
