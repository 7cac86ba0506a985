/*
 * bench_xor.c - throughput of the XOR chunk encoder and decoder on data shaped like a
 * Prometheus scrape (120-sample chunks, 15 s interval with a few ms of jitter, a mix of integer
 * and 3-decimal monotonic counters and integer random-walk gauges), and of CRC-32C with and
 * without SSE4.2. Not a test: it prints one line per measurement.
 *
 *   bench_xor [series]        (default 20000 series = 2.4 M samples per round)
 *
 * Two data sets: timestamps with -2..2 ms of scrape jitter (nearly every dod is non-zero), and
 * exact 15 s steps (the shape of the promtool-made blocks in the anchor numbers).
 *
 * Then the aggregates of a downsampled chunk: count, sum, min and max of 6 h of a 15 s gauge at
 * 5 m (72 windows, the last one cut short in one chunk of eight), encoded as four separate
 * batches and as one shared-timestamp batch of four.
 */
#include "codec/codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PER_CHUNK   CODEC_CHUNK_TARGET_SAMPLES
#define MIN_SECONDS 1.5
#define CRC_SECONDS 0.5

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* CPU time of this thread: the machine is shared (builds, other benchmarks), and what is
 * measured here is single-threaded work. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Value models of the 50 series of one scrape target (like tests/scripts/gen_openmetrics.py,
 * whose blocks the Prometheus anchor numbers were measured on): up, integer counters of many
 * rates, 3-decimal float counters, integer random-walk gauges (memory sizes in pages, counts). */
enum kind { UP, COUNTER, MCOUNTER, WALK, SLOW };
typedef struct model {
    enum kind kind;
    double a;    /* counter: increment scale; walk: start */
    double unit; /* walk: step unit */
    int step;    /* walk: max steps per sample */
} model;

static model slot_model(size_t slot)
{
    static const double rates[] = {1200, 36, 6, 400, 12, 2};
    if (slot == 0)
        return (model){UP, 0, 0, 0};
    if (slot == 1)
        return (model){MCOUNTER, 900, 0, 0};
    if (slot == 2)
        return (model){WALK, 200 * 1048576.0, 4096, 64};
    if (slot == 3)
        return (model){WALK, 120, 1, 3};
    if (slot == 4)
        return (model){WALK, 30 * 1048576.0, 1, 200000};
    if (slot < 35)
        return (model){COUNTER, rates[(slot - 5) % 6], 0, 0};
    if (slot < 40)
        return (model){MCOUNTER, 2500 + 700 * (double)(slot - 35), 0, 0};
    if (slot < 45)
        return (model){COUNTER, 50 + 30 * (double)(slot - 40), 0, 0};
    if (slot < 48)
        return (model){COUNTER, slot == 45 ? 180000 : slot == 46 ? 25000 : 3000, 0, 0};
    if (slot == 48)
        return (model){SLOW, 3000, 0, 0};
    return (model){WALK, 300 * 1048576.0, 4096, 128};
}

/* One series' chunk: every 15 s from its target's phase, plus -jitter..jitter ms. */
static void make_series(size_t s, int jitter, int64_t *t, double *v)
{
    model m = slot_model(s % 50);
    int64_t base = 1700000000000ll + (int64_t)((s / 50) * 7919 % 15000);
    double x = m.kind == WALK ? m.a : (double)(rnd() % 100000);
    if (m.kind == MCOUNTER)
        x = round(x) / 1000;
    for (size_t i = 0; i < PER_CHUNK; i++) {
        t[i] = base + 15000 * (int64_t)i;
        if (jitter)
            t[i] += (int64_t)(rnd() % (uint64_t)(2 * jitter + 1)) - jitter;
        uint64_t r = rnd();
        switch (m.kind) {
        case UP:
            x = r % 5000 ? 1 : 0;
            break;
        case COUNTER:
            x += (double)(r % (uint64_t)m.a) + 0.0;
            break;
        case MCOUNTER:
            /* Thousandths as decimal text would give them: the nearest double. */
            x = round(x * 1000 + (double)(r % (uint64_t)m.a)) / 1000;
            break;
        case WALK:
            x = fabs(x + (double)((int)(r % (uint64_t)(2 * m.step + 1)) - m.step) * m.unit);
            break;
        case SLOW:
            x = floor((double)(s * 7 + i) / m.a);
            break;
        }
        v[i] = x;
    }
}

