package outboxapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/appliance/outbox"
)

// target refuses every record for good until accept is set.
type target struct{ accept atomic.Bool }

func (t *target) Deliver(_ context.Context, recs []outbox.Record) outbox.BatchResult {
	if t.accept.Load() {
		return outbox.BatchResult{}
	}
	return outbox.BatchResult{Err: outbox.Permanent(errors.New("schema mismatch"))}
}

func TestOutboxRoutes(t *testing.T) {
	dir := t.TempDir()
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	q := outbox.QueueID{Rule: "r1", Action: 0}
	tg := &target{}
	if err := ob.Register(q, tg, outbox.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := ob.Enqueue(q, []byte(`{"n":1}`)).Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	db, err := bbolt.Open(filepath.Join(dir, "wedge.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := api.New(api.Options{Listen: "127.0.0.1:0", DB: db, AdminPassword: "pw", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	Register(s, ob)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	call := func(method, path string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+s.Addr().String()+"/api/v4"+path, nil)
		req.SetBasicAuth("admin", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	queue := func() map[string]any {
		_, m := call("GET", "/outbox")
		qs := m["data"].(map[string]any)["queues"].([]any)
		if len(qs) != 1 {
			t.Fatalf("queues %v", qs)
		}
		return qs[0].(map[string]any)
	}
	deadline := time.Now().Add(5 * time.Second)
	for queue()["dead_letters"].(float64) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("dead letters never reached 3: %v", queue())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := queue()
	for _, k := range []string{"rule", "action", "depth", "oldest_age_ms", "bytes", "dead_letters", "delivered", "dropped", "state"} {
		if _, ok := got[k]; !ok {
			t.Fatalf("field %s missing from %v", k, got)
		}
	}
	if code, _ := call("POST", "/outbox/nope/0/replay"); code != 404 {
		t.Fatalf("unknown queue: %d", code)
	}
	if code, _ := call("POST", "/outbox/r1/x/replay"); code != 400 {
		t.Fatalf("bad action index: %d", code)
	}
	tg.accept.Store(true)
	code, m := call("POST", "/outbox/r1/0/replay")
	if code != 200 || m["data"].(map[string]any)["records"].(float64) != 3 {
		t.Fatalf("replay: %d %v", code, m)
	}
	for queue()["delivered"].(float64) != 3 {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("replayed records not delivered: %v", queue())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tg.accept.Store(false)
	_ = ob.Enqueue(q, []byte(`{}`)).Wait(context.Background())
	for queue()["dead_letters"].(float64) != 1 {
		time.Sleep(20 * time.Millisecond)
	}
	code, m = call("DELETE", "/outbox/r1/0/dead_letters")
	if code != 200 || m["data"].(map[string]any)["records"].(float64) != 1 || queue()["dead_letters"].(float64) != 0 {
		t.Fatalf("purge: %d %v %v", code, m, queue())
	}
}
