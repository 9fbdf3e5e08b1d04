package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// metric is one row of the report: a figure taken from each run.
type metric struct {
	label string
	get   func(runResult) float64
	// format prints a value.
	format func(float64) string
	// noRatio marks counts of failures, whose ratios mean nothing.
	noRatio bool
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// count prints a value that counts things.
func count(v float64) string { return fmt.Sprintf("%.0f", v) }

func mib(kib int64) float64 { return float64(kib) / 1024 }

var (
	mMsgs    = metric{"msgs/s delivered", func(r runResult) float64 { return r.Result.MsgsPerSec }, num, false}
	mP50     = metric{"latency p50 ms", func(r runResult) float64 { return r.Result.Latency.P50 }, num, false}
	mP99     = metric{"latency p99 ms", func(r runResult) float64 { return r.Result.Latency.P99 }, num, false}
	mLost    = metric{"lost", func(r runResult) float64 { return float64(r.Result.Lost) }, count, true}
	mHWM     = metric{"broker peak RSS MB", func(r runResult) float64 { return mib(r.HWMKiB) }, num, false}
	mHeld    = metric{"broker RSS MB, held", func(r runResult) float64 { return mib(r.Result.BrokerRSSKiB) }, num, false}
	mConns   = metric{"connects/s", func(r runResult) float64 { return r.Result.ConnectsPerSec }, num, false}
	mFailed  = metric{"failed connects", func(r runResult) float64 { return float64(r.Result.ConnectFailed) }, count, true}
	mReady   = metric{"ready ms", func(r runResult) float64 { return float64(r.Ready) / float64(time.Millisecond) }, num, false}
	mCPU     = metric{"broker CPU s", func(r runResult) float64 { return r.CPU.Seconds() }, num, false}
	mCPUPerK = metric{"broker CPU ms / 1k msgs", func(r runResult) float64 {
		if r.Result.Delivered == 0 {
			return 0
		}
		return float64(r.CPU.Milliseconds()) * 1000 / float64(r.Result.Delivered)
	}, num, false}
	mSendErr = metric{"publish errors", func(r runResult) float64 { return float64(r.Result.SendErrors) }, count, true}
)

func metricsFor(kind string) []metric {
	switch kind {
	case "connect":
		return []metric{mConns, mHeld, mHWM, mCPU, mFailed}
	case "overflow":
		return []metric{mLost, mMsgs, mP99, mHWM, mSendErr}
	default:
		return []metric{mMsgs, mP50, mP99, mLost, mHWM, mCPUPerK}
	}
}

// median returns the median of vs (the mean of the middle two for an even
// count) and false when vs is empty.
func median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// ratio returns a/b as text, or "–" when it has no meaning.
func ratio(a, b float64, okA, okB bool) string {
	if !okA || !okB || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// collect returns metric m of every successful run of scenario sc on broker.
func collect(results []runResult, sc, broker string, m metric) []float64 {
	var vs []float64
	for _, r := range results {
		if r.Scenario == sc && r.Broker == broker && r.Err == "" {
			vs = append(vs, m.get(r))
		}
	}
	return vs
}

// report prints the table of medians and ratios, the startup times, the
// issue's goals for wedge, and any failed runs.
func report(w io.Writer, scens []scenario, kinds []brokerKind, results []runResult) {
	has := map[string]bool{}
	var names []string
	for _, k := range kinds {
		has[k.name] = true
		names = append(names, k.name)
	}
	fmt.Fprintf(w, "| scenario | metric | %s | wedge/mochi | wedge/mosquitto | mochi/mosquitto |\n", strings.Join(names, " | "))
	fmt.Fprintf(w, "|---|---|%s---|---|---|\n", strings.Repeat("---|", len(names)))
	med := func(sc, broker string, m metric) (float64, bool) {
		return median(collect(results, sc, broker, m))
	}
	row := func(sc string, m metric) {
		cells := []string{sc, m.label}
		for _, b := range names {
			if v, ok := med(sc, b, m); ok {
				cells = append(cells, m.format(v))
			} else {
				cells = append(cells, "n/a")
			}
		}
		wv, wok := med(sc, "wedge", m)
		mv, mok := med(sc, "mochi", m)
		qv, qok := med(sc, "mosquitto", m)
		if m.noRatio {
			wok, mok, qok = false, false, false
		}
		cells = append(cells, ratio(wv, mv, wok, mok), ratio(wv, qv, wok, qok), ratio(mv, qv, mok, qok))
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	for _, sc := range scens {
		for _, m := range metricsFor(sc.kind) {
			row(sc.name, m)
		}
	}
	// Startup: every start of every scenario counts.
	cells := []string{"startup", "ready ms (all starts)"}
	readies := map[string][]float64{}
	for _, r := range results {
		if r.Ready > 0 {
			readies[r.Broker] = append(readies[r.Broker], mReady.get(r))
		}
	}
	for _, b := range names {
		if v, ok := median(readies[b]); ok {
			cells = append(cells, num(v))
		} else {
			cells = append(cells, "n/a")
		}
	}
	wv, wok := median(readies["wedge"])
	mv, mok := median(readies["mochi"])
	qv, qok := median(readies["mosquitto"])
	cells = append(cells, ratio(wv, mv, wok, mok), ratio(wv, qv, wok, qok), ratio(mv, qv, mok, qok))
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))

	fmt.Fprintln(w, "\nScenarios:")
	for _, sc := range scens {
		fmt.Fprintf(w, "- %s: %s\n", sc.name, sc.what)
	}

	if has["wedge"] {
		fmt.Fprintln(w, "\nGoals for wedge (issue 2):")
		for _, c := range checkGoals(scens, results) {
			fmt.Fprintln(w, "- "+c)
		}
	}

	var failed []string
	for _, r := range results {
		if r.Err != "" {
			failed = append(failed, fmt.Sprintf("- run %d %s on %s: %s", r.Run, r.Scenario, r.Broker, firstLine(r.Err)))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailed runs (%d):\n%s\n", len(failed), strings.Join(failed, "\n"))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// checkGoals states each of issue 2's benchmark goals as PASS, FAIL or
// n/a (not measured in this run).
func checkGoals(scens []scenario, results []runResult) []string {
	med := func(sc, broker string, m metric) (float64, bool) { return median(collect(results, sc, broker, m)) }
	verdict := func(ok, measured bool) string {
		switch {
		case !measured:
			return "n/a"
		case ok:
			return "PASS"
		default:
			return "FAIL"
		}
	}
	var out []string
	for _, sc := range scens {
		m := mMsgs
		if sc.kind == "connect" {
			m = mConns
		}
		if sc.name == "idle" {
			continue
		}
		wv, wok := med(sc.name, "wedge", m)
		mv, mok := med(sc.name, "mochi", m)
		if sc.kind != "overflow" {
			out = append(out, fmt.Sprintf("%s: %s ≥ 0.95× bare mochi (%s): %s", verdict(wok && mok && wv >= 0.95*mv, wok && mok), sc.name, m.label, ratio(wv, mv, wok, mok)))
		}
		switch sc.name {
		case "fanin-q0", "fanin-q1", "fanout-q0", "fanout-q1":
			qv, qok := med(sc.name, "mosquitto", m)
			out = append(out, fmt.Sprintf("%s: %s ≥ 1.5× mosquitto: %s", verdict(wok && qok && wv >= 1.5*qv, wok && qok), sc.name, ratio(wv, qv, wok, qok)))
		case "overflow-q1":
			lost := collect(results, sc.name, "wedge", mLost)
			worst := 0.0
			for _, v := range lost {
				worst = max(worst, v)
			}
			out = append(out, fmt.Sprintf("%s: %s: no QoS 1 message lost in any run: worst %s", verdict(worst == 0, len(lost) > 0), sc.name, count(worst)))
		case "connrate":
			qv, qok := med(sc.name, "mosquitto", m)
			out = append(out, fmt.Sprintf("%s: %s: connection rate ≥ mosquitto's: %s", verdict(wok && qok && wv >= qv, wok && qok), sc.name, ratio(wv, qv, wok, qok)))
		}
	}
	for _, sc := range scens {
		if sc.name != "idle" {
			continue
		}
		v, ok := med(sc.name, "wedge", mHeld)
		out = append(out, fmt.Sprintf("%s: %s within 150 MB RSS: %s MB", verdict(ok && v <= 150, ok), sc.what, num(v)))
	}
	var readies []float64
	for _, r := range results {
		if r.Broker == "wedge" && r.Ready > 0 {
			readies = append(readies, mReady.get(r))
		}
	}
	v, ok := median(readies)
	out = append(out, fmt.Sprintf("%s: ready to accept connections ≤ 200 ms after start: median %s ms", verdict(ok && v <= 200, ok), num(v)))
	return out
}
