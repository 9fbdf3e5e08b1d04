// Command loadgen runs one testbed load scenario against an MQTT broker and
// prints its result as one JSON document on stdout. It runs in a process of
// its own so that thousands of connections fit in its open-file limit (it
// raises the soft limit to the hard one).
//
// Examples:
//
//	loadgen -addr 127.0.0.1:1883 -kind fanin -publishers 20 -qos 1 -messages 2000
//	loadgen -addr 127.0.0.1:1883 -kind fanout -subscribers 50 -messages 2000
//	loadgen -addr 127.0.0.1:1883 -kind fanin -publishers 20 -qos 1 -subscriber-pause 2s
//	loadgen -addr 127.0.0.1:1883 -kind connect -connections 10000 -hold 5s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wedge-iot/wedge/testbed/loadgen"
)

func main() {
	var s loadgen.Scenario
	var kind string
	var qos uint
	flag.StringVar(&s.Name, "name", "", "scenario name in the result (default: the kind)")
	flag.StringVar(&kind, "kind", "fanin", "scenario kind: fanin, fanout or connect")
	flag.StringVar(&s.Addr, "addr", "127.0.0.1:1883", "broker address host:port (loopback)")
	flag.IntVar(&s.Version, "mqtt", 5, "MQTT version of publishers and subscribers: 5 or 4 (3.1.1)")
	flag.StringVar(&s.Client, "client", "pipe", "client of publishers and subscribers: pipe (light, raw TCP) or paho (the paho libraries)")
	flag.IntVar(&s.Window, "window", 1, "QoS 1 publishes each publisher keeps awaiting PUBACK (pipe client)")
	flag.IntVar(&s.Publishers, "publishers", 1, "publisher clients")
	flag.IntVar(&s.Subscribers, "subscribers", 1, "subscriber clients")
	flag.UintVar(&qos, "qos", 0, "QoS of publishes and subscriptions")
	flag.IntVar(&s.PayloadSize, "payload", 64, "payload size in bytes (min 24)")
	flag.IntVar(&s.Messages, "messages", 1000, "messages per publisher")
	flag.Float64Var(&s.Rate, "rate", 0, "messages/s per publisher (0: as fast as possible)")
	flag.DurationVar(&s.SubscriberPause, "subscriber-pause", 0, "subscribers stop reading this long at their first message (queue overflow)")
	flag.DurationVar(&s.Duration, "duration", 0, "cap on the publishing or connecting phase (default 60s)")
	flag.DurationVar(&s.DrainTimeout, "drain-timeout", 0, "cap on waiting for deliveries after publishing (default 15s)")
	flag.DurationVar(&s.DrainIdle, "drain-idle", 0, "stop waiting after this long without a delivery (default 2s)")
	flag.IntVar(&s.Connections, "connections", 1000, "connect: connections to open")
	flag.Float64Var(&s.ConnectRate, "connect-rate", 0, "connect: attempts per second (0: unlimited)")
	flag.IntVar(&s.ConnectConcurrency, "connect-concurrency", 32, "connect: attempts in progress at once")
	flag.DurationVar(&s.Hold, "hold", 0, "connect: hold the connections idle this long")
	flag.StringVar(&s.RunID, "run-id", "", "unique id for client ids and topics (default: time-based)")
	flag.IntVar(&s.WatchPID, "watch-pid", 0, "broker PID whose VmRSS/VmHWM to sample at the busiest moment")
	flag.Parse()
	s.Kind = loadgen.Kind(kind)
	s.QoS = byte(qos)

	raiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// raiseFileLimit raises the soft open-file limit to the hard limit.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: getrlimit:", err)
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: setrlimit:", err)
		}
	}
}
