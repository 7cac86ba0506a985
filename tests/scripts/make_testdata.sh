#!/usr/bin/env bash
# Re-creates the committed test block sets (testdata/blocks/<set>/<ULID>/).
#
#   make_testdata.sh [--out DIR] [SET...]     (default DIR: $STRATA_SRC/testdata/blocks,
#                                              default sets: all)
#
# Sets: mixed realistic adjacent overlap tombstones. A set directory that already exists is
# refused (delete it first). promtool's index and chunk files are deterministic for the same
# generator arguments; ULIDs (and so meta.json) are new on every run, and the tombstones
# file's entry order is Go map order, so re-running changes those sha256 sums. After a
# re-run, refresh testdata/README.md with `testdata_sums.sh --update`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

T0=1699920000000 # 2023-11-14T00:00:00Z, on the 2h grid
H=3600000

out="$TESTDATA"
sets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) sets+=("$1"); shift ;;
    esac
done
[ ${#sets[@]} -gt 0 ] || sets=(mixed realistic adjacent overlap tombstones)
mkdir -p "$out"

mk() { bash "$ST_LIB_DIR/make_block.sh" "$@" >/dev/null; }

make_tombstones() {
    local dir="$1" work data b blk
    st_mktemp work
    data="$work/data"
    mkdir -p "$data"
    mk --out "$data" --profile realistic --series 100 --seed 5 --start-ms $T0 --hours 2
    blk="$(st_blocks_of "$data")"
    b="$(basename "$blk")"
    st_start_prometheus "$data" "$work" --web.enable-admin-api
    local api="http://127.0.0.1:$ST_PROM_PORT/api/v1/admin/tsdb/delete_series"
    local s=$((T0 / 1000))
    # 1. whole series, no time range (interval is the whole int64 range)
    st_http POST "$api?match%5B%5D=up" >/dev/null
    # 2. a window cutting through chunks: [T0+30m, T0+45m]
    st_http POST "$api?match%5B%5D=http_requests_total%7Bcode%3D%22500%22%7D&start=$((s + 1800))&end=$((s + 2700))" >/dev/null
    # 3. two overlapping windows and a single millisecond on the same series
    local g="go_goroutines%7Bjob%3D%22api%22%7D"
    st_http POST "$api?match%5B%5D=$g&start=$((s + 600))&end=$((s + 1200))" >/dev/null
    st_http POST "$api?match%5B%5D=$g&start=$((s + 900))&end=$((s + 1500))" >/dev/null
    # exactly one sample: the newest sample of the series at T0+2260s (asked from the server)
    local one
    one="$(st_http GET "http://127.0.0.1:$ST_PROM_PORT/api/v1/query?query=timestamp($g)&time=$((s + 2260))" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')"
    st_http POST "$api?match%5B%5D=$g&start=$one&end=$one" >/dev/null
    # 4. a window starting before the block
    st_http POST "$api?match%5B%5D=process_cpu_seconds_total&start=$((s - 3600))&end=$((s + 300))" >/dev/null
    st_stop_pid "$ST_PROM_PID"
    if grep -E 'level=error' "$ST_PROM_LOG"; then
        st_die "prometheus logged errors while deleting series (log: $ST_PROM_LOG)"
    fi
    [ -d "$data/$b" ] || st_die "prometheus removed block $b (compacted away?)"
    local size
    size="$(stat -c %s "$data/$b/tombstones")"
    [ "$size" -gt 9 ] || st_die "tombstones file of $b is still empty ($size bytes)"
    mkdir -p "$dir"
    cp -a "$data/$b" "$dir/"
    echo "tombstones: $b, tombstones file $size bytes, numTombstones $(st_meta stats.numTombstones "$dir/$b")"
}

for set in "${sets[@]}"; do
    dir="$out/$set"
    [ ! -e "$dir" ] || st_die "$dir exists; remove it first"
    case "$set" in
    mixed) mk --out "$dir" --profile mixed --series 200 --seed 1 --start-ms $T0 --hours 2 ;;
    realistic) mk --out "$dir" --profile realistic --series 500 --seed 2 --start-ms $T0 --hours 2 ;;
    adjacent) mk --out "$dir" --profile realistic --series 100 --seed 3 --start-ms $T0 --hours 6 ;;
    overlap)
        # replica A: series 0-99; replica B: series 0-149 (100-149 only in B), 5 s later;
        # C: series 0-49 from T0+1h for 2h, same timestamps and values as A (-> one block
        # inside A's range, one block after it).
        mk --out "$dir" --profile realistic --series 100 --seed 4 --start-ms $T0 --hours 2
        mk --out "$dir" --profile realistic --series 150 --seed 4 --start-ms $T0 --hours 2 --ts-offset-ms 5000
        mk --out "$dir" --profile realistic --series 50 --seed 4 --start-ms $((T0 + H)) --hours 2
        ;;
    tombstones) make_tombstones "$dir" ;;
    *) st_die "unknown set: $set" ;;
    esac
    echo "$set: $(st_blocks_of "$dir" | wc -l) block(s), $(du -sk "$dir" | cut -f1) KiB"
done
