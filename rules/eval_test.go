package rules

import (
	"errors"
	"strings"
	"testing"
)

// ruleCase runs sql on ctx (JSON) like `wedge rule test` and expects the
// JSON output want, or an error containing wantErr.
type ruleCase struct {
	name    string
	sql     string
	ctx     string
	want    string
	wantErr string
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			if ctx == "" {
				ctx = `{"topic": "t/a", "payload": "{}"}`
			}
			checkCompiled(t, c.sql, ctx) // the compiled path must agree (compile_wasm_test.go)
			got, err := Test(c.sql, ctx)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Test(%q) = %s, %v; want error containing %q", c.sql, got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Test(%q): %v", c.sql, err)
			}
			if string(got) != c.want {
				t.Fatalf("Test(%q)\n got  %s\n want %s", c.sql, got, c.want)
			}
		})
	}
}

const pubCtx = `{"topic": "t/1", "clientid": "c1", "username": "u1", "qos": 1,
  "payload": "{\"temp\": 25.5, \"hum\": 40, \"cmd\": {\"op\": \"on\", \"level\": 3}, \"list\": [1, 2, 3, 4], \"nul\": null, \"name\": \"dev\", \"sensors\": [{\"id\": \"a\", \"v\": 1}, {\"id\": \"b\", \"v\": 7}]}",
  "flags": {"retain": false, "dup": false}}`

