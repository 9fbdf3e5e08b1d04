package ruleactions

import (
	"errors"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/rules/engine"
)

func TestBatchOptions(t *testing.T) {
	cases := []struct {
		in      map[string]any
		size    int
		wait    time.Duration
		wantErr bool
	}{
		{nil, 0, 0, false},
		{map[string]any{"enabled": false, "size": 50.0}, 0, 0, false},
		{map[string]any{"enabled": true, "size": 100.0, "interval_ms": 10.0}, 100, 10 * time.Millisecond, false},
		{map[string]any{"enabled": true, "size": 5, "interval_ms": 2}, 5, 2 * time.Millisecond, false},
		{map[string]any{"enabled": true, "size": 0.0}, 0, 0, true},
		{map[string]any{"enabled": true, "size": 1e6}, 0, 0, true},
	}
	for _, c := range cases {
		qo, err := batchOptions(c.in)
		if (err != nil) != c.wantErr {
			t.Fatalf("%v: err %v", c.in, err)
		}
		var se *engine.SpecError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("%v: want a SpecError (400 through the API), got %T", c.in, err)
		}
		if err == nil && (qo.BatchSize != c.size || qo.BatchInterval != c.wait) {
			t.Fatalf("%v: %+v", c.in, qo)
		}
	}
}

func TestDecodeNamesBadParams(t *testing.T) {
	var c struct {
		URL string `json:"url"`
	}
	err := decode(map[string]any{"url": 42}, &c)
	var se *engine.SpecError
	if !errors.As(err, &se) || se.Field != "params" {
		t.Fatalf("want a SpecError on params, got %v", err)
	}
	if err := decode(map[string]any{"url": "http://x"}, &c); err != nil || c.URL != "http://x" {
		t.Fatalf("%v %q", err, c.URL)
	}
}
