package api

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pathFor fills a route's path parameters with sample values.
func pathFor(r Route) string {
	segs := strings.Split(r.Path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "x"
		}
	}
	return Prefix + strings.Join(segs, "/")
}

func TestEveryRouteNeedsCredentials(t *testing.T) {
	env := newEnv(t, func(o *Options) { o.Broker = newFakeBroker() }).start()
	paths := []struct{ method, path string }{
		{http.MethodGet, Prefix},
		{http.MethodGet, Prefix + "/"},
		{http.MethodGet, Prefix + "/no/such/route"},
		{http.MethodPost, Prefix + "/no/such/route"},
	}
	for _, r := range env.s.Routes() {
		paths = append(paths, struct{ method, path string }{r.Method, pathFor(r)})
	}
	if len(paths) < 25 {
		t.Fatalf("only %d routes registered", len(paths))
	}
	for _, p := range paths {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			r := env.do(p.method, p.path, nil, "", "").want(t, http.StatusUnauthorized, CodeNoCredentials)
			if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="wedge"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			env.do(p.method, p.path, nil, AdminUser, "wrong").want(t, http.StatusUnauthorized, CodeBadCredentials)
			env.do(p.method, p.path, nil, "nobody", "wrong").want(t, http.StatusUnauthorized, CodeBadCredentials)
		})
	}
}

func TestMalformedAuthorization(t *testing.T) {
	env := newEnv(t, nil).start()
	for _, h := range []string{
		"Bearer abc",
		"Basic",
		"Basic !!!",
		"Basic " + b64("nocolon"),
		"Basic " + b64(":pass"),
		"Basic " + b64("admin:"),
		"Basic " + strings.Repeat("A", maxAuthHeader),
	} {
		req, _ := http.NewRequest(http.MethodGet, env.base+Prefix+"/status", nil)
		req.Header.Set("Authorization", h)
		resp, err := env.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %.30q: status %d, want 401", h, resp.StatusCode)
		}
	}
	// The scheme is case-insensitive.
	req, _ := http.NewRequest(http.MethodGet, env.base+Prefix+"/status", nil)
	req.Header.Set("Authorization", "basic "+b64(AdminUser+":"+env.adminPw))
	resp, err := env.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("lower-case scheme: status %d", resp.StatusCode)
	}
}

func TestAdminFirstStartPrintsOnce(t *testing.T) {
	env := newEnv(t, nil).start()
	if env.printed != 1 || len(env.adminPw) < 16 {
		t.Fatalf("first start: printed %d times, password %q", env.printed, env.adminPw)
	}
	env.admin(http.MethodGet, Prefix+"/status", nil).want(t, http.StatusOK, CodeOK)

	// The database holds a bcrypt hash, not the password.
	err := env.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(usersBucket)).Get([]byte(AdminUser))
		if v == nil {
			t.Fatal("admin not stored")
		}
		if bytes.Contains(v, []byte(env.adminPw)) {
			t.Error("the admin password is stored in clear")
		}
		if !bytes.Contains(v, []byte(`"hash":"`)) {
			t.Errorf("no hash in %s", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A second start on the same database prints nothing and keeps the password.
	calls := 0
	opts := testOptions(env.db, env.logs)
	opts.OnAdminPassword = func(string) { calls++ }
	s2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("second start printed the password %d times", calls)
	}
	if _, err := s2.auth.verify(context.Background(), AdminUser, env.adminPw); err != nil {
		t.Fatalf("password lost on restart: %v", err)
	}
}

func TestAdminFirstStartLogLine(t *testing.T) {
	logs := &syncBuffer{}
	db := openDB(t, t.TempDir()+"/wedge.db")
	defer db.Close()
	if _, err := New(testOptions(db, logs)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "admin password: "); n != 1 {
		t.Fatalf("log has %d admin password lines:\n%s", n, logs)
	}
	if _, err := New(testOptions(db, logs)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "admin password: "); n != 1 {
		t.Fatalf("after restart the log has %d admin password lines", n)
	}
}

