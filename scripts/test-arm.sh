#!/usr/bin/env bash
# Runs the rules and wasm packages' tests on the other architectures wedge
# builds for, under qemu user emulation: arm64 (wazero's compiler: the
# compiled rule path is the default) and armv7 (no compiler: the evaluator is
# the default and compiled rules run in wazero's interpreter). Installs
# qemu-user-static when root; otherwise, or when it cannot be installed, it
# says so loudly and exits 0 having tested nothing.
#
#   scripts/test-arm.sh            # both architectures
#   scripts/test-arm.sh arm64      # one
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

GO=${GO:-go}
PKGS=(./rules/ ./wasm/)
archs=("$@")
[ ${#archs[@]} -eq 0 ] && archs=(arm64 armv7)

if ! have_cmd qemu-aarch64-static || ! have_cmd qemu-arm-static; then
	need_pkg qemu-user-static || true
fi
if ! have_cmd qemu-aarch64-static || ! have_cmd qemu-arm-static; then
	log "SKIPPED: qemu-user-static is not installed; arm64 and armv7 were NOT tested"
	exit 0
fi

status=0
for a in "${archs[@]}"; do
	start=$(date +%s)
	case $a in
	arm64) env GOARCH=arm64 CGO_ENABLED=0 "$GO" test -count=1 -exec qemu-aarch64-static "${PKGS[@]}" || status=1 ;;
	armv7) env GOARCH=arm GOARM=7 CGO_ENABLED=0 "$GO" test -count=1 -exec qemu-arm-static "${PKGS[@]}" || status=1 ;;
	*) die "unknown architecture $a (arm64 or armv7)" ;;
	esac
	log "$a: $(($(date +%s) - start)) s"
done
exit $status
