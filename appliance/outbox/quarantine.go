package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// openFile opens the file, checks it and loads the queues' state. A damaged
// file is renamed aside and replaced by a fresh one.
func (o *Outbox) openFile() error {
	err := o.tryOpen()
	if err == nil {
		return nil
	}
	if errors.Is(err, berrors.ErrTimeout) || errors.Is(err, fs.ErrPermission) || errors.Is(err, errSchemaTooNew) {
		return fmt.Errorf("outbox: open %s: %w", o.path, err)
	}
	aside := fmt.Sprintf("%s.quarantined-%s", o.path, time.Now().UTC().Format("20060102T150405.000000000"))
	if rerr := os.Rename(o.path, aside); rerr != nil {
		return fmt.Errorf("outbox: open %s: %w (and quarantine failed: %v)", o.path, err, rerr)
	}
	o.quarantined = aside
	o.log.Error("outbox: damaged file quarantined; starting a fresh outbox", "path", o.path, "quarantined_as", aside, "err", err)
	if err := o.tryOpen(); err != nil {
		return fmt.Errorf("outbox: open fresh %s after quarantine: %w", o.path, err)
	}
	return nil
}

var errSchemaTooNew = errors.New("outbox: file written by a newer schema")

// tryOpen opens, checks and loads the file; a panic inside bbolt (which it
// raises on some corrupted pages) is turned into an error.
func (o *Outbox) tryOpen() (err error) {
	db, err := safeOpen(o.path, o.boltOptions())
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("outbox: reading the file panicked: %v", r)
		}
		if err != nil {
			_ = db.Close()
		}
	}()
	if err := db.View(func(tx *bbolt.Tx) error {
		for cerr := range tx.Check() {
			return fmt.Errorf("consistency check: %w", cerr)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := db.Update(o.init); err != nil {
		return err
	}
	if err := db.View(o.load); err != nil {
		return err
	}
	o.db = db
	return nil
}

// init creates the buckets and checks the schema.
func (o *Outbox) init(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	if v := meta.Get(schemaKey); v == nil {
		if err := meta.Put(schemaKey, binary.BigEndian.AppendUint32(nil, schemaVersion)); err != nil {
			return err
		}
	} else if len(v) != 4 {
		return errors.New("outbox: malformed schema version")
	} else if s := binary.BigEndian.Uint32(v); s > schemaVersion {
		return fmt.Errorf("%w (%d > %d)", errSchemaTooNew, s, schemaVersion)
	}
	if _, err = tx.CreateBucketIfNotExists(retiredBucket); err != nil {
		return err
	}
	_, err = tx.CreateBucketIfNotExists(queuesBucket)
	return err
}

// load rebuilds the in-memory state of every queue from the file.
func (o *Outbox) load(tx *bbolt.Tx) error {
	if v := tx.Bucket(metaBucket).Get(clockKey); len(v) == 8 {
		o.clockBase = int64(binary.BigEndian.Uint64(v))
	}
	o.queues = make(map[QueueID]*queue)
	o.retired = make(map[string]uint64)
	o.count, o.bytes = 0, 0
	if err := tx.Bucket(retiredBucket).ForEach(func(k, v []byte) error {
		if len(v) == 8 {
			o.retired[string(k)] = binary.BigEndian.Uint64(v)
		}
		return nil
	}); err != nil {
		return err
	}
	return tx.Bucket(queuesBucket).ForEachBucket(func(k []byte) error {
		id, err := parseQueueKey(k)
		if err != nil {
			return err
		}
		qb := tx.Bucket(queuesBucket).Bucket(k)
		q := o.queueLocked(id)
		if v := qb.Get(nextKey); len(v) == 8 {
			q.next = binary.BigEndian.Uint64(v)
		}
		if r := qb.Bucket(recBucket); r != nil {
			c := r.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				t, _, err := decodeRecord(v)
				if err != nil || len(k) != 8 {
					return fmt.Errorf("queue %s: record %x: %w", id, k, errBadRecord)
				}
				if q.count == 0 {
					q.head = t
				}
				q.count++
				q.bytes += int64(len(k) + len(v))
				if s := keySeq(k); s >= q.next {
					q.next = s + 1
				}
			}
		}
		if d := qb.Bucket(deadBucket); d != nil {
			c := d.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				q.dead++
				if s := keySeq(k); s >= q.next {
					q.next = s + 1
				}
			}
		}
		o.count += q.count
		o.bytes += q.bytes
		return nil
	})
}

// Info describes the outbox as a whole.
type Info struct {
	Path string `json:"path"`
	// Quarantined is where a damaged file found at Open was moved ("" if none).
	Quarantined string `json:"quarantined,omitempty"`
	// DiskFull is true while the last commit failed for lack of space.
	DiskFull  bool  `json:"disk_full"`
	Records   int64 `json:"records"`
	Bytes     int64 `json:"bytes"`
	FileBytes int64 `json:"file_bytes"`
	MaxFile   int64 `json:"max_file_bytes"`
}

// Info returns the outbox's state as a whole.
func (o *Outbox) Info() Info {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := Info{Path: o.path, Quarantined: o.quarantined, DiskFull: o.diskFull,
		Records: o.count + o.pcount, Bytes: o.bytes + o.pbytes, MaxFile: int64(o.opts.MaxFileBytes)}
	if st, err := os.Stat(o.path); err == nil {
		i.FileBytes = st.Size()
	}
	return i
}

// safeOpen is bbolt.Open with a panic (a damaged meta or freelist page) turned
// into an error.
func safeOpen(path string, opts *bbolt.Options) (db *bbolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("outbox: opening the file panicked: %v", r)
		}
	}()
	return bbolt.Open(path, 0o600, opts)
}
