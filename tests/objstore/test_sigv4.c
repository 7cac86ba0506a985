/*
 * test_sigv4.c - the SigV4 signer against AWS' published S3 examples ("Examples of how to
 * calculate the signature", header-based auth: GET Object with Range, PUT Object, GET Bucket
 * Lifecycle, GET Bucket (List Objects)), compared byte for byte where AWS prints the canonical
 * request and the string to sign; plus the encoding rules. No network.
 */
#include "tests/util/testutil.h"

#include "objstore/s3_int.h"

#include <stdio.h>
#include <string.h>

#define AK   "AKIAIOSFODNN7EXAMPLE"
#define SK   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DATE "20130524T000000Z"
#define HOST "examplebucket.s3.amazonaws.com"

typedef struct example {
    const char *name;
    const char *method;
    const char *uri;
    sigv4_pair query[3];
    size_t nquery;
    sigv4_pair headers[6];
    size_t nheaders;
    const char *payload_hash;
    const char *canonical_request; /* NULL: AWS does not print it */
    const char *string_to_sign;
    const char *authorization;
} example;

static const example examples[] = {
    {
        .name = "GET Object, first 10 bytes (Range header)",
        .method = "GET",
        .uri = "/test.txt",
        .headers = {{"Host", HOST},
                    {"Range", "bytes=0-9"},
                    {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                    {"x-amz-date", DATE}},
        .nheaders = 4,
        .payload_hash = SIGV4_EMPTY_SHA256,
        .canonical_request = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
                             "range:bytes=0-9\nx-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
                             "x-amz-date:20130524T000000Z\n\n"
                             "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256,
        .string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                          "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    },
    {
        .name = "PUT Object test$file.text with a signed payload",
        .method = "PUT",
        .uri = NULL, /* built from the key with sigv4_uri_encode */
        .headers = {{"Host", HOST},
                    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                    {"x-amz-date", DATE},
                    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                    {"x-amz-content-sha256",
                     "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"}},
        .nheaders = 5,
        .payload_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        .canonical_request =
            "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        .string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                          "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-storage-class,"
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    },
    {
        .name = "GET Bucket Lifecycle (a valueless subresource signs as lifecycle=)",
        .method = "GET",
        .uri = "/",
        .query = {{"lifecycle", ""}},
        .nquery = 1,
        .headers = {{"Host", HOST},
                    {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                    {"x-amz-date", DATE}},
        .nheaders = 3,
        .payload_hash = SIGV4_EMPTY_SHA256,
        .canonical_request = "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
                             "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
                             "x-amz-date:20130524T000000Z\n\n"
                             "host;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256,
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
            "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    },
    {
        .name = "GET Bucket (List Objects), parameters given out of order",
        .method = "GET",
        .uri = "/",
        .query = {{"prefix", "J"}, {"max-keys", "2"}},
        .nquery = 2,
        .headers = {{"x-amz-date", DATE},
                    {"host", HOST},
                    {"X-Amz-Content-Sha256", SIGV4_EMPTY_SHA256}},
        .nheaders = 3,
        .payload_hash = SIGV4_EMPTY_SHA256,
        .canonical_request = "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
                             "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
                             "x-amz-date:20130524T000000Z\n\n"
                             "host;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256,
        .authorization =
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    },
};

static void sigv4__signs_the_aws_s3_documentation_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < ST_ARRAY_LEN(examples); i++) {
        const example *e = &examples[i];
        st_buf uri, query, auth, creq, sts;
        st_buf_init(&uri, 0);
        st_buf_init(&query, 0);
        st_buf_init(&auth, 0);
        st_buf_init(&creq, 0);
        st_buf_init(&sts, 0);
        if (e->uri) {
            assert_int_equal(st_buf_printf(&uri, "%s", e->uri), 0);
        } else {
            assert_int_equal(st_buf_putc(&uri, '/'), 0);
            assert_int_equal(sigv4_uri_encode(&uri, "test$file.text", 14, 1), 0);
        }
        assert_non_null(st_buf_cstr(&uri));
        assert_int_equal(sigv4_canonical_query(&query, e->query, e->nquery), 0);
        sigv4_request r = {
            .method = e->method,
            .canonical_uri = (const char *)uri.p,
            .canonical_query = (const char *)query.p,
            .headers = e->headers,
            .nheaders = e->nheaders,
            .payload_hash = e->payload_hash,
            .amz_date = DATE,
            .region = "us-east-1",
            .service = "s3",
        };
        assert_int_equal(sigv4_sign(&r, AK, SK, &auth, &creq, &sts), 0);
        assert_non_null(st_buf_cstr(&auth));
        assert_non_null(st_buf_cstr(&creq));
        assert_non_null(st_buf_cstr(&sts));
        if (e->canonical_request && strcmp((char *)creq.p, e->canonical_request) != 0)
            fail_msg("%s: canonical request\n%s\nwanted\n%s", e->name, (char *)creq.p,
                     e->canonical_request);
        if (e->string_to_sign && strcmp((char *)sts.p, e->string_to_sign) != 0)
            fail_msg("%s: string to sign\n%s\nwanted\n%s", e->name, (char *)sts.p,
                     e->string_to_sign);
        if (strcmp((char *)auth.p, e->authorization) != 0)
            fail_msg("%s: authorization\n%s\nwanted\n%s", e->name, (char *)auth.p,
                     e->authorization);
        assert_null(strstr((char *)creq.p, SK));
        assert_null(strstr((char *)sts.p, SK));
        assert_null(strstr((char *)auth.p, SK));
        st_buf_release(&uri);
        st_buf_release(&query);
        st_buf_release(&auth);
        st_buf_release(&creq);
        st_buf_release(&sts);
    }
}

static void sigv4__payload_hash_of_the_put_example_is_sha256_of_its_body(void **state)
{
    (void)state;
    char hex[65];
    sigv4_sha256_hex("Welcome to Amazon S3.", 21, hex);
    assert_string_equal(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    sigv4_sha256_hex("", 0, hex);
    assert_string_equal(hex, SIGV4_EMPTY_SHA256);
}

static void sigv4__uri_encoding_keeps_only_unreserved_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *name, *in;
        int keep_slash;
        const char *want;
    } cases[] = {
        {"unreserved stay", "A-z_0.9~", 0, "A-z_0.9~"},
        {"space is %20, never +", "a b", 1, "a%20b"},
        {"plus is encoded", "a+b", 1, "a%2Bb"},
        {"percent is encoded", "100%", 1, "100%25"},
        {"slash kept in paths", "a/b/c", 1, "a/b/c"},
        {"slash encoded in query values", "a/b", 0, "a%2Fb"},
        {"sub-delims are encoded", "!*'()$&=?#", 1, "%21%2A%27%28%29%24%26%3D%3F%23"},
        {"UTF-8 bytes, upper-case hex", "\xc3\xa9\xe2\x82\xac", 1, "%C3%A9%E2%82%AC"},
        {"colon (Swift tempauth keys)", "test:tester", 0, "test%3Atester"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(
            sigv4_uri_encode(&b, cases[i].in, strlen(cases[i].in), cases[i].keep_slash), 0);
        assert_non_null(st_buf_cstr(&b));
        if (strcmp((char *)b.p, cases[i].want) != 0)
            fail_msg("%s: %s -> %s, wanted %s", cases[i].name, cases[i].in, (char *)b.p,
                     cases[i].want);
        st_buf_release(&b);
    }
}

static void sigv4__canonical_query_sorts_encoded_keys_then_values(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        sigv4_pair p[4];
        size_t n;
        const char *want;
    } cases[] = {
        {"none", {{NULL, NULL}}, 0, ""},
        {"bare subresource gets =", {{"uploads", ""}}, 1, "uploads="},
        {"sorted by key", {{"uploadId", "x"}, {"partNumber", "2"}}, 2, "partNumber=2&uploadId=x"},
        {"values encoded, slash too",
         {{"prefix", "a b/c+"}, {"delimiter", "/"}},
         2,
         "delimiter=%2F&prefix=a%20b%2Fc%2B"},
        {"same key sorted by value", {{"k", "b"}, {"k", "a"}}, 2, "k=a&k=b"},
        {"sort uses the encoded key (upper case before lower)",
         {{"a", "1"}, {"B", "2"}, {"list-type", "2"}},
         3,
         "B=2&a=1&list-type=2"},
        {"upload ids with base64 characters",
         {{"uploadId", "a/b+c=="}},
         1,
         "uploadId=a%2Fb%2Bc%3D%3D"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(sigv4_canonical_query(&b, cases[i].p, cases[i].n), 0);
        assert_non_null(st_buf_cstr(&b));
        if (strcmp((char *)b.p, cases[i].want) != 0)
            fail_msg("%s: got %s, wanted %s", cases[i].name, (char *)b.p, cases[i].want);
        st_buf_release(&b);
    }
}

static void sigv4__canonical_headers_are_lowercased_trimmed_and_sorted(void **state)
{
    (void)state;
    sigv4_pair h[] = {{"X-Amz-Meta-Note", "  two   spaces  inside "},
                      {"HOST", "h.example"},
                      {"x-amz-date", DATE},
                      {"x-amz-content-sha256", SIGV4_UNSIGNED}};
    sigv4_request r = {"PUT",          "/k", "",          h,   ST_ARRAY_LEN(h),
                       SIGV4_UNSIGNED, DATE, "eu-west-1", "s3"};
    st_buf auth, creq;
    st_buf_init(&auth, 0);
    st_buf_init(&creq, 0);
    assert_int_equal(sigv4_sign(&r, "test:tester", "testing", &auth, &creq, NULL), 0);
    assert_non_null(st_buf_cstr(&creq));
    assert_non_null(st_buf_cstr(&auth));
    assert_string_equal((char *)creq.p, "PUT\n/k\n\nhost:h.example\nx-amz-content-sha256:"
                                        "UNSIGNED-PAYLOAD\nx-amz-date:20130524T000000Z\n"
                                        "x-amz-meta-note:two spaces inside\n\n"
                                        "host;x-amz-content-sha256;x-amz-date;x-amz-meta-note\n"
                                        "UNSIGNED-PAYLOAD");
    /* a colon in the access key is kept whole (Swift's ACCOUNT:USER) */
    assert_non_null(strstr((char *)auth.p, "Credential=test:tester/20130524/eu-west-1/s3/"));
    st_buf_release(&auth);
    st_buf_release(&creq);
}

static void sigv4__amz_date_is_utc_basic_format(void **state)
{
    (void)state;
    char d[17];
    sigv4_amz_date(1369353600, d);
    assert_string_equal(d, DATE);
    sigv4_amz_date(951782400, d);
    assert_string_equal(d, "20000229T000000Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigv4__signs_the_aws_s3_documentation_examples),
        cmocka_unit_test(sigv4__payload_hash_of_the_put_example_is_sha256_of_its_body),
        cmocka_unit_test(sigv4__uri_encoding_keeps_only_unreserved_bytes),
        cmocka_unit_test(sigv4__canonical_query_sorts_encoded_keys_then_values),
        cmocka_unit_test(sigv4__canonical_headers_are_lowercased_trimmed_and_sorted),
        cmocka_unit_test(sigv4__amz_date_is_utc_basic_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
