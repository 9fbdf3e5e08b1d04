package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
	"go.etcd.io/bbolt"
)

// Defaults for the zero values of Options.
const (
	// DefaultFlushInterval is Options.FlushInterval when it is zero.
	DefaultFlushInterval = 10 * time.Millisecond
	// DefaultQueueSize is Options.QueueSize when it is zero.
	DefaultQueueSize = 8192
	// DefaultMaxRetries is Options.MaxRetries when it is zero.
	DefaultMaxRetries = 3
	// DefaultSysInfoInterval is Options.SysInfoInterval when it is zero.
	DefaultSysInfoInterval = time.Minute
)

// Options tunes a Hook. The zero value is ready to use.
type Options struct {
	// FlushInterval is how long the writer waits after the first pending
	// event to gather more into the same transaction. It bounds the window of
	// events a crash can lose. Zero means DefaultFlushInterval; a negative
	// value commits as soon as anything is pending (events that arrive during
	// a commit still share the next one).
	FlushInterval time.Duration
	// QueueSize bounds the distinct records waiting for the writer. When it
	// is reached, the broker goroutine that raises the next event waits for
	// the writer (back-pressure). Zero means DefaultQueueSize.
	QueueSize int
	// MaxRetries is how many times a failed transaction is retried before
	// its records are dropped (logged and counted). Zero means
	// DefaultMaxRetries; a negative value never retries.
	MaxRetries int
	// SysInfoInterval is the least time between two writes of the broker's
	// $SYS counters, which mochi raises every few seconds. Zero means
	// DefaultSysInfoInterval; a negative value does not store them.
	SysInfoInterval time.Duration
	// Logger receives write errors and warnings. Nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.SysInfoInterval == 0 {
		o.SysInfoInterval = DefaultSysInfoInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats are the hook's counters since New.
type Stats struct {
	Events         uint64 // storage events accepted into the queue
	Coalesced      uint64 // events replaced by a later event on the same key before they were written
	RecordsWritten uint64 // puts and deletes applied by committed transactions
	Groups         uint64 // transactions committed
	WriteErrors    uint64 // transaction attempts that failed
	Dropped        uint64 // records not persisted: a group abandoned after retries, an unstorable key, or an event after Stop
	AbsentDeletes  uint64 // deletes skipped because the key never reached the disk (e.g. a message published and acknowledged within one group)
	Blocked        uint64 // times a broker goroutine waited for room in the queue
	Pending        int    // records waiting for the writer now
}

type counters struct {
	events, coalesced, records, groups, writeErrors, dropped, blocked, absentDeletes atomic.Uint64
}

// Hook is wedge's mochi storage hook.
//
// Create it with New and add it with Server.AddHook before Server.Serve:
// mochi reads the stored state in Serve, and only from the first storage
// hook that returns data, so a server has one storage hook and a DB one
// Hook. mochi calls Stop from Server.Close; close the DB only after that.
//
// The event methods run on broker goroutines and only queue a record; they
// block only while the queue is full (back-pressure). The writer shares the
// DB's single write lock with the other packages that use the file, so never
// raise broker events (publish into the broker, disconnect a client) while
// holding a bbolt write transaction on the same DB: with a full queue that
// waits for the writer, which waits for that transaction.
type Hook struct {
	mqtt.HookBase

	db   *bbolt.DB
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	pending  map[pendKey]pendOp
	spare    map[pendKey]pendOp
	prefixes []pendKey
	seq      uint64        // events accepted
	doneSeq  uint64        // events resolved (committed or failed)
	failSeq  uint64        // doneSeq after the most recent failed group
	lastErr  error         // error of the most recent failed group
	progress chan struct{} // closed and replaced whenever the writer takes or resolves a group
	stopping bool

	wake, urgent chan struct{}
	stopCh       chan struct{}
	exited       chan struct{}
	stopOnce     sync.Once
	stopErr      error

	// stored holds the ids of the clients with a record (committed or pending): a session that
	// ends with its connection and has none costs no write at all (most connections of a
	// connection storm). Guarded by mu.
	stored map[string]struct{}

	sysMu   sync.Mutex
	lastSys time.Time

	stats counters
}

// New prepares the hook's buckets in db, checks their schema version and
// starts the writer goroutine. The caller keeps ownership of db and must
// close it only after Stop (Server.Close) has returned.
func New(db *bbolt.DB, opts Options) (*Hook, error) {
	if db == nil {
		return nil, errors.New("store: nil *bbolt.DB")
	}
	opts = opts.withDefaults()
	if err := prepare(db); err != nil {
		return nil, err
	}
	h := &Hook{
		db:       db,
		opts:     opts,
		log:      opts.Logger,
		pending:  make(map[pendKey]pendOp),
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		urgent:   make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		exited:   make(chan struct{}),
		stored:   make(map[string]struct{}),
	}
	err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketNames[bucketClients]).ForEach(func(k, _ []byte) error {
			h.stored[string(k)] = struct{}{}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read client ids: %w", err)
	}
	go h.run()
	return h, nil
}

// ID names the hook in mochi's logs.
func (h *Hook) ID() string { return "wedge-store" }

// Provides reports the mochi events the hook handles.
func (h *Hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnSubscribed,
		mqtt.OnUnsubscribed,
		mqtt.OnRetainMessage,
		mqtt.OnRetainedExpired,
		mqtt.OnQosPublish,
		mqtt.OnQosComplete,
		mqtt.OnQosDropped,
		mqtt.OnClientExpired,
		mqtt.StoredClients,
		mqtt.StoredSubscriptions,
		mqtt.StoredInflightMessages,
		mqtt.StoredRetainedMessages,
		mqtt.StoredSysInfo:
		return true
	case mqtt.OnSysInfoTick:
		return h.opts.SysInfoInterval > 0
	}
	return false
}

