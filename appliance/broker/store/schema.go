package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// SchemaVersion is the layout of the mqtt_ buckets this build writes (see
// the package documentation). It is stored in mqtt_meta.
const SchemaVersion = 1

// ErrSchemaTooNew is returned by New when the file was written by a newer
// wedge whose layout this build does not understand.
var ErrSchemaTooNew = errors.New("store: data written by a newer schema")

var schemaKey = []byte("schema_version")

// prepare creates the hook's buckets and checks or records the schema version.
func prepare(db *bbolt.DB) error {
	return db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("store: create bucket %s: %w", metaBucket, err)
		}
		switch v := meta.Get(schemaKey); {
		case v == nil:
			if err := meta.Put(schemaKey, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
				return fmt.Errorf("store: write schema version: %w", err)
			}
		case len(v) != 4:
			return fmt.Errorf("store: %s/%s holds %d bytes, want a 4-byte version", metaBucket, schemaKey, len(v))
		default:
			if got := binary.BigEndian.Uint32(v); got > SchemaVersion {
				return fmt.Errorf("%w: %s has schema version %d, this build reads up to %d; upgrade wedge or restore a backup",
					ErrSchemaTooNew, metaBucket, got, SchemaVersion)
			}
			// Older versions would be migrated here; 1 is the first.
		}
		for _, name := range bucketNames {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		return nil
	})
}
