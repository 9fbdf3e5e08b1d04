#!/usr/bin/env bash
# make fuzz [FUZZTIME]: runs every fuzz target of the module for FUZZTIME (default 30s) and copies
# the inputs the fuzzer found interesting into the package's testdata/fuzz/<Target>/, so the corpus
# is kept in git and replayed by every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
fuzztime=${1:-30s}
cache=$(go env GOCACHE)/fuzz
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		log "fuzzing $pkg $target for $fuzztime"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
		if [ -d "$cache/$pkg/$target" ]; then
			mkdir -p "$dir/testdata/fuzz/$target"
			cp -n "$cache/$pkg/$target"/* "$dir/testdata/fuzz/$target/" 2>/dev/null || true
		fi
	done
done
