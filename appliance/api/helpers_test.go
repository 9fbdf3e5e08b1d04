package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// testEnv is a started Server on 127.0.0.1:0 with a fresh database.
type testEnv struct {
	t        *testing.T
	s        *Server
	db       *bolt.DB
	base     string
	adminPw  string
	logs     *syncBuffer
	client   *http.Client
	printed  int
	dbPath   string
	extraOpt func(*Options)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func openDB(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open bbolt: %v", err)
	}
	return db
}

// testOptions returns options with a cheap bcrypt cost and a captured logger.
func testOptions(db *bolt.DB, logs io.Writer) Options {
	return Options{
		Listen:       "127.0.0.1:0",
		DB:           db,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:      "0.0.0-test",
		Node:         "wedge@test",
		passwordCost: bcrypt.MinCost,
	}
}

// newEnv starts a server; mod may adjust the options (and register routes via the returned env's
// server before start when start is false).
func newEnv(t *testing.T, mod func(*Options)) *testEnv {
	t.Helper()
	env := &testEnv{t: t, logs: &syncBuffer{}, client: &http.Client{Timeout: 10 * time.Second}}
	env.dbPath = filepath.Join(t.TempDir(), "wedge.db")
	env.db = openDB(t, env.dbPath)
	t.Cleanup(func() { env.db.Close() })
	opts := testOptions(env.db, env.logs)
	opts.OnAdminPassword = func(pw string) { env.adminPw = pw; env.printed++ }
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env.s = s
	return env
}

func (env *testEnv) start() *testEnv {
	env.t.Helper()
	if err := env.s.Start(context.Background()); err != nil {
		env.t.Fatalf("Start: %v", err)
	}
	env.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := env.s.Shutdown(ctx); err != nil {
			env.t.Errorf("Shutdown: %v", err)
		}
	})
	env.base = "http://" + env.s.Addr().String()
	return env
}

// reply is a decoded envelope with the raw body and status.
type reply struct {
	Status  int
	Header  http.Header
	Body    []byte
	Code    int             `json:"code"`
	Data    json.RawMessage `json:"data"`
	Meta    *Meta           `json:"meta"`
	Message string          `json:"message"`
}

// do sends a request; user "" means no credentials; body is marshalled unless it is a string.
func (env *testEnv) do(method, path string, body any, user, pass string) reply {
	env.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			env.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, env.base+path, rd)
	if err != nil {
		env.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := env.client.Do(req)
	if err != nil {
		env.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	r := reply{Status: resp.StatusCode, Header: resp.Header}
	r.Body, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(r.Body) > 0 {
		if err := json.Unmarshal(r.Body, &r); err != nil {
			env.t.Fatalf("%s %s: reply is not JSON: %v: %s", method, path, err, r.Body)
		}
	}
	return r
}

// admin sends a request as admin.
func (env *testEnv) admin(method, path string, body any) reply {
	env.t.Helper()
	return env.do(method, path, body, AdminUser, env.adminPw)
}

// want fails unless the reply has the status and envelope code.
func (r reply) want(t *testing.T, status, code int) reply {
	t.Helper()
	if r.Status != status || r.Code != code {
		t.Fatalf("got status %d code %d (%s), want %d code %d", r.Status, r.Code, r.Body, status, code)
	}
	return r
}

// data decodes the reply's data into v.
func (r reply) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
