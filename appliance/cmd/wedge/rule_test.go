package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRuleCmd(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   string // exact, when wantErr is empty
		stderrIn string // a part of stderr
	}{
		{name: "object", args: []string{"test", "--sql", `SELECT payload.x AS x, 8 / 2 AS f, 8 div 2 AS i FROM "t/#"`, "--context", `{"topic":"t/1","payload":"{\"x\":1}"}`},
			stdout: "{\"f\":4.0,\"i\":4,\"x\":1}\n"},
		{name: "star echoes the context", args: []string{"test", "--sql", `SELECT * FROM "t/#"`, "--context", `{"topic":"t/1","qos":1,"payload":"p"}`},
			stdout: "{\"payload\":\"p\",\"qos\":1,\"topic\":\"t/1\"}\n"},
		{name: "foreach array", args: []string{"test", "--sql", `FOREACH payload.l AS n DO n * 2 AS d FROM "t/#"`, "--context", `{"topic":"t","payload":"{\"l\":[1,2]}"}`},
			stdout: "[{\"d\":2},{\"d\":4}]\n"},
		{name: "foreach empty", args: []string{"test", "--sql", `FOREACH payload.l FROM "t/#"`, "--context", `{"topic":"t","payload":"{}"}`},
			stdout: "[]\n"},
		{name: "where false", args: []string{"test", "--sql", `SELECT 1 AS a FROM "t/#" WHERE qos = 2`, "--context", `{"topic":"t","qos":1}`},
			stdout: "null\n"},
		{name: "from no match", args: []string{"test", "--sql", `SELECT 1 AS a FROM "x/#"`, "--context", `{"topic":"t"}`},
			stdout: "null\n"},
		{name: "event", args: []string{"test", "--sql", `SELECT clientid FROM "$events/client_connected"`, "--context", `{"event":"client.connected","clientid":"c1"}`, "--engine", "eval"},
			stdout: "{\"clientid\":\"c1\"}\n"},
		{name: "bad sql", args: []string{"test", "--sql", `SELECT FROM "t"`, "--context", `{}`}, code: 1, stderrIn: "sql syntax error at 1:8"},
		{name: "eval error", args: []string{"test", "--sql", `SELECT 1 AS a FROM "t/#" WHERE clientid > 5`, "--context", `{"topic":"t","clientid":"c1"}`}, code: 1, stderrIn: "non-numeric string"},
		{name: "bad context", args: []string{"test", "--sql", `SELECT 1 AS a FROM "t/#"`, "--context", `[1]`}, code: 1, stderrIn: "want a JSON object"},
		{name: "wasm engine", args: []string{"test", "--sql", `SELECT payload.x + 1 AS x, upper(clientid) AS c FROM "t/#" WHERE qos = 1`, "--context", `{"topic":"t/1","qos":1,"clientid":"c1","payload":"{\"x\":1}"}`, "--engine", "wasm"},
			stdout: "{\"c\":\"C1\",\"x\":2}\n"},
		{name: "wasm engine foreach", args: []string{"test", "--sql", `FOREACH payload.l AS n DO n * 2 AS d INCASE n > 1 FROM "t/#"`, "--context", `{"topic":"t","payload":"{\"l\":[1,2]}"}`, "--engine", "wasm"},
			stdout: "[{\"d\":4}]\n"},
		{name: "wasm engine error", args: []string{"test", "--sql", `SELECT 1 AS a FROM "t/#" WHERE clientid > 5`, "--context", `{"topic":"t","clientid":"c1"}`, "--engine", "wasm"}, code: 1, stderrIn: "non-numeric string"},
		{name: "unknown engine", args: []string{"test", "--sql", `SELECT 1 AS a FROM "t/#"`, "--engine", "jit"}, code: 2, stderrIn: "unknown engine"},
		{name: "missing sql", args: []string{"test"}, code: 2, stderrIn: "--sql is required"},
		{name: "no subcommand", args: nil, code: 2, stderrIn: "usage: wedge rule test"},
		{name: "unknown flag", args: []string{"test", "--nope"}, code: 2, stderrIn: "flag provided but not defined"},
		{name: "stray argument", args: []string{"test", "--sql", "x", "extra"}, code: 2, stderrIn: "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runRuleCmd(c.args, &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, c.code, stdout.String(), stderr.String())
			}
			if c.stderrIn == "" {
				if stdout.String() != c.stdout {
					t.Fatalf("stdout %q, want %q (stderr %q)", stdout.String(), c.stdout, stderr.String())
				}
				return
			}
			if !strings.Contains(stderr.String(), c.stderrIn) {
				t.Fatalf("stderr %q, want it to contain %q", stderr.String(), c.stderrIn)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q on failure, want nothing", stdout.String())
			}
		})
	}
}
