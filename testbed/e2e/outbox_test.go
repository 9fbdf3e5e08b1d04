package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// webhookTarget is a real HTTP server that can be "down" (503) and records what it accepted.
type webhookTarget struct {
	srv  *httptest.Server
	up   atomic.Bool
	mu   sync.Mutex
	got  []string
	seen map[string]bool
	// bad, when not empty, is a body the target rejects for good (400).
	bad string
}

func newTarget(t testing.TB) *webhookTarget {
	w := &webhookTarget{seen: map[string]bool{}}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !w.up.Load() {
			rw.WriteHeader(503)
			return
		}
		if w.bad != "" && string(b) == w.bad {
			rw.WriteHeader(400)
			return
		}
		w.mu.Lock()
		if !w.seen[string(b)] { // at-least-once: drop duplicates as a target should
			w.seen[string(b)] = true
			w.got = append(w.got, string(b))
		}
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhookTarget) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

func (w *webhookTarget) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if g := w.received(); len(g) >= n {
			return g
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("target received %d of %d", len(w.received()), n)
	return nil
}

// TestAsyncWebhookThroughOutbox drives the binary: a rule's async webhook action goes through
// the durable outbox. While the target is down the acknowledged messages wait on disk; a
// kill -9 and restart lose none of them; when the target returns they all arrive, in order.
func TestAsyncWebhookThroughOutbox(t *testing.T) {
	tg := newTarget(t)
	fastRetry := []string{"WEDGE_OUTBOX_RETRY_MAX=500ms"} // the target's return is noticed within half a second
	d := start(t, startOpt{env: fastRetry})
	code, m := d.call(t, "POST", "/api/v4/rules", fmt.Sprintf(`{"id":"wh","rawsql":"SELECT payload.n AS n FROM \"wh/#\"",
		"actions":[{"name":"data_to_webserver","params":{"url":%q,"body":"${n}"}}]}`, tg.srv.URL))
	if code != 201 && code != 200 {
		t.Fatalf("create: %d %v", code, m)
	}
	pub, _ := dialMQTT(t, d.mqtt, "meter", true)
	for i := 0; i < 30; i++ {
		pub.publish("wh/m", fmt.Sprintf(`{"n":%d}`, i), 1, false) // PUBACK after the durable enqueue
	}
	body := d.apiGet(t, "/api/v4/outbox")
	if !strings.Contains(body, `"rule":"wh"`) || strings.Contains(body, `"depth":0`) {
		t.Fatalf("outbox while the target is down: %s", body)
	}
	d.kill() // kill -9: acknowledged records must survive
	d2 := start(t, startOpt{dataDir: d.dataDir, env: fastRetry})
	pub2, _ := dialMQTT(t, d2.mqtt, "meter", true)
	for i := 30; i < 40; i++ {
		pub2.publish("wh/m", fmt.Sprintf(`{"n":%d}`, i), 1, false)
	}
	tg.up.Store(true)
	got := tg.waitFor(t, 40)
	for i, v := range got {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d is %q: lost or out of order (%v)", i, v, got)
		}
	}
	rule := d2.apiGet(t, "/api/v4/rules/wh")
	if !strings.Contains(rule, `"success":`) {
		t.Fatalf("rule metrics: %s", rule)
	}
}
