package engine

import (
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Store persists the rules created through the API. Config rules are never
// stored.
type Store interface {
	// Load returns every stored rule.
	Load() ([]RuleSpec, error)
	// Put stores (creates or replaces) a rule.
	Put(RuleSpec) error
	// Delete removes a rule; deleting a missing rule is not an error.
	Delete(id string) error
}

// MemStore is a Store in memory (tests, and a daemon without a database).
type MemStore struct {
	mu sync.Mutex
	m  map[string]RuleSpec
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: map[string]RuleSpec{}} }

// Load implements Store.
func (s *MemStore) Load() ([]RuleSpec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RuleSpec, 0, len(s.m))
	for _, r := range s.m {
		out = append(out, r)
	}
	return out, nil
}

// Put implements Store.
func (s *MemStore) Put(r RuleSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[r.ID] = r
	return nil
}

// Delete implements Store.
func (s *MemStore) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

// BoltBucket is the bbolt bucket that holds the rules (key: rule id, value:
// the RuleSpec as JSON).
const BoltBucket = "rules_rules"

// BoltStore is a Store in the daemon's bbolt database.
type BoltStore struct{ db *bolt.DB }

// NewBoltStore creates the bucket when missing.
func NewBoltStore(db *bolt.DB) (*BoltStore, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(BoltBucket))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rules: create bucket: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// Load implements Store.
func (s *BoltStore) Load() ([]RuleSpec, error) {
	var out []RuleSpec
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BoltBucket)).ForEach(func(k, v []byte) error {
			var r RuleSpec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("rule %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// Put implements Store.
func (s *BoltStore) Put(r RuleSpec) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BoltBucket)).Put([]byte(r.ID), b)
	})
}

// Delete implements Store.
func (s *BoltStore) Delete(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BoltBucket)).Delete([]byte(id))
	})
}
