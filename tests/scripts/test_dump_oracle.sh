#!/usr/bin/env bash
# Oracle: `strata dump BLOCK_DIR...` must print exactly what `promtool tsdb dump DB_DIR` prints,
# for every set in testdata/blocks (whole set, each block of a multi-block set alone, time
# windows cutting through chunks, --match selectors), and for a 10k-series realistic block
# generated during the run (skip it with STRATA_SKIP_BIG=1).
#
# promtool takes a DB dir: each case stages hard links of the blocks in a temp dir and passes
# --max-time below the newest block's maxTime (else promtool wants DIR/wal); strata gets the
# block dirs themselves.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$PROMTOOL" python3 sha256sum

st_mktemp WORK
start_s=$(date +%s)

# stage BLOCK_DIR... -> prints a fresh DB dir holding hard links (or copies) of the blocks
stage() {
    local db b
    db="$(mktemp -d "$WORK/db.XXXXXX")"
    for b in "$@"; do
        cp -al "$b" "$db/" 2>/dev/null || cp -a "$b" "$db/"
    done
    printf '%s\n' "$db"
}

case_n=0
# check NAME DB_DIR "PROMTOOL_ARGS" "STRATA_ARGS" BLOCK...   (args: newline-separated lists)
check() {
    local name="$1" db="$2" pargs="$3" sargs="$4"
    shift 4
    local -a pa=() sa=()
    [ -n "$pargs" ] && mapfile -t pa <<<"$pargs"
    [ -n "$sargs" ] && mapfile -t sa <<<"$sargs"
    case_n=$((case_n + 1))
    local exp="$WORK/c$case_n.promtool" act="$WORK/c$case_n.strata" err="$WORK/c$case_n.err"
    if ! st_promtool_dump "$db" "$exp" "${pa[@]+"${pa[@]}"}" 2>"$err"; then
        st_fail "$name" "promtool dump failed: $(head -c 400 "$err")"
        return 0
    fi
    # promtool 2.42 bug: with tombstones on a series and --min-time above the series' first
    # chunk, it can print samples *before* --min-time (tombstones.Intervals.Add overflows on
    # n.Mint-1 with Mint=MinInt64, appends the front-trim interval out of order, and the
    # deletion iterator then stops looking at it). No correct dump prints samples outside
    # [min, max], so such lines are dropped from the expected output (and reported).
    local a lo="" hi=""
    for a in "${pa[@]+"${pa[@]}"}"; do
        case "$a" in --min-time=*) lo="${a#*=}" ;; --max-time=*) hi="${a#*=}" ;; esac
    done
    if [ -n "$lo$hi" ]; then
        awk -v lo="${lo:--9e18}" -v hi="${hi:-9e18}" '$NF + 0 >= lo + 0 && $NF + 0 <= hi + 0' "$exp" >"$exp.in"
        local dropped=$(($(wc -l <"$exp") - $(wc -l <"$exp.in")))
        if [ "$dropped" -gt 0 ]; then
            st_log "NOTE $name: promtool printed $dropped samples outside [${lo:-min}, ${hi:-max}] (known promtool 2.42 tombstone/min-time bug); not expected from strata"
        fi
        mv "$exp.in" "$exp"
    fi
    local rc=0
    st_strata dump "${sa[@]+"${sa[@]}"}" "$@" >"$act" 2>"$err" || rc=$?
    if [ $rc -ne 0 ]; then
        st_fail "$name" "strata dump ${sa[*]+"${sa[*]}"} failed (exit $rc): $(head -c 400 "$err")"
        return 0
    fi
    st_compare_files "$name" "$exp" "$act" || true
    rm -f "$exp" "$act" "$err"
}

# a sample timestamp from the middle of the promtool dump of DB (for a 1 ms window)
mid_ts() {
    st_promtool_dump "$1" "$WORK/mid.dump"
    local n
    n=$(wc -l <"$WORK/mid.dump")
    sed -n "$((n / 2 + 1))p" "$WORK/mid.dump" | awk '{print $NF}'
    rm -f "$WORK/mid.dump"
}

realistic_selectors=(
    '{job="api"}'
    '{__name__=~"http_.*",code!="200"}'
    'http_requests_total{handler!~"/api/.*",method="GET"}'
    'go_goroutines{job=~"api|web"}'
    'up'
    '{device!=""}'
    '{__name__=~"node_.*|process_.*",job!~"db|cache"}'
    '{job="nonexistent"}'
)
mixed_selectors=(
    '{text="café"}'
    '{text="日本語"}'
    '{text=~".*🚀.*"}'
    '{text=~"caf."}'
    '{text=~"new.line"}'
    '{text="quote\"inside"}'
    'mixed_escapes{text=~".*\\\\.*"}'
    '{__name__=~"mixed_(utf8|escapes)",idx!="03"}'
    '{__name__=~"mixed_.*",job=""}'
    '{job="edge",pos=~"first|last"}'
    '{case!~"c.*",job="edge"}'
    '{le="+Inf"}'
    'colon:metric:name'
    '{__name__=~"mixed_special_values|mixed_huge_tiny|mixed_neg_zero"}'
)

