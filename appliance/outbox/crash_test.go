package outbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

const crashQueues = 3

// TestCrashChild is the child of TestCrashKeepsAcknowledgedRecords: it
// enqueues into three queues as fast as it can and prints "queue counter" for
// every record whose Wait returned nil, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("OUTBOX_CRASH_PATH")
	if path == "" {
		t.Skip("child process of TestCrashKeepsAcknowledgedRecords")
	}
	start, _ := strconv.Atoi(os.Getenv("OUTBOX_CRASH_START"))
	o, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	acks := make(chan string, 1024)
	for q := range crashQueues {
		pend := make(chan *Pending, 4096)
		go func() {
			for i := start; ; i++ {
				pend <- o.Enqueue(QueueID{"crash", q}, []byte(fmt.Sprintf("%d %09d", q, i)))
			}
		}()
		go func() {
			i := start
			for p := range pend {
				if err := p.Wait(context.Background()); err == nil {
					acks <- fmt.Sprintf("%d %d ok", q, i)
				}
				i++
			}
		}()
	}
	fmt.Println("ready")
	for a := range acks {
		out.WriteString(a + "\n")
		if len(acks) == 0 {
			out.Flush()
		}
	}
}

// TestCrashKeepsAcknowledgedRecords kills (SIGKILL) a process in the middle of
// a burst of enqueues, several times over the same file, and checks after each
// kill that every record whose Wait returned nil is in the file, in order.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	acked := make([]map[int]bool, crashQueues) // acknowledged counters per queue
	for q := range acked {
		acked[q] = map[int]bool{}
	}
	next := 0
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OUTBOX_CRASH_PATH="+path, "OUTBOX_CRASH_START="+strconv.Itoa(next))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		torn := ""
		killAt := 3000 + round*1500
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				continue
			}
			var q, i int
			if _, err := fmt.Sscanf(line, "%d %d ok", &q, &i); err != nil || !strings.HasSuffix(line, " ok") {
				torn = line // the kill can cut the last line short
				continue
			}
			if torn != "" {
				t.Fatalf("child said %q", torn)
			}
			acked[q][i] = true
			if n++; n == killAt {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		_ = cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: child stopped after %d acknowledgements", round, n)
		}
		// Reopen (read-only, so this check cannot repair anything) and verify.
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		maxSeen := 0
		err = db.View(func(tx *bbolt.Tx) error {
			for cerr := range tx.Check() {
				return cerr
			}
			for q := range crashQueues {
				qb := tx.Bucket(queuesBucket).Bucket(QueueID{"crash", q}.key())
				if qb == nil {
					if len(acked[q]) > 0 {
						return fmt.Errorf("queue %d missing (%d records acknowledged)", q, len(acked[q]))
					}
					continue
				}
				seen := map[int]bool{}
				last, lastSeq := -1, uint64(0)
				c := qb.Bucket(recBucket).Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					_, data, err := decodeRecord(v)
					if err != nil {
						return err
					}
					f := strings.Fields(string(data))
					i, _ := strconv.Atoi(f[1])
					if f[0] != strconv.Itoa(q) || i <= last || keySeq(k) <= lastSeq {
						return fmt.Errorf("queue %d: record %q (seq %d) after counter %d (seq %d): out of order", q, data, keySeq(k), last, lastSeq)
					}
					seen[i] = true
					last, lastSeq = i, keySeq(k)
					maxSeen = max(maxSeen, i)
				}
				for i := range acked[q] {
					if !seen[i] {
						return fmt.Errorf("queue %d: acknowledged record %d lost", q, i)
					}
				}
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: killed after %d acknowledgements; all present and in order", round, n)
		next = maxSeen + 1
	}
	// A normal open after the kills: no quarantine.
	o := openTest(t, path, Options{})
	defer o.Close()
	if q := o.Info().Quarantined; q != "" {
		t.Fatalf("file quarantined after crashes: %s", q)
	}
}
