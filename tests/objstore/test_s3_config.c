/*
 * test_s3_config.c - `type: S3` objstore YAML: Thanos' key names, Go durations, the keys that
 * are accepted but ignored, unknown keys named in the error, validation, addressing (virtual
 * host or path, region from an AWS endpoint), and secrets never appearing in messages. Opening
 * an S3 store makes no request, so none of this needs a server.
 */
#include "tests/util/testutil.h"

#include "objstore/objstore.h"
#include "objstore/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "S3cr3t-never-printed"

static int open_text(const char *yaml, objstore **out, st_err *err)
{
    st_err_init(err);
    return objstore_open_yaml(out, yaml, strlen(yaml), "cfg.yml", err);
}

static void s3_config__durations_follow_go_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ok;
        int64_t ms;
    } cases[] = {
        {"90s", 1, 90000}, {"1m30s", 1, 90000}, {"250ms", 1, 250},      {"2h", 1, 7200000},
        {"1.5s", 1, 1500}, {"0", 1, 0},         {"1h2m3s", 1, 3723000}, {"1d", 1, 86400000},
        {"500us", 1, 1},   {"", 0, 0},          {"90", 0, 0},           {"s", 0, 0},
        {"1x", 0, 0},      {"-1s", 0, 0},       {"1m30", 0, 0},         {"1 s", 0, 0},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        int64_t ms = -1;
        int rc = objstore_parse_duration(cases[i].in, &ms);
        if ((rc == 0) != cases[i].ok || (cases[i].ok && ms != cases[i].ms))
            fail_msg("\"%s\": rc %d, %lld ms", cases[i].in, rc, (long long)ms);
    }
}

