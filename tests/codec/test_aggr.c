/*
 * test_aggr.c - Thanos' aggregate chunk (encoding 0xFF): the byte layout written out by hand
 * (uvarint length without the encoding byte, encoding, bytes; 0x00 for an absent aggregate),
 * round trips with every combination of absent aggregates, the sample count (the count
 * sub-chunk's), and corrupt input: every truncation, bad lengths, bad encodings and random byte
 * flips must give ST_ECORRUPT with a message or a clean parse, never a crash.
 */
#include "../util/testutil.h"

#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Five XOR sub-chunks of k + a samples each (the counter gets the special first/last). */
static void make_subs(codec_xor_enc enc[CODEC_AGGR_N], codec_chunk sub[CODEC_AGGR_N], int k)
{
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        codec_xor_enc_reset(&enc[a]);
        for (int i = 0; i < k + a; i++)
            assert_int_equal(
                codec_xor_enc_append(&enc[a], 299999 + 300000LL * i, (double)(a * 1000 + i)), 0);
        codec_chunk x = codec_xor_enc_chunk(&enc[a]);
        sub[a] = (codec_chunk){.enc = CODEC_ENC_XOR, .data = x.data, .len = x.len};
    }
}

static void aggr__names_the_five_aggregates_in_thanos_order(void **state)
{
    static const char *const want[] = {"count", "sum", "min", "max", "counter"};
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        assert_string_equal(codec_aggr_name(a), want[a]);
        assert_int_equal(codec_aggr_from_name(want[a]), a);
    }
    assert_null(codec_aggr_name(5));
    assert_null(codec_aggr_name(-1));
    assert_int_equal(codec_aggr_from_name("avg"), -1);
    assert_int_equal(codec_aggr_from_name(NULL), -1);
    assert_int_equal(CODEC_AGGR_COUNT, 0);
    assert_int_equal(CODEC_AGGR_COUNTER, 4);
}

static void aggr__lays_out_entries_as_thanos_encodes_them(void **state)
{
    /* count: 3 bytes, sum absent, min: 1 byte, max absent, counter: 130 bytes (2-byte uvarint) */
    static uint8_t cnt[3] = {0x00, 0x01, 0xAA}, mn[1] = {0x42}, ctr[130];
    for (int i = 0; i < 130; i++)
        ctr[i] = (uint8_t)i;
    codec_chunk sub[CODEC_AGGR_N] = {
        {.enc = CODEC_ENC_XOR, .data = cnt, .len = 3},
        {.enc = 0},
        {.enc = CODEC_ENC_XOR, .data = mn, .len = 1},
        {.enc = 0},
        {.enc = CODEC_ENC_FLOAT_HISTOGRAM, .data = ctr, .len = 130},
    };
    uint8_t want[3 + 3 + 1 + 1 + 2 + 1 + 2 + 1 + 130];
    size_t n = 0;
    want[n++] = 3;    /* L excludes the encoding byte */
    want[n++] = 0x01; /* XOR */
    memcpy(want + n, cnt, 3);
    n += 3;
    want[n++] = 0x00; /* sum absent */
    want[n++] = 1;
    want[n++] = 0x01;
    want[n++] = 0x42;
    want[n++] = 0x00; /* max absent */
    want[n++] = 0x82; /* uvarint 130 */
    want[n++] = 0x01;
    want[n++] = 0x03; /* float histogram */
    memcpy(want + n, ctr, 130);
    n += 130;
    assert_int_equal(codec_aggr_size(sub), n);
    uint8_t got[sizeof(want)];
    assert_int_equal(codec_aggr_write(sub, got), n);
    assert_memory_equal(got, want, n);
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(codec_aggr_encode(&b, sub), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, want, n);
    st_buf_release(&b);

    codec_chunk back[CODEC_AGGR_N];
    size_t used;
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_aggr_parse(want, n, back, &used, "t", &err), 0);
    assert_int_equal(used, n);
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        assert_int_equal(back[a].enc, sub[a].enc);
        assert_int_equal(back[a].len, sub[a].len);
        if (sub[a].enc)
            /* count data at 2; min: L at 6, encoding at 7, data at 8; counter data at 13 */
            assert_ptr_equal(back[a].data, want + (sub[a].data == cnt  ? 2
                                                   : sub[a].data == mn ? 8
                                                                       : 13));
        else
            assert_null(back[a].data);
    }
}

