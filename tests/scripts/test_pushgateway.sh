#!/usr/bin/env bash
# The run's metrics against Debian's real prometheus-pushgateway: starts one on 127.0.0.1 (free
# port, persistence off), runs the pushgateway__ cases of the test_metrics cmocka test against it
# (a successful run pushed with PUT, then a failed one with POST, a grouping value holding a '/',
# a push the gateway refuses), then reads the gateway's /metrics back and checks what it holds:
# values, labels, HELP and TYPE, the last success time kept across the failed run, the refused
# push absent. The textfile written on the way is linted by `promtool check metrics` (format and
# Prometheus' naming conventions). The gateway is stopped on exit (trap in lib.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PUSHGATEWAY="${PUSHGATEWAY:-$(command -v prometheus-pushgateway || echo /usr/bin/prometheus-pushgateway)}"
STRATA_BUILD="${STRATA_BUILD:-$STRATA_SRC/build}"
TEST_METRICS="$STRATA_BUILD/tests/test_metrics"
st_need python3 curl "$PROMTOOL" "$PUSHGATEWAY" "$TEST_METRICS"

st_mktemp WORK
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
# No --persistence.file: nothing is written to disk, nothing survives the test.
"$PUSHGATEWAY" --web.listen-address="127.0.0.1:$PORT" >"$WORK/pushgateway.log" 2>&1 &
st_track_pid $!
for _ in $(seq 1 100); do
    curl -fs "$URL/-/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
if curl -fs "$URL/-/ready" >/dev/null 2>&1; then
    st_pass "pushgateway ready on 127.0.0.1:$PORT"
else
    st_fail "pushgateway did not start" "$(tail -n 5 "$WORK/pushgateway.log")"
    st_summary
    exit 1
fi

if STRATA_PUSHGATEWAY_URL="$URL" STRATA_METRICS_TEXTFILE="$WORK/strata.prom" \
    "$TEST_METRICS" >"$WORK/test_metrics.out" 2>&1; then
    st_pass "test_metrics with the gateway: every case passed"
else
    st_fail "test_metrics with the gateway" "$(grep -E 'FAILED|ERROR|Failure' "$WORK/test_metrics.out" | head -n 5)"
fi
if grep -q 'SKIPPED' "$WORK/test_metrics.out"; then
    st_fail "pushgateway cases skipped" "$(grep SKIPPED "$WORK/test_metrics.out" | head -n 3)"
else
    st_pass "no pushgateway case skipped"
fi

curl -fs "$URL/metrics" >"$WORK/gateway.txt" || st_fail "GET /metrics from the gateway"

# Check what the gateway holds (its own exposition, parsed here).
python3 - "$WORK/gateway.txt" >"$WORK/checks.txt" <<'EOF' || true
import re, sys

