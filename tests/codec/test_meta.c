/*
 * test_meta.c - meta.json: promtool's files round trip byte for byte, Thanos' own golden
 * outputs (pkg/block/metadata/meta_test.go) are reproduced, a meta with every Thanos field and
 * unknown members at several levels round trips exactly, non-canonical input comes out as Go
 * would write it (escaping, sorted maps, omitempty, ULID case, RFC3339Nano), and bad input is
 * rejected with the file name and what is wrong.
 */
#include "testutil.h"

#include "codec/codec.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fixtures: Go's json.MarshalIndent(meta, "", "\t") output plus Thanos' trailing newline. */
static const char FULL[] = "{\n"
                           "\t\"ulid\": \"01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB\",\n"
                           "\t\"minTime\": 1700006400000,\n"
                           "\t\"maxTime\": 1700179200000,\n"
                           "\t\"stats\": {\n"
                           "\t\t\"numSamples\": 41472000,\n"
                           "\t\t\"numFloatSamples\": 41000000,\n"
                           "\t\t\"numHistogramSamples\": 472000,\n"
                           "\t\t\"numSeries\": 2000,\n"
                           "\t\t\"numChunks\": 345600,\n"
                           "\t\t\"numTombstones\": 3,\n"
                           "\t\t\"numFuture\": 7\n"
                           "\t},\n"
                           "\t\"compaction\": {\n"
                           "\t\t\"level\": 3,\n"
                           "\t\t\"sources\": [\n"
                           "\t\t\t\"01HQ7S5M1T7Y6X3VZ3Z1Q4K2A0\",\n"
                           "\t\t\t\"01HQ7S5M1T7Y6X3VZ3Z1Q4K2A1\"\n"
                           "\t\t],\n"
                           "\t\t\"deletable\": true,\n"
                           "\t\t\"parents\": [\n"
                           "\t\t\t{\n"
                           "\t\t\t\t\"ulid\": \"01HQ7S5M1T7Y6X3VZ3Z1Q4K2A0\",\n"
                           "\t\t\t\t\"minTime\": 1700006400000,\n"
                           "\t\t\t\t\"maxTime\": 1700092800000,\n"
                           "\t\t\t\t\"note\": \"p0\"\n"
                           "\t\t\t},\n"
                           "\t\t\t{\n"
                           "\t\t\t\t\"ulid\": \"01HQ7S5M1T7Y6X3VZ3Z1Q4K2A1\",\n"
                           "\t\t\t\t\"minTime\": 1700092800000,\n"
                           "\t\t\t\t\"maxTime\": 1700179200000\n"
                           "\t\t\t}\n"
                           "\t\t],\n"
                           "\t\t\"failed\": true,\n"
                           "\t\t\"hints\": [\n"
                           "\t\t\t\"from-out-of-order\"\n"
                           "\t\t],\n"
                           "\t\t\"shard\": {\n"
                           "\t\t\t\"of\": 4,\n"
                           "\t\t\t\"ratio\": 0.25\n"
                           "\t\t}\n"
                           "\t},\n"
                           "\t\"version\": 1,\n"
                           "\t\"thanos\": {\n"
                           "\t\t\"version\": 1,\n"
                           "\t\t\"labels\": {\n"
                           "\t\t\t\"a\\u003cb\\u003e\": \"x\\u0026y\",\n"
                           "\t\t\t\"cluster\": \"eu1\",\n"
                           "\t\t\t\"région\": \"Zürich ☃ \\u2028 日本 \\u2029\",\n"
                           "\t\t\t\"tab\": \"a\\tb\\u0001\\u0008\\\"\\\\/\\r\\n\"\n"
                           "\t\t},\n"
                           "\t\t\"downsample\": {\n"
                           "\t\t\t\"resolution\": 300000,\n"
                           "\t\t\t\"window\": \"5m\"\n"
                           "\t\t},\n"
                           "\t\t\"source\": \"compactor\",\n"
                           "\t\t\"segment_files\": [\n"
                           "\t\t\t\"000001\",\n"
                           "\t\t\t\"000002\"\n"
                           "\t\t],\n"
                           "\t\t\"files\": [\n"
                           "\t\t\t{\n"
                           "\t\t\t\t\"rel_path\": \"chunks/000001\",\n"
                           "\t\t\t\t\"size_bytes\": 51234567,\n"
                           "\t\t\t\t\"hash\": {\n"
                           "\t\t\t\t\t\"hashFunc\": \"SHA256\",\n"
                           "\t\t\t\t\t\"value\": \"ab12\",\n"
                           "\t\t\t\t\t\"salt\": null\n"
                           "\t\t\t\t}\n"
                           "\t\t\t},\n"
                           "\t\t\t{\n"
                           "\t\t\t\t\"rel_path\": \"index\",\n"
                           "\t\t\t\t\"size_bytes\": 3456789,\n"
                           "\t\t\t\t\"mode\": 420\n"
                           "\t\t\t},\n"
                           "\t\t\t{\n"
                           "\t\t\t\t\"rel_path\": \"meta.json\"\n"
                           "\t\t\t}\n"
                           "\t\t],\n"
                           "\t\t\"rewrites\": [\n"
                           "\t\t\t{\n"
                           "\t\t\t\t\"sources\": [\n"
                           "\t\t\t\t\t\"01HQ7S5M1T7Y6X3VZ3Z1Q4K2A0\"\n"
                           "\t\t\t\t],\n"
                           "\t\t\t\t\"deletions_applied\": [\n"
                           "\t\t\t\t\t{\n"
                           "\t\t\t\t\t\t\"matchers\": \"{a=\\\"b\\\"}\",\n"
                           "\t\t\t\t\t\t\"intervals\": [\n"
                           "\t\t\t\t\t\t\t{\n"
                           "\t\t\t\t\t\t\t\t\"mint\": 1,\n"
                           "\t\t\t\t\t\t\t\t\"maxt\": 2\n"
                           "\t\t\t\t\t\t\t}\n"
                           "\t\t\t\t\t\t]\n"
                           "\t\t\t\t\t}\n"
                           "\t\t\t\t]\n"
                           "\t\t\t}\n"
                           "\t\t],\n"
                           "\t\t\"index_stats\": {\n"
                           "\t\t\t\"series_max_size\": 2048,\n"
                           "\t\t\t\"chunk_max_size\": 1500,\n"
                           "\t\t\t\"postings_max_size\": 99\n"
                           "\t\t},\n"
                           "\t\t\"extensions\": {\n"
                           "\t\t\t\"a\": [\n"
                           "\t\t\t\t1,\n"
                           "\t\t\t\t2.5,\n"
                           "\t\t\t\t1e-7,\n"
                           "\t\t\t\t1e+22,\n"
                           "\t\t\t\t-0.000001,\n"
                           "\t\t\t\t123456789012,\n"
                           "\t\t\t\ttrue,\n"
                           "\t\t\t\tnull,\n"
                           "\t\t\t\t{}\n"
                           "\t\t\t],\n"
                           "\t\t\t\"parquet_migrated\": true,\n"
                           "\t\t\t\"z\": {}\n"
                           "\t\t},\n"
                           "\t\t\"upload_time\": \"2024-01-02T03:04:05.123456789Z\",\n"
                           "\t\t\"future\": []\n"
                           "\t},\n"
                           "\t\"extra\": {\n"
                           "\t\t\"k\": \"v\"\n"
                           "\t}\n"
                           "}\n";

