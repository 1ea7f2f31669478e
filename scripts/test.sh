#!/usr/bin/env bash
# Runs every test of the project against the real Postgres and RabbitMQ of this machine (started here if
# they are installed but stopped). Each test creates and drops its own database and broker names.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
ensure_postgres
ensure_rabbitmq

log "cargo test --workspace"
cargo test --workspace --locked
