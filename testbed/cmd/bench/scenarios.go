package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// sizes are the scenario sizes, set from flags.
type sizes struct {
	publishers   int           // fan-in publishers
	subscribers  int           // fan-out subscribers
	messagesQoS0 int           // per fan-in publisher at QoS 0 (fan-out: the publisher sends this /2)
	messagesQoS1 int           // per fan-in publisher at QoS 1 (fan-out: the publisher sends this /2)
	payload      int           // bytes
	bigPayload   int           // bytes, for the payload-size scenario
	overflowMsgs int           // per overflow publisher
	pause        time.Duration // overflow subscriber pause
	idle         int           // idle connections
	idleHold     time.Duration
	connRate     int // connections opened as fast as possible
	mqttVersion  int
	client       string // pipe or paho
	window       int    // QoS 1 publishes in flight per publisher
	pipelined    int    // window of the pipelined QoS 1 scenarios
	idleVersion  int    // MQTT version of idle and connection-rate connections
}

func defaultSizes(quick bool) sizes {
	s := sizes{
		publishers: 20, subscribers: 50,
		messagesQoS0: 5000, messagesQoS1: 2000,
		payload: 64, bigPayload: 4096,
		overflowMsgs: 1000, pause: 3 * time.Second,
		idle: 10000, idleHold: 6 * time.Second,
		connRate:    3000,
		mqttVersion: 5,
		client:      "pipe",
		window:      1,
		pipelined:   8,
		idleVersion: 4,
	}
	if quick {
		s.messagesQoS0, s.messagesQoS1 = 500, 200
		s.overflowMsgs, s.pause = 600, 2*time.Second
		s.idle, s.idleHold = 1000, 2*time.Second
		s.connRate = 500
	}
	return s
}

// scenario is one row group of the report and the loadgen flags that run it.
type scenario struct {
	name string
	// what describes it in the table's legend.
	what string
	// kind is "pubsub", "overflow" or "connect", which picks the metrics shown.
	kind string
	args []string
}

func buildScenarios(z sizes) []scenario {
	n := itoa
	pubsub := func(name, what, kind string, pubs, subs, qos, msgs, payload int, extra ...string) scenario {
		args := []string{"-kind", kind, "-publishers", n(pubs), "-subscribers", n(subs), "-qos", n(qos),
			"-messages", n(msgs), "-payload", n(payload), "-mqtt", n(z.mqttVersion), "-client", z.client}
		if qos == 1 && z.window > 1 {
			args = append(args, "-window", n(z.window))
		}
		k := "pubsub"
		if slices.Contains(extra, "-subscriber-pause") {
			k = "overflow"
		}
		return scenario{name: name, what: what, kind: k, args: append(args, extra...)}
	}
	fo0, fo1 := max(z.messagesQoS0/2, 1), max(z.messagesQoS1/2, 1)
	return []scenario{
		pubsub("fanin-q0", fmt.Sprintf("%d publishers × %d msgs → 1 subscriber, QoS 0, %d B", z.publishers, z.messagesQoS0, z.payload),
			"fanin", z.publishers, 1, 0, z.messagesQoS0, z.payload),
		pubsub("fanin-q1", fmt.Sprintf("%d publishers × %d msgs → 1 subscriber, QoS 1, %d B", z.publishers, z.messagesQoS1, z.payload),
			"fanin", z.publishers, 1, 1, z.messagesQoS1, z.payload),
		pubsub("fanout-q0", fmt.Sprintf("1 publisher × %d msgs → %d subscribers, QoS 0, %d B", fo0, z.subscribers, z.payload),
			"fanout", 1, z.subscribers, 0, fo0, z.payload),
		pubsub("fanout-q1", fmt.Sprintf("1 publisher × %d msgs → %d subscribers, QoS 1, %d B", fo1, z.subscribers, z.payload),
			"fanout", 1, z.subscribers, 1, fo1, z.payload),
		pubsub("fanin-q1-w", fmt.Sprintf("as fanin-q1, each publisher keeping %d QoS 1 publishes in flight", z.pipelined),
			"fanin", z.publishers, 1, 1, z.messagesQoS1, z.payload, "-window", n(z.pipelined)),
		pubsub("fanout-q1-w", fmt.Sprintf("as fanout-q1, the publisher keeping %d QoS 1 publishes in flight", z.pipelined),
			"fanout", 1, z.subscribers, 1, fo1, z.payload, "-window", n(z.pipelined)),
		pubsub("payload-q1", fmt.Sprintf("%d publishers × %d msgs → 1 subscriber, QoS 1, %d B", max(z.publishers/2, 1), max(z.messagesQoS1/2, 1), z.bigPayload),
			"fanin", max(z.publishers/2, 1), 1, 1, max(z.messagesQoS1/2, 1), z.bigPayload),
		pubsub("overflow-q1", fmt.Sprintf("%d publishers × %d msgs → 1 subscriber that stops reading for %v, QoS 1", z.publishers, z.overflowMsgs, z.pause),
			"fanin", z.publishers, 1, 1, z.overflowMsgs, z.payload, "-subscriber-pause", z.pause.String(), "-drain-idle", "3s", "-drain-timeout", "30s"),
		{name: "idle", kind: "connect", what: fmt.Sprintf("%d idle MQTT %s connections (minimal CONNECT, keep-alive 10 min) held %v", z.idle, versionName(z.idleVersion), z.idleHold),
			args: []string{"-kind", "connect", "-connections", n(z.idle), "-connect-concurrency", "32", "-hold", z.idleHold.String(), "-mqtt", n(z.idleVersion)}},
		{name: "connrate", kind: "connect", what: fmt.Sprintf("%d MQTT %s connections opened 32 at a time", z.connRate, versionName(z.idleVersion)),
			args: []string{"-kind", "connect", "-connections", n(z.connRate), "-connect-concurrency", "32", "-mqtt", n(z.idleVersion)}},
	}
}

// selectScenarios keeps the scenarios named in only (comma-separated; all
// when empty).
func selectScenarios(all []scenario, only string) ([]scenario, error) {
	if only == "" {
		return all, nil
	}
	var out []scenario
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, s := range all {
			if s.name == strings.TrimSpace(name) {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
	}
	return out, nil
}

func versionName(v int) string {
	if v == 4 {
		return "3.1.1"
	}
	return fmt.Sprint(v)
}
