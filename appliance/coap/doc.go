// Package coap is wedge's CoAP gateway (emqx-coap compatible): constrained devices publish into
// MQTT with PUT or POST coap://host/mqtt/{topic}?c={clientid}&u={username}&p={password},
// subscribe with GET + Observe (each MQTT message becomes a notification carrying the raw
// payload), and keep their session alive with a plain GET. Credentials and topics go through
// the same Auth (the broker's Policy) as MQTT clients. CON and NON messages, block-wise transfer
// (RFC 7959) for large payloads, and a CoAP error code for every refusal. An observation ends
// when the observer cancels it (GET Observe=1), answers a notification with RST, stops
// acknowledging confirmable notifications, or its session times out.
package coap
