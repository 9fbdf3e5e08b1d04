package api

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

type testInner struct {
	Value float64 `json:"value"`
}

type testNode struct {
	Name     string      `json:"name" doc:"the node's name"`
	Children []*testNode `json:"children,omitempty"` // recursive
}

type testBase struct {
	ID      string `json:"id"`
	Hidden  string `json:"-"`
	private int
}

type testBody struct {
	testBase
	Count   int               `json:"count"`
	Ratio   float32           `json:"ratio"`
	On      bool              `json:"on"`
	Tags    []string          `json:"tags"`
	Labels  map[string]string `json:"labels"`
	Inner   testInner         `json:"inner"`
	Ptr     *testInner        `json:"ptr"`
	When    time.Time         `json:"when"`
	Raw     json.RawMessage   `json:"raw"`
	Any     any               `json:"any"`
	Bytes   []byte            `json:"bytes"`
	Big     int64             `json:"big,string"`
	Tree    testNode          `json:"tree"`
	Exp     Expiry            `json:"exp"`
	NoTag   string
	Unnamed struct {
		X int `json:"x"`
	} `json:"unnamed"`
}

// openAPIDoc is the subset of OpenAPI the tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Version string `json:"version"`
	} `json:"info"`
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Summary     string `json:"summary"`
		Tags        []string
		Security    []any `json:"security"`
		Parameters  []struct {
			Name     string         `json:"name"`
			In       string         `json:"in"`
			Required bool           `json:"required"`
			Schema   map[string]any `json:"schema"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

func TestOpenAPI(t *testing.T) {
	env := newEnv(t, func(o *Options) { o.Broker = newFakeBroker() })
	h := func(c echo.Context) error { return Done(c) }
	env.s.Register(
		Route{Method: http.MethodPut, Path: "/things/:kind/:id", Summary: "Put a thing", Tag: "things",
			Request: testBody{}, Response: testBody{}, Handler: h},
		Route{Method: http.MethodGet, Path: "/things", Summary: "List things", Tag: "things", Paged: true,
			Query: []Param{{Name: "kind", Enum: []string{"a", "b"}, Required: true}}, Response: []testNode{}, Handler: h},
		Route{Method: "post", Path: "/things/:kind/upload", Summary: "Upload", Tag: "things", RequestContentType: "application/wasm", Handler: h},
	)
	env.start()
	r := env.admin(http.MethodGet, Prefix+"/openapi.json", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.OpenAPI != "3.0.3" || doc.Info.Version != "0.0.0-test" {
		t.Fatalf("header: %s %s", doc.OpenAPI, doc.Info.Version)
	}

	// Every registered route is there, with its summary and path parameters.
	ids := map[string]bool{}
	for _, rt := range env.s.Routes() {
		path, params := openAPIPath(Prefix + rt.Path)
		op, ok := doc.Paths[path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s missing (as %s)", rt.Method, rt.Path, path)
			continue
		}
		if op.Summary == "" || op.Summary != rt.Summary {
			t.Errorf("%s %s: summary %q", rt.Method, rt.Path, op.Summary)
		}
		if ids[op.OperationID] {
			t.Errorf("duplicate operationId %s", op.OperationID)
		}
		ids[op.OperationID] = true
		for _, p := range params {
			found := false
			for _, q := range op.Parameters {
				if q.Name == p && q.In == "path" && q.Required {
					found = true
				}
			}
			if !found {
				t.Errorf("%s %s: path parameter %s missing", rt.Method, path, p)
			}
		}
		if _, ok := op.Responses["401"]; !ok {
			t.Errorf("%s %s: no 401 response", rt.Method, path)
		}
	}
	for _, open := range []string{"/healthz", "/metrics"} {
		if op, ok := doc.Paths[open]["get"]; !ok || op.Security == nil || len(op.Security) != 0 {
			t.Errorf("%s not documented as open", open)
		}
	}
	if _, ok := doc.Paths["/api/v4/clients/{clientid}"]["delete"]; !ok {
		t.Error("broker routes missing")
	}

	// Paged routes get _page and _limit; declared query parameters keep their details.
	list := doc.Paths["/api/v4/things"]["get"]
	var names []string
	for _, p := range list.Parameters {
		names = append(names, p.In+":"+p.Name)
		if p.Name == "kind" && (!p.Required || len(p.Schema["enum"].([]any)) != 2) {
			t.Errorf("kind parameter: %+v", p)
		}
	}
	if strings.Join(names, ",") != "query:_page,query:_limit,query:kind" {
		t.Errorf("parameters %v", names)
	}
	listSchema := list.Responses["200"].Content["application/json"].Schema
	props := listSchema["properties"].(map[string]any)
	if props["meta"].(map[string]any)["$ref"] != "#/components/schemas/Meta" {
		t.Errorf("paged reply without meta: %v", props)
	}
	if props["data"].(map[string]any)["items"].(map[string]any)["$ref"] != "#/components/schemas/testNode" {
		t.Errorf("list items: %v", props["data"])
	}

	// Request schemas come from json tags.
	put := doc.Paths["/api/v4/things/{kind}/{id}"]["put"]
	if put.RequestBody == nil {
		t.Fatal("no request body")
	}
	if ref := put.RequestBody.Content["application/json"].Schema["$ref"]; ref != "#/components/schemas/testBody" {
		t.Fatalf("request schema %v", put.RequestBody.Content)
	}
	body := doc.Components.Schemas["testBody"]["properties"].(map[string]any)
	want := map[string]string{
		"id": "string", "count": "integer", "ratio": "number", "on": "boolean", "tags": "array", "labels": "object",
		"bytes": "string", "big": "string", "NoTag": "string", "unnamed": "object", "when": "string",
	}
	for name, typ := range want {
		p, ok := body[name].(map[string]any)
		if !ok {
			t.Errorf("property %s missing", name)
			continue
		}
		if p["type"] != typ {
			t.Errorf("property %s: type %v, want %s", name, p["type"], typ)
		}
	}
	for _, absent := range []string{"Hidden", "private", "testBase", "-"} {
		if _, ok := body[absent]; ok {
			t.Errorf("property %s should not be documented", absent)
		}
	}
	if body["ptr"].(map[string]any)["$ref"] != "#/components/schemas/testInner" {
		t.Errorf("ptr: %v", body["ptr"])
	}
	if _, ok := body["exp"].(map[string]any)["oneOf"]; !ok {
		t.Errorf("Expiry's custom schema not used: %v", body["exp"])
	}
	if len(body["any"].(map[string]any)) != 0 || len(body["raw"].(map[string]any)) != 0 {
		t.Errorf("any/raw: %v %v", body["any"], body["raw"])
	}
	node := doc.Components.Schemas["testNode"]["properties"].(map[string]any)
	if node["children"].(map[string]any)["items"].(map[string]any)["$ref"] != "#/components/schemas/testNode" {
		t.Errorf("recursive type: %v", node["children"])
	}
	if node["name"].(map[string]any)["description"] != "the node's name" {
		t.Errorf("doc tag: %v", node["name"])
	}
	upload := doc.Paths["/api/v4/things/{kind}/upload"]["post"]
	if upload.RequestBody == nil || upload.RequestBody.Content["application/wasm"].Schema["format"] != "binary" {
		t.Errorf("binary upload: %+v", upload.RequestBody)
	}
	client := doc.Components.Schemas["ClientInfo"]["properties"].(map[string]any)
	if client["connected_at"].(map[string]any)["type"] != "string" || client["clientid"] == nil {
		t.Errorf("ClientInfo: %v", client)
	}
}

func TestRegisterPanics(t *testing.T) {
	env := newEnv(t, nil)
	h := func(echo.Context) error { return nil }
	for name, r := range map[string]Route{
		"no handler":  {Method: http.MethodGet, Path: "/a"},
		"bad method":  {Method: "BREW", Path: "/a", Handler: h},
		"bad path":    {Method: http.MethodGet, Path: "a", Handler: h},
		"duplicate":   {Method: http.MethodGet, Path: "/status", Handler: h},
		"dup by case": {Method: "get", Path: "/users", Handler: h},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			env.s.Register(r)
		}()
	}
}

func TestOperationIDs(t *testing.T) {
	seen := map[string]int{}
	if id := operationID(Route{Method: "GET", Path: "/a/:b/c-d"}, seen); id != "get_a_b_c_d" {
		t.Errorf("id %q", id)
	}
	if id := operationID(Route{Method: "GET", Path: "/a/:b/c_d"}, seen); id != "get_a_b_c_d_2" {
		t.Errorf("id %q", id)
	}
}

// TestOpenAPIValidates checks the document with the Python openapi-spec-validator when it is
// installed (pip install openapi-spec-validator); it is skipped, saying so, otherwise.
func TestOpenAPIValidates(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIP: python3 not installed: OpenAPI document not validated")
	}
	if err := exec.Command(py, "-c", "import openapi_spec_validator").Run(); err != nil {
		t.Skip("SKIP: python3 module openapi_spec_validator not installed: OpenAPI document not validated")
	}
	env := newEnv(t, func(o *Options) { o.Broker = newFakeBroker() })
	env.s.Register(Route{Method: http.MethodPut, Path: "/things/:id", Summary: "Put", Request: testBody{}, Response: []testNode{},
		Handler: func(c echo.Context) error { return Done(c) }})
	doc, err := env.s.openAPI()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", "import json,sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))", path).CombinedOutput()
	if err != nil {
		t.Fatalf("openapi.json does not validate: %v\n%s", err, out)
	}
}
