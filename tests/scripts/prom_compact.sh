#!/usr/bin/env bash
# Makes the real Prometheus 2.42 compact the given blocks (the recipe of
# shared/reference/prometheus-anchor.md §3) and reports what it did.
#
#   prom_compact.sh WORK_DIR MAX_BLOCK_DURATION BLOCK_DIR...
#
# WORK_DIR/data gets hard links of the inputs plus two 1-sample sentinel blocks after them (so
# the planner does not hold back the newest input), Prometheus runs on 127.0.0.1 with
# --storage.tsdb.max-block-duration=MAX_BLOCK_DURATION (e.g. 6h: 3 x 2h -> one 6h block) until
# its first compaction cycle (60 s after start) has finished, then it is stopped. Prints:
#   result DIR        one line per block Prometheus wrote (sentinels excluded)
#   compaction_s S    sum of the logged compaction durations
#   peak_rss_kb K     peak RSS of the Prometheus process (/usr/bin/time -v)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

work=$1
dur=$2
shift 2
[ $# -gt 0 ] || st_die "usage: prom_compact.sh WORK_DIR MAX_BLOCK_DURATION BLOCK_DIR..."
mkdir -p "$work/data"
data="$work/data"
for b in "$@"; do
    cp -al "$b" "$data/"
done

dur_ms=$(python3 -c "
import re,sys
m=re.fullmatch(r'(\d+)([hd])','$dur')
print(int(m.group(1))*(3600000 if m.group(2)=='h' else 86400000))")
maxt=0
for b in "$@"; do
    t=$(st_max_time "$b")
    [ "$t" -gt "$maxt" ] && maxt=$t
done
boundary=$(((maxt + dur_ms - 1) / dur_ms * dur_ms))
om="$work/sentinel.om"
{
    printf 'anchor_sentinel{kind="sentinel"} 1 %s\n' "$(python3 -c "print(($boundary + 1000) / 1000)")"
    printf 'anchor_sentinel{kind="sentinel"} 1 %s\n' "$(python3 -c "print(($boundary + 7200000 + 1000) / 1000)")"
    printf '# EOF\n'
} >"$om"
"$PROMTOOL" tsdb create-blocks-from openmetrics "$om" "$data" >/dev/null
sentinels=$(for d in "$data"/*/; do
    grep -q "\"numSeries\": 1," "$d/meta.json" && [ "$(st_min_time "$d")" -gt "$maxt" ] && basename "$d"
done || true)

cfg="$work/prometheus.yml"
printf 'global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n' >"$cfg"
port=$(st_free_port)
log="$work/prometheus.log"
/usr/bin/time -v -o "$work/time.txt" "$PROMETHEUS" --config.file="$cfg" --storage.tsdb.path="$data" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.min-block-duration=2h \
    --storage.tsdb.max-block-duration="$dur" --storage.tsdb.retention.time=36500d \
    --log.level=info >"$log" 2>&1 &
timepid=$!
st_track_pid "$timepid"

# wait: at least one "compact blocks", no block being written, log quiet for 5 s
deadline=$((SECONDS + 300))
last_size=-1
quiet=0
while :; do
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$log" >&2; st_die "prometheus did not compact within 300 s"; }
    kill -0 "$timepid" 2>/dev/null || { tail -n 20 "$log" >&2; st_die "prometheus exited"; }
    if grep -q 'msg="compaction failed"' "$log"; then
        grep 'compaction failed' "$log" >&2
        st_die "prometheus compaction failed"
    fi
    size=$(stat -c %s "$log")
    if grep -q 'msg="compact blocks"' "$log" && ! ls -d "$data"/*.tmp-for-creation >/dev/null 2>&1; then
        if [ "$size" = "$last_size" ]; then quiet=$((quiet + 1)); else quiet=0; fi
        [ $quiet -ge 10 ] && break
    fi
    last_size=$size
    sleep 0.5
done
# stop prometheus (the child of time), then let time write its report
promp=$(pgrep -P "$timepid" -x prometheus || true)
[ -n "$promp" ] && kill -TERM "$promp"
wait "$timepid" 2>/dev/null || true

for d in "$data"/*/; do
    d=${d%/}
    [ -f "$d/meta.json" ] || continue
    id=$(basename "$d")
    grep -qx "$id" <<<"$sentinels" && continue
    lvl=$(python3 -c "import json;print(json.load(open('$d/meta.json'))['compaction']['level'])")
    [ "$lvl" -gt 1 ] && echo "result $d"
done
python3 - "$log" <<'PY'
import re, sys
tot = 0.0
for line in open(sys.argv[1]):
    if 'msg="compact blocks"' in line:
        m = re.search(r'duration=([0-9.]+)(ms|s|m)', line)
        if m:
            v = float(m.group(1))
            tot += {'ms': v / 1000, 's': v, 'm': v * 60}[m.group(2)]
print("compaction_s %.3f" % tot)
PY
echo "peak_rss_kb $(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