// Stats returns a snapshot of the hook's counters.
func (h *Hook) Stats() Stats {
	h.mu.Lock()
	pending := h.queuedLocked()
	h.mu.Unlock()
	return Stats{
		Events:         h.stats.events.Load(),
		Coalesced:      h.stats.coalesced.Load(),
		RecordsWritten: h.stats.records.Load(),
		Groups:         h.stats.groups.Load(),
		WriteErrors:    h.stats.writeErrors.Load(),
		Dropped:        h.stats.dropped.Load(),
		AbsentDeletes:  h.stats.absentDeletes.Load(),
		Blocked:        h.stats.blocked.Load(),
		Pending:        pending,
	}
}

// ephemeral reports whether cl's session ends with its connection (MQTT 3.1.1
// clean session, MQTT 5 session expiry 0: the condition mochi expires a
// session on). Nothing of such a session is stored: after a restart it would
// be gone anyway, and its in-flight messages are the bulk of the store's
// writes under load. A v5 client cannot raise a zero expiry at DISCONNECT
// [MQTT-3.14.2-2], so the answer never changes for a connection.
func ephemeral(cl *mqtt.Client) bool {
	return (cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryInterval == 0) ||
		(cl.Properties.ProtocolVersion < 5 && cl.Properties.Clean)
}

// OnSessionEstablished stores the client. A clean start also removes what
// the store still holds of the client's previous session; a session that
// ends with its connection removes all of it and stores nothing.
func (h *Hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if ephemeral(cl) {
		h.deleteClient(cl.ID)
		return
	}
	if pk.Connect.Clean {
		h.enqueuePrefixDelete(bucketSubs, clientPrefix(cl.ID))
		h.enqueuePrefixDelete(bucketInflight, clientPrefix(cl.ID))
	}
	h.putClient(cl)
}

// OnDisconnect deletes the client's session when it ends with the
// connection, and otherwise stores the client again (a v5 DISCONNECT may
// change the session expiry). A client whose session was taken over by a new
// connection is left alone: the new connection owns the record.
func (h *Hook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if cl.IsTakenOver() || ephemeral(cl) {
		return // nothing stored since OnSessionEstablished removed it all
	}
	if expire {
		h.deleteClient(cl.ID)
		return
	}
	h.putClient(cl)
}

