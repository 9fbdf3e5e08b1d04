// Package e2e holds end-to-end tests that drive the real wedge binary from outside, as users
// do: restart persistence, signals, configuration errors, the admin password, and interop
// with Debian's mosquitto clients. It imports nothing of the daemon's internals.
package e2e