typedef struct dataset {
    size_t nseries, nsamples;
    int64_t *t;
    double *v;
    st_buf chunks; /* one round's chunks, back to back */
    size_t *off;   /* chunk s is chunks.p[off[s] .. off[s + 1]) */
} dataset;

static int dataset_make(dataset *d, size_t nseries, int jitter, codec_xor_enc *e)
{
    d->nseries = nseries;
    d->nsamples = nseries * PER_CHUNK;
    d->t = malloc(d->nsamples * sizeof(*d->t));
    d->v = malloc(d->nsamples * sizeof(*d->v));
    d->off = malloc((nseries + 1) * sizeof(*d->off));
    st_buf_init(&d->chunks, 0);
    if (!d->t || !d->v || !d->off)
        return ST_ENOMEM;
    for (size_t s = 0; s < nseries; s++)
        make_series(s, jitter, d->t + s * PER_CHUNK, d->v + s * PER_CHUNK);
    for (size_t s = 0; s < nseries; s++) {
        codec_xor_enc_reset(e);
        int rc =
            codec_xor_enc_append_batch(e, d->t + s * PER_CHUNK, d->v + s * PER_CHUNK, PER_CHUNK);
        codec_chunk c = codec_xor_enc_chunk(e);
        d->off[s] = d->chunks.len;
        if (rc || (rc = st_buf_append(&d->chunks, c.data, c.len)))
            return rc;
    }
    d->off[nseries] = d->chunks.len;
    return 0;
}

static void dataset_free(dataset *d)
{
    free(d->t);
    free(d->v);
    free(d->off);
    st_buf_release(&d->chunks);
}

static void report(const char *what, const char *data, const dataset *d, size_t rounds, double el)
{
    printf("xor %-6s %-15s %7.2f M samples/s %8.1f MB/s of chunk bytes  (%zu rounds, %.2f s CPU)\n",
           what, data, (double)(rounds * d->nsamples) / el / 1e6,
           (double)rounds * (double)d->chunks.len / el / 1e6, rounds, el);
}

static uint64_t bench_codec(const char *name, const dataset *d, codec_xor_enc *e)
{
    /* Encode: each chunk is built and left in the encoder, as a writer would then copy it. */
    size_t rounds = 0, bytes = 0;
    double t0 = now_s(), el;
    do {
        for (size_t s = 0; s < d->nseries; s++) {
            codec_xor_enc_reset(e);
            codec_xor_enc_append_batch(e, d->t + s * PER_CHUNK, d->v + s * PER_CHUNK, PER_CHUNK);
            bytes += codec_xor_enc_chunk(e).len;
        }
        rounds++;
        el = now_s() - t0;
    } while (el < MIN_SECONDS);
    report("encode", name, d, rounds, el);
    if (bytes != rounds * d->chunks.len)
        fprintf(stderr, "encoder output changed between rounds\n");

    /* Decode every chunk into a 120-sample batch. */
    int64_t bt[PER_CHUNK];
    double bv[PER_CHUNK];
    uint64_t check = 0;
    st_err err;
    st_err_init(&err);
    rounds = 0;
    t0 = now_s();
    do {
        for (size_t s = 0; s < d->nseries; s++) {
            size_t n;
            if (codec_xor_decode(d->chunks.p + d->off[s], d->off[s + 1] - d->off[s], bt, bv,
                                 PER_CHUNK, &n, "bench", &err)) {
                fprintf(stderr, "%s\n", err.msg);
                exit(1);
            }
            check += (uint64_t)bt[n - 1] + (uint64_t)bv[n / 2];
        }
        rounds++;
        el = now_s() - t0;
    } while (el < MIN_SECONDS);
    report("decode", name, d, rounds, el);
    return check;
}

