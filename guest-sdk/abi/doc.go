// Package abi holds the names and constants of wedge's Wasm module ABI:
// the version, the host import module and its function names, the names a
// module exports, the value tags and the status codes. It is plain Go with
// no dependencies, shared by the host (wedge's wasm and rules packages) and,
// later, by guest SDKs.
//
// See guest-sdk/README.md for the rule-module ABI itself.
package abi
