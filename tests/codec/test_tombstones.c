/*
 * test_tombstones.c - the tombstones file: the 9-byte empty file, exact bytes of a written file,
 * sorted parse results, CRC and framing errors that name file and offset, a missing file, and the
 * tombstones file Prometheus wrote in testdata/ rewritten byte for byte.
 */
#include "testutil.h"

#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *join(const char *a, const char *b)
{
    char *p = st_path_join(a, b);
    assert_non_null(p);
    return p;
}

static void tombstones__empty_file_is_nine_bytes(void **state)
{
    (void)state;
    static const uint8_t want[9] = {0x01, 0x30, 0xBA, 0x30, 0x01, 0x00, 0x00, 0x00, 0x00};
    char *dir = tu_tmpdir();
    char *path = join(dir, "tombstones");
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_tombstones_write(path, NULL, 0, &err), 0);
    size_t len;
    uint8_t *got = tu_read(path, &len);
    assert_int_equal(len, 9);
    assert_memory_equal(got, want, 9);

    codec_tombstone *t = (codec_tombstone *)1;
    size_t n = 99;
    assert_int_equal(codec_tombstones_parse(want, 9, "tombstones", &t, &n, &err), 0);
    assert_int_equal(n, 0);
    st_free(t);
    free(got);
    st_free(path);
    tu_tmpdir_free(dir);
}

static void tombstones__write_gives_exact_bytes_in_the_given_order(void **state)
{
    (void)state;
    const codec_tombstone in[] = {{300, 0, 1000}, {1, -1, 10}};
    /* magic, version, (AC 02 | 00 | D0 0F), (01 | 01 | 14), CRC of the entry bytes */
    uint8_t want[5 + 8 + 4] = {0x01, 0x30, 0xBA, 0x30, 0x01, 0xAC, 0x02,
                               0x00, 0xD0, 0x0F, 0x01, 0x01, 0x14};
    codec_put_be32(want + 13, codec_crc32c(0, want + 5, 8));

    char *dir = tu_tmpdir();
    char *path = join(dir, "tombstones");
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_tombstones_write(path, in, 2, &err), 0);
    size_t len;
    uint8_t *got = tu_read(path, &len);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(got, want, sizeof(want));

    codec_tombstone *t = NULL;
    size_t n = 0;
    assert_int_equal(codec_tombstones_read(path, &t, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].series_ref, 1);
    assert_int_equal(t[0].mint, -1);
    assert_int_equal(t[0].maxt, 10);
    assert_int_equal(t[1].series_ref, 300);
    assert_int_equal(t[1].mint, 0);
    assert_int_equal(t[1].maxt, 1000);
    st_free(t);
    free(got);
    st_free(path);
    tu_tmpdir_free(dir);
}

static void tombstones__parse_sorts_by_series_then_mint(void **state)
{
    (void)state;
    enum { N = 500 };
    codec_tombstone in[N];
    for (int i = 0; i < N; i++) {
        int k = (i * 211) % N; /* a permutation */
        in[i] = (codec_tombstone){(uint64_t)(k / 5) * 16, (int64_t)(k % 5) * -1000 + INT64_MIN / 2,
                                  (int64_t)k * 77 + INT64_MAX / 2};
    }
    char *dir = tu_tmpdir();
    char *path = join(dir, "tombstones");
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_tombstones_write(path, in, N, &err), 0);
    codec_tombstone *t = NULL;
    size_t n = 0;
    assert_int_equal(codec_tombstones_read(path, &t, &n, &err), 0);
    assert_int_equal(n, N);
    for (size_t i = 1; i < n; i++) {
        int ordered = t[i - 1].series_ref < t[i].series_ref ||
                      (t[i - 1].series_ref == t[i].series_ref && t[i - 1].mint <= t[i].mint);
        if (!ordered)
            fail_msg("entry %zu out of order", i);
    }
    /* same multiset: every input entry is found */
    for (int i = 0; i < N; i++) {
        int found = 0;
        for (size_t j = 0; j < n && !found; j++)
            found = !memcmp(&t[j], &in[i], sizeof(in[i]));
        assert_true(found);
    }
    st_free(t);
    st_free(path);
    tu_tmpdir_free(dir);
}

static void tombstones__missing_file_means_none(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = join(dir, "tombstones");
    st_err err;
    st_err_init(&err);
    codec_tombstone *t = (codec_tombstone *)1;
    size_t n = 7;
    assert_int_equal(codec_tombstones_read(path, &t, &n, &err), 0);
    assert_null(t);
    assert_int_equal(n, 0);
    assert_int_equal(err.code, 0);
    st_free(path);
    tu_tmpdir_free(dir);
}

typedef struct bad_case {
    const char *name;
    uint8_t bytes[32];
    size_t len;
    int fix_crc; /* recompute the CRC after building the bytes */
    int want;
    const char *want_in_msg;
} bad_case;