static uint64_t bench_crc(const dataset *d)
{
    enum { BLOCK = 1 << 20 };
    uint8_t *blk = malloc(BLOCK);
    if (!blk)
        exit(1);
    for (size_t i = 0; i < BLOCK; i++)
        blk[i] = (uint8_t)rnd();
    struct {
        const char *name;
        uint32_t (*fn)(uint32_t, const void *, size_t);
        int ok;
    } crcs[] = {
        {"hw", codec_crc32c_hw, codec_crc32c_hw_available()},
        {"sw", codec_crc32c_sw, 1},
    };
    uint64_t check = 0;
    for (size_t k = 0; k < ST_ARRAY_LEN(crcs); k++) {
        if (!crcs[k].ok) {
            printf("crc32c %s: not available on this CPU\n", crcs[k].name);
            continue;
        }
        /* 1 MiB blocks (index sections), then the chunks one by one (chunk records). */
        uint32_t c = 0;
        double bytes = 0, el, t0 = now_s();
        do {
            c = crcs[k].fn(c, blk, BLOCK);
            bytes += BLOCK;
            el = now_s() - t0;
        } while (el < CRC_SECONDS);
        double big = bytes / el / 1e6;
        bytes = 0;
        t0 = now_s();
        do {
            for (size_t s = 0; s < d->nseries; s++)
                c ^= crcs[k].fn(0, d->chunks.p + d->off[s], d->off[s + 1] - d->off[s]);
            bytes += (double)d->chunks.len;
            el = now_s() - t0;
        } while (el < CRC_SECONDS);
        check += c;
        printf("crc32c %s: %8.1f MB/s over 1 MiB blocks, %8.1f MB/s over single chunks "
               "(%.0f bytes each)\n",
               crcs[k].name, big, bytes / el / 1e6, (double)d->chunks.len / (double)d->nseries);
    }
    free(blk);
    return check;
}

/* ---- downsampled aggregates: four chunks on one timestamp array ---- */
#define AGGR_WINDOWS 72
#define AGGR_K       4

typedef struct aggrset {
    size_t nchunks;
    int64_t *t;        /* AGGR_WINDOWS stamps per chunk */
    double *v[AGGR_K]; /* count, sum, min, max */
} aggrset;

/* A gauge random walk of noisy floats (full mantissas, like a rate or a temperature) sampled
 * every 15 s, cut in 5 m windows of 20 samples: count 20, sum, min, max at the window's end. */
static int aggrset_make(aggrset *a, size_t nchunks)
{
    a->nchunks = nchunks;
    size_t n = nchunks * AGGR_WINDOWS;
    a->t = malloc(n * sizeof(*a->t));
    for (int k = 0; k < AGGR_K; k++)
        a->v[k] = malloc(n * sizeof(double));
    if (!a->t || !a->v[0] || !a->v[1] || !a->v[2] || !a->v[3])
        return ST_ENOMEM;
    for (size_t c = 0; c < nchunks; c++) {
        int64_t base = 1700000000000ll - 1700000000000ll % 300000 + 300000;
        double x = 50 + (double)(rnd() % 5000) / 100;
        double scale = (double)(1 + rnd() % 100) / 100;
        for (size_t w = 0; w < AGGR_WINDOWS; w++) {
            size_t i = c * AGGR_WINDOWS + w;
            int64_t end = base + 300000 * (int64_t)w - 1;
            size_t raw = 20;
            if (w == AGGR_WINDOWS - 1 && c % 8 == 3) {
                raw = 1 + rnd() % 19; /* the block ends inside the last window */
                end = base + 300000 * (int64_t)(w - 1) + 15000 * (int64_t)raw - 1 -
                      (int64_t)(rnd() % 5000);
            }
            double sum = 0, mn = INFINITY, mx = -INFINITY;
            for (size_t r = 0; r < raw; r++) {
                x += ((double)(rnd() >> 11) / 9007199254740992.0 - 0.5) * scale;
                sum += x;
                mn = x < mn ? x : mn;
                mx = x > mx ? x : mx;
            }
            a->t[i] = end;
            a->v[0][i] = (double)raw;
            a->v[1][i] = sum;
            a->v[2][i] = mn;
            a->v[3][i] = mx;
        }
    }
    return 0;
}

