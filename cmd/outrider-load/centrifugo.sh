#!/bin/bash
# Outrider side by side with Centrifugo v6.9.1 (issue #16): the same client
# (`outrider-load side`) against both servers, one fresh server per run:
#   idle    RSS per idle authenticated subscribed socket at N_IDLE sockets
#   fanout  deliveries to SUBS subscribers of one channel at each of RATES
#           messages/s: delivered, subscribers cut off, server CPU
# RUNS runs of each. Outrider runs as `outrider serve` (on-serve.sh:
# Postgres and NATS on this machine); Centrifugo on 127.0.0.1:8000 with a
# JWT HMAC secret, its JSON protocol over /connection/websocket, namespace
# "side" open to client subscribes, publishes through /api/publish.
# Centrifugo is installed once into its own GOBIN (never into our go.mod).
#
#   go build -o /tmp/outrider ./cmd/outrider && go build -o /tmp/outrider-load ./cmd/outrider-load
#   cmd/outrider-load/centrifugo.sh /tmp/outrider            # RESULT lines in $OUT
#   RUNS=1 MEASURES=fanout RATES=1000 cmd/outrider-load/centrifugo.sh /tmp/outrider
#   BATCH=false ...                                          # Outrider clients without ?batch=1
set -euo pipefail
BIN=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
CF_GOBIN=${CF_GOBIN:-/tmp/centrifugo-v6.9.1/bin}
CF=$CF_GOBIN/centrifugo
RUNS=${RUNS:-5}
N_IDLE=${N_IDLE:-10000}
SUBS=${SUBS:-1000}
RATES=${RATES:-"500 1000"}
MEASURES=${MEASURES:-"idle fanout"}
SERVERS=${SERVERS:-"outrider centrifugo"}
DURATION=${DURATION:-10s}
BATCH=${BATCH:-true}
OUT=${OUT:-/tmp/side-by-side.txt}

if [ ! -x "$CF" ]; then
  mkdir -p "$CF_GOBIN"
  (cd "$(mktemp -d)" && GOBIN=$CF_GOBIN go install github.com/centrifugal/centrifugo/v6@v6.9.1)
fi

quiet() {
  while [ -e /tmp/QUIET ]; do sleep 10; done
  echo "# $(date -u +%H:%M:%S) load average $(cut -d' ' -f1-3 /proc/loadavg): $*" | tee -a "$OUT"
}

CFD=$(mktemp -d)
CF_SECRET=side-by-side-hmac-secret-0123456789abcdef
CF_KEY=side-by-side-api-key-0123456789
cat > "$CFD/config.json" <<J
{
  "http_server": {"address": "127.0.0.1", "port": 8000},
  "log": {"level": "error"},
  "client": {"token": {"hmac_secret_key": "$CF_SECRET"}, "allowed_origins": ["*"]},
  "http_api": {"key": "$CF_KEY"},
  "channel": {"namespaces": [{"name": "side", "allow_subscribe_for_client": true}]}
}
J
trap 'rm -rf "$CFD"' EXIT

# centrifugo_run ARGS...: a fresh Centrifugo for one run of `side`.
centrifugo_run() {
  ulimit -n 20000
  "$CF" --config "$CFD/config.json" > "$CFD/centrifugo.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null -X POST -H "X-API-Key: $CF_KEY" -d '{}' 127.0.0.1:8000/api/info && break
    sleep 0.2
  done
  "$(dirname "$BIN")/outrider-load" side -server centrifugo -addr 127.0.0.1:8000 -pid $pid \
    -centrifugo-secret $CF_SECRET -centrifugo-api-key $CF_KEY "$@" | tee -a "$OUT" || true
  kill $pid; wait $pid 2>/dev/null || true
}

# outrider_run ARGS...: a fresh `outrider serve` for one run of `side`.
outrider_run() {
  "$HERE/on-serve.sh" "$BIN" side -server outrider -batch=$BATCH "$@" | tee -a "$OUT" || true
}

for measure in $MEASURES; do
  for run in $(seq 1 "$RUNS"); do
    for server in $SERVERS; do
      if [ "$measure" = idle ]; then
        quiet "$server idle run $run"
        ${server}_run -measure idle -n "$N_IDLE" -label "run$run"
      else
        for rate in $RATES; do
          quiet "$server fanout $rate/s run $run"
          ${server}_run -measure fanout -n "$SUBS" -rate "$rate" -duration "$DURATION" -label "run$run"
        done
      fi
    done
  done
done
grep '^RESULT' "$OUT" || true
