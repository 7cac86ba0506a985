#!/usr/bin/env bash
# The Kubernetes manifests in cron/ and the Dockerfile: every manifest parsed as YAML, the
# kustomizations rendered (and compared with `kubectl kustomize` when kubectl is there), the
# CronJob's fields, security context, volumes and ServiceAccount, the container args checked
# against the flags strata accepts and run through the real `strata plan` with the tenant
# ConfigMap, the Indexed-Job variant, the Dockerfile (Debian 12 slim, scripts/deps.sh, non-root,
# runtime libraries of the real binary), and the alert rules with `promtool check rules` and
# `promtool test rules`. There is no container engine here: the image itself is not built.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need python3 readelf dpkg "$PROMTOOL"
python3 -c 'import yaml' 2>/dev/null || st_die "python3-yaml is not installed (scripts/deps.sh)"
[ -x "$STRATA_BIN" ] || st_die "strata binary not found: $STRATA_BIN"

st_mktemp WORK
python3 "$ST_LIB_DIR/cron_check.py" "$STRATA_SRC" "$STRATA_BIN" "$WORK" >"$WORK/checks.txt" 2>&1 || true
while IFS= read -r line; do
    case "$line" in
    PASS\ *) st_pass "${line#PASS }" ;;
    FAIL\ *) st_fail "${line#FAIL }" ;;
    SKIP\ *) printf 'SKIP %s\n' "${line#SKIP }" ;;
    *) st_fail "cron_check.py: $line" ;;
    esac
done <"$WORK/checks.txt"
grep -q '^PASS ' "$WORK/checks.txt" || st_fail "cron_check.py ran no check"

# The checker is not vacuous: copies of the files with one fault each must fail the right check.
N_MUTANT=0
mutant() {
    local name="$1" want="$2" file="$3" old="$4" new="$5" d
    N_MUTANT=$((N_MUTANT + 1))
    d="$WORK/mutant-$N_MUTANT"
    mkdir -p "$d/compactor"
    cp -a "$STRATA_SRC/cron" "$STRATA_SRC/Dockerfile" "$STRATA_SRC/.dockerignore" "$d/"
    cp "$STRATA_SRC/compactor/metrics.c" "$d/compactor/"
    if ! python3 - "$d/$file" "$old" "$new" <<'EOF'; then
import sys
path, old, new = sys.argv[1:4]
s = open(path).read()
if old not in s:
    sys.exit('%s: %r not found' % (path, old))
open(path, 'w').write(s.replace(old, new, 1))
EOF
        st_fail "mutant '$name': could not apply"
        return
    fi
    python3 "$ST_LIB_DIR/cron_check.py" "$d" "$STRATA_BIN" "$WORK" >"$d.out" 2>&1 || true
    if grep -q "^FAIL .*$want" "$d.out"; then
        st_pass "the checker catches $name"
    else
        st_fail "the checker misses $name" "no FAIL line matching '$want'"
    fi
}
mutant "an unknown flag" "--no-such-flag" cron/base/cronjob.yaml \
    "- --log.format=json" $'- --log.format=json\n                - --no-such-flag=1'
mutant "concurrencyPolicy Allow" "concurrencyPolicy Forbid" cron/base/cronjob.yaml \
    "concurrencyPolicy: Forbid" "concurrencyPolicy: Allow"
mutant "a writable root filesystem" "readOnlyRootFilesystem" cron/base/cronjob.yaml \
    "readOnlyRootFilesystem: true" "readOnlyRootFilesystem: false"
mutant "a data dir on the root filesystem" "data-dir=/var/lib/strata is a writable emptyDir" \
    cron/base/cronjob.yaml "--data-dir=/data" "--data-dir=/var/lib/strata"
mutant "a retention strata refuses" "strata plan accepts" cron/base/tenants-configmap.yaml \
    "retention: {raw: 7d, 1h: 5y}" "retention: {raw: 10h, 1h: 5y}"
mutant "--shards not matching completions" "matches completions" cron/sharded/indexed-patch.yaml \
    "value: --shards=3" "value: --shards=2"
mutant "a ServiceAccount without web identity" "role-arn" cron/base/serviceaccount.yaml \
    "eks.amazonaws.com/role-arn" "example.com/role"
mutant "an image running as root" "runs as USER" Dockerfile "USER 10001:10001" "USER root"
mutant "a missing runtime library" "libjansson4" Dockerfile " libjansson4" ""
mutant "an alert on a metric strata does not have" "only metrics strata exposes" \
    cron/alerts/strata.rules.yaml "strata_blocks_quarantined_total > 0" "strata_blocks_broken > 0"

RULES="$STRATA_SRC/cron/alerts"
if msg="$("$PROMTOOL" check rules "$RULES/strata.rules.yaml" 2>&1)"; then
    st_pass "promtool check rules cron/alerts/strata.rules.yaml"
else
    st_fail "promtool check rules" "$msg"
fi
if msg="$(cd "$RULES" && "$PROMTOOL" test rules strata.rules.test.yaml 2>&1)"; then
    st_pass "promtool test rules: every alert fires when it should, and only then"
else
    st_fail "promtool test rules" "$msg"
fi

st_summary
