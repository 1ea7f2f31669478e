#!/usr/bin/env bash
# A/B comparison of builds on the REST routes of issue 10 (scripts/bench-rest.sh), interleaved so that a
# noisy machine hits every build alike: for each run, for each build, a fresh copy of one template
# database, a private stack from that build's binaries (scripts/bench-stack.sh), one bench-rest run, the
# stack stopped. Then the median requests/s of each route per build.
#
#   scripts/rest-ab.sh RUNS NAME=BIN_DIR [NAME=BIN_DIR ...]
#   e.g. flock /work/.locks/bench env CPU_LOCK=/work/bin/cpu scripts/rest-ab.sh 3 base=/tmp/base/release new=target/release
#
# BENCH (default: the first build's `bench`) makes the template's users once. CPU_LOCK, if set, wraps
# each wrk run (see bench-rest.sh). Results go to OUT (default target/rest-ab), one file per run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ $# -ge 2 ] || die "usage: scripts/rest-ab.sh RUNS NAME=BIN_DIR [NAME=BIN_DIR ...]"
runs=$1; shift
builds=("$@")
first_dir=${builds[0]#*=}
: "${BENCH:=$first_dir/bench}"
: "${OUT:=target/rest-ab}"
: "${SECONDS_PER_ROUTE:=10}"
template=junqo_rest_template
users="$OUT/users.txt"
mkdir -p "$OUT"
# One realtime instance: this bench loads one socket URL, whatever REALTIME_INSTANCES the shell has.
export REALTIME_INSTANCES=1
source scripts/bench-lib.sh

# A dozen users, in six conversations.
ensure_template "$template" "$users" "$first_dir" "$BENCH" sockets --auth http://127.0.0.1:51051 \
  --conversations http://127.0.0.1:51052 --socket-url http://127.0.0.1:4001 --users-file "$users" \
  --conversation-count 6 --members 2 --rate 10 --warmup 0 --seconds 1

for run in $(seq 1 "$runs"); do
  for build in "${builds[@]}"; do
    name=${build%%=*} dir=${build#*=}
    file="$OUT/$name-$run.txt"
    log "run $run, $name -> $file"
    run_on_copy "$template" "$dir" "$file" scripts/bench-rest.sh "$users" "$SECONDS_PER_ROUTE"
  done
done

# Medians per build and route (every run's figure in brackets).
python3 - "$OUT" "${builds[@]}" <<'PY'
import glob, re, statistics, sys
out, builds = sys.argv[1], [b.split("=", 1)[0] for b in sys.argv[2:]]
for build in builds:
    routes = {}
    for path in sorted(glob.glob(f"{out}/{build}-*.txt")):
        for line in open(path):
            m = re.match(r"(\S+ \S+)\s+(\d+) req/s\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms\s+errors (\d+)", line)
            if m:
                routes.setdefault(m.group(1), []).append(tuple(float(x) for x in m.groups()[1:]))
    for route, figures in routes.items():
        rps = [f[0] for f in figures]
        p50 = statistics.median(f[1] for f in figures)
        p99 = statistics.median(f[2] for f in figures)
        errors = sum(f[3] for f in figures)
        print(f"{build:8} {route:36} {statistics.median(rps):7.0f} req/s ({', '.join('%.0f' % r for r in rps)})"
              f"  p50 {p50:.1f} ms  p99 {p99:.1f} ms  errors {errors:.0f}")
PY
