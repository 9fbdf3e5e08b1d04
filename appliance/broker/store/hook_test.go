package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
	"go.etcd.io/bbolt"
)

// never is a flush interval long enough that only Flush, Stop or a full
// queue makes the writer commit.
const never = time.Hour

func TestCoalescing(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
	cl := client("c1")

	// A committed in-flight message, then a resend and its completion in one group.
	h.OnQosPublish(cl, publish(1, "t", "on disk"), 0, 0)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	before := h.Stats()

	h.OnQosPublish(cl, publish(2, "t", "published and acked"), 0, 0) // never reaches the disk
	h.OnQosComplete(cl, packets.Packet{PacketID: 2})
	h.OnQosPublish(cl, publish(1, "t", "resent"), 0, 1)
	h.OnQosComplete(cl, packets.Packet{PacketID: 1}) // must still delete the committed record
	h.OnRetainMessage(cl, publish(0, "r", "first"), 1)
	h.OnRetainMessage(cl, publish(0, "r", "second"), 1)
	h.OnRetainMessage(cl, publish(0, "r", "last"), 1)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	after := h.Stats()

	if v := rawGet(t, db, bucketInflight, inflightKey("c1", 1)); v != nil {
		t.Error("completed in-flight message 1 still on disk")
	}
	if v := rawGet(t, db, bucketInflight, inflightKey("c1", 2)); v != nil {
		t.Error("in-flight message 2 written although it completed in the same group")
	}
	m, err := decodeMessage(rawGet(t, db, bucketRetained, "r"))
	if err != nil || string(m.Payload) != "last" {
		t.Errorf("retained r = %q, %v; want the last put", m.Payload, err)
	}
	if got := after.Coalesced - before.Coalesced; got != 4 {
		t.Errorf("coalesced %d events, want 4", got)
	}
	if got := after.Groups - before.Groups; got != 1 {
		t.Errorf("committed %d groups, want 1", got)
	}
	// One put (r), one delete (c1/1); the delete of c1/2 never reached the disk.
	if got := after.RecordsWritten - before.RecordsWritten; got != 2 {
		t.Errorf("wrote %d records, want 2", got)
	}
	if got := after.AbsentDeletes - before.AbsentDeletes; got != 1 {
		t.Errorf("absent deletes %d, want 1", got)
	}
}

func TestPublishAckedWithinGroupCostsNoTransaction(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
	cl := client("c1")
	for i := range uint16(100) {
		h.OnQosPublish(cl, publish(i+1, "t", "x"), 0, 0)
		h.OnQosComplete(cl, packets.Packet{PacketID: i + 1})
	}
	txBefore := db.Stats().TxN
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	st := h.Stats()
	if st.Groups != 0 || st.RecordsWritten != 0 {
		t.Fatalf("stats %+v: want no group and no record", st)
	}
	if db.Stats().TxN-txBefore > 1 { // the read that checks the deletes
		t.Fatalf("%d transactions for a group that cancelled out", db.Stats().TxN-txBefore)
	}
	if n := rawCount(t, db, bucketInflight); n != 0 {
		t.Fatalf("%d in-flight records on disk", n)
	}
}

func TestDeleteClientRemovesOnlyItsRecords(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
	for _, id := range []string{"a", "ab", "b"} {
		cl := client(id)
		h.OnSessionEstablished(cl, packets.Packet{})
		h.OnSubscribed(cl, packets.Packet{Filters: packets.Subscriptions{{Filter: "t/#", Qos: 1}, {Filter: "u", Qos: 0}}}, []byte{1, 0})
		h.OnQosPublish(cl, publish(1, "t/1", "x"), 0, 0)
		h.OnQosPublish(cl, publish(2, "t/2", "x"), 0, 0)
	}
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	// In one group: a new in-flight message for "a", its expiry, then a new
	// session of "a" with one message. Only that last message may survive.
	h.OnQosPublish(client("a"), publish(3, "t/3", "before expiry"), 0, 0)
	h.OnClientExpired(client("a"))
	h.OnSessionEstablished(client("a"), packets.Packet{})
	h.OnQosPublish(client("a"), publish(4, "t/4", "after expiry"), 0, 0)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}

	subs, err := h.StoredSubscriptions()
	if err != nil {
		t.Fatal(err)
	}
	inflight, err := h.StoredInflightMessages()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range subs {
		got["sub "+s.Client]++
	}
	for _, m := range inflight {
		got[fmt.Sprintf("inflight %s/%d", m.Client, m.PacketID)]++
	}
	want := map[string]int{
		"sub ab": 2, "sub b": 2,
		"inflight ab/1": 1, "inflight ab/2": 1, "inflight b/1": 1, "inflight b/2": 1,
		"inflight a/4": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after deleting client a:\n got %v\nwant %v", got, want)
	}
}

