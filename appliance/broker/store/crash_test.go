package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// Environment of the crash child: the test binary re-executed, writing
// through the hook until its parent kills it with SIGKILL.
const (
	envCrashDB    = "WEDGE_STORE_CRASH_DB"
	envCrashRound = "WEDGE_STORE_CRASH_ROUND"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envCrashDB); path != "" {
		crashChild(path, os.Getenv(envCrashRound))
		os.Exit(2) // crashChild never returns normally
	}
	os.Exit(m.Run())
}

func crashTopic(round, i int) string { return fmt.Sprintf("crash/%d/%07d", round, i) }

func crashPayload(round, i int) string { return fmt.Sprintf("payload %d %d", round, i) }

// crashChild writes retained messages and churns in-flight ones, and prints
// "flushed N" each time Flush has returned for messages 0..N. It runs until
// it is killed.
func crashChild(path, roundStr string) {
	round, _ := strconv.Atoi(roundStr)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	h, err := New(db, Options{FlushInterval: 2 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child New:", err)
		os.Exit(3)
	}
	cl := client(fmt.Sprintf("crash-%d", round))
	h.OnSessionEstablished(cl, packets.Packet{})
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		topic := crashTopic(round, i)
		h.OnRetainMessage(cl, publish(0, topic, crashPayload(round, i)), 1)
		pid := uint16(i%5000) + 1
		h.OnQosPublish(cl, publish(pid, topic, "inflight"), 0, 0)
		if i%3 != 0 {
			h.OnQosComplete(cl, packets.Packet{PacketID: pid})
		}
		if i%40 == 39 {
			if err := h.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, "child flush:", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "flushed %d\n", i)
			_ = out.Flush()
		}
	}
}

// TestCrashConsistency kills a writer with SIGKILL in the middle of its
// stream, several times over the same file, and checks after each kill that
// the file opens, passes bbolt's consistency check, and holds everything
// that Flush had confirmed.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 loop skipped in -short mode")
	}
	path := t.TempDir() + "/wedge.db"
	const rounds = 3
	confirmed := make([]int, rounds) // last message index Flush confirmed, per round
	for round := range rounds {
		confirmed[round] = runCrashChild(t, path, round)

		db := openDB(t, path)
		if err := db.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		}); err != nil {
			t.Fatalf("round %d: bbolt consistency check: %v", round, err)
		}
		logger, logs := bufLogger()
		h, err := New(db, Options{Logger: logger})
		if err != nil {
			t.Fatalf("round %d: New after kill: %v", round, err)
		}
		retained, err := h.StoredRetainedMessages()
		if err != nil {
			t.Fatal(err)
		}
		got := make(map[string]string, len(retained))
		for _, m := range retained {
			got[m.TopicName] = string(m.Payload)
		}
		for r := 0; r <= round; r++ {
			for i := 0; i <= confirmed[r]; i++ {
				if p, ok := got[crashTopic(r, i)]; !ok || p != crashPayload(r, i) {
					t.Fatalf("round %d: confirmed message %s = %q, %v after kill -9", round, crashTopic(r, i), p, ok)
				}
			}
		}
		if _, err := h.StoredInflightMessages(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "unreadable") {
			t.Fatalf("round %d: damaged records after kill -9:\n%s", round, logs)
		}
		t.Logf("round %d: %d messages confirmed by Flush before the kill, %d retained on disk", round, confirmed[round]+1, len(retained))
		if err := h.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runCrashChild runs the child until it has confirmed a few flushes, kills
// it with SIGKILL while it keeps writing, and returns the last confirmed
// message index.
func runCrashChild(t *testing.T, path string, round int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashRound+"="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last, lines := -1, 0
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(30 * time.Second)
	for lines < 10+round*5 && sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "flushed "))
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		last, lines = n, lines+1
		if time.Now().After(deadline) {
			break
		}
	}
	// Let the child run on for a varying time so that the kill lands at
	// different points of its group commits.
	time.Sleep(time.Duration(rand.IntN(8000)) * time.Microsecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code, no Stop
		t.Fatal(err)
	}
	// Lines printed between our last read and the kill were confirmed too;
	// read what the pipe still holds.
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "flushed ")); err == nil {
			last = n
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
		t.Fatalf("child ended on its own (%v) instead of being killed", err)
	}
	if last < 0 {
		t.Fatal("child confirmed no flush before the kill")
	}
	return last
}
