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

# compare_json NAME A.json B.json: equal data (results order-independent)
compare_json() {
    local out rc=0
    out="$(python3 - "$2" "$3" <<'EOF'
import json, sys
def load(p):
    j = json.load(open(p))
    if j.get("status") != "success":
        raise SystemExit("query failed in %s: %s" % (p, json.dumps(j)[:300]))
    d = j["data"]
    res = d["result"]
    if isinstance(res, list):
        res = sorted(res, key=lambda r: json.dumps(r.get("metric", {}), sort_keys=True))
    return d["resultType"], res
ta, ra = load(sys.argv[1])
tb, rb = load(sys.argv[2])
def size(r):
    if not isinstance(r, list):
        return "scalar"
    pts = sum(len(x.get("values", [])) + (1 if "value" in x else 0) for x in r)
    return "%d series, %d points" % (len(r), pts)
if (ta, ra) == (tb, rb):
    print("SAME " + size(ra))
    sys.exit(0)
print("DIFF resultType %s/%s, original %s, rewritten %s" % (ta, tb, size(ra), size(rb)))
if isinstance(ra, list) and isinstance(rb, list):
    ma = {json.dumps(x.get("metric", {}), sort_keys=True): x for x in ra}
    mb = {json.dumps(x.get("metric", {}), sort_keys=True): x for x in rb}
    for k in sorted(set(ma) - set(mb))[:3]:
        print("  only in original: " + k[:200])
    for k in sorted(set(mb) - set(ma))[:3]:
        print("  only in rewritten: " + k[:200])
    shown = 0
    for k in sorted(set(ma) & set(mb)):
        va = ma[k].get("values", [ma[k].get("value")])
        vb = mb[k].get("values", [mb[k].get("value")])
        if va != vb:
            i = next((i for i, (x, y) in enumerate(zip(va, vb)) if x != y), min(len(va), len(vb)))
            print("  %s: %d vs %d points, first difference at #%d: %s vs %s" % (
                k[:200], len(va), len(vb), i, va[i] if i < len(va) else None, vb[i] if i < len(vb) else None))
            shown += 1
            if shown == 3:
                break
sys.exit(1)
EOF
)" || rc=$?
    if [ $rc -eq 0 ]; then
        if [ "${4:-}" = nonempty ] && [[ "$out" == *"SAME 0 series"* ]]; then
            st_fail "$1" "both results are empty"
        else
            st_pass "$1 (${out#SAME })"
        fi
    else
        st_fail "$1" "$out"
    fi
}

# check_log NAME LOG ULID...: no level=error lines, each ULID found healthy
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
        st_pass "$name: log clean, $# block(s) healthy"
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
        st_fail "$set: start prometheus (original blocks)" "see above"
        return 0
    fi
    pa=$ST_PROM_PID porta=$ST_PROM_PORT loga=$ST_PROM_LOG
    if ! st_start_prometheus "$dir/new" "$dir/wb"; then
        st_fail "$set: start prometheus (rewritten blocks)" "see above"
        st_stop_pid "$pa"
        return 0
    fi
    pb=$ST_PROM_PID portb=$ST_PROM_PORT logb=$ST_PROM_LOG
    st_pass "$set: both servers ready (ports $porta, $portb)"
    check_log "$set: original" "$loga" "${orig_ids[@]}"
    check_log "$set: rewritten" "$logb" "${new_ids[@]}"

    local mint maxt s e span_h
    mint="$(st_min_time "${blocks[@]}")"
    maxt="$(st_max_time "${blocks[@]}")"
    s=$(((mint + 999) / 1000))
    e=$(((maxt - 1) / 1000))
    span_h=$(((maxt - mint) / 3600000 + 2))
    local endq
    endq="$(python3 -c "print('%d.%03d' % divmod($maxt - 1, 1000))")"

    local -a names=() urls=() flags=()
    add_range() {
        names+=("query_range $1")
        urls+=("/api/v1/query_range?query=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")&start=$s&end=$e&step=${2:-60}")
        flags+=("${3:-}")
    }
    add_instant() {
        names+=("query $1 @$2")
        urls+=("/api/v1/query?query=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")&time=$2")
        flags+=("${3:-}")
    }
    add_instant "{__name__=~\".+\"}[${span_h}h]" "$endq" nonempty
    add_instant "count({__name__=~\".+\"})" "$((s + (e - s) / 2))" nonempty
    add_range '{__name__=~".+"}' 60 nonempty
    # functions drop __name__, so they get one family each (else duplicate label sets)
    add_range 'count_over_time(http_requests_total[1m])' 60
    add_range 'timestamp(go_goroutines)' 97
    add_range 'rate(http_requests_total[5m])' 60
    add_range 'sum by (job, code) (rate(http_requests_total[5m]))' 300
    add_range 'max_over_time(go_goroutines{job=~"api|web"}[10m])' 60
    add_range '{job="api"}' 15
    add_range '{__name__=~"mixed_.*", job="edge"}' 30
    add_range 'count_over_time(mixed_dense[1m])' 60
    add_range 'timestamp(mixed_jitter)' 7
    add_range 'rate(mixed_requests_total[5m])' 60
    add_range 'deriv(mixed_tiny_delta[10m])' 60

    local i
    for i in "${!urls[@]}"; do
        if st_http GET "http://127.0.0.1:$porta${urls[$i]}" "$dir/a.json" 2>"$dir/err" &&
            st_http GET "http://127.0.0.1:$portb${urls[$i]}" "$dir/b.json" 2>"$dir/err"; then
            compare_json "$set: ${names[$i]}" "$dir/a.json" "$dir/b.json" "${flags[$i]}"
        else
            st_fail "$set: ${names[$i]}" "$(head -c 400 "$dir/err")"
        fi
    done

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