static const char CANON_IN[] =
    "{\"version\":1,\"thanos\":{\"upload_time\":\"2024-01-02T03:04:05.120000+00:00\",\"source\":"
    "\"sidecar\",\"labels\":{\"z\":\"1\",\"a\":\"<&>\",\"m\":\"\\u00e9\\u2028\\u001f\\b\"},"
    "\"files\":[{\"rel_path\":\"index\",\"size_bytes\":0},{\"rel_path\":\"chunks/"
    "000001\",\"size_bytes\":5,\"hash\":{\"value\":\"x\"}}],\"segment_files\":[],\"rewrites\":[],"
    "\"extensions\":{\"b\":1.0,\"a\":1e2,\"c\":[1E-7,0.1]},\"index_stats\":null,\"downsample\":{"
    "\"resolution\":0}},\"compaction\":{\"sources\":[],\"parents\":[],\"level\":2,\"hints\":[],"
    "\"deletable\":false},\"stats\":{\"numSamples\":0,\"numSeries\":5},\"maxTime\":20,\"minTime\":"
    "10,\"ulid\":\"01hq7s5m1t7y6x3vz3z1q4k2ab\"}\n";

static const char CANON_OUT[] = "{\n"
                                "\t\"ulid\": \"01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB\",\n"
                                "\t\"minTime\": 10,\n"
                                "\t\"maxTime\": 20,\n"
                                "\t\"stats\": {\n"
                                "\t\t\"numSeries\": 5\n"
                                "\t},\n"
                                "\t\"compaction\": {\n"
                                "\t\t\"level\": 2\n"
                                "\t},\n"
                                "\t\"version\": 1,\n"
                                "\t\"thanos\": {\n"
                                "\t\t\"labels\": {\n"
                                "\t\t\t\"a\": \"\\u003c\\u0026\\u003e\",\n"
                                "\t\t\t\"m\": \"é\\u2028\\u001f\\u0008\",\n"
                                "\t\t\t\"z\": \"1\"\n"
                                "\t\t},\n"
                                "\t\t\"downsample\": {\n"
                                "\t\t\t\"resolution\": 0\n"
                                "\t\t},\n"
                                "\t\t\"source\": \"sidecar\",\n"
                                "\t\t\"files\": [\n"
                                "\t\t\t{\n"
                                "\t\t\t\t\"rel_path\": \"index\"\n"
                                "\t\t\t},\n"
                                "\t\t\t{\n"
                                "\t\t\t\t\"rel_path\": \"chunks/000001\",\n"
                                "\t\t\t\t\"size_bytes\": 5,\n"
                                "\t\t\t\t\"hash\": {\n"
                                "\t\t\t\t\t\"hashFunc\": \"\",\n"
                                "\t\t\t\t\t\"value\": \"x\"\n"
                                "\t\t\t\t}\n"
                                "\t\t\t}\n"
                                "\t\t],\n"
                                "\t\t\"index_stats\": {},\n"
                                "\t\t\"extensions\": {\n"
                                "\t\t\t\"a\": 100,\n"
                                "\t\t\t\"b\": 1,\n"
                                "\t\t\t\"c\": [\n"
                                "\t\t\t\t1e-7,\n"
                                "\t\t\t\t0.1\n"
                                "\t\t\t]\n"
                                "\t\t},\n"
                                "\t\t\"upload_time\": \"2024-01-02T03:04:05.12Z\"\n"
                                "\t}\n"
                                "}\n";

