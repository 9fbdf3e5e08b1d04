package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthzAndMetricsNeedNoCredentials(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "wedge_test_total", Help: "test counter"})
	reg.MustRegister(c)
	c.Add(3)
	env := newEnv(t, func(o *Options) { o.Gatherer = reg }).start()

	r := env.do(http.MethodGet, "/healthz", nil, "", "")
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("healthz before ready: %d", r.Status)
	}
	env.s.SetReady(true)
	r = env.do(http.MethodGet, "/healthz", nil, "", "")
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "ok" {
		t.Fatalf("healthz when ready: %d %q", r.Status, r.Body)
	}
	env.s.SetReady(false)
	if r = env.do(http.MethodGet, "/healthz", nil, "", ""); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("healthz after SetReady(false): %d", r.Status)
	}

	r = env.do(http.MethodGet, "/metrics", nil, "", "")
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "wedge_test_total 3") ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s %q", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
}

func TestDashboardFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":    {Data: []byte("<h1>wedge</h1>")},
		"assets/app.js": {Data: []byte("console.log(1)")},
	}
	env := newEnv(t, func(o *Options) { o.Dashboard = fsys }).start()
	for path, want := range map[string]string{"/": "<h1>wedge</h1>", "/assets/app.js": "console.log(1)"} {
		r := env.do(http.MethodGet, path, nil, "", "")
		if r.Status != http.StatusOK || string(r.Body) != want {
			t.Errorf("GET %s: %d %q", path, r.Status, r.Body)
		}
	}
	if r := env.do(http.MethodGet, "/missing.js", nil, "", ""); r.Status != http.StatusNotFound {
		t.Errorf("missing file: %d", r.Status)
	}
	// The API is still behind credentials and still answers with envelopes.
	env.do(http.MethodGet, Prefix+"/status", nil, "", "").want(t, http.StatusUnauthorized, CodeNoCredentials)
	env.admin(http.MethodGet, Prefix+"/nothing-here", nil).want(t, http.StatusNotFound, CodeNotFound)
	env.do(http.MethodGet, "/healthz", nil, "", "")
}

func TestNoDashboard(t *testing.T) {
	env := newEnv(t, nil).start()
	env.do(http.MethodGet, "/", nil, "", "").want(t, http.StatusNotFound, CodeNotFound)
}

func TestErrorEnvelopes(t *testing.T) {
	env := newEnv(t, nil)
	env.s.Register(
		Route{Method: http.MethodGet, Path: "/test/panic", Summary: "panics", Handler: func(echo.Context) error { panic("boom") }},
		Route{Method: http.MethodGet, Path: "/test/plain-error", Summary: "fails", Handler: func(echo.Context) error { return errors.New("secret detail") }},
		Route{Method: http.MethodPost, Path: "/test/small", Summary: "small body", MaxBody: 16, Handler: func(c echo.Context) error {
			var v map[string]any
			if err := Bind(c, &v); err != nil {
				return err
			}
			return OK(c, v)
		}},
		Route{Method: http.MethodPost, Path: "/test/created", Summary: "creates", Status: http.StatusCreated, Handler: func(c echo.Context) error {
			return Created(c, map[string]int{"n": 1})
		}},
	)
	env.start()
	env.admin(http.MethodGet, Prefix+"/nothing", nil).want(t, http.StatusNotFound, CodeNotFound)
	env.admin(http.MethodGet, "/nothing", nil).want(t, http.StatusNotFound, CodeNotFound)
	env.admin(http.MethodDelete, Prefix+"/status", nil).want(t, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	r := env.admin(http.MethodGet, Prefix+"/test/panic", nil).want(t, http.StatusInternalServerError, CodeUnknown)
	if strings.Contains(string(r.Body), "boom") {
		t.Error("panic value shown to the caller")
	}
	r = env.admin(http.MethodGet, Prefix+"/test/plain-error", nil).want(t, http.StatusInternalServerError, CodeUnknown)
	if strings.Contains(string(r.Body), "secret detail") {
		t.Error("internal error shown to the caller")
	}
	if !strings.Contains(env.logs.String(), "secret detail") || !strings.Contains(env.logs.String(), "boom") {
		t.Error("internal errors not logged")
	}
	env.admin(http.MethodPost, Prefix+"/test/small", `{"a":1}`).want(t, http.StatusOK, CodeOK)
	env.admin(http.MethodPost, Prefix+"/test/small", `{"a":"`+strings.Repeat("x", 64)+`"}`).want(t, http.StatusRequestEntityTooLarge, CodeTooLarge)
	env.admin(http.MethodPost, Prefix+"/test/small", `nope`).want(t, http.StatusBadRequest, CodeBadJSON)
	env.admin(http.MethodPost, Prefix+"/test/created", nil).want(t, http.StatusCreated, CodeOK)
	// HEAD of an error has no body.
	req, _ := http.NewRequest(http.MethodHead, env.base+Prefix+"/status", nil)
	resp, err := env.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(body) != 0 {
		t.Errorf("HEAD without credentials: %d %q", resp.StatusCode, body)
	}
}

func TestStartAddrShutdown(t *testing.T) {
	env := newEnv(t, nil)
	if env.s.Addr() != nil {
		t.Fatal("Addr before Start")
	}
	if err := env.s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	if err := env.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := env.s.Addr().String()
	// The port is open as soon as Start returns.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial right after Start: %v", err)
	}
	conn.Close()
	if err := env.s.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Register after Start did not panic")
			}
		}()
		env.s.Register(Route{Method: http.MethodGet, Path: "/late", Handler: func(echo.Context) error { return nil }})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still listening after Shutdown")
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := newEnv(t, func(o *Options) { o.Listen = ln.Addr().String() })
	if err := env.s.Start(context.Background()); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without DB succeeded")
	}
	db := openDB(t, filepath.Join(t.TempDir(), "wedge.db"))
	defer db.Close()
	opts := testOptions(db, io.Discard)
	opts.CertFile = "cert.pem"
	if _, err := New(opts); err == nil {
		t.Error("New with a certificate and no key succeeded")
	}
}

