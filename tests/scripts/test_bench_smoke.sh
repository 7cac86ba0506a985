#!/usr/bin/env bash
# Smoke run of the benchmark scripts on small inputs, so that they keep working between the
# large runs that give the README's figures. Nothing here is timed: it checks that each script
# runs to the end and prints every row, and that the compaction it benchmarks still gives output
# byte-identical to Prometheus 2.42's compactor.
#   - tests/bench/bench_downsample.sh on a 6h block of 2000 series and a 48h block of 500 series
#     (written by bench_downsample), one run each;
#   - tests/bench/compact_vs_prometheus.sh, both cases, 300 series, inputs built by promtool.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib.sh"
build="${STRATA_BUILD:-$STRATA_SRC/build}"
gen="$build/tests/bench_downsample"
[ -x "$gen" ] || st_die "bench_downsample not built: $gen"
st_mktemp work

# --- downsampling benchmark
short=$("$gen" "$work/short" 2000 6)
long=$("$gen" "$work/long" 500 48)
if STRATA_BUILD="$build" bash "$STRATA_SRC/tests/bench/bench_downsample.sh" --runs 1 "$short" "$long" \
    >"$work/ds.out" 2>"$work/ds.err"; then
    st_pass "bench_downsample.sh runs"
else
    st_fail "bench_downsample.sh runs" "$(tail -n 20 "$work/ds.err")"
fi
cat "$work/ds.out" >&2
python3 - "$work/ds.out" <<'PY' && st_pass "bench_downsample.sh prints both blocks, every row" \
    || st_fail "bench_downsample.sh prints both blocks, every row"
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"^block \S+: (\d+) series, ([\d.]+) h,", text, re.M)
assert blocks == [("2000", "6.0"), ("500", "48.0")], blocks
rows = ["decode-only, 1 thread", "5m only, 1 thread", "5m + 1h, 1 thread", "5m + 1h, 2 threads"]
for section in text.split("block ")[1:]:
    for row in rows:
        m = re.search(re.escape(row) + r"\s+([\d.]+) / [\d.]+ / [\d.]+ .*?([\d.]+)x", section)
        assert m, (row, section)
        assert float(m.group(1)) > 0 and float(m.group(2)) > 0, (row, m.groups())
    assert re.search(r"decode-only, 1 thread .* 1\.00x", section), section
    # every other row: the median of the rounds' ratios to their floor run, within its range
    for row in rows[1:]:
        m = re.search(re.escape(row) + r".*? ([\d.]+)x ([\d.]+)-([\d.]+)\s", section)
        assert m, (row, section)
        med, lo, hi = map(float, m.groups())
        assert 0 < lo <= med <= hi, (row, m.groups())
    # the cycles ratio: a figure in every row (1.00x for the floor), or "-" in every row
    # where perf cannot count
    cyc = re.findall(r"^  (?:decode|5m).*?[\d.]+x(?: [\d.]+-[\d.]+)?\s+(-|[\d.]+x)\s", section,
                     re.M)
    assert len(cyc) == 4 and (set(cyc) == {"-"} or ("-" not in cyc and cyc[0] == "1.00x")), cyc
PY

# --- compaction against Prometheus
for c in adjacent replicas; do
    if bash "$STRATA_SRC/tests/bench/compact_vs_prometheus.sh" --series 300 --case "$c" \
        --cache "$work/cache" --runs 1 >"$work/cmp-$c.out" 2>"$work/cmp-$c.err"; then
        st_pass "compact_vs_prometheus.sh --case $c runs"
    else
        st_fail "compact_vs_prometheus.sh --case $c runs" "$(tail -n 20 "$work/cmp-$c.err")"
    fi
    cat "$work/cmp-$c.out" >&2
    if grep -Eq '^ratio +[0-9.]+x faster .*byte-identical to Prometheus: yes$' "$work/cmp-$c.out"; then
        st_pass "compact_vs_prometheus.sh --case $c: ratio printed, output byte-identical"
    else
        st_fail "compact_vs_prometheus.sh --case $c: ratio printed, output byte-identical"
    fi
done

st_summary
