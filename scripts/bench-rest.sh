#!/usr/bin/env bash
# REST throughput of the three routes of issue 10, driven by wrk (Debian: apt-get install wrk) against a
# running bench stack (scripts/bench-stack.sh: gateway on 127.0.0.1:4000, rate limits off):
#   GET /users/me, GET /conversations?limit=10, POST /conversations/{id}/messages
#
#   scripts/bench-rest.sh USERS_FILE [SECONDS]
#
# USERS_FILE holds `id token` lines (the file `bench sockets --users-file` writes; at least 11 users).
# The first user gets ten fresh two-member conversations so that the list route has a full page, and
# posts to the first of them. wrk's settings are the issue's: 2 threads, 32 connections. Prints one
# line per route: requests/s, p50 and p99 latency, and non-2xx answers (should be 0).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ $# -ge 1 ] || die "usage: scripts/bench-rest.sh USERS_FILE [SECONDS]"
users_file=$1
seconds=${2:-10}
: "${GATEWAY:=http://127.0.0.1:4000}"
api="$GATEWAY/api/v1"
command -v wrk >/dev/null || die "wrk is not installed (Debian: apt-get install wrk)"
mapfile -t users < <(head -n 11 "$users_file")
[ "${#users[@]}" -ge 11 ] || die "$users_file needs at least 11 users"
read -r _ token <<<"${users[0]}"

conversation=
for line in "${users[@]:1:10}"; do
  read -r peer _ <<<"$line"
  id=$(curl -fsS -X POST "$api/conversations" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "{\"participantsIds\":[\"$peer\"]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  conversation=${conversation:-$id}
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"content":"bench"}'
LUA
# Latency percentiles and non-2xx answers, on one line.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("  %.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, failed))
end
LUA
cat "$work/report.lua" >>"$work/post.lua"

run() { # label script url
  printf '%-40s' "$1"
  ${CPU_LOCK:-} wrk -t2 -c32 -d"${seconds}s" -s "$2" -H "Authorization: Bearer $token" "$3" | tail -n 1
}
run "GET /users/me" "$work/report.lua" "$api/users/me"
run "GET /conversations?limit=10" "$work/report.lua" "$api/conversations?limit=10"
run "POST /conversations/{id}/messages" "$work/post.lua" "$api/conversations/$conversation/messages"
