package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wedge-iot/wedge/appliance/lwm2m/codec"
)

func TestStandardObjects(t *testing.T) {
	r := NewRegistry()
	want := map[uint16]string{0: "LWM2M Security", 1: "LwM2M Server", 2: "LwM2M Access Control", 3: "Device",
		4: "Connectivity Monitoring", 5: "Firmware Update", 6: "Location", 7: "Connectivity Statistics"}
	if len(r.Objects()) != len(want) {
		t.Fatalf("%d objects", len(r.Objects()))
	}
	for id, name := range want {
		o, ok := r.Object(id)
		if !ok || o.Name != name || len(o.Resources) == 0 {
			t.Errorf("object %d: %+v", id, o)
		}
	}
	types := r.Types()
	for p, dt := range map[string]codec.DataType{"/3/0/0": codec.TypeString, "/3/0/9": codec.TypeInteger, "/3/0/13": codec.TypeTime,
		"/3/0/6/1": codec.TypeInteger, "/5/0/0": codec.TypeOpaque, "/6/0/0": codec.TypeFloat, "/1/0/6": codec.TypeBoolean,
		"/3/0/22": codec.TypeObjlnk, "/3/0/4": codec.TypeNone, "/31024/0/1": codec.TypeUnknown, "/3/0": codec.TypeUnknown} {
		if got := types(codec.MustPath(p)); got != dt {
			t.Errorf("%s: %v, want %v", p, got, dt)
		}
	}
	if res, _ := r.Resource(3, 6); !res.Multiple || res.Operations != "R" {
		t.Errorf("3/6: %+v", res)
	}
	if r.Name(codec.MustPath("/3/0/9")) != "Battery Level" || r.Name(codec.MustPath("/3/0")) != "Device" || r.Name(codec.MustPath("/9/0")) != "" {
		t.Error("names")
	}
}

const custom = `<?xml version="1.0" encoding="utf-8"?>
<LWM2M><Object ObjectType="MODefinition"><Name>Temperature</Name><ObjectID>3303</ObjectID><ObjectVersion>1.1</ObjectVersion>
<MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory><Resources>
<Item ID="5700"><Name>Sensor Value</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>
<Mandatory>Mandatory</Mandatory><Type>Float</Type><Units>Cel</Units></Item>
<Item ID="5701"><Name>Sensor Units</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>
<Mandatory>Optional</Mandatory><Type>String</Type></Item></Resources></Object></LWM2M>`

func TestUserDefinitions(t *testing.T) {
	r := NewRegistry()
	objs, err := r.AddXML([]byte(custom))
	if err != nil || len(objs) != 1 || objs[0].ID != 3303 || objs[0].Version != "1.1" || !objs[0].Multiple {
		t.Fatalf("%v %v", objs, err)
	}
	if r.Types()(codec.MustPath("/3303/0/5700")) != codec.TypeFloat {
		t.Fatal("type of the added object")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.xml"), []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := NewRegistry()
	if err := r2.LoadDir(dir); err != nil || r2.Name(codec.MustPath("/3303/1/5701")) != "Sensor Units" {
		t.Fatalf("LoadDir: %v", err)
	}
	for _, bad := range []string{"<LWM2M/>", "not xml", `<LWM2M><Object><ObjectID>x</ObjectID></Object></LWM2M>`,
		`<LWM2M><Object><ObjectID>1</ObjectID><Resources><Item ID="-1"/></Resources></Object></LWM2M>`} {
		if _, err := r.AddXML([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "b.xml"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewRegistry().LoadDir(dir); err == nil {
		t.Fatal("bad file in dir accepted")
	}
}
