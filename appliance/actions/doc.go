// Package actions holds what every action connector shares: the Connector
// interface (Deliver a batch of records in order, Health, Close), the record
// format (the rule's output as JSON, with its outbox queue and sequence
// number), and ${path} templates rendered against a rule's output.
//
// One sub-package per connector (webhook, kafka, mqttbridge) turns an
// action's params into a Connector. A Connector satisfies outbox.Deliverer:
// an async action registers it with the outbox, which retries, batches,
// bisects partly rejected batches and keeps dead letters; a sync action calls
// Deliver on the publish path itself. Connectors classify errors: an error
// wrapped with Permanent (the target rejects this record for good, such as an
// HTTP 4xx) goes to the dead-letter queue; any other error is transient and
// retried.
//
// The rules engine owns the rest: it renders nothing itself, it encodes the
// selected output with EncodeOutput and hands it to the outbox or to the
// connector.
package actions