func TestDisconnect(t *testing.T) {
	tests := []struct {
		name       string
		expire     bool
		wantClient bool
		wantSubs   int
	}{
		{"session kept", false, true, 1},
		{"session ends", true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := tempDB(t)
			h := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
			cl := client("c")
			h.OnSessionEstablished(cl, packets.Packet{})
			h.OnSubscribed(cl, packets.Packet{Filters: packets.Subscriptions{{Filter: "t", Qos: 1}, {Filter: "denied"}}}, []byte{1, packets.ErrNotAuthorized.Code})
			if err := h.Flush(); err != nil {
				t.Fatal(err)
			}
			h.OnDisconnect(cl, nil, tt.expire)
			if err := h.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := rawGet(t, db, bucketClients, "c") != nil; got != tt.wantClient {
				t.Errorf("client stored = %v, want %v", got, tt.wantClient)
			}
			if got := rawCount(t, db, bucketSubs); got != tt.wantSubs {
				t.Errorf("%d subscriptions stored, want %d (a refused filter is never stored)", got, tt.wantSubs)
			}
		})
	}
}

func TestCleanStartDropsOldSession(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
	cl := client("c")
	h.OnSessionEstablished(cl, packets.Packet{})
	h.OnSubscribed(cl, packets.Packet{Filters: packets.Subscriptions{{Filter: "t", Qos: 1}}}, []byte{1})
	h.OnQosPublish(cl, publish(9, "t", "old"), 0, 0)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	clean := packets.Packet{}
	clean.Connect.Clean = true
	h.OnSessionEstablished(cl, clean)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := rawCount(t, db, bucketSubs) + rawCount(t, db, bucketInflight); n != 0 {
		t.Fatalf("%d records of the old session survived a clean start", n)
	}
	if rawGet(t, db, bucketClients, "c") == nil {
		t.Fatal("client not stored after clean start")
	}
}

func TestSchemaVersion(t *testing.T) {
	tests := []struct {
		name    string
		stored  []byte
		wantErr error
	}{
		{"fresh file", nil, nil},
		{"same version", binary.BigEndian.AppendUint32(nil, SchemaVersion), nil},
		{"newer version", binary.BigEndian.AppendUint32(nil, SchemaVersion+1), ErrSchemaTooNew},
		{"garbage", []byte{1}, errors.New("4-byte")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := tempDB(t)
			if tt.stored != nil {
				if err := db.Update(func(tx *bbolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists(metaBucket)
					if err != nil {
						return err
					}
					return bk.Put(schemaKey, tt.stored)
				}); err != nil {
					t.Fatal(err)
				}
			}
			h, err := New(db, Options{Logger: quietLogger()})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr == nil:
				_ = h.Stop()
				if v := rawMeta(t, db); binary.BigEndian.Uint32(v) != SchemaVersion {
					t.Fatalf("schema version %v", v)
				}
			case errors.Is(tt.wantErr, ErrSchemaTooNew):
				if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version 2") {
					t.Fatalf("New = %v, want ErrSchemaTooNew naming the version", err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.wantErr.Error()) {
					t.Fatalf("New = %v, want an error containing %q", err, tt.wantErr)
				}
			}
		})
	}
}

