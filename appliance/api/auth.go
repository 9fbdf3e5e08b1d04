package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// Bucket names in the daemon's bbolt database.
const (
	usersBucket = "api_users"
	appsBucket  = "api_apps"
)

// AdminUser is the built-in dashboard user; it cannot be deleted.
const AdminUser = "admin"

const (
	cacheTTL      = 5 * time.Minute // how long a verified credential skips bcrypt
	cacheMax      = 1024            // cached credentials at most
	maxNameLen    = 128             // usernames and app ids
	maxSecretLen  = 1024            // passwords and secrets
	maxAuthHeader = 4096            // a longer Authorization header is refused unread
)

// Principal is who an authenticated request comes from: an API key or a dashboard user.
type Principal struct {
	Kind string // "app" or "user"
	Name string // the app id or the username
}

const principalKey = "wedge.principal"

// PrincipalFrom returns the authenticated caller of a request under /api/v4.
func PrincipalFrom(c echo.Context) (Principal, bool) {
	p, ok := c.Get(principalKey).(Principal)
	return p, ok
}

var errBadCredentials = errors.New("wrong username or password")

// authenticator verifies Basic credentials against api_apps and api_users, with a cache.
type authenticator struct {
	log   *slog.Logger
	db    *bolt.DB
	cost  int
	dummy func() ([]byte, error) // a hash compared against when the name is unknown, so timing tells nothing; made on first use
	sem   chan struct{}          // bounds concurrent bcrypt comparisons (CPU on a small board)

	mu      sync.Mutex
	key     [32]byte // HMAC key of the cache, random per process
	gen     uint64   // bumped by every change to users or apps
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	p        Principal
	expires  time.Time // monotonic
	notAfter int64     // an app's expiry, Unix seconds; 0: none
}

func newAuthenticator(log *slog.Logger, db *bolt.DB, cost int) (*authenticator, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	a := &authenticator{log: log, db: db, cost: cost, sem: make(chan struct{}, 2), entries: map[[32]byte]cacheEntry{}}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("api: random cache key: %w", err)
	}
	a.dummy = sync.OnceValues(func() ([]byte, error) { return a.hash(randomString(20)) })
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{usersBucket, appsBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("api: opening buckets: %w", err)
	}
	return a, nil
}

// hash returns the bcrypt hash of SHA-256(secret): pre-hashing lifts bcrypt's 72-byte limit.
func (a *authenticator) hash(secret string) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword(prehash(secret), a.cost)
	if err != nil {
		return nil, fmt.Errorf("api: hashing secret: %w", err)
	}
	return h, nil
}

func prehash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// compare checks secret against hash, at most len(sem) at a time.
func (a *authenticator) compare(ctx context.Context, hash []byte, secret string) (bool, error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.sem }()
	return bcrypt.CompareHashAndPassword(hash, prehash(secret)) == nil, nil
}

// invalidate forgets every cached verification; called on any change to users or apps.
func (a *authenticator) invalidate() {
	a.mu.Lock()
	a.gen++
	clear(a.entries)
	a.mu.Unlock()
}

func (a *authenticator) cacheKey(user, pass string) [32]byte {
	m := hmac.New(sha256.New, a.key[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(user)))
	m.Write(n[:])
	m.Write([]byte(user))
	m.Write([]byte(pass))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

// verify returns the principal the credentials belong to, or errBadCredentials.
func (a *authenticator) verify(ctx context.Context, user, pass string) (Principal, error) {
	key := a.cacheKey(user, pass)
	now := time.Now()
	a.mu.Lock()
	gen := a.gen
	if e, ok := a.entries[key]; ok {
		if now.Before(e.expires) && (e.notAfter == 0 || now.Unix() < e.notAfter) {
			a.mu.Unlock()
			return e.p, nil
		}
		delete(a.entries, key)
	}
	a.mu.Unlock()

	var app *appRecord
	var usr *userRecord
	err := a.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(appsBucket)).Get([]byte(user)); v != nil {
			app = new(appRecord)
			if err := json.Unmarshal(v, app); err != nil {
				return fmt.Errorf("app %q: %w", user, err)
			}
		}
		if v := tx.Bucket([]byte(usersBucket)).Get([]byte(user)); v != nil {
			usr = new(userRecord)
			if err := json.Unmarshal(v, usr); err != nil {
				return fmt.Errorf("user %q: %w", user, err)
			}
		}
		return nil
	})
	if err != nil {
		return Principal{}, fmt.Errorf("api: reading credentials: %w", err)
	}
	var (
		p        Principal
		notAfter int64
		found    bool
		compared bool
	)
	if app != nil && app.usable(now) {
		compared = true
		ok, err := a.compare(ctx, app.Hash, pass)
		if err != nil {
			return Principal{}, err
		}
		if ok {
			p, notAfter, found = Principal{Kind: "app", Name: app.AppID}, int64(app.Expired), true
		}
	}
	if !found && usr != nil {
		compared = true
		ok, err := a.compare(ctx, usr.Hash, pass)
		if err != nil {
			return Principal{}, err
		}
		if ok {
			p, found = Principal{Kind: "user", Name: usr.Username}, true
		}
	}
	if !found {
		if !compared { // unknown, disabled or expired: spend the same time as a wrong password
			dummy, err := a.dummy()
			if err != nil {
				return Principal{}, err
			}
			if _, err := a.compare(ctx, dummy, pass); err != nil {
				return Principal{}, err
			}
		}
		return Principal{}, errBadCredentials
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen == gen { // nothing changed while bcrypt ran: safe to cache
		if len(a.entries) >= cacheMax {
			a.evict(now)
		}
		a.entries[key] = cacheEntry{p: p, expires: now.Add(cacheTTL), notAfter: notAfter}
	}
	return p, nil
}

