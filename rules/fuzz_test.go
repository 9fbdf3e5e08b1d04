package rules

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzParseEval parses arbitrary SQL and evaluates it on an arbitrary
// payload: it must return an output or an error, never panic or hang. It
// calls eval directly, without Eval's recover.
func FuzzParseEval(f *testing.F) {
	seeds := []struct{ sql, payload string }{
		{`SELECT payload.temp AS t FROM "t/#" WHERE payload.temp > 20`, `{"temp": 25.5}`},
		{`SELECT *, payload.x FROM "t/#"`, `{"x": [1, 2, {"y": null}]}`},
		{`FOREACH payload.s AS s DO s.id AS id, s.v * 2 AS v INCASE s.v > 1 FROM "t/#" WHERE is_array(payload.s)`, `{"s": [{"id": "a", "v": 1}, {"id": "b", "v": 2}]}`},
		{`SELECT CASE payload.k WHEN 1 THEN 'one' ELSE str(payload.k) END AS c FROM "#"`, `{"k": 1.0}`},
		{`SELECT payload.l[2..-1] AS s, payload.l[-1] AS z, [1..3] AS r FROM "t/+"`, `{"l": [1, 2, 3]}`},
		{`SELECT sprintf('~s ~p', topic, payload) AS s, split(clientid, 'c') AS p FROM "t/#" WHERE clientid NOT IN ('x') AND NOT (qos = 2 OR topic =~ 'a/#')`, `not json`},
		{`SELECT 1 AS c[0], 2 AS c[-0], 3 AS c[1] FROM "t/#"`, `[]`},
		{`SELECT subbits(payload, 1, 8, 'integer', 'signed', 'little') AS b FROM "t/#"`, "\xff\x00"},
		{`SELECT term_decode(term_encode(payload.a)) AS t, json_decode(json_encode(payload)) AS j FROM "t/#"`, `{"a": {"b": [1.5, -2]}}`},
		{`SELECT regex_replace(payload.s, '(a+)', '<\1&>') AS r, pad(payload.s, 8, 'both', '.') AS p FROM "t/#"`, `{"s": "baaab"}`},
		{"SELECT a -- c\n FROM \"t\" WHERE a = 'x'", `{}`},
		{`SELECT format_date('millisecond', '+08:00', '%Y-%m-%dT%H:%M:%S.%3N%:z', 1700000000123) AS d FROM "t/#"`, `{}`},
	}
	for _, s := range seeds {
		f.Add(s.sql, s.payload)
	}
	f.Fuzz(func(t *testing.T, sql, payload string) {
		r, err := Parse(sql)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse error of type %T: %v", err, err)
			}
			return
		}
		in := Columns{"topic": "t/a", "clientid": "c1", "qos": int64(1), "payload": payload,
			"flags": map[string]Value{"retain": false}, "l": []Value{int64(1), 2.5, "x", Null}}
		start := time.Now()
		out, err := r.eval(in)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("evaluation took %v", d)
		}
		if err != nil {
			if _, ok := err.(*EvalError); !ok {
				t.Fatalf("Eval error of type %T: %v", err, err)
			}
			return
		}
		if b := out.JSON(); !json.Valid(b) {
			t.Fatalf("output is not valid JSON: %q", b)
		}
		r.Triggered(in)
	})
}
