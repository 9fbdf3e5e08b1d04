// Package client is the testbed's MQTT client library: it connects load-test
// and simulator clients to a broker from outside, as devices do.
//
// It offers one small [Conn] interface over two real client libraries
// (github.com/eclipse/paho.golang for MQTT 5 and
// github.com/eclipse/paho.mqtt.golang for MQTT 3.1.1), a raw-TCP minimal
// connection ([DialRaw]) that costs one socket and no goroutine, for holding
// many idle connections, [ConnectMany] to open N connections at a given rate
// and concurrency, and the measurement pieces: a payload [Header] carrying a
// publisher id, a sequence number and a monotonic send time, a [Recorder] for
// latency percentiles and a [Tracker] for loss, duplicate and order
// accounting.
//
// The package imports nothing of the daemon: it talks to any MQTT broker.
package client
