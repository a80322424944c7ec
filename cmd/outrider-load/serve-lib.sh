# Sourced by on-serve.sh and on-cluster.sh: what running `outrider serve`
# under load needs, for one node or several sharing one schema and NATS
# namespace (and so one cluster: the nats membership).
#
# Set before sourcing: BIN (the outrider binary). Sets PG, D (a temp dir
# with data/ for outrider-load), SCHEMA and SECRET.
PG=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
D=$(mktemp -d); mkdir -p "$D/data"
SCHEMA=loadlat_$RANDOM
SECRET=load-latency-secret-0123456789abcdefghij
echo -n $SECRET > "$D/data/jwt-secret"

# start_node ADDR LOG: starts a node on ADDR in the background (its pid
# in $!), with the limits lifted that a load run would otherwise hit
# (request and frame rates, sessions per role and address) and cheap
# password hashes; the caller's OUTRIDER_* settings come along.
start_node() {
  OUTRIDER_PG_URL="$PG" OUTRIDER_PG_SCHEMA=$SCHEMA \
  OUTRIDER_NATS_URL=${NATS:-nats://127.0.0.1:4222} OUTRIDER_NATS_NAMESPACE=$SCHEMA. OUTRIDER_NATS_STREAM=${SCHEMA^^} \
  OUTRIDER_JWT_SECRET=$SECRET OUTRIDER_ADMIN_EMAIL=admin@load.test OUTRIDER_ADMIN_PASSWORD=grape-lantern-admin-42 \
  OUTRIDER_RATE_PER_SECOND=100000 OUTRIDER_RATE_BURST=100000 \
  OUTRIDER_AUTH_RATE_PER_SECOND=1000 OUTRIDER_AUTH_RATE_BURST=1000 OUTRIDER_BCRYPT_COST=4 \
  OUTRIDER_WS_INBOUND_RATE=100000 OUTRIDER_WS_INBOUND_BURST=100000 OUTRIDER_WS_LOCATION_RATE=100000 \
  OUTRIDER_WS_MAX_SESSIONS_ADMIN=1000000 OUTRIDER_WS_MAX_SESSIONS_CUSTOMER=1000000 OUTRIDER_WS_MAX_SESSIONS_PER_ADDRESS=1000000 \
  "$BIN" serve ${ROLES:+--roles $ROLES} ${DEBUG_ADDR:+--debug-addr $DEBUG_ADDR} --http-addr "$1" --log-level warn > "$2" 2>&1 &
}

# await_ready ADDR: waits (60 s at most) until the node on ADDR is ready.
await_ready() {
  for _ in $(seq 1 120); do curl -sf "$1/readyz" >/dev/null && return 0; sleep 0.5; done
  echo "the node on $1 is not ready after 60 s" >&2; return 1
}

# load_accounts ADDR: signs a customer up on the node on ADDR and writes
# the admin's and the customer's logins where outrider-load reads them.
load_accounts() {
  curl -sf "$1/v1/auth/signup" -H 'Content-Type: application/json' \
    -d '{"name":"Load Customer","email":"customer@load.test","password":"orchid-tundra-customer-1906"}' > /dev/null
  cat > "$D/data/demo-accounts.json" <<J
[{"role":"admin","email":"admin@load.test","password":"grape-lantern-admin-42"},
 {"role":"customer","email":"customer@load.test","password":"orchid-tundra-customer-1906"}]
J
}

# drop_schema: removes the nodes' tables and the temp dir.
drop_schema() {
  psql -q "$PG" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$D"
}
