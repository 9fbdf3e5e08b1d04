package rules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/wasm"
)

// The compiled path's benchmarks. Run with
//
//	go test -run '^$' -bench 'Compiled|CompileLoad|Restart' -count 3 ./rules/
//
// BenchmarkCompiled runs each benchmark rule three ways in one run: the
// compiled module (wasm), the evaluator (eval) and hand-written Go over
// DecodeJSON's values (floor, from bench_test.go).

func benchCompiled(b *testing.B, sql string, want int) {
	r, err := Parse(sql)
	if err != nil {
		b.Fatal(err)
	}
	c, err := CompileRule(r)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cols := benchColumns()
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.Eval(cols)
		if err != nil || out == nil {
			b.Fatal(err)
		}
		if n := len(out.Object) + len(out.Items); n != want {
			b.Fatalf("output has %d entries, want %d", n, want)
		}
	}
}

func BenchmarkCompiled(b *testing.B) {
	n := len(benchColumns())
	b.Run("where/wasm", func(b *testing.B) { benchCompiled(b, benchWhereSQL, n) })
	b.Run("where/eval", func(b *testing.B) { runEvalBench(b, benchWhereSQL, n) })
	b.Run("where/floor", func(b *testing.B) { benchMap(b, floorWhere, n) })
	b.Run("project/wasm", func(b *testing.B) { benchCompiled(b, benchProjectSQL, 5) })
	b.Run("project/eval", func(b *testing.B) { runEvalBench(b, benchProjectSQL, 5) })
	b.Run("project/floor", func(b *testing.B) { benchMap(b, floorProject, 5) })
	b.Run("foreach/wasm", func(b *testing.B) { benchCompiled(b, benchForeachSQL, 3) })
	b.Run("foreach/eval", func(b *testing.B) { runEvalBench(b, benchForeachSQL, 3) })
	b.Run("foreach/floor", func(b *testing.B) { benchList(b, floorForeach, 3) })
}

// TestBenchRulesCompiledAgree checks the benchmarked rules give the same
// output on both engines, so the compiled figures measure the same work.
func TestBenchRulesCompiledAgree(t *testing.T) {
	for _, sql := range []string{benchWhereSQL, benchProjectSQL, benchForeachSQL} {
		r, err := Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		c, err := CompileRule(r)
		if err != nil {
			t.Fatal(err)
		}
		want, err1 := r.Eval(benchColumns())
		got, err2 := c.Eval(benchColumns())
		c.Close()
		if err1 != nil || err2 != nil || string(want.JSON()) != string(got.JSON()) {
			t.Fatalf("%s\n eval %s %v\n wasm %s %v", sql, want.JSON(), err1, got.JSON(), err2)
		}
	}
}

// BenchmarkCompileLoad is compile-and-load of the projection rule: SQL
// parse, Wasm generation, wazero compilation (no cache) and the first
// instance.
func BenchmarkCompileLoad(b *testing.B) {
	h, err := NewWasmHost(context.Background(), wasm.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	i := 0
	for b.Loop() {
		i++
		// A distinct rule each time, so that nothing is reused.
		r, err := Parse(benchProjectSQL + fmt.Sprintf(" WHERE qos != %d", -i))
		if err != nil {
			b.Fatal(err)
		}
		c, err := h.Load(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Eval(benchColumns()); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkRestart100 measures a restart with 100 rules and a warm on-disk
// compilation cache: a new host, then 100 rules parsed, compiled to Wasm,
// loaded from the cache and run once.
func BenchmarkRestart100(b *testing.B) {
	dir := b.TempDir()
	sqls := make([]string, 100)
	for i := range sqls {
		sqls[i] = benchProjectSQL + fmt.Sprintf(" WHERE qos != %d", -i)
	}
	start := func() time.Duration {
		t0 := time.Now()
		h, err := NewWasmHost(context.Background(), wasm.Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		for _, s := range sqls {
			r, err := Parse(s)
			if err != nil {
				b.Fatal(err)
			}
			c, err := h.Load(r)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Eval(benchColumns()); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	cold := start() // fills the cache
	b.ResetTimer()
	for b.Loop() {
		start()
	}
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-ms")
}

// BenchmarkCompiledRatio runs each rule compiled, evaluated and as
// hand-written Go interleaved, message by message, so that the three see
// the same machine load, and reports the per-message costs and ratios.
func BenchmarkCompiledRatio(b *testing.B) {
	cols := benchColumns()
	cases := []struct {
		name  string
		sql   string
		floor func(Columns) error
	}{
		{"where", benchWhereSQL, func(c Columns) error { _, err := floorWhere(c); return err }},
		{"project", benchProjectSQL, func(c Columns) error { _, err := floorProject(c); return err }},
		{"foreach", benchForeachSQL, func(c Columns) error { _, err := floorForeach(c); return err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r, err := Parse(c.sql)
			if err != nil {
				b.Fatal(err)
			}
			cr, err := CompileRule(r)
			if err != nil {
				b.Fatal(err)
			}
			defer cr.Close()
			var tw, te, tf time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := cr.Eval(cols); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := r.Eval(cols); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if err := c.floor(cols); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				tw, te, tf = tw+t1.Sub(t0), te+t2.Sub(t1), tf+t3.Sub(t2)
			}
			n := float64(b.N)
			b.ReportMetric(float64(tw)/n, "wasm-ns/msg")
			b.ReportMetric(float64(te)/n, "eval-ns/msg")
			b.ReportMetric(float64(tf)/n, "floor-ns/msg")
			b.ReportMetric(float64(tw)/float64(tf), "wasm/floor")
			b.ReportMetric(float64(tw)/float64(te), "wasm/eval")
		})
	}
}
