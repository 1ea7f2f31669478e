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

# Maintained validators, pinned: kubernetes-validate for the deployment files, and openapi-spec-validator,
# which the gateway's tests run over the OpenAPI document it serves (services/gateway/tests/api/openapi.rs).
command -v kubectl >/dev/null \
  || die "kubectl is needed to render the Kubernetes manifests (Debian: apt-get install kubectl)"
venv=target/deploy-checks
if [ ! -x "$venv/bin/python" ] \
  || ! "$venv/bin/python" -c "import kubernetes_validate, yaml, openapi_spec_validator" 2>/dev/null; then
  log "installing the validators (kubernetes-validate, openapi-spec-validator) into $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.32.0 PyYAML==6.0.2 \
    openapi-spec-validator==0.9.0 \
    || die "cannot install kubernetes-validate and openapi-spec-validator from PyPI"
fi
# Deployment files: kustomize overlays against the Kubernetes API schemas, the project's rules, compose.
log "deployment checks"
"$venv/bin/python" scripts/check-deploy.py

# The tree's own rules: formatted, and no clippy warning anywhere (tests and benches included).
cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1 \
  || die "rustfmt and clippy are needed (rustup component add rustfmt clippy)"
log "cargo fmt --check"
cargo fmt --all -- --check || die "unformatted code: run 'cargo fmt --all'"
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test --workspace"
cargo test --workspace --locked
