// Command bench runs the testbed's load scenarios against wedge, a bare
// mochi-mqtt server and Debian's mosquitto in the same run, each on its own
// loopback port, and prints a table of medians with ratios (wedge / bare
// mochi, wedge / mosquitto). It builds nothing: it is given the brokers' and
// the load generator's binaries (scripts/bench.sh builds them).
//
// Every scenario run gets a freshly started broker, so that memory figures
// belong to that scenario and every start is timed (process start to the
// first accepted TCP connection). Runs are interleaved (run 1 of every
// scenario on every broker, then run 2, …) so that drift in the machine's
// load spreads evenly. A broker whose binary is missing is skipped with a
// message.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/wedge-iot/wedge/testbed/loadgen"
)

func main() {
	var (
		wedgePath   = flag.String("wedge", "bin/wedge", "wedge binary (skipped when missing)")
		mochiPath   = flag.String("baremochi", "bin/baremochi", "bare mochi-mqtt binary (testbed/cmd/baremochi)")
		mosqPath    = flag.String("mosquitto", "mosquitto", "mosquitto binary (skipped when missing)")
		loadgenPath = flag.String("loadgen", "bin/loadgen", "load generator binary (testbed/cmd/loadgen)")
		runs        = flag.Int("runs", 3, "runs per scenario and broker (the table shows medians)")
		quick       = flag.Bool("quick", false, "small sizes for a smoke run (still -runs runs)")
		only        = flag.String("only", "", "comma-separated scenarios to run (default: all)")
		brokers     = flag.String("brokers", "wedge,mochi,mosquitto", "comma-separated brokers to run")
		jsonOut     = flag.String("json", "", "also write every run's raw result to this file")
		workDir     = flag.String("workdir", "", "directory for broker data and logs (default: a temporary one, removed at the end)")
		keep        = flag.Bool("keep", false, "keep the work directory")
		fromJSON    = flag.String("from-json", "", "run nothing: print the report of a -json file written earlier (pass the same size flags)")
	)
	z := defaultSizes(false)
	flag.IntVar(&z.publishers, "publishers", 0, "fan-in publishers (default 20)")
	flag.IntVar(&z.subscribers, "subscribers", 0, "fan-out subscribers (default 50)")
	flag.IntVar(&z.messagesQoS0, "messages-q0", 0, "messages per fan-in publisher at QoS 0 (default 5000, quick 500)")
	flag.IntVar(&z.messagesQoS1, "messages-q1", 0, "messages per fan-in publisher at QoS 1 (default 2000, quick 200)")
	flag.IntVar(&z.payload, "payload", 0, "payload bytes (default 64)")
	flag.IntVar(&z.bigPayload, "big-payload", 0, "payload bytes of the payload-size scenario (default 4096)")
	flag.IntVar(&z.overflowMsgs, "overflow-messages", 0, "messages per overflow publisher (default 1000, quick 600)")
	flag.DurationVar(&z.pause, "overflow-pause", 0, "how long the overflow subscriber stops reading (default 3s, quick 2s)")
	flag.IntVar(&z.idle, "idle", 0, "idle connections (default 10000, quick 1000)")
	flag.DurationVar(&z.idleHold, "idle-hold", 0, "how long idle connections are held (default 6s, quick 2s)")
	flag.IntVar(&z.connRate, "connrate", 0, "connections of the connection-rate scenario (default 3000, quick 500)")
	flag.IntVar(&z.mqttVersion, "mqtt", 0, "MQTT version of publishers and subscribers: 5 or 4 (default 5)")
	flag.StringVar(&z.client, "client", "", "client of publishers and subscribers: pipe (light, default) or paho")
	flag.IntVar(&z.window, "window", 0, "QoS 1 publishes each publisher keeps in flight (pipe client; default 1)")
	flag.IntVar(&z.pipelined, "pipelined", 0, "QoS 1 publishes each publisher keeps in flight in the *-w scenarios (default 8)")
	flag.IntVar(&z.idleVersion, "idle-mqtt", 0, "MQTT version of idle and connection-rate connections: 4 (3.1.1, default) or 5")
	flag.Parse()
	z = mergeSizes(z, defaultSizes(*quick))

	if *fromJSON != "" {
		if err := rereport(*fromJSON, z, *quick, *only); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	raiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config{
		wedge: *wedgePath, mochi: *mochiPath, mosquitto: *mosqPath, loadgen: *loadgenPath,
		runs: *runs, quick: *quick, only: *only, brokers: *brokers, jsonOut: *jsonOut,
		workDir: *workDir, keep: *keep, sizes: z,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// mergeSizes fills the zero fields of set with defaults.
func mergeSizes(set, def sizes) sizes {
	pick := func(v, d int) int {
		if v > 0 {
			return v
		}
		return d
	}
	pickD := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	return sizes{
		publishers: pick(set.publishers, def.publishers), subscribers: pick(set.subscribers, def.subscribers),
		messagesQoS0: pick(set.messagesQoS0, def.messagesQoS0), messagesQoS1: pick(set.messagesQoS1, def.messagesQoS1),
		payload: pick(set.payload, def.payload), bigPayload: pick(set.bigPayload, def.bigPayload),
		overflowMsgs: pick(set.overflowMsgs, def.overflowMsgs), pause: pickD(set.pause, def.pause),
		idle: pick(set.idle, def.idle), idleHold: pickD(set.idleHold, def.idleHold),
		connRate: pick(set.connRate, def.connRate), mqttVersion: pick(set.mqttVersion, def.mqttVersion),
		client: cmp.Or(set.client, def.client), window: pick(set.window, def.window),
		pipelined: pick(set.pipelined, def.pipelined), idleVersion: pick(set.idleVersion, def.idleVersion),
	}
}

type config struct {
	wedge, mochi, mosquitto, loadgen string
	runs                             int
	quick                            bool
	only, brokers, jsonOut, workDir  string
	keep                             bool
	sizes                            sizes
}

// runResult is one scenario run on one broker.
type runResult struct {
	Broker   string         `json:"broker"`
	Scenario string         `json:"scenario"`
	Run      int            `json:"run"`
	Ready    time.Duration  `json:"ready_ns"`
	HWMKiB   int64          `json:"broker_hwm_kib"`
	CPU      time.Duration  `json:"broker_cpu_ns"`
	Result   loadgen.Result `json:"result"`
	Err      string         `json:"error,omitempty"`
}

func run(ctx context.Context, cfg config) error {
	if _, err := os.Stat(cfg.loadgen); err != nil {
		return fmt.Errorf("load generator %s: %w (build it: go build -o bin/loadgen ./testbed/cmd/loadgen)", cfg.loadgen, err)
	}
	kinds, err := availableBrokers(cfg)
	if err != nil {
		return err
	}
	scens, err := selectScenarios(buildScenarios(cfg.sizes), cfg.only)
	if err != nil {
		return err
	}
	dir := cfg.workDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wedge-bench-"); err != nil {
			return err
		}
		if !cfg.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_ = os.Chmod(dir, 0o755)

	var results []runResult
	total := cfg.runs * len(scens) * len(kinds)
	done := 0
	for r := 1; r <= cfg.runs; r++ {
		for _, sc := range scens {
			for _, k := range kinds {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				done++
				fmt.Fprintf(os.Stderr, "[%d/%d] run %d %s on %s … ", done, total, r, sc.name, k.name)
				rr := runOne(ctx, cfg.loadgen, k, sc, r, dir)
				if rr.Err != "" {
					fmt.Fprintf(os.Stderr, "error: %s\n", rr.Err)
				} else {
					fmt.Fprintf(os.Stderr, "%s\n", brief(sc, rr))
				}
				results = append(results, rr)
			}
		}
	}
	if cfg.jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	printHeader(cfg.quick, cfg.runs, time.Now())
	report(os.Stdout, scens, kinds, results)
	return nil
}

func printHeader(quick bool, runs int, when time.Time) {
	mode := "full"
	if quick {
		mode = "quick"
	}
	fmt.Printf("\n# wedge benchmark (%s mode, median of %d runs) — %s, %d CPUs, %s/%s\n\n",
		mode, runs, when.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}

// rereport prints the report of results saved with -json.
func rereport(path string, z sizes, quick bool, only string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var results []runResult
	if err := json.Unmarshal(b, &results); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	scens, err := selectScenarios(buildScenarios(z), only)
	if err != nil {
		return err
	}
	var kinds []brokerKind
	runs := 0
	for _, name := range []string{"wedge", "mochi", "mosquitto"} {
		for _, r := range results {
			if r.Broker == name {
				kinds = append(kinds, brokerKind{name: name})
				break
			}
		}
	}
	for _, r := range results {
		runs = max(runs, r.Run)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	printHeader(quick, runs, st.ModTime())
	report(os.Stdout, scens, kinds, results)
	return nil
}

func availableBrokers(cfg config) ([]brokerKind, error) {
	all := map[string]brokerKind{
		"wedge":     {name: "wedge", path: cfg.wedge, command: wedgeCommand},
		"mochi":     {name: "mochi", path: cfg.mochi, command: mochiCommand},
		"mosquitto": {name: "mosquitto", path: cfg.mosquitto, command: mosquittoCommand},
	}
	var kinds []brokerKind
	for _, name := range strings.Split(cfg.brokers, ",") {
		k, ok := all[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown broker %q (want wedge, mochi, mosquitto)", name)
		}
		p, err := exec.LookPath(k.path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: SKIPPING %s: binary %s not found (%v)\n", k.name, k.path, err)
			continue
		}
		if k.path, err = filepath.Abs(p); err != nil {
			return nil, err
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("no broker to run")
	}
	return kinds, nil
}

func runOne(ctx context.Context, loadgenPath string, k brokerKind, sc scenario, r int, dir string) runResult {
	rr := runResult{Broker: k.name, Scenario: sc.name, Run: r}
	b, err := startBroker(k, dir, 15*time.Second)
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	defer b.stop()
	rr.Ready = b.ready
	args := append([]string{"-addr", b.addr, "-name", sc.name, "-watch-pid", itoa(b.pid()),
		"-run-id", fmt.Sprintf("%s-%s-%d", sc.name, k.name, r)}, sc.args...)
	lctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := runLoadgen(lctx, loadgenPath, args, filepath.Join(dir, fmt.Sprintf("loadgen-%s-%s-%d.log", sc.name, k.name, r)))
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	if m, err := loadgen.ReadProcMemory(b.pid()); err == nil {
		rr.HWMKiB = m.HWM
	}
	if cpu, err := loadgen.ReadProcCPU(b.pid()); err == nil {
		rr.CPU = cpu
	}
	if !b.alive() {
		rr.Err = fmt.Sprintf("%s died during the run; log %s:\n%s", k.name, b.log, tail(b.log))
		return rr
	}
	if err := json.Unmarshal(out, &rr.Result); err != nil {
		rr.Err = fmt.Sprintf("decode loadgen output: %v", err)
	}
	return rr
}

func brief(sc scenario, rr runResult) string {
	res := rr.Result
	switch sc.kind {
	case "connect":
		return fmt.Sprintf("%d connected, %.0f conn/s, RSS %.1f MB, ready %v", res.Connected, res.ConnectsPerSec, float64(res.BrokerRSSKiB)/1024, rr.Ready.Round(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f msg/s, p50 %.2f ms, p99 %.2f ms, lost %d, HWM %.1f MB, ready %v", res.MsgsPerSec, res.Latency.P50, res.Latency.P99, res.Lost, float64(rr.HWMKiB)/1024, rr.Ready.Round(time.Millisecond))
	}
}

// raiseFileLimit raises the soft open-file limit to the hard limit; brokers
// started by bench inherit it.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
