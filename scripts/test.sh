#!/usr/bin/env bash
# Runs every test of the project against the real Postgres and RabbitMQ of this machine (started here if
# they are installed but stopped). Each test creates and drops its own database and broker names.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
command -v node >/dev/null && command -v npm >/dev/null \
  || die "Node.js 20+ and npm are needed for the Socket.IO end-to-end tests (Debian: apt-get install nodejs npm)"
ensure_postgres
ensure_rabbitmq

# The official Socket.IO client, pinned by services/e2e/js/package-lock.json.
log "npm ci (services/e2e/js)"
npm ci --prefix services/e2e/js --no-audit --no-fund --loglevel=error

log "cargo test --workspace"
cargo test --workspace --locked