// OnClientExpired deletes the client with its subscriptions and in-flight
// messages.
func (h *Hook) OnClientExpired(cl *mqtt.Client) {
	h.deleteClient(cl.ID)
}

// OnSubscribed stores each filter the broker granted. Inline subscriptions (wedge's own
// consumers, which subscribe again at every start) are not stored.
func (h *Hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	if cl.Net.Inline || ephemeral(cl) {
		return
	}
	for i, sub := range pk.Filters {
		if i >= len(reasonCodes) || reasonCodes[i] >= packets.ErrUnspecifiedError.Code {
			continue
		}
		h.enqueue(bucketSubs, subKey(cl.ID, sub.Filter), pendOp{val: &storage.Subscription{
			Filter:            sub.Filter,
			Identifier:        sub.Identifier,
			RetainHandling:    sub.RetainHandling,
			Qos:               sub.Qos,
			RetainAsPublished: sub.RetainAsPublished,
			NoLocal:           sub.NoLocal,
		}})
	}
}

// OnUnsubscribed deletes the filters the client no longer holds (mochi
// raises the event even for an UNSUBSCRIBE it refused).
func (h *Hook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || ephemeral(cl) {
		return
	}
	for _, sub := range pk.Filters {
		if cl.State.Subscriptions != nil {
			if _, still := cl.State.Subscriptions.Get(sub.Filter); still {
				continue
			}
		}
		h.enqueue(bucketSubs, subKey(cl.ID, sub.Filter), pendOp{del: true})
	}
}

// OnRetainMessage stores or (for an empty payload) deletes the retained
// message of the topic.
func (h *Hook) OnRetainMessage(_ *mqtt.Client, pk packets.Packet, r int64) {
	if r == 1 {
		h.enqueue(bucketRetained, pk.TopicName, pendOp{val: messageOf(pk, "", 0)})
		return
	}
	h.enqueue(bucketRetained, pk.TopicName, pendOp{del: true})
}

// OnRetainedExpired deletes the retained message of the topic.
func (h *Hook) OnRetainedExpired(topic string) {
	h.enqueue(bucketRetained, topic, pendOp{del: true})
}

// OnQosPublish stores an in-flight message (new or resent). It is on the
// broker's publish path: it only queues the packet, which is encoded by the
// writer if no later event on the same key replaces it first.
func (h *Hook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, _ int) {
	if ephemeral(cl) {
		return
	}
	h.enqueue(bucketInflight, inflightKey(cl.ID, pk.PacketID), pendOp{val: messageOf(pk, cl.ID, sent)})
}

// OnQosComplete deletes the completed in-flight message.
func (h *Hook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if ephemeral(cl) {
		return
	}
	h.enqueue(bucketInflight, inflightKey(cl.ID, pk.PacketID), pendOp{del: true})
}

// OnQosDropped deletes the abandoned or expired in-flight message.
func (h *Hook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if ephemeral(cl) {
		return
	}
	h.enqueue(bucketInflight, inflightKey(cl.ID, pk.PacketID), pendOp{del: true})
}

// OnSysInfoTick stores the broker's counters, at most once per
// Options.SysInfoInterval.
func (h *Hook) OnSysInfoTick(info *system.Info) {
	now := time.Now()
	h.sysMu.Lock()
	if !h.lastSys.IsZero() && now.Sub(h.lastSys) < h.opts.SysInfoInterval {
		h.sysMu.Unlock()
		return
	}
	h.lastSys = now
	h.sysMu.Unlock()
	h.enqueue(bucketSys, sysInfoKey, pendOp{val: &storage.SystemInfo{Info: *info.Clone(), ID: sysInfoKey}})
}