static const char THANOS_REAL[] = "{\n"
                                  "\t\"ulid\": \"00000000050000000000000000\",\n"
                                  "\t\"minTime\": 2424,\n"
                                  "\t\"maxTime\": 134,\n"
                                  "\t\"stats\": {\n"
                                  "\t\t\"numSamples\": 245,\n"
                                  "\t\t\"numSeries\": 4,\n"
                                  "\t\t\"numChunks\": 14\n"
                                  "\t},\n"
                                  "\t\"compaction\": {\n"
                                  "\t\t\"level\": 123,\n"
                                  "\t\t\"sources\": [\n"
                                  "\t\t\t\"00000000010000000000000000\",\n"
                                  "\t\t\t\"00000000020000000000000000\"\n"
                                  "\t\t],\n"
                                  "\t\t\"parents\": [\n"
                                  "\t\t\t{\n"
                                  "\t\t\t\t\"ulid\": \"00000000030000000000000000\",\n"
                                  "\t\t\t\t\"minTime\": 442,\n"
                                  "\t\t\t\t\"maxTime\": 24225\n"
                                  "\t\t\t}\n"
                                  "\t\t]\n"
                                  "\t},\n"
                                  "\t\"version\": 1,\n"
                                  "\t\"thanos\": {\n"
                                  "\t\t\"version\": 1,\n"
                                  "\t\t\"labels\": {\n"
                                  "\t\t\t\"ext\": \"lset1\"\n"
                                  "\t\t},\n"
                                  "\t\t\"downsample\": {\n"
                                  "\t\t\t\"resolution\": 123144\n"
                                  "\t\t},\n"
                                  "\t\t\"source\": \"receive\",\n"
                                  "\t\t\"files\": [\n"
                                  "\t\t\t{\n"
                                  "\t\t\t\t\"rel_path\": \"chunks/000001\",\n"
                                  "\t\t\t\t\"size_bytes\": 3751\n"
                                  "\t\t\t},\n"
                                  "\t\t\t{\n"
                                  "\t\t\t\t\"rel_path\": \"index\",\n"
                                  "\t\t\t\t\"size_bytes\": 401\n"
                                  "\t\t\t},\n"
                                  "\t\t\t{\n"
                                  "\t\t\t\t\"rel_path\": \"meta.json\"\n"
                                  "\t\t\t}\n"
                                  "\t\t],\n"
                                  "\t\t\"index_stats\": {\n"
                                  "\t\t\t\"series_max_size\": 2000,\n"
                                  "\t\t\t\"chunk_max_size\": 1000\n"
                                  "\t\t},\n"
                                  "\t\t\"upload_time\": \"0001-01-01T00:00:00Z\"\n"
                                  "\t}\n"
                                  "}\n";

static const char THANOS_EMPTY[] = "{\n"
                                   "\t\"ulid\": \"00000000000000000000000000\",\n"
                                   "\t\"minTime\": 0,\n"
                                   "\t\"maxTime\": 0,\n"
                                   "\t\"stats\": {},\n"
                                   "\t\"compaction\": {\n"
                                   "\t\t\"level\": 0\n"
                                   "\t},\n"
                                   "\t\"version\": 0,\n"
                                   "\t\"thanos\": {\n"
                                   "\t\t\"labels\": null,\n"
                                   "\t\t\"downsample\": {\n"
                                   "\t\t\t\"resolution\": 0\n"
                                   "\t\t},\n"
                                   "\t\t\"source\": \"\",\n"
                                   "\t\t\"index_stats\": {},\n"
                                   "\t\t\"upload_time\": \"0001-01-01T00:00:00Z\"\n"
                                   "\t}\n"
                                   "}\n";

