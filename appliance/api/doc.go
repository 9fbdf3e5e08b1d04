// Package api owns wedge's REST API: the HTTP(S) listener on the API port (18083 by default), the
// /api/v4 routes and their JSON envelope, authentication (API keys and dashboard users, the built-in
// user admin), the OpenAPI document generated from the registered routes, and the open endpoints
// /healthz, /metrics (Prometheus text) and the dashboard's static files at /.
//
// # Routes
//
// Every feature registers its own routes with [Server.Register], giving each one metadata (summary,
// tag, query parameters, the Go types of its request and response bodies). /api/v4/openapi.json is
// generated from that registry, so a route that is served is also documented. Register is called
// by the daemon's wiring (or by a feature's own API adapter) before [Server.Start]. Protocol
// packages (broker, coap, lwm2m) never import this package: the API reads them through small
// interfaces defined here, such as [Broker], whose EMQX 4 endpoints (/clients, /subscriptions,
// /routes, /stats, /metrics, /mqtt/publish) this package serves itself when Options.Broker is set.
//
// # Envelope
//
// Success replies are {"code": 0, "data": …}; paged lists add "meta" (see [Meta]) and read EMQX's
// _page (default 1) and _limit (default and maximum 10000) query parameters. Errors are
// {"code": <non-zero>, "message": …} with the matching HTTP status; the codes are EMQX 4's where it
// has one (see the Code constants). Unknown paths, wrong methods and missing credentials follow the
// same envelope. Handlers return *[Error] (or use the helpers [OK], [Done], [Page], [Bind]).
//
// # Authentication
//
// Everything under /api/v4, including openapi.json, needs HTTP Basic credentials: either an API key
// (EMQX "apps": the app id and its secret, managed at /api/v4/apps) or a dashboard user (managed at
// /api/v4/users). The user admin always exists: the first start generates a random password,
// stores its hash and prints it once (Options.OnAdminPassword, or a log line "admin password: …");
// when Options.AdminPassword is set, admin's password is set to it at every start. Secrets are
// stored as bcrypt hashes (of their SHA-256, so any length works) in the bbolt buckets api_users and
// api_apps; successful verifications are cached for a few minutes under a keyed hash of the
// credentials, so API calls do not pay bcrypt's cost each time. Any change to users or apps clears
// the cache. There are no roles: every authenticated principal may call every endpoint.
//
// Open without credentials: /healthz (200 once the daemon called [Server.SetReady], 503 before),
// /metrics and the dashboard's files at /. Nothing else.
package api
