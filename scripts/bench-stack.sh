#!/usr/bin/env bash
# Runs the four service binaries found in BIN_DIR (default target/release) as a private stack for the
# load generator: its own database, exchange names and ports, the rate limits off, so that it never
# meets a developer's stack or a test's. Prints nothing but its log lines; stops everything on
# SIGTERM/SIGINT or when a service exits. It does not build (compare two builds by pointing BIN_DIR at
# each in turn; see scripts/bench-ab.sh and docs/benchmarks.md).
#
#   BIN_DIR=target/release DATABASE_NAME=junqo_bench scripts/bench-stack.sh
#
# Ports: auth 51051, conversations 51052, realtime 4001, gateway 4000 (admin 59091/59092), as in the
# commands of docs/benchmarks.md. The database must exist (the services create their schemas).
#
# REALTIME_INSTANCES=2 (default 1) starts a second realtime on port 4002 (log realtime-2.log), as a
# second replica of the Deployment would run: the same settings, its own port. realtime has no admin
# port (health and metrics are on its Socket.IO port), and each process draws its own instance id at
# start, from which its broker queue (`realtime.<id>`) and presence heartbeats are named, so nothing
# else tells the two apart. The gateway keeps forwarding to the first; the bench connects to both
# straight (`bench sockets --socket-url http://127.0.0.1:4001,http://127.0.0.1:4002`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

: "${BIN_DIR:=target/release}"
: "${DATABASE_NAME:=junqo_bench}"
: "${DATABASE_USER:=postgres}"
: "${LOGS:=target/bench-stack-logs}"
: "${BENCH_EXCHANGE_PREFIX:=bench}"
: "${REALTIME_INSTANCES:=1}"
case "$REALTIME_INSTANCES" in
  1) realtime_ports=(4001) ;;
  2) realtime_ports=(4001 4002) ;;
  *) die "REALTIME_INSTANCES must be 1 or 2" ;;
esac
export DATABASE_HOST DATABASE_PORT DATABASE_USER DATABASE_NAME
# The bench saves users with their tokens (--users-file) across stack restarts: one fixed secret for
# bench stacks only (never a deployment's), and tokens that outlive a session of runs.
export JWT_SECRET="${JWT_SECRET:-bench-only-secret-not-for-any-deployment-0123456789}"
export JWT_EXPIRES_IN_SECONDS="${JWT_EXPIRES_IN_SECONDS:-86400}"
export RATE_LIMITS=off
export AUTH_PORT=51051 CONVERSATIONS_PORT=51052 REALTIME_PORT=4001 GATEWAY_PORT=4000
export GRPC_BIND_ADDRESS=127.0.0.1 BIND_ADDRESS=127.0.0.1
export AUTH_URL=http://127.0.0.1:51051 CONVERSATIONS_URL=http://127.0.0.1:51052 REALTIME_URL=http://127.0.0.1:4001
export EVENTS_EXCHANGE="$BENCH_EXCHANGE_PREFIX.events" EPHEMERAL_EXCHANGE="$BENCH_EXCHANGE_PREFIX.ephemeral" \
  AUTH_EXCHANGE="$BENCH_EXCHANGE_PREFIX.auth"
export RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@$RABBITMQ_HOST:$RABBITMQ_PORT/%2f}"
unset OTEL_EXPORTER_OTLP_ENDPOINT

for service in auth conversations realtime gateway; do
  [ -x "$BIN_DIR/$service" ] || die "$BIN_DIR/$service is missing (cargo build --release)"
done
for port in 51051 51052 "${realtime_ports[@]}" 4000 59091 59092; do
  port_open 127.0.0.1 "$port" && die "port $port is taken: is another bench stack running?"
done

mkdir -p "$LOGS"
pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'stop_all; exit 0' INT TERM

start() { # name port admin-port [log name]
  local log="$LOGS/${4:-$1}.log"
  ADMIN_PORT="$3" "$BIN_DIR/$1" >"$log" 2>&1 &
  pids+=($!)
  wait_for_port 127.0.0.1 "$2" 60 || { tail -n 20 "$log" >&2; die "$1 did not start"; }
}
start auth 51051 59091
start conversations 51052 59092
start realtime 4001 0
if [ "$REALTIME_INSTANCES" = 2 ]; then
  REALTIME_PORT=4002
  start realtime 4002 0 realtime-2
  REALTIME_PORT=4001
fi
start gateway 4000 0
log "bench stack up from $BIN_DIR (database $DATABASE_NAME, realtime on ${realtime_ports[*]})"
wait -n "${pids[@]}" || true
die "a service exited; see $LOGS/"
