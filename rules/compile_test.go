package rules

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// checkCompiled runs sql on ctx through both engines and fails unless the
// outputs are byte-identical JSON, or both fail with the same message.
// runRuleCases calls it for every table-driven rule case of the package.
func checkCompiled(t *testing.T, sql, ctx string) {
	t.Helper()
	want, werr := Test(sql, ctx)
	got, gerr := TestEngine(EngineWasm, sql, ctx)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("compiled path differs on %q / %s:\n eval: %s, %v\n wasm: %s, %v", sql, ctx, want, werr, got, gerr)
	}
	if string(want) != string(got) {
		t.Fatalf("compiled path differs on %q / %s:\n eval: %s\n wasm: %s", sql, ctx, want, got)
	}
}

func TestCompiledRuleBasics(t *testing.T) {
	r, err := Parse(`SELECT payload.temp AS t, qos + 1 AS q, -qos AS n, 2.5 * 2 AS f, upper(clientid) AS c,
		CASE WHEN qos = 1 THEN 'one' ELSE 'other' END AS k, qos IN (0, 1) AS i
		FROM "t/#" WHERE payload.temp > 20 AND NOT clientid = 'x'`)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(bin[:4]) != "\x00asm" {
		t.Fatalf("not a wasm module: % x", bin[:8])
	}
	c, err := CompileRule(r)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := Columns{"topic": "t/1", "clientid": "c1", "qos": int64(1), "payload": `{"temp": 25.5}`}
	out, err := c.Eval(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"c":"C1","f":5.0,"i":true,"k":"one","n":-1,"q":2,"t":25.5}`
	if got := string(out.JSON()); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	in["payload"] = `{"temp": 5}`
	if out, err := c.Eval(in); err != nil || out != nil {
		t.Fatalf("WHERE false: got %v, %v; want nil, nil", out, err)
	}
}

// TestDefaultEngine checks the platform choice: the compiled path where
// wazero has a compiler, the evaluator on armv7; and that both engines run
// here (the compiled one in the interpreter where there is no compiler).
func TestDefaultEngine(t *testing.T) {
	want := EngineWasm
	if runtime.GOARCH == "arm" {
		want = EngineEval
	}
	if got := DefaultEngine(); got != want {
		t.Fatalf("DefaultEngine() = %q on %s, want %q", got, runtime.GOARCH, want)
	}
	h, err := DefaultWasmHost()
	if err != nil {
		t.Fatal(err)
	}
	if h.Runtime().Compiler() != (want == EngineWasm) {
		t.Fatalf("wazero compiler = %v on %s", h.Runtime().Compiler(), runtime.GOARCH)
	}
	for _, e := range []Engine{EngineEval, EngineWasm} {
		out, err := TestEngine(e, `SELECT qos * 2 AS q FROM "t/#" WHERE clientid = 'c1'`, `{"topic":"t/1","qos":2,"clientid":"c1"}`)
		if err != nil || string(out) != `{"q":4}` {
			t.Fatalf("%s: %s, %v", e, out, err)
		}
	}
	if _, err := ParseEngine("jit"); err == nil {
		t.Fatal("ParseEngine accepted jit")
	}
}

// nondeterministic lists the functions whose results differ between two
// evaluations: rules calling them are not compared.
var nondeterministic = []string{"random", "uuid_v4", "now_", "mongo_date"}

// checkCompiledRule evaluates r on in with both engines and fails unless
// they agree (identical output JSON, or the same error message).
// runFuncCases calls it for every built-in function case of the package.
func checkCompiledRule(t *testing.T, r *Rule, in Columns) {
	t.Helper()
	for _, f := range nondeterministic {
		if strings.Contains(r.SQL, f) {
			return
		}
	}
	c, err := CompileRule(r)
	if err != nil {
		t.Errorf("compile %q: %v", r.SQL, err)
		return
	}
	defer c.Close()
	want, werr := r.Eval(in)
	got, gerr := c.Eval(in)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) || string(want.JSON()) != string(got.JSON()) {
		t.Errorf("compiled path differs on %q:\n eval: %s, %v\n wasm: %s, %v", r.SQL, want.JSON(), werr, got.JSON(), gerr)
	}
	var ee *EvalError
	if gerr != nil && !errors.As(gerr, &ee) {
		t.Errorf("%q: compiled error of type %T, want *EvalError", r.SQL, gerr)
	}
}

// TestCompiledWorkBudget runs the evaluator's work-budget rules through
// the compiled path: they must fail the same way.
func TestCompiledWorkBudget(t *testing.T) {
	big := `{"x": "` + strings.Repeat("y", 200000) + `"}`
	in := Columns{"topic": "t", "a": big, "b": big + " ", "s1": strings.Repeat("z", 300000), "s2": strings.Repeat("z", 300000)}
	for _, sql := range []string{
		`FOREACH [1..99999] DO pad('', 1000000) AS x FROM "t"`,
		`FOREACH [1..99999] DO a.x AS p, b.x AS q FROM "t"`,
		`FOREACH [1..99999] AS i INCASE s1 = s2 FROM "t"`,
		`FOREACH [1..99999] AS i INCASE s1 IN ('a', s2) FROM "t"`,
		`FOREACH [1..99999] AS i DO i * 2 AS d INCASE i > 99990 FROM "t"`,
		`FOREACH [1..99999] AS i DO i + 1 AS a, i - 1 AS b, i * 2 AS c, i > 5 AS d, CASE i WHEN 3 THEN 1 END AS e FROM "t"`,
	} {
		r, err := Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		checkCompiledRule(t, r, in)
	}
}

// TestCompiledLazyBudget checks the budget of work the guest does alone
// near maxWork: the compiled path starts with maxWork and adds the input's
// share only when the work exceeds it (env.overBudget, run again from the
// start when the guest stopped), which must give the evaluator's results.
func TestCompiledLazyBudget(t *testing.T) {
	// ≈ 99999 × (1 + 700 columns) units of FOREACH charges: over maxWork,
	// in the guest alone (the module runs again) or with a host operator
	// per element (the host makes the budget exact and tells the guest).
	for _, sql := range []string{
		`FOREACH [1..99999] AS i DO i * 2 AS d INCASE i > 99990 AND i < 99995 FROM "t"`,
		`FOREACH [1..7000] AS i DO i * 2 AS d INCASE i > 6990 OR topic = s FROM "t"`,
	} {
		r, err := Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		in := Columns{"topic": "t", "s": strings.Repeat("s", 10000)}
		for i := range 700 {
			in[fmt.Sprint("c", i)] = int64(i)
		}
		checkCompiledRule(t, r, in) // over the budget: maxWork only
		if _, err := r.Eval(in); err == nil {
			t.Fatal("want a budget error without the big column")
		}
		for _, n := range []int{1 << 20, 2 << 20, 4 << 20} {
			in["big"] = strings.Repeat("b", n) // 4 units per byte
			checkCompiledRule(t, r, in)
		}
		if _, err := r.Eval(in); err != nil {
			t.Fatalf("want no budget error with a big column: %v", err)
		}
		c, err := CompileRule(r)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 { // instances are reused: so is their state
			ok, err := c.Match(in)
			if err != nil || !ok {
				t.Fatalf("Match = %v, %v", ok, err)
			}
		}
		c.Close()
	}
}

// TestCompiledConcurrent runs one compiled rule from many goroutines (run
// with -race): instances come from the pool, one per caller.
func TestCompiledConcurrent(t *testing.T) {
	r, err := Parse(`FOREACH payload.l AS n DO n * 2 AS d, upper(clientid) AS c INCASE n > 1 FROM "t/#" WHERE clientid = 'c1'`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CompileRule(r)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := Columns{"clientid": "c1", "payload": `{"l": [1, 2, 3]}`}
	done := make(chan string)
	for range 8 {
		go func() {
			var last string
			for range 50 {
				out, err := c.Eval(in)
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

// TestCompiledDoesNotModifyInput mirrors TestEvalDoesNotModifyInput.
func TestCompiledDoesNotModifyInput(t *testing.T) {
	r, err := Parse(`SELECT payload.x AS payload.y, 1 AS m.k, * FROM "t"`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CompileRule(r)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inner := map[string]Value{"k": int64(0)}
	in := Columns{"payload": `{"x":1}`, "m": inner}
	out, err := c.Eval(in)
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