func TestAdminPasswordOverride(t *testing.T) {
	env := newEnv(t, func(o *Options) { o.AdminPassword = "first-pass" }).start()
	if env.printed != 0 {
		t.Fatal("a configured password must not be printed")
	}
	env.do(http.MethodGet, Prefix+"/status", nil, AdminUser, "first-pass").want(t, http.StatusOK, CodeOK)

	// Changed through the API, then reset by the option at the next start.
	env.do(http.MethodPut, Prefix+"/change_pwd/admin", PasswordChange{OldPassword: "first-pass", NewPassword: "api-pass"},
		AdminUser, "first-pass").want(t, http.StatusOK, CodeOK)
	for _, tc := range []struct{ option, works, fails string }{
		{"first-pass", "first-pass", "api-pass"},
		{"second-pass", "second-pass", "first-pass"},
		{"", "second-pass", "first-pass"}, // unset: the last password stays
	} {
		opts := testOptions(env.db, env.logs)
		opts.AdminPassword = tc.option
		opts.OnAdminPassword = func(string) { t.Error("password printed on a later start") }
		s, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.auth.verify(context.Background(), AdminUser, tc.works); err != nil {
			t.Errorf("option %q: %q refused: %v", tc.option, tc.works, err)
		}
		if _, err := s.auth.verify(context.Background(), AdminUser, tc.fails); err == nil {
			t.Errorf("option %q: %q still accepted", tc.option, tc.fails)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	env := newEnv(t, nil).start()
	// Generated secret, shown once.
	r := env.admin(http.MethodPost, Prefix+"/apps", map[string]any{"app_id": "ci", "name": "CI", "desc": "pipeline"}).want(t, http.StatusOK, CodeOK)
	var sec AppSecret
	r.data(t, &sec)
	if len(sec.Secret) < 16 {
		t.Fatalf("generated secret %q", sec.Secret)
	}
	env.do(http.MethodGet, Prefix+"/status", nil, "ci", sec.Secret).want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "ci", "nope").want(t, http.StatusUnauthorized, CodeBadCredentials)

	// Given secret; duplicate id refused.
	env.admin(http.MethodPost, Prefix+"/apps", map[string]any{"app_id": "ops", "secret": "ops-secret", "expired": "undefined"}).want(t, http.StatusOK, CodeOK)
	env.admin(http.MethodPost, Prefix+"/apps", map[string]any{"app_id": "ops", "secret": "x"}).want(t, http.StatusConflict, CodeUserExists)
	env.admin(http.MethodPost, Prefix+"/apps", map[string]any{"name": "no id"}).want(t, http.StatusBadRequest, CodeMissingParam)
	env.admin(http.MethodPost, Prefix+"/apps", map[string]any{"app_id": "a:b"}).want(t, http.StatusBadRequest, CodeBadParam)
	env.admin(http.MethodPost, Prefix+"/apps", map[string]any{"app_id": "e", "expired": "soon"}).want(t, http.StatusBadRequest, CodeBadJSON)
	env.do(http.MethodGet, Prefix+"/apps", nil, "ops", "ops-secret").want(t, http.StatusOK, CodeOK)

	// Listing and lookup never show a secret or its hash.
	r = env.admin(http.MethodGet, Prefix+"/apps", nil).want(t, http.StatusOK, CodeOK)
	var apps []App
	r.data(t, &apps)
	if len(apps) != 2 || apps[0].AppID != "ci" || apps[0].Name != "CI" || !apps[0].Status || apps[0].Expired != 0 {
		t.Fatalf("apps = %+v", apps)
	}
	if bytes.Contains(r.Body, []byte(sec.Secret)) || bytes.Contains(r.Body, []byte("hash")) || !bytes.Contains(r.Body, []byte(`"expired":"undefined"`)) {
		t.Fatalf("list shows too much or too little: %s", r.Body)
	}
	r = env.admin(http.MethodGet, Prefix+"/apps/ci", nil).want(t, http.StatusOK, CodeOK)
	if bytes.Contains(r.Body, []byte("secret")) {
		t.Fatalf("lookup shows the secret: %s", r.Body)
	}
	env.admin(http.MethodGet, Prefix+"/apps/none", nil).want(t, http.StatusNotFound, CodeNotFound)

	// Disabling takes effect at once, despite the cache.
	env.admin(http.MethodPut, Prefix+"/apps/ci", map[string]any{"status": false}).want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "ci", sec.Secret).want(t, http.StatusUnauthorized, CodeBadCredentials)
	env.admin(http.MethodPut, Prefix+"/apps/ci", map[string]any{"status": true}).want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "ci", sec.Secret).want(t, http.StatusOK, CodeOK)
	r = env.admin(http.MethodGet, Prefix+"/apps/ci", nil)
	var ci App
	r.data(t, &ci)
	if ci.Name != "CI" || ci.Desc != "pipeline" {
		t.Fatalf("PUT changed fields it was not given: %+v", ci)
	}

	// Expired keys are refused.
	past := time.Now().Add(-time.Hour).Unix()
	env.admin(http.MethodPut, Prefix+"/apps/ci", map[string]any{"expired": past}).want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "ci", sec.Secret).want(t, http.StatusUnauthorized, CodeBadCredentials)
	future := time.Now().Add(time.Hour).Unix()
	env.admin(http.MethodPut, Prefix+"/apps/ci", map[string]any{"expired": future}).want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "ci", sec.Secret).want(t, http.StatusOK, CodeOK)

	// Deleting takes effect at once.
	env.admin(http.MethodDelete, Prefix+"/apps/ci", nil).want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "ci", sec.Secret).want(t, http.StatusUnauthorized, CodeBadCredentials)
	env.admin(http.MethodDelete, Prefix+"/apps/ci", nil).want(t, http.StatusNotFound, CodeNotFound)
}