static void tombstones__corrupt_files_are_rejected_with_file_and_offset(void **state)
{
    (void)state;
    /* base: one entry (01 01 14) */
    static const bad_case cases[] = {
        {"shorter than 9 bytes",
         {0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0},
         8,
         0,
         ST_ECORRUPT,
         "offset 0"},
        {"empty", {0}, 0, 0, ST_ECORRUPT, "offset 0"},
        {"bad magic", {0x01, 0x30, 0xBA, 0x31, 0x01, 0, 0, 0, 0}, 9, 0, ST_ECORRUPT, "magic"},
        {"CRC mismatch",
         {0x01, 0x30, 0xBA, 0x30, 0x01, 0x01, 0x01, 0x14, 0, 0, 0, 1},
         12,
         0,
         ST_ECHECKSUM,
         "offset 8"},
        {"version 2 (not covered by the CRC)",
         {0x01, 0x30, 0xBA, 0x30, 0x02, 0x01, 0x01, 0x14},
         12,
         1,
         ST_ECORRUPT,
         "offset 4"},
        {"entry cut after the series ref",
         {0x01, 0x30, 0xBA, 0x30, 0x01, 0x01, 0x01, 0x14, 0x05},
         13,
         1,
         ST_ECORRUPT,
         "offset 8"},
        {"unterminated varint",
         {0x01, 0x30, 0xBA, 0x30, 0x01, 0x81, 0x81, 0x81},
         12,
         1,
         ST_ECORRUPT,
         "offset 5"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        bad_case c = cases[i];
        if (c.fix_crc)
            codec_put_be32(c.bytes + c.len - 4, codec_crc32c(0, c.bytes + 5, c.len - 9));
        st_err err;
        st_err_init(&err);
        codec_tombstone *t = (codec_tombstone *)1;
        size_t n = 3;
        int rc = codec_tombstones_parse(c.bytes, c.len, "blk/tombstones", &t, &n, &err);
        if (rc != c.want)
            fail_msg("case '%s': rc %d (%s), want %d", c.name, rc, err.msg, c.want);
        if (!strstr(err.msg, "blk/tombstones") || !strstr(err.msg, c.want_in_msg))
            fail_msg("case '%s': message '%s' lacks the file or '%s'", c.name, err.msg,
                     c.want_in_msg);
        assert_null(t);
        assert_int_equal(n, 0);
    }
}

static void tombstones__prometheus_file_rewrites_byte_for_byte(void **state)
{
    (void)state;
    char *blk = tu_testdata_block("tombstones");
    if (!blk)
        skip();
    char *path = join(blk, "tombstones");
    size_t len;
    uint8_t *orig = tu_read(path, &len);
    st_err err;
    st_err_init(&err);

    codec_tombstone *t = NULL;
    size_t n = 0;
    assert_int_equal(codec_tombstones_parse(orig, len, path, &t, &n, &err), 0);
    assert_true(n > 0);
    st_free(t);

    /* The file's own entry order is Go map order; decode it as is and write it back. */
    codec_tombstone *raw = calloc(len, sizeof(*raw));
    size_t k = 0;
    codec_decbuf d;
    codec_decbuf_init(&d, orig, orig + 5, len - 9);
    while (codec_dec_left(&d) > 0) {
        raw[k].series_ref = codec_dec_uvarint(&d);
        raw[k].mint = codec_dec_varint(&d);
        raw[k].maxt = codec_dec_varint(&d);
        k++;
    }
    assert_int_equal(d.err, 0);
    assert_int_equal(k, n);

    char *dir = tu_tmpdir();
    char *out = join(dir, "tombstones");
    assert_int_equal(codec_tombstones_write(out, raw, k, &err), 0);
    size_t len2;
    uint8_t *again = tu_read(out, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, orig, len);

    free(again);
    free(raw);
    free(orig);
    st_free(out);
    st_free(path);
    free(blk);
    tu_tmpdir_free(dir);
}

static void tombstones__every_allocation_failure_is_reported(void **state)
{
    (void)state;
    const codec_tombstone in[] = {{3, 1, 2}, {1, 5, 9}, {2, 0, 0}};
    char *dir = tu_tmpdir();
    char *path = join(dir, "tombstones");
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_tombstones_write(path, in, 3, &err), 0);
    size_t len;
    uint8_t *bytes = tu_read(path, &len);
    for (long k = 1; k < 10; k++) {
        codec_tombstone *t = NULL;
        size_t n = 0;
        st_err_init(&err);
        st_alloc_fail_after(k);
        int rc = codec_tombstones_parse(bytes, len, "t", &t, &n, &err);
        st_alloc_fail_after(0);
        assert_true(rc == 0 || rc == ST_ENOMEM);
        if (rc == 0)
            assert_int_equal(n, 3);
        st_free(t);
    }
    free(bytes);
    st_free(path);
    tu_tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tombstones__empty_file_is_nine_bytes),
        cmocka_unit_test(tombstones__write_gives_exact_bytes_in_the_given_order),
        cmocka_unit_test(tombstones__parse_sorts_by_series_then_mint),
        cmocka_unit_test(tombstones__missing_file_means_none),
        cmocka_unit_test(tombstones__corrupt_files_are_rejected_with_file_and_offset),
        cmocka_unit_test(tombstones__prometheus_file_rewrites_byte_for_byte),
        cmocka_unit_test(tombstones__every_allocation_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
