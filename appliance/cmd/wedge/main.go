// Command wedge is the WebAssembly-extensible IoT edge appliance: an MQTT broker with a
// CoAP/LwM2M gateway, a SQL rules engine compiled to WebAssembly, and durable actions.
//
// Usage:
//
//	wedge [run] [--config FILE] [--data-dir DIR]   run the daemon (the default command)
//	wedge rule test --sql SQL --context JSON        evaluate a rule once
//	wedge config defaults                           print the embedded default configuration
//	wedge config check [--config FILE]              validate a configuration and exit
//	wedge version                                   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/wedge-iot/wedge/appliance"
	"github.com/wedge-iot/wedge/appliance/config"
)

// Set by the Makefile with -ldflags -X.
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runDaemon(args, stdout, stderr)
	case "rule":
		return runRuleCmd(args, stdout, stderr)
	case "config":
		return runConfigCmd(args, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "wedge: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

const usage = `Usage:
  wedge [run] [--config FILE] [--data-dir DIR]   run the daemon (default command)
  wedge rule test --sql SQL --context JSON [--engine wasm|eval]
  wedge config defaults                          print the embedded default configuration
  wedge config check [--config FILE]             validate a configuration and exit
  wedge version
`

func versionString() string {
	return fmt.Sprintf("wedge %s (commit %s, %s, %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

type daemonFlags struct {
	config, dataDir string
}

func parseDaemonFlags(name string, args []string, stderr io.Writer) (daemonFlags, error) {
	var f daemonFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "configuration file (YAML); embedded defaults when absent")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (overrides data_dir)")
	return f, fs.Parse(args)
}

func loadConfig(f daemonFlags) (*config.Config, []string, error) {
	return config.Load(f.config, os.Environ(), config.Overrides{DataDir: f.dataDir})
}

func newLogger(c *config.Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	level.Set(appliance.ParseLevel(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

func runDaemon(args []string, stdout, stderr io.Writer) int {
	f, err := parseDaemonFlags("run", args, stderr)
	if err != nil {
		return 2
	}
	cfg, warnings, err := loadConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "wedge: %v\n", err)
		return 1
	}
	log, level := newLogger(cfg, stderr)
	for _, w := range warnings {
		log.Warn(w)
	}
	tuneRuntime(cfg.Runtime, os.Getenv, log)
	a, err := appliance.New(appliance.Options{
		Config: cfg, Logger: log, Level: level, Version: version,
		OnAdminPassword: func(pw string) {
			fmt.Fprintf(stdout, "wedge: generated the dashboard/API password of user admin (shown once, stored hashed): %s\n", pw)
		},
	})
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := a.Start(ctx); err != nil {
		log.Error("cannot start", "error", err)
		_ = a.Stop(context.Background())
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			n, warnings, err := loadConfig(f)
			if err != nil {
				log.Error("reload refused: configuration invalid, keeping the running one", "error", err)
				continue
			}
			for _, w := range warnings {
				log.Warn(w)
			}
			if restart := a.Reload(n); len(restart) > 0 {
				log.Warn("reloaded; these changes need a restart", "keys", restart)
			} else {
				log.Info("configuration reloaded")
			}
		case <-ctx.Done():
			log.Info("stopping: draining clients and flushing state")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := a.Stop(sctx)
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("stop", "error", err)
				return 1
			}
			log.Info("stopped")
			return 0
		}
	}
}

func runConfigCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "defaults":
		_, _ = stdout.Write(config.DefaultsYAML())
		return 0
	case "check":
		f, err := parseDaemonFlags("config check", args[1:], stderr)
		if err != nil {
			return 2
		}
		if _, warnings, err := loadConfig(f); err != nil {
			fmt.Fprintf(stderr, "wedge: %v\n", err)
			return 1
		} else {
			for _, w := range warnings {
				fmt.Fprintln(stderr, "warning:", w)
			}
		}
		fmt.Fprintln(stdout, "configuration OK")
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}