func TestRulesSelect(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "alias", sql: `SELECT payload.temp AS t FROM "t/#"`, ctx: pubCtx, want: `{"t":25.5}`},
		{name: "unaliased path merges", sql: `SELECT payload.temp, payload.hum FROM "t/#"`, ctx: pubCtx, want: `{"payload":{"hum":40,"temp":25.5}}`},
		{name: "alias reuse", sql: `SELECT payload.cmd AS c, c.op AS op FROM "t/#" WHERE c.op = 'on'`, ctx: pubCtx, want: `{"c":{"level":3,"op":"on"},"op":"on"}`},
		{name: "alias read by a context function", sql: `SELECT 'x/y' AS topic, topic(2) AS t FROM "t/#"`, ctx: pubCtx, want: `{"t":"y","topic":"x/y"}`},
		{name: "alias read by a later star", sql: `SELECT 5 AS topic, * FROM "#"`, ctx: `{"topic":"t","qos":0}`, want: `{"qos":0,"topic":5}`},
		{name: "alias read in a slice", sql: `SELECT [1,2,3] AS l, l[2..3] AS s FROM "t/#"`, want: `{"l":[1,2,3],"s":[2,3]}`},
		{name: "nested alias", sql: `SELECT payload.temp AS data.temp, qos AS data.q FROM "t/#"`, ctx: pubCtx, want: `{"data":{"q":1,"temp":25.5}}`},
		{name: "list index", sql: `SELECT payload.list[1] AS a, payload.list[-1] AS z, payload.list[0] AS zero, payload.list[9] AS out FROM "t/#"`, ctx: pubCtx, want: `{"a":1,"z":4}`},
		{name: "slice", sql: `SELECT payload.list[2..3] AS s, payload.list[-2..-1] AS e, payload.list[2..10] AS cut FROM "t/#"`, ctx: pubCtx, want: `{"cut":[2,3,4],"e":[3,4],"s":[2,3]}`},
		{name: "slice of non-list", sql: `SELECT payload.temp[1..2] AS s FROM "t/#"`, ctx: pubCtx, wantErr: "cannot slice"},
		{name: "slice index 0", sql: `SELECT payload.list[0..2] AS s FROM "t/#"`, ctx: pubCtx, wantErr: "index 0"},
		{name: "range", sql: `SELECT [1..4] AS r, [3..2] AS e FROM "t/#"`, want: `{"e":[],"r":[1,2,3,4]}`},
		{name: "range too long", sql: `SELECT [1..100000000] AS r FROM "t/#"`, wantErr: "longer than"},
		{name: "list literal", sql: `SELECT [1, 'a', payload.name] AS l FROM "t/#"`, ctx: pubCtx, want: `{"l":[1,"a","dev"]}`},
		{name: "dynamic index", sql: `SELECT payload.list[payload.cmd.level] AS x FROM "t/#"`, ctx: pubCtx, want: `{"x":3}`},
		{name: "star echoes context", sql: `SELECT * FROM "t/#"`, ctx: `{"topic":"t/a","payload":"{\"x\":1}","qos":0}`, want: `{"payload":"{\"x\":1}","qos":0,"topic":"t/a"}`},
		{name: "star with field", sql: `SELECT *, qos + 1 AS q2 FROM "t/#"`, ctx: `{"topic":"t/a","qos":1}`, want: `{"q2":2,"qos":1,"topic":"t/a"}`},
		{name: "payload quirk", sql: `SELECT *, payload.x FROM "t/#"`, ctx: `{"topic":"t/a","payload":"{\"x\":1,\"y\":2}"}`, want: `{"payload":{"x":1,"y":2},"topic":"t/a"}`},
		{name: "undefined left out", sql: `SELECT payload.missing AS m, nosuch AS n, 1 AS one FROM "t/#"`, ctx: pubCtx, want: `{"one":1}`},
		{name: "json null kept", sql: `SELECT payload.nul AS n, is_null(payload.nul) AS a, is_null(payload.nope) AS b FROM "t/#"`, ctx: pubCtx, want: `{"a":false,"b":true,"n":null}`},
		{name: "non-json payload", sql: `SELECT payload.x AS x, 1 AS one FROM "t/#"`, ctx: `{"topic":"t/a","payload":"not json"}`, want: `{"one":1}`},
		{name: "int vs float out", sql: `SELECT 8 / 2 AS a, 8 div 2 AS b, 2.0 AS c, 1 + 1.0 AS d, 3 * 4 AS e FROM "t/#"`, want: `{"a":4.0,"b":4,"c":2.0,"d":2.0,"e":12}`},
		{name: "string concat", sql: `SELECT 'a' + 'b' AS s FROM "t/#"`, want: `{"s":"ab"}`},
		{name: "string plus number", sql: `SELECT 'a' + 1 AS s FROM "t/#"`, wantErr: "needs numbers"},
		{name: "arith on undefined", sql: `SELECT nosuch + 1 AS s FROM "t/#"`, wantErr: "undefined"},
		{name: "div by zero", sql: `SELECT 1 / 0 AS s FROM "t/#"`, wantErr: "division by zero"},
		{name: "div int only", sql: `SELECT 7.0 div 2 AS s FROM "t/#"`, wantErr: "integers"},
		{name: "div truncates", sql: `SELECT -7 div 2 AS a, mod(-7, 3) AS b, 7 mod -3 AS c FROM "t/#"`, want: `{"a":-3,"b":-1,"c":1}`},
		{name: "precedence", sql: `SELECT 1 + 2 * 3 AS a, (1 + 2) * 3 AS b, -2 * -3 AS c, 10 - 2 - 3 AS d FROM "t/#"`, want: `{"a":7,"b":9,"c":6,"d":5}`},
		{name: "overflow", sql: `SELECT 9223372036854775807 + 1 AS a FROM "t/#"`, wantErr: "overflow"},
		{name: "comparison in select", sql: `SELECT payload.temp > 20 AS hot, '25' = 25 AS eq FROM "t/#"`, ctx: pubCtx, want: `{"eq":true,"hot":true}`},
		{name: "quoted name is a column", sql: `SELECT "topic" AS t FROM "t/#"`, want: `{"t":"t/a"}`},
		{name: "generated keys", sql: `SELECT abs(-1), 'lit', 5 FROM "t/#"`, want: `{"_v_const_5":5,"_v_fun_abs":1,"lit":"lit"}`},
		{name: "alias head and tail", sql: `SELECT [1,2] AS c, 0 AS c[0], 9 AS c[-0], 5 AS c[2] FROM "t/#"`, want: `{"c":[0,5,2,9]}`},
		{name: "alias index out of range", sql: `SELECT [1] AS c, 5 AS c[3] FROM "t/#"`, wantErr: "out of range"},
		{name: "implicit alias", sql: `SELECT qos q FROM "t/#"`, ctx: pubCtx, want: `{"q":1}`},
		{name: "comments", sql: "SELECT -- the fields\n qos AS q -- done\nFROM \"t/#\" -- end", ctx: pubCtx, want: `{"q":1}`},
		{name: "unknown function at run time", sql: `SELECT UPPER(clientid) AS u FROM "t/#"`, ctx: pubCtx, wantErr: "function not supported: UPPER"},
		{name: "path on JSON string column", sql: `SELECT j.a AS a FROM "t/#"`, ctx: `{"topic":"t/a","j":"{\"a\":[5]}"}`, want: `{"a":[5]}`},
		{name: "payload index", sql: `SELECT payload[2] AS x FROM "t/#"`, ctx: `{"topic":"t/a","payload":"[7,8]"}`, want: `{"x":8}`},
		{name: "key steps", sql: `SELECT payload.'a b' AS x, payload.1.2 AS y FROM "t/#"`, ctx: `{"topic":"t/a","payload":"{\"a b\":1,\"1\":{\"2\":3}}"}`, want: `{"x":1,"y":3}`},
		{name: "true false", sql: `SELECT true AS t, false AS f FROM "t/#"`, want: `{"f":false,"t":true}`},
		{name: "null is a name", sql: `SELECT null AS n, undefined AS u, 1 AS one FROM "t/#"`, want: `{"one":1}`},
		{name: "floats print", sql: `SELECT 1.5e3 AS a, 0.1 + 0.2 AS b, 1 / 3 AS c FROM "t/#"`, want: `{"a":1500.0,"b":0.30000000000000004,"c":0.3333333333333333}`},
	})
}

