package lwm2mapi

import (
	"context"
	"errors"
	"io"
	"iter"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/appliance/lwm2m"
	"github.com/wedge-iot/wedge/appliance/lwm2m/codec"
	"github.com/wedge-iot/wedge/appliance/lwm2m/model"
)

// DefaultTimeout is how long an operation waits for the device when timeout_ms is not given.
const DefaultTimeout = 5 * time.Second

// MaxTimeout bounds timeout_ms.
const MaxTimeout = 10 * time.Minute

// Resource is one resource of a client's object instance, named from the object model.
type Resource struct {
	ID         uint16 `json:"id"`
	Path       string `json:"path"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Operations string `json:"operations"`
	Multiple   bool   `json:"multiple"`
	Units      string `json:"units,omitempty"`
}

// Object is one entry of a client's object list with its definition.
type Object struct {
	Path      string     `json:"path"`
	ObjectID  uint16     `json:"object_id"`
	Instance  *uint16    `json:"instance,omitempty"`
	Name      string     `json:"name"`
	Resources []Resource `json:"resources"`
}

// ClientDetail is one client with its objects and resources.
type ClientDetail struct {
	lwm2m.ClientInfo
	Objects []Object `json:"objects"`
}

// Channel is EMQX 4.2's /lwm2m_channels entry.
type Channel struct {
	IMEI       string            `json:"imei"`
	Lifetime   int               `json:"lifetime"`
	IPAddress  string            `json:"ip_address"`
	Port       int               `json:"port"`
	Version    string            `json:"version"`
	ObjectList map[string]string `json:"objectList"`
}

// Routes returns the LwM2M routes for srv.
func Routes(srv *lwm2m.Server) []api.Route {
	ops := []string{"read", "write", "execute", "discover", "write-attr", "create", "delete", "observe", "cancel-observe"}
	routes := []api.Route{
		{Method: http.MethodGet, Path: "/lwm2m/clients", Tag: "lwm2m", Paged: true,
			Summary: "Registered LwM2M clients", Response: []lwm2m.ClientInfo{},
			Handler: func(c echo.Context) error { return api.Page(c, slice(srv.Clients())) }},
		{Method: http.MethodGet, Path: "/lwm2m/clients/:ep", Tag: "lwm2m",
			Summary: "One LwM2M client with its objects and resources", Response: ClientDetail{},
			Handler: func(c echo.Context) error {
				ep := api.PathParam(c, "ep")
				ci, ok := srv.Client(ep)
				if !ok {
					return notFound(ep)
				}
				return api.OK(c, detail(srv, ci))
			}},
		{Method: http.MethodDelete, Path: "/lwm2m/clients/:ep", Tag: "lwm2m",
			Summary: "Remove a client's registration (it must register again)",
			Handler: func(c echo.Context) error {
				ep := api.PathParam(c, "ep")
				if !srv.Deregister(ep) {
					return notFound(ep)
				}
				return api.Done(c)
			}},
		{Method: http.MethodGet, Path: "/lwm2m_channels", Tag: "lwm2m", Summary: "EMQX 4.2: LwM2M channels",
			Response: []Channel{}, Handler: func(c echo.Context) error { return api.OK(c, channels(srv)) }},
		{Method: http.MethodGet, Path: "/nodes/:node/lwm2m_channels", Tag: "lwm2m", Summary: "EMQX 4.2: LwM2M channels of a node",
			Response: []Channel{}, Handler: func(c echo.Context) error { return api.OK(c, channels(srv)) }},
		{Method: http.MethodGet, Path: "/lookup_cmd/:ep", Tag: "lwm2m", Summary: "EMQX 4.2: last result of a command",
			Query:    []api.Param{{Name: "msgType", Required: true}, {Name: "path", Required: true}},
			Response: lwm2m.LookupEntry{}, Handler: func(c echo.Context) error { return lookup(c, srv) }},
		{Method: http.MethodGet, Path: "/nodes/:node/lookup_cmd/:ep", Tag: "lwm2m", Summary: "EMQX 4.2: last result of a command",
			Query:    []api.Param{{Name: "msgType", Required: true}, {Name: "path", Required: true}},
			Response: lwm2m.LookupEntry{}, Handler: func(c echo.Context) error { return lookup(c, srv) }},
	}
	routes = append(routes,
		api.Route{Method: http.MethodGet, Path: "/lwm2m/objects", Tag: "lwm2m", Summary: "Object definitions of the object model",
			Response: []*model.Object{}, Handler: func(c echo.Context) error { return api.OK(c, srv.Registry().Objects()) }},
		api.Route{Method: http.MethodGet, Path: "/lwm2m/objects/:id", Tag: "lwm2m", Summary: "One object definition",
			Response: model.Object{}, Handler: func(c echo.Context) error {
				id, err := strconv.ParseUint(api.PathParam(c, "id"), 10, 16)
				if err != nil {
					return api.BadRequest("object id must be a number")
				}
				o, ok := srv.Registry().Object(uint16(id))
				if !ok {
					return api.NotFound("no definition of object %d", id)
				}
				return api.OK(c, o)
			}},
		api.Route{Method: http.MethodPost, Path: "/lwm2m/objects", Tag: "lwm2m", Status: http.StatusCreated,
			Summary:            "Add (or replace) object definitions at run time",
			Description:        "The body is an OMA LwM2M object definition XML document (one or more <Object> elements).",
			RequestContentType: "application/xml", Response: []*model.Object{},
			Handler: func(c echo.Context) error {
				b, err := io.ReadAll(c.Request().Body)
				if err != nil {
					return api.Errorf(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "body too large")
				}
				objs, err := srv.Registry().AddXML(b)
				if err != nil {
					return api.BadRequest("%v", err)
				}
				return api.Created(c, objs)
			}},
	)
	for _, op := range ops {
		op := op
		routes = append(routes, api.Route{Method: http.MethodPost, Path: "/lwm2m/clients/:ep/" + op, Tag: "lwm2m",
			Summary:     "LwM2M " + op + ": send it to the device and wait for its answer",
			Description: "The body is the command's data object (spec: EMQX's JSON command format); the reply is the up/resp message.",
			Query:       []api.Param{{Name: "timeout_ms", Type: "integer", Description: "how long to wait for the device (default 5000)"}},
			Request:     lwm2m.CommandData{}, Response: lwm2m.Response{},
			Handler: func(c echo.Context) error { return operation(c, srv, op) }})
	}
	return routes
}

// Register registers the LwM2M routes on s (before s.Start).
func Register(s *api.Server, srv *lwm2m.Server) { s.Register(Routes(srv)...) }

func notFound(ep string) error {
	return api.Errorf(http.StatusNotFound, api.CodeClientNotFound, "no LwM2M client %q", ep)
}

func slice[T any](xs []T) iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, x := range xs {
			if !yield(x) {
				return
			}
		}
	}
}

func detail(srv *lwm2m.Server, ci lwm2m.ClientInfo) ClientDetail {
	reg := srv.Registry()
	d := ClientDetail{ClientInfo: ci, Objects: []Object{}}
	for _, l := range ci.ObjectList {
		p, err := codec.ParsePath(l)
		if err != nil || len(p) == 0 {
			continue
		}
		o := Object{Path: l, ObjectID: p[0], Resources: []Resource{}}
		if len(p) > 1 {
			i := p[1]
			o.Instance = &i
		}
		if def, ok := reg.Object(p[0]); ok {
			o.Name = def.Name
			for _, r := range def.SortedResources() {
				rp := codec.Path{p[0], 0, r.ID}
				if len(p) > 1 {
					rp[1] = p[1]
				}
				o.Resources = append(o.Resources, Resource{ID: r.ID, Path: rp.String(), Name: r.Name, Type: r.TypeName,
					Operations: r.Operations, Multiple: r.Multiple, Units: r.Units})
			}
		}
		d.Objects = append(d.Objects, o)
	}
	return d
}

func channels(srv *lwm2m.Server) []Channel {
	reg := srv.Registry()
	out := []Channel{}
	for _, ci := range srv.Clients() {
		ch := Channel{IMEI: ci.Endpoint, Lifetime: ci.Lifetime, Version: ci.Version, ObjectList: map[string]string{}}
		if h, p, err := net.SplitHostPort(ci.Peer); err == nil {
			ch.IPAddress = h
			ch.Port, _ = strconv.Atoi(p)
		}
		for _, l := range ci.ObjectList {
			name := l
			if p, err := codec.ParsePath(l); err == nil && len(p) > 0 {
				if n := reg.Name(p[:1]); n != "" {
					name = n
				}
			}
			ch.ObjectList[l] = name
		}
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IMEI < out[j].IMEI })
	return out
}

func lookup(c echo.Context, srv *lwm2m.Server) error {
	ep := api.PathParam(c, "ep")
	msgType, path := c.QueryParam("msgType"), c.QueryParam("path")
	if msgType == "" || path == "" {
		return api.Errorf(http.StatusBadRequest, api.CodeMissingParam, "msgType and path are required")
	}
	e, ok, err := srv.Lookup(ep, msgType, path)
	if errors.Is(err, lwm2m.ErrNoClient) {
		return notFound(ep)
	}
	if !ok {
		return api.OK(c, []any{})
	}
	return api.OK(c, e)
}

func operation(c echo.Context, srv *lwm2m.Server, op string) error {
	ep := api.PathParam(c, "ep")
	timeout := DefaultTimeout
	if v := c.QueryParam("timeout_ms"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || time.Duration(n)*time.Millisecond > MaxTimeout {
			return api.BadRequest("timeout_ms must be a positive number of milliseconds up to %d", MaxTimeout.Milliseconds())
		}
		timeout = time.Duration(n) * time.Millisecond
	}
	var data lwm2m.CommandData
	if err := api.Bind(c, &data); err != nil {
		return err
	}
	cmd := lwm2m.Command{MsgType: op, Data: data}
	if enc := c.QueryParam("encoding"); enc != "" {
		cmd.Encoding = enc
	}
	if data.Path == "" && data.BasePath == "" {
		return api.Errorf(http.StatusBadRequest, api.CodeMissingParam, "data.path (or basePath) is required")
	}
	path := data.Path
	if path == "" {
		path = data.BasePath
	}
	if _, err := codec.ParsePath(path); err != nil {
		return api.BadRequest("bad path: %v", err)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
	defer cancel()
	resp, err := srv.Do(ctx, ep, cmd)
	switch {
	case errors.Is(err, lwm2m.ErrNoClient):
		return notFound(ep)
	case errors.Is(err, lwm2m.ErrTimeout):
		return api.Errorf(http.StatusGatewayTimeout, http.StatusGatewayTimeout, "the device did not answer within %d ms", timeout.Milliseconds())
	case errors.Is(err, lwm2m.ErrBadCommand):
		return api.BadRequest("%v", err)
	case err != nil:
		return api.Internal("lwm2m "+op, err)
	}
	return api.OK(c, resp)
}
