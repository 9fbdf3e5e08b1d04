package coap

import "github.com/prometheus/client_golang/prometheus"

type collector struct {
	g     *Gateway
	descs map[string]*prometheus.Desc
}

var coapMetrics = []struct{ name, help string }{
	{"wedge_coap_published_total", "CoAP publishes routed into MQTT"},
	{"wedge_coap_notifications_total", "CoAP notifications sent to observers"},
	{"wedge_coap_dropped_total", "messages dropped at a full observation queue"},
	{"wedge_coap_observations_total", "CoAP observations started"},
	{"wedge_coap_refused_total", "CoAP requests refused with an error code"},
	{"wedge_coap_malformed_datagrams_total", "malformed datagrams dropped"},
	{"wedge_coap_keepalives_total", "CoAP keepalive requests"},
	{"wedge_coap_observations", "active CoAP observations"},
}

// Collector returns a Prometheus collector of the gateway's counters.
func (g *Gateway) Collector() prometheus.Collector {
	c := &collector{g: g, descs: map[string]*prometheus.Desc{}}
	for _, m := range coapMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.g.Counters()
	vals := []int64{s.Published, s.Notifications, s.Dropped, s.Observations, s.Refused, s.Malformed, s.Keepalives, int64(s.Active)}
	for i, m := range coapMetrics {
		t := prometheus.CounterValue
		if m.name == "wedge_coap_observations" {
			t = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], t, float64(vals[i]))
	}
}