static const char THANOS_EXT[] = "{\n"
                                 "\t\"ulid\": \"00000000050000000000000000\",\n"
                                 "\t\"minTime\": 2424,\n"
                                 "\t\"maxTime\": 24225,\n"
                                 "\t\"stats\": {\n"
                                 "\t\t\"numSamples\": 245,\n"
                                 "\t\t\"numSeries\": 4,\n"
                                 "\t\t\"numChunks\": 14\n"
                                 "\t},\n"
                                 "\t\"compaction\": {\n"
                                 "\t\t\"level\": 123\n"
                                 "\t},\n"
                                 "\t\"version\": 1,\n"
                                 "\t\"thanos\": {\n"
                                 "\t\t\"labels\": {\n"
                                 "\t\t\t\"ext\": \"lset1\"\n"
                                 "\t\t},\n"
                                 "\t\t\"downsample\": {\n"
                                 "\t\t\t\"resolution\": 123144\n"
                                 "\t\t},\n"
                                 "\t\t\"source\": \"receive\",\n"
                                 "\t\t\"index_stats\": {},\n"
                                 "\t\t\"extensions\": {\n"
                                 "\t\t\t\"field1\": 1,\n"
                                 "\t\t\t\"field2\": \"test_string\"\n"
                                 "\t\t},\n"
                                 "\t\t\"upload_time\": \"0001-01-01T00:00:00Z\"\n"
                                 "\t}\n"
                                 "}\n";

static char *join(const char *a, const char *b)
{
    char *p = st_path_join(a, b);
    assert_non_null(p);
    return p;
}

/* parse(text) then format(flags) must give `want` exactly. */
static void expect_format(const char *text, size_t len, int flags, const char *want,
                          size_t want_len)
{
    st_err err;
    st_err_init(&err);
    codec_meta *m = NULL;
    if (codec_meta_parse(&m, text, len, "test/meta.json", &err) != 0)
        fail_msg("parse: %s", err.msg);
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(codec_meta_format(m, &b, flags, &err), 0);
    if (b.len != want_len || memcmp(b.p, want, want_len) != 0) {
        fprintf(stderr, "--- got (%zu bytes)\n%.*s\n--- want (%zu bytes)\n%.*s\n", b.len,
                (int)b.len, (const char *)b.p, want_len, (int)want_len, want);
        for (size_t i = 0; i < b.len && i < want_len; i++)
            if (b.p[i] != (uint8_t)want[i]) {
                fail_msg("first difference at byte %zu", i);
            }
        fail_msg("lengths differ");
    }
    st_buf_release(&b);
    codec_meta_free(m);
}

static void meta__promtool_files_round_trip_byte_for_byte(void **state)
{
    (void)state;
    char *root = tu_src_path("testdata/blocks");
    DIR *sets = opendir(root);
    size_t n = 0;
    struct dirent *se;
    while (sets && (se = readdir(sets)) != NULL) {
        if (se->d_name[0] == '.')
            continue;
        char *set = join(root, se->d_name);
        DIR *d = opendir(set);
        struct dirent *be;
        while (d && (be = readdir(d)) != NULL) {
            if (!codec_ulid_valid(be->d_name, strlen(be->d_name)))
                continue;
            char *blk = join(set, be->d_name);
            char *path = join(blk, "meta.json");
            if (access(path, R_OK) == 0) {
                size_t len;
                uint8_t *text = tu_read(path, &len);
                assert_true(len > 0 && text[len - 1] == '}'); /* Prometheus: no newline */
                expect_format((const char *)text, len, 0, (const char *)text, len);
                st_err err;
                st_err_init(&err);
                codec_meta *m;
                assert_int_equal(codec_meta_read(&m, path, &err), 0);
                assert_string_equal(m->ulid.s, be->d_name);
                assert_int_equal(m->version, 1);
                assert_int_equal(m->has_thanos, 0);
                assert_true(m->level >= 1 && m->nsources >= 1);
                codec_meta_free(m);
                free(text);
                n++;
            }
            st_free(path);
            st_free(blk);
        }
        if (d)
            closedir(d);
        st_free(set);
    }
    if (sets)
        closedir(sets);
    free(root);
    print_message("%zu promtool meta.json files round tripped\n", n);
    if (n == 0)
        skip();
}

