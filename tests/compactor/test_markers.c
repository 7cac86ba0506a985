/*
 * test_markers.c - Thanos' marker files: the exact bytes Go's json.Marshal gives for each marker
 * (field order, omitted empty details, default reason, HTML-safe and UTF-8 escaping), decoding
 * and its refusals, put / get / remove / quarantine on a filesystem bucket (an existing marker is
 * left unchanged, removing a missing one is no error), and the planner's sync reading back what
 * we wrote.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ID "01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB"

static char *encode(marker_type t, const char *id, const char *reason, const char *details,
                    int64_t ts)
{
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(marker_encode(&b, t, id, reason, details, ts), 0);
    char *s = st_strndup((const char *)b.p, b.len);
    st_buf_release(&b);
    return s;
}

static void markers__encode_gives_thanos_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        marker_type t;
        const char *id, *reason, *details;
        int64_t ts;
        const char *want;
    } cases[] = {
        {"deletion with details", MARKER_DELETION, ID, NULL, "source of compacted block",
         1700000000,
         "{\"id\":\"" ID "\",\"version\":1,\"details\":\"source of compacted block\","
         "\"deletion_time\":1700000000}"},
        {"deletion without details omits the key", MARKER_DELETION, ID, NULL, "", 1700000000,
         "{\"id\":\"" ID "\",\"version\":1,\"deletion_time\":1700000000}"},
        {"deletion ignores a reason", MARKER_DELETION, ID, "manual", NULL, 5,
         "{\"id\":\"" ID "\",\"version\":1,\"deletion_time\":5}"},
        {"no-compact defaults to manual", MARKER_NO_COMPACT, ID, NULL, "bad block", 1700000001,
         "{\"id\":\"" ID "\",\"version\":1,\"details\":\"bad block\","
         "\"no_compact_time\":1700000001,\"reason\":\"manual\"}"},
        {"no-compact with Thanos' reason", MARKER_NO_COMPACT, ID, MARKER_REASON_OUT_OF_ORDER, NULL,
         0,
         "{\"id\":\"" ID "\",\"version\":1,\"no_compact_time\":0,"
         "\"reason\":\"block-index-out-of-order-chunk\"}"},
        {"no-downsample", MARKER_NO_DOWNSAMPLE, ID, NULL, "keep raw", 1700000002,
         "{\"id\":\"" ID "\",\"version\":1,\"details\":\"keep raw\","
         "\"no_downsample_time\":1700000002,\"reason\":\"manual\"}"},
        {"lower-case id is upper-cased", MARKER_DELETION, "01hq7s5m1t7y6x3vz3z1q4k2ab", NULL, "x",
         -1, "{\"id\":\"" ID "\",\"version\":1,\"details\":\"x\",\"deletion_time\":-1}"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char *got = encode(cases[i].t, cases[i].id, cases[i].reason, cases[i].details, cases[i].ts);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case '%s':\n got  %s\n want %s", cases[i].name, got, cases[i].want);
        st_free(got);
    }
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(marker_encode(&b, MARKER_DELETION, "not-a-ulid", NULL, NULL, 0), ST_EINVAL);
    assert_int_equal(marker_encode(&b, MARKER_NTYPES, ID, NULL, NULL, 0), ST_EINVAL);
    st_buf_release(&b);
}

static void markers__escape_strings_as_go_json_marshal(void **state)
{
    (void)state;
    static const struct {
        const char *name, *in, *want;
    } cases[] = {
        {"plain", "outdated block", "\"outdated block\""},
        {"quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""},
        {"html-safe", "<a href='x'>&</a>", "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\""},
        {"short escapes", "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
        {"other controls", "\x01\x1f", "\"\\u0001\\u001f\""},
        {"DEL is kept", "\x7f", "\"\x7f\""},
        {"valid UTF-8 is kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"line and paragraph separators", "\xe2\x80\xa8\xe2\x80\xa9", "\"\\u2028\\u2029\""},
        {"invalid byte",
         "a\xff"
         "b",
         "\"a\\ufffdb\""},
        {"overlong NUL", "\xc0\x80", "\"\\ufffd\\ufffd\""},
        {"overlong 3-byte", "\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\""},
        {"surrogate", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
        {"above U+10FFFF", "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
        {"truncated at the end", "x\xe2\x82", "\"x\\ufffd\\ufffd\""},
        {"truncated before ASCII",
         "\xe2\x82"
         "A",
         "\"\\ufffd\\ufffdA\""},
        {"empty", "", "\"\""},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(marker_json_string(&b, cases[i].in), 0);
        const char *got = st_buf_cstr(&b);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case '%s':\n got  %s\n want %s", cases[i].name, got, cases[i].want);
        st_buf_release(&b);
    }
}

static void markers__decode_round_trips_and_refuses_what_thanos_refuses(void **state)
{
    (void)state;
    char *s = encode(MARKER_NO_COMPACT, ID, "index-size-exceeding", "big <index>", 1700000000);
    marker_info m;
    st_err err;
    st_err_init(&err);
    assert_int_equal(marker_decode(&m, MARKER_NO_COMPACT, s, strlen(s), "x", &err), 0);
    assert_string_equal(m.id.s, ID);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.time_s, 1700000000);
    assert_string_equal(m.reason, "index-size-exceeding");
    assert_string_equal(m.details, "big <index>");
    marker_info_release(&m);
    st_free(s);

    static const struct {
        const char *name, *json;
    } bad[] = {
        {"not JSON", "{\"id\":"},
        {"not an object", "[1]"},
        {"version 2", "{\"id\":\"" ID "\",\"version\":2,\"no_compact_time\":1}"},
        {"no version", "{\"id\":\"" ID "\",\"no_compact_time\":1}"},
        {"id not a ULID", "{\"id\":\"nope\",\"version\":1,\"no_compact_time\":1}"},
        {"time not an integer", "{\"id\":\"" ID "\",\"version\":1,\"no_compact_time\":\"1\"}"},
        {"reason not a string", "{\"id\":\"" ID "\",\"version\":1,\"reason\":3}"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        st_err_init(&err);
        int rc = marker_decode(&m, MARKER_NO_COMPACT, bad[i].json, strlen(bad[i].json),
                               "blk/no-compact-mark.json", &err);
        if (rc != ST_ECORRUPT || !strstr(err.msg, "blk/no-compact-mark.json"))
            fail_msg("case '%s': rc %d, message '%s'", bad[i].name, rc, err.msg);
    }
    /* Thanos' own output with fields in another order and extra keys still reads. */
    const char *other = "{\"reason\":\"manual\",\"no_downsample_time\":7,\"version\":1,"
                        "\"id\":\"" ID "\",\"extra\":true}";
    st_err_init(&err);
    assert_int_equal(marker_decode(&m, MARKER_NO_DOWNSAMPLE, other, strlen(other), "x", &err), 0);
    assert_int_equal(m.time_s, 7);
    assert_string_equal(m.details, "");
    marker_info_release(&m);
}

