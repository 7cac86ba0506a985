#!/usr/bin/env bash
# Builds real Prometheus blocks with promtool from generated OpenMetrics text.
#
#   make_block.sh --out DIR [--series N] [--start-ms MS] [--hours H] [--interval-s S]
#                 [--profile mixed|realistic] [--seed N] [--ts-offset-ms MS]
#                 [--label-value-prefix P]
#
# Generates the text with gen_openmetrics.py into a temp file, runs
# `promtool tsdb create-blocks-from openmetrics -q TEXT DIR`, deletes the text and prints
# the ULIDs of the new blocks (one per line) on stdout. promtool cuts blocks on the 2h grid,
# so a window spanning several 2h ranges gives several blocks; each block's meta.json has
# minTime = first sample, maxTime = last sample + 1 (not aligned). DIR may already hold
# blocks; they are left alone.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
PROMTOOL="${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}"

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

out=""
gen_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --series | --start-ms | --hours | --interval-s | --profile | --seed | --ts-offset-ms | --label-value-prefix | --gap)
        [ $# -ge 2 ] || usage
        gen_args+=("$1" "$2"); shift 2 ;;
    --series=* | --start-ms=* | --hours=* | --interval-s=* | --profile=* | --seed=* | --ts-offset-ms=* | --label-value-prefix=* | --gap=*)
        gen_args+=("$1"); shift ;;
    -h | --help) usage ;;
    *) echo "make_block.sh: unknown argument: $1" >&2; usage ;;
    esac
done
[ -n "$out" ] || usage

mkdir -p "$out"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/strata-mkblock.XXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT

python3 "$here/gen_openmetrics.py" "${gen_args[@]+"${gen_args[@]}"}" -o "$tmp/input.om"

before="$(ls -1 "$out")"
if ! "$PROMTOOL" tsdb create-blocks-from openmetrics -q "$tmp/input.om" "$out" >"$tmp/promtool.log" 2>&1; then
    echo "make_block.sh: promtool failed:" >&2
    cat "$tmp/promtool.log" >&2
    exit 1
fi
rm -f "$tmp/input.om"

# new block dirs, oldest minTime first (ULIDs are random within the same millisecond)
python3 - "$out" "$before" <<'EOF'
import json, os, sys
out, before = sys.argv[1], set(sys.argv[2].split("\n"))
new = []
for d in os.listdir(out):
    p = os.path.join(out, d, "meta.json")
    if d not in before and os.path.isfile(p):
        new.append((json.load(open(p))["minTime"], d))
for _, d in sorted(new):
    print(d)
EOF
