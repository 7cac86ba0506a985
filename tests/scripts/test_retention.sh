#!/usr/bin/env bash
# Per-tenant retention through `strata run`: three tenants (prefix layout) with different
# raw/5m/1h retention from one tenant config file; each holds a raw, a 5m and a 1h block ending
# 2023-11-14T02:00Z. Runs with --now moved forward mark exactly the expired blocks, delete them
# after --delete-delay, and touch nothing else.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN"
st_mktemp work

cat >"$work/tenants.yaml" <<'YAML'
defaults:
  retention: {raw: 30d, 5m: 90d, 1h: 1y}
tenants:
  acme:
    retention: {raw: 3d, 5m: 20d}
  globex:
    downsampling: false
    retention: {raw: 2d}
YAML
# initech: the defaults

src=$(ls -d "$TESTDATA"/realistic/*/ | head -n 1)
declare -A id
for t in acme globex initech; do
    for res in raw 5m 1h; do
        b=$("$STRATA_BIN" rewrite --output="$work/bucket/$t" --copy-chunks "$src")
        rm -f "$b/tombstones"
        python3 - "$b/meta.json" "$t" "$res" <<'PY'
import json, sys
p, t, res = sys.argv[1:]
m = json.load(open(p))
m["thanos"] = {"labels": {"cluster": "c1", "tenant": t},
               "downsample": {"resolution": {"raw": 0, "5m": 300000, "1h": 3600000}[res]},
               "source": "sidecar", "upload_time": "2023-11-14T03:00:00Z"}
open(p, "w").write(json.dumps(m, indent="\t"))
PY
        id[$t-$res]=$(basename "$b")
    done
done

left() { # -> sorted "tenant-res" of blocks that still exist, "(marked)" when marked
    local k
    for k in "${!id[@]}"; do
        local d="$work/bucket/${k%%-*}/${id[$k]}"
        if [ -f "$d/meta.json" ]; then
            [ -f "$d/deletion-mark.json" ] && echo "$k(marked)" || echo "$k"
        fi
    done | sort | tr '\n' ' '
}
step() { # NAME NOW EXPECTED
    local name=$1 now=$2 want=$3 rc=0
    "$STRATA_BIN" run --bucket="$work/bucket" --tenant-layout=prefix \
        --tenant-config="$work/tenants.yaml" --now="$now" --data-dir="$work/data" \
        >"$work/out" 2>"$work/log" || rc=$?
    local got
    got=$(left)
    if [ $rc = 0 ] && [ "$got" = "$want" ]; then
        st_pass "$name: $got"
    else
        st_fail "$name" "exit $rc; got [$got], want [$want]; $(grep -E 'level=error' "$work/log" | head -n 2)"
    fi
}

all="acme-1h acme-5m acme-raw globex-1h globex-5m globex-raw initech-1h initech-5m initech-raw "
step "day 1: nothing expired" 2023-11-15T00:00:00Z "$all"
step "day 3: globex raw (2d) marked" 2023-11-17T00:00:00Z \
    "acme-1h acme-5m acme-raw globex-1h globex-5m globex-raw(marked) initech-1h initech-5m initech-raw "
step "day 6: globex raw deleted after the 48h delay, acme raw (3d) marked" 2023-11-20T00:00:00Z \
    "acme-1h acme-5m acme-raw(marked) globex-1h globex-5m initech-1h initech-5m initech-raw "
step "day 26: acme raw deleted, acme 5m (20d) marked" 2023-12-10T00:00:00Z \
    "acme-1h acme-5m(marked) globex-1h globex-5m initech-1h initech-5m initech-raw "
step "day 108: default raw (30d) and 5m (90d) expired for initech and globex" 2024-03-01T00:00:00Z \
    "acme-1h globex-1h globex-5m(marked) initech-1h initech-5m(marked) initech-raw(marked) "
step "two years on: all 1h (1y) marked, the rest deleted" 2025-11-20T00:00:00Z \
    "acme-1h(marked) globex-1h(marked) initech-1h(marked) "
st_summary