text = open(sys.argv[1]).read()
samples, helps, types = {}, {}, {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

def unescape(v):
    return re.sub(r'\\(.)', lambda m: {'n': '\n'}.get(m.group(1), m.group(1)), v)

for line in text.splitlines():
    if line.startswith('# HELP '):
        name, _, h = line[7:].partition(' ')
        helps[name] = h
    elif line.startswith('# TYPE '):
        name, _, t = line[7:].partition(' ')
        types[name] = t
    elif line and not line.startswith('#'):
        m = line_re.match(line)
        if not m:
            print('FAIL unparsable line from the gateway: %r' % line)
            continue
        labels = tuple(sorted((k, unescape(v)) for k, v in label_re.findall(m.group(3) or '')))
        samples[(m.group(1), labels)] = float(m.group(4))

def check(name, want, **labels):
    labels.setdefault('instance', '')
    labels.setdefault('job', 'strata')
    key = (name, tuple(sorted(labels.items())))
    got = samples.get(key)
    desc = '%s{%s}' % (name, ','.join('%s=%r' % kv for kv in sorted(labels.items())))
    if got is None:
        print('FAIL %s missing from the gateway' % desc)
    elif got != want:
        print('FAIL %s = %r, want %r' % (desc, got, want))
    else:
        print('PASS %s = %r' % (desc, want))

# Group job=strata,shard=1: a successful run (PUT) then a failed one (POST).
s1 = dict(shard='1')
check('strata_last_success_timestamp_seconds', 1700000000.0, **s1)   # kept across the failure
check('strata_last_run_timestamp_seconds', 1700003600.0, **s1)
check('strata_run_duration_seconds', 12.5, **s1)
check('strata_actions_total', 1, type='compact', outcome='ok', **s1)
check('strata_actions_total', 1, type='compact', outcome='failed', **s1)
check('strata_actions_total', 0, type='retention', outcome='ok', **s1)
check('strata_blocks_quarantined_total', 2, **s1)
check('strata_bytes_read_total', 123456789, **s1)
check('strata_bytes_written_total', 98765432, **s1)
check('strata_todo_compactions', 3, tenant='acme', **s1)
check('strata_todo_compactions', 1, tenant='we "quote"\\', **s1)
check('strata_todo_downsamples', 0, tenant='acme', **s1)
check('strata_todo_deletions', 5, tenant='acme', **s1)
# Group job=strata,instance="pod/a b": sent as instance@base64.
pod = dict(instance='pod/a b')
check('strata_last_success_timestamp_seconds', 1700007200.0, **pod)
check('strata_actions_total', 2, type='compact', outcome='ok', **pod)

refused = [k for k in samples if ('shard', 'refused') in k[1] and k[0].startswith('strata_')]
print('FAIL the refused push left %s' % refused if refused else 'PASS the refused push left no strata_ series')

want_types = {
    'strata_last_success_timestamp_seconds': 'gauge', 'strata_last_run_timestamp_seconds': 'gauge',
    'strata_run_duration_seconds': 'gauge', 'strata_actions_total': 'counter',
    'strata_bytes_read_total': 'counter', 'strata_bytes_written_total': 'counter',
    'strata_blocks_quarantined_total': 'counter', 'strata_todo_compactions': 'gauge',
    'strata_todo_downsamples': 'gauge', 'strata_todo_deletions': 'gauge',
}
for name, t in want_types.items():
    if types.get(name) != t:
        print('FAIL TYPE of %s is %r, want %r' % (name, types.get(name), t))
    elif not helps.get(name):
        print('FAIL %s has no HELP' % name)
    else:
        print('PASS %s: TYPE %s with HELP' % (name, t))
want_help = 'Unix time at which the last run that did its work (exit 0 or 3) ended.'
h = helps.get('strata_last_success_timestamp_seconds')
print(('PASS' if h == want_help else 'FAIL') + ' HELP of strata_last_success_timestamp_seconds: %r' % h)
EOF
while IFS= read -r line; do
    case "$line" in
    PASS\ *) st_pass "gateway: ${line#PASS }" ;;
    FAIL\ *) st_fail "gateway: ${line#FAIL }" ;;
    esac
done <"$WORK/checks.txt"
[ -s "$WORK/checks.txt" ] || st_fail "gateway checks printed nothing"

# The textfile (last written by the failed run): well formed, named by the conventions.
if [ -s "$WORK/strata.prom" ]; then
    if lint="$("$PROMTOOL" check metrics <"$WORK/strata.prom" 2>&1)"; then
        st_pass "promtool check metrics accepts the textfile"
    else
        st_fail "promtool check metrics" "$lint"
    fi
    if grep -qx 'strata_last_success_timestamp_seconds 1700000000' "$WORK/strata.prom" &&
        grep -qx 'strata_last_run_timestamp_seconds 1700003600' "$WORK/strata.prom"; then
        st_pass "textfile keeps the last success time after a failed run"
    else
        st_fail "textfile after the failed run" "$(grep timestamp "$WORK/strata.prom")"
    fi
else
    st_fail "no textfile written at $WORK/strata.prom"
fi

st_summary
