// Package metrics owns the one way wedge's components export their counters to Prometheus: a
// list of metric definitions and a function returning the current values, read at each scrape.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Def defines one metric: its name, help text, and whether it is a gauge (else a counter).
type Def struct {
	Name, Help string
	Gauge      bool
}

// Collector returns a collector reporting values() at each scrape, one value per def, in order.
func Collector(defs []Def, values func() []int64) prometheus.Collector {
	c := &collector{defs: defs, values: values, descs: make([]*prometheus.Desc, len(defs))}
	for i, d := range defs {
		c.descs[i] = prometheus.NewDesc(d.Name, d.Help, nil, nil)
	}
	return c
}

type collector struct {
	defs   []Def
	values func() []int64
	descs  []*prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	vals := c.values()
	for i, d := range c.defs {
		t := prometheus.CounterValue
		if d.Gauge {
			t = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[i], t, float64(vals[i]))
	}
}
