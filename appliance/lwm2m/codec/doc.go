// Package codec encodes and decodes LwM2M payloads: the OMA TLV format, the OMA LwM2M JSON format,
// SenML JSON and SenML CBOR (RFC 8428), plain text and opaque single values, and the CoRE link format
// (RFC 6690) of registration object lists and discover replies. Values travel as Records: a
// resource (or resource instance) path and a Go value typed by the object model.
//
// The decoders take untrusted input from devices: they never panic, bound their loops by the input
// length and return an error for anything malformed; each has a fuzz target.
package codec