func rawMeta(t *testing.T, db *bbolt.DB) []byte {
	var v []byte
	if err := db.View(func(tx *bbolt.Tx) error {
		v = append(v, tx.Bucket(metaBucket).Get(schemaKey)...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBackPressureBlocksAndLosesNothing(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: -1, QueueSize: 4, Logger: quietLogger()})

	// Hold bbolt's writer lock: the hook's writer stalls inside its commit.
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var produced atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl := client("c")
		for i := range uint16(n) {
			h.OnQosPublish(cl, publish(i+1, "t", "x"), 0, 0)
			produced.Add(1)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Blocked == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h.Stats().Blocked == 0 {
		t.Fatal("producer never blocked on a full queue")
	}
	time.Sleep(20 * time.Millisecond)
	if p := produced.Load(); p >= n {
		t.Fatalf("producer finished (%d events) while the writer was stalled", p)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("producer still blocked after the writer resumed")
	}
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := rawCount(t, db, bucketInflight); got != n {
		t.Fatalf("%d in-flight records on disk, want %d", got, n)
	}
	if st := h.Stats(); st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWriteFailureIsReported(t *testing.T) {
	db, _ := tempDB(t)
	logger, logs := bufLogger()
	h := newHook(t, db, Options{FlushInterval: never, Logger: logger})
	h.OnQosPublish(client("c"), publish(1, "t", "x"), 0, 0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err := h.Flush()
	if err == nil {
		t.Fatal("Flush returned nil although the group could not be written")
	}
	st := h.Stats()
	if st.WriteErrors == 0 || st.Dropped != 1 {
		t.Fatalf("stats %+v: want write errors and 1 dropped record", st)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "not persisted") {
		t.Fatalf("write error not logged:\n%s", logs)
	}
	// A later Flush with nothing new does not repeat an old failure.
	if err := h.Flush(); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
}

func TestStopFlushesAndRefusesLaterEvents(t *testing.T) {
	db, _ := tempDB(t)
	logger, logs := bufLogger()
	h := newHook(t, db, Options{FlushInterval: never, Logger: logger})
	h.OnRetainMessage(client("c"), publish(0, "r", "kept"), 1)
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	if rawGet(t, db, bucketRetained, "r") == nil {
		t.Fatal("Stop did not flush the pending record")
	}
	h.OnRetainMessage(client("c"), publish(0, "late", "x"), 1)
	if st := h.Stats(); st.Dropped != 1 {
		t.Fatalf("event after Stop: stats %+v, want it counted as dropped", st)
	}
	if !strings.Contains(logs.String(), "after Stop") {
		t.Fatalf("event after Stop not logged:\n%s", logs)
	}
	if err := h.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := h.Flush(); err != nil {
		t.Fatalf("Flush after Stop: %v", err)
	}
}

func TestFlushIntervalGroupsEvents(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: 50 * time.Millisecond, Logger: quietLogger()})
	cl := client("c")
	for i := range uint16(20) {
		h.OnQosPublish(cl, publish(i+1, "t", "x"), 0, 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().RecordsWritten < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := h.Stats(); st.Groups != 1 || st.RecordsWritten != 20 {
		t.Fatalf("stats %+v: want the 20 events in one group without Flush", st)
	}
}

func TestLoadSkipsDamagedAndOrphanRecords(t *testing.T) {
	db, _ := tempDB(t)
	logger, logs := bufLogger()
	h := newHook(t, db, Options{FlushInterval: never, Logger: logger})
	h.OnSessionEstablished(client("c"), packets.Packet{})
	h.OnQosPublish(client("c"), publish(1, "t", "good"), 0, 0)
	h.OnRetainMessage(client("c"), publish(0, "good", "x"), 1)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		for _, kv := range []struct {
			b    bucketID
			k, v string
		}{
			{bucketRetained, "bad", "\x07garbage"},
			{bucketInflight, inflightKey("c", 2), "\x01"},
			{bucketInflight, inflightKey("gone", 1), string(encodeMessage(nil, messageOf(publish(1, "t", "x"), "", 0)))},
			{bucketClients, "broken", "{"},
		} {
			if err := tx.Bucket(bucketNames[kv.b]).Put([]byte(kv.k), []byte(kv.v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clients, err := h.StoredClients()
	if err != nil || len(clients) != 1 || clients[0].ID != "c" {
		t.Fatalf("clients %+v, %v", clients, err)
	}
	inflight, err := h.StoredInflightMessages()
	if err != nil || len(inflight) != 1 || string(inflight[0].Payload) != "good" || inflight[0].Client != "c" {
		t.Fatalf("inflight %+v, %v", inflight, err)
	}
	retained, err := h.StoredRetainedMessages()
	if err != nil || len(retained) != 1 || retained[0].TopicName != "good" {
		t.Fatalf("retained %+v, %v", retained, err)
	}
	if !strings.Contains(logs.String(), "unreadable") {
		t.Fatalf("damaged records not reported:\n%s", logs)
	}
	// The orphan's deletion was queued by the load; damaged records stay
	// for an operator to look at.
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if rawGet(t, db, bucketInflight, inflightKey("gone", 1)) != nil {
		t.Fatal("orphan in-flight record not deleted")
	}
	if rawGet(t, db, bucketRetained, "bad") == nil {
		t.Fatal("damaged record deleted")
	}
}

func TestOversizedKeyIsRejectedNotFatal(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
	h.OnRetainMessage(client("c"), publish(0, strings.Repeat("t", bbolt.MaxKeySize+1), "x"), 1)
	h.OnRetainMessage(client("c"), publish(0, "ok", "x"), 1)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if rawGet(t, db, bucketRetained, "ok") == nil {
		t.Fatal("a record sharing the group with an oversized key was lost")
	}
	if st := h.Stats(); st.Dropped != 1 {
		t.Fatalf("stats %+v: want the oversized record counted as dropped", st)
	}
}

func TestSysInfoThrottled(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: never, SysInfoInterval: time.Hour, Logger: quietLogger()})
	if !h.Provides(mqtt.OnSysInfoTick) {
		t.Fatal("OnSysInfoTick not provided")
	}
	for i := range 5 {
		h.OnSysInfoTick(&system.Info{Version: "test", BytesReceived: int64(i + 1)})
	}
	info, err := h.StoredSysInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.BytesReceived != 1 || h.Stats().Events != 1 {
		t.Fatalf("stored %+v after %d events: want only the first tick within the interval", info.Info, h.Stats().Events)
	}
	off := newHook(t, db, Options{SysInfoInterval: -1, Logger: quietLogger()})
	if off.Provides(mqtt.OnSysInfoTick) {
		t.Fatal("OnSysInfoTick provided although disabled")
	}
}

// A session that ends with its connection and has nothing stored costs no write; one that
// had a persistent session before still has it removed, also after a restart.
func TestEphemeralSessionWithoutRecordWritesNothing(t *testing.T) {
	db, _ := tempDB(t)
	h := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
	clean := client("storm")
	clean.Properties.ProtocolVersion, clean.Properties.Clean = 4, true
	h.OnSessionEstablished(clean, packets.Packet{Connect: packets.ConnectParams{Clean: true}})
	h.OnDisconnect(clean, nil, true)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := h.Stats(); st.Groups != 0 || st.RecordsWritten != 0 {
		t.Fatalf("stats %+v: a clean session without a record wrote", st)
	}

	persistent := client("kept")
	persistent.Properties.ProtocolVersion = 4
	h.OnSessionEstablished(persistent, packets.Packet{})
	h.OnSubscribed(persistent, packets.Packet{Filters: packets.Subscriptions{{Filter: "a/#", Qos: 1}}}, []byte{1})
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if rawGet(t, db, bucketClients, "kept") == nil || rawCount(t, db, bucketSubs) != 1 {
		t.Fatal("the persistent session was not stored")
	}
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	// After a restart the same client id comes back with a clean session: its old one goes.
	h2 := newHook(t, db, Options{FlushInterval: never, Logger: quietLogger()})
	again := client("kept")
	again.Properties.ProtocolVersion, again.Properties.Clean = 4, true
	h2.OnSessionEstablished(again, packets.Packet{Connect: packets.ConnectParams{Clean: true}})
	if err := h2.Flush(); err != nil {
		t.Fatal(err)
	}
	if rawGet(t, db, bucketClients, "kept") != nil || rawCount(t, db, bucketSubs) != 0 {
		t.Fatal("the old session survived a clean start after a restart")
	}
}
