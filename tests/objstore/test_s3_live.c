/*
 * test_s3_live.c - S3-only checks against a real, signature-verifying server (the Swift s3api
 * server of tests/scripts/test_s3.sh): a wrong secret fails at once with a clear "signature
 * does not match" error and no retries; an unknown access key, a wrong region and a missing
 * bucket are classed and named; virtual-host addressing works (bucket.localhost); a multipart
 * upload the server refuses (parts under its 5 MiB minimum) is aborted.
 *
 * Needs STRATA_TEST_S3_ENDPOINT (host:port), STRATA_TEST_S3_BUCKET, STRATA_TEST_S3_ACCESS_KEY
 * and STRATA_TEST_S3_SECRET_KEY; without them every test is skipped.
 */
#include "tests/util/testutil.h"

#include "objstore/objstore.h"
#include "objstore/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *endpoint, *bucket, *ak, *sk;

static int have_server(void)
{
    endpoint = getenv("STRATA_TEST_S3_ENDPOINT");
    bucket = getenv("STRATA_TEST_S3_BUCKET");
    ak = getenv("STRATA_TEST_S3_ACCESS_KEY");
    sk = getenv("STRATA_TEST_S3_SECRET_KEY");
    return endpoint && bucket && ak && sk;
}

static objstore *open_with(const char *bkt, const char *secret, const char *access,
                           const char *extra, st_err *err)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "type: S3\nconfig:\n  bucket: %s\n  endpoint: %s\n  insecure: true\n"
             "  access_key: \"%s\"\n  secret_key: \"%s\"\n%s",
             bkt, endpoint, access, secret, extra ? extra : "");
    objstore *s = NULL;
    st_err_init(err);
    if (objstore_open_yaml(&s, y, strlen(y), "live.yml", err))
        return NULL;
    return s;
}

static double now_s(void)
{
    return (double)st_mono_ns() / 1e9;
}

static int count(void *ctx, const char *key, int is_prefix)
{
    (void)key;
    (void)is_prefix;
    ++*(int *)ctx;
    return 0;
}

static void s3_live__wrong_secret_fails_at_once_with_a_clear_error(void **state)
{
    (void)state;
    if (!have_server())
        skip();
    st_err err;
    objstore *s = open_with(bucket, "not-the-secret", ak, NULL, &err);
    assert_non_null(s);
    struct {
        const char *op;
        int rc;
        st_err err;
        double took;
        uint64_t requests;
    } r[3];
    st_buf b;
    st_buf_init(&b, 0);
    for (int i = 0; i < 3; i++) {
        s3_stats before, after;
        s3_get_stats(s, &before);
        st_err_init(&r[i].err);
        double t0 = now_s();
        int n = 0;
        r[i].op = i == 0 ? "list" : i == 1 ? "get" : "put";
        r[i].rc = i == 0   ? objstore_iter(s, "", 1, count, &n, &r[i].err)
                  : i == 1 ? objstore_get(s, "live/any", &b, 0, &r[i].err)
                           : objstore_put(s, "live/any", "x", 1, &r[i].err);
        r[i].took = now_s() - t0;
        s3_get_stats(s, &after);
        r[i].requests = after.requests - before.requests;
        printf("# wrong secret, %s: %.3f s, %llu request(s): %s\n", r[i].op, r[i].took,
               (unsigned long long)r[i].requests, r[i].err.msg);
    }
    for (int i = 0; i < 3; i++) {
        if (r[i].rc != ST_EAUTH || !strstr(r[i].err.msg, "SignatureDoesNotMatch") ||
            !strstr(r[i].err.msg, "signature does not match") ||
            !strstr(r[i].err.msg, "HTTP 403") || !strstr(r[i].err.msg, "s3://"))
            fail_msg("%s: rc %d: %s", r[i].op, r[i].rc, r[i].err.msg);
        assert_int_equal(objstore_err_class(r[i].rc), OBJSTORE_CLASS_FATAL);
        assert_int_equal(r[i].requests, 1); /* no retry loop */
        assert_true(r[i].took < 2.0);
        assert_null(strstr(r[i].err.msg, "not-the-secret"));
        assert_null(strstr(r[i].err.msg, sk));
    }
    st_buf_release(&b);
    objstore_free(s);
}

