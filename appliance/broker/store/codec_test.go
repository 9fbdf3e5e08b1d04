package store

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestMessageCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  storage.Message
	}{
		{"empty", storage.Message{}},
		{"qos1 publish", storage.Message{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Dup: true},
			PacketID:    65535, TopicName: "a/b", Payload: []byte("hello"), Origin: "pub",
			Created: 1700000000, Sent: 1700000001,
		}},
		{"retained with v5 properties", storage.Message{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2, Retain: true},
			TopicName:   "x/ü/z", Payload: bytes.Repeat([]byte{0, 1, 2}, 1000), Created: -5,
			Properties: storage.MessageProperties{
				CorrelationData:        []byte{9, 8},
				SubscriptionIdentifier: []int{1, 268435455},
				User:                   []packets.UserProperty{{Key: "k", Val: "v"}, {Key: "", Val: "empty key"}},
				ContentType:            "application/json",
				ResponseTopic:          "reply/here",
				MessageExpiryInterval:  4294967295,
				PayloadFormat:          1,
				PayloadFormatFlag:      true,
			},
		}},
		{"pubrec ack", storage.Message{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := encodeMessage(nil, &tt.msg)
			got, err := decodeMessage(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.msg)
			}
		})
	}
}

func TestMessageCodecDropsKeyFields(t *testing.T) {
	m := storage.Message{Client: "c", ID: "id", T: "t", Properties: storage.MessageProperties{TopicAlias: 3}}
	got, err := decodeMessage(encodeMessage(nil, &m))
	if err != nil {
		t.Fatal(err)
	}
	if got.Client != "" || got.ID != "" || got.T != "" || got.Properties.TopicAlias != 0 {
		t.Fatalf("fields that belong to the key or the connection were stored: %+v", got)
	}
}

func TestMessageCodecRejects(t *testing.T) {
	good := encodeMessage(nil, &storage.Message{TopicName: "t", Payload: []byte("p")})
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"short header", good[:5]},
		{"unknown version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(bytes.Clone(good), 0)},
		{"huge count", append(bytes.Clone(good[:7]), 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeMessage(tt.in); err == nil {
				t.Fatal("decoded malformed input without error")
			}
		})
	}
}

// FuzzDecodeMessage checks that the decoder never panics and that whatever
// it accepts encodes back to the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage(nil, &storage.Message{TopicName: "t", Payload: []byte("p")}))
	f.Add(encodeMessage(nil, &storage.Message{Properties: storage.MessageProperties{
		User: []packets.UserProperty{{Key: "a", Val: "b"}}, SubscriptionIdentifier: []int{3},
	}}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := decodeMessage(in)
		if err != nil {
			return
		}
		out := encodeMessage(nil, &m)
		m2, err := decodeMessage(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("unstable round trip")
		}
	})
}

func TestClientKeys(t *testing.T) {
	tests := []struct {
		id, rest string
	}{
		{"a", "t/#"},
		{"ab", ""},
		{"", "x"},
		{string(make([]byte, 300)), "f"},
	}
	for _, tt := range tests {
		id, rest, ok := splitClientKey([]byte(subKey(tt.id, tt.rest)))
		if !ok || id != tt.id || string(rest) != tt.rest {
			t.Fatalf("split(subKey(%q, %q)) = %q, %q, %v", tt.id, tt.rest, id, rest, ok)
		}
	}
	// The prefix of client "a" must not match any key of client "ab".
	if p, k := clientPrefix("a"), inflightKey("ab", 1); len(k) >= len(p) && k[:len(p)] == p {
		t.Fatal("client prefix of a matches a key of ab")
	}
	for _, bad := range [][]byte{nil, {0}, {0, 5, 'a'}} {
		if _, _, ok := splitClientKey(bad); ok {
			t.Fatalf("split(%v) accepted a malformed key", bad)
		}
	}
}
