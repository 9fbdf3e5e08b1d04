package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/labstack/echo/v4"
	bolt "go.etcd.io/bbolt"

	"github.com/wedge-iot/wedge/appliance/api"
)

// Rule is a feature's own type; its OpenAPI schema comes from the json tags.
type Rule struct {
	ID      string `json:"id"`
	RawSQL  string `json:"rawsql" doc:"the rule's SQL"`
	Enabled bool   `json:"enabled"`
}

// A feature registers its routes (with the metadata /api/v4/openapi.json is generated from)
// between New and Start.
func ExampleServer_Register() {
	dir, _ := os.MkdirTemp("", "wedge-example")
	defer os.RemoveAll(dir)
	db, _ := bolt.Open(filepath.Join(dir, "wedge.db"), 0o600, nil)
	defer db.Close()

	s, err := api.New(api.Options{
		Listen:          "127.0.0.1:0",
		DB:              db,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		AdminPassword:   "example-password",
		OnAdminPassword: func(pw string) { fmt.Println("admin password:", pw) }, // first start only
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rules := []Rule{{ID: "r1", RawSQL: `SELECT * FROM "t/#"`, Enabled: true}}
	s.Register(
		api.Route{Method: http.MethodGet, Path: "/rules", Tag: "rules", Summary: "List rules",
			Paged: true, Response: []Rule{},
			Handler: func(c echo.Context) error { return api.Page(c, slices.Values(rules)) }},
		api.Route{Method: http.MethodGet, Path: "/rules/:id", Tag: "rules", Summary: "Look up a rule",
			Response: Rule{},
			Handler: func(c echo.Context) error {
				id := api.PathParam(c, "id")
				for _, r := range rules {
					if r.ID == id {
						return api.OK(c, r)
					}
				}
				return api.NotFound("rule %q not found", id)
			}},
	)
	if err := s.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Shutdown(context.Background())

	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr().String()+"/api/v4/rules/r2", nil)
	req.SetBasicAuth("admin", "example-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 404 {"code":404,"message":"rule \"r2\" not found"}
}
