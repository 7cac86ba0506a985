#!/usr/bin/env bash
# Installs strata's dependencies, builds it, makes a demo bucket (a local directory) holding
# the 2h blocks of two HA Prometheus replicas made by promtool, and runs the batch job on it:
# `strata plan` (what will happen), `strata run` (do it), `strata inspect` (the result).
#   scripts/demo.sh [DIR]     (default: ./demo; rebuilt from scratch each time)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo=${1:-$root/demo}

bash scripts/deps.sh --demo # build dependencies, and promtool to make the demo blocks
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" --target strata >/dev/null
strata=$root/build/strata

rm -rf "$demo"
mkdir -p "$demo/bucket" "$demo/tmp"
echo "== making the demo bucket $demo/bucket: 2 replicas x 3 two-hour blocks, 300 series each"
for r in a b; do
    off=0
    [ $r = b ] && off=5000
    mkdir -p "$demo/tmp/$r"
    bash tests/scripts/make_block.sh --out "$demo/tmp/$r" --profile realistic --series 300 \
        --hours 6 --seed 1 --ts-offset-ms $off >/dev/null
    for d in "$demo/tmp/$r"/*/; do
        python3 - "$d/meta.json" "$r" <<'PY'
import json, sys
p, r = sys.argv[1], sys.argv[2]
m = json.load(open(p))
m["thanos"] = {"labels": {"cluster": "demo", "replica": r}, "downsample": {"resolution": 0},
               "source": "sidecar"}
open(p, "w").write(json.dumps(m, indent="\t"))
PY
        rm -f "$d/tombstones"
        mv "$d" "$demo/bucket/"
    done
done
rm -rf "$demo/tmp"
flags=(--bucket="$demo/bucket" --data-dir="$demo/data" --deduplication.replica-label=replica
    --consistency-delay=0s)

echo "== strata plan"
"$strata" plan "${flags[@]}" 2>/dev/null
echo "== strata run"
"$strata" run "${flags[@]}" --deduplication.func=penalty
echo "== strata inspect --bucket"
"$strata" inspect --bucket="$demo/bucket"