static void s3_config__every_thanos_key_is_accepted(void **state)
{
    (void)state;
    static const char yaml[] = "type: s3\n"
                               "config:\n"
                               "  bucket: thanos\n"
                               "  endpoint: s3.eu-west-1.amazonaws.com\n"
                               "  region: eu-west-1\n"
                               "  access_key: AKIA\n"
                               "  secret_key: " SECRET "\n"
                               "  session_token: tok\n"
                               "  insecure: false\n"
                               "  signature_version2: false\n"
                               "  put_user_metadata:\n"
                               "    team: observability\n"
                               "    X-Amz-Storage-Class: STANDARD_IA\n"
                               "  http_config:\n"
                               "    idle_conn_timeout: 1m30s\n"
                               "    response_header_timeout: 2m\n"
                               "    insecure_skip_verify: false\n"
                               "    tls_handshake_timeout: 10s\n"
                               "    expect_continue_timeout: 1s\n"
                               "    max_idle_conns: 100\n"
                               "    max_idle_conns_per_host: 100\n"
                               "    max_conns_per_host: 8\n"
                               "    disable_compression: false\n"
                               "    force_attempt_http2: false\n"
                               "    tls_config:\n"
                               "      ca_file: /etc/ssl/certs/ca-certificates.crt\n"
                               "      cert_file: \"\"\n"
                               "      key_file: \"\"\n"
                               "      server_name: \"\"\n"
                               "      insecure_skip_verify: false\n"
                               "  trace:\n"
                               "    enable: false\n"
                               "  list_objects_version: v2\n"
                               "  bucket_lookup_type: auto\n"
                               "  send_content_md5: true\n"
                               "  disable_multipart: false\n"
                               "  part_size: 134217728\n"
                               "  sse_config:\n"
                               "    type: \"\"\n"
                               "  sts_endpoint: https://sts.eu-west-1.amazonaws.com\n"
                               "  max_retries: 3\n"
                               "  aws_sdk_auth: false\n"
                               "  disable_dualstack: false\n"
                               "prefix: \"\"\n";
    objstore *s = NULL;
    st_err err;
    if (open_text(yaml, &s, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(objstore_name(s), "s3://thanos");
    const char *url, *prefix, *region;
    assert_true(s3_get_endpoint(s, &url, &prefix, &region));
    assert_string_equal(url, "https://thanos.s3.eu-west-1.amazonaws.com");
    assert_string_equal(prefix, "");
    assert_string_equal(region, "eu-west-1");
    objstore_free(s);
}

static void s3_config__addressing_follows_bucket_lookup_type(void **state)
{
    (void)state;
    static const struct {
        const char *name, *extra, *bucket, *endpoint;
        const char *url, *prefix, *region;
    } cases[] = {
        {"auto on AWS: virtual host, region from the name", "", "my-bucket",
         "s3.ap-south-1.amazonaws.com", "https://my-bucket.s3.ap-south-1.amazonaws.com", "",
         "ap-south-1"},
        {"auto on AWS global: virtual host, us-east-1", "", "b1b", "s3.amazonaws.com",
         "https://b1b.s3.amazonaws.com", "", "us-east-1"},
        {"auto on AWS with a dotted bucket over TLS: path", "", "my.bucket",
         "s3.eu-west-1.amazonaws.com", "https://s3.eu-west-1.amazonaws.com", "/my.bucket",
         "eu-west-1"},
        {"auto elsewhere: path", "", "thanos", "minio.local:9000", "https://minio.local:9000",
         "/thanos", "us-east-1"},
        {"forced virtual host on loopback", "  bucket_lookup_type: virtual-hosted\n", "thanos",
         "localhost:9000", "https://thanos.localhost:9000", "", "us-east-1"},
        {"forced path on AWS", "  bucket_lookup_type: path\n", "thanos", "s3.amazonaws.com",
         "https://s3.amazonaws.com", "/thanos", "us-east-1"},
        {"insecure, default port dropped", "  insecure: true\n", "b12", "example.com:80",
         "http://example.com", "/b12", "us-east-1"},
        {"region given wins", "  region: eu-central-1\n", "b12", "s3.amazonaws.com:443",
         "https://b12.s3.amazonaws.com", "", "eu-central-1"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char y[1024];
        snprintf(y, sizeof(y),
                 "type: S3\nconfig:\n  bucket: %s\n  endpoint: %s\n  access_key: a\n"
                 "  secret_key: b\n%s",
                 cases[i].bucket, cases[i].endpoint, cases[i].extra);
        objstore *s = NULL;
        st_err err;
        if (open_text(y, &s, &err))
            fail_msg("%s: %s", cases[i].name, err.msg);
        const char *url, *prefix, *region;
        assert_true(s3_get_endpoint(s, &url, &prefix, &region));
        if (strcmp(url, cases[i].url) || strcmp(prefix, cases[i].prefix) ||
            strcmp(region, cases[i].region))
            fail_msg("%s: %s %s %s", cases[i].name, url, prefix, region);
        objstore_free(s);
    }
}

static void s3_config__mistakes_are_named_and_secrets_are_not(void **state)
{
    (void)state;
    static const struct {
        const char *name, *body;
        int rc;
        const char *in_msg;
    } cases[] = {
        {"unknown key", "  bucket: b\n  endpoint: e:1\n  bukket: c\n", ST_EINVAL, "\"bukket\""},
        {"unknown http_config key", "  bucket: b\n  endpoint: e:1\n  http_config:\n    idle: 1s\n",
         ST_EINVAL, "config.http_config"},
        {"unknown tls_config key",
         "  bucket: b\n  endpoint: e:1\n  http_config:\n    tls_config:\n      ca: x\n", ST_EINVAL,
         "\"ca\""},
        {"no bucket", "  endpoint: e:1\n", ST_EINVAL, "no bucket"},
        {"no endpoint", "  bucket: b\n", ST_EINVAL, "no endpoint"},
        {"endpoint with a scheme", "  bucket: b\n  endpoint: https://e\n", ST_EINVAL, "scheme"},
        {"access key without secret", "  bucket: b\n  endpoint: e:1\n  access_key: AKIAX\n",
         ST_EINVAL, "no secret_key"},
        {"secret without access key", "  bucket: b\n  endpoint: e:1\n  secret_key: " SECRET "\n",
         ST_EINVAL, "no access_key"},
        {"secret that is not a string",
         "  bucket: b\n  endpoint: e:1\n  secret_key: [" SECRET "]\n", ST_EINVAL,
         "secret_key must be a plain value"},
        {"bad duration",
         "  bucket: b\n  endpoint: e:1\n  http_config:\n    idle_conn_timeout: 90\n", ST_EINVAL,
         "idle_conn_timeout"},
        {"bad bool", "  bucket: b\n  endpoint: e:1\n  insecure: maybe\n", ST_EINVAL, "insecure"},
        {"bad lookup type", "  bucket: b\n  endpoint: e:1\n  bucket_lookup_type: dns\n", ST_EINVAL,
         "bucket_lookup_type"},
        {"bad part size", "  bucket: b\n  endpoint: e:1\n  part_size: 64MiB\n", ST_EINVAL,
         "part_size"},
        {"part size over 5 GiB", "  bucket: b\n  endpoint: e:1\n  part_size: 6000000000\n",
         ST_EINVAL, "5 GiB"},
        {"bad list version", "  bucket: b\n  endpoint: e:1\n  list_objects_version: v3\n",
         ST_EINVAL, "list_objects_version"},
        {"encryption asked for", "  bucket: b\n  endpoint: e:1\n  sse_config:\n    type: SSE-KMS\n",
         ST_EUNSUPP, "SSE-KMS"},
        {"bad metadata name", "  bucket: b\n  endpoint: e:1\n  put_user_metadata:\n    a b: c\n",
         ST_EINVAL, "put_user_metadata"},
        {"virtual host with a non-DNS bucket",
         "  bucket: Not_DNS\n  endpoint: e:1\n  bucket_lookup_type: virtual-hosted\n", ST_EINVAL,
         "DNS"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        /* credentials (with the secret that must not leak) unless the case is about them */
        int about_creds = strstr(cases[i].body, "_key:") != NULL;
        char y[1024];
        snprintf(y, sizeof(y), "type: S3\nconfig:\n%s%s",
                 about_creds ? "" : "  access_key: AKIAX\n  secret_key: " SECRET "\n",
                 cases[i].body);
        objstore *s = (objstore *)1;
        st_err err;
        int rc = open_text(y, &s, &err);
        if (rc != cases[i].rc || !strstr(err.msg, cases[i].in_msg) || !strstr(err.msg, "cfg.yml"))
            fail_msg("%s: rc %d: %s", cases[i].name, rc, err.msg);
        assert_null(s);
        if (strstr(err.msg, SECRET))
            fail_msg("%s: the secret is in the message: %s", cases[i].name, err.msg);
    }
}

static void s3_config__keys_thanos_has_but_strata_ignores_open_with_a_warning(void **state)
{
    (void)state;
    static const char yaml[] = "type: S3\nconfig:\n  bucket: b\n  endpoint: e:1\n"
                               "  access_key: a\n  secret_key: b\n"
                               "  signature_version2: true\n  send_content_md5: false\n"
                               "  trace:\n    enable: true\n  aws_sdk_auth: true\n"
                               "  disable_dualstack: true\n  list_objects_version: v1\n"
                               "  http_config:\n    max_idle_conns: 5\n"
                               "    force_attempt_http2: true\n"
                               "    tls_config:\n      server_name: other\n";
    objstore *s = NULL;
    st_err err;
    if (open_text(yaml, &s, &err))
        fail_msg("%s", err.msg);
    objstore_free(s);
}

int main(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_ROLE_ARN");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s3_config__durations_follow_go_syntax),
        cmocka_unit_test(s3_config__every_thanos_key_is_accepted),
        cmocka_unit_test(s3_config__addressing_follows_bucket_lookup_type),
        cmocka_unit_test(s3_config__mistakes_are_named_and_secrets_are_not),
        cmocka_unit_test(s3_config__keys_thanos_has_but_strata_ignores_open_with_a_warning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
