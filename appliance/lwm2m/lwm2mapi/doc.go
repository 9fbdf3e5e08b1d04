// Package lwm2mapi registers the LwM2M REST routes on the API server: wedge's
// /lwm2m/clients list, detail and synchronous device operations, and EMQX 4.2's
// /lwm2m_channels and /lookup_cmd/{ep}. It is the only place that knows both the API and the
// LwM2M server (protocol packages never import the API).
package lwm2mapi
