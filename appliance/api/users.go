package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	bolt "go.etcd.io/bbolt"
)

// userRecord is a dashboard user as stored in api_users.
type userRecord struct {
	Username  string    `json:"username"`
	Hash      []byte    `json:"hash"`
	Tags      string    `json:"tags"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a dashboard user as the API shows it (EMQX 4 shape).
type User struct {
	Username string `json:"username"`
	Tags     string `json:"tags" doc:"free text, e.g. administrator"`
}

// NewUser is the body of POST /api/v4/users.
type NewUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Tags     string `json:"tags"`
}

// UserUpdate is the body of PUT /api/v4/users/{username}.
type UserUpdate struct {
	Tags string `json:"tags"`
}

// PasswordChange is the body of PUT /api/v4/change_pwd/{username}.
type PasswordChange struct {
	OldPassword string `json:"old_pwd"`
	NewPassword string `json:"new_pwd"`
}

// bootstrapAdmin makes sure admin exists: with Options.AdminPassword at every start when set,
// else with a generated password on the first start only, handed to OnAdminPassword (or logged).
func (s *Server) bootstrapAdmin() error {
	if pw := s.opts.AdminPassword; pw != "" {
		if err := validSecret("api.admin_password", pw); err != nil {
			return fmt.Errorf("api: %w", err)
		}
		hash, err := s.auth.hash(pw)
		if err != nil {
			return err
		}
		err = s.opts.DB.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(usersBucket))
			rec := userRecord{Username: AdminUser, Tags: "administrator", CreatedAt: time.Now()}
			if v := b.Get([]byte(AdminUser)); v != nil {
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("user admin: %w", err)
				}
			}
			rec.Hash = hash
			return putJSON(b, AdminUser, rec)
		})
		if err != nil {
			return fmt.Errorf("api: setting admin password: %w", err)
		}
		s.log.Info("admin password set from configuration (api.admin_password)")
		return nil
	}
	var created string
	err := s.opts.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(usersBucket))
		if b.Get([]byte(AdminUser)) != nil {
			return nil
		}
		pw := randomString(20)
		hash, err := s.auth.hash(pw)
		if err != nil {
			return err
		}
		if err := putJSON(b, AdminUser, userRecord{Username: AdminUser, Hash: hash, Tags: "administrator", CreatedAt: time.Now()}); err != nil {
			return err
		}
		created = pw
		return nil
	})
	if err != nil {
		return fmt.Errorf("api: creating user admin: %w", err)
	}
	if created != "" {
		if s.opts.OnAdminPassword != nil {
			s.opts.OnAdminPassword(created)
		} else {
			s.log.Warn("admin password: "+created, "user", AdminUser,
				"note", "shown only once; change it with PUT /api/v4/change_pwd/admin or set api.admin_password")
		}
	}
	return nil
}

func (s *Server) registerUsers() {
	s.Register(
		Route{Method: http.MethodGet, Path: "/users", Tag: "users", Name: "list_users",
			Summary: "List dashboard users", Response: []User{}, Handler: s.listUsers},
		Route{Method: http.MethodPost, Path: "/users", Tag: "users", Name: "add_user",
			Summary: "Add a dashboard user", Request: NewUser{}, Handler: s.addUser},
		Route{Method: http.MethodGet, Path: "/users/:username", Tag: "users", Name: "get_user",
			Summary: "Look up a dashboard user", Response: User{}, Handler: s.getUser},
		Route{Method: http.MethodPut, Path: "/users/:username", Tag: "users", Name: "update_user",
			Summary: "Change a dashboard user's tags", Request: UserUpdate{}, Handler: s.updateUser},
		Route{Method: http.MethodDelete, Path: "/users/:username", Tag: "users", Name: "delete_user",
			Summary: "Delete a dashboard user (not admin)", Handler: s.deleteUser},
		Route{Method: http.MethodPut, Path: "/change_pwd/:username", Tag: "users", Name: "change_password",
			Summary: "Change a dashboard user's password, given the old one", Request: PasswordChange{}, Handler: s.changePassword},
	)
}

func (s *Server) listUsers(c echo.Context) error {
	var users []User
	err := s.opts.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(usersBucket)).ForEach(func(_, v []byte) error {
			var r userRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			users = append(users, User{Username: r.Username, Tags: r.Tags})
			return nil
		})
	})
	if err != nil {
		return Internal("listing users", err)
	}
	return OK(c, nonNil(users))
}

func (s *Server) addUser(c echo.Context) error {
	var req NewUser
	if err := Bind(c, &req); err != nil {
		return err
	}
	if err := validName("username", req.Username); err != nil {
		return err
	}
	if err := validSecret("password", req.Password); err != nil {
		return err
	}
	hash, err := s.auth.hash(req.Password)
	if err != nil {
		return Internal("hashing password", err)
	}
	err = s.opts.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(usersBucket))
		if b.Get([]byte(req.Username)) != nil {
			return Errorf(http.StatusConflict, CodeUserExists, "user %q already exists", req.Username)
		}
		return putJSON(b, req.Username, userRecord{Username: req.Username, Hash: hash, Tags: req.Tags, CreatedAt: time.Now()})
	})
	if err != nil {
		return storeError("adding user", err)
	}
	s.auth.invalidate()
	s.log.Info("api user added", "user", req.Username, "by", principalName(c))
	return Done(c)
}

func (s *Server) getUser(c echo.Context) error {
	name := PathParam(c, "username")
	var rec userRecord
	found, err := getJSON(s.opts.DB, usersBucket, name, &rec)
	if err != nil {
		return Internal("reading user", err)
	}
	if !found {
		return Errorf(http.StatusNotFound, CodeUserNotFound, "user %q not found", name)
	}
	return OK(c, User{Username: rec.Username, Tags: rec.Tags})
}

func (s *Server) updateUser(c echo.Context) error {
	name := PathParam(c, "username")
	var req UserUpdate
	if err := Bind(c, &req); err != nil {
		return err
	}
	err := s.updateRecord(name, func(r *userRecord) error { r.Tags = req.Tags; return nil })
	if err != nil {
		return err
	}
	return Done(c)
}

func (s *Server) changePassword(c echo.Context) error {
	name := PathParam(c, "username")
	var req PasswordChange
	if err := Bind(c, &req); err != nil {
		return err
	}
	if req.OldPassword == "" {
		return Errorf(http.StatusBadRequest, CodeMissingParam, "old_pwd is required")
	}
	if err := validSecret("new_pwd", req.NewPassword); err != nil {
		return err
	}
	var rec userRecord
	found, err := getJSON(s.opts.DB, usersBucket, name, &rec)
	if err != nil {
		return Internal("reading user", err)
	}
	if !found {
		return Errorf(http.StatusNotFound, CodeUserNotFound, "user %q not found", name)
	}
	ok, err := s.auth.compare(c.Request().Context(), rec.Hash, req.OldPassword)
	if err != nil {
		return Errorf(http.StatusServiceUnavailable, CodeServiceUnavailable, "request cancelled")
	}
	if !ok {
		return Errorf(http.StatusBadRequest, CodeOldPasswordWrong, "old password is wrong")
	}
	hash, err := s.auth.hash(req.NewPassword)
	if err != nil {
		return Internal("hashing password", err)
	}
	old := rec.Hash
	err = s.updateRecord(name, func(r *userRecord) error {
		if !slices.Equal(r.Hash, old) {
			return Errorf(http.StatusConflict, CodeConflict, "the password changed meanwhile; try again")
		}
		r.Hash = hash
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("api user password changed", "user", name, "by", principalName(c))
	return Done(c)
}

func (s *Server) deleteUser(c echo.Context) error {
	name := PathParam(c, "username")
	if name == AdminUser {
		return Errorf(http.StatusForbidden, CodeAdminUndeletable, "the user admin cannot be deleted")
	}
	err := s.opts.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(usersBucket))
		if b.Get([]byte(name)) == nil {
			return Errorf(http.StatusNotFound, CodeUserNotFound, "user %q not found", name)
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return storeError("deleting user", err)
	}
	s.auth.invalidate()
	s.log.Info("api user deleted", "user", name, "by", principalName(c))
	return Done(c)
}

// updateRecord applies f to the stored user name in one transaction and clears the cache.
func (s *Server) updateRecord(name string, f func(*userRecord) error) error {
	err := s.opts.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(usersBucket))
		v := b.Get([]byte(name))
		if v == nil {
			return Errorf(http.StatusNotFound, CodeUserNotFound, "user %q not found", name)
		}
		var r userRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("user %q: %w", name, err)
		}
		if err := f(&r); err != nil {
			return err
		}
		return putJSON(b, name, r)
	})
	if err != nil {
		return storeError("updating user", err)
	}
	s.auth.invalidate()
	return nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

func getJSON(db *bolt.DB, bucket, key string, v any) (bool, error) {
	var found bool
	err := db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket([]byte(bucket)).Get([]byte(key))
		if data == nil {
			return nil
		}
		found = true
		return json.Unmarshal(data, v)
	})
	return found, err
}

// storeError passes an *Error through and wraps anything else as a 500.
func storeError(op string, err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return Internal(op, err)
}

func principalName(c echo.Context) string {
	p, _ := PrincipalFrom(c)
	return p.Kind + ":" + p.Name
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// seq yields the items of a slice.
func seq[T any](s []T) iter.Seq[T] { return slices.Values(s) }
