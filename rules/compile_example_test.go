package rules_test

import (
	"fmt"

	"github.com/wedge-iot/wedge/rules"
)

func ExampleCompileRule() {
	r, err := rules.Parse(`SELECT payload.temp AS t, upper(clientid) AS c FROM "sensors/#" WHERE payload.temp > 20`)
	if err != nil {
		panic(err)
	}
	c, err := rules.CompileRule(r) // once per rule version, never per message
	if err != nil {
		panic(err)
	}
	defer c.Close()
	out, err := c.Eval(rules.Columns{"clientid": "dev-1", "payload": `{"temp": 25.5}`})
	fmt.Println(string(out.JSON()), err)
	// Output: {"c":"DEV-1","t":25.5} <nil>
}