static void meta__thanos_golden_outputs_are_reproduced(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    st_buf b;
    st_buf_init(&b, 0);

    /* Meta{}.Write: every zero value, labels nil */
    codec_meta *m;
    assert_int_equal(codec_meta_new(&m, &err), 0);
    m->version = 0;
    m->level = 0;
    m->has_thanos = 1;
    m->thanos.labels_null = 1;
    assert_int_equal(codec_meta_format(m, &b, CODEC_META_NEWLINE, &err), 0);
    assert_int_equal(b.len, strlen(THANOS_EMPTY));
    assert_memory_equal(b.p, THANOS_EMPTY, b.len);
    codec_meta_free(m);
    /* ... and reading it back fails on the version, as in Thanos */
    assert_int_equal(codec_meta_parse(&m, THANOS_EMPTY, strlen(THANOS_EMPTY), "x", &err),
                     ST_ECORRUPT);
    assert_non_null(strstr(err.msg, "version 0"));

    /* "real write/read/write" (minTime > maxTime there: built, not parsed) */
    assert_int_equal(codec_meta_new(&m, &err), 0);
    strcpy(m->ulid.s, "00000000050000000000000000");
    m->min_time = 2424;
    m->max_time = 134;
    m->stats.num_chunks = 14;
    m->stats.num_samples = 245;
    m->stats.num_series = 4;
    m->level = 123;
    m->sources = st_calloc(2, sizeof(codec_ulid));
    m->nsources = 2;
    strcpy(m->sources[0].s, "00000000010000000000000000");
    strcpy(m->sources[1].s, "00000000020000000000000000");
    m->parents = st_calloc(1, sizeof(codec_block_desc));
    m->nparents = 1;
    strcpy(m->parents[0].ulid.s, "00000000030000000000000000");
    m->parents[0].min_time = 442;
    m->parents[0].max_time = 24225;
    m->has_thanos = 1;
    m->thanos.version = 1;
    m->thanos.labels = st_calloc(1, sizeof(codec_kv));
    m->thanos.nlabels = 1;
    m->thanos.labels[0].name = st_strdup("ext");
    m->thanos.labels[0].value = st_strdup("lset1");
    m->thanos.source = st_strdup("receive");
    m->thanos.files = st_calloc(3, sizeof(codec_meta_file));
    m->thanos.nfiles = 3;
    const char *paths[] = {"chunks/000001", "index", "meta.json"};
    const int64_t sizes[] = {3751, 401, -1};
    for (int i = 0; i < 3; i++) {
        m->thanos.files[i].rel_path = st_strdup(paths[i]);
        m->thanos.files[i].size_bytes = sizes[i];
    }
    m->thanos.resolution = 123144;
    m->thanos.series_max_size = 2000;
    m->thanos.chunk_max_size = 1000;
    st_buf_reset(&b);
    assert_int_equal(codec_meta_format(m, &b, CODEC_META_NEWLINE, &err), 0);
    assert_int_equal(b.len, strlen(THANOS_REAL));
    assert_memory_equal(b.p, THANOS_REAL, b.len);
    codec_meta_free(m);

    /* "extensions write/read/write" (maxTime raised so it parses) */
    expect_format(THANOS_EXT, strlen(THANOS_EXT), CODEC_META_NEWLINE, THANOS_EXT,
                  strlen(THANOS_EXT));
    st_buf_release(&b);
}

static void meta__every_thanos_field_and_unknown_members_round_trip(void **state)
{
    (void)state;
    expect_format(FULL, strlen(FULL), CODEC_META_NEWLINE, FULL, strlen(FULL));

    st_err err;
    st_err_init(&err);
    codec_meta *m;
    assert_int_equal(codec_meta_parse(&m, FULL, strlen(FULL), "full", &err), 0);
    assert_int_equal(m->stats.num_float_samples, 41000000);
    assert_int_equal(m->stats.num_histogram_samples, 472000);
    assert_true(m->deletable && m->failed);
    assert_int_equal(m->nhints, 1);
    assert_string_equal(m->hints[0], "from-out-of-order");
    assert_int_equal(m->thanos.nlabels, 4);
    assert_string_equal(m->thanos.labels[0].name, "a<b>");
    assert_string_equal(m->thanos.labels[0].value, "x&y");
    assert_string_equal(m->thanos.labels[3].value, "a\tb\x01\b\"\\/\r\n");
    assert_int_equal(m->thanos.resolution, 300000);
    assert_string_equal(m->thanos.source, "compactor");
    assert_int_equal(m->thanos.nsegment_files, 2);
    assert_int_equal(m->thanos.nfiles, 3);
    assert_string_equal(m->thanos.files[0].hash_func, "SHA256");
    assert_string_equal(m->thanos.files[0].hash_value, "ab12");
    assert_int_equal(m->thanos.files[2].size_bytes, -1);
    assert_null(m->thanos.files[2].hash_func);
    assert_int_equal(m->thanos.series_max_size, 2048);
    assert_string_equal(m->thanos.upload_time, "2024-01-02T03:04:05.123456789Z");

    /* Without Thanos' newline, and with the section dropped, it is a Prometheus meta. */
    m->has_thanos = 0;
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(codec_meta_format(m, &b, 0, &err), 0);
    assert_int_equal(b.p[b.len - 1], '}');
    assert_null(strstr(st_buf_cstr(&b), "thanos"));
    assert_non_null(strstr(st_buf_cstr(&b), "\"extra\""));
    st_buf_release(&b);
    codec_meta_free(m);
}

