package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestartKeepsSessionsRetainedAndQueued: retained messages and QoS 1 messages queued for
// an offline persistent session survive a restart of the process (SIGTERM, start again on the
// same data directory), and the session's subscription too.
func TestRestartKeepsSessionsRetainedAndQueued(t *testing.T) {
	d := start(t, startOpt{})
	sub, _ := dialMQTT(t, d.mqtt, "persistent-1", false)
	sub.subscribe("plant/#", 1)
	sub.disconnect()
	time.Sleep(100 * time.Millisecond)

	pub, _ := dialMQTT(t, d.mqtt, "publisher", true)
	pub.publish("status/line1", "running", 1, true)
	for i := 0; i < 5; i++ {
		pub.publish("plant/temp", fmt.Sprint(i), 1, false)
	}
	pub.disconnect()
	d.stop()

	d2 := start(t, startOpt{dataDir: d.dataDir})
	sub2, present := dialMQTT(t, d2.mqtt, "persistent-1", false)
	if !present {
		t.Fatal("session not present after restart")
	}
	for i := 0; i < 5; i++ {
		topic, payload, _, err := sub2.message(5 * time.Second)
		if err != nil {
			t.Fatalf("queued message %d after restart: %v\n%s", i, err, d2.stderr)
		}
		if topic != "plant/temp" || payload != fmt.Sprint(i) {
			t.Fatalf("message %d: %s %q", i, topic, payload)
		}
	}
	// The subscription survived too: a new message reaches the session.
	pub2, _ := dialMQTT(t, d2.mqtt, "publisher", true)
	pub2.publish("plant/humidity", "40", 1, false)
	if topic, _, _, err := sub2.message(5 * time.Second); err != nil || topic != "plant/humidity" {
		t.Fatalf("live message after restart: %q %v", topic, err)
	}
	late, _ := dialMQTT(t, d2.mqtt, "late", true)
	late.subscribe("status/#", 0)
	topic, payload, retain, err := late.message(5 * time.Second)
	if err != nil || topic != "status/line1" || payload != "running" || !retain {
		t.Fatalf("retained after restart: %q %q retain=%v %v", topic, payload, retain, err)
	}
}

// TestSignals: SIGHUP applies a new max_connections without a restart; an invalid file is
// refused and the running configuration kept; SIGTERM drains and exits 0.
func TestSignals(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "wedge.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("mqtt:\n  max_connections: 100\n")
	d := start(t, startOpt{config: cfg})
	dialMQTT(t, d.mqtt, "a", true)
	write("mqtt:\n  max_connections: 1\n")
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "configuration reloaded")
	c, _ := tryMQTT(t, d.mqtt, "b")
	if c == 0 {
		t.Fatal("second connection accepted after max_connections was reloaded to 1")
	}
	write("mqtt:\n  max_connections: [broken\n")
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "reload refused")
	d.stop()
	if !strings.Contains(d.stderr.String(), "stopped") {
		t.Fatalf("no clean stop logged:\n%s", d.stderr)
	}
}

func waitLog(t *testing.T, d *daemon, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(d.stderr.String(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log never said %q:\n%s", s, d.stderr)
}
