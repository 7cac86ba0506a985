#!/usr/bin/env bash
# `strata compact` against the real Prometheus 2.42 compactor and promtool:
#   1. adjacent blocks (testdata, and a 10k-series 3 x 2h set made now): index and chunks/*
#      byte-identical to what Prometheus writes from the same blocks;
#   2. overlapping blocks (testdata/overlap): Prometheus merges the overlapping three, then adds
#      the fourth; strata's two-step result is byte-identical;
#   3. HA replicas (5 s apart, one with a 20-minute outage): with dedup "" the dump of the
#      output equals promtool's merged dump of the inputs; with penalty every output sample is
#      an input sample, gaps stay within the dedup rule, and the replica label is gone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN"

st_mktemp work

identical() { # NAME PROM_BLOCK STRATA_BLOCK
    local name=$1 p=$2 s=$3 f ok=1
    cmp -s "$p/index" "$s/index" || { st_fail "$name: index" "differs from Prometheus' ($(stat -c %s "$p/index") vs $(stat -c %s "$s/index") bytes)"; ok=0; }
    if [ "$(ls "$p/chunks")" != "$(ls "$s/chunks")" ]; then
        st_fail "$name: segments" "Prometheus wrote $(ls "$p/chunks" | tr '\n' ' '), strata $(ls "$s/chunks" | tr '\n' ' ')"
        ok=0
    fi
    for f in "$p"/chunks/*; do
        cmp -s "$f" "$s/chunks/$(basename "$f")" || { st_fail "$name: chunks/$(basename "$f")" "differs"; ok=0; }
    done
    [ $ok = 1 ] && st_pass "$name: index and chunks byte-identical to Prometheus ($(stat -c %s "$s/index") + $(du -cb "$s"/chunks/* | tail -1 | cut -f1) bytes)"
    return 0
}

prom() { # WORK BLOCK... -> prints the result block dirs
    bash "$ST_LIB_DIR/prom_compact.sh" "$@" | awk '/^result/ {print $2}'
}

# ---- 1a. testdata/adjacent -------------------------------------------------------------------
adj=("$TESTDATA"/adjacent/*/)
p=$(prom "$work/p-adj" 6h "${adj[@]}")
s=$("$STRATA_BIN" compact --output="$work/s-adj" "${adj[@]}")
identical "adjacent testdata (3 x 2h, 100 series)" "$p" "$s"

# ---- 1b. 10k series, 3 x 2h, made now ----------------------------------------------------------
mkdir -p "$work/gen10k"
st_make_set "$work/gen10k" --profile realistic --series 10000 --hours 6 --seed 7 >/dev/null
gen=("$work"/gen10k/*/)
[ ${#gen[@]} -eq 3 ] || st_die "expected 3 generated blocks, got ${#gen[@]}"
p=$(prom "$work/p-10k" 6h "${gen[@]}")
s=$("$STRATA_BIN" compact --output="$work/s-10k" "${gen[@]}")
identical "adjacent 10k series (3 x 2h)" "$p" "$s"

# ---- 2. overlapping testdata: Prometheus' two steps, reproduced ----------------------------------
ov=("$TESTDATA"/overlap/*/)
pov=$(prom "$work/p-ov" 6h "${ov[@]}")
log="$work/p-ov/prometheus.log"
first=$(grep 'msg="compact blocks"' "$log" | head -n 1 | sed -E 's/.*sources="\[([^]]*)\]".*/\1/')
[ "$(grep -c 'msg="compact blocks"' "$log")" -eq 2 ] || st_die "expected Prometheus to compact the overlap set in 2 steps"
step1=()
for id in $first; do step1+=("$TESTDATA/overlap/$id"); done
rest=()
for b in "${ov[@]}"; do
    grep -qw "$(basename "$b")" <<<"$first" || rest+=("$b")
done
v=$("$STRATA_BIN" compact --output="$work/s-ov1" "${step1[@]}")
s=$("$STRATA_BIN" compact --output="$work/s-ov2" "$v" "${rest[@]}")
identical "overlapping testdata (vertical, then horizontal)" "$pov" "$s"

# ---- 3. HA replicas ------------------------------------------------------------------------------
thanos_labels() { # BLOCK_DIR REPLICA
    python3 - "$1/meta.json" "$2" <<'PY'
import json, sys
p, r = sys.argv[1], sys.argv[2]
m = json.load(open(p))
m["thanos"] = {"labels": {"cluster": "c1", "replica": r}, "downsample": {"resolution": 0},
               "source": "sidecar"}
open(p, "w").write(json.dumps(m, indent="\t"))
PY
}
mkdir -p "$work/ra" "$work/rb" "$work/ha-db"
st_make_set "$work/ra" --profile realistic --series 1000 --hours 2 --seed 11 --gap 20:40 >/dev/null
st_make_set "$work/rb" --profile realistic --series 1000 --hours 2 --seed 11 --ts-offset-ms 5000 >/dev/null
ra=$(ls -d "$work"/ra/*/ | head -n 1)
rb=$(ls -d "$work"/rb/*/ | head -n 1)
thanos_labels "$ra" a
thanos_labels "$rb" b
cp -al "$ra" "$rb" "$work/ha-db/"
st_promtool_dump "$work/ha-db" "$work/ha-in.txt"

s=$("$STRATA_BIN" compact --output="$work/s-ha" --deduplication.replica-label=replica "$ra" "$rb")
"$STRATA_BIN" dump "$s" >"$work/ha-out.txt"
st_compare_files "HA replicas, dedup \"\": output dump equals the merged input dump" "$work/ha-in.txt" "$work/ha-out.txt"

s=$("$STRATA_BIN" compact --output="$work/s-hap" --deduplication.replica-label=replica \
    --deduplication.func=penalty "$ra" "$rb")
"$STRATA_BIN" dump "$s" >"$work/hap-out.txt"
if out=$(python3 - "$work/ha-in.txt" "$work/hap-out.txt" "$s/meta.json" <<'PY'
import json, sys
inputs = set()
for line in open(sys.argv[1]):
    inputs.add(line)
series = {}
bad = 0
for line in open(sys.argv[2]):
    if line not in inputs:
        bad += 1
    lbl, v, t = line.rsplit(" ", 2)
    series.setdefault(lbl, []).append(int(t))
if bad:
    sys.exit("%d output samples are not input samples" % bad)
interval = 15000
worst = 0
for lbl, ts in series.items():
    for a, b in zip(ts, ts[1:]):
        worst = max(worst, b - a)
# one replica always has data: the output may only skip the penalty window after a switch
if worst > 3 * interval:
    sys.exit("largest gap %d ms exceeds 3 x the scrape interval" % worst)
total_in = sum(1 for _ in open(sys.argv[1]))
total_out = sum(len(v) for v in series.values())
if not (total_out < total_in * 0.6):
    sys.exit("penalty kept %d of %d samples: replicas were not deduplicated" % (total_out, total_in))
labels = json.load(open(sys.argv[3]))["thanos"]["labels"]
if labels != {"cluster": "c1"}:
    sys.exit("output external labels %r still name the replica" % labels)
print("%d series, %d of %d samples kept, largest gap %d ms" % (len(series), total_out, total_in, worst))
PY
); then
    st_pass "HA replicas, penalty: $out"
else
    st_fail "HA replicas, penalty" "$out"
fi

st_summary
