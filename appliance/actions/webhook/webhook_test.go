package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/appliance/outbox"
)

type hit struct {
	method, path, body, id, dev string
}

// server is a real HTTP server over loopback that records requests and
// answers with status(body) (default 200).
type server struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	status func(body string) int
}

func newServer(t *testing.T) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		f := s.status
		s.mu.Unlock()
		code := 200
		if f != nil {
			code = f(string(b))
		}
		if code < 300 {
			s.mu.Lock()
			s.hits = append(s.hits, hit{r.Method, r.URL.RequestURI(), string(b), r.Header.Get(IDHeader), r.Header.Get("X-Device")})
			s.mu.Unlock()
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) got() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

func (s *server) set(f func(body string) int) {
	s.mu.Lock()
	s.status = f
	s.mu.Unlock()
}

func rec(t *testing.T, seq uint64, out map[string]any) actions.Record {
	b, err := actions.EncodeOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	return actions.Record{Queue: outbox.QueueID{Rule: "r1", Action: 0}, Seq: seq, Data: b}
}

func TestTemplatesAndStatusMapping(t *testing.T) {
	s := newServer(t)
	c, err := New(Config{URL: s.URL + "/dev/${clientid}?t=${payload.temp}", Method: "put",
		Headers: map[string]string{"X-Device": "${clientid}"}, Body: `{"t":${payload.temp}}`})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := []struct {
		status    int
		permanent bool
		ok        bool
	}{{200, false, true}, {204, false, true}, {400, true, false}, {404, true, false}, {408, false, false},
		{429, false, false}, {500, false, false}, {503, false, false}}
	for _, tc := range cases {
		s.set(func(string) int { return tc.status })
		res := c.Deliver(context.Background(), []actions.Record{rec(t, 5, map[string]any{"clientid": "c1", "payload": `{"temp":21.5}`})})
		err := res.Errs[0]
		if (err == nil) != tc.ok || (err != nil && actions.IsPermanent(err) != tc.permanent) {
			t.Errorf("status %d: err %v (permanent %v)", tc.status, err, actions.IsPermanent(err))
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
			t.Errorf("status %d: error does not say the status: %v", tc.status, err)
		}
	}
	h := s.got()
	if len(h) != 2 {
		t.Fatalf("hits %d", len(h))
	}
	if h[0] != (hit{"PUT", "/dev/c1?t=21.5", `{"t":21.5}`, "r1/0/5", "c1"}) {
		t.Fatalf("request: %+v", h[0])
	}
	if ok, detail := c.Health(); ok || !strings.Contains(detail, "503") {
		t.Fatalf("Health after a 503 = %v %q", ok, detail)
	}
}

func TestEmptyBodySendsWholeOutput(t *testing.T) {
	s := newServer(t)
	c, err := New(Config{URL: s.URL + "/in"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := c.Deliver(context.Background(), []actions.Record{rec(t, 1, map[string]any{"a": 1, "b": "x"})})
	if res.Errs[0] != nil {
		t.Fatal(res.Errs[0])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s.got()[0].body), &m); err != nil || m["b"] != "x" || s.got()[0].method != "POST" {
		t.Fatalf("body %q: %v", s.got()[0].body, err)
	}
}

func TestTimeoutIsTransientAndStopsTheBatch(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	c, err := New(Config{URL: slow.URL, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := c.Deliver(context.Background(), []actions.Record{rec(t, 1, map[string]any{}), rec(t, 2, map[string]any{})})
	if res.Errs[0] == nil || actions.IsPermanent(res.Errs[0]) || res.Errs[1] == nil || actions.IsPermanent(res.Errs[1]) {
		t.Fatalf("timeout: %v", res.Errs)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {URL: "ftp://x"}, {URL: "http://x", Method: "BREW"}, {URL: "no-scheme"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestThroughOutbox: a webhook behind the outbox. The server fails with 503
// for a while (retried), rejects bad records with 400 (dead letters), and
// everything else arrives once, in order.
func TestThroughOutbox(t *testing.T) {
	s := newServer(t)
	var failing atomic.Bool
	failing.Store(true)
	s.set(func(body string) int {
		switch {
		case strings.Contains(body, `"bad"`):
			return 400
		case failing.Load():
			return 503
		}
		return 200
	})
	c, err := New(Config{URL: s.URL + "/ingest"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	id := outbox.QueueID{Rule: "r1", Action: 0}
	if err := ob.Register(id, c, outbox.QueueOptions{BatchSize: 10, RetryBase: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 100 {
		out := map[string]any{"n": i}
		if i%25 == 7 {
			out["kind"] = "bad"
		} else {
			want = append(want, fmt.Sprint(i))
		}
		data, _ := actions.EncodeOutput(out)
		if err := ob.Enqueue(id, data).Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if st, _ := ob.QueueStats(id); st.Depth != 100 || st.State == outbox.StateIdle {
		t.Fatalf("while failing: %+v", st)
	}
	failing.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for len(s.got()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h := s.got()
	if len(h) != len(want) {
		t.Fatalf("delivered %d, want %d", len(h), len(want))
	}
	for i, x := range h {
		var m map[string]any
		_ = json.Unmarshal([]byte(x.body), &m)
		if fmt.Sprint(m["n"]) != want[i] || x.id == "" {
			t.Fatalf("request %d: %+v, want n=%s", i, x, want[i])
		}
	}
	for time.Now().Before(deadline) {
		if st, _ := ob.QueueStats(id); st.DeadLetters == 4 && st.Depth == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	dl, _ := ob.DeadLetters(id, 0)
	if len(dl) != 4 || !strings.Contains(dl[0].Error, "400") {
		t.Fatalf("dead letters: %+v", dl)
	}
	if ok, _ := c.Health(); !ok {
		t.Fatal("unhealthy after recovery")
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := New(Config{URL: srv.URL, TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res := c.Deliver(context.Background(), []actions.Record{rec(t, 1, map[string]any{})}); res.Errs[0] != nil {
		t.Fatalf("https: %v", res.Errs[0])
	}
	untrusted, _ := New(Config{URL: srv.URL})
	defer untrusted.Close()
	if res := untrusted.Deliver(context.Background(), []actions.Record{rec(t, 1, map[string]any{})}); res.Errs[0] == nil {
		t.Fatal("untrusted certificate accepted")
	}
}
