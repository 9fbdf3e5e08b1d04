package api

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Schemaer is implemented by types whose JSON encoding is not what their Go structure suggests
// (custom MarshalJSON): the OpenAPI generator uses their schema instead of reflecting.
type Schemaer interface {
	OpenAPISchema() map[string]any
}

var (
	schemaerType   = reflect.TypeFor[Schemaer]()
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	unsafeName     = regexp.MustCompile(`[^A-Za-z0-9_.]+`)
)

// openAPI builds the OpenAPI 3.0 document of the registered routes plus the open endpoints.
func (s *Server) openAPI() ([]byte, error) {
	g := &schemaGen{components: map[string]any{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
	envRef := map[string]any{"$ref": "#/components/schemas/ErrorEnvelope"}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": envRef}}}
	}
	g.components["ErrorEnvelope"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"code":    map[string]any{"type": "integer", "description": "non-zero: what went wrong"},
			"message": map[string]any{"type": "string"},
		},
		"required": []string{"code", "message"},
	}
	g.components["Meta"] = g.structSchema(reflect.TypeFor[Meta]())

	paths := map[string]map[string]any{}
	tags := map[string]bool{}
	opIDs := map[string]int{}
	for _, r := range s.Routes() {
		path, params := openAPIPath(Prefix + r.Path)
		var parameters []any
		for _, p := range params {
			parameters = append(parameters, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		query := r.Query
		if r.Paged {
			query = append([]Param{
				{Name: "_page", Type: "integer", Description: "page number, from 1 (default 1)"},
				{Name: "_limit", Type: "integer", Description: "items per page (default and maximum 10000)"},
			}, query...)
		}
		for _, q := range query {
			typ := q.Type
			if typ == "" {
				typ = "string"
			}
			sch := map[string]any{"type": typ}
			if len(q.Enum) > 0 {
				sch["enum"] = q.Enum
			}
			p := map[string]any{"name": q.Name, "in": "query", "schema": sch}
			if q.Description != "" {
				p["description"] = q.Description
			}
			if q.Required {
				p["required"] = true
			}
			parameters = append(parameters, p)
		}
		data := map[string]any{
			"type":     "object",
			"required": []string{"code"},
			"properties": map[string]any{
				"code": map[string]any{"type": "integer", "enum": []int{0}},
			},
		}
		if r.Response != nil {
			data["properties"].(map[string]any)["data"] = g.schema(reflect.TypeOf(r.Response))
		}
		if r.Paged {
			data["properties"].(map[string]any)["meta"] = map[string]any{"$ref": "#/components/schemas/Meta"}
		}
		if r.Raw {
			data = g.schema(reflect.TypeOf(r.Response))
		}
		status := r.Status
		if status == 0 {
			status = 200
		}
		op := map[string]any{
			"operationId": operationID(r, opIDs),
			"summary":     r.Summary,
			"responses": map[string]any{
				strconv.Itoa(status): map[string]any{"description": "success", "content": map[string]any{"application/json": map[string]any{"schema": data}}},
				"401":                errResp("missing or invalid credentials"),
				"default":            errResp("error"),
			},
		}
		if r.Description != "" {
			op["description"] = r.Description
		}
		if r.Tag != "" {
			op["tags"] = []string{r.Tag}
			tags[r.Tag] = true
		}
		if len(parameters) > 0 {
			op["parameters"] = parameters
		}
		if r.Request != nil || r.RequestContentType != "" {
			ct := r.RequestContentType
			if ct == "" {
				ct = "application/json"
			}
			sch := map[string]any{"type": "string", "format": "binary"}
			if r.Request != nil {
				sch = g.schema(reflect.TypeOf(r.Request))
			}
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": sch}}}
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(r.Method)] = op
	}
	open := map[string]any{"security": []any{}, "tags": []string{"system"}}
	paths["/healthz"] = map[string]any{"get": merge(open, map[string]any{
		"operationId": "healthz", "summary": "Readiness: 200 once every listener is open, 503 before",
		"responses": map[string]any{
			"200": map[string]any{"description": "ready", "content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}},
			"503": map[string]any{"description": "starting or stopping"},
		},
	})}
	paths["/metrics"] = map[string]any{"get": merge(open, map[string]any{
		"operationId": "prometheus_metrics", "summary": "Prometheus metrics in the text exposition format",
		"responses": map[string]any{
			"200": map[string]any{"description": "metrics", "content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}},
		},
	})}
	tags["system"] = true
	var tagList []any
	for _, t := range sortedKeys(tags) {
		tagList = append(tagList, map[string]any{"name": t})
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "wedge REST API",
			"version":     s.opts.Version,
			"description": "EMQX 4 compatible REST API of the wedge IoT edge broker. Replies are {\"code\":0,\"data\":…}; errors {\"code\":<non-zero>,\"message\":…}.",
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"tags":     tagList,
		"paths":    paths,
		"security": []any{map[string]any{"basicAuth": []string{}}},
		"components": map[string]any{
			"schemas":         g.components,
			"securitySchemes": map[string]any{"basicAuth": map[string]any{"type": "http", "scheme": "basic", "description": "an API key (app id and secret) or a dashboard user"}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// openAPIPath turns echo's "/clients/:clientid" into "/clients/{clientid}" and lists the
// parameters; a trailing "*" becomes "{path}".
func openAPIPath(p string) (string, []string) {
	segs := strings.Split(p, "/")
	var params []string
	for i, seg := range segs {
		switch {
		case strings.HasPrefix(seg, ":"):
			params = append(params, seg[1:])
			segs[i] = "{" + seg[1:] + "}"
		case seg == "*":
			params = append(params, "path")
			segs[i] = "{path}"
		}
	}
	return strings.Join(segs, "/"), params
}

func operationID(r Route, seen map[string]int) string {
	id := r.Name
	if id == "" {
		id = strings.ToLower(r.Method) + strings.NewReplacer("/", "_", ":", "", "*", "any", "-", "_").Replace(r.Path)
	}
	seen[id]++
	if n := seen[id]; n > 1 {
		id += "_" + strconv.Itoa(n)
	}
	return id
}

// schemaGen derives JSON schemas from Go types, putting named structs in components.
type schemaGen struct {
	components map[string]any
	names      map[reflect.Type]string
	taken      map[string]reflect.Type
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if t == nil {
		return map[string]any{}
	}
	if s, ok := customSchema(t); ok {
		return s
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawMessageType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		if _, ref := s["$ref"]; ref || len(s) == 0 {
			return s
		}
		out := merge(s, map[string]any{"nullable": true})
		return out
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32:
		return map[string]any{"type": "number", "format": "float"}
	case reflect.Float64:
		return map[string]any{"type": "number", "format": "double"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + g.component(t)}
	default: // interfaces (any), funcs, channels: any value
		return map[string]any{}
	}
}

// component registers the named struct t (once) and returns its component name.
func (g *schemaGen) component(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	if other, ok := g.taken[name]; ok && other != t {
		pkg := t.PkgPath()
		name = unsafeName.ReplaceAllString(pkg[strings.LastIndex(pkg, "/")+1:], "_") + "." + name
		for i := 2; g.taken[name] != nil; i++ {
			name = strings.TrimRight(name, "0123456789") + strconv.Itoa(i)
		}
	}
	g.names[t] = name
	g.taken[name] = t
	g.components[name] = map[string]any{} // placeholder: recursion stops here
	g.components[name] = g.structSchema(t)
	return name
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	g.fields(t, props, map[reflect.Type]bool{})
	return map[string]any{"type": "object", "properties": props}
}

// fields adds t's JSON fields to props, following encoding/json's rules for tags and embedded
// structs (the outer field wins over a promoted one of the same name).
func (g *schemaGen) fields(t reflect.Type, props map[string]any, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		var s map[string]any
		if strings.Contains(","+opts+",", ",string,") {
			s = map[string]any{"type": "string"}
		} else {
			s = g.schema(ft)
		}
		if d := f.Tag.Get("doc"); d != "" {
			if _, ref := s["$ref"]; ref {
				s = map[string]any{"allOf": []any{s}, "description": d}
			} else {
				s = merge(s, map[string]any{"description": d})
			}
		}
		props[name] = s
	}
	for _, et := range embedded {
		inner := map[string]any{}
		g.fields(et, inner, visiting)
		for k, v := range inner {
			if _, ok := props[k]; !ok {
				props[k] = v
			}
		}
	}
}

func customSchema(t reflect.Type) (map[string]any, bool) {
	switch {
	case t.Kind() != reflect.Pointer && t.Implements(schemaerType):
		return reflect.New(t).Elem().Interface().(Schemaer).OpenAPISchema(), true
	case t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(schemaerType):
		return reflect.New(t).Interface().(Schemaer).OpenAPISchema(), true
	}
	return nil, false
}

func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
