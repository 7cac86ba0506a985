#!/usr/bin/env python3
"""Runs the same Prometheus HTTP API queries against two servers on 127.0.0.1 and compares the
JSON results (helper of test_prometheus_query.sh).

    prom_compare.py PORT_A PORT_B QUERIES.json

QUERIES.json: [{"name": str, "path": "/api/v1/query_range", "params": {...},
                "nonempty": bool}, ...]
Prints one line per query: "PASS <name> (<size>)" or "FAIL <name>: <why>" (plus indented
detail lines). Results are compared after sorting the series by their label sets; sample
values are compared as the strings Prometheus returns (exact).
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def fetch(port, path, params):
    url = "http://127.0.0.1:%d%s?%s" % (port, path, urllib.parse.urlencode(params))
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            return json.load(r), None
    except urllib.error.HTTPError as e:
        return None, "HTTP %d: %s" % (e.code, e.read()[:300].decode("utf-8", "replace"))
    except Exception as e:  # connection refused, timeout, bad JSON
        return None, str(e)


def norm(j):
    d = j["data"]
    res = d["result"]
    if isinstance(res, list):
        res = sorted(res, key=lambda r: json.dumps(r.get("metric", {}), sort_keys=True))
    return d["resultType"], res


def size(res):
    if not isinstance(res, list):
        return "scalar"
    pts = sum(len(x.get("values", [])) + (1 if "value" in x else 0) for x in res)
    return "%d series, %d points" % (len(res), pts)


def explain(ra, rb):
    out = []
    if not (isinstance(ra, list) and isinstance(rb, list)):
        return ["  original %r, rewritten %r" % (ra, rb)]
    ma = {json.dumps(x.get("metric", {}), sort_keys=True): x for x in ra}
    mb = {json.dumps(x.get("metric", {}), sort_keys=True): x for x in rb}
    for k in sorted(set(ma) - set(mb))[:3]:
        out.append("  only in original: " + k[:200])
    for k in sorted(set(mb) - set(ma))[:3]:
        out.append("  only in rewritten: " + k[:200])
    shown = 0
    for k in sorted(set(ma) & set(mb)):
        va = ma[k].get("values", [ma[k].get("value")])
        vb = mb[k].get("values", [mb[k].get("value")])
        if va != vb:
            i = next((i for i, (x, y) in enumerate(zip(va, vb)) if x != y), min(len(va), len(vb)))
            out.append("  %s: %d vs %d points, first difference at #%d: %s vs %s" % (
                k[:200], len(va), len(vb), i, va[i] if i < len(va) else None,
                vb[i] if i < len(vb) else None))
            shown += 1
            if shown == 3:
                break
    return out


def main():
    pa, pb, qfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    bad = 0
    for q in json.load(open(qfile)):
        name = q["name"]
        ja, ea = fetch(pa, q["path"], q["params"])
        jb, eb = fetch(pb, q["path"], q["params"])
        if ea or eb:
            print("FAIL %s: query failed: original: %s; rewritten: %s" % (name, ea, eb))
            bad += 1
            continue
        if ja.get("status") != "success" or jb.get("status") != "success":
            print("FAIL %s: status %s / %s: %s" % (name, ja.get("status"), jb.get("status"),
                                                   json.dumps(ja)[:200] + json.dumps(jb)[:200]))
            bad += 1
            continue
        na, nb = norm(ja), norm(jb)
        if na != nb:
            print("FAIL %s: results differ: original %s %s, rewritten %s %s" % (
                name, na[0], size(na[1]), nb[0], size(nb[1])))
            for line in explain(na[1], nb[1]):
                print(line)
            bad += 1
        elif q.get("nonempty") and isinstance(na[1], list) and not na[1]:
            print("FAIL %s: both results are empty" % name)
            bad += 1
        else:
            print("PASS %s (%s)" % (name, size(na[1])))
        sys.stdout.flush()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
