package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/wedge-iot/wedge/appliance/config"
)

// The configured collector settings apply, unless GOGC / GOMEMLIMIT are set.
func TestTuneRuntime(t *testing.T) {
	gc := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	noEnv := func(string) string { return "" }

	tuneRuntime(config.Runtime{GCPercent: 250, MemoryLimit: 3 << 30}, noEnv, log)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("gc percent %d, want 250", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("memory limit %d, want %d", got, int64(3<<30))
	}

	debug.SetMemoryLimit(limit)
	env := func(k string) string { return map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}[k] }
	tuneRuntime(config.Runtime{GCPercent: 250, MemoryLimit: 3 << 30}, env, log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("gc percent %d with GOGC set, want it left at 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left at %d", got, limit)
	}
}
