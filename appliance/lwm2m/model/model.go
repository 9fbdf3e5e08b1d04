package model

import (
	"embed"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/wedge-iot/wedge/appliance/lwm2m/codec"
)

//go:embed xml/*.xml
var standard embed.FS

// Resource is one resource definition.
type Resource struct {
	ID          uint16         `json:"id"`
	Name        string         `json:"name"`
	Operations  string         `json:"operations"` // "R", "W", "RW", "E" or "" (not accessible)
	Multiple    bool           `json:"multiple"`
	Mandatory   bool           `json:"mandatory"`
	Type        codec.DataType `json:"-"`
	TypeName    string         `json:"type"`
	Units       string         `json:"units,omitempty"`
	Description string         `json:"description,omitempty"`
}

// Object is one object definition.
type Object struct {
	ID          uint16               `json:"id"`
	Name        string               `json:"name"`
	Version     string               `json:"version,omitempty"`
	Multiple    bool                 `json:"multiple"`
	Mandatory   bool                 `json:"mandatory"`
	Description string               `json:"description,omitempty"`
	Resources   map[uint16]*Resource `json:"resources"`
}

// SortedResources returns the resources ordered by id.
func (o *Object) SortedResources() []*Resource {
	out := make([]*Resource, 0, len(o.Resources))
	for _, r := range o.Resources {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

type xmlDoc struct {
	Objects []struct {
		Name        string `xml:"Name"`
		Description string `xml:"Description1"`
		ObjectID    string `xml:"ObjectID"`
		Version     string `xml:"ObjectVersion"`
		Multiple    string `xml:"MultipleInstances"`
		Mandatory   string `xml:"Mandatory"`
		Items       []struct {
			ID          string `xml:"ID,attr"`
			Name        string `xml:"Name"`
			Operations  string `xml:"Operations"`
			Multiple    string `xml:"MultipleInstances"`
			Mandatory   string `xml:"Mandatory"`
			Type        string `xml:"Type"`
			Units       string `xml:"Units"`
			Description string `xml:"Description"`
		} `xml:"Resources>Item"`
	} `xml:"Object"`
}

// ParseXML parses an OMA object definition document (one or more <Object> elements).
func ParseXML(b []byte) ([]*Object, error) {
	var d xmlDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("object definition: %w", err)
	}
	if len(d.Objects) == 0 {
		return nil, fmt.Errorf("object definition: no <Object> element")
	}
	var out []*Object
	for _, x := range d.Objects {
		id, err := codec.ParsePath(strings.TrimSpace(x.ObjectID))
		if err != nil || len(id) != 1 {
			return nil, fmt.Errorf("object definition %q: bad ObjectID %q", x.Name, x.ObjectID)
		}
		o := &Object{ID: id[0], Name: strings.TrimSpace(x.Name), Version: strings.TrimSpace(x.Version),
			Multiple:    strings.EqualFold(strings.TrimSpace(x.Multiple), "Multiple"),
			Mandatory:   strings.EqualFold(strings.TrimSpace(x.Mandatory), "Mandatory"),
			Description: strings.TrimSpace(x.Description), Resources: map[uint16]*Resource{}}
		for _, it := range x.Items {
			rid, err := codec.ParsePath(strings.TrimSpace(it.ID))
			if err != nil || len(rid) != 1 {
				return nil, fmt.Errorf("object %d: bad resource ID %q", o.ID, it.ID)
			}
			r := &Resource{ID: rid[0], Name: strings.TrimSpace(it.Name), Operations: strings.TrimSpace(it.Operations),
				Multiple:  strings.EqualFold(strings.TrimSpace(it.Multiple), "Multiple"),
				Mandatory: strings.EqualFold(strings.TrimSpace(it.Mandatory), "Mandatory"),
				Type:      codec.ParseDataType(it.Type), TypeName: strings.TrimSpace(it.Type),
				Units: strings.TrimSpace(it.Units), Description: strings.TrimSpace(it.Description)}
			if r.TypeName == "" {
				r.TypeName = "None"
			}
			o.Resources[r.ID] = r
		}
		out = append(out, o)
	}
	return out, nil
}

// Registry holds object definitions; it is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	objects map[uint16]*Object
}

// NewRegistry returns a registry holding the embedded standard objects (0-7).
func NewRegistry() *Registry {
	r := &Registry{objects: map[uint16]*Object{}}
	ents, err := standard.ReadDir("xml")
	if err != nil {
		panic(err)
	}
	for _, e := range ents {
		b, err := standard.ReadFile("xml/" + e.Name())
		if err != nil {
			panic(err)
		}
		if _, err := r.AddXML(b); err != nil {
			panic(fmt.Sprintf("embedded %s: %v", e.Name(), err))
		}
	}
	return r
}

// AddXML parses an object definition document and adds (or replaces) its objects; it returns them.
func (r *Registry) AddXML(b []byte) ([]*Object, error) {
	objs, err := ParseXML(b)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range objs {
		r.objects[o.ID] = o
	}
	return objs, nil
}

// LoadDir adds every *.xml file of dir.
func (r *Registry) LoadDir(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := r.AddXML(b); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// Object returns the definition of object id.
func (r *Registry) Object(id uint16) (*Object, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	o, ok := r.objects[id]
	return o, ok
}

// Objects returns every definition, ordered by id.
func (r *Registry) Objects() []*Object {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Object, 0, len(r.objects))
	for _, o := range r.objects {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Resource returns the definition of resource rid of object oid.
func (r *Registry) Resource(oid, rid uint16) (*Resource, bool) {
	o, ok := r.Object(oid)
	if !ok {
		return nil, false
	}
	res, ok := o.Resources[rid]
	return res, ok
}

// Types returns the codec.TypeResolver of the registry.
func (r *Registry) Types() codec.TypeResolver {
	return func(p codec.Path) codec.DataType {
		if len(p) < 3 {
			return codec.TypeUnknown
		}
		res, ok := r.Resource(p[0], p[2])
		if !ok {
			return codec.TypeUnknown
		}
		return res.Type
	}
}

// Name returns the name of the object, instance or resource at p: "Device", "Device/0",
// "Device/0/Manufacturer"; "" when the object is unknown.
func (r *Registry) Name(p codec.Path) string {
	if len(p) == 0 {
		return ""
	}
	o, ok := r.Object(p[0])
	if !ok {
		return ""
	}
	if len(p) < 3 {
		return o.Name
	}
	if res, ok := o.Resources[p[2]]; ok {
		return res.Name
	}
	return ""
}