func TestUsers(t *testing.T) {
	env := newEnv(t, nil).start()
	env.admin(http.MethodPost, Prefix+"/users", NewUser{Username: "alice", Password: "alice-pw", Tags: "viewer"}).want(t, http.StatusOK, CodeOK)
	env.admin(http.MethodPost, Prefix+"/users", NewUser{Username: "alice", Password: "x"}).want(t, http.StatusConflict, CodeUserExists)
	env.admin(http.MethodPost, Prefix+"/users", NewUser{Username: "bob"}).want(t, http.StatusBadRequest, CodeMissingParam)
	env.do(http.MethodGet, Prefix+"/status", nil, "alice", "alice-pw").want(t, http.StatusOK, CodeOK)

	var users []User
	env.admin(http.MethodGet, Prefix+"/users", nil).want(t, http.StatusOK, CodeOK).data(t, &users)
	if len(users) != 2 || users[0] != (User{"admin", "administrator"}) || users[1] != (User{"alice", "viewer"}) {
		t.Fatalf("users = %+v", users)
	}
	env.admin(http.MethodPut, Prefix+"/users/alice", UserUpdate{Tags: "operator"}).want(t, http.StatusOK, CodeOK)
	var u User
	env.admin(http.MethodGet, Prefix+"/users/alice", nil).want(t, http.StatusOK, CodeOK).data(t, &u)
	if u.Tags != "operator" {
		t.Fatalf("tags = %q", u.Tags)
	}
	env.admin(http.MethodGet, Prefix+"/users/nobody", nil).want(t, http.StatusNotFound, CodeUserNotFound)

	env.do(http.MethodPut, Prefix+"/change_pwd/alice", PasswordChange{OldPassword: "bad", NewPassword: "n"}, "alice", "alice-pw").
		want(t, http.StatusBadRequest, CodeOldPasswordWrong)
	env.do(http.MethodPut, Prefix+"/change_pwd/alice", PasswordChange{OldPassword: "alice-pw", NewPassword: "alice-new"}, "alice", "alice-pw").
		want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "alice", "alice-pw").want(t, http.StatusUnauthorized, CodeBadCredentials)
	env.do(http.MethodGet, Prefix+"/status", nil, "alice", "alice-new").want(t, http.StatusOK, CodeOK)

	env.admin(http.MethodDelete, Prefix+"/users/admin", nil).want(t, http.StatusForbidden, CodeAdminUndeletable)
	env.admin(http.MethodDelete, Prefix+"/users/alice", nil).want(t, http.StatusOK, CodeOK)
	env.do(http.MethodGet, Prefix+"/status", nil, "alice", "alice-new").want(t, http.StatusUnauthorized, CodeBadCredentials)
	env.admin(http.MethodDelete, Prefix+"/users/alice", nil).want(t, http.StatusNotFound, CodeUserNotFound)
}