func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	env := newEnv(t, func(o *Options) { o.CertFile, o.KeyFile = certFile, keyFile }).start()
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	env.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	env.base = "https://" + env.s.Addr().String()
	env.admin(http.MethodGet, Prefix+"/status", nil).want(t, http.StatusOK, CodeOK)

	// Plain HTTP on the HTTPS port fails.
	plain := &http.Client{Timeout: 5 * time.Second}
	resp, err := plain.Get("http://" + env.s.Addr().String() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP answered %d", resp.StatusCode)
		}
	}

	bad := newEnv(t, func(o *Options) { o.CertFile, o.KeyFile = keyFile, certFile })
	if err := bad.s.Start(context.Background()); err == nil {
		t.Fatal("Start with a bad certificate succeeded")
	}
}

func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wedge test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	env := newEnv(t, nil)
	env.s.Register(Route{Method: http.MethodGet, Path: "/test/slow", Summary: "slow", Handler: func(c echo.Context) error {
		close(entered)
		<-release
		return Done(c)
	}})
	env.start()
	got := make(chan int, 1)
	go func() {
		r, err := http.NewRequest(http.MethodGet, env.base+Prefix+"/test/slow", nil)
		if err != nil {
			got <- -1
			return
		}
		r.SetBasicAuth(AdminUser, env.adminPw)
		resp, err := env.client.Do(r)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-entered
	done := make(chan error, 1)
	go func() { done <- env.s.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if status := <-got; status != http.StatusOK {
		t.Fatalf("in-flight request got %d", status)
	}
}

func TestUnknownAPIPathsWithDashboard(t *testing.T) {
	env := newEnv(t, func(o *Options) { o.Dashboard = fstest.MapFS{"index.html": {Data: []byte("x")}} }).start()
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		env.do(m, Prefix+"/nothing", nil, "", "").want(t, http.StatusUnauthorized, CodeNoCredentials)
		env.admin(m, Prefix+"/nothing", nil).want(t, http.StatusNotFound, CodeNotFound)
		if r := env.do(m, "/nothing", nil, "", ""); r.Status != http.StatusNotFound {
			t.Errorf("%s /nothing: %d", m, r.Status) // the file server's 404 for GET, an envelope otherwise
		}
	}
	env.admin(http.MethodDelete, Prefix+"/status", nil).want(t, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	env.do(http.MethodDelete, Prefix+"/status", nil, "", "").want(t, http.StatusUnauthorized, CodeNoCredentials)
}
