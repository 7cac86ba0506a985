/*
 * test_crc32c.c - CRC-32C: published check values, the table and SSE4.2 versions agreeing on
 * every length and alignment, and chaining across arbitrary split points.
 */
#include "tests/util/testutil.h"

#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct crc_case {
    const char *name;
    uint8_t data[48];
    size_t len;
    uint32_t want;
} crc_case;

/* The check value of the CRC catalogue and the RFC 3720 (iSCSI) B.4 vectors. */
static crc_case *known_cases(size_t *n)
{
    static crc_case c[6];
    memset(c, 0, sizeof(c));
    c[0] = (crc_case){.name = "empty", .len = 0, .want = 0};
    c[1] = (crc_case){.name = "\"123456789\"", .len = 9, .want = 0xE3069283};
    memcpy(c[1].data, "123456789", 9);
    c[2] = (crc_case){.name = "32 zero bytes", .len = 32, .want = 0x8A9136AA};
    c[3] = (crc_case){.name = "32 0xFF bytes", .len = 32, .want = 0x62A8AB43};
    memset(c[3].data, 0xFF, 32);
    c[4] = (crc_case){.name = "32 ascending bytes", .len = 32, .want = 0x46DD794E};
    c[5] = (crc_case){.name = "32 descending bytes", .len = 32, .want = 0x113FDB5C};
    for (int i = 0; i < 32; i++) {
        c[4].data[i] = (uint8_t)i;
        c[5].data[i] = (uint8_t)(31 - i);
    }
    *n = ST_ARRAY_LEN(c);
    return c;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void crc32c__matches_published_check_values(void **state)
{
    size_t n;
    crc_case *c = known_cases(&n);
    int hw = codec_crc32c_hw_available();
    for (size_t i = 0; i < n; i++) {
        uint32_t got = codec_crc32c(0, c[i].data, c[i].len);
        uint32_t sw = codec_crc32c_sw(0, c[i].data, c[i].len);
        uint32_t hwv = hw ? codec_crc32c_hw(0, c[i].data, c[i].len) : c[i].want;
        if (got != c[i].want || sw != c[i].want || hwv != c[i].want)
            fail_msg("%s: want %08x, dispatch %08x, sw %08x, hw %08x", c[i].name, c[i].want, got,
                     sw, hwv);
    }
}

static void crc32c__hw_and_sw_agree_on_random_lengths_and_alignments(void **state)
{
    if (!codec_crc32c_hw_available())
        skip();
    enum { MAX = 3 * 2048 * 3 + 64 }; /* past two of the three-stream blocks, long and short */
    uint8_t *buf = malloc(MAX);
    assert_non_null(buf);
    for (size_t i = 0; i < MAX; i++)
        buf[i] = (uint8_t)rnd();
    /* Every length up to 1200 (past three short three-stream blocks) at every alignment
     * 0..15, then random spans. */
    for (size_t len = 0; len <= 1200; len++)
        for (size_t al = 0; al < 16; al++) {
            uint32_t seed = (uint32_t)rnd();
            uint32_t a = codec_crc32c_sw(seed, buf + al, len);
            uint32_t b = codec_crc32c_hw(seed, buf + al, len);
            if (a != b)
                fail_msg("len %zu align %zu seed %08x: sw %08x hw %08x", len, al, seed, a, b);
        }
    for (int k = 0; k < 2000; k++) {
        size_t off = rnd() % 64, len = rnd() % (MAX - 64);
        uint32_t a = codec_crc32c_sw(0, buf + off, len);
        uint32_t b = codec_crc32c_hw(0, buf + off, len);
        if (a != b)
            fail_msg("off %zu len %zu: sw %08x hw %08x", off, len, a, b);
        assert_int_equal(codec_crc32c(0, buf + off, len), a);
    }
    free(buf);
}

static void crc32c__chains_across_every_split_point(void **state)
{
    uint8_t buf[200];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rnd();
    uint32_t whole = codec_crc32c(0, buf, sizeof(buf));
    assert_int_equal(whole, codec_crc32c_sw(0, buf, sizeof(buf)));
    for (size_t cut = 0; cut <= sizeof(buf); cut++) {
        uint32_t sw = codec_crc32c_sw(codec_crc32c_sw(0, buf, cut), buf + cut, sizeof(buf) - cut);
        uint32_t d = codec_crc32c(codec_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut);
        if (sw != whole || d != whole)
            fail_msg("cut at %zu: whole %08x, chained sw %08x, chained %08x", cut, whole, sw, d);
        if (codec_crc32c_hw_available()) {
            uint32_t hw =
                codec_crc32c_hw(codec_crc32c_hw(0, buf, cut), buf + cut, sizeof(buf) - cut);
            if (hw != whole)
                fail_msg("cut at %zu: whole %08x, chained hw %08x", cut, whole, hw);
        }
    }
    /* "1234" then "56789" gives the check value. */
    assert_int_equal(codec_crc32c(codec_crc32c(0, "1234", 4), "56789", 5), 0xE3069283);
}

static void crc32c__detects_every_single_bit_flip(void **state)
{
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rnd();
    uint32_t want = codec_crc32c(0, buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (codec_crc32c(0, buf, sizeof(buf)) == want)
            fail_msg("flipping bit %zu did not change the CRC", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c__matches_published_check_values),
        cmocka_unit_test(crc32c__hw_and_sw_agree_on_random_lengths_and_alignments),
        cmocka_unit_test(crc32c__chains_across_every_split_point),
        cmocka_unit_test(crc32c__detects_every_single_bit_flip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