func TestAuthCache(t *testing.T) {
	env := newEnv(t, nil)
	a := env.s.auth
	ctx := context.Background()
	if _, err := a.verify(ctx, AdminUser, env.adminPw); err != nil {
		t.Fatal(err)
	}
	if len(a.entries) != 1 {
		t.Fatalf("%d cache entries after one success", len(a.entries))
	}
	if _, err := a.verify(ctx, AdminUser, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if len(a.entries) != 1 {
		t.Fatal("a failure was cached")
	}
	// The cache key is a keyed hash: neither the password nor its plain hash appear.
	for k := range a.entries {
		if bytes.Contains(k[:], []byte(env.adminPw)) {
			t.Fatal("password in the cache key")
		}
	}
	// A hit does not touch the database: remove the user behind the cache's back.
	err := env.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(usersBucket)).Delete([]byte(AdminUser)) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.verify(ctx, AdminUser, env.adminPw); err != nil {
		t.Fatalf("cache miss: %v", err)
	}
	a.invalidate()
	if _, err := a.verify(ctx, AdminUser, env.adminPw); err == nil {
		t.Fatal("invalidate kept the entry")
	}

	// Bounded: filling it evicts.
	now := time.Now()
	a.mu.Lock()
	for i := range cacheMax {
		a.entries[a.cacheKey("u", string(rune(i)))] = cacheEntry{expires: now.Add(time.Minute)}
	}
	a.evict(now)
	n := len(a.entries)
	a.mu.Unlock()
	if n >= cacheMax {
		t.Fatalf("evict left %d entries", n)
	}

	// Expired entries are not used.
	key := a.cacheKey("ghost", "pw")
	a.mu.Lock()
	a.entries[key] = cacheEntry{p: Principal{Kind: "user", Name: "ghost"}, expires: now.Add(-time.Second)}
	a.mu.Unlock()
	if _, err := a.verify(ctx, "ghost", "pw"); err == nil {
		t.Fatal("expired cache entry used")
	}
}

func TestParseBasic(t *testing.T) {
	tests := []struct {
		header     string
		user, pass string
		ok         bool
	}{
		{"Basic " + b64("a:b"), "a", "b", true},
		{"BASIC " + b64("a:b:c"), "a", "b:c", true},
		{"Basic  " + b64("a:b") + " ", "a", "b", true},
		{"Basic " + b64("a:"), "", "", false},
		{"Basic " + b64(":b"), "", "", false},
		{"Basic " + b64("\xff:b"), "", "", false},
		{"Basic " + b64(strings.Repeat("u", maxNameLen+1)+":b"), "", "", false},
		{"Digest abc", "", "", false},
		{"", "", "", false},
		{"Basic%20abc", "", "", false},
	}
	for _, tt := range tests {
		u, p, ok := parseBasic(tt.header)
		if u != tt.user || p != tt.pass || ok != tt.ok {
			t.Errorf("parseBasic(%q) = %q, %q, %v; want %q, %q, %v", tt.header, u, p, ok, tt.user, tt.pass, tt.ok)
		}
	}
}
