package store

import (
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// naiveHook is the baseline: one bbolt transaction (one fsync) per event on
// the caller's goroutine, with the same keys and encoding as Hook.
type naiveHook struct {
	mqtt.HookBase
	db *bbolt.DB
}

func (n *naiveHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, _ int) {
	v := encodeMessage(nil, messageOf(pk, cl.ID, sent))
	_ = n.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketNames[bucketInflight]).Put([]byte(inflightKey(cl.ID, pk.PacketID)), v)
	})
}

func (n *naiveHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	_ = n.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketNames[bucketInflight]).Delete([]byte(inflightKey(cl.ID, pk.PacketID)))
	})
}

func (n *naiveHook) Flush() error { return nil }

// qosHook is what the benchmark drives.
type qosHook interface {
	OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, resends int)
	OnQosComplete(cl *mqtt.Client, pk packets.Packet)
	Flush() error
}

// BenchmarkQosPublish compares the group-commit hook with the naive
// one-transaction-per-event hook in the same run, for two loads:
//
//   - publish: every event stores a new in-flight message (nothing coalesces);
//   - publish+ack: the subscriber acknowledges each message 256 events later,
//     as an online client does.
//
// The timed loop ends with Flush, so both sides pay for durability. It logs
// the ratio naive/group of the time per event and reports it as the
// x-vs-naive metric of the group sub-benchmark; run with -count=3 (or more)
// and take the median.
func BenchmarkQosPublish(b *testing.B) {
	for _, load := range []struct {
		name   string
		ackLag int // 0: never acknowledged
	}{
		{"publish", 0},
		{"publish+ack", 256},
	} {
		var perEvent [2]float64
		for i, impl := range []string{"naive", "group"} {
			b.Run(load.name+"/"+impl, func(b *testing.B) {
				db, _ := tempDB(b)
				var h qosHook
				if impl == "naive" {
					if err := prepare(db); err != nil {
						b.Fatal(err)
					}
					h = &naiveHook{db: db}
				} else {
					h = newHook(b, db, Options{Logger: quietLogger()})
				}
				perEvent[i] = runQosLoad(b, h, load.ackLag)
				if impl == "group" && perEvent[0] > 0 {
					b.ReportMetric(perEvent[0]/perEvent[1], "x-vs-naive")
				}
			})
		}
		if perEvent[0] > 0 && perEvent[1] > 0 {
			b.Logf("%s: naive %.0f ns/event, group %.0f ns/event: group commit is %.1fx faster",
				load.name, perEvent[0], perEvent[1], perEvent[0]/perEvent[1])
		}
	}
}

// runQosLoad raises b.N in-flight publishes (and acknowledgements) and
// returns the time per event, including the final Flush.
func runQosLoad(b *testing.B, h qosHook, ackLag int) float64 {
	cl := client("bench")
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   "sensors/gw1/temperature",
		Payload:     []byte(`{"t":21.5,"h":40}`),
		Created:     time.Now().Unix(),
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		pk.PacketID = uint16(i%65535) + 1
		h.OnQosPublish(cl, pk, 0, 0)
		if ackLag > 0 && i >= ackLag {
			h.OnQosComplete(cl, packets.Packet{PacketID: uint16((i-ackLag)%65535) + 1})
		}
	}
	if err := h.Flush(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	return float64(elapsed.Nanoseconds()) / float64(b.N)
}
