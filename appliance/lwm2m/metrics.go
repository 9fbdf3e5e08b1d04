package lwm2m

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wedge-iot/wedge/appliance/metrics"
)

var lwm2mMetrics = []metrics.Def{
	{Name: "wedge_lwm2m_registrations_total", Help: "LwM2M registrations accepted"},
	{Name: "wedge_lwm2m_registrations_refused_total", Help: "LwM2M registrations refused"},
	{Name: "wedge_lwm2m_updates_total", Help: "LwM2M registration updates"},
	{Name: "wedge_lwm2m_deregistrations_total", Help: "LwM2M de-registrations"},
	{Name: "wedge_lwm2m_expirations_total", Help: "LwM2M registrations removed when their lifetime ran out"},
	{Name: "wedge_lwm2m_commands_total", Help: "commands sent to LwM2M devices"},
	{Name: "wedge_lwm2m_commands_queued_total", Help: "commands that waited for a queue-mode device"},
	{Name: "wedge_lwm2m_commands_dropped_total", Help: "commands dropped (queue full or device gone)"},
	{Name: "wedge_lwm2m_commands_invalid_total", Help: "undecodable downlink command messages"},
	{Name: "wedge_lwm2m_timeouts_total", Help: "commands a device did not answer"},
	{Name: "wedge_lwm2m_notifications_total", Help: "observe notifications published into MQTT"},
	{Name: "wedge_lwm2m_malformed_datagrams_total", Help: "malformed datagrams dropped"},
	{Name: "wedge_lwm2m_clients", Help: "registered LwM2M clients", Gauge: true},
}

// Collector returns a Prometheus collector of the server's counters.
func (s *Server) Collector() prometheus.Collector {
	return metrics.Collector(lwm2mMetrics, func() []int64 {
		c := s.Counters()
		return []int64{c.Registrations, c.RegistrationsDenied, c.Updates, c.Deregistrations, c.Expirations, c.Commands,
			c.CommandsQueued, c.CommandsDropped, c.CommandsInvalid, c.Timeouts, c.Notifications, c.Malformed, int64(c.Clients)}
	})
}
