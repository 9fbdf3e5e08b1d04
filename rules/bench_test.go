package rules

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The benchmarks measure the evaluator's cost per message beside
// hand-written Go functions doing the same work: decoding the payload,
// testing, building the output map. There are two baselines: "floor" is
// hand-written Go over DecodeJSON's values (the evaluator's own decoder, so
// the ratio is the interpreter's overhead), "stdjson" is what one would write
// with encoding/json into a struct. Run with
//
//	go test -run '^$' -bench . -count 3 ./rules/
//
// and read the ratios eval/floor (rules/README.md records them).

func benchColumns() Columns {
	return Columns{
		"id": "0005F8A3B0C2", "clientid": "dev-1", "username": "u1", "topic": "sensors/dev-1/env",
		"qos": int64(1), "peerhost": "10.0.0.7", "flags": map[string]Value{"retain": false, "dup": false},
		"publish_received_at": int64(1700000000123), "node": "wedge@pi", "timestamp": int64(1700000000123),
		"payload": `{"temp": 25.5, "hum": 41.2, "name": "kitchen", "sensors": [{"id": "a", "v": 1}, {"id": "b", "v": 7}, {"id": "c", "v": 3}, {"id": "d", "v": 0}]}`,
	}
}

type benchPayload struct {
	Temp    float64 `json:"temp"`
	Hum     float64 `json:"hum"`
	Name    string  `json:"name"`
	Sensors []struct {
		ID string `json:"id"`
		V  int64  `json:"v"`
	} `json:"sensors"`
}

func runEvalBench(b *testing.B, sql string, want int) {
	r, err := Parse(sql)
	if err != nil {
		b.Fatal(err)
	}
	cols := benchColumns()
	b.ReportAllocs()
	for b.Loop() {
		out, err := r.Eval(cols)
		if err != nil || out == nil {
			b.Fatal(err)
		}
		if n := len(out.Object) + len(out.Items); n != want {
			b.Fatalf("output has %d entries, want %d", n, want)
		}
	}
}

// (a) a WHERE filter rule.
const benchWhereSQL = `SELECT * FROM "sensors/#" WHERE payload.temp > 20 AND clientid = 'dev-1'`

func floorWhere(cols Columns) (map[string]Value, error) {
	v, err := DecodeJSON(cols["payload"].(string))
	if err != nil {
		return nil, err
	}
	p, _ := v.(map[string]Value)
	temp, ok := p["temp"].(float64)
	if !ok || !(temp > 20 && cols["clientid"] == "dev-1") {
		return nil, nil
	}
	out := make(map[string]Value, len(cols))
	for k, v := range cols {
		out[k] = v
	}
	return out, nil
}

func stdjsonWhere(cols Columns) (map[string]Value, error) {
	var p benchPayload
	if err := json.Unmarshal([]byte(cols["payload"].(string)), &p); err != nil {
		return nil, err
	}
	if !(p.Temp > 20 && cols["clientid"] == "dev-1") {
		return nil, nil
	}
	out := make(map[string]Value, len(cols))
	for k, v := range cols {
		out[k] = v
	}
	return out, nil
}

// (b) a projection with five fields and three functions.
const benchProjectSQL = `SELECT clientid, payload.temp AS temp, upper(payload.name) AS name, round(payload.hum) AS hum, str(qos) AS q FROM "sensors/#"`

func floorProject(cols Columns) (map[string]Value, error) {
	v, err := DecodeJSON(cols["payload"].(string))
	if err != nil {
		return nil, err
	}
	p, _ := v.(map[string]Value)
	name, _ := p["name"].(string)
	hum, _ := p["hum"].(float64)
	return map[string]Value{
		"clientid": cols["clientid"],
		"temp":     p["temp"],
		"name":     strings.ToUpper(name),
		"hum":      int64(math.Round(hum)),
		"q":        strconv.FormatInt(cols["qos"].(int64), 10),
	}, nil
}

func stdjsonProject(cols Columns) (map[string]Value, error) {
	var p benchPayload
	if err := json.Unmarshal([]byte(cols["payload"].(string)), &p); err != nil {
		return nil, err
	}
	return map[string]Value{
		"clientid": cols["clientid"],
		"temp":     p.Temp,
		"name":     strings.ToUpper(p.Name),
		"hum":      int64(math.Round(p.Hum)),
		"q":        strconv.FormatInt(cols["qos"].(int64), 10),
	}, nil
}

// (c) a FOREACH rule.
const benchForeachSQL = `FOREACH payload.sensors AS s DO clientid, s.id AS id, s.v * 2 AS v INCASE s.v > 0 FROM "sensors/#"`

func floorForeach(cols Columns) ([]map[string]Value, error) {
	v, err := DecodeJSON(cols["payload"].(string))
	if err != nil {
		return nil, err
	}
	p, _ := v.(map[string]Value)
	sensors, _ := p["sensors"].([]Value)
	out := make([]map[string]Value, 0, len(sensors))
	for _, s := range sensors {
		m, _ := s.(map[string]Value)
		if n, ok := m["v"].(int64); ok && n > 0 {
			out = append(out, map[string]Value{"clientid": cols["clientid"], "id": m["id"], "v": n * 2})
		}
	}
	return out, nil
}

