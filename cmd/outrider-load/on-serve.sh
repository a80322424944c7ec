#!/bin/bash
# An outrider-load scenario against `outrider serve` (Postgres and NATS on
# this machine) instead of `outrider dev`: starts a node on its own schema
# and NATS namespace, gives outrider-load a data dir with the node's key and
# an admin and a customer account, runs the scenario, and cleans up.
# (Several nodes: on-cluster.sh.)
#
#   go build -o /tmp/outrider ./cmd/outrider && go build -o /tmp/outrider-load ./cmd/outrider-load
#   cmd/outrider-load/on-serve.sh /tmp/outrider latency -watchers 5000 -orders 500 -rate 1000 -duration 20s
#   ROLES=api cmd/outrider-load/on-serve.sh /tmp/outrider latency ...   # a node without the worker role
#   cmd/outrider-load/on-serve.sh /tmp/outrider ingest -drivers 1000 -rate 45000 -warmup 5s -duration 15s
#   NODE_LOG=/tmp/shift-node.log DEBUG_ADDR=127.0.0.1:6060 cmd/outrider-load/on-serve.sh /tmp/outrider shift
#     (NODE_LOG keeps the node's log after the cleanup; DEBUG_ADDR serves the node's pprof there)
set -euo pipefail
BIN=$1; shift
source "$(dirname "$0")/serve-lib.sh"
ulimit -n ${NOFILE:-20000}
start_node 127.0.0.1:8787 "$D/node.log"
PID=$!
cleanup() {
  kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true
  if [ -n "${NODE_LOG:-}" ]; then cp "$D/node.log" "$NODE_LOG"; fi
  drop_schema
}
trap cleanup EXIT
await_ready 127.0.0.1:8787
load_accounts 127.0.0.1:8787
SCENARIO=$1; shift
OUTRIDER_NODE_PID=$PID "$(dirname "$BIN")/outrider-load" "$SCENARIO" -data-dir "$D/data" "$@"
