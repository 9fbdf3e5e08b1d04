// Package webhook is the webhook action's connector: one HTTP(S) request per
// record with method, URL, header and body templates rendered from the rule's
// output. A 2xx acknowledges the record; 408, 429, 5xx, timeouts and network
// errors are transient (retried by the outbox with backoff); any other
// status is permanent (the record goes to the dead-letter queue with the
// status and the start of the response body). Each request carries the
// record's id in X-Wedge-Record-Id so the receiver can drop duplicates
// (delivery is at-least-once).
package webhook