static void meta__non_canonical_input_is_written_as_go_writes_it(void **state)
{
    (void)state;
    expect_format(CANON_IN, strlen(CANON_IN), CODEC_META_NEWLINE, CANON_OUT, strlen(CANON_OUT));
    /* and the canonical form is a fixed point */
    expect_format(CANON_OUT, strlen(CANON_OUT), CODEC_META_NEWLINE, CANON_OUT, strlen(CANON_OUT));
}

static void meta__go_float_formatting_in_extensions(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"0", "0"},
        {"-0.0", "0"}, /* not Go ("-0"): jansson reads -0 back as the integer 0 */
        {"1.0", "1"},
        {"0.1", "0.1"},
        {"1e-6", "0.000001"},
        {"9.99e-7", "9.99e-7"},
        {"1e-10", "1e-10"},
        {"1.5e300", "1.5e+300"},
        {"1e18", "1000000000000000000"},
        {"1e21", "1e+21"},
        {"123456.789", "123456.789"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"9007199254740993", "9007199254740992"},
        {"5e-324", "5e-324"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        /* not Go: jansson must read our output again, so no integer literal past int64 */
        {"9223372036854775807", "9.223372036854776e+18"},
        {"1e20", "1e+20"}, /* Go: 100000000000000000000 */
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char in[512], want[512];
        snprintf(in, sizeof(in),
                 "{\"ulid\":\"00000000000000000000000000\",\"version\":1,"
                 "\"thanos\":{\"extensions\":%s}}",
                 cases[i].in);
        snprintf(want, sizeof(want),
                 "{\n\t\"ulid\": \"00000000000000000000000000\",\n\t\"minTime\": 0,\n"
                 "\t\"maxTime\": 0,\n\t\"stats\": {},\n\t\"compaction\": {\n\t\t\"level\": 0\n"
                 "\t},\n\t\"version\": 1,\n\t\"thanos\": {\n\t\t\"labels\": null,\n"
                 "\t\t\"downsample\": {\n\t\t\t\"resolution\": 0\n\t\t},\n"
                 "\t\t\"source\": \"\",\n\t\t\"index_stats\": {},\n\t\t\"extensions\": %s,\n"
                 "\t\t\"upload_time\": \"0001-01-01T00:00:00Z\"\n\t}\n}",
                 cases[i].out);
        st_err err;
        st_err_init(&err);
        codec_meta *m;
        if (codec_meta_parse(&m, in, strlen(in), "x", &err) != 0)
            fail_msg("case %s: %s", cases[i].in, err.msg);
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(codec_meta_format(m, &b, 0, &err), 0);
        if (strcmp(st_buf_cstr(&b), want) != 0)
            fail_msg("case %s: got\n%s", cases[i].in, st_buf_cstr(&b));
        /* the output parses again to the same output */
        expect_format((const char *)b.p, b.len, 0, want, strlen(want));
        st_buf_release(&b);
        codec_meta_free(m);
    }
}

static void meta__upload_time_is_checked_and_normalised(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: rejected; "" zero time */
    } cases[] = {
        {"2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"},
        {"2024-01-02T03:04:05.100Z", "2024-01-02T03:04:05.1Z"},
        {"2024-01-02T03:04:05.000000000Z", "2024-01-02T03:04:05Z"},
        {"2024-01-02T03:04:05.1234567891Z", "2024-01-02T03:04:05.123456789Z"},
        {"2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05Z"},
        {"2024-01-02T03:04:05.5-07:30", "2024-01-02T03:04:05.5-07:30"},
        {"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
        {"0001-01-01T00:00:00Z", ""},
        {"2023-02-29T00:00:00Z", NULL},
        {"2024-01-02 03:04:05Z", NULL},
        {"2024-01-02T03:04:05", NULL},
        {"2024-01-02T24:00:00Z", NULL},
        {"2024-01-02T03:04:05.Z", NULL},
        {"yesterday", NULL},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char in[256];
        snprintf(in, sizeof(in),
                 "{\"ulid\":\"00000000000000000000000000\",\"version\":1,"
                 "\"thanos\":{\"upload_time\":\"%s\"}}",
                 cases[i].in);
        st_err err;
        st_err_init(&err);
        codec_meta *m = NULL;
        int rc = codec_meta_parse(&m, in, strlen(in), "x", &err);
        if (!cases[i].out) {
            if (rc != ST_ECORRUPT || !strstr(err.msg, "upload_time"))
                fail_msg("case %s: rc %d '%s'", cases[i].in, rc, err.msg);
            continue;
        }
        if (rc)
            fail_msg("case %s: %s", cases[i].in, err.msg);
        if (!cases[i].out[0])
            assert_null(m->thanos.upload_time);
        else
            assert_string_equal(m->thanos.upload_time, cases[i].out);
        codec_meta_free(m);
    }
}

