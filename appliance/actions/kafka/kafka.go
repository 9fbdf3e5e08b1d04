package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	kgo "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/wedge-iot/wedge/appliance/actions"
)

// SASL configures SASL authentication.
type SASL struct {
	// Mechanism is "plain", "scram_sha_256" or "scram_sha_512" (dashes and
	// case are accepted too).
	Mechanism string `json:"mechanism"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

// Config is a kafka action's params.
type Config struct {
	// Servers are the bootstrap brokers, host:port.
	Servers []string `json:"servers"`
	// Topic is a template; with placeholders each record picks its topic.
	Topic string `json:"topic"`
	// Key is a template (empty: no key). Value is a template (empty: the
	// rule's whole output as JSON).
	Key   string `json:"key"`
	Value string `json:"value"`
	// Partitioner: "hash" (default: murmur2 of the key, as the Java client
	// does, so records of one key stay in one partition, in order),
	// "round_robin", "least_bytes", "crc32" (librdkafka's default), "random"
	// (no key: round robin).
	Partitioner string `json:"partitioner"`
	// RequiredAcks: "all" / -1 (default), "one" / 1, "none" / 0.
	RequiredAcks string `json:"required_acks"`
	// Compression: "none" (default), "gzip", "snappy", "lz4", "zstd".
	Compression string `json:"compression"`
	// TLS enables TLS to the brokers (nil: plaintext, or what SSL says).
	TLS *tls.Config `json:"-"`
	// SSL is the "ssl" param (CA, client certificate, verify), used when TLS is nil.
	SSL *actions.SSL `json:"ssl,omitempty"`
	// SASL enables SASL authentication (nil: none).
	SASL *SASL `json:"sasl,omitempty"`
	// BatchTimeout is how long the writer waits to fill a produce request
	// (default 2ms); the outbox does the real batching.
	BatchTimeout time.Duration `json:"-"`
	// WriteTimeout bounds one produce (default 10s).
	WriteTimeout time.Duration `json:"-"`
	// AllowAutoTopicCreation lets the broker create a missing topic.
	AllowAutoTopicCreation bool `json:"-"`
	// Writer, when set, is shared (a resource's connection, from NewWriter):
	// the connector produces through it, naming the topic per message, and
	// Close leaves it open. Servers, Partitioner, RequiredAcks, Compression,
	// TLS, SSL and SASL are then the writer's.
	Writer *kgo.Writer `json:"-"`
}

// Connector produces records to Kafka with a kafka-go Writer.
type Connector struct {
	w     *kgo.Writer
	topic *actions.Template
	key   *actions.Template
	value *actions.Template
	// shared: w belongs to a resource (Close leaves it open).
	shared bool

	mu      sync.Mutex
	lastErr string
}

// RecordIDHeader is the message header carrying the record's
// "rule/action/seq" id, for de-duplication by consumers.
const RecordIDHeader = "wedge-record-id"

// New checks cfg and returns a Connector. It does not contact the brokers.
func New(cfg Config) (*Connector, error) {
	if cfg.Topic == "" {
		return nil, errors.New("kafka: topic is required")
	}
	c := &Connector{
		topic:  actions.ParseTemplate(cfg.Topic),
		key:    actions.ParseTemplate(cfg.Key),
		value:  actions.ParseTemplate(cfg.Value),
		w:      cfg.Writer,
		shared: cfg.Writer != nil,
	}
	if c.w == nil {
		var err error
		if c.w, err = NewWriter(cfg); err != nil {
			return nil, err
		}
		if !c.topic.HasPlaceholders() {
			c.w.Topic = cfg.Topic
		}
	}
	return c, nil
}

// NewWriter checks cfg's connection settings (servers, partitioner, acks,
// compression, TLS or SSL, SASL, timeouts) and returns the kafka-go Writer a
// connector produces with, with no topic of its own (each message names it).
// It does not contact the brokers.
func NewWriter(cfg Config) (*kgo.Writer, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("kafka: servers is required")
	}
	bal, err := balancer(cfg.Partitioner)
	if err != nil {
		return nil, err
	}
	acks, err := requiredAcks(cfg.RequiredAcks)
	if err != nil {
		return nil, err
	}
	comp, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	var mech sasl.Mechanism
	if cfg.SASL != nil {
		if mech, err = mechanism(*cfg.SASL); err != nil {
			return nil, err
		}
	}
	tc := cfg.TLS
	if tc == nil {
		if tc, err = cfg.SSL.Config(); err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	return &kgo.Writer{
		Addr:                   kgo.TCP(cfg.Servers...),
		Balancer:               bal,
		RequiredAcks:           acks,
		Compression:            comp,
		BatchSize:              10_000,
		BatchTimeout:           cfg.BatchTimeout,
		WriteTimeout:           cfg.WriteTimeout,
		ReadTimeout:            cfg.WriteTimeout,
		MaxAttempts:            2, // the outbox retries with backoff
		WriteBackoffMin:        10 * time.Millisecond,
		WriteBackoffMax:        100 * time.Millisecond,
		AllowAutoTopicCreation: cfg.AllowAutoTopicCreation,
		Transport: &kgo.Transport{
			TLS:         tc,
			SASL:        mech,
			DialTimeout: 5 * time.Second,
			ClientID:    "wedge",
			MetadataTTL: 30 * time.Second,
		},
	}, nil
}

func balancer(name string) (kgo.Balancer, error) {
	switch norm(name) {
	case "", "hash", "murmur2":
		return kgo.Murmur2Balancer{Consistent: true}, nil
	case "round_robin", "random":
		return &kgo.RoundRobin{}, nil
	case "least_bytes":
		return &kgo.LeastBytes{}, nil
	case "crc32":
		return kgo.CRC32Balancer{Consistent: true}, nil
	}
	return nil, fmt.Errorf("kafka: partitioner %q: must be hash, round_robin, least_bytes, crc32 or random", name)
}

func requiredAcks(s string) (kgo.RequiredAcks, error) {
	switch norm(s) {
	case "", "all", "-1":
		return kgo.RequireAll, nil
	case "one", "1", "leader":
		return kgo.RequireOne, nil
	case "none", "0":
		return kgo.RequireNone, nil
	}
	return 0, fmt.Errorf("kafka: required_acks %q: must be all (-1), one (1) or none (0)", s)
}

func compression(s string) (kgo.Compression, error) {
	switch norm(s) {
	case "", "none", "no_compression":
		return 0, nil
	case "gzip":
		return kgo.Gzip, nil
	case "snappy":
		return kgo.Snappy, nil
	case "lz4":
		return kgo.Lz4, nil
	case "zstd":
		return kgo.Zstd, nil
	}
	return 0, fmt.Errorf("kafka: compression %q: must be none, gzip, snappy, lz4 or zstd", s)
}

func mechanism(s SASL) (sasl.Mechanism, error) {
	switch norm(s.Mechanism) {
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "scram_sha_256":
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case "scram_sha_512":
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
	return nil, fmt.Errorf("kafka: sasl mechanism %q: must be plain, scram_sha_256 or scram_sha_512", s.Mechanism)
}

func norm(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
}

// Deliver produces recs in one WriteMessages call and maps kafka-go's
// per-message errors back to records. A permanent broker error shared by a
// whole partition batch (kafka-go reports errors per produce request) is
// narrowed down by producing those records one at a time, so only the bad
// ones are rejected.
func (c *Connector) Deliver(ctx context.Context, recs []actions.Record) actions.BatchResult {
	errs := make([]error, len(recs))
	var msgs []kgo.Message
	var idx []int // msgs[j] is recs[idx[j]]
	for i, r := range recs {
		m, err := c.message(r)
		if err != nil {
			errs[i] = err
			continue
		}
		msgs = append(msgs, m)
		idx = append(idx, i)
	}
	werrs := c.write(ctx, msgs)
	var suspects []int
	for j, err := range werrs {
		errs[idx[j]] = err
		if err != nil && actions.IsPermanent(err) {
			suspects = append(suspects, j)
		}
	}
	if len(suspects) > 1 {
		for _, j := range suspects {
			errs[idx[j]] = c.write(ctx, msgs[j:j+1])[0]
		}
	}
	var last error
	for _, err := range errs {
		if err != nil && !actions.IsPermanent(err) {
			last = err
		}
	}
	c.setErr(last)
	return actions.BatchResult{Errs: errs}
}

// write produces msgs and returns one error per message.
func (c *Connector) write(ctx context.Context, msgs []kgo.Message) []error {
	out := make([]error, len(msgs))
	if len(msgs) == 0 {
		return out
	}
	pos := make([]int, len(msgs)) // position in out of each message still to write
	for i := range pos {
		pos[i] = i
	}
	for len(msgs) > 0 {
		err := c.w.WriteMessages(ctx, msgs...)
		var tooLarge kgo.MessageTooLargeError
		var werrs kgo.WriteErrors
		switch {
		case err == nil:
			return out
		case errors.As(err, &tooLarge):
			// Nothing was sent: reject that message and send the others.
			j := findMessage(msgs, tooLarge.Message)
			if j < 0 {
				for _, p := range pos {
					out[p] = actions.Permanent(fmt.Errorf("kafka: %w", err))
				}
				return out
			}
			out[pos[j]] = actions.Permanent(fmt.Errorf("kafka: message of %d bytes: %w", len(msgs[j].Value), err))
			msgs = append(msgs[:j:j], msgs[j+1:]...)
			pos = append(pos[:j:j], pos[j+1:]...)
		case errors.As(err, &werrs) && len(werrs) == len(msgs):
			for j, e := range werrs {
				if e != nil {
					out[pos[j]] = classify(e)
				}
			}
			return out
		default:
			e := classify(err)
			for _, p := range pos {
				out[p] = e
			}
			return out
		}
	}
	return out
}

func findMessage(msgs []kgo.Message, m kgo.Message) int {
	for j := range msgs {
		if len(m.Value) > 0 && len(msgs[j].Value) == len(m.Value) && &msgs[j].Value[0] == &m.Value[0] {
			return j
		}
	}
	return -1
}

// classify marks the errors a retry cannot fix as permanent.
func classify(err error) error {
	var ke kgo.Error
	if errors.As(err, &ke) {
		switch ke {
		case kgo.MessageSizeTooLarge, kgo.InvalidTopic,
			kgo.RecordListTooLarge, kgo.InvalidRecord, kgo.InvalidMessageSize:
			return actions.Permanent(fmt.Errorf("kafka: %w", err))
		}
	}
	return fmt.Errorf("kafka: %w", err)
}

func (c *Connector) message(r actions.Record) (kgo.Message, error) {
	out, err := actions.DecodeOutput(r.Data)
	if err != nil {
		return kgo.Message{}, err
	}
	m := kgo.Message{}
	if c.w.Topic == "" {
		m.Topic = c.topic.Render(out)
		if m.Topic == "" {
			return m, actions.Permanent(fmt.Errorf("kafka: topic template %q renders empty", c.topic))
		}
	}
	if !c.key.Empty() {
		m.Key = c.key.RenderBytes(out)
	}
	if c.value.Empty() {
		m.Value = append([]byte(nil), r.Data...)
	} else {
		m.Value = c.value.RenderBytes(out)
	}
	if id := actions.RecordID(r); id != "" {
		m.Headers = []kgo.Header{{Key: RecordIDHeader, Value: []byte(id)}}
	}
	return m, nil
}

func (c *Connector) setErr(err error) {
	c.mu.Lock()
	if err == nil {
		c.lastErr = ""
	} else {
		c.lastErr = err.Error()
	}
	c.mu.Unlock()
}

// Health reports the last delivery's result, with the writer's counters.
func (c *Connector) Health() (bool, string) {
	st := c.w.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	detail := "messages " + strconv.FormatInt(st.Messages, 10) + ", errors " + strconv.FormatInt(st.Errors, 10)
	if c.lastErr != "" {
		return false, c.lastErr + " (" + detail + ")"
	}
	return true, detail
}

// Close flushes and closes the writer (not a shared one).
func (c *Connector) Close() error {
	if c.shared {
		return nil
	}
	return c.w.Close()
}

var _ actions.Connector = (*Connector)(nil)
