#!/usr/bin/env bash
# go vet, gofmt and go mod tidy checks. Called by make lint and make test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))
if [ -n "$unformatted" ]; then
	die "gofmt would change: $unformatted"
fi
go vet ./...
cp go.mod /tmp/wedge-go.mod.$$; cp go.sum /tmp/wedge-go.sum.$$
go mod tidy
if ! diff -q go.mod /tmp/wedge-go.mod.$$ >/dev/null || ! diff -q go.sum /tmp/wedge-go.sum.$$ >/dev/null; then
	cp /tmp/wedge-go.mod.$$ go.mod; cp /tmp/wedge-go.sum.$$ go.sum
	rm -f /tmp/wedge-go.mod.$$ /tmp/wedge-go.sum.$$
	die "go.mod/go.sum are not tidy: run go mod tidy"
fi
rm -f /tmp/wedge-go.mod.$$ /tmp/wedge-go.sum.$$
log "lint OK"