static void meta__bad_input_is_rejected_naming_the_file(void **state)
{
    (void)state;
#define U "\"ulid\":\"01M80WQPZ1HZXKPPTDF8F0HSDJ\""
    static const struct {
        const char *name;
        const char *json;
        const char *want; /* in the message */
    } cases[] = {
        {"not JSON", "{\"ulid\": }", "line 1 column 10"},
        {"error on line 3", "{\n" U ",\n\"version\": 1,,\n}", "line 3"},
        {"truncated", "{" U ",\"version\":1", "line 1"},
        {"empty", "", "line"},
        {"an array", "[1]", "not a JSON object"},
        {"version 2", "{" U ",\"version\":2}", "version 2"},
        {"no version", "{" U "}", "version 0"},
        {"version as string", "{" U ",\"version\":\"1\"}", "version"},
        {"no ulid", "{\"version\":1}", "ulid"},
        {"bad ulid letter", "{\"ulid\":\"01M80WQPZ1HZXKPPTDF8F0HSDU\",\"version\":1}", "ULID"},
        {"ulid overflow", "{\"ulid\":\"81M80WQPZ1HZXKPPTDF8F0HSDJ\",\"version\":1}", "ULID"},
        {"ulid number", "{\"ulid\":5,\"version\":1}", "ulid"},
        {"minTime after maxTime", "{" U ",\"version\":1,\"minTime\":5,\"maxTime\":4}",
         "minTime 5 > maxTime 4"},
        {"minTime a string", "{" U ",\"version\":1,\"minTime\":\"5\"}", "minTime"},
        {"minTime a float", "{" U ",\"version\":1,\"minTime\":1.5}", "minTime"},
        {"negative numSamples", "{" U ",\"version\":1,\"stats\":{\"numSamples\":-1}}",
         "stats.numSamples"},
        {"level a bool", "{" U ",\"version\":1,\"compaction\":{\"level\":true}}",
         "compaction.level"},
        {"source a number", "{" U ",\"version\":1,\"compaction\":{\"sources\":[1]}}",
         "compaction.sources"},
        {"parent without ulid", "{" U ",\"version\":1,\"compaction\":{\"parents\":[{}]}}",
         "compaction.parents"},
        {"deletable a string", "{" U ",\"version\":1,\"compaction\":{\"deletable\":\"y\"}}",
         "compaction.deletable"},
        {"thanos version 2", "{" U ",\"version\":1,\"thanos\":{\"version\":2}}",
         "Thanos section version 2"},
        {"label value a number", "{" U ",\"version\":1,\"thanos\":{\"labels\":{\"a\":1}}}",
         "thanos.labels"},
        {"files not an array", "{" U ",\"version\":1,\"thanos\":{\"files\":{}}}", "thanos.files"},
        {"size_bytes a string",
         "{" U ",\"version\":1,\"thanos\":{\"files\":[{\"rel_path\":\"a\",\"size_bytes\":\"1\"}]}}",
         "thanos.files.size_bytes"},
        {"thanos a string", "{" U ",\"version\":1,\"thanos\":\"x\"}", "thanos"},
        {"NUL escape", "{" U ",\"version\":1,\"x\":\"a\\u0000b\"}", "line 1"},
        {"invalid UTF-8", "{" U ",\"version\":1,\"x\":\"\xff\"}", "line 1"},
    };
#undef U
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_err err;
        st_err_init(&err);
        codec_meta *m = (codec_meta *)1;
        int rc = codec_meta_parse(&m, cases[i].json, strlen(cases[i].json), "blk/meta.json", &err);
        if (rc != ST_ECORRUPT || !strstr(err.msg, "blk/meta.json") ||
            !strstr(err.msg, cases[i].want))
            fail_msg("case '%s': rc %d, message '%s' (want '%s')", cases[i].name, rc, err.msg,
                     cases[i].want);
        assert_null(m);
    }
}

