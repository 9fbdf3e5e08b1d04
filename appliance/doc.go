// Package appliance is wedge's wiring: the one place that knows the whole data flow. It opens
// the data directory, assembles the broker, its storage, the REST API and metrics from the
// configuration, starts them in order (every listener is open before /healthz answers 200),
// applies SIGHUP reloads and drains everything on SIGTERM.
package appliance
