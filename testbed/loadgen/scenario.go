package loadgen

import (
	"fmt"
	"time"
)

// Kind selects what a [Scenario] does.
type Kind string

// Scenario kinds.
const (
	// FanIn: Publishers clients each publish to their own topic, and every
	// one of Subscribers clients subscribes to all of them with a wildcard.
	FanIn Kind = "fanin"
	// FanOut: Publishers clients publish to one topic that every one of
	// Subscribers clients subscribes to.
	FanOut Kind = "fanout"
	// Connect: open Connections raw MQTT connections at ConnectRate with
	// ConnectConcurrency attempts at once, hold them idle for Hold, then drop
	// them. With a zero rate it measures the connection rate; with a long
	// Hold, the cost of idle connections.
	Connect Kind = "connect"
)

// Scenario describes one load run. Zero values take the defaults that
// [Scenario.withDefaults] documents.
type Scenario struct {
	// Name labels the result.
	Name string `json:"name"`
	// Kind is FanIn, FanOut or Connect.
	Kind Kind `json:"kind"`
	// Addr is the broker's host:port.
	Addr string `json:"addr"`
	// Version is the MQTT version of publishers and subscribers (5 or 4).
	Version int `json:"mqtt_version"`
	// Client is the client implementation of publishers and subscribers:
	// "pipe" (the default: client.Pipe, light, so that on a small machine the
	// load generator leaves the CPU to the broker) or "paho" (the paho
	// libraries through client.Dial, as applications use them).
	Client string `json:"client"`
	// Window is the number of QoS 1 publishes each publisher keeps awaiting
	// their PUBACK (pipe client only; 1 by default, like a blocking client).
	Window int `json:"window,omitempty"`
	// Publishers and Subscribers are client counts (pub/sub kinds).
	Publishers  int `json:"publishers,omitempty"`
	Subscribers int `json:"subscribers,omitempty"`
	// QoS is the publish and subscription QoS (0 or 1; 2 works too).
	QoS byte `json:"qos"`
	// PayloadSize is the payload size in bytes (at least the 24-byte header).
	PayloadSize int `json:"payload_size,omitempty"`
	// Messages is the number of messages each publisher sends.
	Messages int `json:"messages_per_publisher,omitempty"`
	// Rate is each publisher's rate in messages/s; zero sends as fast as the
	// broker takes them (QoS 1 publishers wait for each PUBACK).
	Rate float64 `json:"rate_per_publisher,omitempty"`
	// SubscriberPause makes each subscriber stop reading for this long on its
	// first message, so that the broker must queue what arrives meanwhile:
	// with QoS 1 this overflows a broker's per-client queue and shows whether
	// it drops messages.
	SubscriberPause time.Duration `json:"subscriber_pause,omitempty"`
	// Duration caps the publishing phase (60s by default).
	Duration time.Duration `json:"duration,omitempty"`
	// DrainTimeout caps the wait for deliveries after publishing (15s).
	DrainTimeout time.Duration `json:"drain_timeout,omitempty"`
	// DrainIdle ends the wait early when nothing arrived for this long (2s).
	DrainIdle time.Duration `json:"drain_idle,omitempty"`

	// Connections, ConnectRate (attempts/s, 0 = unlimited),
	// ConnectConcurrency (attempts at once) and Hold configure Connect runs.
	Connections        int           `json:"connections,omitempty"`
	ConnectRate        float64       `json:"connect_rate,omitempty"`
	ConnectConcurrency int           `json:"connect_concurrency,omitempty"`
	Hold               time.Duration `json:"hold,omitempty"`

	// RunID makes client ids and topics unique (a time-based id by default).
	RunID string `json:"run_id"`
	// WatchPID, when not zero, is a process (the broker) whose memory is
	// sampled from /proc at the busiest moment of the run.
	WatchPID int `json:"watch_pid,omitempty"`
}

// withDefaults returns s with its zero values replaced by defaults:
// MQTT 5, the pipe client with a window of 1, 1 publisher, 1 subscriber, 64-byte payloads, 1000 messages,
// 60s duration, 15s drain timeout, 2s drain idle, 1000 connections with 32
// attempts at once.
func (s Scenario) withDefaults() Scenario {
	if s.Version == 0 {
		s.Version = 5
	}
	if s.Client == "" {
		s.Client = "pipe"
	}
	if s.Window <= 0 {
		s.Window = 1
	}
	if s.Publishers <= 0 {
		s.Publishers = 1
	}
	if s.Subscribers <= 0 {
		s.Subscribers = 1
	}
	if s.PayloadSize <= 0 {
		s.PayloadSize = 64
	}
	if s.Messages <= 0 {
		s.Messages = 1000
	}
	if s.Duration <= 0 {
		s.Duration = 60 * time.Second
	}
	if s.DrainTimeout <= 0 {
		s.DrainTimeout = 15 * time.Second
	}
	if s.DrainIdle <= 0 {
		s.DrainIdle = 2 * time.Second
	}
	if s.Connections <= 0 {
		s.Connections = 1000
	}
	if s.ConnectConcurrency <= 0 {
		s.ConnectConcurrency = 32
	}
	if s.RunID == "" {
		s.RunID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)
	}
	if s.Name == "" {
		s.Name = string(s.Kind)
	}
	return s
}

func (s Scenario) validate() error {
	if s.Addr == "" {
		return fmt.Errorf("scenario %s: no broker address", s.Name)
	}
	switch s.Kind {
	case FanIn, FanOut, Connect:
	default:
		return fmt.Errorf("scenario %s: unknown kind %q (want fanin, fanout or connect)", s.Name, s.Kind)
	}
	if s.Client != "pipe" && s.Client != "paho" {
		return fmt.Errorf("scenario %s: unknown client %q (want pipe or paho)", s.Name, s.Client)
	}
	if s.Client == "pipe" && s.QoS > 1 {
		return fmt.Errorf("scenario %s: the pipe client publishes QoS 0 and 1 only", s.Name)
	}
	if s.Client == "paho" && s.Window > 1 {
		return fmt.Errorf("scenario %s: the paho client has no window: use the pipe client", s.Name)
	}
	if s.QoS > 2 {
		return fmt.Errorf("scenario %s: QoS %d", s.Name, s.QoS)
	}
	if s.Version != 4 && s.Version != 5 {
		return fmt.Errorf("scenario %s: MQTT version %d (want 4 or 5)", s.Name, s.Version)
	}
	return nil
}
