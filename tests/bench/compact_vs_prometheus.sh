#!/usr/bin/env bash
# Side-by-side: `strata compact` and the real Prometheus 2.42 compactor on the same input
# blocks, warm page cache, one after the other. Prints wall seconds, peak RSS and the ratios.
#
#   tests/bench/compact_vs_prometheus.sh [--series N] [--case adjacent|replicas] [--cache DIR]
#                                        [--threads N] [--runs N] [--build-only]
#
# adjacent: 3 consecutive 2h blocks (Prometheus: --max-block-duration=6h -> one 6h block).
# replicas: 3 replicas of the same 2h window, timestamps 0/5/10 s apart (every chunk overlaps).
# Inputs are built once with promtool and kept in --cache (default /tmp/strata-bench-cache):
# 100k series take about 3 minutes and 10 GB of memory per 2h block to build.
# Prometheus' figure is the `duration=` of its "compact blocks" log line (it excludes start-up),
# strata's is the whole process wall time (opening the blocks included).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../scripts/lib.sh"

series=10000
case_=adjacent
cache=/tmp/strata-bench-cache
threads=0
runs=1
build_only=0
while [ $# -gt 0 ]; do
    case $1 in
    --series) series=$2; shift 2 ;;
    --case) case_=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    *) st_die "unknown argument $1" ;;
    esac
done

inputs="$cache/$case_-$series"
if [ ! -f "$inputs/.done" ]; then
    rm -rf "$inputs"
    mkdir -p "$inputs"
    echo "building $case_ inputs with $series series into $inputs (once)" >&2
    if [ "$case_" = adjacent ]; then
        st_make_set "$inputs" --profile realistic --series "$series" --hours 6 --seed 3 >/dev/null
    else
        for off in 0 5000 10000; do
            mkdir -p "$inputs/r$off"
            st_make_set "$inputs/r$off" --profile realistic --series "$series" --hours 2 --seed 3 \
                --ts-offset-ms "$off" >/dev/null
            mv "$inputs/r$off"/*/ "$inputs/"
            rmdir "$inputs/r$off"
        done
    fi
    touch "$inputs/.done"
fi
[ "$build_only" = 1 ] && exit 0
blocks=("$inputs"/*/)
in_bytes=$(du -cb "${blocks[@]/%//index}" "${blocks[@]/%//chunks}" | tail -n 1 | cut -f1)
samples=$(python3 -c "
import json,sys
print(sum(json.load(open(p+'/meta.json'))['stats']['numSamples'] for p in sys.argv[1:]))" "${blocks[@]}")

# warm the page cache
find "${blocks[@]}" -type f -exec cat {} + >/dev/null

st_mktemp work
flags=()
[ "$threads" != 0 ] && flags+=("--threads=$threads")
best_s=""; best_rss=""
for r in $(seq 1 "$runs"); do
    rm -rf "$work/s"
    /usr/bin/time -v -o "$work/time-s.txt" "$STRATA_BIN" compact --output="$work/s" "${flags[@]}" \
        "${blocks[@]}" >"$work/s.out" 2>"$work/s.log"
    wall=$(python3 - "$work/time-s.txt" <<'PY'
import sys
for l in open(sys.argv[1]):
    if "Elapsed (wall clock)" in l:
        v = l.rsplit(" ", 1)[1].strip().split(":")
        s = float(v[-1]) + 60 * float(v[-2]) + (3600 * float(v[-3]) if len(v) > 2 else 0)
        print("%.3f" % s)
PY
)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-s.txt")
    echo "strata run $r: ${wall}s, peak RSS $((rss / 1024)) MB" >&2
    if [ -z "$best_s" ] || python3 -c "import sys; sys.exit(0 if $wall < $best_s else 1)"; then
        best_s=$wall; best_rss=$rss
    fi
done
out_block=$(cat "$work/s.out")
out_bytes=$(du -cb "$out_block/index" "$out_block/chunks" | tail -n 1 | cut -f1)

p_s=""; p_rss=""
for r in $(seq 1 "$runs"); do
    rm -rf "$work/p"
    res=$(bash "$here/../scripts/prom_compact.sh" "$work/p" 6h "${blocks[@]}")
    s=$(awk '/^compaction_s/ {print $2}' <<<"$res")
    rss=$(awk '/^peak_rss_kb/ {print $2}' <<<"$res")
    echo "prometheus run $r: ${s}s, peak RSS $((rss / 1024)) MB" >&2
    if [ -z "$p_s" ] || python3 -c "import sys; sys.exit(0 if $s < $p_s else 1)"; then
        p_s=$s; p_rss=$rss
    fi
done
pblock=$(awk '/^result/ {print $2}' <<<"$res" | head -n 1)
same="no"
if cmp -s "$pblock/index" "$out_block/index" && diff -rq "$pblock/chunks" "$out_block/chunks" >/dev/null; then
    same="yes"
fi

python3 - "$case_" "$series" "$samples" "$in_bytes" "$out_bytes" "$best_s" "$best_rss" "$p_s" "$p_rss" "$same" "$(nproc)" <<'PY'
import sys
case, series, samples, inb, outb, s, srss, p, prss, same, ncpu = sys.argv[1:]
s, p = float(s), float(p)
srss, prss = int(srss) / 1024, int(prss) / 1024
print(f"case            {case}, {int(series):,} series, {int(samples):,} input samples, {int(inb)/1e6:.1f} MB in, {int(outb)/1e6:.1f} MB out, {ncpu} cores")
print(f"strata          {s:8.3f} s   peak RSS {srss:7.1f} MB   {int(samples)/s/1e6:7.1f} M samples/s   {int(inb)/s/1e6:7.1f} MB/s")
print(f"prometheus 2.42 {p:8.3f} s   peak RSS {prss:7.1f} MB   {int(samples)/p/1e6:7.1f} M samples/s")
print(f"ratio           {p/s:8.2f}x faster   RSS {srss/prss:.2f} of Prometheus'   output byte-identical to Prometheus: {same}")
PY