static void aggr__writes_five_zero_bytes_when_every_aggregate_is_absent(void **state)
{
    codec_chunk sub[CODEC_AGGR_N] = {{.enc = 0}, {.enc = 0}, {.enc = 0}, {.enc = 0}, {.enc = 0}};
    uint8_t out[5];
    assert_int_equal(codec_aggr_write(sub, out), 5);
    static const uint8_t zero[5] = {0};
    assert_memory_equal(out, zero, 5);
    codec_chunk back[CODEC_AGGR_N];
    assert_int_equal(codec_aggr_parse(out, 5, back, NULL, "t", NULL), 0);
    for (int a = 0; a < CODEC_AGGR_N; a++)
        assert_int_equal(back[a].enc, 0);
    codec_chunk c = {.enc = CODEC_ENC_AGGR, .data = out, .len = 5};
    uint32_t n = 9;
    assert_int_equal(codec_chunk_num_samples(&c, &n, "t", NULL), 0);
    assert_int_equal(n, 0);
}

static void aggr__round_trips_every_combination_of_absent_aggregates(void **state)
{
    codec_xor_enc enc[CODEC_AGGR_N];
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_init(&enc[a]);
    codec_chunk full[CODEC_AGGR_N];
    make_subs(enc, full, 7);
    for (unsigned mask = 0; mask < 32; mask++) {
        codec_chunk sub[CODEC_AGGR_N];
        for (int a = 0; a < CODEC_AGGR_N; a++)
            sub[a] = (mask >> a) & 1 ? full[a] : (codec_chunk){.enc = 0};
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(codec_aggr_encode(&b, sub), 0);
        codec_chunk back[CODEC_AGGR_N];
        size_t used;
        st_err err;
        st_err_init(&err);
        if (codec_aggr_parse(b.p, b.len, back, &used, "t", &err))
            fail_msg("mask %u: %s", mask, err.msg);
        assert_int_equal(used, b.len);
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            assert_int_equal(back[a].enc, sub[a].enc);
            assert_int_equal(back[a].len, sub[a].len);
            if (sub[a].enc)
                assert_memory_equal(back[a].data, sub[a].data, sub[a].len);
        }
        /* the chunk's sample count is the count sub-chunk's */
        codec_chunk c = {.enc = CODEC_ENC_AGGR, .data = b.p, .len = (uint32_t)b.len};
        uint32_t n;
        assert_int_equal(codec_chunk_num_samples(&c, &n, "t", NULL), 0);
        assert_int_equal(n, (mask & 1) ? 7 : 0);
        /* and every present XOR sub-chunk decodes to what went in */
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            if (!back[a].enc)
                continue;
            int64_t t[16];
            double v[16];
            size_t got;
            assert_int_equal(codec_xor_decode(back[a].data, back[a].len, t, v, 16, &got, "t", NULL),
                             0);
            assert_int_equal(got, 7 + a);
            assert_true(t[0] == 299999 && v[got - 1] == (double)(a * 1000 + (int)got - 1));
        }
        st_buf_release(&b);
    }
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_release(&enc[a]);
}

static void aggr__refuses_to_encode_a_present_empty_sub_chunk(void **state)
{
    codec_chunk sub[CODEC_AGGR_N] = {{.enc = CODEC_ENC_XOR, .data = NULL, .len = 0}};
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(codec_aggr_encode(&b, sub), ST_EINVAL);
    assert_int_equal(b.len, 0);
    st_buf_release(&b);
}

static void aggr__ignores_bytes_after_the_five_entries_like_thanos(void **state)
{
    uint8_t d[8] = {0, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE};
    codec_chunk back[CODEC_AGGR_N];
    size_t used = 99;
    assert_int_equal(codec_aggr_parse(d, sizeof(d), back, &used, "t", NULL), 0);
    assert_int_equal(used, 5);
}

