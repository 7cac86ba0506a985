/*
 * bench_objstore.c - GET and PUT throughput of one large object (256 MiB by default) through
 * strata's S3 backend: a single PUT (payload SHA-256 signed, as over http), a multipart PUT
 * (64 MiB parts, 4 in parallel), a single GET into memory, a GET to a file, and a "multipart"
 * GET (4 parallel range GETs of a quarter each). Not a test: one line per measurement, the best
 * of N rounds, for tests/bench/objstore_vs_curl.sh to set beside the curl command line.
 *
 *   bench_objstore ENDPOINT BUCKET ACCESS_KEY SECRET_KEY [MiB] [rounds]
 *
 * Output lines: "strata <what> <seconds> <MiB/s>".
 */
#include "objstore/objstore.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double now_s(void)
{
    return (double)st_mono_ns() / 1e9;
}

static objstore *open_s3(const char *ep, const char *bucket, const char *ak, const char *sk,
                         const char *extra)
{
    char y[1024];
    snprintf(y, sizeof(y),
             "type: S3\nconfig:\n  bucket: %s\n  endpoint: %s\n  insecure: true\n"
             "  access_key: \"%s\"\n  secret_key: \"%s\"\n%s",
             bucket, ep, ak, sk, extra);
    objstore *s = NULL;
    st_err err;
    st_err_init(&err);
    if (objstore_open_yaml(&s, y, strlen(y), "bench", &err)) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    return s;
}

static void check(int rc, const st_err *err, const char *what)
{
    if (rc) {
        fprintf(stderr, "%s: %s\n", what, err->msg);
        exit(1);
    }
}

typedef struct range_job {
    objstore *s;
    const char *key;
    uint64_t off, len;
    st_buf out;
    int rc;
    st_err err;
} range_job;

static void *range_thread(void *arg)
{
    range_job *j = arg;
    st_err_init(&j->err);
    j->rc = objstore_get_range(j->s, j->key, j->off, j->len, &j->out, &j->err);
    return NULL;
}

static void report(const char *what, double best, size_t size)
{
    printf("strata %s %.3f %.1f\n", what, best, (double)size / (1 << 20) / best);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s ENDPOINT BUCKET ACCESS_KEY SECRET_KEY [MiB] [rounds]\n",
                argv[0]);
        return 2;
    }
    size_t size = (size_t)(argc > 5 ? atoi(argv[5]) : 256) << 20;
    int rounds = argc > 6 ? atoi(argv[6]) : 3;
    st_log_setup(ST_LOG_WARN, ST_LOG_LOGFMT);
    objstore *single = open_s3(argv[1], argv[2], argv[3], argv[4], "  disable_multipart: true\n");
    objstore *multi = open_s3(argv[1], argv[2], argv[3], argv[4], "  part_size: 67108864\n");
    uint8_t *data = malloc(size);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < size; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(data + i, &x, ST_MIN(8, size - i));
    }
    char path[] = "/tmp/strata-bench-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    st_err err;
    double best;

    best = 1e9;
    for (int r = 0; r < rounds; r++) {
        st_err_init(&err);
        double t0 = now_s();
        check(objstore_put(single, "bench/single", data, size, &err), &err, "put single");
        best = ST_MIN(best, now_s() - t0);
    }
    report("put_single", best, size);

    best = 1e9;
    for (int r = 0; r < rounds; r++) {
        st_err_init(&err);
        double t0 = now_s();
        check(objstore_put(multi, "bench/multi", data, size, &err), &err, "put multipart");
        best = ST_MIN(best, now_s() - t0);
    }
    report("put_multipart", best, size);

    st_buf b;
    st_buf_init(&b, 0);
    best = 1e9;
    for (int r = 0; r < rounds; r++) {
        st_buf_release(&b);
        st_buf_init(&b, 0);
        st_err_init(&err);
        double t0 = now_s();
        check(objstore_get(single, "bench/single", &b, 0, &err), &err, "get single");
        best = ST_MIN(best, now_s() - t0);
    }
    if (b.len != size || memcmp(b.p, data, size) != 0) {
        fprintf(stderr, "get single: wrong bytes\n");
        return 1;
    }
    st_buf_release(&b);
    report("get_single", best, size);

    best = 1e9;
    for (int r = 0; r < rounds; r++) {
        st_err_init(&err);
        double t0 = now_s();
        check(objstore_get_file(single, "bench/single", path, &err), &err, "get file");
        best = ST_MIN(best, now_s() - t0);
    }
    report("get_file", best, size);

    best = 1e9;
    for (int r = 0; r < rounds; r++) {
        range_job j[4];
        pthread_t t[4];
        double t0 = now_s();
        for (int i = 0; i < 4; i++) {
            j[i] = (range_job){
                .s = multi, .key = "bench/multi", .off = (uint64_t)i * (size / 4), .len = size / 4};
            st_buf_init(&j[i].out, 0);
            pthread_create(&t[i], NULL, range_thread, &j[i]);
        }
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        best = ST_MIN(best, now_s() - t0);
        for (int i = 0; i < 4; i++) {
            check(j[i].rc, &j[i].err, "get range");
            if (j[i].out.len != size / 4 || memcmp(j[i].out.p, data + j[i].off, size / 4)) {
                fprintf(stderr, "get range %d: wrong bytes\n", i);
                return 1;
            }
            st_buf_release(&j[i].out);
        }
    }
    report("get_parallel_ranges", best, size);

    st_err_init(&err);
    check(objstore_delete(single, "bench/single", &err), &err, "delete");
    check(objstore_delete(multi, "bench/multi", &err), &err, "delete");
    unlink(path);
    free(data);
    objstore_free(single);
    objstore_free(multi);
    return 0;
}
