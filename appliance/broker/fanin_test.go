package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestFanInQoS1 publishes from several pipelining clients at once to one subscriber that
// acknowledges as it reads: every message arrives exactly once, none is lost, nothing stalls.
// (Order per publisher is kept except in a narrow race inside mochi's quota accounting, which
// the log line counts; see flow.go.)
func TestFanInQoS1(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		b := testBroker(t, nil)
		addr := b.Addr("tcp")
		sub := dialRaw(t, addr, ver)
		sub.connect(fmt.Sprint("fan-sub", ver), true)
		sub.subscribe("fan/#", 1)
		const pubs, per = 4, 1500
		var wg sync.WaitGroup
		for p := 0; p < pubs; p++ {
			c := dialRaw(t, addr, ver)
			c.connect(fmt.Sprint("fan-pub", ver, p), true)
			wg.Add(1)
			go func(c *raw, p int) {
				defer wg.Done()
				// Pipelined: publish everything, then read the acknowledgements.
				for i := 0; i < per; i++ {
					c.publish(fmt.Sprint("fan/", p), fmt.Sprint(i), 1, false)
				}
				for i := 0; i < per; i++ {
					if _, err := c.recv(30 * time.Second); err != nil {
						t.Errorf("publisher %d ack %d: %v", p, i, err)
						return
					}
				}
			}(c, p)
		}
		seen := make([]map[int]bool, pubs)
		for i := range seen {
			seen[i] = map[int]bool{}
		}
		next := make([]int, pubs)
		reordered := 0
		for got := 0; got < pubs*per; got++ {
			pk, err := sub.recv(10 * time.Second)
			if err != nil {
				t.Fatalf("v%d: after %d of %d: %v (stats %+v)", ver, got, pubs*per, err, b.Stats())
			}
			var p int
			fmt.Sscanf(pk.TopicName, "fan/%d", &p)
			var n int
			fmt.Sscan(string(pk.Payload), &n)
			if seen[p][n] {
				t.Fatalf("v%d: publisher %d message %d delivered twice", ver, p, n)
			}
			seen[p][n] = true
			if n != next[p] {
				reordered++
			}
			if n >= next[p] {
				next[p] = n + 1
			}
			sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		}
		wg.Wait()
		t.Logf("v%d: %d of %d messages out of publisher order", ver, reordered, pubs*per)
	}
}
