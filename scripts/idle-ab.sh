#!/usr/bin/env bash
# A/B comparison of builds with `bench idle` (memory per idle socket, handshakes per second), interleaved
# like scripts/bench-ab.sh: for each run, for each build, a private stack from that build's binaries
# (scripts/bench-stack.sh) on a fresh database, one bench run, the stack stopped. Then the median of each
# figure per build.
#
#   scripts/idle-ab.sh CONNECTIONS RUNS NAME=BIN_DIR [NAME=BIN_DIR ...]
#   e.g. scripts/idle-ab.sh 2000 3 base=/tmp/base/release new=target/release
#
# USERS (default 400) spreads the sockets so that no user reaches SOCKET_MAX_PER_USER. BENCH (default:
# the first build's `bench`) is the one load generator for every build; CPU_LOCK, if set (/work/bin/cpu
# on the shared development machine), wraps each bench run. The bench reads the memory of every process
# named `realtime`: the script refuses to measure when another one runs. Results go to OUT (default
# target/idle-ab), one file per run. The environment reaches the services (e.g. MALLOC_ARENA_MAX).
# IDLE_ARGS is passed on to every bench run, e.g. IDLE_ARGS="--concurrency 16" (a bench that has it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ $# -ge 3 ] || die "usage: scripts/idle-ab.sh CONNECTIONS RUNS NAME=BIN_DIR [NAME=BIN_DIR ...]"
connections=$1 runs=$2; shift 2
builds=("$@")
first_dir=${builds[0]#*=}
: "${BENCH:=$first_dir/bench}"
: "${OUT:=target/idle-ab}"
: "${USERS:=400}"
mkdir -p "$OUT"
# One realtime instance: this bench loads one socket URL, whatever REALTIME_INSTANCES the shell has.
export REALTIME_INSTANCES=1
source scripts/bench-lib.sh

bench() {
  # The count is taken once the lock is held: other stacks (tests) may run until then.
  ${CPU_LOCK:-} bash -c 'n=$(ps -eo comm= | grep -cx realtime || true)
    [ "$n" = 1 ] || { echo "$n realtime processes on the machine (1 expected): memory figures would mix them" >&2; exit 1; }
    exec "$@"' _ "$BENCH" idle --auth http://127.0.0.1:51051 --socket-url http://127.0.0.1:4001 \
    --connections "$connections" --users "$USERS" ${IDLE_ARGS:-}
}

for run in $(seq 1 "$runs"); do
  for build in "${builds[@]}"; do
    name=${build%%=*} dir=${build#*=}
    db=junqo_bench_idle
    admin -c "DROP DATABASE IF EXISTS $db"
    admin -c "CREATE DATABASE $db"
    start_stack "$dir" "$db"
    file="$OUT/$name-c$connections-$run.txt"
    log "run $run, $name, $connections sockets -> $file"
    bench >"$file"
    stop_stack
    admin -c "DROP DATABASE $db"
  done
done

python3 - "$OUT" "$connections" "${builds[@]}" <<'PY'
import re, statistics, sys, glob
out, connections, builds = sys.argv[1], sys.argv[2], [b.split("=", 1)[0] for b in sys.argv[3:]]
def parse(path):
    text = open(path).read()
    figures = {}
    m = re.search(r"handshakes\s+([\d.]+)/s", text)
    if m:
        figures["handshakes/s"] = float(m.group(1))
    m = re.search(r"per connection ([\d.]+) KiB", text)
    if m:
        figures["KiB/socket"] = float(m.group(1))
    m = re.search(r"RSS\s+([\d.]+) MiB -> ([\d.]+) MiB", text)
    if m:
        figures["RSS before MiB"], figures["RSS after MiB"] = float(m.group(1)), float(m.group(2))
    return figures
columns = ["KiB/socket", "handshakes/s", "RSS before MiB", "RSS after MiB"]
print("build  " + "  ".join(columns) + "   (median (runs))")
for build in builds:
    runs = [parse(p) for p in sorted(glob.glob(f"{out}/{build}-c{connections}-*.txt"))]
    cells = []
    for c in columns:
        values = [r[c] for r in runs if c in r]
        cells.append("%.1f (%s)" % (statistics.median(values), ", ".join("%g" % v for v in values)) if values else "-")
    print(build, " | ".join(cells))
PY
