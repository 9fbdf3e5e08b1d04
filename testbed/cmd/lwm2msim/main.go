// Command lwm2msim runs a fleet of simulated LwM2M devices against a LwM2M server: they register,
// send Updates before their lifetime runs out, answer the server's requests and, when asked,
// change their battery level (/3/0/9) periodically so that observations produce notifications.
//
//	lwm2msim -server 127.0.0.1:5783 -n 100 -prefix urn:imei:35209900176 -notify 1s -duration 1m
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/wedge-iot/wedge/testbed/lwm2msim"
)

func main() {
	server := flag.String("server", "127.0.0.1:5783", "LwM2M server host:port (UDP)")
	n := flag.Int("n", 1, "number of devices")
	prefix := flag.String("prefix", "sim", "endpoint name prefix (devices are prefix-0 ... prefix-(n-1))")
	lifetime := flag.Int("lifetime", 300, "registration lifetime in seconds")
	version := flag.String("version", "1.0", "LwM2M version: 1.0 or 1.1")
	binding := flag.String("binding", "U", "binding (U, UQ)")
	ct := flag.Int("ct", 0, "1.1: preferred content format announced at registration (11542, 110, 112)")
	notify := flag.Duration("notify", 0, "change /3/0/9 on every device this often (0: never)")
	duration := flag.Duration("duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	parallel := flag.Int("parallel", 16, "parallel registrations")
	deregister := flag.Bool("deregister", true, "de-register on exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fleet := lwm2msim.NewFleet(*n, lwm2msim.Config{Endpoint: *prefix, Lifetime: *lifetime, Version: *version,
		Binding: *binding, PreferredFormat: *ct})
	defer fleet.Close()
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := fleet.Register(rctx, *server, *parallel)
	cancel()
	if err != nil {
		log.Fatalf("register: %v", err)
	}
	el := time.Since(start)
	fmt.Printf("registered %d devices in %v (%.0f/s)\n", *n, el.Round(time.Millisecond), float64(*n)/el.Seconds())

	var wg sync.WaitGroup
	// Updates at 3/4 of the lifetime keep the registrations alive.
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Duration(*lifetime) * time.Second * 3 / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, d := range fleet.Devices {
					uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					if _, err := d.Update(uctx, false); err != nil {
						log.Printf("%s: update: %v", d.Endpoint(), err)
					}
					cancel()
				}
			}
		}
	}()
	if *notify > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(*notify)
			defer t.Stop()
			level := int64(100)
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					level = (level + 99) % 101
					for _, d := range fleet.Devices {
						d.Set("/3/0/9", level)
					}
				}
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	var reqs, notes int64
	for _, d := range fleet.Devices {
		reqs += d.Requests.Load()
		notes += d.Notifications.Load()
		if *deregister {
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = d.Deregister(dctx)
			cancel()
		}
	}
	fmt.Printf("server requests answered: %d, notifications sent: %d\n", reqs, notes)
}
