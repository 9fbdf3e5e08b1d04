// Command baremochi runs a bare mochi-mqtt v2 server at its defaults
// (mqtt.New(nil), an allow-all auth hook, one TCP listener): the baseline
// the testbed's benchmark compares wedge with. It logs errors only, so that
// logging costs nothing in the benchmark. It stops on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/wedge-iot/wedge/testbed/internal/baremochi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "TCP listen address")
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	server, _, err := baremochi.Start(*addr, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baremochi:", err)
		os.Exit(1)
	}
	<-sigs
	if err := server.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "baremochi:", err)
		os.Exit(1)
	}
}
