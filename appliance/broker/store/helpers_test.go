package store

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// openDB opens (or creates) a bbolt file the way the daemon does.
func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return db
}

func tempDB(t testing.TB) (*bbolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wedge.db")
	db := openDB(t, path)
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func newHook(t testing.TB, db *bbolt.DB, opts Options) *Hook {
	t.Helper()
	h, err := New(db, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = h.Stop() })
	return h
}

// client returns a bare mochi client, enough for the hook's events.
func client(id string) *mqtt.Client { return &mqtt.Client{ID: id} }

func publish(id uint16, topic, payload string) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID:    id,
		TopicName:   topic,
		Payload:     []byte(payload),
		Created:     time.Now().Unix(),
	}
}

// rawGet reads a key straight from the file.
func rawGet(t testing.TB, db *bbolt.DB, b bucketID, key string) []byte {
	t.Helper()
	var v []byte
	if err := db.View(func(tx *bbolt.Tx) error {
		if bk := tx.Bucket(bucketNames[b]); bk != nil {
			v = bytes.Clone(bk.Get([]byte(key)))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func rawCount(t testing.TB, db *bbolt.DB, b bucketID) int {
	t.Helper()
	n := 0
	if err := db.View(func(tx *bbolt.Tx) error {
		if bk := tx.Bucket(bucketNames[b]); bk != nil {
			n = bk.Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// logBuffer is a concurrency-safe slog sink for asserting on logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func bufLogger() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
