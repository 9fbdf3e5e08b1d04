package outbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wedge-iot/wedge/appliance/outbox"
)

// An async action: the rules engine enqueues the rule's output and waits for
// it to be durable before the publisher is acknowledged; the connector
// (here a function) receives the records in order.
func Example() {
	dir, _ := os.MkdirTemp("", "outbox-example")
	defer os.RemoveAll(dir)
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ob.Close()

	done := make(chan struct{})
	q := outbox.QueueID{Rule: "r1", Action: 0}
	target := outbox.DelivererFunc(func(ctx context.Context, recs []outbox.Record) outbox.BatchResult {
		for _, r := range recs {
			fmt.Printf("%s #%d: %s\n", r.Queue, r.Seq, r.Data)
			if string(r.Data) == `{"n":2}` {
				close(done)
			}
		}
		return outbox.BatchResult{} // all acknowledged
	})
	if err := ob.Register(q, target, outbox.QueueOptions{BatchSize: 10}); err != nil {
		fmt.Println(err)
		return
	}
	for i := range 3 {
		p := ob.Enqueue(q, fmt.Appendf(nil, `{"n":%d}`, i))
		if err := p.Wait(context.Background()); err != nil { // the broker's Hold
			fmt.Println(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	// Output:
	// r1/0 #1: {"n":0}
	// r1/0 #2: {"n":1}
	// r1/0 #3: {"n":2}
}
