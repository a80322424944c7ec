#!/bin/bash
# outrider-load fleetview against a cluster of `outrider serve` nodes on
# this machine: NODES nodes (default 3) on 127.0.0.1:8881, :8882, …
# sharing one Postgres schema and NATS namespace (so one cluster, the
# nats membership), the driver sockets spread over the nodes (driver i on
# node i mod NODES) and over PROCS load processes (default NODES), the
# watchers on the first node: it sees every other node's drivers only
# through NATS. One process's open-file limit (20,000 here, and not to be
# raised without CAP_SYS_RESOURCE) caps the sockets of a node and of a
# load process; NODES × and PROCS × it is what this gets past.
#
#   go build -o /tmp/outrider ./cmd/outrider && go build -o /tmp/outrider-load ./cmd/outrider-load
#   cmd/outrider-load/on-cluster.sh /tmp/outrider -drivers 50000 -every 5s -settle 8s
#   NODE_LOGS=/tmp/cluster-logs cmd/outrider-load/on-cluster.sh …   (keeps the nodes' logs)
#
# OUTRIDER_CLUSTER_MEMBER_TTL defaults to 60s here, not 3s: under heavy
# ingest a node's member-record renewals miss the 3 s TTL and it leaves
# the cluster and exits (BENCHMARKS.md, "Fleet viewports at 18,000
# drivers"). Other OUTRIDER_* settings of the caller reach every node.
set -euo pipefail
BIN=$1; shift
NODES=${NODES:-3}
PROCS=${PROCS:-$NODES}
source "$(dirname "$0")/serve-lib.sh"
export OUTRIDER_CLUSTER_MEMBER_TTL=${OUTRIDER_CLUSTER_MEMBER_TTL:-60s}
export OUTRIDER_CLUSTER_HOST=127.0.0.1
ulimit -n ${NOFILE:-20000}
ADDRS=() PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${NODE_LOGS:-}" ]; then mkdir -p "$NODE_LOGS"; cp "$D"/node*.log "$NODE_LOGS"/ 2>/dev/null || true; fi
  drop_schema
}
trap cleanup EXIT
# The first node creates the tables and the admin; the others join it.
for i in $(seq 1 "$NODES"); do
  ADDRS+=(127.0.0.1:$((8880 + i)))
  start_node "${ADDRS[-1]}" "$D/node$i.log"
  PIDS+=($!)
  if [ "$i" = 1 ]; then await_ready "${ADDRS[0]}"; fi
done
for a in "${ADDRS[@]}"; do await_ready "$a"; done
load_accounts "${ADDRS[0]}"
echo "nodes ${ADDRS[*]} (pids ${PIDS[*]}), OUTRIDER_CLUSTER_MEMBER_TTL=$OUTRIDER_CLUSTER_MEMBER_TTL" >&2
IFS=, ; NODELIST="${ADDRS[*]}" PIDLIST="${PIDS[*]}"; unset IFS
set +e
"$(dirname "$BIN")/outrider-load" fleetview -data-dir "$D/data" -addr "${ADDRS[0]}" -nodes "$NODELIST" -pids "$PIDLIST" -procs "$PROCS" "$@"
RC=$?
for i in $(seq 1 "$NODES"); do
  if ! kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null; then echo "node $i exited during the run; its log's end:" >&2; tail -5 "$D/node$i.log" >&2; fi
done
exit $RC
