#!/bin/bash
# An outrider-load scenario against `outrider serve` (Postgres and NATS on
# this machine) instead of `outrider dev`: starts a node on its own schema
# and NATS namespace, gives outrider-load a data dir with the node's key and
# an admin and a customer account, runs the scenario, and cleans up.
#
#   go build -o /tmp/outrider ./cmd/outrider && go build -o /tmp/outrider-load ./cmd/outrider-load
#   cmd/outrider-load/on-serve.sh /tmp/outrider latency -watchers 5000 -orders 500 -rate 1000 -duration 20s
#   ROLES=api cmd/outrider-load/on-serve.sh /tmp/outrider latency ...   # a node without the worker role
#   cmd/outrider-load/on-serve.sh /tmp/outrider ingest -drivers 1000 -rate 45000 -warmup 5s -duration 15s
#   NODE_LOG=/tmp/shift-node.log DEBUG_ADDR=127.0.0.1:6060 cmd/outrider-load/on-serve.sh /tmp/outrider shift
#     (NODE_LOG keeps the node's log after the cleanup; DEBUG_ADDR serves the node's pprof there)
set -euo pipefail
BIN=$1; shift
PG=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
D=$(mktemp -d); mkdir -p "$D/data"
SCHEMA=loadlat_$RANDOM
SECRET=load-latency-secret-0123456789abcdefghij
echo -n $SECRET > "$D/data/jwt-secret"
ulimit -n ${NOFILE:-20000}
OUTRIDER_PG_URL="$PG" OUTRIDER_PG_SCHEMA=$SCHEMA \
OUTRIDER_NATS_URL=${NATS:-nats://127.0.0.1:4222} OUTRIDER_NATS_NAMESPACE=$SCHEMA. OUTRIDER_NATS_STREAM=${SCHEMA^^} \
OUTRIDER_JWT_SECRET=$SECRET OUTRIDER_ADMIN_EMAIL=admin@load.test OUTRIDER_ADMIN_PASSWORD=grape-lantern-admin-42 \
OUTRIDER_RATE_PER_SECOND=100000 OUTRIDER_RATE_BURST=100000 \
OUTRIDER_AUTH_RATE_PER_SECOND=1000 OUTRIDER_AUTH_RATE_BURST=1000 OUTRIDER_BCRYPT_COST=4 \
OUTRIDER_WS_INBOUND_RATE=100000 OUTRIDER_WS_INBOUND_BURST=100000 OUTRIDER_WS_LOCATION_RATE=100000 \
OUTRIDER_WS_MAX_SESSIONS_ADMIN=1000000 OUTRIDER_WS_MAX_SESSIONS_CUSTOMER=1000000 OUTRIDER_WS_MAX_SESSIONS_PER_ADDRESS=1000000 \
"$BIN" serve ${ROLES:+--roles $ROLES} ${DEBUG_ADDR:+--debug-addr $DEBUG_ADDR} --http-addr 127.0.0.1:8787 --log-level warn > "$D/node.log" 2>&1 &
PID=$!
cleanup() {
  kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true
  if [ -n "${NODE_LOG:-}" ]; then cp "$D/node.log" "$NODE_LOG"; fi
  psql -q "$PG" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$D"
}
trap cleanup EXIT
for _ in $(seq 1 120); do curl -sf 127.0.0.1:8787/readyz >/dev/null && break; sleep 0.5; done
curl -sf 127.0.0.1:8787/v1/auth/signup -H 'Content-Type: application/json' \
  -d '{"name":"Load Customer","email":"customer@load.test","password":"orchid-tundra-customer-1906"}' > /dev/null
cat > "$D/data/demo-accounts.json" <<J
[{"role":"admin","email":"admin@load.test","password":"grape-lantern-admin-42"},
 {"role":"customer","email":"customer@load.test","password":"orchid-tundra-customer-1906"}]
J
SCENARIO=$1; shift
OUTRIDER_NODE_PID=$PID "$(dirname "$BIN")/outrider-load" "$SCENARIO" -data-dir "$D/data" "$@"