static void aggrset_free(aggrset *a)
{
    free(a->t);
    for (int k = 0; k < AGGR_K; k++)
        free(a->v[k]);
}

static uint64_t bench_shared(const aggrset *a, codec_xor_enc *enc)
{
    codec_xor_enc *ep[AGGR_K] = {&enc[0], &enc[1], &enc[2], &enc[3]};
    uint64_t bytes[2] = {0, 0};
    double rate[2];
    for (int shared = 0; shared < 2; shared++) {
        size_t rounds = 0;
        double t0 = now_s(), el;
        do {
            for (size_t c = 0; c < a->nchunks; c++) {
                size_t off = c * AGGR_WINDOWS;
                const double *vp[AGGR_K];
                for (int k = 0; k < AGGR_K; k++) {
                    codec_xor_enc_reset(&enc[k]);
                    vp[k] = a->v[k] + off;
                }
                if (shared) {
                    codec_xor_enc_append_batch_shared(ep, AGGR_K, a->t + off, vp, AGGR_WINDOWS);
                } else {
                    for (int k = 0; k < AGGR_K; k++)
                        codec_xor_enc_append_batch(&enc[k], a->t + off, vp[k], AGGR_WINDOWS);
                }
                for (int k = 0; k < AGGR_K; k++)
                    bytes[shared] += codec_xor_enc_chunk(&enc[k]).len;
            }
            rounds++;
            el = now_s() - t0;
        } while (el < MIN_SECONDS);
        rate[shared] = (double)(rounds * a->nchunks * AGGR_WINDOWS * AGGR_K) / el / 1e6;
        bytes[shared] /= rounds;
        printf("xor encode aggregates x%d %-9s %7.2f M samples/s  (%.2f bytes/sample, %zu rounds, "
               "%.2f s CPU)\n",
               AGGR_K, shared ? "shared" : "separate", rate[shared],
               (double)bytes[shared] / (double)(a->nchunks * AGGR_WINDOWS * AGGR_K), rounds, el);
    }
    if (bytes[0] != bytes[1])
        fprintf(stderr, "shared and separate encodes differ in size\n");
    printf("xor encode aggregates x%d shared/separate %.2fx\n", AGGR_K, rate[1] / rate[0]);
    return bytes[0];
}

int main(int argc, char **argv)
{
    size_t nseries = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 20000;
    if (nseries == 0)
        nseries = 1;
    static const struct {
        const char *name;
        int jitter;
    } sets[] = {{"(jitter 2 ms)", 2}, {"(no jitter)", 0}};
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    uint64_t check = 0;
    dataset d;
    for (size_t i = 0; i < ST_ARRAY_LEN(sets); i++) {
        if (dataset_make(&d, nseries, sets[i].jitter, &e)) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        printf("data %-15s %zu series x %d samples, %.2f bytes/sample in chunks\n", sets[i].name,
               nseries, PER_CHUNK, (double)d.chunks.len / (double)d.nsamples);
        check += bench_codec(sets[i].name, &d, &e);
        if (i + 1 < ST_ARRAY_LEN(sets))
            dataset_free(&d);
    }
    aggrset a;
    codec_xor_enc enc[AGGR_K];
    for (int k = 0; k < AGGR_K; k++)
        codec_xor_enc_init(&enc[k]);
    if (aggrset_make(&a, nseries)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    check += bench_shared(&a, enc);
    aggrset_free(&a);
    for (int k = 0; k < AGGR_K; k++)
        codec_xor_enc_release(&enc[k]);
    check += bench_crc(&d);
    printf("(checksum %llx)\n", (unsigned long long)check);
    dataset_free(&d);
    codec_xor_enc_release(&e);
    return 0;
}
