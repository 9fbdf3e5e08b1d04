package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	n := int64(0)
	c := Collector([]Def{{Name: "x_total", Help: "xs"}, {Name: "y", Help: "ys", Gauge: true}},
		func() []int64 { n++; return []int64{n, 7} })
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := "# HELP x_total xs\n# TYPE x_total counter\nx_total 1\n# HELP y ys\n# TYPE y gauge\ny 7\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, "x_total 1", "x_total 2", 1))); err != nil {
		t.Fatal("values are read at each scrape:", err)
	}
}
