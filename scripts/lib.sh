# Shared by the scripts in this folder: make sure Postgres and RabbitMQ answer, starting them when they
# are installed on this machine but stopped. Sourced, not run.

: "${DATABASE_HOST:=127.0.0.1}"
: "${DATABASE_PORT:=5432}"
: "${RABBITMQ_HOST:=127.0.0.1}"
: "${RABBITMQ_PORT:=5672}"

log() { printf '\033[1m[junqo]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[junqo] %s\033[0m\n' "$*" >&2; exit 1; }

# port_open HOST PORT: whether something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for_port HOST PORT SECONDS
wait_for_port() {
  local deadline=$((SECONDS + $3))
  until port_open "$1" "$2"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

is_local() { case "$1" in 127.*|localhost|::1) return 0;; *) return 1;; esac; }

ensure_postgres() {
  port_open "$DATABASE_HOST" "$DATABASE_PORT" && return 0
  if is_local "$DATABASE_HOST" && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    log "PostgreSQL is stopped; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start \
      || die "PostgreSQL failed to start (see /var/log/postgresql)"
    wait_for_port "$DATABASE_HOST" "$DATABASE_PORT" 30 || die "PostgreSQL did not open port $DATABASE_PORT"
  else
    die "PostgreSQL is not reachable at $DATABASE_HOST:$DATABASE_PORT and is not installed here. Install it (Debian: apt-get install postgresql) or point DATABASE_HOST/DATABASE_PORT at one."
  fi
}

ensure_rabbitmq() {
  port_open "$RABBITMQ_HOST" "$RABBITMQ_PORT" && return 0
  if is_local "$RABBITMQ_HOST" && command -v rabbitmq-server >/dev/null; then
    log "RabbitMQ is stopped; starting it"
    rabbitmq-server -detached || die "RabbitMQ failed to start (see /var/log/rabbitmq)"
    wait_for_port "$RABBITMQ_HOST" "$RABBITMQ_PORT" 90 || die "RabbitMQ did not open port $RABBITMQ_PORT"
  else
    die "RabbitMQ is not reachable at $RABBITMQ_HOST:$RABBITMQ_PORT and is not installed here. Install it (Debian: apt-get install rabbitmq-server) or point RABBITMQ_URL at one."
  fi
}
