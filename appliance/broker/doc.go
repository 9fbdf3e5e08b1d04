// Package broker owns wedge's MQTT broker: a mochi-mqtt server tuned through its options and
// wedge's own hooks, its listeners (TCP, TLS with a CA verify depth, WebSocket), and the hook
// layer every other feature plugs into:
//
//   - an auth/ACL policy (Policy), swappable at run time, consulted on CONNECT, PUBLISH and
//     SUBSCRIBE; with none configured every device is allowed;
//   - publish interception (Interceptor): rules see every message on the publisher's
//     goroutine before it is routed, and may return a Hold that delays a QoS 1/2 publish's
//     acknowledgement until durable work (an outbox enqueue) has committed — only that
//     publisher waits, other clients are not stalled, and the publisher itself goes on
//     publishing: held QoS 0/1 messages queue per connection and are acknowledged and routed
//     in arrival order as their Holds finish (ingress.go), so one connection's messages share
//     group commits instead of paying one commit each;
//   - client and session events (Listener) for the rule engine's $events topics;
//   - outbound flow control that honours the client's receive maximum and wedge's
//     max_inflight, and queues the rest per session, bounded (max_queued_messages);
//   - connections whose writes never block mochi's write loop (conn.go: a slow client's
//     backlog waits in its own buffer, bounded for QoS 0 by write_queue), behind outbound
//     channels sized per connection from a memory budget (broker.go);
//   - counters for everything dropped or refused, exported to Prometheus and the REST API.
//
// Hooks cost nothing measurable when nothing is registered: each event is only provided to
// mochi while a consumer exists.
package broker
