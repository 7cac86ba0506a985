#!/usr/bin/env bash
# Oracle: blocks rewritten by `strata rewrite` must load in the real Prometheus server and
# answer queries exactly as the original promtool/Prometheus blocks do.
#
# Per testdata set: data dir A = copies of the original blocks, data dir B = the same blocks
# passed through `strata rewrite --output=B`. One Prometheus per dir on 127.0.0.1 (free
# ports, no scrape targets, long retention); checks: ready, no error in the log, every block
# reported as "Found healthy block", data visible; then the same query_range and instant
# queries (raw samples via a range selector, rate/sum/count_over_time/timestamp) on both,
# whose JSON results must be equal. Both servers are stopped after each set (and by the EXIT
# trap on any failure); only the PIDs started here are signalled.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$PROMETHEUS" "$PROMTOOL" python3

st_mktemp WORK
start_s=$(date +%s)

# check_log NAME LOG ULID...: no level=error lines, each ULID listed ("Found healthy block"
# only means the index version is fine; the queries below are the real check)
check_log() {
    local name="$1" log="$2" u missing=""
    shift 2
    for u in "$@"; do
        grep -q "msg=\"Found healthy block\".*ulid=$u" "$log" || missing="$missing $u"
    done
    if grep -q 'level=error' "$log"; then
        st_fail "$name: log" "errors in $log: $(grep 'level=error' "$log" | head -3)"
    elif [ -n "$missing" ]; then
        st_fail "$name: log" "no 'Found healthy block' for:$missing"
    else
        st_pass "$name: log clean, $# block(s) opened"
    fi
}

run_set() {
    local set="$1"
    shift
    local -a blocks=("$@")
    local dir="$WORK/$set" blk rc=0
    mkdir -p "$dir/orig" "$dir/new"
    for blk in "${blocks[@]}"; do
        cp -a "$blk" "$dir/orig/"
        st_strata rewrite --output="$dir/new" "$blk" >"$dir/rewrite.log" 2>&1 || rc=$?
        if [ $rc -ne 0 ]; then
            st_fail "$set: rewrite $(basename "$blk")" "strata rewrite failed (exit $rc): $(head -c 400 "$dir/rewrite.log")"
            return 0
        fi
    done
    local -a new_ids orig_ids
    mapfile -t orig_ids < <(st_blocks_of "$dir/orig" | xargs -n1 basename)
    mapfile -t new_ids < <(st_blocks_of "$dir/new" | xargs -n1 basename)
    if [ ${#new_ids[@]} -ne ${#blocks[@]} ]; then
        st_fail "$set: rewrite" "expected ${#blocks[@]} blocks in $dir/new, found ${#new_ids[@]}"
        return 0
    fi

    local pa pb porta portb loga logb
    mkdir -p "$dir/wa" "$dir/wb"
    if ! st_start_prometheus "$dir/orig" "$dir/wa"; then
        st_fail "$set: start prometheus (original blocks)" "$(grep 'level=error' "$ST_PROM_LOG" | head -2 | cut -c1-600)"
        return 0
    fi
    pa=$ST_PROM_PID porta=$ST_PROM_PORT loga=$ST_PROM_LOG
    if ! st_start_prometheus "$dir/new" "$dir/wb"; then
        st_fail "$set: start prometheus (rewritten blocks)" "$(grep 'level=error' "$ST_PROM_LOG" | head -2 | cut -c1-600)"
        st_stop_pid "$pa"
        return 0
    fi
    pb=$ST_PROM_PID portb=$ST_PROM_PORT logb=$ST_PROM_LOG
    st_pass "$set: both servers ready (ports $porta, $portb)"
    check_log "$set: original" "$loga" "${orig_ids[@]}"
    check_log "$set: rewritten" "$logb" "${new_ids[@]}"

    local mint maxt
    mint="$(st_min_time "${blocks[@]}")"
    maxt="$(st_max_time "${blocks[@]}")"
    python3 - "$mint" "$maxt" "$dir/queries.json" <<'EOF'
import json, sys
mint, maxt, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s, e = (mint + 999) // 1000, (maxt - 1) // 1000     # whole seconds inside the block range
end_exact = "%d.%03d" % divmod(maxt - 1, 1000)      # the newest sample's time, to the ms
span_h = (maxt - mint) // 3600000 + 2
qs = []
def inst(q, t, nonempty=False):
    qs.append({"name": "query %s @%s" % (q, t), "path": "/api/v1/query",
               "params": {"query": q, "time": t}, "nonempty": nonempty})
def rng(q, step=60, nonempty=False):
    qs.append({"name": "query_range %s step %ds" % (q, step), "path": "/api/v1/query_range",
               "params": {"query": q, "start": s, "end": e, "step": step}, "nonempty": nonempty})
# every raw sample (a range selector over the whole block range), then counts and series
inst('{__name__=~".+"}[%dh]' % span_h, end_exact, True)
inst('count({__name__=~".+"})', (s + e) // 2, True)
rng('{__name__=~".+"}', 60, True)
# functions drop __name__, so each gets one family (else: duplicate label sets)
rng('count_over_time(http_requests_total[1m])')
rng('timestamp(go_goroutines)', 97)
rng('rate(http_requests_total[5m])')
rng('sum by (job, code) (rate(http_requests_total[5m]))', 300)
rng('max_over_time(go_goroutines{job=~"api|web"}[10m])')
rng('{job="api"}', 15)
rng('{__name__=~"mixed_.*", job="edge"}', 30)
rng('count_over_time(mixed_dense[1m])')
rng('timestamp(mixed_jitter)', 7)
rng('rate(mixed_requests_total[5m])')
rng('deriv(mixed_tiny_delta[10m])')
json.dump(qs, open(out, "w"))
EOF
    local line nq before=$((ST_PASSED + ST_FAILED))
    nq="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$dir/queries.json")"
    while IFS= read -r line; do
        case "$line" in
        "PASS "*) st_pass "$set: ${line#PASS }" ;;
        "FAIL "*) st_fail "$set: ${line#FAIL }" ;;
        *) printf '%s\n' "$line" ;;
        esac
    done < <(python3 "$ST_LIB_DIR/prom_compare.py" "$porta" "$portb" "$dir/queries.json" 2>&1 || true)
    if [ $((ST_PASSED + ST_FAILED - before)) -ne "$nq" ]; then
        st_fail "$set: queries" "prom_compare.py reported $((ST_PASSED + ST_FAILED - before)) of $nq queries"
    fi

    st_stop_pid "$pa"
    st_stop_pid "$pb"
    if grep -q 'level=error' "$loga" "$logb"; then
        st_fail "$set: shutdown" "errors logged: $(grep -h 'level=error' "$loga" "$logb" | head -3)"
    fi
    rm -rf "$dir"
}

nsets=0
for setdir in "$TESTDATA"/*/; do
    setdir="${setdir%/}"
    mapfile -t blocks < <(st_blocks_of "$setdir")
    [ ${#blocks[@]} -gt 0 ] || continue
    nsets=$((nsets + 1))
    run_set "$(basename "$setdir")" "${blocks[@]}"
done
[ $nsets -gt 0 ] || st_fail "testdata" "no sets found in $TESTDATA"

st_log "test_prometheus_query: $(($(date +%s) - start_s)) s"
st_summary
