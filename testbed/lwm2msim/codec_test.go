package lwm2msim

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

func TestTLVWireFormat(t *testing.T) {
	// OMA LwM2M TS example: resource 2 holding the 9-byte string "345000123".
	want := append([]byte{0xc8, 0x02, 0x09}, "345000123"...)
	got := encodeTLV(2, []Entry{{Path: []uint16{3, 0, 2}, Value: "345000123"}})
	if !bytes.Equal(got, want) {
		t.Fatalf("% x", got)
	}
	// an object instance with a multiple resource
	got = encodeTLV(1, []Entry{{[]uint16{3, 0, 6, 0}, int64(1)}, {[]uint16{3, 0, 6, 1}, int64(5)}, {[]uint16{3, 0, 9}, int64(100)}})
	if hex.EncodeToString(got) != "08000b8606410001410105c10964" {
		t.Fatalf("% x", got)
	}
	es, err := decodeTLV([]uint16{3}, got)
	if err != nil || len(es) != 3 || !reflect.DeepEqual(es[2].Path, []uint16{3, 0, 9}) {
		t.Fatalf("%v %v", es, err)
	}
	v, err := convert(es[2].Value, int64(0))
	if err != nil || v != int64(100) {
		t.Fatalf("%v %v", v, err)
	}
}

func TestSenMLShapes(t *testing.T) {
	es := []Entry{{[]uint16{3, 0, 0}, "x"}, {[]uint16{3, 0, 9}, int64(7)}, {[]uint16{3, 0, 22, 0}, ObjLnk{4, 0}}, {[]uint16{5, 0, 0}, []byte{1}}}
	b, err := jsonMarshal(toSenML([]uint16{3, 0}, es))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[{"bn":"/3/0/","n":"0","vs":"x"},{"bn":"","n":"9","v":7},{"n":"22/0","vlo":"4:0"},{"n":"/5/0/0","vd":"AQ"}]` &&
		string(b) != `[{"n":"/3/0/0","vs":"x"},{"n":"/3/0/9","v":7},{"n":"/3/0/22/0","vlo":"4:0"},{"n":"/5/0/0","vd":"AQ"}]` {
		t.Fatalf("%s", b)
	}
	var recs []senmlRec
	if err := jsonUnmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	back, err := fromSenML(recs)
	if err != nil || len(back) != 4 || back[1].Value != 7.0 || back[2].Value != (ObjLnk{4, 0}) || !bytes.Equal(back[3].Value.([]byte), []byte{1}) {
		t.Fatalf("%v %v", back, err)
	}
	cb, err := encodeSenMLCBOR([]uint16{3, 0}, es)
	if err != nil {
		t.Fatal(err)
	}
	back, err = decodeSenMLCBOR(cb)
	if err != nil || len(back) != 4 || back[0].Value != "x" || back[2].Value != (ObjLnk{4, 0}) {
		t.Fatalf("cbor %v %v", back, err)
	}
}
