#!/usr/bin/env bash
# make test: installs (when root) the real servers and clients the tests need, then runs lint and
# every test, integration and interop tests included. A component that cannot be installed is
# named, and the tests that need it skip loudly (WEDGE_MISSING lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
. scripts/lib.sh

missing=()
need_pkg mosquitto mosquitto-clients || missing+=(mosquitto mosquitto-clients)
need_pkg libcoap3-bin || missing+=(libcoap3-bin)
export WEDGE_MISSING="${missing[*]:-}"
[ -n "$WEDGE_MISSING" ] && log "WARNING: missing $WEDGE_MISSING: tests that need them will be skipped"

raise_nofile 20000
scripts/lint.sh
make build
# -p 2: the machine has two cores; integration tests start real servers.
mkdir -p bin
status=0
go test -p 2 -timeout 25m -count=1 -v ./... >bin/test.log 2>&1 || status=$?
# Package results, failures and skips (with their reasons); the full log is bin/test.log.
grep -E -A12 '^--- FAIL' bin/test.log || true
grep -E -A2 '^\s*--- SKIP' bin/test.log | grep -v -- '^--$' || true
grep -E '^(ok|FAIL|panic:)\s' bin/test.log || true
passed=$(grep -cE -- '^\s*--- PASS' bin/test.log || true)
failed=$(grep -cE -- '^\s*--- FAIL' bin/test.log || true)
skipped=$(grep -cE -- '^\s*--- SKIP' bin/test.log || true)
echo "go test: $passed passed, $failed failed, $skipped skipped"
exit "$status"