func TestRulesWhere(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "true", sql: `SELECT qos FROM "t/#" WHERE payload.temp > 20`, ctx: pubCtx, want: `{"qos":1}`},
		{name: "false gives null", sql: `SELECT qos FROM "t/#" WHERE payload.temp > 30`, ctx: pubCtx, want: `null`},
		{name: "from no match", sql: `SELECT qos FROM "x/#"`, ctx: pubCtx, want: `null`},
		{name: "string number coercion", sql: `SELECT 1 AS x FROM "t/#" WHERE '1.50' = 1.5 AND '25' = 25`, want: `{"x":1}`},
		{name: "non-numeric string vs number errors", sql: `SELECT 1 AS x FROM "t/#" WHERE clientid > 5`, ctx: pubCtx, wantErr: "non-numeric"},
		{name: "double quoted is column", sql: `SELECT 1 AS x FROM "t/#" WHERE clientid = "c1"`, ctx: pubCtx, want: `null`},
		{name: "string compare bytewise", sql: `SELECT 1 AS x FROM "t/#" WHERE '1.9' > '1.10'`, want: `{"x":1}`},
		{name: "bool vs string", sql: `SELECT 1 AS x FROM "t/#" WHERE flags.retain = 'false'`, ctx: pubCtx, want: `{"x":1}`},
		{name: "undefined equality", sql: `SELECT 1 AS x FROM "t/#" WHERE a = b AND a != 1 AND NOT a > 5 AND NOT a < 5`, want: `{"x":1}`},
		{name: "undefined ordering false", sql: `SELECT 1 AS x FROM "t/#" WHERE missing > 5`, want: `null`},
		{name: "int float equal", sql: `SELECT 1 AS x FROM "t/#" WHERE 2.0 = 2`, want: `{"x":1}`},
		{name: "in exact", sql: `SELECT 1 AS x FROM "t/#" WHERE qos IN (0, 1) AND NOT ('1' IN (1)) AND NOT (1.0 IN (1))`, ctx: pubCtx, want: `{"x":1}`},
		{name: "not in", sql: `SELECT 1 AS x FROM "t/#" WHERE clientid NOT IN ('c2', 'c3')`, ctx: pubCtx, want: `{"x":1}`},
		{name: "not over and", sql: `SELECT 1 AS x FROM "t/#" WHERE NOT (qos = 1 AND clientid = 'zz')`, ctx: pubCtx, want: `{"x":1}`},
		{name: "or short circuit", sql: `SELECT 1 AS x FROM "t/#" WHERE qos = 1 OR clientid > 5`, ctx: pubCtx, want: `{"x":1}`},
		{name: "and short circuit", sql: `SELECT 1 AS x FROM "t/#" WHERE qos = 2 AND clientid > 5`, ctx: pubCtx, want: `null`},
		{name: "and error", sql: `SELECT 1 AS x FROM "t/#" WHERE qos = 1 AND clientid > 5`, ctx: pubCtx, wantErr: "non-numeric"},
		{name: "topic match", sql: `SELECT 1 AS x FROM "t/#" WHERE topic =~ 't/+'`, ctx: pubCtx, want: `{"x":1}`},
		{name: "topic match undefined", sql: `SELECT 1 AS x FROM "t/#" WHERE nosuch =~ 't/+'`, ctx: pubCtx, want: `null`},
		{name: "function condition", sql: `SELECT 1 AS x FROM "t/#" WHERE is_int(qos)`, ctx: pubCtx, want: `{"x":1}`},
		{name: "not of non-boolean is false", sql: `SELECT 1 AS x FROM "t/#" WHERE NOT str(qos)`, ctx: pubCtx, want: `null`},
		{name: "where sees selected", sql: `SELECT payload.temp AS t FROM "t/#" WHERE t > 20`, ctx: pubCtx, want: `{"t":25.5}`},
		{name: "where sees a top-level merge", sql: `SELECT payload.temp FROM "t/#" WHERE payload.hum = 40`, ctx: pubCtx, want: `null`},
		{name: "selected wins", sql: `SELECT 5 AS qos FROM "t/#" WHERE qos = 5`, ctx: pubCtx, want: `{"qos":5}`},
		{name: "events", sql: `SELECT clientid FROM "$events/client_connected"`, ctx: `{"event":"client.connected","clientid":"c9"}`, want: `{"clientid":"c9"}`},
		{name: "event not listed", sql: `SELECT clientid FROM "t/#", "$events/client_connected"`, ctx: `{"event":"client.disconnected","clientid":"c9"}`, want: `null`},
		{name: "mixed from topic", sql: `SELECT clientid FROM "t/#", "$events/client_connected"`, ctx: pubCtx, want: `{"clientid":"c1"}`},
		{name: "explicit publish event", sql: `SELECT qos FROM "t/#"`, ctx: `{"event":"message.publish","topic":"t","qos":2}`, want: `{"qos":2}`},
		{name: "sys topic", sql: `SELECT qos FROM "#"`, ctx: `{"topic":"$SYS/x","qos":2}`, want: `null`},
	})
}

