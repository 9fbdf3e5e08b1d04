package lwm2m

import "github.com/prometheus/client_golang/prometheus"

type collector struct {
	s     *Server
	descs map[string]*prometheus.Desc
}

var lwm2mMetrics = []struct{ name, help string }{
	{"wedge_lwm2m_registrations_total", "LwM2M registrations accepted"},
	{"wedge_lwm2m_registrations_refused_total", "LwM2M registrations refused"},
	{"wedge_lwm2m_updates_total", "LwM2M registration updates"},
	{"wedge_lwm2m_deregistrations_total", "LwM2M de-registrations"},
	{"wedge_lwm2m_expirations_total", "LwM2M registrations removed when their lifetime ran out"},
	{"wedge_lwm2m_commands_total", "commands sent to LwM2M devices"},
	{"wedge_lwm2m_commands_queued_total", "commands that waited for a queue-mode device"},
	{"wedge_lwm2m_commands_dropped_total", "commands dropped (queue full or device gone)"},
	{"wedge_lwm2m_commands_invalid_total", "undecodable downlink command messages"},
	{"wedge_lwm2m_timeouts_total", "commands a device did not answer"},
	{"wedge_lwm2m_notifications_total", "observe notifications published into MQTT"},
	{"wedge_lwm2m_malformed_datagrams_total", "malformed datagrams dropped"},
	{"wedge_lwm2m_clients", "registered LwM2M clients"},
}

// Collector returns a Prometheus collector of the server's counters.
func (s *Server) Collector() prometheus.Collector {
	c := &collector{s: s, descs: map[string]*prometheus.Desc{}}
	for _, m := range lwm2mMetrics {
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
	s := c.s.Counters()
	vals := []int64{s.Registrations, s.RegistrationsDenied, s.Updates, s.Deregistrations, s.Expirations, s.Commands,
		s.CommandsQueued, s.CommandsDropped, s.CommandsInvalid, s.Timeouts, s.Notifications, s.Malformed, int64(s.Clients)}
	for i, m := range lwm2mMetrics {
		t := prometheus.CounterValue
		if m.name == "wedge_lwm2m_clients" {
			t = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], t, float64(vals[i]))
	}
}
