#!/usr/bin/env python3
"""Deterministic OpenMetrics text generator for `promtool tsdb create-blocks-from openmetrics`.

Writes series-major OpenMetrics text (one sample per line, every sample with a timestamp in
seconds with millisecond precision, `# EOF` at the end, no TYPE/HELP lines) to stdout or -o.
The same arguments always give the same bytes (no wall clock, no hash randomisation: every
random choice comes from random.Random seeded with integers derived from --seed).

Samples are kept inside the window [start, start + hours) after --ts-offset-ms is applied,
so a window that lies inside one 2h-aligned range gives exactly one promtool block.

Profiles
  realistic  prometheus-anchor.md section 1: targets of 50 series (labels instance, job,
             namespace, node, pod + per-family method/code/handler/device), 11 families,
             families contiguous, one ms phase per target, --interval-s (default 15) apart.
             Values are a pure function of (seed, series index, sample index k), where a
             sample's timestamp is k*interval + phase + ts-offset; so separately generated
             windows continue each other, and replicas (--ts-offset-ms) carry the same
             values shifted in time.
  mixed      a catalogue of edge cases for the codec (special float values, irregular
             timestamps, single-sample series, many/long/UTF-8/escaped labels, tiny XOR
             deltas, repeats, ...) followed by generic counters and gauges up to --series.
             Values depend on (seed, series index) only; --ts-offset-ms shifts timestamps.

--label-value-prefix is prepended to the `instance` label value of every series (both
profiles), which gives a disjoint series set with the same shape.
"""

import argparse
import math
import random
import struct
import sys

HOUR_MS = 3600 * 1000
MASK64 = (1 << 64) - 1