static void markers__type_names_and_file_names_parse(void **state)
{
    (void)state;
    marker_type t;
    for (int i = 0; i < MARKER_NTYPES; i++) {
        assert_int_equal(marker_type_parse(marker_type_name((marker_type)i), &t), 0);
        assert_int_equal(t, i);
        assert_int_equal(marker_type_parse(marker_filename((marker_type)i), &t), 0);
        assert_int_equal(t, i);
    }
    assert_string_equal(marker_filename(MARKER_NO_DOWNSAMPLE), "no-downsample-mark.json");
    assert_int_equal(marker_type_parse("nocompact", &t), ST_EINVAL);
}

static char *read_text(const char *path)
{
    size_t len;
    uint8_t *p = tu_read(path, &len);
    char *s = st_strndup((const char *)p, len);
    free(p);
    return s;
}

static void markers__put_get_remove_on_a_filesystem_bucket(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    objstore *s = NULL;
    st_err err;
    st_err_init(&err);
    assert_int_equal(objstore_open_fs(&s, dir, &err), 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/acme/" ID "/deletion-mark.json", dir);

    int existed = -1;
    assert_int_equal(markers_put(s, "acme/" ID "/", MARKER_DELETION, NULL, "outdated block", 100,
                                 &existed, &err),
                     0);
    assert_int_equal(existed, 0);
    char *got = read_text(path);
    assert_string_equal(got, "{\"id\":\"" ID "\",\"version\":1,\"details\":\"outdated block\","
                             "\"deletion_time\":100}");
    st_free(got);

    /* As Thanos: a second mark leaves the first one as it is. */
    assert_int_equal(
        markers_put(s, "acme/" ID, MARKER_DELETION, NULL, "something else", 200, &existed, &err),
        0);
    assert_int_equal(existed, 1);
    marker_info m;
    assert_int_equal(markers_get(s, "acme/" ID, MARKER_DELETION, &m, &err), 0);
    assert_int_equal(m.time_s, 100);
    assert_string_equal(m.details, "outdated block");
    marker_info_release(&m);

    assert_int_equal(markers_remove(s, "acme/" ID "/", MARKER_DELETION, &existed, &err), 0);
    assert_int_equal(existed, 1);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(markers_remove(s, "acme/" ID, MARKER_DELETION, &existed, &err), 0);
    assert_int_equal(existed, 0);
    st_err_init(&err);
    assert_int_equal(markers_get(s, "acme/" ID, MARKER_DELETION, &m, &err), ST_ENOTFOUND);

    /* Flat layout, and prefixes that are not blocks. */
    st_err_init(&err);
    assert_int_equal(markers_put(s, ID, MARKER_NO_DOWNSAMPLE, NULL, "d", 1, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/" ID "/no-downsample-mark.json", dir);
    assert_int_equal(stat(path, &st), 0);
    static const char *const bad[] = {"", "acme", "acme/", "acme/" ID "X", "/", NULL};
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        st_err_init(&err);
        if (markers_put(s, bad[i], MARKER_DELETION, NULL, "x", 1, NULL, &err) != ST_EINVAL)
            fail_msg("prefix '%s' accepted", bad[i] ? bad[i] : "(null)");
    }
    objstore_free(s);
    tu_tmpdir_free(dir);
}

static void markers__quarantine_writes_a_no_compact_mark_naming_the_file(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    objstore *s = NULL;
    st_err err;
    st_err_init(&err);
    assert_int_equal(objstore_open_fs(&s, dir, &err), 0);
    assert_int_equal(markers_quarantine(s, ID "/", NULL, "chunks/000001",
                                        "CRC mismatch at offset 4096", 1700000000, NULL, &err),
                     0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/" ID "/no-compact-mark.json", dir);
    char *got = read_text(path);
    assert_string_equal(got, "{\"id\":\"" ID "\",\"version\":1,\"details\":\"quarantined by "
                             "strata: chunks/000001: CRC mismatch at offset 4096\","
                             "\"no_compact_time\":1700000000,\"reason\":\"block-corrupt\"}");
    st_free(got);
    objstore_free(s);
    tu_tmpdir_free(dir);
}

/* What we write is what the planner (and so Thanos' reader rules) reads. */
static void markers__planner_sync_reads_what_we_write(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *src = tu_testdata_block("adjacent");
    assert_non_null(src); /* testdata/blocks/adjacent (STRATA_SRC) */
    const char *id = strrchr(src, '/') + 1;
    char dst[4096];
    snprintf(dst, sizeof(dst), "%s/%s", dir, id);
    tu_copy_tree(src, dst);

    objstore *s = NULL;
    planner_settings *set = NULL;
    planner_blockset *bs = NULL;
    st_err err;
    st_err_init(&err);
    planner_flags pf = {0};
    assert_int_equal(objstore_open_fs(&s, dir, &err), 0);
    assert_int_equal(planner_settings_create(&set, &pf, &err), 0);
    assert_int_equal(markers_put(s, id, MARKER_DELETION, NULL, "block exceeding retention of 30d",
                                 1700000000, NULL, &err),
                     0);
    assert_int_equal(
        markers_quarantine(s, id, NULL, "index", "postings out of order", 1700000001, NULL, &err),
        0);
    assert_int_equal(
        markers_put(s, id, MARKER_NO_DOWNSAMPLE, NULL, "\xe2\x80\xa8<x>", 1700000002, NULL, &err),
        0);
    planner_sync_opts so = {0};
    planner_sync_stats ss;
    if (planner_sync(&bs, s, set, &so, &ss, &err))
        fail_msg("sync: %s", err.msg);
    assert_int_equal(planner_blockset_count(bs), 1);
    const planner_block *b = planner_blockset_block(bs, 0);
    assert_int_equal(b->bad_markers, 0);
    assert_true(b->deletion.present);
    assert_int_equal(b->deletion.time_s, 1700000000);
    assert_string_equal(b->deletion.details, "block exceeding retention of 30d");
    assert_true(b->no_compact.present);
    assert_int_equal(b->no_compact.time_s, 1700000001);
    assert_string_equal(b->no_compact.reason, "block-corrupt");
    assert_string_equal(b->no_compact.details,
                        "quarantined by strata: index: postings out of order");
    assert_true(b->no_downsample.present);
    assert_string_equal(b->no_downsample.details, "\xe2\x80\xa8<x>");
    assert_string_equal(b->no_downsample.reason, "manual");
    planner_blockset_free(bs);
    planner_settings_free(set);
    objstore_free(s);
    free(src);
    tu_tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(markers__encode_gives_thanos_bytes),
        cmocka_unit_test(markers__escape_strings_as_go_json_marshal),
        cmocka_unit_test(markers__decode_round_trips_and_refuses_what_thanos_refuses),
        cmocka_unit_test(markers__type_names_and_file_names_parse),
        cmocka_unit_test(markers__put_get_remove_on_a_filesystem_bucket),
        cmocka_unit_test(markers__quarantine_writes_a_no_compact_mark_naming_the_file),
        cmocka_unit_test(markers__planner_sync_reads_what_we_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
