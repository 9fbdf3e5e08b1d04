package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/testbed/loadgen"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{5}, 5, true},
		{[]float64{3, 1, 2}, 2, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
		{[]float64{10, 1, 1000}, 10, true},
	}
	for _, tt := range tests {
		got, ok := median(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(3, 2, true, true); got != "1.50×" {
		t.Errorf("ratio = %q", got)
	}
	for _, got := range []string{ratio(1, 0, true, true), ratio(1, 2, false, true), ratio(1, 2, true, false)} {
		if got != "–" {
			t.Errorf("ratio without meaning = %q", got)
		}
	}
}

func TestSelectScenarios(t *testing.T) {
	all := buildScenarios(defaultSizes(true))
	got, err := selectScenarios(all, "idle, fanin-q1")
	if err != nil || len(got) != 2 || got[0].name != "idle" || got[1].name != "fanin-q1" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := selectScenarios(all, "nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
	if got, _ := selectScenarios(all, ""); len(got) != len(all) {
		t.Fatal("empty selection is not all")
	}
}

func TestMergeSizes(t *testing.T) {
	z := mergeSizes(sizes{idle: 5, pause: time.Second}, defaultSizes(false))
	if z.idle != 5 || z.pause != time.Second || z.publishers != 20 || z.connRate != 3000 {
		t.Fatalf("sizes %+v", z)
	}
}

func TestMosquittoConfigKeepsDefaultQueue(t *testing.T) {
	dir := t.TempDir()
	if _, err := mosquittoCommand("mosquitto", dir, "127.0.0.1:4321"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{"listener 4321 127.0.0.1", "allow_anonymous true", "persistence false", "max_connections -1"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "max_queued_messages") {
		t.Errorf("config changes max_queued_messages:\n%s", conf)
	}
}

func TestReportRatiosAndGoals(t *testing.T) {
	scens, err := selectScenarios(buildScenarios(defaultSizes(true)), "fanin-q1,overflow-q1")
	if err != nil {
		t.Fatal(err)
	}
	var results []runResult
	add := func(broker, sc string, msgs float64, lost int64) {
		results = append(results, runResult{Broker: broker, Scenario: sc, Ready: 50 * time.Millisecond,
			Result: loadgen.Result{MsgsPerSec: msgs, Lost: lost}})
	}
	for _, v := range []float64{90, 100, 110} {
		add("wedge", "fanin-q1", 2*v, 0)
		add("mochi", "fanin-q1", v, 0)
		add("mosquitto", "fanin-q1", v, 0)
		add("wedge", "overflow-q1", v, 0)
		add("mosquitto", "overflow-q1", v, 3000)
	}
	results = append(results, runResult{Broker: "mochi", Scenario: "overflow-q1", Err: "boom"})
	kinds := []brokerKind{{name: "wedge"}, {name: "mochi"}, {name: "mosquitto"}}
	var buf bytes.Buffer
	report(&buf, scens, kinds, results)
	out := buf.String()
	for _, want := range []string{
		"| fanin-q1 | msgs/s delivered | 200 | 100 | 100 | 2.00× | 2.00× | 1.00× |",
		"| overflow-q1 | lost | 0 | n/a | 3000 |",
		"PASS: fanin-q1 ≥ 0.95× bare mochi (msgs/s delivered)",
		"PASS: fanin-q1 ≥ 1.5× mosquitto",
		"PASS: overflow-q1: no QoS 1 message lost",
		"PASS: ready to accept connections ≤ 200 ms",
		"run 0 overflow-q1 on mochi: boom",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
