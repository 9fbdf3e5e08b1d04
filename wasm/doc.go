// Package wasm is wedge's WebAssembly host: one wazero runtime per process
// (compiler on amd64 and arm64, interpreter elsewhere), an on-disk
// compilation cache, host functions registered once, modules compiled once
// per version and instances pooled so that modules run in parallel, with a
// memory cap and an optional per-call timeout.
//
// The names of the ABI live in github.com/wedge-iot/wedge/guest-sdk/abi;
// the rules package builds rule modules and their host functions on top of
// this package. See README.md for the ABI and the cost model.
package wasm
