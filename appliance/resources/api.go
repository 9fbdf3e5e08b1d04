package resources

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wedge-iot/wedge/appliance/api"
)

// CreateBody is POST /api/v4/resources' body (EMQX 4's shape).
type CreateBody struct {
	ID          string         `json:"id,omitempty"`
	Type        string         `json:"type"`
	Config      map[string]any `json:"config"`
	Description string         `json:"description,omitempty"`
}

// AliveInfo is GET /api/v4/resource_status/{id}'s reply.
type AliveInfo struct {
	IsAlive bool   `json:"is_alive"`
	Detail  string `json:"detail,omitempty"`
}

// RegisterAPI adds the resource and resource type routes to the API server.
func RegisterAPI(s *api.Server, m *Manager) {
	s.Register(
		api.Route{Method: http.MethodGet, Path: "/resources", Tag: "rules", Name: "listResources",
			Summary: "Every resource (shared connection), secrets masked", Response: []Info{}, Handler: func(c echo.Context) error {
				return api.OK(c, m.List(""))
			}},
		api.Route{Method: http.MethodPost, Path: "/resources", Tag: "rules", Name: "createResource",
			Summary:     "Create a resource, or with ?test=true only test its connection",
			Description: `A resource whose target is unreachable is still created (its status shows it). With test=true nothing is created: 200 when the target answers, 400 with the reason when it does not.`,
			Query:       []api.Param{{Name: "test", Type: "boolean", Description: "only test the connection"}},
			Request:     CreateBody{}, Response: Info{}, Status: http.StatusCreated, Handler: func(c echo.Context) error {
				var b CreateBody
				if err := api.Bind(c, &b); err != nil {
					return err
				}
				spec := Spec{ID: b.ID, Type: b.Type, Config: b.Config, Description: b.Description}
				if c.QueryParam("test") == "true" {
					if err := m.Test(c.Request().Context(), spec); err != nil {
						return toAPIError(err)
					}
					return api.Done(c)
				}
				info, err := m.Create(spec)
				if err != nil {
					return toAPIError(err)
				}
				return api.Created(c, info)
			}},
		api.Route{Method: http.MethodGet, Path: "/resources/:id", Tag: "rules", Name: "getResource",
			Summary: "One resource with its status (the target is checked now)", Response: Info{}, Handler: func(c echo.Context) error {
				info, err := m.Get(c.Request().Context(), api.PathParam(c, "id"))
				if err != nil {
					return toAPIError(err)
				}
				return api.OK(c, info)
			}},
		api.Route{Method: http.MethodPost, Path: "/resources/:id", Tag: "rules", Name: "reconnectResource",
			Summary: "Reconnect a resource (drop idle or broken connections) and return its status", Response: Info{}, Handler: func(c echo.Context) error {
				info, err := m.Reconnect(c.Request().Context(), api.PathParam(c, "id"))
				if err != nil {
					return toAPIError(err)
				}
				return api.OK(c, info)
			}},
		api.Route{Method: http.MethodDelete, Path: "/resources/:id", Tag: "rules", Name: "deleteResource",
			Summary: "Delete a resource; refused (409) while an action uses it", Handler: func(c echo.Context) error {
				if err := m.Delete(api.PathParam(c, "id")); err != nil {
					return toAPIError(err)
				}
				return api.Done(c)
			}},
		api.Route{Method: http.MethodGet, Path: "/resource_status/:id", Tag: "rules", Name: "resourceStatus",
			Summary: "Whether a resource's target answers now", Response: AliveInfo{}, Handler: func(c echo.Context) error {
				info, err := m.Get(c.Request().Context(), api.PathParam(c, "id"))
				if err != nil {
					return toAPIError(err)
				}
				return api.OK(c, AliveInfo{IsAlive: info.Status[0].IsAlive, Detail: info.Status[0].Detail})
			}},
		api.Route{Method: http.MethodGet, Path: "/resource_types", Tag: "rules", Name: "listResourceTypes",
			Summary: "The resource types with their params", Response: []TypeInfo{}, Handler: func(c echo.Context) error {
				return api.OK(c, m.Types())
			}},
		api.Route{Method: http.MethodGet, Path: "/resource_types/:name", Tag: "rules", Name: "getResourceType",
			Summary: "One resource type", Response: TypeInfo{}, Handler: func(c echo.Context) error {
				t, ok := m.Type(api.PathParam(c, "name"))
				if !ok {
					return api.NotFound("no resource type %q", api.PathParam(c, "name"))
				}
				return api.OK(c, t)
			}},
		api.Route{Method: http.MethodGet, Path: "/resource_types/:name/resources", Tag: "rules", Name: "listResourcesOfType",
			Summary: "The resources of one type", Response: []Info{}, Handler: func(c echo.Context) error {
				name := api.PathParam(c, "name")
				if _, ok := m.Type(name); !ok {
					return api.NotFound("no resource type %q", name)
				}
				return api.OK(c, m.List(name))
			}},
	)
}

func toAPIError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return api.NotFound("%v", err)
	case errors.Is(err, ErrExists), errors.Is(err, ErrInUse):
		return api.Errorf(http.StatusConflict, http.StatusConflict, "%v", err)
	case errors.Is(err, ErrBadSpec):
		return api.BadRequest("%v", err)
	}
	// A failed connection test, or a store error.
	return api.BadRequest("%v", err)
}
