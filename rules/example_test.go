package rules_test

import (
	"fmt"

	"github.com/wedge-iot/wedge/rules"
)

func Example() {
	r, err := rules.Parse(`SELECT payload.temp AS t, clientid FROM "sensors/#" WHERE payload.temp > 20`)
	if err != nil {
		fmt.Println(err)
		return
	}
	in := rules.Columns{"topic": "sensors/1", "clientid": "dev-1", "payload": `{"temp": 25.0}`}
	if !r.Triggered(in) {
		return
	}
	out, err := r.Eval(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", out.JSON())
	// Output: {"clientid":"dev-1","t":25.0}
}

func ExampleTest() {
	out, err := rules.Test(
		`FOREACH payload.sensors AS s DO s.id AS id INCASE s.v > 1 FROM "t/#"`,
		`{"topic": "t/1", "payload": "{\"sensors\": [{\"id\": \"a\", \"v\": 1}, {\"id\": \"b\", \"v\": 2}]}"}`)
	fmt.Printf("%s %v\n", out, err)
	// Output: [{"id":"b"}] <nil>
}

func ExampleParse_error() {
	_, err := rules.Parse("SELECT a\nFROM t")
	fmt.Println(err)
	// Output: sql syntax error at 2:6: expected a topic filter in double quotes ("t/#") or "$events/...", found name t
}