func TestRulesCase(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "searched", sql: `SELECT CASE WHEN payload.temp > 30 THEN 'hot' WHEN payload.temp > 20 THEN 'warm' ELSE 'cold' END AS c FROM "t/#"`, ctx: pubCtx, want: `{"c":"warm"}`},
		{name: "no match no else", sql: `SELECT CASE WHEN qos = 9 THEN 1 END AS c, 2 AS d FROM "t/#"`, ctx: pubCtx, want: `{"d":2}`},
		{name: "simple exact", sql: `SELECT CASE qos WHEN 1.0 THEN 'float' WHEN 1 THEN 'int' END AS c FROM "t/#"`, ctx: pubCtx, want: `{"c":"int"}`},
		{name: "simple no coercion", sql: `SELECT CASE '1' WHEN 1 THEN 'x' ELSE 'y' END AS c FROM "t/#"`, want: `{"c":"y"}`},
		{name: "case in function", sql: `SELECT upper(CASE WHEN true = true THEN 'a' END) AS c FROM "t/#"`, want: `{"c":"A"}`},
	})
}

func TestRulesForeach(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "do incase", sql: `FOREACH payload.sensors AS s DO s.id AS id, s.v * 2 AS v2 INCASE s.v > 2 FROM "t/#"`, ctx: pubCtx, want: `[{"id":"b","v2":14}]`},
		{name: "no alias is item", sql: `FOREACH payload.list DO item AS x FROM "t/#"`, ctx: pubCtx, want: `[{"x":1},{"x":2},{"x":3},{"x":4}]`},
		{name: "no do", sql: `FOREACH payload.list AS n INCASE n > 3 FROM "t/#"`, ctx: `{"topic":"t/a","payload":"{\"list\":[1,5]}"}`, want: `[{"n":5,"payload":"{\"list\":[1,5]}","topic":"t/a"}]`},
		{name: "not an array", sql: `FOREACH payload.temp FROM "t/#"`, ctx: pubCtx, want: `[]`},
		{name: "empty", sql: `FOREACH payload.nope FROM "t/#"`, ctx: pubCtx, want: `[]`},
		{name: "where false", sql: `FOREACH payload.list FROM "t/#" WHERE qos = 2`, ctx: pubCtx, want: `null`},
		{name: "helpers visible to where only", sql: `FOREACH payload.name AS nm, payload.list AS n DO nm AS a, n AS b FROM "t/#" WHERE nm = 'dev'`, ctx: `{"topic":"t/a","payload":"{\"name\":\"dev\",\"list\":[1]}"}`, want: `[{"b":1}]`},
		{name: "do star includes the element", sql: `FOREACH payload.l AS n DO * FROM "t/#"`, ctx: `{"topic":"t","payload":"{\"l\":[1]}"}`, want: `[{"n":1,"payload":"{\"l\":[1]}","topic":"t"}]`},
		{name: "do writes into the element", sql: `FOREACH payload.l AS s DO 1 AS s.extra, s AS all FROM "t/#"`, ctx: `{"topic":"t","payload":"{\"l\":[{\"id\":\"a\"}]}"}`, want: `[{"all":{"extra":1,"id":"a"},"s":{"extra":1}}]`},
		{name: "element alias path", sql: `FOREACH payload.l AS a.b DO a AS x FROM "t/#"`, ctx: `{"topic":"t","payload":"{\"l\":[1,2]}"}`, want: `[{"x":{"b":1}},{"x":{"b":2}}]`},
		{name: "element alias path without do", sql: `FOREACH payload.l AS a.b FROM "t/#"`, ctx: `{"topic":"t","payload":"{\"l\":[1]}"}`, want: `[{"a":{"b":1},"payload":"{\"l\":[1]}","topic":"t"}]`},
		{name: "element shadows a column", sql: `FOREACH payload.l AS topic DO topic AS t FROM "t/#"`, ctx: `{"topic":"t","payload":"{\"l\":[7]}"}`, want: `[{"t":7}]`},
		{name: "range collection", sql: `FOREACH [1..3] AS i DO i * i AS sq FROM "t/#"`, want: `[{"sq":1},{"sq":4},{"sq":9}]`},
	})
}

