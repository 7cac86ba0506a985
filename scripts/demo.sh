#!/usr/bin/env bash
# Installs strata's dependencies, builds it, and runs it on a demo block from testdata/:
# `strata verify`, `strata inspect` and the first lines of `strata dump`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --build-only
cmake -S . -B build -DSTRATA_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target strata
block=$(ls -d testdata/blocks/realistic/*/ | head -n 1)
block=${block%/}
echo "== strata verify $block"
build/strata verify "$block"
echo "== strata inspect $block"
build/strata inspect "$block"
echo "== strata dump --match='{__name__=\"up\"}' $block | head"
build/strata dump --match='{__name__="up"}' "$block" | head -n 10
