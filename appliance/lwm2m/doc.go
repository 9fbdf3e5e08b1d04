// Package lwm2m is wedge's LwM2M server (OMA LwM2M 1.0 and 1.1 over CoAP/UDP, optionally DTLS
// with PSK), EMQX 4.2 compatible: the registration interface (register, update, deregister,
// lifetime expiry), queue mode for sleepy devices, device management (read, write, execute,
// discover, create, delete, write-attributes, observe, cancel-observe) with the content formats of
// package codec, the object model of package model, and an MQTT bridge with EMQX's topic scheme
// and JSON command and response formats: commands published to lwm2m/{ep}/dn/# reach the device,
// its answers, notifications and registration events come back on lwm2m/{ep}/up/....
//
// The package knows the broker only through the small Broker interface and credentials only
// through Auth (which the broker's Policy satisfies); the REST routes live in package lwm2mapi.
package lwm2m
