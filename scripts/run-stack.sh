#!/usr/bin/env bash
# Starts the whole Junqo backend on this machine: checks (and if needed starts) Postgres and RabbitMQ,
# creates the database and its role if missing, builds the services, starts them, prints where the API
# is, and stops everything on Ctrl-C. Settings come from the environment or a .env file (see README).
# For benchmarks and load tests: `RATE_LIMITS=off scripts/run-stack.sh` (every rate limit off; the caps
# stay on).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ -f .env ] && { set -a; source .env; set +a; }
: "${DATABASE_USER:=junqo}"
: "${DATABASE_NAME:=junqo}"
: "${PG_ADMIN_USER:=postgres}"
: "${GATEWAY_PORT:=3000}"
: "${AUTH_PORT:=50051}"
: "${CONVERSATIONS_PORT:=50052}"
: "${REALTIME_PORT:=3001}"
: "${PROFILE:=release}"
if [ -z "${JWT_SECRET:-}" ] && [ -z "${JWT_SECRET_FILE:-}" ]; then
  JWT_SECRET="dev-only-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  log "JWT_SECRET is not set: using a random one for this run (tokens die with the stack)"
fi
export DATABASE_HOST DATABASE_PORT DATABASE_USER DATABASE_NAME JWT_SECRET GATEWAY_PORT AUTH_PORT CONVERSATIONS_PORT REALTIME_PORT
# Internal gRPC stays on this host: only the gateway and realtime started here call it.
export GRPC_BIND_ADDRESS="${GRPC_BIND_ADDRESS:-127.0.0.1}"
export AUTH_URL="${AUTH_URL:-http://127.0.0.1:$AUTH_PORT}"
export CONVERSATIONS_URL="${CONVERSATIONS_URL:-http://127.0.0.1:$CONVERSATIONS_PORT}"
export REALTIME_URL="${REALTIME_URL:-http://127.0.0.1:$REALTIME_PORT}"
export RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@$RABBITMQ_HOST:$RABBITMQ_PORT/%2f}"

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
ensure_postgres
ensure_rabbitmq

# The role and database the services use; on a server with trust or peer auth for $PG_ADMIN_USER.
if command -v psql >/dev/null; then
  admin() { psql -h "$DATABASE_HOST" -p "$DATABASE_PORT" -U "$PG_ADMIN_USER" -d postgres -tAq -v ON_ERROR_STOP=1 "$@"; }
  if admin -c "SELECT 1" >/dev/null 2>&1; then
    [ "$(admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DATABASE_USER'")" = 1 ] \
      || { log "creating role $DATABASE_USER"; admin -c "CREATE ROLE \"$DATABASE_USER\" LOGIN"; }
    [ "$(admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE_NAME'")" = 1 ] \
      || { log "creating database $DATABASE_NAME"; admin -c "CREATE DATABASE \"$DATABASE_NAME\" OWNER \"$DATABASE_USER\""; }
  else
    log "cannot connect as $PG_ADMIN_USER to create the database; assuming $DATABASE_NAME exists"
  fi
fi

SERVICES=(auth conversations realtime gateway)
log "building ${SERVICES[*]} ($PROFILE)"
build_args=(--locked); [ "$PROFILE" = release ] && build_args+=(--release)
for service in "${SERVICES[@]}"; do build_args+=(-p "$service"); done
cargo build "${build_args[@]}"
bin_dir="target/$([ "$PROFILE" = release ] && echo release || echo debug)"

logs=target/stack-logs
mkdir -p "$logs"
pids=()
stop_all() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

start() { # name port
  "$bin_dir/$1" >"$logs/$1.log" 2>&1 &
  pids+=($!)
  wait_for_port 127.0.0.1 "$2" 60 || { tail -n 20 "$logs/$1.log" >&2; die "$1 did not start (log: $logs/$1.log)"; }
  log "$1 is up on port $2 (log: $logs/$1.log)"
}
[ "${RATE_LIMITS:-on}" = off ] && log "RATE_LIMITS=off: every rate limit is off (benchmarks and load tests only)"
start auth "$AUTH_PORT"
start conversations "$CONVERSATIONS_PORT"
start realtime "$REALTIME_PORT"
start gateway "$GATEWAY_PORT"

log "Junqo API: http://localhost:$GATEWAY_PORT/api/v1 and Socket.IO on http://localhost:$GATEWAY_PORT   (Ctrl-C stops everything)"
wait -n "${pids[@]}" || true
die "a service exited; see $logs/"
