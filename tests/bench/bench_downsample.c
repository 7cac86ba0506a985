/*
 * bench_downsample.c - writes a large synthetic raw block for the downsampling benchmark
 * (tests/bench/bench_downsample.sh), faster than generating OpenMetrics text and running
 * promtool: `bench_downsample DIR SERIES HOURS [INTERVAL_S]` makes DIR/<ULID> with SERIES series
 * sampled every INTERVAL_S (15) seconds for HOURS hours, in 120-sample XOR chunks as Prometheus
 * cuts them, and prints the block directory.
 *
 * Series are 50 metric names x SERIES/50 instances: a third counters (random increments, a reset
 * now and then), a third gauges (random walks in float), a third slow integer gauges; scrapes
 * jitter by a few milliseconds, so timestamps are not perfectly regular.
 */
#include "codec/codec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void die(const char *what, const st_err *e)
{
    fprintf(stderr, "bench_downsample: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_downsample DIR SERIES HOURS [INTERVAL_S]\n");
        return 2;
    }
    const char *out = argv[1];
    long nseries = atol(argv[2]);
    double hours = atof(argv[3]);
    int64_t interval = argc > 4 ? (int64_t)(atof(argv[4]) * 1000) : 15000;
    if (nseries < 50 || hours <= 0 || interval <= 0)
        die("bad arguments (at least 50 series)", NULL);
    long ninst = nseries / 50;
    int64_t start = 1699920000000LL;
    int64_t n = (int64_t)(hours * 3600000.0) / interval;

    st_err err;
    st_err_init(&err);
    codec_ulid id;
    if (codec_ulid_new(&id, st_now_ms()))
        die("ulid", NULL);
    char dir[4096], p[4200];
    snprintf(dir, sizeof(dir), "%s/%s", out, id.s);
    snprintf(p, sizeof(p), "%s/chunks", dir);
    if (st_mkdir_p(dir, &err))
        die("mkdir", &err);
    codec_chunk_writer *cw;
    if (codec_chunk_writer_create(&cw, p, 0, &err))
        die("chunk writer", &err);
    snprintf(p, sizeof(p), "%s/index", dir);
    codec_index_writer *iw;
    if (codec_index_writer_create(&iw, p, &err))
        die("index writer", &err);

    /* symbols, sorted */
    size_t nsym = 0;
    char **syms = calloc((size_t)(50 + ninst + 4), sizeof(char *));
    syms[nsym++] = strdup("__name__");
    syms[nsym++] = strdup("instance");
    syms[nsym++] = strdup("job");
    syms[nsym++] = strdup("bench");
    char buf[64];
    for (int m = 0; m < 50; m++) {
        snprintf(buf, sizeof(buf), "bench_metric_%02d", m);
        syms[nsym++] = strdup(buf);
    }
    for (long i = 0; i < ninst; i++) {
        snprintf(buf, sizeof(buf), "host-%06ld:9100", i);
        syms[nsym++] = strdup(buf);
    }
    qsort(syms, nsym, sizeof(char *), cmp_str);
    for (size_t i = 0; i < nsym; i++)
        if (codec_index_writer_add_symbol(iw, codec_str_c(syms[i]), &err))
            die("symbol", &err);

    size_t nchunks = (size_t)((n + 119) / 120);
    codec_xor_enc *enc = calloc(nchunks, sizeof(*enc));
    codec_chunk *chks = calloc(nchunks, sizeof(*chks));
    codec_chunk_meta *metas = calloc(nchunks, sizeof(*metas));
    uint64_t *refs = calloc(nchunks, sizeof(*refs));
    for (size_t c = 0; c < nchunks; c++)
        codec_xor_enc_init(&enc[c]);
    uint64_t samples = 0;
    int64_t maxt = start;
    for (int m = 0; m < 50; m++) {
        char name[32];
        snprintf(name, sizeof(name), "bench_metric_%02d", m);
        for (long i = 0; i < ninst; i++) {
            char inst[32];
            snprintf(inst, sizeof(inst), "host-%06ld:9100", i);
            int kind = m % 3;
            int64_t phase = (int64_t)(rnd() % (uint64_t)interval);
            double v = kind == 1 ? (double)(rnd() % 100000) / 7.0 : (double)(rnd() % 1000);
            for (size_t c = 0; c < nchunks; c++) {
                codec_xor_enc_reset(&enc[c]);
                int64_t k0 = (int64_t)c * 120, k1 = k0 + 120 < n ? k0 + 120 : n;
                for (int64_t k = k0; k < k1; k++) {
                    int64_t t = start + phase + k * interval + (int64_t)(rnd() % 5);
                    if (kind == 0)
                        v = rnd() % 20000 == 0 ? 0 : v + (double)(rnd() % 1000);
                    else if (kind == 1)
                        v += ((double)(rnd() % 2001) - 1000.0) / 64.0;
                    else if (rnd() % 50 == 0)
                        v += (double)(rnd() % 3) - 1.0;
                    if (codec_xor_enc_append(&enc[c], t, v))
                        die("append", NULL);
                    if (k == k0)
                        metas[c].mint = t;
                    metas[c].maxt = t;
                }
                codec_chunk x = codec_xor_enc_chunk(&enc[c]);
                chks[c] = (codec_chunk){.enc = CODEC_ENC_XOR, .data = x.data, .len = x.len};
                samples += (uint64_t)(k1 - k0);
            }
            if (metas[nchunks - 1].maxt > maxt)
                maxt = metas[nchunks - 1].maxt;
            if (codec_chunk_writer_write(cw, chks, nchunks, refs, &err))
                die("write chunks", &err);
            for (size_t c = 0; c < nchunks; c++)
                metas[c].ref = refs[c];
            codec_label l[3] = {{codec_str_c("__name__"), codec_str_c(name)},
                                {codec_str_c("instance"), codec_str_c(inst)},
                                {codec_str_c("job"), codec_str_c("bench")}};
            if (codec_index_writer_add_series(iw, l, 3, metas, (uint32_t)nchunks, NULL, &err))
                die("add series", &err);
        }
    }
    if (codec_chunk_writer_close(cw, &err) || codec_index_writer_close(iw, &err))
        die("close", &err);
    codec_chunk_writer_free(cw);
    codec_index_writer_free(iw);
    char meta[1024];
    snprintf(meta, sizeof(meta),
             "{\n\t\"ulid\": \"%s\",\n\t\"minTime\": %" PRId64 ",\n\t\"maxTime\": %" PRId64
             ",\n\t\"stats\": {\n\t\t\"numSamples\": %" PRIu64 ",\n\t\t\"numSeries\": %ld,\n"
             "\t\t\"numChunks\": %zu\n\t},\n\t\"compaction\": {\n\t\t\"level\": 1,\n"
             "\t\t\"sources\": [\n\t\t\t\"%s\"\n\t\t]\n\t},\n\t\"version\": 1\n}\n",
             id.s, start, maxt + 1, samples, 50 * ninst, nchunks * (size_t)(50 * ninst), id.s);
    snprintf(p, sizeof(p), "%s/meta.json", dir);
    if (st_write_file_atomic(p, meta, strlen(meta), &err))
        die("meta", &err);
    printf("%s\n", dir);
    for (size_t c = 0; c < nchunks; c++)
        codec_xor_enc_release(&enc[c]);
    for (size_t i = 0; i < nsym; i++)
        free(syms[i]);
    free(syms);
    free(enc);
    free(chks);
    free(metas);
    free(refs);
    return 0;
}
