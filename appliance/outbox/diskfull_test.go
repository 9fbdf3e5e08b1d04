package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size on a new directory, or skips loudly.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("SKIP (LOUD): cannot mount a %s tmpfs for the full-disk test (needs root): %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file of zeros until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return path
		}
	}
}

// TestDiskFull fills a small tmpfs under a working outbox: enqueues fail with
// ErrDiskFull under drop_new (counted), wait under block, the outbox keeps
// running and is not damaged, and everything works again once space returns.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	dir := mountTmpfs(t, "2m")
	path := filepath.Join(dir, "outbox.db")
	o := openTest(t, path, Options{Queue: QueueOptions{Policy: DropNew}, MaxFileBytes: 64 << 20})
	id := QueueID{"full", 0}
	rec := make([]byte, 1000)
	var want []string
	for i := range 50 {
		s := fmt.Sprintf("%04d", i)
		mustWait(t, o.Enqueue(id, append([]byte(s), rec...)))
		want = append(want, s)
	}
	filler := fill(t, dir)

	// drop_new: refused with ErrDiskFull once the file cannot grow.
	var full error
	i := 50
	for ; i < 5000 && full == nil; i++ {
		s := fmt.Sprintf("%04d", i)
		err := o.Enqueue(id, append([]byte(s), rec...)).Wait(context.Background())
		switch {
		case err == nil:
			want = append(want, s)
		case errors.Is(err, ErrDiskFull):
			full = err
		default:
			t.Fatalf("enqueue %d on a full disk: %v", i, err)
		}
	}
	if full == nil {
		t.Fatal("the disk never filled up")
	}
	if !o.Info().DiskFull {
		t.Fatalf("Info does not report the full disk: %+v", o.Info())
	}
	if s := stats(t, o, id); s.Dropped == 0 {
		t.Fatalf("drop not counted: %+v", s)
	}

	// block: waits (and retries) while there is no space, succeeds once there is.
	if err := o.Register(id, newTarget(), QueueOptions{Policy: Block, BlockTimeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	o.Unregister(id) // keep the block policy, but deliver nothing yet
	done := make(chan error, 1)
	go func() { done <- o.Enqueue(id, append([]byte("blocked"), rec...)).Wait(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("enqueue on a full disk under block returned %v at once", err)
	case <-time.After(150 * time.Millisecond):
	}
	if err := os.Remove(filler); err != nil { // space returns
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("blocked enqueue after space returned: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked enqueue did not complete after space returned")
	}
	want = append(want, "blocked")
	if o.Info().DiskFull {
		t.Fatalf("still reports a full disk: %+v", o.Info())
	}

	// The file is intact: reopen, deliver everything, in order.
	if err := o.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	o = openTest(t, path, Options{})
	defer o.Close()
	if q := o.Info().Quarantined; q != "" {
		t.Fatalf("quarantined after a full disk: %s", q)
	}
	tg := newTarget()
	if err := o.Register(id, tg, QueueOptions{BatchSize: 64}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "all delivered", func() bool { return tg.count(id) == len(want) })
	for i, r := range tg.records(id) {
		if got := string(r.Data[:min(len(r.Data), len(want[i]))]); got != want[i] {
			t.Fatalf("record %d: %q, want %q", i, got, want[i])
		}
	}
}

// TestMaxFileBytes: the file-size cap behaves like a full disk, and
// drop_oldest makes room by dropping the oldest records.
func TestMaxFileBytes(t *testing.T) {
	o := openTest(t, tempPath(t), Options{NoSync: true, CommitInterval: -1, MaxFileBytes: 1 << 20, Queue: QueueOptions{Policy: DropOldest, BlockTimeout: 2 * time.Second}})
	defer o.Close()
	id := QueueID{"cap", 0}
	rec := make([]byte, 2000)
	var lastErr error
	for i := range 2000 {
		if err := o.Enqueue(id, rec).Wait(context.Background()); err != nil {
			lastErr = err
			t.Logf("enqueue %d: %v", i, err)
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("drop_oldest at the file cap refused a record: %v", lastErr)
	}
	s := stats(t, o, id)
	if s.Dropped == 0 || s.Depth == 0 || s.Depth >= 2000 {
		t.Fatalf("drop_oldest at the file cap: %+v", s)
	}
	if fi := o.Info(); fi.FileBytes > 1<<20 {
		t.Fatalf("file grew past its cap: %+v", fi)
	}
}