// evict drops expired entries, and if none were, an arbitrary quarter of the cache.
func (a *authenticator) evict(now time.Time) {
	for k, e := range a.entries {
		if !now.Before(e.expires) {
			delete(a.entries, k)
		}
	}
	if len(a.entries) < cacheMax {
		return
	}
	n := cacheMax / 4
	for k := range a.entries {
		if n == 0 {
			break
		}
		delete(a.entries, k)
		n--
	}
}

// middleware authenticates every request under /api/v4.
func (a *authenticator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := a.authenticate(c); err != nil {
			return err
		}
		return next(c)
	}
}

// authenticate checks the request's credentials and records its Principal.
func (a *authenticator) authenticate(c echo.Context) error {
	user, pass, ok := parseBasic(c.Request().Header.Get(echo.HeaderAuthorization))
	if !ok {
		return Errorf(http.StatusUnauthorized, CodeNoCredentials, "credentials required: HTTP Basic with an API key or a dashboard user")
	}
	p, err := a.verify(c.Request().Context(), user, pass)
	switch {
	case errors.Is(err, errBadCredentials):
		a.log.Info("api authentication failed", "user", truncate(user, 64), "remote", c.RealIP())
		return Errorf(http.StatusUnauthorized, CodeBadCredentials, "wrong username or password")
	case err != nil:
		if c.Request().Context().Err() != nil {
			return Errorf(http.StatusServiceUnavailable, CodeServiceUnavailable, "request cancelled")
		}
		return Internal("authentication", err)
	}
	c.Set(principalKey, p)
	return nil
}

// parseBasic reads an Authorization header "Basic base64(user:pass)" (the scheme is matched
// without regard to case). It refuses oversized headers, empty users and passwords, and values
// that are not UTF-8.
func parseBasic(h string) (user, pass string, ok bool) {
	if len(h) > maxAuthHeader {
		return "", "", false
	}
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false
	}
	user, pass, found = strings.Cut(string(raw), ":")
	if !found || user == "" || pass == "" || !utf8.ValidString(user) || len(user) > maxNameLen || len(pass) > maxSecretLen {
		return "", "", false
	}
	return user, pass, true
}

// validName checks a username or app id: 1 to 128 bytes of UTF-8 without ':' or control
// characters (it must fit the user part of HTTP Basic).
func validName(kind, name string) error {
	if name == "" {
		return Errorf(http.StatusBadRequest, CodeMissingParam, "%s is required", kind)
	}
	if len(name) > maxNameLen || !utf8.ValidString(name) || strings.Contains(name, ":") || strings.ContainsFunc(name, isControl) {
		return BadRequest("%s must be 1 to %d bytes of UTF-8 without ':' or control characters", kind, maxNameLen)
	}
	return nil
}

func validSecret(kind, secret string) error {
	if secret == "" {
		return Errorf(http.StatusBadRequest, CodeMissingParam, "%s is required", kind)
	}
	if len(secret) > maxSecretLen {
		return BadRequest("%s must be at most %d bytes", kind, maxSecretLen)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// randomString returns n characters drawn uniformly from [A-Za-z0-9] (about 5.95 bits each).
func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("api: crypto/rand failed: " + err.Error()) // never happens on Linux (Go 1.24+ documents it)
		}
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4*62: no modulo bias
				out = append(out, alphabet[int(b)%62])
			}
		}
	}
	return string(out)
}
