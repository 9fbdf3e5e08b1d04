#!/usr/bin/env bash
# Issue 5's comparison: the filter-and-republish rule (SELECT * … WHERE temperature > 50 → out/1)
# run by wedge's rules engine and by LF Edge eKuiper 2.4.0, measured from outside with the same
# driver (testbed/cmd/rulebench: one paced QoS 0 publisher of JSON readings, one subscriber on
# out/1). Both use wedge as the MQTT broker (no rule of wedge's while eKuiper runs), everything
# on 127.0.0.1. eKuiper is built from its Go module (v2.4.0, through the Go module proxy) into
# bin/kuiperd on the first run (a few minutes). Called by `BENCH_EKUIPER=1 make bench`.
#
#   scripts/ekuiper-bench.sh                 # rates 5000 10000 15000 20000 25000 30000
#   RATES="10000 20000" scripts/ekuiper-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RATES=${RATES:-"5000 10000 15000 20000 25000 30000"}
mkdir -p bin
[ -x bin/wedge ] || go build -o bin/wedge ./appliance/cmd/wedge
go build -o bin/rulebench ./testbed/cmd/rulebench
if [ ! -x bin/kuiperd ]; then
	log "building eKuiper v2.4.0 from its Go module (once)"
	dir=$(go mod download -json github.com/lf-edge/ekuiper/v2@v2.4.0 | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
	src=$(mktemp -d)
	cp -r "$dir/." "$src" && chmod -R u+w "$src"
	(cd "$src" && GOWORK=off go build -o "$OLDPWD/bin/kuiperd" ./cmd/kuiperd)
	ekuiper_etc="$src/etc"
fi

work=$(mktemp -d)
cleanup() { kill "${kpid:-}" "${wpid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mqtt=127.0.0.1:28870 api=127.0.0.1:28872 rest=28873

WEDGE_MQTT_TCP=$mqtt WEDGE_MQTT_WS=127.0.0.1:0 WEDGE_API_LISTEN=$api WEDGE_COAP_LISTEN=127.0.0.1:0 \
	WEDGE_LWM2M_LISTEN=127.0.0.1:0 WEDGE_API_ADMIN_PASSWORD=bench-admin-pw \
	bin/wedge run --data-dir "$work/wedge" >"$work/wedge.log" 2>&1 &
wpid=$!
for _ in $(seq 100); do curl -sf "http://$api/healthz" >/dev/null && break; sleep 0.1; done
api_call() { curl -sf -u admin:bench-admin-pw -X "$1" "http://$api/api/v4/$2" ${3:+-d "$3"} >/dev/null; }

bench() { # label
	for r in $RATES; do
		printf '%s\t%s\n' "$1" "$(bin/rulebench -addr $mqtt -rate "$r" -duration 4s)"
	done
}

log "wedge's rules engine"
api_call POST rules '{"id":"hot","rawsql":"SELECT * FROM \"t/#\" WHERE payload.temperature > 50","actions":[{"name":"republish","params":{"target_topic":"out/1","target_qos":0}}]}'
bench wedge
api_call DELETE rules/hot

log "eKuiper 2.4.0"
home="$work/kuiper"
mkdir -p "$home"/{data,log} "$home"/plugins/{sources,sinks,functions,portable,wasm}
if [ -z "${ekuiper_etc:-}" ]; then
	dir=$(go mod download -json github.com/lf-edge/ekuiper/v2@v2.4.0 | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
	ekuiper_etc="$dir/etc"
fi
cp -r "$ekuiper_etc" "$home/etc" && chmod -R u+w "$home/etc"
sed -i "s#server: \"tcp://127.0.0.1:1883\"#server: \"tcp://$mqtt\"#; s/^  qos: 1/  qos: 0/" "$home/etc/mqtt_source.yaml"
sed -i "s/^  ip: 0.0.0.0/  ip: 127.0.0.1/; s/^  restIp: 0.0.0.0/  restIp: 127.0.0.1/; s/^  restPort: 9081/  restPort: $rest/; s/^  port: 20498/  port: 0/" "$home/etc/kuiper.yaml"
(cd "$home" && KUIPER_HOME="$home" exec "$OLDPWD/bin/kuiperd" >"$work/kuiper.log" 2>&1) &
kpid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$rest/" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$rest/streams" -d '{"sql":"CREATE STREAM demo () WITH (DATASOURCE=\"t/#\", FORMAT=\"json\", TYPE=\"mqtt\", SHARED=\"false\")"}' >/dev/null
curl -sf -X POST "http://127.0.0.1:$rest/rules" -d "{\"id\":\"r1\",\"sql\":\"SELECT * FROM demo WHERE temperature > 50\",\"actions\":[{\"mqtt\":{\"server\":\"tcp://$mqtt\",\"topic\":\"out/1\",\"qos\":0,\"sendSingle\":true}}]}" >/dev/null
sleep 2
bench ekuiper
