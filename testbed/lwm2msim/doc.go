// Package lwm2msim is a LwM2M 1.0/1.1 device simulator on go-coap (real CoAP over UDP). A Device
// holds an object tree, registers with a LwM2M server, sends Updates and de-registers, and
// answers the server's read, discover, write, write-attributes, execute, create, delete and
// observe requests in plain text, opaque, TLV, OMA LwM2M JSON, SenML JSON or SenML CBOR, as the
// request's Accept or Content-Format asks. Changing a value notifies its observers (CON or NON).
// A Fleet runs many devices. Tests and the benchmark import it; cmd/lwm2msim is its CLI.
//
// Its payload codecs are written independently of the server's (appliance/lwm2m/codec), so the
// two check each other: testbed code imports nothing of the daemon.
package lwm2msim
