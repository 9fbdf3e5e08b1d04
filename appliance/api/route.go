package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Prefix is the path under which every registered route is served.
const Prefix = "/api/v4"

// DefaultMaxBody is the request body limit of a route that sets no MaxBody.
const DefaultMaxBody = 1 << 20

// Route is one endpoint under /api/v4 with the metadata its OpenAPI entry is generated from.
// Every route needs credentials; there is no way to register an open one.
type Route struct {
	// Method is the HTTP method: GET, POST, PUT, PATCH or DELETE.
	Method string
	// Path is relative to /api/v4, in echo's syntax: "/clients/:clientid". Path parameters
	// become OpenAPI path parameters (strings); read them with PathParam, which undoes the
	// percent-encoding of values such as topics.
	Path string
	// Name is the OpenAPI operationId; when empty it is derived from Method and Path.
	Name string
	// Summary is a one-line description; Description, optional, is longer.
	Summary     string
	Description string
	// Tag groups routes in the document (e.g. "clients", "rules").
	Tag string
	// Query documents the query parameters (Paged adds _page and _limit itself).
	Query []Param
	// Request is a value of the request body's Go type (e.g. PublishRequest{}); its JSON schema
	// is derived by reflection from the json tags. nil: no body. RequestContentType, when set
	// (e.g. "application/wasm"), replaces application/json; with a nil Request the body is
	// documented as binary.
	Request            any
	RequestContentType string
	// Response is a value of the Go type of the reply's "data" (e.g. []ClientInfo{}); nil: the
	// reply is {"code":0} alone.
	Response any
	// Raw marks a reply that is not an envelope: Response documents the whole body.
	Raw bool
	// Paged marks a list reply with "meta" read from _page and _limit (see Page).
	Paged bool
	// Status is the success status documented (default 200).
	Status int
	// MaxBody limits the request body in bytes (default DefaultMaxBody).
	MaxBody int64
	// Handler serves the route. Return *Error (or any error: it becomes a 500) rather than
	// writing error replies directly.
	Handler echo.HandlerFunc
}

// Param documents one query parameter.
type Param struct {
	Name        string
	Type        string // "string" (default), "integer", "boolean" or "number"
	Description string
	Required    bool
	Enum        []string
}

var methods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
}

// Register adds routes under /api/v4, behind authentication, and records them for the OpenAPI
// document. Features call it from the daemon's wiring before Start. It panics on a programming
// error: a route without a handler, an unknown method, a path not starting with "/", a duplicate
// method and path, or a call after Start.
func (s *Server) Register(routes ...Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		panic("api: Register called after Start")
	}
	for _, r := range routes {
		r.Method = strings.ToUpper(r.Method)
		switch {
		case r.Handler == nil:
			panic(fmt.Sprintf("api: route %s %s has no handler", r.Method, r.Path))
		case !methods[r.Method]:
			panic(fmt.Sprintf("api: route %s %s: unsupported method", r.Method, r.Path))
		case !strings.HasPrefix(r.Path, "/"):
			panic(fmt.Sprintf("api: route %s %q: path must start with /", r.Method, r.Path))
		}
		key := r.Method + " " + r.Path
		if s.routeKeys[key] {
			panic("api: route registered twice: " + key)
		}
		s.routeKeys[key] = true
		s.routes = append(s.routes, r)
		limit := r.MaxBody
		if limit <= 0 {
			limit = DefaultMaxBody
		}
		h := r.Handler
		s.group.Add(r.Method, r.Path, func(c echo.Context) error {
			if c.Request().Body != nil {
				c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, limit)
			}
			return h(c)
		}, s.auth.middleware)
	}
}

// Routes returns a copy of the registered routes, in registration order.
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Route(nil), s.routes...)
}

// PathParam returns the path parameter name, percent-decoded (so a client id or topic holding
// "/" can be passed as %2F).
func PathParam(c echo.Context, name string) string {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v // echo matched the decoded path: v is decoded already
	}
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}
