# Sourced by the A/B bench scripts (bench-ab.sh, rest-ab.sh, idle-ab.sh) after scripts/lib.sh: a private
# bench stack (scripts/bench-stack.sh) started and stopped around each run, and psql as the admin role.
# Needs OUT (logs go to $OUT/logs); PG_ADMIN_USER defaults to postgres. REALTIME_INSTANCES (1 or 2,
# default 1) is passed to the stack at each start; `realtime_urls` prints the Socket.IO URLs of its
# instances, comma-separated as `bench sockets --socket-url` takes them.

: "${REALTIME_INSTANCES:=1}"
export REALTIME_INSTANCES

realtime_urls() {
  case "$REALTIME_INSTANCES" in
    1) echo http://127.0.0.1:4001 ;;
    2) echo http://127.0.0.1:4001,http://127.0.0.1:4002 ;;
    *) die "REALTIME_INSTANCES must be 1 or 2" ;;
  esac
}

: "${PG_ADMIN_USER:=postgres}"

admin() { psql -h "$DATABASE_HOST" -p "$DATABASE_PORT" -U "$PG_ADMIN_USER" -d postgres -tAq -v ON_ERROR_STOP=1 "$@"; }

stack_pid=
stop_stack() {
  [ -n "$stack_pid" ] || return 0
  kill -TERM "$stack_pid" 2>/dev/null || true
  wait "$stack_pid" 2>/dev/null || true
  stack_pid=
}
trap stop_stack EXIT INT TERM

start_stack() { # bin-dir database
  BIN_DIR=$1 DATABASE_NAME=$2 LOGS="$OUT/logs" scripts/bench-stack.sh &
  stack_pid=$!
  local ports=(51051 51052 4001 4000)
  [ "$REALTIME_INSTANCES" = 2 ] && ports+=(4002)
  for port in "${ports[@]}"; do
    wait_for_port 127.0.0.1 "$port" 60 || die "the stack did not start (logs: $OUT/logs)"
  done
}

# One measured run on a fresh copy of a template database: the copy, a stack of the build's binaries on
# it, the command (its output to a file), the stack stopped and the copy dropped.
run_on_copy() { # template bin-dir output-file command...
  local template=$1 dir=$2 file=$3
  local db="${template}_run"
  shift 3
  admin -c "DROP DATABASE IF EXISTS $db"
  admin -c "CREATE DATABASE $db TEMPLATE $template"
  start_stack "$dir" "$db"
  "$@" >"$file"
  stop_stack
  admin -c "DROP DATABASE $db"
}

# The template database every run copies: the schemas and the bench's users (sign-ups hash slowly on
# purpose), made once by the command on a stack of the first build, kept while it and its users file
# exist.
ensure_template() { # template users-file bin-dir command...
  local template=$1 users=$2 dir=$3
  shift 3
  if [ "$(admin -c "SELECT 1 FROM pg_database WHERE datname = '$template'")" = 1 ] && [ -s "$users" ]; then
    return 0
  fi
  log "making the template database $template and $users"
  admin -c "DROP DATABASE IF EXISTS $template"
  admin -c "CREATE DATABASE $template"
  rm -f "$users"
  start_stack "$dir" "$template"
  "$@" >/dev/null
  stop_stack
}