func (h *Hook) putClient(cl *mqtt.Client) {
	h.mu.Lock()
	h.stored[cl.ID] = struct{}{}
	h.mu.Unlock()
	h.enqueue(bucketClients, cl.ID, pendOp{val: clientOf(cl)})
}

// deleteClient deletes a client's record, subscriptions and in-flight messages. A client
// with no record has none of them (they are stored only after its record, and loaded only
// with it), so there is nothing to write.
func (h *Hook) deleteClient(id string) {
	h.mu.Lock()
	_, ok := h.stored[id]
	delete(h.stored, id)
	h.mu.Unlock()
	if !ok {
		return
	}
	h.enqueue(bucketClients, id, pendOp{del: true})
	h.enqueuePrefixDelete(bucketSubs, clientPrefix(id))
	h.enqueuePrefixDelete(bucketInflight, clientPrefix(id))
}

// clientOf snapshots what mochi needs to restore cl.
func clientOf(cl *mqtt.Client) *storage.Client {
	p := cl.Properties.Props
	w := cl.Properties.Will
	return &storage.Client{
		ID:              cl.ID,
		Remote:          cl.Net.Remote,
		Listener:        cl.Net.Listener,
		Username:        cl.Properties.Username,
		Clean:           cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			AuthenticationData:        p.AuthenticationData,
			User:                      p.User,
			AuthenticationMethod:      p.AuthenticationMethod,
			SessionExpiryInterval:     p.SessionExpiryInterval,
			MaximumPacketSize:         p.MaximumPacketSize,
			ReceiveMaximum:            p.ReceiveMaximum,
			TopicAliasMaximum:         p.TopicAliasMaximum,
			SessionExpiryIntervalFlag: p.SessionExpiryIntervalFlag,
			RequestProblemInfo:        p.RequestProblemInfo,
			RequestProblemInfoFlag:    p.RequestProblemInfoFlag,
			RequestResponseInfo:       p.RequestResponseInfo,
		},
		Will: storage.ClientWill{
			Payload:           w.Payload,
			User:              w.User,
			TopicName:         w.TopicName,
			Flag:              atomic.LoadUint32(&cl.Properties.Will.Flag),
			WillDelayInterval: w.WillDelayInterval,
			Qos:               w.Qos,
			Retain:            w.Retain,
		},
	}
}

// messageOf converts a packet into the storable message. The packet's slices
// are shared, not copied: mochi never modifies a packet's payload or
// properties after it has been published.
func messageOf(pk packets.Packet, client string, sent int64) *storage.Message {
	return &storage.Message{
		FixedHeader: pk.FixedHeader,
		PacketID:    pk.PacketID,
		TopicName:   pk.TopicName,
		Payload:     pk.Payload,
		Origin:      pk.Origin,
		Client:      client,
		Created:     pk.Created,
		Sent:        sent,
		Properties: storage.MessageProperties{
			CorrelationData:        pk.Properties.CorrelationData,
			SubscriptionIdentifier: pk.Properties.SubscriptionIdentifier,
			User:                   pk.Properties.User,
			ContentType:            pk.Properties.ContentType,
			ResponseTopic:          pk.Properties.ResponseTopic,
			MessageExpiryInterval:  pk.Properties.MessageExpiryInterval,
			PayloadFormat:          pk.Properties.PayloadFormat,
			PayloadFormatFlag:      pk.Properties.PayloadFormatFlag,
		},
	}
}

// StoredClients returns the stored clients. It flushes pending events first,
// so the result reflects every event raised before the call.
func (h *Hook) StoredClients() ([]storage.Client, error) {
	var out []storage.Client
	err := h.load(bucketClients, func(_ *bbolt.Tx, k, v []byte) error {
		var c storage.Client
		if err := c.UnmarshalBinary(v); err != nil {
			return err
		}
		c.ID = string(k)
		out = append(out, c)
		return nil
	})
	return out, err
}

