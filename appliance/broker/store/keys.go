package store

import (
	"encoding/binary"
)

// bucketID names one of the hook's buckets inside the pending queue.
type bucketID uint8

const (
	bucketClients bucketID = iota
	bucketSubs
	bucketInflight
	bucketRetained
	bucketSys
	numBuckets
)

// Bucket names in wedge.db. Every bucket this package owns starts with "mqtt_".
var (
	metaBucket  = []byte("mqtt_meta")
	bucketNames = [numBuckets][]byte{
		bucketClients:  []byte("mqtt_clients"),
		bucketSubs:     []byte("mqtt_subs"),
		bucketInflight: []byte("mqtt_inflight"),
		bucketRetained: []byte("mqtt_retained"),
		bucketSys:      []byte("mqtt_sys"),
	}
	sysInfoKey = "info"
)

// clientPrefix returns the length-prefixed client id that starts every
// subscription and in-flight key of that client. The length prefix keeps the
// prefix of client "a" from matching the keys of client "ab".
func clientPrefix(id string) string {
	b := make([]byte, 2, 2+len(id))
	binary.BigEndian.PutUint16(b, uint16(len(id)))
	return string(append(b, id...))
}

// subKey is the key of client id's subscription to filter.
func subKey(id, filter string) string {
	return clientPrefix(id) + filter
}

// inflightKey is the key of client id's in-flight message with packet id pid.
func inflightKey(id string, pid uint16) string {
	return clientPrefix(id) + string([]byte{byte(pid >> 8), byte(pid)})
}

// splitClientKey splits a subscription or in-flight key into the client id
// and the rest. ok is false when the key is malformed.
func splitClientKey(k []byte) (id string, rest []byte, ok bool) {
	if len(k) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n {
		return "", nil, false
	}
	return string(k[2 : 2+n]), k[2+n:], true
}