def mix(*parts):
    """splitmix64-style combination of integers into one 64-bit seed."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (p & MASK64)) & MASK64
        h = (h + 0x9E3779B97F4A7C15) & MASK64
        z = h
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        h = z ^ (z >> 31)
    return h


def fmt_ts(t):
    """Milliseconds -> seconds text with exactly 3 decimals (1699920007.533)."""
    if t < 0:
        raise ValueError("negative timestamps are not supported: %d" % t)
    return "%d.%03d" % (t // 1000, t % 1000)


def fmt_float(v):
    """A float as OpenMetrics wants it; repr() is the shortest exact round-trip form."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def fmt_milli(c):
    """Integer thousandths -> 3-decimal text (monotonic float counters)."""
    if c < 0:
        return "-%d.%03d" % ((-c) // 1000, (-c) % 1000)
    return "%d.%03d" % (c // 1000, c % 1000)


def escape_lv(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_text(name, labels):
    """labels: list of (name, value) in the order to print (promtool sorts them)."""
    if not labels:
        return name
    return name + "{" + ",".join('%s="%s"' % (k, escape_lv(v)) for k, v in labels) + "}"


def bits_to_float(b):
    return struct.unpack(">d", struct.pack(">Q", b & MASK64))[0]


def float_to_bits(f):
    return struct.unpack(">Q", struct.pack(">d", f))[0]


# --------------------------------------------------------------------------------------
# realistic profile

JOBS = ["api", "web", "db", "cache", "worker", "gateway", "auth", "search"]
HANDLERS = ["/api/v1/query", "/api/v1/series", "/metrics", "/healthz", "/login"]
METHODS = ["GET", "POST"]
CODES = ["200", "404", "500"]
DEVICES = ["eth0", "eth1", "lo"]
FAMILIES = [
    "up",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "go_goroutines",
    "go_memstats_alloc_bytes",
    "http_requests_total",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    "node_network_receive_bytes_total",
    "kube_pod_container_status_restarts_total",
    "container_memory_working_set_bytes",
]
SERIES_PER_TARGET = 50
BLOCK = 512  # samples per RNG block: values are pure functions of (series, k)


def slot_spec(slot):
    """Family index, extra labels and value model of slot 0..49 of a target."""
    if slot == 0:
        return 0, [], ("up",)
    if slot == 1:
        return 1, [], ("mcounter", 900)  # thousandths per sample, 3-decimal float counter
    if slot == 2:
        return 2, [], ("walk", 200 * 1024 * 1024, 64 * 1024 * 1024, 4096, 64)
    if slot == 3:
        return 3, [], ("walk", 120, 80, 1, 3)
    if slot == 4:
        return 4, [], ("walk", 30 * 1024 * 1024, 8 * 1024 * 1024, 1, 200000)
    if 5 <= slot < 35:
        i = slot - 5
        h, m, c = HANDLERS[i // 6], METHODS[(i // 3) % 2], CODES[i % 3]
        rate = {"200": 400, "404": 12, "500": 2}[c] * (3 if m == "GET" else 1)
        return 5, [("code", c), ("handler", h), ("method", m)], ("counter", rate)
    if 35 <= slot < 40:
        return 6, [("handler", HANDLERS[slot - 35])], ("mcounter", 2500 + 700 * (slot - 35))
    if 40 <= slot < 45:
        return 7, [("handler", HANDLERS[slot - 40])], ("counter", 50 + 30 * (slot - 40))
    if 45 <= slot < 48:
        d = DEVICES[slot - 45]
        return 8, [("device", d)], ("counter", {"eth0": 180000, "eth1": 25000, "lo": 3000}[d])
    if slot == 48:
        return 9, [], ("slow", 3000)
    return 10, [], ("walk", 300 * 1024 * 1024, 100 * 1024 * 1024, 4096, 128)


def target_labels(seed, t, prefix):
    job = JOBS[t % len(JOBS)]
    h = mix(seed, 0x7A, t)
    return [
        ("instance", "%s10.%d.%d.%d:8080" % (prefix, (t >> 16) & 255, (t >> 8) & 255, t & 255)),
        ("job", job),
        ("namespace", "ns-%02d" % (t % 20)),
        ("node", "node-%04d" % (t // 4)),
        ("pod", "%s-%08x-%05x" % (job, h >> 32, h & 0xFFFFF)),
    ]


def block_draws(seed, s, m):
    rng = random.Random(mix(seed, s, m))
    return rng.getrandbits(32), [rng.getrandbits(32) for _ in range(BLOCK)]


def realistic_values(seed, s, model, ks):
    """Values (as text) for sample indices ks (ascending, consecutive) of series s."""
    out = []
    if not ks:
        return out
    kind = model[0]
    cur_m = None
    draws = None
    walk = 0
    k = ks[0]
    m = k // BLOCK
    # walks are prefix sums inside an RNG block: start at the block's first index
    kk = m * BLOCK
    end = ks[-1]
    while kk <= end:
        mm = kk // BLOCK
        if mm != cur_m:
            cur_m = mm
            anchor, draws = block_draws(seed, s, mm)
            if kind == "walk":
                _, base, spread, unit, _ = model
                walk = base + ((anchor % (2 * spread // unit + 1)) * unit) - spread
        r = draws[kk - mm * BLOCK]
        if kind == "walk":
            step = model[4]
            walk += ((r % (2 * step + 1)) - step) * model[3]
            if walk < 0:
                walk = -walk
        if kk >= k:
            if kind == "up":
                out.append("0" if r % 5000 == 0 else "1")
            elif kind == "counter":
                a = model[1]
                out.append(str(kk * a + r % a))
            elif kind == "mcounter":
                a = model[1]
                out.append(fmt_milli(kk * a + r % a))
            elif kind == "slow":
                out.append(str(kk // model[1]))
            else:
                out.append(str(walk))
        kk += 1
    return out


def gen_realistic(args, w):
    interval = int(round(args.interval_s * 1000))
    start, end, off = args.start_ms, args.start_ms + int(round(args.hours * HOUR_MS)), args.ts_offset_ms
    n = args.series
    gap_lo = gap_hi = 0
    if args.gap:
        a, b = args.gap.split(":")
        gap_lo, gap_hi = start + int(float(a) * 60000), start + int(float(b) * 60000)
    ntargets = (n + SERIES_PER_TARGET - 1) // SERIES_PER_TARGET
    tinfo = []
    for t in range(ntargets):
        phase = mix(args.seed, 0x9A, t) % interval
        k0 = -((-(start - phase - off)) // interval)  # ceil
        ks = []
        k = k0
        while k * interval + phase + off < end:
            t_ms = k * interval + phase + off
            if not (args.gap and gap_lo <= t_ms < gap_hi):
                ks.append(k)
            k += 1
        ts = [fmt_ts(k * interval + phase + off) for k in ks]
        tinfo.append((target_labels(args.seed, t, args.label_value_prefix), ks, ts))
    for fam in range(len(FAMILIES)):
        for t in range(ntargets):
            tl, ks, ts = tinfo[t]
            for slot in range(SERIES_PER_TARGET):
                s = t * SERIES_PER_TARGET + slot
                if s >= n:
                    break
                f, extra, model = slot_spec(slot)
                if f != fam:
                    continue
                name = FAMILIES[f]
                head = series_text(name, tl + extra) + " "
                vals = realistic_values(args.seed, s, model, ks)
                w("".join(head + v + " " + t_ + "\n" for v, t_ in zip(vals, ts)))


# --------------------------------------------------------------------------------------
# mixed profile

SPECIALS = [
    1.0, math.nan, math.inf, -math.inf, 1e300, -1.7976931348623157e308, 5e-324, 1e-300,
    -0.0, 0.0, 2.5, 1.7976931348623157e308, -5e-324, 2.2250738585072014e-308, -1e-300,
    9007199254740993.0, 9223372036854775807.0, -1.0, 0.1, 123456789.123456789,
]


class Series:
    def __init__(self, name, labels, samples):
        self.name = name
        self.labels = labels  # [(name, value)]
        self.samples = samples  # [(t_ms, value_text)]


def regular_ts(start, end, interval, phase=0):
    t = start + phase
    out = []
    while t < end:
        out.append(t)
        t += interval
    return out


def mixed_catalogue(rng, start, end, base_iv, prefix):
    """Hand-written edge cases; each entry is a function -> Series (order is stable)."""
    span = end - start
    inst = prefix + "edge-0:9100"
    std = [("job", "edge"), ("instance", inst)]
    cat = []

    def add(name, labels, ts, vals):
        assert len(ts) == len(vals)
        cat.append(Series(name, labels, list(zip(ts, vals))))

    ts = regular_ts(start, end, base_iv)
    # special float values, cycled
    add("mixed_special_values", std + [("case", "cycle")], ts,
        [fmt_float(SPECIALS[i % len(SPECIALS)]) for i in range(len(ts))])
    # special values interleaved with normal ones, random order
    add("mixed_special_values", std + [("case", "random")], ts,
        [fmt_float(rng.choice(SPECIALS)) if rng.random() < 0.3 else str(rng.randint(-1000, 1000))
         for _ in ts])
    add("mixed_nan_only", [], ts, ["NaN"] * len(ts))
    add("mixed_inf_runs", std, ts,
        ["+Inf" if (i // 7) % 3 == 0 else "-Inf" if (i // 7) % 3 == 1 else str(i) for i in range(len(ts))])
    add("mixed_neg_zero", std, ts, ["-0" if i % 2 else "0" for i in range(len(ts))])
    add("mixed_huge_tiny", std, ts,
        [fmt_float([1e300, 5e-324, -1.7976931348623157e308, 1e-300][i % 4]) for i in range(len(ts))])
    # 64 significant XOR bits: 1.0 vs -nextafter(1.0)
    nx = -math.nextafter(1.0, 2.0)
    add("mixed_xor_sigbits64", std, ts, [fmt_float(1.0 if i % 2 == 0 else nx) for i in range(len(ts))])
    # random finite doubles (full 64-bit patterns)
    vals = []
    for _ in ts:
        while True:
            f = bits_to_float(rng.getrandbits(64))
            if not (math.isnan(f) or math.isinf(f)):
                break
        vals.append(fmt_float(f))
    add("mixed_random_bits", std, ts, vals)
    # tiny changes: ulp steps (XOR windows with many leading/trailing zeros)
    v = 1.0
    vals = []
    for i in ts:
        vals.append(fmt_float(v))
        for _ in range(rng.choice([0, 1, 1, 2, 5])):
            v = math.nextafter(v, math.inf)
    add("mixed_tiny_delta", std + [("case", "ulp_up")], ts, vals)
    v = 1e6
    vals = []
    for i in ts:
        vals.append(fmt_float(v))
        v = math.nextafter(v, math.inf) if rng.random() < 0.5 else math.nextafter(v, -math.inf)
    add("mixed_tiny_delta", std + [("case", "ulp_walk")], ts, vals)
    bits = float_to_bits(12345.678)
    vals = [fmt_float(bits_to_float(bits ^ (1 << rng.randrange(0, 52)))) for _ in ts]
    add("mixed_tiny_delta", std + [("case", "one_bit_flip")], ts, vals)
    vals = [fmt_float(1.0 + i * 1e-12) for i in range(len(ts))]
    add("mixed_tiny_delta", std + [("case", "epsilon_ramp")], ts, vals)
    # repeats
    add("mixed_repeat", std + [("case", "constant")], ts, ["42"] * len(ts))
    add("mixed_repeat", std + [("case", "runs")], ts, [str((i // 10) % 4) for i in range(len(ts))])
    add("mixed_repeat", std + [("case", "alternating")], ts, ["3.25" if i % 2 else "-7.5" for i in range(len(ts))])
    # big integers, negative values
    add("mixed_big_ints", std, ts, [str(2 ** 53 - 5 + (i % 10)) for i in range(len(ts))])
    add("mixed_negative", std, ts, [str(-(i * 37 % 1001)) + ".5" for i in range(len(ts))])

    # single- and two-sample series
    add("mixed_single_sample", std + [("pos", "first")], [start], ["1"])
    add("mixed_single_sample", std + [("pos", "middle")], [start + span // 2 + 17], ["NaN"])
    add("mixed_single_sample", std + [("pos", "last")], [end - 1], ["-0"])
    add("mixed_single_sample", std + [("pos", "value_huge")], [start + 1234], ["1e+300"])
    add("mixed_two_samples", std + [("gap", "1ms")], [start + 5000, start + 5001], ["1", "2"])
    add("mixed_two_samples", std + [("gap", "span")], [start, end - 1], ["7.5", "7.5"])
    add("mixed_two_samples", std + [("gap", "hour")], [start + 60000, start + 60000 + HOUR_MS // 2],
        ["+Inf", "5e-324"])

    # chunk-boundary sample counts at the base interval
    for cnt in (119, 120, 121, 240, 241):
        t0 = start + 3 * base_iv
        add("mixed_sample_count", std + [("n", str(cnt))],
            [t0 + i * (base_iv // 2) for i in range(cnt)], [str(i * i) for i in range(cnt)])

    # irregular timestamps
    jts = []
    t = start
    while True:
        t += base_iv + rng.randint(-base_iv // 8, base_iv // 8)
        if t >= end:
            break
        jts.append(t)
    add("mixed_jitter", std, jts, [str(rng.randint(0, 100)) for _ in jts])
    gts = [t for t in ts if not (start + 20 * 60000 <= t < start + 30 * 60000)
           and not (start + 50 * 60000 <= t < start + 95 * 60000)]
    add("mixed_gaps", std, gts, [str(i) for i in range(len(gts))])
    its = []
    t = start
    steps = [1, 2, 999, 1000, 15000, 60000, 300000, 1800000, 8191, 8192, 65535, 65536, 524287, 524288]
    while True:
        t += rng.choice(steps)
        if t >= end:
            break
        its.append(t)
    add("mixed_irregular", std + [("case", "dod_buckets")], its,
        [fmt_milli(rng.randint(0, 10 ** 9)) for _ in its])
    # dense: 1 s for the whole window, 100 ms for 10 minutes
    dts = regular_ts(start, end, 1000)
    c = 0
    vals = []
    for _ in dts:
        c += rng.randint(0, 3)
        vals.append(str(c))
    add("mixed_dense", std + [("interval", "1s")], dts, vals)
    dts = regular_ts(start + HOUR_MS // 4, min(end, start + HOUR_MS // 4 + 600000), 100)
    add("mixed_dense", std + [("interval", "100ms")], dts, [fmt_milli(i * 7) for i in range(len(dts))])
    # 1 ms apart (dod 0 / delta 1)
    dts = list(range(start + 777, start + 777 + 500))
    add("mixed_dense", std + [("interval", "1ms")], dts, [str(i % 3) for i in range(len(dts))])

    # labels: many, long, UTF-8, escapes, sort order
    sparse = regular_ts(start, end, base_iv * 4)
    for j in range(3):
        labels = [("l%02d" % i, "value-%d-%d" % (j, i)) for i in range(24, -1, -1)]
        add("mixed_many_labels", std + labels, sparse, [str(j * 100 + i % 50) for i in range(len(sparse))])
    for ln in (200, 1000, 20000):
        val = "".join("abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 + ln) % 36] for i in range(ln))
        add("mixed_long_value", std + [("len", str(ln)), ("long", val)], sparse,
            [str(ln + i) for i in range(len(sparse))])
    utf = ["café", "日本語", "emoji 🚀", "Ωmega", "مرحبا", "👩\u200d💻 zwj", "nbsp\u00a0here",
           "ctl\x01\x7f", "tab\there", "Ünïcødé ✓", "中文标签值"]
    for i, val in enumerate(utf):
        add("mixed_utf8", std + [("text", val), ("idx", "%02d" % i)], sparse,
            [str(i) for _ in sparse])
    esc = ['quote"inside', "back\\slash", "new\nline", "\\n literal backslash-n", 'all "\\\n" three',
           "a,b=c}", "trailing\\", '"', "{}", "=", "  spaces  "]
    for i, val in enumerate(esc):
        add("mixed_escapes", std + [("text", val), ("idx", "%02d" % i)], sparse,
            [fmt_milli(i * 1001) for _ in sparse])
    for val in ["10", "9", "a", "B", "é", "Z", "_", "~", "0"]:
        add("mixed_value_order", std + [("v", val)], sparse, ["1"] * len(sparse))
    add("mixed_label_names", [("z", "1"), ("Z", "2"), ("_under", "3"), ("a1", "4"), ("A_", "5"),
                              ("instance", inst), ("le", "+Inf"), ("quantile", "0.99")],
        sparse, [str(i) for i in range(len(sparse))])
    add("colon:metric:name", std, sparse, ["1"] * len(sparse))
    add("_underscore_metric", std, sparse, ["2"] * len(sparse))
    add("UPPER_Metric", std, sparse, ["3"] * len(sparse))
    return cat


def mixed_generic(rng, i, start, end, base_iv, prefix):
    kinds = ["counter_int", "counter_float3", "gauge_walk", "gauge_jitter", "float_drift"]
    kind = kinds[i % len(kinds)]
    iv = [base_iv, base_iv, base_iv * 2, 10000, 30000, 60000, 1000 * 5][rng.randrange(7)]
    phase = rng.randrange(iv)
    ts = regular_ts(start, end, iv, phase)
    labels = [("job", ["api", "web", "db", "batch"][i % 4]),
              ("instance", "%shost-%02d:9100" % (prefix, i % 23)),
              ("kind", kind), ("idx", str(i))]
    if kind == "counter_int":
        c = rng.randrange(10 ** 6)
        vals = []
        for _ in ts:
            vals.append(str(c))
            c += rng.choice([0, 0, 1, 5, 17, 100, 1000])
        name = "mixed_requests_total"
    elif kind == "counter_float3":
        c = rng.randrange(10 ** 7)
        vals = []
        for _ in ts:
            vals.append(fmt_milli(c))
            c += rng.randrange(0, 5000)
        name = "mixed_cpu_seconds_total"
    elif kind == "gauge_walk":
        g = rng.randrange(-500, 500)
        vals = []
        for _ in ts:
            vals.append(str(g))
            g += rng.randint(-10, 10)
        name = "mixed_queue_length"
    elif kind == "gauge_jitter":
        ts = sorted(set(max(start, min(end - 1, t + rng.randint(-iv // 5, iv // 5))) for t in ts))
        vals = [str(rng.randint(0, 1 << 40)) for _ in ts]
        name = "mixed_memory_bytes"
    else:
        v = rng.uniform(-1e3, 1e3)
        vals = []
        for _ in ts:
            vals.append(fmt_float(v))
            v += rng.uniform(-0.01, 0.01)
        name = "mixed_temperature_celsius"
    return Series(name, labels, list(zip(ts, vals)))


def gen_mixed(args, w):
    base_iv = int(round(args.interval_s * 1000))
    start = args.start_ms
    end = start + int(round(args.hours * HOUR_MS))
    off = args.ts_offset_ms
    rng = random.Random(mix(args.seed, 0xCA7))
    cat = mixed_catalogue(rng, start, end, base_iv, args.label_value_prefix)
    series = cat[: args.series]
    for i in range(len(series), args.series):
        series.append(mixed_generic(random.Random(mix(args.seed, 0x6E, i)), i, start, end, base_iv,
                                    args.label_value_prefix))
    for s in series:
        head = series_text(s.name, s.labels) + " "
        prev = None
        lines = []
        for t, v in s.samples:
            t += off
            if t < start or t >= end:
                continue
            assert prev is None or t > prev, (s.name, s.labels, t)
            prev = t
            lines.append(head + v + " " + fmt_ts(t) + "\n")
        w("".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=200, help="number of series (default 200)")
    ap.add_argument("--start-ms", type=int, default=1699920000000,
                    help="window start, ms (default 1699920000000, 2h-aligned)")
    ap.add_argument("--hours", type=float, default=2.0, help="window length in hours (default 2)")
    ap.add_argument("--interval-s", type=float, default=15.0, help="base scrape interval (default 15)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", choices=["mixed", "realistic"], default="mixed")
    ap.add_argument("--label-value-prefix", default="", help="prepended to every instance value")
    ap.add_argument("--ts-offset-ms", type=int, default=0,
                    help="added to every timestamp (samples leaving the window are dropped)")
    ap.add_argument("--gap", default="",
                    help="realistic profile: no samples in [A, B) minutes after --start-ms (A:B), "
                         "e.g. an HA replica that was down")
    ap.add_argument("-o", "--output", help="output file (default stdout)")
    args = ap.parse_args()
    if args.series < 0 or args.hours <= 0 or args.interval_s <= 0 or args.start_ms < 0:
        ap.error("bad --series/--hours/--interval-s/--start-ms")
    if int(round(args.interval_s * 1000)) < 1:
        ap.error("--interval-s must be at least 0.001")
    for ch in args.label_value_prefix:
        if ch == "\x00":
            ap.error("NUL in --label-value-prefix")
    out = open(args.output, "w", encoding="utf-8", newline="\n") if args.output else \
        open(sys.stdout.fileno(), "w", encoding="utf-8", newline="\n", closefd=False)
    buf = []
    size = 0

    def w(s):
        nonlocal size
        buf.append(s)
        size += len(s)
        if size > (8 << 20):
            out.write("".join(buf))
            buf.clear()
            size = 0

    if args.profile == "realistic":
        gen_realistic(args, w)
    else:
        gen_mixed(args, w)
    w("# EOF\n")
    out.write("".join(buf))
    out.close()


if __name__ == "__main__":
    main()
