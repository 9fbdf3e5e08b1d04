package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	bolt "go.etcd.io/bbolt"
)

// DefaultListen is the API's address when Options.Listen is empty.
const DefaultListen = "0.0.0.0:18083"

// Options configure a Server. DB is required; everything else has a default.
type Options struct {
	// Listen is the TCP address (DefaultListen when empty); ":0" or "127.0.0.1:0" picks a free
	// port, which Addr reports after Start.
	Listen string
	// CertFile and KeyFile, when both set, make the API serve HTTPS (TLS 1.2 or later).
	CertFile, KeyFile string
	// Logger receives structured logs (slog.Default() when nil).
	Logger *slog.Logger
	// DB is the daemon's bbolt database; the API keeps users and API keys in buckets named api_*.
	DB *bolt.DB
	// AdminPassword, when set, becomes admin's password at every start (api.admin_password).
	AdminPassword string
	// OnAdminPassword is called once, on the first start only, with the password generated for
	// admin, for the daemon to print. When nil, it is logged: "admin password: …".
	OnAdminPassword func(password string)
	// Gatherer is served at /metrics as Prometheus text (an empty registry when nil).
	Gatherer prometheus.Gatherer
	// Dashboard, when set, is served at / without credentials (index.html for directories).
	Dashboard fs.FS
	// Broker, when set, enables the EMQX broker endpoints (/clients, /subscriptions, /routes,
	// /stats, /metrics, /mqtt/publish).
	Broker Broker
	// Listeners, when set, lists the daemon's listeners for /api/v4/status.
	Listeners func() []ListenerInfo
	// Version is wedge's version string (e.g. "0.3.0"), shown by /api/v4/status and in the
	// OpenAPI document. Node names this node in EMQX shapes (default "wedge@<hostname>").
	Version string
	Node    string

	// passwordCost is bcrypt's cost (bcrypt.DefaultCost when 0); tests lower it.
	passwordCost int
}

// Server is the REST API server. Create it with New, Register routes, then Start.
type Server struct {
	opts    Options
	log     *slog.Logger
	e       *echo.Echo
	group   *echo.Group
	created time.Time // monotonic: uptime

	mu        sync.Mutex
	routes    []Route
	routeKeys map[string]bool
	started   bool
	srv       *http.Server
	ln        net.Listener
	serveDone chan struct{}

	ready   atomic.Bool
	conns   atomic.Int64 // open API connections, for /status
	scheme  string       // "http" or "https" once started
	openapi []byte
	auth    *authenticator
}

// New opens the API's buckets (creating the user admin on the first start, or setting its
// password from Options.AdminPassword) and registers the built-in routes. It does not listen yet.
func New(opts Options) (*Server, error) {
	if opts.DB == nil {
		return nil, errors.New("api: Options.DB is required")
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("api: HTTPS needs both a certificate and a key (api.cert, api.key)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.NewRegistry()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Node == "" {
		opts.Node = defaultNode()
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("component", "api"),
		created:   time.Now(),
		routeKeys: map[string]bool{},
	}
	auth, err := newAuthenticator(s.log, opts.DB, opts.passwordCost)
	if err != nil {
		return nil, err
	}
	s.auth = auth
	if err := s.bootstrapAdmin(); err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(s.recoverer, requestLog(s.log))
	s.e = e

	e.GET("/healthz", s.healthz)
	e.HEAD("/healthz", s.healthz)
	metrics := echo.WrapHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	e.GET("/metrics", metrics)
	if opts.Dashboard != nil {
		fileServer := echo.WrapHandler(http.FileServerFS(opts.Dashboard))
		files := func(c echo.Context) error {
			if underAPI(c.Request().URL.Path) {
				return echo.ErrNotFound // an unknown API path, not a file
			}
			return fileServer(c)
		}
		e.GET("/*", files)
		e.HEAD("/*", files)
	}
	s.group = e.Group(Prefix) // authentication is added to each route by Register

	s.Register(Route{
		Method: http.MethodGet, Path: "/openapi.json", Tag: "system", Name: "openapi",
		Summary:  "The OpenAPI 3.0 document of every registered route (the document itself, not an envelope)",
		Response: map[string]any{}, Raw: true,
		Handler: s.serveOpenAPI,
	})
	s.Register(Route{
		Method: http.MethodGet, Path: "/status", Tag: "system", Name: "status",
		Summary:  "wedge's status: version, node, uptime, readiness and listeners",
		Response: StatusInfo{},
		Handler:  s.status,
	})
	s.registerUsers()
	s.registerApps()
	if opts.Broker != nil {
		s.registerBroker(opts.Broker)
	}
	return s, nil
}

// Handler returns the server's HTTP handler (for tests with httptest, or to mount elsewhere).
// Routes must be registered before the first request.
func (s *Server) Handler() http.Handler { return s.e }

// SetReady sets what /healthz answers: 200 when ready, 503 when not. The daemon sets it once
// every listener is open, and clears it when it starts draining.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Start binds the listener and serves in the background. It returns once the port is open (or
// with the error that kept it from opening). No route may be registered afterwards.
func (s *Server) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("api: already started")
	}
	s.started = true // from here on Register panics: the route table is final
	s.mu.Unlock()
	defer func() {
		if err != nil {
			s.mu.Lock()
			s.started = false
			s.mu.Unlock()
		}
	}()
	doc, err := s.openAPI()
	if err != nil {
		return fmt.Errorf("api: building openapi.json: %w", err)
	}
	var tlsConf *tls.Config
	if s.opts.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.opts.CertFile, s.opts.KeyFile)
		if err != nil {
			return fmt.Errorf("api: loading HTTPS certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.opts.Listen, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	srv := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.conns.Add(-1)
			}
		},
	}
	done := make(chan struct{})
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	s.mu.Lock()
	s.openapi, s.ln, s.srv, s.serveDone, s.scheme = doc, ln, srv, done, scheme
	s.mu.Unlock()
	s.log.Info("api listening", "addr", ln.Addr().String(), "scheme", scheme)
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "err", err)
		}
	}()
	return nil
}

// Addr returns the bound address after Start (nil before).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting connections and waits, until ctx ends, for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.SetReady(false)
	s.mu.Lock()
	srv, done := s.srv, s.serveDone
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	<-done
	return nil
}

func (s *Server) healthz(c echo.Context) error {
	if !s.ready.Load() {
		return c.String(http.StatusServiceUnavailable, "not ready\n")
	}
	return c.String(http.StatusOK, "ok\n")
}

func (s *Server) serveOpenAPI(c echo.Context) error {
	s.mu.Lock()
	doc := s.openapi
	s.mu.Unlock()
	if doc == nil { // served through Handler without Start
		var err error
		if doc, err = s.openAPI(); err != nil {
			return Internal("openapi", err)
		}
	}
	return c.JSONBlob(http.StatusOK, doc)
}

// underAPI reports whether a request path is under /api/v4.
func underAPI(path string) bool {
	return path == Prefix || strings.HasPrefix(path, Prefix+"/")
}