static void s3_live__unknown_key_wrong_region_and_missing_bucket_are_named(void **state)
{
    (void)state;
    if (!have_server())
        skip();
    static const struct {
        const char *name, *bucket, *access, *extra;
        int rc;
        const char *in_msg;
    } cases[] = {
        /* Swift says SignatureDoesNotMatch where AWS says InvalidAccessKeyId */
        {"unknown access key", NULL, "nobody:nobody", NULL, ST_EAUTH, "HTTP 403"},
        {"wrong region", NULL, NULL, "  region: eu-west-1\n", ST_EAUTH,
         "AuthorizationHeaderMalformed"},
        {"missing bucket", "no-such-bucket-here", NULL, NULL, ST_ENOTFOUND, "NoSuchBucket"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_err err;
        objstore *s = open_with(cases[i].bucket ? cases[i].bucket : bucket, sk,
                                cases[i].access ? cases[i].access : ak, cases[i].extra, &err);
        assert_non_null(s);
        st_buf b;
        st_buf_init(&b, 0);
        st_err_init(&err);
        double t0 = now_s();
        int rc = objstore_get(s, "live/x", &b, 0, &err);
        printf("# %s: %s\n", cases[i].name, err.msg);
        if (rc != cases[i].rc || !strstr(err.msg, cases[i].in_msg) || now_s() - t0 > 2.0)
            fail_msg("%s: rc %d: %s", cases[i].name, rc, err.msg);
        int n = 0;
        st_err_init(&err);
        assert_int_equal(objstore_iter(s, "live/", 0, count, &n, &err), cases[i].rc);
        st_buf_release(&b);
        objstore_free(s);
    }
}

static void s3_live__virtual_host_addressing_works(void **state)
{
    (void)state;
    if (!have_server())
        skip();
    /* libcurl resolves *.localhost to loopback itself */
    char ep[256];
    const char *colon = strrchr(endpoint, ':');
    snprintf(ep, sizeof(ep), "localhost%s", colon ? colon : "");
    const char *saved = endpoint;
    endpoint = ep;
    st_err err;
    objstore *s = open_with(bucket, sk, ak, "  bucket_lookup_type: virtual-hosted\n", &err);
    endpoint = saved;
    assert_non_null(s);
    const char *url, *prefix, *region;
    assert_true(s3_get_endpoint(s, &url, &prefix, &region));
    assert_non_null(strstr(url, ".localhost:"));
    assert_string_equal(prefix, "");
    if (objstore_put(s, "live/vhost/a b+c", "virtual", 7, &err))
        fail_msg("put: %s", err.msg);
    st_buf b;
    st_buf_init(&b, 0);
    if (objstore_get(s, "live/vhost/a b+c", &b, 0, &err))
        fail_msg("get: %s", err.msg);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.p, "virtual", 7);
    int n = 0;
    if (objstore_iter(s, "live/vhost/", 0, count, &n, &err))
        fail_msg("iter: %s", err.msg);
    assert_int_equal(n, 1);
    if (objstore_delete(s, "live/vhost/a b+c", &err))
        fail_msg("delete: %s", err.msg);
    st_buf_release(&b);
    objstore_free(s);
}

static void s3_live__refused_multipart_upload_is_aborted(void **state)
{
    (void)state;
    if (!have_server())
        skip();
    /* 1 MiB parts are under the server's 5 MiB minimum: CompleteMultipartUpload fails with
     * EntityTooSmall, and the upload must be aborted (test_s3.sh then checks that the bucket
     * lists no multipart uploads) */
    st_err err;
    objstore *s = open_with(bucket, sk, ak, "  part_size: 1048576\n", &err);
    assert_non_null(s);
    size_t n = (3u << 20) + 5;
    uint8_t *data = malloc(n);
    memset(data, 'm', n);
    s3_stats before, after;
    s3_get_stats(s, &before);
    st_err_init(&err);
    int rc = objstore_put(s, "live/too-small-parts", data, n, &err);
    s3_get_stats(s, &after);
    printf("# parts under the minimum: %s\n", err.msg);
    if (rc == 0 || !strstr(err.msg, "EntityTooSmall") || !strstr(err.msg, "aborted"))
        fail_msg("rc %d: %s", rc, err.msg);
    assert_int_equal(after.parts - before.parts, 4);
    assert_int_equal(after.aborts - before.aborts, 1);
    int ex = 1;
    st_err_init(&err);
    assert_int_equal(objstore_exists(s, "live/too-small-parts", &ex, &err), 0);
    assert_int_equal(ex, 0);
    free(data);
    objstore_free(s);
}

/* Objects cross with another client (test_s3.sh puts one with curl --aws-sigv4 and reads back
 * the one written here). */
static void s3_live__objects_cross_with_the_curl_client(void **state)
{
    (void)state;
    const char *key = getenv("STRATA_TEST_S3_CURL_KEY");
    const char *file = getenv("STRATA_TEST_S3_CURL_FILE");
    if (!have_server() || !key || !file)
        skip();
    st_err err;
    objstore *s = open_with(bucket, sk, ak, NULL, &err);
    assert_non_null(s);
    size_t n;
    uint8_t *want = tu_read(file, &n);
    st_buf b;
    st_buf_init(&b, 0);
    if (objstore_get(s, key, &b, 0, &err))
        fail_msg("get %s: %s", key, err.msg);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, want, n);
    static const char mine[] = "written by strata\n";
    if (objstore_put(s, "live/from-strata", mine, sizeof(mine) - 1, &err))
        fail_msg("put: %s", err.msg);
    free(want);
    st_buf_release(&b);
    objstore_free(s);
}