func TestEvalErrorType(t *testing.T) {
	r, err := Parse(`SELECT abs('x') AS a FROM "t"`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Eval(Columns{})
	var ee *EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("want *EvalError, got %T %v", err, err)
	}
}

func TestEvalDoesNotModifyInput(t *testing.T) {
	r, err := Parse(`SELECT payload.x AS payload.y, 1 AS m.k, * FROM "t"`)
	if err != nil {
		t.Fatal(err)
	}
	inner := map[string]Value{"k": int64(0)}
	in := Columns{"payload": `{"x":1}`, "m": inner}
	out, err := r.Eval(in)
	if err != nil {
		t.Fatal(err)
	}
	if in["payload"] != `{"x":1}` || inner["k"] != int64(0) || len(in) != 2 {
		t.Fatalf("input modified: %v", in)
	}
	if got := string(out.JSON()); got != `{"m":{"k":1},"payload":{"x":1,"y":1}}` {
		t.Fatalf("got %s", got)
	}
}

// TestEvalConcurrent evaluates one rule from many goroutines (run with
// -race): a Rule is never modified by evaluation.
func TestEvalConcurrent(t *testing.T) {
	r, err := Parse(`FOREACH payload.l AS n DO n * 2 AS d, upper(clientid) AS c INCASE n > 1 FROM "t/#" WHERE clientid = 'c1'`)
	if err != nil {
		t.Fatal(err)
	}
	in := Columns{"clientid": "c1", "payload": `{"l": [1, 2, 3]}`}
	done := make(chan string)
	for range 8 {
		go func() {
			var last string
			for range 50 {
				out, err := r.Eval(in)
				if err != nil {
					last = err.Error()
					break
				}
				last = string(out.JSON())
			}
			done <- last
		}()
	}
	for range 8 {
		if got := <-done; got != `[{"c":"C1","d":4},{"c":"C1","d":6}]` {
			t.Errorf("got %s", got)
		}
	}
}

// TestWorkBudget checks that rules doing unbounded work fail quickly with
// an evaluation error instead of running for minutes or eating memory.
func TestWorkBudget(t *testing.T) {
	big := `{"x": "` + strings.Repeat("y", 200000) + `"}`
	big2 := `{"x": "` + strings.Repeat("y", 200000) + ` "}`
	in := Columns{"topic": "t", "a": big, "b": big2, "s1": strings.Repeat("z", 300000), "s2": strings.Repeat("z", 300000)}
	for _, sql := range []string{
		`FOREACH [1..99999] DO pad('', 1000000) AS x FROM "t"`,
		`FOREACH [1..99999] DO a.x AS p, b.x AS q FROM "t"`,
		`FOREACH [1..99999] AS i INCASE s1 = s2 FROM "t"`,
		`FOREACH [1..99999] AS i INCASE regex_match(s1, 'q') FROM "t"`,
		`FOREACH [1..99999] AS i INCASE s1 IN ('a', s2) FROM "t"`,
	} {
		r, err := Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Eval(in)
		if err == nil || !strings.Contains(err.Error(), "work budget") {
			t.Errorf("%s: %v, want a work budget error", sql, err)
		}
	}
	// An ordinary FOREACH over a range stays well within the budget.
	r, err := Parse(`FOREACH [1..99999] AS i DO i * 2 AS d INCASE i > 99990 FROM "t"`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Eval(in)
	if err != nil || len(out.Items) != 9 {
		t.Fatalf("got %v, %v", out, err)
	}
}
