#!/usr/bin/env bash
# The committed test blocks are intact: every file matches the sha256 recorded in
# testdata/README.md (nothing changed, missing or added), every block opens in promtool
# (`tsdb analyze`), meta.json names its own directory, and the tombstones files are what the
# README says (empty 9-byte file except in the `tombstones` set).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$PROMTOOL" python3

st_mktemp WORK
if bash "$ST_LIB_DIR/testdata_sums.sh" --check >"$WORK/sums.txt" 2>&1; then
    st_pass "sha256 of testdata files ($(tail -n1 "$WORK/sums.txt"))"
else
    st_fail "sha256 of testdata files" "$(grep -v '^ *$' "$WORK/sums.txt" | head -n 10 | tr '\n' ';')"
fi

for setdir in "$TESTDATA"/*/; do
    setdir="${setdir%/}"
    set="$(basename "$setdir")"
    mapfile -t blocks < <(st_blocks_of "$setdir")
    [ ${#blocks[@]} -gt 0 ] || st_fail "$set" "no blocks"
    for blk in "${blocks[@]+"${blocks[@]}"}"; do
        id="$(basename "$blk")"
        if "$PROMTOOL" tsdb analyze "$setdir" "$id" >"$WORK/analyze.txt" 2>&1; then
            st_pass "$set/$id: promtool tsdb analyze"
        else
            st_fail "$set/$id: promtool tsdb analyze" "$(head -c 300 "$WORK/analyze.txt")"
        fi
        [ "$(st_meta ulid "$blk")" = "$id" ] && st_pass "$set/$id: meta.json ulid" ||
            st_fail "$set/$id: meta.json ulid" "is $(st_meta ulid "$blk")"
        size="$(stat -c %s "$blk/tombstones" 2>/dev/null || echo missing)"
        if [ "$set" = tombstones ]; then
            [ "$size" != missing ] && [ "$size" -gt 9 ] && st_pass "$set/$id: tombstones non-empty ($size bytes)" ||
                st_fail "$set/$id: tombstones" "expected a non-empty tombstones file, size $size"
        else
            [ "$size" = 9 ] && st_pass "$set/$id: tombstones empty" ||
                st_fail "$set/$id: tombstones" "expected the empty 9-byte file, size $size"
        fi
    done
done

st_summary
