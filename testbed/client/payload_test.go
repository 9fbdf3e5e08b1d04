package client

import (
	"errors"
	"testing"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		size int
	}{
		{"minimal", Header{Publisher: 1, Seq: 2, SentNanos: 3}, HeaderSize},
		{"padded", Header{Publisher: 7, Seq: 1 << 40, SentNanos: int64(time.Hour)}, 4096},
		{"zero", Header{}, 64},
		{"max values", Header{Publisher: ^uint32(0), Seq: ^uint64(0), SentNanos: -1}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPayload(tt.h, tt.size)
			if len(p) != tt.size {
				t.Fatalf("len = %d, want %d", len(p), tt.size)
			}
			got, err := DecodeHeader(p)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got != tt.h {
				t.Fatalf("decoded %+v, want %+v", got, tt.h)
			}
		})
	}
}

func TestNewPayloadMinimumSize(t *testing.T) {
	if p := NewPayload(Header{Seq: 1}, 3); len(p) != HeaderSize {
		t.Fatalf("len = %d, want %d", len(p), HeaderSize)
	}
}

func TestEncodeShortPayload(t *testing.T) {
	if err := (Header{}).Encode(make([]byte, HeaderSize-1)); err == nil {
		t.Fatal("encode into a short payload succeeded")
	}
}

func TestDecodeForeignPayload(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("hello"), make([]byte, 64)} {
		if _, err := DecodeHeader(p); !errors.Is(err, ErrNotTestbedPayload) {
			t.Errorf("DecodeHeader(%q) error = %v, want ErrNotTestbedPayload", p, err)
		}
	}
}

func TestClockIsMonotonic(t *testing.T) {
	c := NewClock()
	a := c.Nanos()
	time.Sleep(time.Millisecond)
	if b := c.Nanos(); b <= a || a < 0 {
		t.Fatalf("clock went from %d to %d", a, b)
	}
}
