// Package loadgen runs the testbed's load scenarios against any MQTT broker
// from outside: publishers and subscribers built on testbed/client, fan-in and
// fan-out, QoS 0 and 1, payload size, slow subscribers that overflow a
// broker's queues, many idle connections and connection rate. Each run is
// bounded in message count and time and returns a [Result] that marshals to
// JSON (messages/s delivered, latency percentiles, losses, duplicates, order,
// connection figures).
//
// cmd/loadgen wraps it as a binary so that the load runs in a process of its
// own; tests call [Run] directly.
package loadgen
