package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wedge-iot/wedge/appliance/actions"
)

// Config is a webhook action's params.
type Config struct {
	// URL is a template (the whole URL, path and query included); it must
	// render to an http or https URL.
	URL string `json:"url"`
	// Method is GET, POST (default), PUT, PATCH or DELETE.
	Method string `json:"method"`
	// Headers are sent with every request; values are templates.
	Headers map[string]string `json:"headers"`
	// Body is a template; empty sends the rule's whole output as JSON.
	Body string `json:"body"`
	// Timeout bounds one request (default 5s). A timeout is transient.
	Timeout time.Duration `json:"-"`
	// TLS configures HTTPS (nil: system roots, or what SSL says).
	TLS *tls.Config `json:"-"`
	// SSL is the "ssl" param (CA, client certificate, verify), used when TLS is nil.
	SSL *actions.SSL `json:"ssl,omitempty"`
	// Client, when set, is shared (a resource's connection pool): the
	// connector uses it as is (Timeout, TLS and SSL are the client's business)
	// and Close leaves it open.
	Client *http.Client `json:"-"`
}

// Connector posts one HTTP request per record, in order.
type Connector struct {
	cfg     Config
	url     *actions.Template
	body    *actions.Template
	headers map[string]*actions.Template
	client  *http.Client
	shared  bool

	mu      sync.Mutex
	lastErr string
}

// IDHeader carries the record's "rule/action/seq" id, for de-duplication.
const IDHeader = "X-Wedge-Record-Id"

// New checks cfg and returns a Connector. It does not contact the target.
func New(cfg Config) (*Connector, error) {
	if cfg.URL == "" {
		return nil, errors.New("webhook: url is required")
	}
	if !strings.Contains(cfg.URL, "${") {
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("webhook: url %q: must be an http or https URL", cfg.URL)
		}
	}
	cfg.Method = strings.ToUpper(cfg.Method)
	switch cfg.Method {
	case "":
		cfg.Method = http.MethodPost
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, fmt.Errorf("webhook: method %q: must be GET, POST, PUT, PATCH or DELETE", cfg.Method)
	}
	c := &Connector{
		cfg:     cfg,
		url:     actions.ParseTemplate(cfg.URL),
		body:    actions.ParseTemplate(cfg.Body),
		headers: make(map[string]*actions.Template, len(cfg.Headers)),
		client:  cfg.Client,
		shared:  cfg.Client != nil,
	}
	if c.client == nil {
		var err error
		if c.client, err = NewClient(cfg); err != nil {
			return nil, err
		}
	}
	for k, v := range cfg.Headers {
		c.headers[k] = actions.ParseTemplate(v)
	}
	return c, nil
}

// NewClient makes the HTTP client a connector (or a webhook resource, for
// the connectors bound to it) sends with: cfg's Timeout (default 5s) and TLS
// (or SSL).
func NewClient(cfg Config) (*http.Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	tc := cfg.TLS
	if tc == nil {
		var err error
		if tc, err = cfg.SSL.Config(); err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
	}
	return &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			TLSClientConfig:     tc,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
	}, nil
}

// Deliver sends one request per record, stopping at the first transient
// failure (the rest are reported NotAttempted, so they are retried in
// order). 2xx acknowledges; 408, 429 and 5xx, timeouts and network errors are
// transient; other statuses (4xx, 3xx) and records that cannot be rendered are
// permanent.
func (c *Connector) Deliver(ctx context.Context, recs []actions.Record) actions.BatchResult {
	errs := make([]error, len(recs))
	for i, r := range recs {
		err := c.send(ctx, r)
		errs[i] = err
		if err != nil && !actions.IsPermanent(err) {
			for j := i + 1; j < len(recs); j++ {
				errs[j] = actions.NotAttempted(err)
			}
			c.setErr(err)
			return actions.BatchResult{Errs: errs}
		}
	}
	c.setErr(nil)
	return actions.BatchResult{Errs: errs}
}

func (c *Connector) send(ctx context.Context, r actions.Record) error {
	out, err := actions.DecodeOutput(r.Data)
	if err != nil {
		return err
	}
	u := c.url.Render(out)
	var body []byte
	if c.body.Empty() {
		body = r.Data
	} else {
		body = c.body.RenderBytes(out)
	}
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, u, bytes.NewReader(body))
	if err != nil {
		return actions.Permanent(fmt.Errorf("webhook: request to %q: %w", u, err))
	}
	if c.body.Empty() {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, t := range c.headers {
		req.Header.Set(k, t.Render(out))
	}
	if id := actions.RecordID(r); id != "" {
		req.Header.Set(IDHeader, id)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %s %s: %w", c.cfg.Method, redact(u), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return fmt.Errorf("webhook: %s %s: %s: %s", c.cfg.Method, redact(u), resp.Status, bytes.TrimSpace(snippet))
	default:
		return actions.Permanent(fmt.Errorf("webhook: %s %s: %s: %s", c.cfg.Method, redact(u), resp.Status, bytes.TrimSpace(snippet)))
	}
}

// redact drops credentials and the query from a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

func (c *Connector) setErr(err error) {
	c.mu.Lock()
	if err == nil {
		c.lastErr = ""
	} else {
		c.lastErr = err.Error()
	}
	c.mu.Unlock()
}

// Health reports the last delivery's result (healthy until one fails).
func (c *Connector) Health() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr != "" {
		return false, c.lastErr
	}
	return true, "last delivery succeeded"
}

// Close closes idle connections (not those of a shared client).
func (c *Connector) Close() error {
	if !c.shared {
		c.client.CloseIdleConnections()
	}
	return nil
}

var _ actions.Connector = (*Connector)(nil)