// StoredSubscriptions returns the stored subscriptions of stored clients.
func (h *Hook) StoredSubscriptions() ([]storage.Subscription, error) {
	var out []storage.Subscription
	err := h.load(bucketSubs, func(tx *bbolt.Tx, k, v []byte) error {
		id, filter, ok := splitClientKey(k)
		if !ok || len(filter) == 0 {
			return errors.New("malformed key")
		}
		if !clientExists(tx, id) {
			return errOrphan
		}
		var s storage.Subscription
		if err := s.UnmarshalBinary(v); err != nil {
			return err
		}
		s.Client, s.Filter = id, string(filter)
		out = append(out, s)
		return nil
	})
	return out, err
}

// StoredInflightMessages returns the stored in-flight messages of stored
// clients.
func (h *Hook) StoredInflightMessages() ([]storage.Message, error) {
	var out []storage.Message
	err := h.load(bucketInflight, func(tx *bbolt.Tx, k, v []byte) error {
		id, rest, ok := splitClientKey(k)
		if !ok || len(rest) != 2 {
			return errors.New("malformed key")
		}
		if !clientExists(tx, id) {
			return errOrphan
		}
		m, err := decodeMessage(v)
		if err != nil {
			return err
		}
		m.Client = id
		m.PacketID = uint16(rest[0])<<8 | uint16(rest[1])
		out = append(out, m)
		return nil
	})
	return out, err
}

// StoredRetainedMessages returns the stored retained messages.
func (h *Hook) StoredRetainedMessages() ([]storage.Message, error) {
	var out []storage.Message
	err := h.load(bucketRetained, func(_ *bbolt.Tx, k, v []byte) error {
		m, err := decodeMessage(v)
		if err != nil {
			return err
		}
		m.TopicName = string(k)
		out = append(out, m)
		return nil
	})
	return out, err
}

// StoredSysInfo returns the stored $SYS counters (zero when none are stored).
func (h *Hook) StoredSysInfo() (storage.SystemInfo, error) {
	var out storage.SystemInfo
	err := h.load(bucketSys, func(_ *bbolt.Tx, k, v []byte) error {
		if string(k) != sysInfoKey {
			return nil
		}
		return out.UnmarshalBinary(v)
	})
	return out, err
}

// errOrphan marks a record whose client is not stored. Such a record (an
// in-flight message mochi raised for a client just after its session ended)
// is skipped and its deletion queued.
var errOrphan = errors.New("orphan record")

// load flushes, then calls fn for each record of bucket b in one read
// transaction. A record fn rejects is skipped with a warning, so a damaged
// record never keeps the broker from starting.
func (h *Hook) load(b bucketID, fn func(tx *bbolt.Tx, k, v []byte) error) error {
	if err := h.Flush(); err != nil {
		h.log.Warn("store: flush before load", "error", err)
	}
	var orphans []string
	defer func() {
		for _, k := range orphans {
			h.enqueue(b, k, pendOp{del: true})
		}
	}()
	return h.db.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bucketNames[b])
		if bk == nil {
			return nil
		}
		var skipped int
		err := bk.ForEach(func(k, v []byte) error {
			if err := fn(tx, k, v); err != nil {
				if errors.Is(err, errOrphan) {
					orphans = append(orphans, string(k))
					return nil
				}
				skipped++
				h.log.Warn("store: skipping unreadable record", "bucket", string(bucketNames[b]), "key", fmt.Sprintf("%q", truncate(k)), "error", err)
			}
			return nil
		})
		if skipped > 0 || len(orphans) > 0 {
			h.log.Warn("store: records skipped at load", "bucket", string(bucketNames[b]), "unreadable", skipped, "orphans_deleted", len(orphans))
		}
		if err != nil {
			return fmt.Errorf("store: load %s: %w", bucketNames[b], err)
		}
		return nil
	})
}

func clientExists(tx *bbolt.Tx, id string) bool {
	bk := tx.Bucket(bucketNames[bucketClients])
	return bk != nil && bk.Get([]byte(id)) != nil
}

func truncate(k []byte) []byte {
	if len(k) > 64 {
		return bytes.Clone(k[:64])
	}
	return k
}
