#!/usr/bin/env bash
# Downsampling benchmark: raw -> 5m + 1h from one read, against the decode-only floor (every chunk
# read, CRC-checked and decoded, nothing aggregated or written).
#
#   tests/bench/bench_downsample.sh [--runs N] [--big SERIES:HOURS] [BLOCK_DIR...]
#
# Without block dirs it benchmarks
#   - the 100k-series 6h block made by merging the three 2h blocks under
#     /tmp/strata-bench-cache/adjacent-100000 with `strata compact` (or, if they are missing, a
#     10k-series 6h block made with tests/scripts/make_block.sh), and
#   - a synthetic >= 40h block written by bench_downsample (default 20000 series x 48 h, 15 s).
# Each case runs N times (default 3): decode-only, raw -> 5m alone and raw -> 5m + 1h with
# --threads=1, and 5m + 1h once more with --threads=2;
# the machine is shared, so the table shows min / median / max of each figure.
#   cpu      user + sys seconds (the per-core cost)
#   MB/s/core  input chunk bytes (record data, as read) / cpu
#   vs floor   cpu / cpu of --decode-only on the same block, each run against the floor run of
#            its own round (the four runs of a round follow each other, so a machine that slows
#            down or speeds up for a while moves both sides alike): median, then min - max
#            over the rounds
#   cycles vs floor  the same ratio in CPU cycles, user + kernel, from `perf stat` (median;
#            "-" where perf cannot count): on a shared or virtual machine GNU time's
#            hundredths of a second and its clock move more from run to run than cycles do
#   RSS      peak resident set (the input is mmapped; released as the writer moves on)
# Needs: strata and bench_downsample built (STRATA_BUILD, default build/), GNU time; perf for
# the cycles.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="${STRATA_BUILD:-$src/build}"
strata="${STRATA_BIN:-$build/strata}"
gen="$build/tests/bench_downsample"
runs=3
big="20000:48"
blocks=()
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    --big) big=$2; shift 2 ;;
    *) blocks+=("$1"); shift ;;
    esac
done
[ -x "$strata" ] || { echo "strata not built: $strata" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-ds.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

if [ ${#blocks[@]} -eq 0 ]; then
    cache=/tmp/strata-bench-cache/adjacent-100000
    if [ "$(ls -d "$cache"/*/ 2>/dev/null | wc -l)" -ge 3 ]; then
        blocks+=("$("$strata" compact --output="$work/merged" "$cache"/*/ 2>/dev/null)")
    else
        echo "($cache not there: using a 10k-series 6h block)" >&2
        mkdir -p "$work/gen10k"
        bash "$src/tests/scripts/make_block.sh" --out "$work/gen10k" --profile realistic \
            --series 10000 --hours 6 --seed 7 >/dev/null
        blocks+=("$("$strata" compact --output="$work/merged" "$work"/gen10k/*/ 2>/dev/null)")
    fi
    if [ -x "$gen" ] && [ -n "$big" ]; then
        mkdir -p "$work/big"
        blocks+=("$("$gen" "$work/big" "${big%%:*}" "${big##*:}")")
    fi
fi

# perf counts cycles here (installed, and allowed by perf_event_paranoid)?
counter=()
if command -v perf >/dev/null 2>&1 &&
    perf stat -x, -o /dev/null -e cycles:u,cycles:k true >/dev/null 2>&1; then
    counter=(perf stat -x, -o "$work/perf" -e cycles:u,cycles:k)
fi

# run LABEL ARGS...: one timed run, appends "label cpu wall rss_kb chunk_bytes cycles" to
# $work/runs (cycles 0 without perf)
run() {
    local label=$1
    shift
    rm -rf "$work/out" "$work/perf"
    "${counter[@]}" /usr/bin/time -f "%U %S %e %M" -o "$work/time" "$strata" downsample "$@" \
        >/dev/null 2>"$work/log"
    local u s e m bytes cycles=0
    read -r u s e m <"$work/time"
    bytes=$(sed -n 's/.*chunk_mb=\([0-9.]*\).*/\1/p' "$work/log" | head -n 1)
    if [ -s "$work/perf" ]; then
        cycles=$(awk -F, '/cycles/ && $1 ~ /^[0-9]+$/ {c += $1} END {printf "%.0f", c}' \
            "$work/perf")
    fi
    echo "$label $(echo "$u + $s" | bc) $e $m $bytes $cycles" >>"$work/runs"
}

for b in "${blocks[@]}"; do
    b="${b%/}"
    : >"$work/runs"
    for r in $(seq 1 "$runs"); do
        run floor --decode-only --threads=1 "$b"
        run t5 --resolution=5m --output="$work/out" --threads=1 "$b"
        run t1 --resolution=5m,1h --output="$work/out" --threads=1 "$b"
        run t2 --resolution=5m,1h --output="$work/out" --threads=2 "$b"
    done
    python3 - "$b" "$work/runs" <<'EOF'
import json, os, statistics, sys
b, path = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(b, "meta.json")))
rows = {}
for line in open(path):
    label, cpu, wall, rss, mb, cycles = line.split()
    # GNU time counts in hundredths: a tiny block can take "0.00" s
    rows.setdefault(label, []).append((max(float(cpu), 0.01), float(wall), int(rss) / 1024.0,
                                       float(mb), int(cycles)))
span_h = (m["maxTime"] - m["minTime"]) / 3600000.0
mb = rows["floor"][0][3]
print("block %s: %d series, %.1f h, %d samples, %.1f MB of chunk data" % (
    os.path.basename(b), m["stats"]["numSeries"], span_h, m["stats"]["numSamples"], mb))
def cycles_ratio(r):
    if any(x[4] <= 0 for x in r + rows["floor"]):
        return "-"
    return "%.2fx" % statistics.median(x[4] / f[4] for x, f in zip(r, rows["floor"]))
def fmt(vals, f):
    vals = sorted(vals)
    return "%s / %s / %s" % (f % vals[0], f % statistics.median(vals), f % vals[-1])
def paired(k):
    if k == "floor":
        return "1.00x"
    q = sorted(x[0] / f[0] for x, f in zip(rows[k], rows["floor"]))
    return "%.2fx %.2f-%.2f" % (statistics.median(q), q[0], q[-1])
print("  %-30s %-22s %-22s %-22s %-18s %-17s %s" % ("run (min / median / max)", "cpu s",
      "wall s", "MB/s/core", "vs floor", "cycles vs floor", "RSS MB"))
names = {"floor": "decode-only, 1 thread", "t5": "5m only, 1 thread", "t1": "5m + 1h, 1 thread",
         "t2": "5m + 1h, 2 threads"}
for k in ("floor", "t5", "t1", "t2"):
    r = rows[k]
    print("  %-30s %-22s %-22s %-22s %-18s %-17s %s" % (
        names[k], fmt([x[0] for x in r], "%.2f"), fmt([x[1] for x in r], "%.2f"),
        fmt([mb / x[0] for x in r], "%.0f"), paired(k),
        cycles_ratio(r), fmt([x[2] for x in r], "%.0f")))
EOF
done