# run_set NAME SETDIR_OR_BLOCKS...
run_set() {
    local set="$1"
    shift
    local -a blocks=("$@")
    local db mint maxt span w1a w1b mid
    db="$(stage "${blocks[@]}")"
    mint="$(st_min_time "${blocks[@]}")"
    maxt="$(st_max_time "${blocks[@]}")"
    span=$((maxt - mint))

    check "$set: full" "$db" "" "" "${blocks[@]}"
    if [ ${#blocks[@]} -gt 1 ]; then
        local b
        for b in "${blocks[@]}"; do
            check "$set: block $(basename "$b") alone" "$(stage "$b")" "" "" "$b"
        done
    fi
    # windows (closed intervals); promtool's --max-time must stay below maxTime
    w1a=$((mint + span / 3 + 7))
    w1b=$((mint + 2 * span / 3 + 11))
    check "$set: window middle third" "$db" "--min-time=$w1a"$'\n'"--max-time=$w1b" \
        "--min-time=$w1a"$'\n'"--max-time=$w1b" "${blocks[@]}"
    check "$set: window from before the start" "$db" "--min-time=$((mint - 3600000))"$'\n'"--max-time=$((mint + 60001))" \
        "--min-time=$((mint - 3600000))"$'\n'"--max-time=$((mint + 60001))" "${blocks[@]}"
    check "$set: --min-time only (last 10 min)" "$db" "--min-time=$((maxt - 600000))" \
        "--min-time=$((maxt - 600000))" "${blocks[@]}"
    check "$set: --max-time only (first 17 min)" "$db" "--max-time=$((mint + 1020000))" \
        "--max-time=$((mint + 1020000))" "${blocks[@]}"
    mid="$(mid_ts "$db")"
    check "$set: 1 ms window at a sample ($mid)" "$db" "--min-time=$mid"$'\n'"--max-time=$mid" \
        "--min-time=$mid"$'\n'"--max-time=$mid" "${blocks[@]}"
    check "$set: window between samples" "$db" "--min-time=$((mid + 1))"$'\n'"--max-time=$((mid + 1))" \
        "--min-time=$((mid + 1))"$'\n'"--max-time=$((mid + 1))" "${blocks[@]}"

    local -a sels
    if [ "$set" = mixed ]; then sels=("${mixed_selectors[@]}"); else sels=("${realistic_selectors[@]}"); fi
    local sel
    for sel in "${sels[@]}"; do
        check "$set: --match=$sel" "$db" "--match=$sel" "--match=$sel" "${blocks[@]}"
    done
    sel="${sels[0]}"
    check "$set: --match=$sel in the middle third" "$db" \
        "--match=$sel"$'\n'"--min-time=$w1a"$'\n'"--max-time=$w1b" \
        "--match=$sel"$'\n'"--min-time=$w1a"$'\n'"--max-time=$w1b" "${blocks[@]}"
}

nsets=0
for setdir in "$TESTDATA"/*/; do
    setdir="${setdir%/}"
    mapfile -t blocks < <(st_blocks_of "$setdir")
    if [ ${#blocks[@]} -eq 0 ]; then
        st_fail "$(basename "$setdir")" "no blocks in $setdir"
        continue
    fi
    nsets=$((nsets + 1))
    run_set "$(basename "$setdir")" "${blocks[@]}"
done
[ $nsets -gt 0 ] || st_fail "testdata" "no sets found in $TESTDATA"

if [ "${STRATA_SKIP_BIG:-0}" != 1 ]; then
    big="$WORK/big"
    t=$(date +%s)
    if bash "$ST_LIB_DIR/make_block.sh" --out "$big" --profile realistic --series 10000 --seed 7 \
        --start-ms 1699920000000 --hours 2 >/dev/null; then
        st_log "generated the 10k-series block in $(($(date +%s) - t)) s"
        mapfile -t blocks < <(st_blocks_of "$big")
        db="$(stage "${blocks[@]}")"
        mint="$(st_min_time "${blocks[@]}")"
        check "big10k: full" "$db" "" "" "${blocks[@]}"
        check "big10k: window" "$db" "--min-time=$((mint + 2400000))"$'\n'"--max-time=$((mint + 3000000))" \
            "--min-time=$((mint + 2400000))"$'\n'"--max-time=$((mint + 3000000))" "${blocks[@]}"
        check "big10k: --match" "$db" '--match={__name__=~"http_.*",code="500",job=~"api|db"}' \
            '--match={__name__=~"http_.*",code="500",job=~"api|db"}' "${blocks[@]}"
        rm -rf "$big" "$db"
    else
        st_fail "big10k" "could not generate the 10k-series block"
    fi
fi

st_log "test_dump_oracle: $(($(date +%s) - start_s)) s"
st_summary