static void meta__null_and_empty_values_follow_go(void **state)
{
    (void)state;
    /* null leaves a field alone; [] and 0 are dropped by omitempty; labels {} stays {} */
    const char *in = "{\"ulid\":\"01M80WQPZ1HZXKPPTDF8F0HSDJ\",\"minTime\":null,\"version\":1,"
                     "\"stats\":null,\"compaction\":{\"level\":1,\"sources\":null,"
                     "\"hints\":[]},\"thanos\":{\"labels\":{},\"source\":null,"
                     "\"upload_time\":null,\"extensions\":null,\"segment_files\":null,"
                     "\"files\":[],\"downsample\":null}}";
    const char *want = "{\n\t\"ulid\": \"01M80WQPZ1HZXKPPTDF8F0HSDJ\",\n\t\"minTime\": 0,\n"
                       "\t\"maxTime\": 0,\n\t\"stats\": {},\n\t\"compaction\": {\n"
                       "\t\t\"level\": 1\n\t},\n\t\"version\": 1,\n\t\"thanos\": {\n"
                       "\t\t\"labels\": {},\n\t\t\"downsample\": {\n\t\t\t\"resolution\": 0\n"
                       "\t\t},\n\t\t\"source\": \"\",\n\t\t\"index_stats\": {},\n"
                       "\t\t\"upload_time\": \"0001-01-01T00:00:00Z\"\n\t}\n}\n";
    expect_format(in, strlen(in), CODEC_META_NEWLINE, want, strlen(want));
}

static void meta__write_and_read_a_new_meta(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = join(dir, "meta.json");
    st_err err;
    st_err_init(&err);
    codec_meta *m;
    assert_int_equal(codec_meta_new(&m, &err), 0);
    assert_int_equal(codec_ulid_new(&m->ulid, 1700000000000), 0);
    m->min_time = 1;
    m->max_time = 2;
    m->sources = st_calloc(1, sizeof(codec_ulid));
    m->nsources = 1;
    m->sources[0] = m->ulid;
    assert_int_equal(codec_meta_write(m, path, 0, &err), 0);
    size_t len;
    uint8_t *text = tu_read(path, &len);
    assert_int_equal(text[len - 1], '}');
    codec_meta *r;
    assert_int_equal(codec_meta_read(&r, path, &err), 0);
    assert_string_equal(r->ulid.s, m->ulid.s);
    assert_int_equal(r->level, 1);
    assert_int_equal(r->nsources, 1);
    codec_meta_free(r);
    free(text);

    m->has_thanos = 1;
    m->thanos.source = st_strdup("compactor");
    assert_int_equal(codec_meta_write(m, path, CODEC_META_NEWLINE, &err), 0);
    text = tu_read(path, &len);
    assert_int_equal(text[len - 1], '\n');
    assert_non_null(strstr((char *)text, "\t\t\"labels\": {},\n"));
    assert_int_equal(codec_meta_read(&r, path, &err), 0);
    assert_string_equal(r->thanos.source, "compactor");
    codec_meta_free(r);
    free(text);

    /* a missing file */
    char *none = join(dir, "nope.json");
    st_err_init(&err);
    assert_int_equal(codec_meta_read(&r, none, &err), ST_ENOTFOUND);
    assert_null(r);
    st_free(none);
    codec_meta_free(m);
    st_free(path);
    tu_tmpdir_free(dir);
}

static void meta__every_allocation_failure_is_reported(void **state)
{
    (void)state;
    for (long k = 1; k < 400; k++) {
        st_err err;
        st_err_init(&err);
        codec_meta *m = NULL;
        st_alloc_fail_after(k);
        int rc = codec_meta_parse(&m, FULL, strlen(FULL), "full", &err);
        st_alloc_fail_after(0);
        assert_true(rc == 0 || rc == ST_ENOMEM);
        if (rc == 0) {
            st_buf b;
            st_buf_init(&b, 0);
            st_err_init(&err);
            st_alloc_fail_after(k);
            rc = codec_meta_format(m, &b, 0, &err);
            st_alloc_fail_after(0);
            assert_true(rc == 0 || rc == ST_ENOMEM);
            st_buf_release(&b);
        }
        codec_meta_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(meta__promtool_files_round_trip_byte_for_byte),
        cmocka_unit_test(meta__thanos_golden_outputs_are_reproduced),
        cmocka_unit_test(meta__every_thanos_field_and_unknown_members_round_trip),
        cmocka_unit_test(meta__non_canonical_input_is_written_as_go_writes_it),
        cmocka_unit_test(meta__go_float_formatting_in_extensions),
        cmocka_unit_test(meta__upload_time_is_checked_and_normalised),
        cmocka_unit_test(meta__bad_input_is_rejected_naming_the_file),
        cmocka_unit_test(meta__null_and_empty_values_follow_go),
        cmocka_unit_test(meta__write_and_read_a_new_meta),
        cmocka_unit_test(meta__every_allocation_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
