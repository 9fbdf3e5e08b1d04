# wedge — see README.md. Every target installs what it needs (through scripts/) the way `make test` does.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell cat VERSION 2>/dev/null || echo 0.1.0-dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
export CGO_ENABLED ?= 0

.PHONY: all build run test test-short bench lint fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/wedge ./appliance/cmd/wedge

# Starts wedge on its embedded defaults (MQTT 1883, WebSocket 8083, API/dashboard 18083, data in ./data).
run: build
	./bin/wedge run $(ARGS)

# Everything: lint, unit, integration and interop tests (installs mosquitto when root).
test:
	scripts/test.sh

# Unit tests only, no external servers.
test-short:
	$(GO) test -short ./...

# Benchmarks (long): Go benchmarks and the broker comparison against bare mochi-mqtt and mosquitto.
bench: build
	scripts/bench.sh $(BENCH_ARGS)

lint:
	scripts/lint.sh

# Runs every fuzz target for FUZZTIME each and keeps what it found in testdata/fuzz.
fuzz:
	scripts/fuzz.sh $(or $(FUZZTIME),30s)

clean:
	rm -rf bin
