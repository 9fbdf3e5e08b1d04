package kafka

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kgo "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/appliance/actions/internal/testcert"
	"github.com/wedge-iot/wedge/appliance/outbox"
)

func cluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// consume reads n messages from topic with a consumer group, committing them.
func consume(t *testing.T, brokers []string, topic, group string, n int) []kgo.Message {
	t.Helper()
	r := kgo.NewReader(kgo.ReaderConfig{Brokers: brokers, GroupID: group, Topic: topic, StartOffset: kgo.FirstOffset,
		MaxWait: 100 * time.Millisecond, CommitInterval: 0})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kgo.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func record(t *testing.T, seq uint64, out map[string]any) actions.Record {
	b, err := actions.EncodeOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	return actions.Record{Queue: outbox.QueueID{Rule: "r", Action: 1}, Seq: seq, Data: b}
}

// TestThroughOutbox produces through the outbox to 1 and 3 brokers, with the
// partitioners, acks and compressions, and reads everything back with a
// consumer group: every record once, per key in order, with its id header.
func TestThroughOutbox(t *testing.T) {
	cases := []struct {
		brokers                  int
		partitioner, acks, codec string
	}{
		{1, "hash", "all", "none"},
		{3, "hash", "all", "snappy"},
		{3, "round_robin", "one", "lz4"},
		{1, "crc32", "all", "zstd"},
		{3, "least_bytes", "all", "gzip"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%db-%s-%s-%s", tc.brokers, tc.partitioner, tc.acks, tc.codec), func(t *testing.T) {
			addrs := cluster(t, kfake.NumBrokers(tc.brokers), kfake.SeedTopics(3, "events"))
			c, err := New(Config{Servers: addrs, Topic: "events", Key: "${dev}", Value: `{"dev":"${dev}","n":${n}}`,
				Partitioner: tc.partitioner, RequiredAcks: tc.acks, Compression: tc.codec})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			id := outbox.QueueID{Rule: "r", Action: 1}
			if err := ob.Register(id, c, outbox.QueueOptions{BatchSize: 50, BatchInterval: 5 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			const n = 300
			for i := range n {
				data, _ := actions.EncodeOutput(map[string]any{"dev": fmt.Sprintf("d%d", i%5), "n": i})
				ob.Enqueue(id, data)
			}
			msgs := consume(t, addrs, "events", "g-"+t.Name(), n)
			last := map[string]int{}
			seen := map[int]bool{}
			for _, m := range msgs {
				var v struct {
					Dev string
					N   int
				}
				if err := json.Unmarshal(m.Value, &v); err != nil {
					t.Fatalf("value %q: %v", m.Value, err)
				}
				if string(m.Key) != v.Dev {
					t.Fatalf("key %q for dev %q", m.Key, v.Dev)
				}
				if seen[v.N] {
					t.Fatalf("record %d twice", v.N)
				}
				seen[v.N] = true
				if tc.partitioner == "hash" || tc.partitioner == "crc32" {
					if p, ok := last[v.Dev]; ok && v.N <= p {
						t.Fatalf("dev %s: %d after %d", v.Dev, v.N, p)
					}
					last[v.Dev] = v.N
				}
				if len(m.Headers) != 1 || m.Headers[0].Key != RecordIDHeader || !strings.HasPrefix(string(m.Headers[0].Value), "r/1/") {
					t.Fatalf("headers %+v", m.Headers)
				}
			}
			if st, _ := ob.QueueStats(id); st.Delivered != n {
				// the last acknowledgements may still be committing
				time.Sleep(100 * time.Millisecond)
				if st, _ = ob.QueueStats(id); st.Delivered != n {
					t.Fatalf("outbox stats %+v", st)
				}
			}
		})
	}
}

// TestPerMessageErrors: one message over the broker's message.max.bytes in
// a batch: only it is rejected for good, the others are produced.
func TestPerMessageErrors(t *testing.T) {
	addrs := cluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "big"), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "3000"}))
	c, err := New(Config{Servers: addrs, Topic: "big", Value: "${v}"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []actions.Record
	for i := range 6 {
		v := fmt.Sprintf("small-%d", i)
		if i == 3 {
			v = strings.Repeat("x", 5000)
		}
		recs = append(recs, record(t, uint64(i+1), map[string]any{"v": v}))
	}
	recs = append(recs, actions.Record{Seq: 7, Data: []byte("not json")})
	res := c.Deliver(context.Background(), recs)
	for i, err := range res.Errs {
		switch i {
		case 3, 6:
			if err == nil || !actions.IsPermanent(err) {
				t.Fatalf("record %d: %v, want a permanent error", i, err)
			}
		default:
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	msgs := consume(t, addrs, "big", "g-big", 5)
	for i, m := range msgs {
		want := fmt.Sprintf("small-%d", []int{0, 1, 2, 4, 5}[i])
		if string(m.Value) != want {
			t.Fatalf("message %d = %q, want %q", i, m.Value, want)
		}
	}
}

// TestTopicTemplateAndSASL: per-record topics, SASL PLAIN and SCRAM against a
// cluster that requires them, and a wrong password failing transiently.
func TestTopicTemplateAndSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			addrs := cluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t-a", "t-b"), kfake.EnableSASL(), kfake.Superuser(mech, "edge", "secret"))
			c, err := New(Config{Servers: addrs, Topic: "t-${site}", SASL: &SASL{Mechanism: mech, Username: "edge", Password: "secret"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res := c.Deliver(context.Background(), []actions.Record{record(t, 1, map[string]any{"site": "a"}), record(t, 2, map[string]any{"site": "b"})})
			for i, err := range res.Errs {
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			if ok, detail := c.Health(); !ok {
				t.Fatalf("Health: %s", detail)
			}
			bad, err := New(Config{Servers: addrs, Topic: "t-a", SASL: &SASL{Mechanism: mech, Username: "edge", Password: "wrong"}, WriteTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res = bad.Deliver(ctx, []actions.Record{record(t, 3, map[string]any{})})
			if res.Errs[0] == nil || actions.IsPermanent(res.Errs[0]) {
				t.Fatalf("wrong password: %v, want a transient error", res.Errs[0])
			}
			if ok, _ := bad.Health(); ok {
				t.Fatal("Health ok with a wrong password")
			}
		})
	}
}

func TestBrokersDownIsTransient(t *testing.T) {
	c, err := New(Config{Servers: []string{"127.0.0.1:1"}, Topic: "x", WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := c.Deliver(ctx, []actions.Record{record(t, 1, map[string]any{})})
	if res.Errs[0] == nil || actions.IsPermanent(res.Errs[0]) {
		t.Fatalf("no broker: %v", res.Errs[0])
	}
}

func TestConfigErrors(t *testing.T) {
	base := Config{Servers: []string{"127.0.0.1:9092"}, Topic: "t"}
	for _, mut := range []func(*Config){
		func(c *Config) { c.Servers = nil },
		func(c *Config) { c.Topic = "" },
		func(c *Config) { c.Partitioner = "sticky-ish" },
		func(c *Config) { c.RequiredAcks = "2" },
		func(c *Config) { c.Compression = "brotli" },
		func(c *Config) { c.SASL = &SASL{Mechanism: "kerberos"} },
	} {
		cfg := base
		mut(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestTLS produces over TLS to a cluster that only speaks TLS, trusting its
// CA, and fails (transiently) without the CA.
func TestTLS(t *testing.T) {
	pair, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addrs := cluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "sec"), kfake.TLS(pair.Server))
	c, err := New(Config{Servers: addrs, Topic: "sec", TLS: pair.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := c.Deliver(context.Background(), []actions.Record{record(t, 1, map[string]any{"x": 1})})
	if res.Errs[0] != nil {
		t.Fatalf("over TLS: %v", res.Errs[0])
	}
	untrusted, err := New(Config{Servers: addrs, Topic: "sec", TLS: &tls.Config{MinVersion: tls.VersionTLS12}, WriteTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res := untrusted.Deliver(ctx, []actions.Record{record(t, 2, map[string]any{})}); res.Errs[0] == nil || actions.IsPermanent(res.Errs[0]) {
		t.Fatalf("untrusted certificate: %v", res.Errs[0])
	}
}
