#!/usr/bin/env bash
# sha256 of every file of every block in testdata/blocks, as a Markdown table.
#
#   testdata_sums.sh            print the table
#   testdata_sums.sh --update   replace the table in testdata/README.md (between the
#                               "sums:begin" / "sums:end" markers)
#   testdata_sums.sh --check    verify the files against testdata/README.md: every listed
#                               file exists with that size and sha256, and no block file is
#                               unlisted. Exit 1 on any mismatch.
set -euo pipefail
src="${STRATA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
mode="${1:-print}"
case "$mode" in print | --update | --check) ;; *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;; esac

python3 - "$src/testdata" "$mode" <<'EOF'
import hashlib, os, re, sys

root, mode = sys.argv[1], sys.argv[2]
blocks = os.path.join(root, "blocks")
readme = os.path.join(root, "README.md")
BEGIN, END = "<!-- sums:begin -->", "<!-- sums:end -->"
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


stray = []


def current():
    rows = []
    for s in sorted(os.listdir(blocks)):
        sd = os.path.join(blocks, s)
        if not os.path.isdir(sd):
            stray.append(s)
            continue
        for b in sorted(os.listdir(sd)):
            bd = os.path.join(sd, b)
            if not (os.path.isdir(bd) and ULID.match(b)):
                stray.append(os.path.join(s, b))
                continue
            for dp, dns, fns in os.walk(bd):
                dns.sort()
                for f in sorted(fns):
                    p = os.path.join(dp, f)
                    rel = os.path.relpath(p, bd)
                    data = open(p, "rb").read()
                    rows.append((s, b, rel, len(data), hashlib.sha256(data).hexdigest()))
    rows.sort()
    return rows


def table(rows):
    out = ["| set | block | file | bytes | sha256 |", "|---|---|---|---:|---|"]
    for s, b, f, n, h in rows:
        out.append("| %s | %s | %s | %d | %s |" % (s, b, f, n, h))
    return "\n".join(out) + "\n"


rows = current()
if mode == "print":
    sys.stdout.write(table(rows))
    sys.exit(0)

text = open(readme, encoding="utf-8").read()
if BEGIN not in text or END not in text:
    sys.exit("%s has no %s ... %s section" % (readme, BEGIN, END))
head, rest = text.split(BEGIN, 1)
body, tail = rest.split(END, 1)

if mode == "--update":
    open(readme, "w", encoding="utf-8").write(head + BEGIN + "\n" + table(rows) + END + tail)
    print("updated %s: %d files" % (readme, len(rows)))
    sys.exit(0)

want = {}
for line in body.splitlines():
    m = re.match(r"^\|\s*([^|\s]+)\s*\|\s*([0-9A-Z]{26})\s*\|\s*([^|\s]+)\s*\|\s*(\d+)\s*\|\s*([0-9a-f]{64})\s*\|$", line)
    if m:
        want[(m.group(1), m.group(2), m.group(3))] = (int(m.group(4)), m.group(5))
have = {(s, b, f): (n, h) for s, b, f, n, h in rows}
bad = 0
for k in sorted(want):
    if k not in have:
        print("MISSING  %s/%s/%s" % k)
        bad += 1
    elif have[k] != want[k]:
        print("CHANGED  %s/%s/%s: %d bytes %s, README says %d bytes %s" % (k + have[k] + want[k]))
        bad += 1
for k in sorted(set(have) - set(want)):
    print("UNLISTED %s/%s/%s" % k)
    bad += 1
for p in stray:
    print("STRAY    blocks/%s (not a block directory)" % p)
    bad += 1
if not want:
    print("no sums found in README")
    bad += 1
print("%d files checked, %d problems" % (len(want), bad))
sys.exit(1 if bad else 0)
EOF
