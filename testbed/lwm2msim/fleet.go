package lwm2msim

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Fleet is a set of devices named prefix-0 ... prefix-(n-1).
type Fleet struct {
	Devices []*Device
}

// NewFleet creates n devices from a template configuration (its Endpoint is the name prefix).
func NewFleet(n int, tmpl Config) *Fleet {
	f := &Fleet{}
	for i := 0; i < n; i++ {
		c := tmpl
		c.Endpoint = fmt.Sprintf("%s-%d", tmpl.Endpoint, i)
		f.Devices = append(f.Devices, New(c))
	}
	return f
}

// Register registers every device with parallel workers; it returns the first error.
func (f *Fleet) Register(ctx context.Context, server string, parallel int) error {
	if parallel < 1 {
		parallel = 1
	}
	ch := make(chan *Device)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range ch {
				if err := d.Register(ctx, server); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", d.Endpoint(), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, d := range f.Devices {
		ch <- d
	}
	close(ch)
	wg.Wait()
	return first
}

// Close closes every device's socket.
func (f *Fleet) Close() {
	for _, d := range f.Devices {
		_ = d.Close()
	}
}