static void aggr__accepts_an_absent_counter_at_the_very_end(void **state)
{
    /* Thanos' Get asks for one more byte after an absent entry, so it fails on this chunk's
     * counter; there is nothing after it to read, so this reader calls it absent */
    uint8_t d[] = {3, 1, 0, 1, 0xAA, 0, 0, 0, 0};
    codec_chunk back[CODEC_AGGR_N];
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_aggr_parse(d, sizeof(d), back, NULL, "t", &err), 0);
    assert_int_equal(back[CODEC_AGGR_COUNT].len, 3);
    assert_int_equal(back[CODEC_AGGR_COUNTER].enc, 0);
    codec_chunk c = {.enc = CODEC_ENC_AGGR, .data = d, .len = sizeof(d)};
    uint32_t n;
    assert_int_equal(codec_chunk_num_samples(&c, &n, "t", NULL), 0);
    assert_int_equal(n, 1);
}

typedef struct bad_case {
    const char *name;
    uint8_t d[16];
    size_t len;
    const char *msg;
    uint64_t off;
} bad_case;

static void aggr__rejects_malformed_entries_with_offset_and_reason(void **state)
{
    static const bad_case cases[] = {
        {"empty", {0}, 0, "ends before its count entry", 0},
        {"four entries", {0, 0, 0, 0}, 4, "ends before its counter entry", 4},
        {"length past the end", {5, 1, 0, 0}, 4, "count entry says 5 bytes", 0},
        {"length exactly one short", {3, 1, 0, 0, 0, 0, 0, 0}, 4, "count entry says 3 bytes", 0},
        {"no encoding byte", {0, 1}, 2, "sum entry says 1 bytes (+1 encoding byte), 0 remain", 1},
        {"unknown sub-chunk encoding",
         {0, 0, 1, 0x07, 0xAA, 0, 0},
         7,
         "min sub-chunk has encoding 0x07",
         2},
        {"nested aggregate", {1, 0xFF, 0, 0, 0, 0, 0}, 7, "count sub-chunk has encoding 0xff", 0},
        {"encoding none", {1, 0x00, 9, 0, 0, 0, 0}, 7, "count sub-chunk has encoding 0x00", 0},
        {"endless varint",
         {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
         11,
         "over 10 bytes",
         0},
        {"10th varint byte over 1",
         {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 1},
         11,
         "over 10 bytes",
         0},
        {"length beyond 32 bits",
         {0x80, 0x80, 0x80, 0x80, 0x10, 1, 0, 0, 0, 0},
         10,
         "count entry says 4294967296 bytes",
         0},
        {"truncated varint",
         {0, 0, 0, 0, 0x85},
         5,
         "counter entry length varint runs past the end",
         4},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        const bad_case *k = &cases[i];
        codec_chunk back[CODEC_AGGR_N];
        st_err err;
        st_err_init(&err);
        int rc = codec_aggr_parse(k->d, k->len, back, NULL, "blk/chunks/000001 ref 0x10", &err);
        if (rc != ST_ECORRUPT)
            fail_msg("%s: rc %d, want ST_ECORRUPT", k->name, rc);
        char off[48];
        snprintf(off, sizeof(off), "at offset %llu", (unsigned long long)k->off);
        if (!strstr(err.msg, k->msg) || !strstr(err.msg, off) || !strstr(err.msg, "ref 0x10") ||
            !strstr(err.msg, "aggr.c:"))
            fail_msg("%s: message \"%s\" lacks \"%s\" / \"%s\"", k->name, err.msg, k->msg, off);
        codec_chunk c = {.enc = CODEC_ENC_AGGR, .data = k->d, .len = (uint32_t)k->len};
        uint32_t n = 7;
        st_err_init(&err);
        assert_int_equal(codec_chunk_num_samples(&c, &n, "x", &err), ST_ECORRUPT);
        assert_int_equal(n, 0);
    }
}

static void aggr__rejects_every_truncation_as_corrupt(void **state)
{
    codec_xor_enc enc[CODEC_AGGR_N];
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_init(&enc[a]);
    codec_chunk sub[CODEC_AGGR_N];
    make_subs(enc, sub, 25);
    for (unsigned mask = 0; mask < 32; mask += 7) {
        codec_chunk s2[CODEC_AGGR_N];
        for (int a = 0; a < CODEC_AGGR_N; a++)
            s2[a] = (mask >> a) & 1 ? sub[a] : (codec_chunk){.enc = 0};
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(codec_aggr_encode(&b, s2), 0);
        for (size_t len = 0; len < b.len; len++) {
            uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
            memcpy(copy, b.p, len);
            codec_chunk back[CODEC_AGGR_N];
            st_err err;
            st_err_init(&err);
            int rc = codec_aggr_parse(copy, len, back, NULL, "trunc", &err);
            if (rc != ST_ECORRUPT || !err.msg[0])
                fail_msg("mask %u: truncation to %zu of %zu bytes: rc %d (%s)", mask, len, b.len,
                         rc, err.msg);
            free(copy);
        }
        st_buf_release(&b);
    }
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_release(&enc[a]);
}

static void aggr__survives_random_byte_flips(void **state)
{
    codec_xor_enc enc[CODEC_AGGR_N];
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_init(&enc[a]);
    size_t ok = 0, corrupt = 0;
    for (int round = 0; round < 3000; round++) {
        codec_chunk sub[CODEC_AGGR_N];
        make_subs(enc, sub, 1 + (int)(rnd() % 40));
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(codec_aggr_encode(&b, sub), 0);
        uint8_t *copy = malloc(b.len);
        memcpy(copy, b.p, b.len);
        int flips = 1 + (int)(rnd() % 3);
        for (int f = 0; f < flips; f++)
            copy[rnd() % b.len] ^= (uint8_t)(1 + rnd() % 255);
        codec_chunk back[CODEC_AGGR_N];
        size_t used;
        st_err err;
        st_err_init(&err);
        int rc = codec_aggr_parse(copy, b.len, back, &used, "flip", &err);
        if (rc == ST_ECORRUPT) {
            assert_true(err.msg[0] != 0);
            corrupt++;
        } else {
            assert_int_equal(rc, 0);
            assert_true(used <= b.len);
            ok++;
            for (int a = 0; a < CODEC_AGGR_N; a++) {
                if (!back[a].enc)
                    continue;
                assert_true(back[a].data >= copy && back[a].data + back[a].len <= copy + used);
                if (back[a].enc != CODEC_ENC_XOR)
                    continue;
                uint32_t n;
                st_err_init(&err);
                if (codec_chunk_num_samples(&back[a], &n, "flip", &err))
                    continue;
                int64_t *t = malloc(sizeof(int64_t) * (n ? n : 1));
                double *v = malloc(sizeof(double) * (n ? n : 1));
                size_t got;
                st_err_init(&err);
                rc = codec_xor_decode(back[a].data, back[a].len, t, v, n, &got, "flip", &err);
                assert_true(rc == 0 || rc == ST_ECORRUPT);
                free(t);
                free(v);
            }
        }
        free(copy);
        st_buf_release(&b);
    }
    print_message("aggregate byte flips: %zu parsed, %zu rejected as corrupt\n", ok, corrupt);
    assert_true(ok > 0 && corrupt > 0);
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_release(&enc[a]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aggr__names_the_five_aggregates_in_thanos_order),
        cmocka_unit_test(aggr__lays_out_entries_as_thanos_encodes_them),
        cmocka_unit_test(aggr__writes_five_zero_bytes_when_every_aggregate_is_absent),
        cmocka_unit_test(aggr__round_trips_every_combination_of_absent_aggregates),
        cmocka_unit_test(aggr__refuses_to_encode_a_present_empty_sub_chunk),
        cmocka_unit_test(aggr__ignores_bytes_after_the_five_entries_like_thanos),
        cmocka_unit_test(aggr__accepts_an_absent_counter_at_the_very_end),
        cmocka_unit_test(aggr__rejects_malformed_entries_with_offset_and_reason),
        cmocka_unit_test(aggr__rejects_every_truncation_as_corrupt),
        cmocka_unit_test(aggr__survives_random_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
