package coap

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wedge-iot/wedge/appliance/metrics"
)

var coapMetrics = []metrics.Def{
	{Name: "wedge_coap_published_total", Help: "CoAP publishes routed into MQTT"},
	{Name: "wedge_coap_notifications_total", Help: "CoAP notifications sent to observers"},
	{Name: "wedge_coap_dropped_total", Help: "messages dropped at a full observation queue"},
	{Name: "wedge_coap_observations_total", Help: "CoAP observations started"},
	{Name: "wedge_coap_refused_total", Help: "CoAP requests refused with an error code"},
	{Name: "wedge_coap_malformed_datagrams_total", Help: "malformed datagrams dropped"},
	{Name: "wedge_coap_keepalives_total", Help: "CoAP keepalive requests"},
	{Name: "wedge_coap_observations", Help: "active CoAP observations", Gauge: true},
}

// Collector returns a Prometheus collector of the gateway's counters.
func (g *Gateway) Collector() prometheus.Collector {
	return metrics.Collector(coapMetrics, func() []int64 {
		s := g.Counters()
		return []int64{s.Published, s.Notifications, s.Dropped, s.Observations, s.Refused, s.Malformed, s.Keepalives, int64(s.Active)}
	})
}
