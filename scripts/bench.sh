#!/usr/bin/env bash
# Runs the broker benchmark: wedge, a bare mochi-mqtt server and Debian's
# mosquitto in the same run (testbed/cmd/bench). Called by `make bench`, which
# builds bin/wedge first. Extra arguments go to the bench program, e.g.
#
#   scripts/bench.sh -quick
#   scripts/bench.sh -only fanin-q1,idle -runs 5
#   BENCH_JSON=bin/bench.json scripts/bench.sh
#
# Installs mosquitto when root and missing; without it (or without
# bin/wedge) the bench skips that broker and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
. scripts/lib.sh

need_cmd mosquitto mosquitto || log "mosquitto unavailable: the bench will skip it"

mkdir -p bin
log "building bin/baremochi bin/loadgen bin/bench"
go build -o bin/baremochi ./testbed/cmd/baremochi
go build -o bin/loadgen ./testbed/cmd/loadgen
go build -o bin/bench ./testbed/cmd/bench
[ -x bin/wedge ] || log "bin/wedge not built (make build): the bench will skip wedge"

raise_nofile
log "open-file limit $(ulimit -Sn) (hard $(ulimit -Hn)); $(nproc) CPUs, $(uname -m)"

mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
args=(-wedge bin/wedge -baremochi bin/baremochi -loadgen bin/loadgen -mosquitto "$mosq")
[ -n "${BENCH_JSON:-}" ] && args+=(-json "$BENCH_JSON")
bin/bench "${args[@]}" "$@"

# Package benchmarks (go test -bench), each comparing against its baseline in the same run.
# BENCH_PACKAGES=0 skips them (e.g. scripts/bench.sh -quick for a broker-only smoke run).
if [ "${BENCH_PACKAGES:-1}" != 0 ]; then
	log "CoAP gateway and LwM2M server: registrations/s, notifications/s, publishes/s"
	go test ./appliance/lwm2m ./appliance/coap -run '^$' -bench . -benchtime 3000x -count 3
	log "LwM2M: RSS with 1,000 registered simulated devices"
	WEDGE_LWM2M_RSS=1 go test ./appliance/lwm2m -run '^TestRSSWith1000Devices$' -count 1 -v | grep -E 'RSS|ok|FAIL'
	log "outbox: group commit vs one transaction per record"
	go test ./appliance/outbox -run '^$' -bench . -count 3
	log "rules: evaluator vs hand-written Go, compiled Wasm"
	go test ./rules -run '^$' -bench . -count 3
	log "rules engine in the broker: 0/10/100 rules, filter + republish"
	go test ./rules/engine -run '^$' -bench . -benchtime 1x
	log "kafka: end-to-end throughput with batching on vs off"
	go test ./appliance/actions/kafka -run '^$' -bench . -count 3
	log "outbox: publish latency with a durable async action vs none (through the binary)"
	go test ./testbed/e2e -run '^$' -bench PublishLatency -benchtime 1x
fi
# BENCH_EKUIPER=1: the filter-and-republish rule in wedge vs LF Edge eKuiper 2.4 (builds eKuiper once).
if [ "${BENCH_EKUIPER:-0}" = 1 ]; then
	scripts/ekuiper-bench.sh
fi
