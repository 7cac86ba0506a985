#!/usr/bin/env bash
# `strata downsample` on generated blocks (mixed and realistic profiles, 2h blocks compacted into
# one 14h block so series get several 5m chunks), checked against the raw data:
#   1. 5m and 1h from one read; every output passes `strata verify` and `promtool tsdb analyze`;
#   2. the same bytes as 5m first, then 1h from that 5m block; and on 1 or 2 threads;
#   3. every 5m window's count, sum, min and max equal the raw samples of that window (exactly:
#      same order of additions, Go's comparisons);
#   4. 5m -> 1h (of the strata 5m block) equals 1h straight from raw, hour by hour: count, min
#      and max exactly, sum to 1e-12 (the additions are grouped differently);
#   5. rate over a downsampled counter: reading the counter aggregate as Thanos' querier does
#      (ApplyCounterResetsSeriesIterator), the increase between any two window stamps equals the
#      raw increase over the same span, resets included, at 5m and at 1h;
#   6. `dump --aggregate` refuses raw blocks; raw `dump` names --aggregate on downsampled ones.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN" "$PROMTOOL" python3

st_mktemp work

make_14h() { # NAME PROFILE SERIES -> prints the compacted block dir
    local name=$1 profile=$2 series=$3
    mkdir -p "$work/$name-2h"
    st_make_set "$work/$name-2h" --profile "$profile" --series "$series" --hours 14 --seed 11 >/dev/null
    "$STRATA_BIN" compact --output="$work/$name-raw" "$work/$name-2h"/*/ 2>/dev/null
}

check_block() { # NAME BLOCK
    local name=$1 b=$2 out db
    if out=$("$STRATA_BIN" verify "$b" 2>&1); then
        st_pass "$name: strata verify ($out)"
    else
        st_fail "$name: strata verify" "$out"
    fi
    db="$work/analyze-$(basename "$b")"
    mkdir -p "$db"
    cp -al "$b" "$db/"
    if out=$("$PROMTOOL" tsdb analyze "$db" "$(basename "$b")" 2>&1); then
        local want got
        want=$(st_meta stats.numSeries "$b")
        got=$(awk '/^Series:/ {print $2}' <<<"$out")
        if [ "$got" = "$want" ]; then
            st_pass "$name: promtool tsdb analyze reads the index ($got series)"
        else
            st_fail "$name: promtool tsdb analyze" "reports $got series, meta says $want"
        fi
    else
        st_fail "$name: promtool tsdb analyze" "$(tail -n 3 <<<"$out")"
    fi
}

same_data() { # NAME A B
    local name=$1 a=$2 b=$3 ok=1 f
    cmp -s "$a/index" "$b/index" || ok=0
    [ "$(ls "$a/chunks")" = "$(ls "$b/chunks")" ] || ok=0
    for f in "$a"/chunks/*; do
        cmp -s "$f" "$b/chunks/$(basename "$f")" || ok=0
    done
    if [ $ok = 1 ]; then st_pass "$name"; else st_fail "$name" "$a and $b differ"; fi
}

dump_all() { # BLOCK OUT_PREFIX: raw dump, or the five aggregates
    local b=$1 p=$2 a
    for a in count sum min max counter; do
        "$STRATA_BIN" dump --aggregate=$a "$b" >"$p.$a"
    done
}

# the checker for 3-5: dumps of the raw block and of the aggregates (see the header)
cat >"$work/check.py" <<'EOF'
import math, re, sys
from collections import defaultdict

p = sys.argv[1]
LINE = re.compile(r'^(\{.*\}) (\S+) (-?\d+)$')
MAXF = 1.7976931348623157e308

def load(path):
    out = defaultdict(list)
    for line in open(path, encoding="utf-8"):
        m = LINE.match(line.rstrip("\n"))
        if not m:
            raise SystemExit("bad dump line in %s: %r" % (path, line[:200]))
        out[m.group(1)].append((int(m.group(3)), float(m.group(2))))
    return out

def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))

raw = load(p + ".raw")
agg = {lvl: {a: load("%s.%s.%s" % (p, lvl, a)) for a in ("count", "sum", "min", "max", "counter")}
       for lvl in ("m5", "h1", "d1")}
problems = []
def problem(msg):
    if len(problems) < 20:
        problems.append(msg)
    else:
        problems.append(None)

def window_end(t, r):
    return t - t % r + r - 1

# 3. every 5m window against the raw samples of that window (NaNs dropped)
nwin = 0
for s, samples in raw.items():
    wins = {}
    order = []
    for t, v in samples:
        if math.isnan(v):
            continue
        e = window_end(t, 300000)
        if e not in wins:
            wins[e] = [0, 0.0, MAXF, -MAXF]
            order.append(e)
        w = wins[e]
        w[0] += 1
        w[1] += v
        if v < w[2]:
            w[2] = v
        if v > w[3]:
            w[3] = v
    got = {a: agg["m5"][a].get(s, []) for a in ("count", "sum", "min", "max")}
    if len(got["count"]) != len(order):
        problem("%s: %d 5m windows, raw has %d" % (s, len(got["count"]), len(order)))
        continue
    for i, e in enumerate(order):
        nwin += 1
        t = got["count"][i][0]
        if window_end(t, 300000) != e or t > e:
            problem("%s: window %d stamped %d, not in window ending %d" % (s, i, t, e))
            break
        want = wins[e]
        for k, a in enumerate(("count", "sum", "min", "max")):
            gt, gv = got[a][i]
            if gt != t or not same(float(want[k]), gv):
                problem("%s: 5m %s at %d is %r, raw says %r" % (s, a, t, gv, want[k]))
                break
print("5m windows checked against raw: %d" % nwin)

# 4. 5m -> 1h equals raw -> 1h, hour by hour
def hourly(level, s):
    h = {}
    for i, (t, c) in enumerate(agg[level]["count"].get(s, [])):
        e = window_end(t, 3600000)
        x = h.setdefault(e, [0.0, 0.0, MAXF, -MAXF, 0.0])
        x[0] += c
        sv = agg[level]["sum"][s][i][1]
        x[1] += sv
        x[4] += abs(sv)
        x[2] = min(x[2], agg[level]["min"][s][i][1])
        x[3] = max(x[3], agg[level]["max"][s][i][1])
    return h
nh = 0
for s in set(agg["h1"]["count"]) | set(agg["d1"]["count"]):
    a, b = hourly("h1", s), hourly("d1", s)
    if sorted(a) != sorted(b):
        problem("%s: 5m->1h hours %s, raw->1h hours %s" % (s, sorted(a)[:3], sorted(b)[:3]))
        continue
    for e in a:
        nh += 1
        x, y = a[e], b[e]
        tol = 1e-12 * max(1.0, x[4], y[4])
        ok_sum = same(x[1], y[1]) or (math.isfinite(x[1]) and math.isfinite(y[1]) and abs(x[1] - y[1]) <= tol)
        if x[0] != y[0] or not ok_sum or not same(x[2], y[2]) or not same(x[3], y[3]):
            problem("%s: hour %d: 5m->1h %r, raw->1h %r" % (s, e, x[:4], y[:4]))
print("hours compared (5m->1h vs raw->1h): %d" % nh)

# 5. counter increase, read as the querier reads it, against the raw increase
def read_counter(stored):
    out, started, lt, lv, total = [], False, 0, 0.0, 0.0
    for t, v in stored:
        if math.isnan(v):
            continue
        if not started:
            started, total = True, v
        elif t > lt:
            total += v - lv if v >= lv else v
        else:
            if t == lt:
                lv = v
            continue
        lt, lv = t, v
        out.append((t, total))
    return out

def raw_totals(samples):
    out, started, last, total, mag = [], False, 0.0, 0.0, 0.0
    for t, v in samples:
        if math.isnan(v):
            continue
        if not started:
            started, total = True, v
        else:
            total += v if v < last else v - last
        mag += abs(v)
        last = v
        out.append((t, total, mag))
    return out

checked = skipped = 0
for level in ("m5", "h1"):
    for s, samples in raw.items():
        vals = [v for _, v in samples if not math.isnan(v)]
        if not vals:
            continue
        if any(math.isinf(v) or abs(v) > 1e15 or v < 0 for v in vals):
            # counters are finite and never negative: a negative value added on a "reset" makes
            # the stored running counter go down, which the reader takes as another reset
            skipped += 1
            continue
        rt = raw_totals(samples)
        got = read_counter(agg[level]["counter"].get(s, []))
        j = 0
        prev = None
        for t, total in got:
            while j + 1 < len(rt) and rt[j + 1][0] <= t:
                j += 1
            want, mag = rt[j][1], rt[j][2]
            if prev is not None:
                inc, winc = total - prev[0], want - prev[1]
                if abs(inc - winc) > 1e-9 * max(1.0, mag):
                    problem("%s %s: increase to %d is %r, raw %r" % (level, s, t, inc, winc))
                    break
                checked += 1
            if abs(total - want) > 1e-9 * max(1.0, mag):
                problem("%s %s: counter total at %d is %r, raw %r" % (level, s, t, total, want))
                break
            prev = (total, want)
print("counter increases checked: %d (series with negative, infinite or |v| > 1e15 values skipped: %d)" % (checked, skipped))
if problems:
    for m in problems:
        if m is None:
            print("... more problems")
            break
        print("PROBLEM", m)
    sys.exit(1)
EOF

for set in "mixed 150" "realistic 300"; do
    read -r profile series <<<"$set"
    raw=$(make_14h "$profile" "$profile" "$series")
    [ -d "$raw" ] || st_die "no compacted $profile block"

    # 1. one read, two resolutions
    mapfile -t both < <("$STRATA_BIN" downsample --resolution=5m,1h --output="$work/$profile-both" \
        --threads=2 --verify "$raw" 2>"$work/$profile-both.log")
    if [ ${#both[@]} -eq 2 ] && [ "$(st_meta thanos.downsample.resolution "${both[0]}")" = 300000 ] &&
        [ "$(st_meta thanos.downsample.resolution "${both[1]}")" = 3600000 ]; then
        st_pass "$profile: 5m and 1h blocks from one read"
    else
        st_fail "$profile: 5m and 1h from one read" "$(cat "$work/$profile-both.log")"
        continue
    fi
    m5=${both[0]}
    h1=${both[1]}
    check_block "$profile 5m" "$m5"
    check_block "$profile 1h" "$h1"

    # 2. two steps, thread counts
    s5=$("$STRATA_BIN" downsample --resolution=300000 --output="$work/$profile-s5" --threads=1 "$raw" 2>/dev/null)
    s1=$("$STRATA_BIN" downsample --resolution=1h --output="$work/$profile-s1" --threads=2 "$s5" 2>/dev/null)
    same_data "$profile: 5m from one read = 5m alone (1 vs 2 threads)" "$m5" "$s5"
    same_data "$profile: 1h from one read = 1h from the 5m block" "$h1" "$s1"
    d1=$("$STRATA_BIN" downsample --resolution=1h --output="$work/$profile-d1" "$raw" 2>/dev/null)
    check_block "$profile 1h straight from raw" "$d1"

    # 3-5. values against the raw data
    "$STRATA_BIN" dump "$raw" >"$work/$profile.raw"
    dump_all "$m5" "$work/$profile.m5"
    dump_all "$h1" "$work/$profile.h1"
    dump_all "$d1" "$work/$profile.d1"
    if out=$(python3 "$work/check.py" "$work/$profile" 2>&1); then
        st_pass "$profile: windows, 5m->1h vs raw->1h, counter increases match the raw data ($(tr '\n' ';' <<<"$out"))"
    else
        st_fail "$profile: values against the raw data" "$out"
    fi

    # 6. the dump guards
    if ! "$STRATA_BIN" dump --aggregate=count "$raw" >/dev/null 2>"$work/err" &&
        grep -q "not downsampled" "$work/err"; then
        st_pass "$profile: dump --aggregate refuses a raw block"
    else
        st_fail "$profile: dump --aggregate on a raw block" "$(cat "$work/err")"
    fi
    if ! "$STRATA_BIN" dump "$m5" >/dev/null 2>"$work/err" && grep -q -- "--aggregate" "$work/err"; then
        st_pass "$profile: raw dump of a 5m block points at --aggregate"
    else
        st_fail "$profile: raw dump of a 5m block" "$(cat "$work/err")"
    fi
done

st_summary
