package actions

import (
	"testing"
)

func TestTemplateRender(t *testing.T) {
	out, err := DecodeOutput([]byte(`{"clientid":"c1","topic":"t/1","qos":1,"temp":21.5,"n":2.0,"big":12345678901234567890,
		"ok":true,"none":null,"payload":"{\"a\":{\"b\":7,\"c\":[1,2]},\"s\":\"x\"}","m":{"k":"v","deep":{"z":1}},"arr":[1,"a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ tmpl, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"out/${clientid}/${topic}", "out/c1/t/1"},
		{"${qos}", "1"},
		{"${temp}|${n}|${big}", "21.5|2.0|12345678901234567890"},
		{"${ok} ${none}", "true null"},
		{"${payload.a.b}", "7"},
		{"${payload.a.c}", "[1,2]"},
		{"${payload.a}", `{"b":7,"c":[1,2]}`},
		{"${payload.s}", "x"},
		{"${m.deep.z}-${m.k}", "1-v"},
		{"${arr}", `[1,"a"]`},
		{"[${missing}] [${payload.nope}] [${m.k.x}]", "[] [] []"},
		{"${ clientid }", "c1"},
		{"open ${clientid", "open ${clientid"},
		{"$${clientid}}", "$c1}"},
	}
	for _, c := range cases {
		if got := ParseTemplate(c.tmpl).Render(out); got != c.want {
			t.Errorf("Render(%q) = %q, want %q", c.tmpl, got, c.want)
		}
	}
	if ParseTemplate("x").HasPlaceholders() || !ParseTemplate("${x}").HasPlaceholders() {
		t.Error("HasPlaceholders")
	}
}

func TestDecodeOutputRejectsNonObjects(t *testing.T) {
	for _, in := range []string{"", "[1]", "nope", `"s"`} {
		if _, err := DecodeOutput([]byte(in)); err == nil || !IsPermanent(err) {
			t.Errorf("DecodeOutput(%q) = %v, want a permanent error", in, err)
		}
	}
}

func TestRecordID(t *testing.T) {
	if got := RecordID(Record{Queue: QueueIDForTest("r1", 2), Seq: 9}); got != "r1/2/9" {
		t.Fatalf("RecordID = %q", got)
	}
	if got := RecordID(Record{}); got != "" {
		t.Fatalf("RecordID of a sync record = %q", got)
	}
}
