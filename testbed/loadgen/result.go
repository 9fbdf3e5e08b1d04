package loadgen

import (
	"time"

	"github.com/wedge-iot/wedge/testbed/client"
)

// Result is what one [Run] measured. Counts are totals over all subscribers.
type Result struct {
	// Scenario is the scenario that ran, defaults filled in.
	Scenario Scenario `json:"scenario"`

	// Sent counts messages the publishers sent successfully (acknowledged for
	// QoS 1 and 2, written for QoS 0); SendErrors counts failed publishes
	// (a publisher stops at its first failure).
	Sent       int64 `json:"sent"`
	SendErrors int64 `json:"send_errors"`
	// Expected is Sent times the number of subscribers.
	Expected int64 `json:"expected"`
	// Delivered counts distinct messages received; Duplicates the extra
	// copies; OutOfOrder those that arrived after a later one of the same
	// publisher; Lost the sent messages that never arrived.
	Delivered  int64 `json:"delivered"`
	Duplicates int64 `json:"duplicates"`
	OutOfOrder int64 `json:"out_of_order"`
	Lost       int64 `json:"lost"`
	// Foreign counts received payloads without a testbed header.
	Foreign int64 `json:"foreign,omitempty"`
	// PublishSeconds is the publishing phase; ElapsedSeconds runs from the
	// first publish to the last delivery.
	PublishSeconds float64 `json:"publish_seconds"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// MsgsPerSec is Delivered / ElapsedSeconds; PublishedPerSec is Sent /
	// PublishSeconds.
	MsgsPerSec      float64 `json:"msgs_per_sec"`
	PublishedPerSec float64 `json:"published_per_sec"`
	// Latency is publish-to-delivery latency in milliseconds.
	Latency Millis `json:"latency_ms"`

	// Connected, ConnectFailed, ConnectSeconds, ConnectsPerSec and
	// ConnectLatency describe the connections of a Connect run (or the
	// clients of a pub/sub run).
	Connected      int     `json:"connected"`
	ConnectFailed  int     `json:"connect_failed"`
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectsPerSec float64 `json:"connects_per_sec"`
	ConnectLatency Millis  `json:"connect_latency_ms"`
	// HoldSeconds is how long a Connect run held its connections.
	HoldSeconds float64 `json:"hold_seconds,omitempty"`
	// BrokerRSSKiB and BrokerHWMKiB are Scenario.WatchPID's VmRSS and VmHWM
	// at the busiest moment (mid-hold, or the end of publishing).
	BrokerRSSKiB int64 `json:"broker_rss_kib,omitempty"`
	BrokerHWMKiB int64 `json:"broker_hwm_kib,omitempty"`
	// FirstError is the first connection failure; FirstSendError the first
	// publish failure or refusal.
	FirstError     string `json:"first_error,omitempty"`
	FirstSendError string `json:"first_send_error,omitempty"`
}

// Millis holds latency percentiles in milliseconds.
type Millis struct {
	// Count is the number of samples.
	Count int64 `json:"count"`
	// P50, P90, P99 and Max are the percentiles and the maximum.
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func millisOf(s client.LatencySummary) Millis {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Millis{Count: s.Count, P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), Max: ms(s.Max)}
}
