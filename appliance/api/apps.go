package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	bolt "go.etcd.io/bbolt"
)

// Expiry is an API key's expiry time in Unix seconds (wall clock); 0 means it never expires. In
// JSON it is a number, or "undefined" (EMQX 4) for never; null and "" also read as never.
type Expiry int64

// MarshalJSON implements json.Marshaler.
func (e Expiry) MarshalJSON() ([]byte, error) {
	if e == 0 {
		return []byte(`"undefined"`), nil
	}
	return strconv.AppendInt(nil, int64(e), 10), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (e *Expiry) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	switch s {
	case "null", "", "undefined":
		*e = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("expired: want Unix seconds or \"undefined\", got %s", truncate(string(b), 32))
	}
	*e = Expiry(n)
	return nil
}

// OpenAPISchema implements Schemaer.
func (Expiry) OpenAPISchema() map[string]any {
	return map[string]any{
		"description": "expiry in Unix seconds, or \"undefined\" for never",
		"oneOf":       []any{map[string]any{"type": "integer", "format": "int64"}, map[string]any{"type": "string", "enum": []string{"undefined"}}},
	}
}

// appRecord is an API key as stored in api_apps (the secret only as a hash).
type appRecord struct {
	AppID     string    `json:"app_id"`
	Name      string    `json:"name"`
	Desc      string    `json:"desc"`
	Status    bool      `json:"status"`
	Expired   Expiry    `json:"expired"`
	Hash      []byte    `json:"hash"`
	CreatedAt time.Time `json:"created_at"`
}

func (r *appRecord) usable(now time.Time) bool {
	return r.Status && (r.Expired == 0 || now.Unix() < int64(r.Expired))
}

func (r *appRecord) view() App {
	return App{AppID: r.AppID, Name: r.Name, Desc: r.Desc, Status: r.Status, Expired: r.Expired}
}

// App is an API key (EMQX 4 "app") as the API shows it; its secret is shown once, at creation.
type App struct {
	AppID   string `json:"app_id"`
	Name    string `json:"name"`
	Desc    string `json:"desc"`
	Status  bool   `json:"status" doc:"false disables the key"`
	Expired Expiry `json:"expired"`
}

// NewApp is the body of POST /api/v4/apps. Secret is generated when empty; Status defaults to
// true.
type NewApp struct {
	AppID   string `json:"app_id"`
	Name    string `json:"name"`
	Secret  string `json:"secret,omitempty"`
	Desc    string `json:"desc"`
	Status  *bool  `json:"status,omitempty"`
	Expired Expiry `json:"expired"`
}

// AppSecret is the reply to POST /api/v4/apps: the secret, shown this once.
type AppSecret struct {
	Secret string `json:"secret"`
}

// AppUpdate is the body of PUT /api/v4/apps/{appid}; absent fields keep their value.
type AppUpdate struct {
	Name    *string `json:"name,omitempty"`
	Desc    *string `json:"desc,omitempty"`
	Status  *bool   `json:"status,omitempty"`
	Expired *Expiry `json:"expired,omitempty"`
}

func (s *Server) registerApps() {
	s.Register(
		Route{Method: http.MethodGet, Path: "/apps", Tag: "apps", Name: "list_apps",
			Summary: "List API keys", Response: []App{}, Handler: s.listApps},
		Route{Method: http.MethodPost, Path: "/apps", Tag: "apps", Name: "add_app",
			Summary:     "Create an API key",
			Description: "The secret is generated when absent and returned in the reply; it is stored only as a hash and never shown again.",
			Request:     NewApp{}, Response: AppSecret{}, Handler: s.addApp},
		Route{Method: http.MethodGet, Path: "/apps/:appid", Tag: "apps", Name: "get_app",
			Summary: "Look up an API key (without its secret)", Response: App{}, Handler: s.getApp},
		Route{Method: http.MethodPut, Path: "/apps/:appid", Tag: "apps", Name: "update_app",
			Summary: "Change an API key's name, description, status or expiry", Request: AppUpdate{}, Handler: s.updateApp},
		Route{Method: http.MethodDelete, Path: "/apps/:appid", Tag: "apps", Name: "delete_app",
			Summary: "Delete an API key", Handler: s.deleteApp},
	)
}

func (s *Server) listApps(c echo.Context) error {
	var apps []App
	err := s.opts.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(appsBucket)).ForEach(func(_, v []byte) error {
			var r appRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			apps = append(apps, r.view())
			return nil
		})
	})
	if err != nil {
		return Internal("listing apps", err)
	}
	return OK(c, nonNil(apps))
}

func (s *Server) addApp(c echo.Context) error {
	var req NewApp
	if err := Bind(c, &req); err != nil {
		return err
	}
	if err := validName("app_id", req.AppID); err != nil {
		return err
	}
	if req.Secret == "" {
		req.Secret = randomString(32)
	} else if err := validSecret("secret", req.Secret); err != nil {
		return err
	}
	hash, err := s.auth.hash(req.Secret)
	if err != nil {
		return Internal("hashing secret", err)
	}
	rec := appRecord{AppID: req.AppID, Name: req.Name, Desc: req.Desc, Status: req.Status == nil || *req.Status,
		Expired: req.Expired, Hash: hash, CreatedAt: time.Now()}
	err = s.opts.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(appsBucket))
		if b.Get([]byte(req.AppID)) != nil {
			return Errorf(http.StatusConflict, CodeUserExists, "app %q already exists", req.AppID)
		}
		return putJSON(b, req.AppID, rec)
	})
	if err != nil {
		return storeError("adding app", err)
	}
	s.auth.invalidate()
	s.log.Info("api key created", "app_id", req.AppID, "by", principalName(c))
	return OK(c, AppSecret{Secret: req.Secret})
}

func (s *Server) getApp(c echo.Context) error {
	id := PathParam(c, "appid")
	var rec appRecord
	found, err := getJSON(s.opts.DB, appsBucket, id, &rec)
	if err != nil {
		return Internal("reading app", err)
	}
	if !found {
		return NotFound("app %q not found", id)
	}
	return OK(c, rec.view())
}

func (s *Server) updateApp(c echo.Context) error {
	id := PathParam(c, "appid")
	var req AppUpdate
	if err := Bind(c, &req); err != nil {
		return err
	}
	err := s.opts.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(appsBucket))
		v := b.Get([]byte(id))
		if v == nil {
			return NotFound("app %q not found", id)
		}
		var r appRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("app %q: %w", id, err)
		}
		if req.Name != nil {
			r.Name = *req.Name
		}
		if req.Desc != nil {
			r.Desc = *req.Desc
		}
		if req.Status != nil {
			r.Status = *req.Status
		}
		if req.Expired != nil {
			r.Expired = *req.Expired
		}
		return putJSON(b, id, r)
	})
	if err != nil {
		return storeError("updating app", err)
	}
	s.auth.invalidate()
	s.log.Info("api key updated", "app_id", id, "by", principalName(c))
	return Done(c)
}

func (s *Server) deleteApp(c echo.Context) error {
	id := PathParam(c, "appid")
	err := s.opts.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(appsBucket))
		if b.Get([]byte(id)) == nil {
			return NotFound("app %q not found", id)
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return storeError("deleting app", err)
	}
	s.auth.invalidate()
	s.log.Info("api key deleted", "app_id", id, "by", principalName(c))
	return Done(c)
}