func stdjsonForeach(cols Columns) ([]map[string]Value, error) {
	var p benchPayload
	if err := json.Unmarshal([]byte(cols["payload"].(string)), &p); err != nil {
		return nil, err
	}
	out := make([]map[string]Value, 0, len(p.Sensors))
	for _, s := range p.Sensors {
		if s.V > 0 {
			out = append(out, map[string]Value{"clientid": cols["clientid"], "id": s.ID, "v": s.V * 2})
		}
	}
	return out, nil
}

func benchMap(b *testing.B, f func(Columns) (map[string]Value, error), want int) {
	cols := benchColumns()
	b.ReportAllocs()
	for b.Loop() {
		if out, err := f(cols); err != nil || len(out) != want {
			b.Fatal(err)
		}
	}
}

func benchList(b *testing.B, f func(Columns) ([]map[string]Value, error), want int) {
	cols := benchColumns()
	b.ReportAllocs()
	for b.Loop() {
		if out, err := f(cols); err != nil || len(out) != want {
			b.Fatal(err)
		}
	}
}

func BenchmarkRules(b *testing.B) {
	n := len(benchColumns())
	b.Run("where/eval", func(b *testing.B) { runEvalBench(b, benchWhereSQL, n) })
	b.Run("where/floor", func(b *testing.B) { benchMap(b, floorWhere, n) })
	b.Run("where/stdjson", func(b *testing.B) { benchMap(b, stdjsonWhere, n) })
	b.Run("project/eval", func(b *testing.B) { runEvalBench(b, benchProjectSQL, 5) })
	b.Run("project/floor", func(b *testing.B) { benchMap(b, floorProject, 5) })
	b.Run("project/stdjson", func(b *testing.B) { benchMap(b, stdjsonProject, 5) })
	b.Run("foreach/eval", func(b *testing.B) { runEvalBench(b, benchForeachSQL, 3) })
	b.Run("foreach/floor", func(b *testing.B) { benchList(b, floorForeach, 3) })
	b.Run("foreach/stdjson", func(b *testing.B) { benchList(b, stdjsonForeach, 3) })
}

// TestBenchRulesAgreeWithFloors checks that each benchmarked rule and both
// of its baselines produce the same output, so that the ratios compare equal
// work.
func TestBenchRulesAgreeWithFloors(t *testing.T) {
	cols := benchColumns()
	check := func(sql string, base func() (Value, error)) {
		t.Helper()
		r, err := Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.Eval(cols)
		if err != nil {
			t.Fatal(err)
		}
		v, err := base()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(out.JSON()), string(EncodeJSON(Normalize(v))); got != want {
			t.Errorf("%s\n eval     %s\n baseline %s", sql, got, want)
		}
	}
	list := func(f func(Columns) ([]map[string]Value, error)) func() (Value, error) {
		return func() (Value, error) {
			l, err := f(cols)
			items := make([]Value, len(l))
			for i, m := range l {
				items[i] = m
			}
			return items, err
		}
	}
	obj := func(f func(Columns) (map[string]Value, error)) func() (Value, error) {
		return func() (Value, error) { return f(cols) }
	}
	check(benchWhereSQL, obj(floorWhere))
	check(benchWhereSQL, obj(stdjsonWhere))
	check(benchProjectSQL, obj(floorProject))
	check(benchProjectSQL, obj(stdjsonProject))
	check(benchForeachSQL, list(floorForeach))
	check(benchForeachSQL, list(stdjsonForeach))
}

// BenchmarkRatio runs each rule and its two baselines interleaved, message
// by message, and reports eval/floor and eval/stdjson: on a shared machine
// the three then see the same load, so the ratios hold steadier than ratios
// of separate benchmarks.
func BenchmarkRatio(b *testing.B) {
	cols := benchColumns()
	asList := func(f func(Columns) ([]map[string]Value, error)) func(Columns) error {
		return func(c Columns) error { _, err := f(c); return err }
	}
	asMap := func(f func(Columns) (map[string]Value, error)) func(Columns) error {
		return func(c Columns) error { _, err := f(c); return err }
	}
	cases := []struct {
		name           string
		sql            string
		floor, stdjson func(Columns) error
	}{
		{"where", benchWhereSQL, asMap(floorWhere), asMap(stdjsonWhere)},
		{"project", benchProjectSQL, asMap(floorProject), asMap(stdjsonProject)},
		{"foreach", benchForeachSQL, asList(floorForeach), asList(stdjsonForeach)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r, err := Parse(c.sql)
			if err != nil {
				b.Fatal(err)
			}
			var te, tf, ts time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := r.Eval(cols); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := c.floor(cols); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if err := c.stdjson(cols); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				te, tf, ts = te+t1.Sub(t0), tf+t2.Sub(t1), ts+t3.Sub(t2)
			}
			b.ReportMetric(float64(te)/float64(b.N), "eval-ns/msg")
			b.ReportMetric(float64(tf)/float64(b.N), "floor-ns/msg")
			b.ReportMetric(float64(te)/float64(tf), "eval/floor")
			b.ReportMetric(float64(te)/float64(ts), "eval/stdjson")
		})
	}
}
