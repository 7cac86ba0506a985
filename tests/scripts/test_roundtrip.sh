#!/usr/bin/env bash
# Oracle: `strata rewrite --output=DIR BLOCK` on every testdata block must give DIR/<new ULID>/
# whose index and chunks/* are byte-identical to the input (Prometheus' writer is
# deterministic and strata follows it), whose tombstones carry the same intervals, whose
# meta.json agrees with the input (times, stats, version 1, ulid = dir name), which
# `promtool tsdb analyze` reads, and whose `promtool tsdb dump` equals the input's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$PROMTOOL" python3 cmp

st_mktemp WORK
start_s=$(date +%s)

# Decoded tombstone intervals (sorted) of a block, or an error message on a bad file.
tombstones_of() {
    python3 - "$1" <<'EOF'
import struct, sys
p = sys.argv[1]
try:
    b = open(p, "rb").read()
except FileNotFoundError:
    print("(no tombstones file)")
    sys.exit(0)
if len(b) < 9 or b[:4] != b"\x01\x30\xba\x30" or b[4] != 1:
    sys.exit("bad tombstones header in %s" % p)
body = b[5:-4]
def uv(i):
    x = s = 0
    while True:
        c = body[i]; i += 1
        x |= (c & 0x7F) << s; s += 7
        if c < 0x80:
            return x, i
def v(i):
    u, i = uv(i)
    return (u >> 1) ^ -(u & 1), i
out, i = [], 0
while i < len(body):
    r, i = uv(i); a, i = v(i); z, i = v(i)
    out.append((r, a, z))
for e in sorted(out):
    print("%d %d %d" % e)
EOF
}

# Compares the facts of two meta.json files; prints the differences.
meta_diff() {
    python3 - "$1" "$2" <<'EOF'
import json, os, sys
a, b = json.load(open(sys.argv[1] + "/meta.json")), json.load(open(sys.argv[2] + "/meta.json"))
bad = []
if b.get("ulid") != os.path.basename(sys.argv[2].rstrip("/")):
    bad.append("ulid %r != dir name" % b.get("ulid"))
if b.get("version") != 1:
    bad.append("version %r" % b.get("version"))
for k in ("minTime", "maxTime"):
    if a.get(k) != b.get(k):
        bad.append("%s %r != input %r" % (k, b.get(k), a.get(k)))
for k in ("numSamples", "numSeries", "numChunks", "numTombstones"):
    if a.get("stats", {}).get(k, 0) != b.get("stats", {}).get(k, 0):
        bad.append("stats.%s %r != input %r" % (k, b.get("stats", {}).get(k, 0), a.get("stats", {}).get(k, 0)))
print("; ".join(bad))
EOF
}

nblocks=0
for setdir in "$TESTDATA"/*/; do
    setdir="${setdir%/}"
    set="$(basename "$setdir")"
    mapfile -t set_blocks < <(st_blocks_of "$setdir")
    for blk in "${set_blocks[@]+"${set_blocks[@]}"}"; do
        nblocks=$((nblocks + 1))
        id="$(basename "$blk")"
        name="$set/$id"
        out="$WORK/out-$id"
        mkdir -p "$out"
        rc=0
        st_strata rewrite --output="$out" "$blk" >"$WORK/rw.log" 2>&1 || rc=$?
        if [ $rc -ne 0 ]; then
            st_fail "$name: rewrite" "strata rewrite failed (exit $rc): $(head -c 400 "$WORK/rw.log")"
            continue
        fi
        mapfile -t outs < <(st_blocks_of "$out")
        if [ ${#outs[@]} -ne 1 ]; then
            st_fail "$name: rewrite" "expected one block dir in $out, found ${#outs[@]}: $(ls -A "$out" | tr '\n' ' ')"
            continue
        fi
        nb="${outs[0]}"
        leftovers="$(ls -A "$out" | grep -v "^$(basename "$nb")\$" || true)"
        if [ -n "$leftovers" ]; then
            st_fail "$name: rewrite" "left other entries in the output dir: $leftovers"
        fi
        if [ "$(basename "$nb")" = "$id" ]; then
            st_fail "$name: new ULID" "output block has the input's ULID"
        fi

        # byte-identical index and chunk segments
        if cmp "$blk/index" "$nb/index" >"$WORK/cmp.txt" 2>&1; then
            st_pass "$name: index byte-identical ($(stat -c %s "$blk/index") bytes)"
        else
            st_fail "$name: index byte-identical" "$(head -c 300 "$WORK/cmp.txt"); sizes $(stat -c %s "$blk/index") vs $(stat -c %s "$nb/index" 2>/dev/null || echo missing)"
        fi
        in_segs="$(cd "$blk/chunks" && ls | xargs)"
        out_segs="$( (cd "$nb/chunks" 2>/dev/null && ls) | xargs)"
        if [ "$in_segs" != "$out_segs" ]; then
            st_fail "$name: chunk segments" "segment files differ: input [$in_segs] output [$out_segs]"
        else
            ok=1
            for seg in $in_segs; do
                if ! cmp "$blk/chunks/$seg" "$nb/chunks/$seg" >"$WORK/cmp.txt" 2>&1; then
                    ok=0
                    st_fail "$name: chunks/$seg byte-identical" "$(head -c 300 "$WORK/cmp.txt")"
                fi
            done
            [ $ok -eq 1 ] && st_pass "$name: chunks byte-identical ($in_segs)"
        fi

        # tombstones: same intervals (the entry order of the file is Go map order)
        tin="$(tombstones_of "$blk/tombstones" 2>&1)" || true
        tout="$(tombstones_of "$nb/tombstones" 2>&1)" || true
        if [ "$tin" = "$tout" ]; then
            st_pass "$name: tombstones ($(printf '%s' "$tin" | grep -c . || true) intervals)"
        else
            st_fail "$name: tombstones" "intervals differ: input has $(printf '%s' "$tin" | grep -c . || true), output has $(printf '%s' "$tout" | grep -c . || true): $(diff <(echo "$tin") <(echo "$tout") | head -4 | tr '\n' ';')"
        fi

        d="$(meta_diff "$blk" "$nb" 2>&1)"
        if [ -z "$d" ]; then st_pass "$name: meta.json"; else st_fail "$name: meta.json" "$d"; fi

        if "$PROMTOOL" tsdb analyze "$out" "$(basename "$nb")" >"$WORK/analyze.txt" 2>&1; then
            st_pass "$name: promtool tsdb analyze"
        else
            st_fail "$name: promtool tsdb analyze" "$(head -c 400 "$WORK/analyze.txt")"
        fi

        db="$(mktemp -d "$WORK/db.XXXXXX")"
        cp -al "$blk" "$db/" 2>/dev/null || cp -a "$blk" "$db/"
        if st_promtool_dump "$db" "$WORK/in.dump" 2>"$WORK/err" &&
            st_promtool_dump "$out" "$WORK/out.dump" --max-time=$(($(st_meta maxTime "$blk") - 1)) 2>"$WORK/err"; then
            st_compare_files "$name: promtool dump of output == of input" "$WORK/in.dump" "$WORK/out.dump" || true
        else
            st_fail "$name: promtool dump" "$(head -c 400 "$WORK/err")"
        fi
        rm -rf "$db" "$out" "$WORK/in.dump" "$WORK/out.dump"
    done
done
[ $nblocks -gt 0 ] || st_fail "testdata" "no blocks found in $TESTDATA"

st_log "test_roundtrip: $nblocks blocks, $(($(date +%s) - start_s)) s"
st_summary
