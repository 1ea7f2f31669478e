#!/usr/bin/env bash
# A/B comparison of builds with `bench sockets`, interleaved so that a noisy machine hits every build
# alike: for each run, for each build, a fresh copy of one template database, a private stack from that
# build's binaries (scripts/bench-stack.sh), one bench run, the stack stopped. Then the median of each
# figure per build.
#
#   scripts/bench-ab.sh RATE RUNS NAME=BIN_DIR [NAME=BIN_DIR ...]
#   e.g. scripts/bench-ab.sh 1000 3 base=/tmp/base/release new=target/release
#
# BENCH (default: the first build's `bench`) is the one load generator for every build. CPU_LOCK, if set
# (on the shared development machine: /work/bin/cpu), wraps each bench run so that no build runs during
# it. Results go to OUT (default target/bench-ab), one file per run, and a summary on stdout.
#
# Other settings (environment): WARMUP and SECONDS_MEASURED (5 and 30), CONVERSATIONS and MEMBERS
# (100 and 2; MEMBERS=50 for fan-out), TEMPLATE (the template database, default junqo_bench_template;
# give each OUT its own to keep another OUT's runs from rebuilding it), and REALTIME_INSTANCES=2 to run
# two realtime instances (ports 4001 and 4002) with the sockets spread over both, each conversation's
# members on different instances (the bench must be one that takes several --socket-url). A NAME
# ending in @1 or @2 sets the instance count for that build alone, so that one and two instances are
# interleaved like builds: `scripts/bench-ab.sh 3000 3 one@1=<dir> two@2=<dir>`. A single build is
# fine too: `scripts/bench-ab.sh 3000 3 base=<dir>` measures that build alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ $# -ge 3 ] || die "usage: scripts/bench-ab.sh RATE RUNS NAME=BIN_DIR [NAME=BIN_DIR ...]"
rate=$1 runs=$2; shift 2
builds=("$@")
first_dir=${builds[0]#*=}
: "${BENCH:=$first_dir/bench}"
: "${OUT:=target/bench-ab}"
: "${WARMUP:=5}"
: "${SECONDS_MEASURED:=30}"
: "${CONVERSATIONS:=100}"
: "${MEMBERS:=2}"
: "${TEMPLATE:=junqo_bench_template}"
template=$TEMPLATE
users="$OUT/users.txt"
mkdir -p "$OUT"
source scripts/bench-lib.sh

bench() { # extra args...
  # The count is taken once the lock is held: other stacks (tests) may run until then.
  # Two realtime processes are one line of the CPU report (the bench sums processes by name).
  ${CPU_LOCK:-} bash -c 'n=$(ps -eo comm= | grep -cxE "auth|conversations|realtime|gateway" || true)
    [ "$n" = "$1" ] || echo "warning: $n service processes on the machine ($1 expected): CPU figures mix stacks" >&2
    shift; exec "$@"' _ $((3 + REALTIME_INSTANCES)) "$BENCH" sockets --auth http://127.0.0.1:51051 \
    --conversations http://127.0.0.1:51052 --socket-url "$(realtime_urls)" \
    --users-file "$users" --conversation-count "$CONVERSATIONS" \
    --members "$MEMBERS" "$@"
}

ensure_template "$template" "$users" "$first_dir" bench --rate 10 --warmup 0 --seconds 1

instances=$REALTIME_INSTANCES
for run in $(seq 1 "$runs"); do
  for build in "${builds[@]}"; do
    name=${build%%=*} dir=${build#*=}
    case $name in
      *@1) REALTIME_INSTANCES=1 ;;
      *@2) REALTIME_INSTANCES=2 ;;
      *) REALTIME_INSTANCES=$instances ;;
    esac
    file="$OUT/$name-r$rate-$run.txt"
    log "run $run, $name, $rate msg/s, $REALTIME_INSTANCES realtime instance(s) -> $file"
    run_on_copy "$template" "$dir" "$file" bench --rate "$rate" --warmup "$WARMUP" --seconds "$SECONDS_MEASURED"
  done
done

# Medians per build: p50, p99 and CPU per message of each process group.
python3 - "$OUT" "$rate" "${builds[@]}" <<'PY'
import re, statistics, sys, glob
out, rate, builds = sys.argv[1], sys.argv[2], [b.split("=", 1)[0] for b in sys.argv[3:]]
def parse(path):
    text = open(path).read()
    figures = {}
    m = re.search(r"p50 ([\d.]+) ms\s+p99 ([\d.]+) ms", text)
    if m:
        figures["p50 ms"], figures["p99 ms"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"delivered\s+(\d+) of (\d+)", text)
    if m:
        figures["delivered %"] = 100.0 * int(m.group(1)) / max(1, int(m.group(2)))
    for label, us in re.findall(r"^\s{4}(\S+(?: above)?)\s+[\d.]+ s\s+(\d+) us", text, re.M):
        figures[label + " us"] = float(us)
    return figures
columns = ["delivered %", "p50 ms", "p99 ms", "all above us", "machine us", "conversations us",
           "realtime us", "postgres us", "rabbitmq us", "bench us"]
print("build  " + "  ".join(c.replace(" us", " us/msg") for c in columns))
for build in builds:
    runs = [parse(p) for p in sorted(glob.glob(f"{out}/{build}-r{rate}-*.txt"))]
    cells = []
    for c in columns:
        values = [r[c] for r in runs if c in r]
        cells.append("%.1f (%s)" % (statistics.median(values), ", ".join("%g" % v for v in values)) if values else "-")
    print(build, " | ".join(cells))
PY