/* Over TLS (tests/scripts/s3_tls_proxy.py in front of the server, a certificate for
 * "localhost" from a test CA): the certificate is verified by default, ca_file trusts the test
 * CA, insecure_skip_verify skips the check, and the host name is checked; uploads (single and
 * multipart) go with UNSIGNED-PAYLOAD, which the server verifies as such. */
static void s3_live__tls_is_verified_by_default(void **state)
{
    (void)state;
    const char *tls_ep = getenv("STRATA_TEST_S3_TLS_ENDPOINT"); /* localhost:PORT */
    const char *ca = getenv("STRATA_TEST_S3_TLS_CA");
    if (!have_server() || !tls_ep || !ca)
        skip();
    char y[1024], ip_ep[256];
    const char *colon = strrchr(tls_ep, ':');
    snprintf(ip_ep, sizeof(ip_ep), "127.0.0.1%s", colon ? colon : "");
    static const struct {
        const char *name, *endpoint_kind, *tls;
        int rc;
        const char *in_msg;
    } cases[] = {
        {"no CA configured: refused", "name", "", ST_EIO, "certificate"},
        {"ca_file trusts the test CA", "name", "    tls_config:\n      ca_file: %s\n", 0, NULL},
        {"insecure_skip_verify", "name", "    insecure_skip_verify: true\n", 0, NULL},
        {"host name not in the certificate", "ip", "    tls_config:\n      ca_file: %s\n", ST_EIO,
         "127.0.0.1"},
    };
    size_t big = (11u << 20) + 3;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 12));
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char tlsconf[512];
        snprintf(tlsconf, sizeof(tlsconf), cases[i].tls, ca);
        snprintf(y, sizeof(y),
                 "type: S3\nconfig:\n  bucket: %s\n  endpoint: %s\n  access_key: \"%s\"\n"
                 "  secret_key: \"%s\"\n  part_size: 5242880\n  http_config:\n%s",
                 bucket, strcmp(cases[i].endpoint_kind, "ip") == 0 ? ip_ep : tls_ep, ak, sk,
                 tlsconf);
        objstore *s = NULL;
        st_err err;
        st_err_init(&err);
        if (objstore_open_yaml(&s, y, strlen(y), "tls.yml", &err))
            fail_msg("%s: open: %s", cases[i].name, err.msg);
        s3_stats before, after;
        s3_get_stats(s, &before);
        double t0 = now_s();
        int rc = objstore_put(s, "live/tls/small", "over tls", 8, &err);
        s3_get_stats(s, &after);
        printf("# tls, %s: %s\n", cases[i].name, rc ? err.msg : "ok");
        if (rc != cases[i].rc || (cases[i].in_msg && !strstr(err.msg, cases[i].in_msg)))
            fail_msg("%s: rc %d: %s", cases[i].name, rc, err.msg);
        if (rc) {
            assert_int_equal(after.requests - before.requests, 1); /* not retried */
            assert_true(now_s() - t0 < 2.0);
            objstore_free(s);
            continue;
        }
        /* multipart over TLS (3 parts of 5 MiB, UNSIGNED-PAYLOAD), then read back */
        if (objstore_put(s, "live/tls/big", data, big, &err))
            fail_msg("%s: multipart: %s", cases[i].name, err.msg);
        s3_get_stats(s, &after);
        assert_int_equal(after.parts - before.parts, 3);
        st_buf b;
        st_buf_init(&b, 0);
        if (objstore_get(s, "live/tls/big", &b, 0, &err))
            fail_msg("%s: get: %s", cases[i].name, err.msg);
        assert_int_equal(b.len, big);
        assert_true(memcmp(b.p, data, big) == 0);
        st_buf_release(&b);
        assert_int_equal(objstore_delete(s, "live/tls/big", &err), 0);
        assert_int_equal(objstore_delete(s, "live/tls/small", &err), 0);
        objstore_free(s);
    }
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s3_live__wrong_secret_fails_at_once_with_a_clear_error),
        cmocka_unit_test(s3_live__unknown_key_wrong_region_and_missing_bucket_are_named),
        cmocka_unit_test(s3_live__virtual_host_addressing_works),
        cmocka_unit_test(s3_live__refused_multipart_upload_is_aborted),
        cmocka_unit_test(s3_live__objects_cross_with_the_curl_client),
        cmocka_unit_test(s3_live__tls_is_verified_by_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
