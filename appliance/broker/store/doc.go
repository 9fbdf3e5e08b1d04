// Package store is wedge's bbolt storage hook for the mochi-mqtt broker: it
// keeps client sessions, subscriptions, retained messages and in-flight QoS
// messages in the daemon's bbolt file so that they survive a restart.
//
// The package owns the buckets whose names start with "mqtt_" in wedge.db
// (mqtt_meta, mqtt_clients, mqtt_subs, mqtt_retained, mqtt_inflight, mqtt_sys)
// and nothing else; the *bbolt.DB itself belongs to the daemon, which opens
// it before New and closes it after the broker (and so the hook) has stopped.
//
// # Writing
//
// Every storage event (OnQosPublish, OnQosComplete, OnSubscribed, ...) is
// turned into a put or a delete of one key and handed to a single writer
// goroutine; the caller never opens a bbolt transaction. The writer takes all
// pending records at once and commits them in one transaction (group commit),
// so durability costs one fsync per group, not one per message. Pending
// records are coalesced by key: a later event on the same key replaces the
// earlier one (repeated puts keep the last value; a put followed by a delete
// becomes a delete, and the put is never encoded). Before committing, the
// writer drops deletes of keys that are not on disk, so a message published
// and acknowledged within one group costs no write at all, and a group that
// cancels out entirely opens no write transaction. Deleting a client removes
// every subscription and in-flight record of that client with a prefix scan,
// ordered correctly against the events around it.
//
// The queue is bounded (Options.QueueSize distinct pending keys). When it is
// full the caller blocks until the writer has taken the pending group: that is
// back-pressure on the broker, never a silent loss. The writer never calls
// back into the broker, so the wait always ends once the disk accepts the
// group. A transaction that fails is retried (Options.MaxRetries) and then
// abandoned: the loss is logged at error level, counted in Stats.Dropped and
// reported by the Flush that was waiting for it; the broker keeps running on
// its in-memory state.
//
// Flush waits until everything accepted before the call is committed (or has
// failed); Stop flushes and ends the writer, and mochi calls it when the
// server closes.
//
// # Keys and values (schema version 1)
//
// A client id inside a key is prefixed with its length as two big-endian
// bytes, so the prefix of one client never matches another client's keys:
//
//	mqtt_meta      "schema_version"            -> uint32, big-endian
//	mqtt_clients   client id                    -> JSON of storage.Client
//	mqtt_subs      len16 id | filter            -> JSON of storage.Subscription (client and filter come from the key)
//	mqtt_inflight  len16 id | packet id (BE16)  -> binary message (codec.go)
//	mqtt_retained  topic                        -> binary message (codec.go)
//	mqtt_sys       "info"                       -> JSON of storage.SystemInfo
//
// Messages use a compact binary encoding (a version byte, fixed fields, then
// length-prefixed strings and the payload) because they are written on the
// hot path; the rarely written records reuse mochi's storage types as JSON.
// New refuses, with ErrSchemaTooNew, a file written by a newer schema.
//
// Records that cannot be decoded are skipped with a warning at load, so one
// damaged record never stops the broker from starting. Subscriptions and
// in-flight messages of a client that is not stored are skipped and deleted.
package store
