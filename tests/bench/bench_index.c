/*
 * bench_index.c - index writer and reader throughput. Without arguments: build a 100k-series
 * index shaped like Kubernetes scrape targets (10 labels per series, 4 chunk metas each), time
 * the write, then time opening it and reading every series' labels and chunk metas. With a path:
 * time reading that index instead.
 *
 *   bench_index [index-file]
 */
#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSERIES 100000
#define NLABELS 10
#define NCHUNKS 4
#define NPODS   500
#define NMETRIC (NSERIES / NPODS)

typedef struct bseries {
    codec_label l[NLABELS];
} bseries;

static int series_cmp(const void *a, const void *b)
{
    return codec_labels_cmp(((const bseries *)a)->l, NLABELS, ((const bseries *)b)->l, NLABELS);
}

static int str_cmp(const void *a, const void *b)
{
    return codec_str_cmp(*(const codec_str *)a, *(const codec_str *)b);
}

static codec_str adup(st_arena *a, const char *s)
{
    size_t n = strlen(s);
    codec_str r = {st_arena_strndup(a, s, n), (uint32_t)n};
    if (!r.p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return r;
}

static void die(const char *what, const st_err *err)
{
    fprintf(stderr, "%s: %s\n", what, err->msg);
    exit(1);
}

static int bench_read(const char *path)
{
    st_err err;
    st_err_init(&err);
    uint64_t t0 = st_mono_ns();
    codec_index *idx;
    if (codec_index_open(&idx, path, &err))
        die("open", &err);
    uint64_t t1 = st_mono_ns();
    codec_series_iter *it;
    if (codec_series_iter_create(&it, idx, &err))
        die("iterate", &err);
    uint64_t n = 0, labels = 0, chunks = 0;
    int rc;
    while ((rc = codec_series_iter_next(it, &err)) == 0) {
        const codec_series *s = codec_series_iter_at(it);
        labels += s->nlabels;
        chunks += s->nchunks;
        n++;
    }
    if (rc != ST_ITEROVER)
        die("iterate", &err);
    uint64_t t2 = st_mono_ns();
    codec_series_iter_free(it);
    double total = (double)(t2 - t0) / 1e9;
    printf("read  %s: %llu series, %llu labels, %llu chunk metas, %u symbols\n", path,
           (unsigned long long)n, (unsigned long long)labels, (unsigned long long)chunks,
           codec_index_nsymbols(idx));
    printf("read  open %.3f ms, series %.3f ms, total %.3f ms, %.0f ns/series, %.0f series/s\n",
           (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, total * 1e3,
           n ? (double)(t2 - t0) / (double)n : 0.0, n ? (double)n / total : 0.0);
    printf("size  %llu bytes (%.1f bytes/series)\n", (unsigned long long)codec_index_size(idx),
           n ? (double)codec_index_size(idx) / (double)n : 0.0);
    codec_index_free(idx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return bench_read(argv[1]);

    st_arena a;
    st_arena_init(&a, 1 << 20);
    bseries *s = calloc(NSERIES, sizeof(*s));
    codec_str *syms = calloc(NSERIES * NLABELS * 2, sizeof(*syms));
    if (!s || !syms)
        return 1;
    static const char *const names[NLABELS] = {
        "__name__",  "container", "endpoint", "instance",   "job",
        "namespace", "node",      "pod",      "prometheus", "service",
    };
    char buf[256];
    for (int m = 0; m < NMETRIC; m++) {
        snprintf(buf, sizeof(buf), "%s_%s_%d", m % 3 ? "container" : "kube_pod",
                 m % 2 ? "seconds_total" : "bytes", m);
        codec_str metric = adup(&a, buf);
        for (int p = 0; p < NPODS; p++) {
            bseries *b = &s[m * NPODS + p];
            int ns = p % 20, node = p % 50, app = p % 25;
            codec_str v[NLABELS];
            v[0] = metric;
            snprintf(buf, sizeof(buf), "app-%d", app);
            v[1] = adup(&a, buf);
            v[2] = adup(&a, m % 2 ? "https-metrics" : "http");
            snprintf(buf, sizeof(buf), "10.%d.%d.%d:%d", node, p / 250, p % 250, 8080 + app);
            v[3] = adup(&a, buf);
            snprintf(buf, sizeof(buf), "kubernetes-%s", m % 4 ? "cadvisor" : "pods");
            v[4] = adup(&a, buf);
            snprintf(buf, sizeof(buf), "team-%02d", ns);
            v[5] = adup(&a, buf);
            snprintf(buf, sizeof(buf), "ip-10-0-%d-%d.ec2.internal", node / 10, node);
            v[6] = adup(&a, buf);
            snprintf(buf, sizeof(buf), "app-%d-7d9f8b6c5-%05x", app, p * 7919);
            v[7] = adup(&a, buf);
            v[8] = adup(&a, "monitoring/k8s");
            snprintf(buf, sizeof(buf), "svc-%d", app);
            v[9] = adup(&a, buf);
            for (int l = 0; l < NLABELS; l++)
                b->l[l] = (codec_label){codec_str_c(names[l]), v[l]};
        }
    }
    qsort(s, NSERIES, sizeof(*s), series_cmp);
    size_t k = 0;
    for (size_t i = 0; i < NSERIES; i++)
        for (int l = 0; l < NLABELS; l++) {
            syms[k++] = s[i].l[l].name;
            syms[k++] = s[i].l[l].value;
        }
    qsort(syms, k, sizeof(*syms), str_cmp);
    size_t nsyms = 0;
    for (size_t i = 0; i < k; i++)
        if (nsyms == 0 || codec_str_cmp(syms[nsyms - 1], syms[i]) != 0)
            syms[nsyms++] = syms[i];

    char path[] = "/tmp/strata-bench-index-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);

    st_err err;
    st_err_init(&err);
    uint64_t t0 = st_mono_ns();
    codec_index_writer *w;
    if (codec_index_writer_create(&w, path, &err))
        die("create", &err);
    for (size_t i = 0; i < nsyms; i++)
        if (codec_index_writer_add_symbol(w, syms[i], &err))
            die("symbol", &err);
    const int64_t base = 1700000000000;
    uint64_t ref = 8;
    for (size_t i = 0; i < NSERIES; i++) {
        codec_chunk_meta c[NCHUNKS];
        for (int j = 0; j < NCHUNKS; j++) {
            c[j].mint = base + j * 1800000 + (int64_t)(i % 30) * 1000;
            c[j].maxt = c[j].mint + 119 * 15000;
            c[j].ref = ref;
            ref += 140 + (i + j) % 60;
        }
        if (codec_index_writer_add_series(w, s[i].l, NLABELS, c, NCHUNKS, NULL, &err))
            die("series", &err);
    }
    if (codec_index_writer_close(w, &err))
        die("close", &err);
    codec_index_writer_free(w);
    uint64_t t1 = st_mono_ns();
    printf("write %d series x %d labels x %d chunk metas, %zu symbols: %.3f ms (%.0f ns/series)\n",
           NSERIES, NLABELS, NCHUNKS, nsyms, (double)(t1 - t0) / 1e6, (double)(t1 - t0) / NSERIES);
    bench_read(path);
    unlink(path);
    free(s);
    free(syms);
    st_arena_release(&a);
    return 0;
}
