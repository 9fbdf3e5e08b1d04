package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/wedge-iot/wedge/appliance/outbox"
)

// Record is one rule output on its way to a target. Data holds the rule's
// output (the selected map) as JSON; Queue and Seq identify it in the outbox
// (zero in sync mode), and connectors pass "rule/action/seq" to targets that
// can carry it, as an id to drop duplicates with.
type Record = outbox.Record

// BatchResult is a connector's answer for one batch (see outbox.BatchResult):
// nil errors are acknowledged records, Permanent errors go to the dead-letter
// queue, other errors are retried with backoff.
type BatchResult = outbox.BatchResult

// Connector sends records to one target. A Connector satisfies
// outbox.Deliverer, so an async action registers it with the outbox as is;
// a sync action calls Deliver itself.
type Connector interface {
	// Deliver sends recs in order. It reports per record or for the whole
	// batch; it must not keep recs after returning.
	Deliver(ctx context.Context, recs []Record) BatchResult
	// Health reports whether the target is reachable, with a detail for
	// /api/v4/resources.
	Health() (ok bool, detail string)
	// Close releases connections. Deliver must not be called after it.
	Close() error
}

// Permanent marks an error the target will repeat for the same record (see
// outbox.Permanent).
func Permanent(err error) error { return outbox.Permanent(err) }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return outbox.IsPermanent(err) }

// DecodeOutput parses a record's Data into the rule's output map. Numbers
// stay json.Number so that integers render exactly. A record that is not a
// JSON object is a permanent error: retrying cannot fix it.
func DecodeOutput(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, Permanent(fmt.Errorf("actions: record is not a JSON object: %w", err))
	}
	return m, nil
}

// EncodeOutput is the inverse of DecodeOutput: what the rules engine stores
// as a record's Data.
func EncodeOutput(out map[string]any) ([]byte, error) {
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("actions: encode output: %w", err)
	}
	return b, nil
}

// RecordID is the id connectors give targets for de-duplication:
// "rule/action/seq" ("" for a record without a sequence number).
func RecordID(r Record) string {
	if r.Seq == 0 {
		return ""
	}
	return fmt.Sprintf("%s/%d", r.Queue, r.Seq)
}

// NotAttempted is the transient error a connector that delivers records one
// by one gives the records after the first transient failure, so that they
// are retried in order.
func NotAttempted(cause error) error {
	return fmt.Errorf("actions: not attempted after an earlier failure: %w", cause)
}
