// Package kafka is the kafka action's connector, built on
// github.com/segmentio/kafka-go's Writer: bootstrap servers, a topic, key and
// value templates, the partitioner, required acks, compression, TLS and SASL
// (PLAIN, SCRAM-SHA-256/512).
//
// A batch of records is one WriteMessages call; kafka-go's per-message
// errors map back to the records. Errors a retry cannot fix (message too
// large, invalid topic, invalid record) are permanent and the record goes to
// the dead-letter queue; everything else (brokers down, leader elections,
// timeouts, authorization) is transient and the outbox retries it. kafka-go
// reports errors per produce request (one per partition), so when a
// permanent error covers several records they are produced one at a time to
// find the bad ones. Each message carries a "wedge-record-id" header
// ("rule/action/seq") for consumers that drop duplicates.
package kafka
