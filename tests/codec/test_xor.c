/*
 * test_xor.c - the XOR chunk codec: exact bytes of hand-computed chunks and of chunks written by
 * real Prometheus 2.42, every bucket edge of the timestamp encoding, the value-field corner
 * cases (64 significant bits, the leading-zero clamp, window reuse), NaN payloads, randomized
 * round trips, corrupt input (every truncation, random byte flips) that must fail cleanly, the
 * shared-timestamp batch of up to four chunks against each chunk encoded a sample at a time, and
 * the sample count of every chunk encoding.
 */
#include "tests/util/testutil.h"

#include "codec/codec.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sample with its value as raw float64 bits, so NaN payloads compare exactly. */
typedef struct sample {
    int64_t t;
    uint64_t v;
} sample;

#define STALE_NAN 0x7ff0000000000002ull

/* ---------------------------------------------------------------------------------------------
 * Chunks written by Prometheus 2.42 (Debian's promtool 2.42.0+ds: `promtool tsdb
 * create-blocks-from openmetrics`, chunk data copied out of chunks/000001 and checked against
 * its CRC). The OpenMetrics input of each is described above it (timestamps there in seconds).
 */

/* 1.0 at 1.000: the single-sample chunk with its spare byte. */
static const uint8_t prom_one_bytes[] = {
    0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const sample prom_one_samples[] = {
    {1000, 0x3ff0000000000000},
};

/* 1.0 at 1.000, 1.0 at 2.000, 2.0 at 3.000. */
static const uint8_t prom_three_bytes[] = {
    0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xe8, 0x07, 0x30, 0x97, 0xff, 0xc0,
};
static const sample prom_three_samples[] = {
    {1000, 0x3ff0000000000000},
    {2000, 0x3ff0000000000000},
    {3000, 0x4000000000000000},
};

/* Values 0..11, first delta 100 s, then dods 0, 8192, -8191, -8192, 8193, 65536, -65535,
 * -65536, 65537, 1 ms: both edges of the 14- and 17-bit buckets. */
static const uint8_t prom_dod14_17_bytes[] = {
    0x00, 0x0c, 0xd0, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x8d, 0x06,
    0xc4, 0x57, 0xfe, 0xc2, 0x5f, 0xff, 0xa0, 0x00, 0xd8, 0x0e, 0x80, 0x07, 0x58, 0x5e, 0xf0,
    0x00, 0x6d, 0x07, 0x84, 0x00, 0x3b, 0x02, 0xf4, 0x00, 0x02, 0x74, 0x00, 0x07, 0x50, 0x9f,
    0xde, 0x00, 0x01, 0xb8, 0x1f, 0x08, 0x00, 0x0e, 0xd0, 0xb8, 0x00, 0x19,
};
static const sample prom_dod14_17_samples[] = {
    {1000, 0x0000000000000000},   {101000, 0x3ff0000000000000},  {201000, 0x4000000000000000},
    {309192, 0x4008000000000000}, {409193, 0x4010000000000000},  {501002, 0x4014000000000000},
    {601004, 0x4018000000000000}, {766542, 0x401c000000000000},  {866545, 0x4020000000000000},
    {901012, 0x4022000000000000}, {1001016, 0x4024000000000000}, {1101021, 0x4026000000000000},
};

/* Values 0..7, first delta 600 s, then dods 524288, -524287, -524288, 524289, -1, 0: both edges
 * of the 20-bit bucket and the 64-bit one. */
static const uint8_t prom_dod20_64_bytes[] = {
    0x00, 0x08, 0xd0, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xcf,
    0x24, 0xc4, 0x57, 0xff, 0xd0, 0x00, 0x01, 0x84, 0xbf, 0xff, 0xd0, 0x00, 0x03, 0xb0,
    0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x00, 0x00, 0x6b, 0x0b, 0xf0, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x80, 0x00, 0x1d, 0xa0, 0xef, 0xff, 0xf6, 0x05, 0xa4,
};
static const sample prom_dod20_64_samples[] = {
    {1000, 0x0000000000000000},    {601000, 0x3ff0000000000000},  {1725288, 0x4000000000000000},
    {2325289, 0x4008000000000000}, {2401002, 0x4010000000000000}, {3001004, 0x4014000000000000},
    {3601005, 0x4018000000000000}, {4201006, 0x401c000000000000},
};

/* Every 15 s: 0.0, -0.0, NaN, +Inf, -Inf, 1e308, 5e-324, -5e-324, 1.0, 1.0,
 * -1.0000000000000002 (a 64-bit XOR), 1.0 (its window reused), 1.0000000000000002 (XOR 1: the
 * leading-zero clamp), 1.0, 1.0000000000000004, 2.5. */
static const uint8_t prom_values_bytes[] = {
    0x00, 0x10, 0xd0, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x98, 0x75, 0xc0, 0x0d,
    0x80, 0x0f, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x8e, 0x67, 0x9c, 0x2f,
    0x5e, 0x45, 0x02, 0x7f, 0xe1, 0xcc, 0xf3, 0x85, 0xeb, 0xc8, 0xa1, 0x50, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x0a, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x50, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x9f, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
};
static const sample prom_values_samples[] = {
    {1000, 0x0000000000000000},   {16000, 0x8000000000000000},  {31000, 0x7ff8000000000001},
    {46000, 0x7ff0000000000000},  {61000, 0xfff0000000000000},  {76000, 0x7fe1ccf385ebc8a0},
    {91000, 0x0000000000000001},  {106000, 0x8000000000000001}, {121000, 0x3ff0000000000000},
    {136000, 0x3ff0000000000000}, {151000, 0xbff0000000000001}, {166000, 0x3ff0000000000000},
    {181000, 0x3ff0000000000001}, {196000, 0x3ff0000000000000}, {211000, 0x3ff0000000000002},
    {226000, 0x4004000000000000},
};

/* 1.0, then XOR 0x0000FF0000000000 (an 8-bit window), then XOR 0x0000010000000000 (window
 * reused, 8 bits): the last write is a whole byte ending on a byte boundary, so the chunk ends
 * with the spare zero byte. */
static const uint8_t prom_spare_bytes[] = {
    0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x98, 0x75, 0xe0, 0x47, 0xfa, 0x01, 0x00,
};
static const sample prom_spare_samples[] = {
    {1000, 0x3ff0000000000000},
    {16000, 0x3ff0ff0000000000},
    {31000, 0x3ff0fe0000000000},
};

typedef struct golden {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    const sample *s;
    size_t n;
    int spare; /* ends with the spare byte */
} golden;

#define GOLDEN(nm, sp)                                                                             \
    {                                                                                              \
#nm, nm##_bytes, sizeof(nm##_bytes), nm##_samples, ST_ARRAY_LEN(nm##_samples), sp          \
    }

static const golden goldens[] = {
    GOLDEN(prom_one, 1),      GOLDEN(prom_three, 0),  GOLDEN(prom_dod14_17, 0),
    GOLDEN(prom_dod20_64, 0), GOLDEN(prom_values, 0), GOLDEN(prom_spare, 1),
};

/* ---------------------------------------------------------------------------------------------
 * Helpers.
 */
static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static uint64_t rng_state;
static void rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void encode(codec_xor_enc *e, const sample *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(codec_xor_enc_append(e, s[i].t, bitsd(s[i].v)), 0);
}

/* n bits at bit position pos (MSB-first, from the start of the chunk). */
static uint64_t bits_at(const uint8_t *p, uint64_t pos, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++, pos++)
        v = (v << 1) | ((p[pos / 8] >> (7 - pos % 8)) & 1);
    return v;
}

static void hex(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02x%s", p[i], i + 1 < n ? " " : "");
}

static void expect_bytes(const char *name, const uint8_t *got, size_t got_len, const uint8_t *want,
                         size_t want_len)
{
    if (got_len == want_len && memcmp(got, want, want_len) == 0)
        return;
    char g[2048], w[2048];
    hex(g, sizeof(g), got, got_len);
    hex(w, sizeof(w), want, want_len);
    fail_msg("%s: chunk bytes differ\n  got  (%zu): %s\n  want (%zu): %s", name, got_len, g,
             want_len, w);
}

/* Decode a copy of data[0..len) held in a heap block of exactly len bytes, so that AddressSanitizer
 * sees any read past the end. Returns the decoder's code; *out gets the samples (caller frees). */
static int decode_copy(const uint8_t *data, size_t len, sample **out, size_t *n, st_err *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    size_t cap = len >= 2 ? codec_get_be16(data) : 0;
    int64_t *t = malloc((cap ? cap : 1) * sizeof(*t));
    double *v = malloc((cap ? cap : 1) * sizeof(*v));
    assert_true(t && v);
    st_err_init(err);
    int rc = codec_xor_decode(copy, len, t, v, cap, n, "test chunk", err);
    if (out) {
        *out = calloc(*n ? *n : 1, sizeof(**out));
        assert_non_null(*out);
        for (size_t i = 0; i < *n; i++)
            (*out)[i] = (sample){t[i], dbits(v[i])};
    }
    free(copy);
    free(t);
    free(v);
    return rc;
}

static void expect_samples(const char *name, const uint8_t *data, size_t len, const sample *want,
                           size_t nwant)
{
    sample *got;
    size_t n;
    st_err err;
    int rc = decode_copy(data, len, &got, &n, &err);
    if (rc)
        fail_msg("%s: decode failed: %s", name, err.msg);
    if (n != nwant)
        fail_msg("%s: decoded %zu samples, want %zu", name, n, nwant);
    for (size_t i = 0; i < n; i++)
        if (got[i].t != want[i].t || got[i].v != want[i].v)
            fail_msg("%s: sample %zu is (%lld, %016llx), want (%lld, %016llx)", name, i,
                     (long long)got[i].t, (unsigned long long)got[i].v, (long long)want[i].t,
                     (unsigned long long)want[i].v);
    free(got);
}

/* Encode, compare with the expected bytes (if given), decode back, and re-encoding in one batch
 * (and in three) gives the same bytes. */
static void round_trip(const char *name, const sample *s, size_t n, const uint8_t *want,
                       size_t want_len)
{
    codec_xor_enc e, b;
    codec_xor_enc_init(&e);
    encode(&e, s, n);
    codec_chunk c = codec_xor_enc_chunk(&e);
    assert_int_equal(c.enc, CODEC_ENC_XOR);
    assert_int_equal(codec_get_be16(c.data), n);
    if (want)
        expect_bytes(name, c.data, c.len, want, want_len);
    expect_samples(name, c.data, c.len, s, n);

    int64_t *t = malloc((n ? n : 1) * sizeof(*t));
    double *v = malloc((n ? n : 1) * sizeof(*v));
    assert_true(t && v);
    for (size_t i = 0; i < n; i++) {
        t[i] = s[i].t;
        v[i] = bitsd(s[i].v);
    }
    codec_xor_enc_init(&b);
    assert_int_equal(codec_xor_enc_append_batch(&b, t, v, n), 0);
    codec_chunk cb = codec_xor_enc_chunk(&b);
    expect_bytes(name, cb.data, cb.len, c.data, c.len);
    /* and in three batches: each resumes mid-byte with the state (window, deltas) the one
     * before left */
    for (size_t cut = 1; cut + 1 < n; cut += 1 + n / 5) {
        size_t cut2 = cut + (n - cut) / 2;
        codec_xor_enc_reset(&b);
        assert_int_equal(codec_xor_enc_append_batch(&b, t, v, cut), 0);
        assert_int_equal(codec_xor_enc_append_batch(&b, t + cut, v + cut, cut2 - cut), 0);
        assert_int_equal(codec_xor_enc_append_batch(&b, t + cut2, v + cut2, n - cut2), 0);
        cb = codec_xor_enc_chunk(&b);
        expect_bytes(name, cb.data, cb.len, c.data, c.len);
    }
    free(t);
    free(v);
    codec_xor_enc_release(&b);
    codec_xor_enc_release(&e);
}

/* ---------------------------------------------------------------------------------------------
 * Exact bytes.
 */

/* Header 00 01; varint(1000) = zig-zag 2000 = d0 0f; 1.0 = 3f f0 00 00 00 00 00 00; and the
 * spare byte 00 because the 64-bit value went out as whole bytes ending on a byte boundary. */
static void xor__encodes_one_sample_with_the_spare_byte(void **state)
{
    static const sample s[] = {{1000, 0x3ff0000000000000}};
    static const uint8_t want[] = {0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0x00,
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    round_trip("1 sample", s, 1, want, sizeof(want));

    /* Every 1-sample chunk has it: 2 + varint + 8 + 1 bytes. */
    static const int64_t ts[] = {0, -1, 63, -64, 64, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < ST_ARRAY_LEN(ts); i++) {
        codec_xor_enc e;
        codec_xor_enc_init(&e);
        assert_int_equal(codec_xor_enc_append(&e, ts[i], -2.5), 0);
        codec_chunk c = codec_xor_enc_chunk(&e);
        uint8_t tmp[CODEC_MAX_VARINT_LEN];
        size_t vl = codec_put_varint(tmp, ts[i]);
        assert_int_equal(c.len, 2 + vl + 8 + 1);
        assert_int_equal(c.data[c.len - 1], 0);
        assert_int_equal(e.free_bits, 8);
        codec_xor_enc_release(&e);
    }
}

/* Sample 1: uvarint(1000) = e8 07 fills the spare byte and adds one; value unchanged: bit 0.
 * Sample 2: dod 0: bit 0; XOR(2.0, 1.0) = 0x7FF0000000000000: 1, new window 1, leading 1 in 5
 * bits 00001, 11 significant bits in 6 bits 001011, then 11 ones. From bit 112:
 * 0 0 11 0000 | 1 001011 1 | 11111111 | 11 000000  =  30 97 ff c0. */
static void xor__encodes_two_and_three_samples_as_derived_by_hand(void **state)
{
    static const sample s[] = {
        {1000, 0x3ff0000000000000}, {2000, 0x3ff0000000000000}, {3000, 0x4000000000000000}};
    static const uint8_t want2[] = {0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0xe8, 0x07, 0x00};
    static const uint8_t want3[] = {0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0xe8, 0x07, 0x30, 0x97, 0xff, 0xc0};
    round_trip("2 samples", s, 2, want2, sizeof(want2));
    round_trip("3 samples", s, 3, want3, sizeof(want3));
}

static void xor__matches_chunks_written_by_prometheus(void **state)
{
    for (size_t i = 0; i < ST_ARRAY_LEN(goldens); i++) {
        const golden *g = &goldens[i];
        round_trip(g->name, g->s, g->n, g->bytes, g->len);
        assert_int_equal(g->bytes[g->len - 1] == 0 && g->spare, g->spare);
    }
}

/* Three samples 1.0, XOR 0x0000FF0000000000 (new window: 21 bits), XOR 0x0000010000000000
 * (dod 0, reuse: 1 + 10 bits) end exactly on a byte boundary with a whole-byte write: one spare
 * byte. A fourth sample fills it instead of adding a byte. */
static void xor__adds_the_spare_byte_only_after_a_whole_byte_ending_on_a_boundary(void **state)
{
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    encode(&e, prom_spare_samples, 3);
    codec_chunk c = codec_xor_enc_chunk(&e);
    /* 14 bytes before the value field of sample 1, then 32 bits, then the spare byte. */
    assert_int_equal(c.len, 14 + 4 + 1);
    assert_int_equal(e.free_bits, 8);
    assert_int_equal(c.data[c.len - 1], 0);

    /* dod 0 and the same value: 2 bits go into the spare byte. */
    assert_int_equal(codec_xor_enc_append(&e, 46000, bitsd(0x3ff0fe0000000000)), 0);
    c = codec_xor_enc_chunk(&e);
    assert_int_equal(c.len, 19);
    assert_int_equal(e.free_bits, 6);
    assert_int_equal(bits_at(c.data, 18 * 8, 2), 0);
    codec_xor_enc_release(&e);

    /* A 16-bit window ending unaligned: no spare byte even though the last write was whole. */
    static const sample s[] = {{0, 0x3ff0000000000000}, {1000, 0x3ff0ffff00000000}};
    codec_xor_enc_init(&e);
    encode(&e, s, 2);
    c = codec_xor_enc_chunk(&e);
    /* 2 + 1 + 8 + 2 bytes = 104 bits, then 13 + 16 bits: 133 bits, 17 bytes. */
    assert_int_equal(c.len, 17);
    assert_int_equal(e.free_bits, 3);
    codec_xor_enc_release(&e);
}

static void xor__encodes_an_empty_chunk_as_a_zero_count(void **state)
{
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    codec_chunk c = codec_xor_enc_chunk(&e);
    assert_int_equal(c.len, 2);
    assert_int_equal(codec_get_be16(c.data), 0);
    expect_samples("empty", c.data, c.len, NULL, 0);
    codec_xor_enc_release(&e);
}

/* ---------------------------------------------------------------------------------------------
 * Timestamps.
 */
typedef struct dod_case {
    const char *name;
    int64_t dod;
    unsigned prefix;     /* prefix bits */
    unsigned prefix_len; /* 1..4 */
    unsigned payload;    /* payload bits: 0, 14, 17, 20, 64 */
} dod_case;

static const dod_case dod_cases[] = {
    {"0", 0, 0x0, 1, 0},
    {"1", 1, 0x2, 2, 14},
    {"-1", -1, 0x2, 2, 14},
    {"8192 (top of the 14-bit range)", 8192, 0x2, 2, 14},
    {"-8191 (bottom of the 14-bit range)", -8191, 0x2, 2, 14},
    {"-8192 (just below: 17 bits)", -8192, 0x6, 3, 17},
    {"8193 (just above: 17 bits)", 8193, 0x6, 3, 17},
    {"-8193", -8193, 0x6, 3, 17},
    {"65535", 65535, 0x6, 3, 17},
    {"65536 (top of the 17-bit range)", 65536, 0x6, 3, 17},
    {"-65535 (bottom of the 17-bit range)", -65535, 0x6, 3, 17},
    {"-65536 (just below: 20 bits)", -65536, 0xE, 4, 20},
    {"65537 (just above: 20 bits)", 65537, 0xE, 4, 20},
    {"-65537", -65537, 0xE, 4, 20},
    {"524287", 524287, 0xE, 4, 20},
    {"524288 (top of the 20-bit range)", 524288, 0xE, 4, 20},
    {"-524287 (bottom of the 20-bit range)", -524287, 0xE, 4, 20},
    {"-524288 (just below: 64 bits)", -524288, 0xF, 4, 64},
    {"524289 (just above: 64 bits)", 524289, 0xF, 4, 64},
    {"-524289", -524289, 0xF, 4, 64},
    {"-999999 (delta down to 1 ms)", -999999, 0xF, 4, 64},
    {"10^12", 1000000000000ll, 0xF, 4, 64},
    {"2^62", 1ll << 62, 0xF, 4, 64},
};

/* Samples at 0, D and 2D + dod with equal values. The dod field starts at bit 113: header 16,
 * varint(0) 8, value 64, uvarint(D) 24, value-unchanged bit 1; the value bit follows it. */
static void xor__puts_each_dod_in_the_smallest_asymmetric_bucket(void **state)
{
    const int64_t D = 1000000;
    for (size_t i = 0; i < ST_ARRAY_LEN(dod_cases); i++) {
        const dod_case *k = &dod_cases[i];
        sample s[3] = {{0, 0}, {D, 0}, {2 * D + k->dod, 0}};
        codec_xor_enc e;
        codec_xor_enc_init(&e);
        encode(&e, s, 3);
        codec_chunk c = codec_xor_enc_chunk(&e);
        unsigned field = k->prefix_len + k->payload;
        uint64_t end = 113 + field + 1;
        /* The 64-bit case ends with a whole-byte write but the value bit follows it. */
        if (c.len != (end + 7) / 8)
            fail_msg("dod %s: chunk is %u bytes, want %llu", k->name, c.len,
                     (unsigned long long)((end + 7) / 8));
        uint64_t prefix = bits_at(c.data, 113, k->prefix_len);
        uint64_t payload = k->payload ? bits_at(c.data, 113 + k->prefix_len, k->payload) : 0;
        uint64_t mask = k->payload == 64 ? ~0ull : (1ull << k->payload) - 1;
        if (prefix != k->prefix || payload != ((uint64_t)k->dod & mask))
            fail_msg("dod %s: prefix %llx payload %llx, want %x %llx", k->name,
                     (unsigned long long)prefix, (unsigned long long)payload, k->prefix,
                     (unsigned long long)((uint64_t)k->dod & mask));
        assert_int_equal(bits_at(c.data, 113 + field, 1), 0);
        expect_samples(k->name, c.data, c.len, s, 3);
        codec_xor_enc_release(&e);
    }
}

static void xor__round_trips_every_bucket_edge_in_one_chunk(void **state)
{
    sample s[ST_ARRAY_LEN(dod_cases) * 2 + 2];
    size_t n = 0;
    int64_t t = -5000000000ll, delta = 2000000;
    s[n++] = (sample){t, 0};
    t += delta;
    s[n++] = (sample){t, 0};
    for (size_t i = 0; i < ST_ARRAY_LEN(dod_cases); i++) {
        if (dod_cases[i].dod > (1ll << 40))
            continue;
        /* Each dod and its inverse, so the delta returns to 2 s. */
        for (int sign = 1; sign >= -1; sign -= 2) {
            delta += sign * dod_cases[i].dod;
            t += delta;
            s[n] = (sample){t, (uint64_t)n};
            n++;
        }
    }
    round_trip("all bucket edges", s, n, NULL, 0);
}

static void xor__round_trips_extreme_timestamps(void **state)
{
    static const sample a[] = {{INT64_MIN, 1}, {INT64_MAX, 2}};
    static const sample b[] = {{INT64_MIN, 1}, {-1, 2}, {INT64_MAX - 1, 3}, {INT64_MAX, 4}};
    static const sample c[] = {{-3, 1}, {-2, 1}, {-1, 1}, {0, 1}, {1, 1}};
    round_trip("min to max", a, ST_ARRAY_LEN(a), NULL, 0);
    round_trip("huge dods", b, ST_ARRAY_LEN(b), NULL, 0);
    round_trip("around zero", c, ST_ARRAY_LEN(c), NULL, 0);
}

/* The ordered decoder gives the plain decoder's samples, and says "ascending" exactly when no
 * timestamp is negative and none is below the one before, on hand-picked edges (a wrap past
 * INT64_MAX included) and random shapes checked against a direct scan. */
static void xor__ordered_decode_tells_whether_timestamps_ascend(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t t[5];
        size_t n;
        int want;
    } cases[] = {
        {"empty", {0}, 0, 1},
        {"one at zero", {0}, 1, 1},
        {"one negative", {-1}, 1, 0},
        {"regular", {0, 15000, 30000, 45000, 60000}, 5, 1},
        {"repeats", {5, 5, 5, 6, 6}, 5, 1},
        {"back by one", {100, 200, 199, 300, 400}, 5, 0},
        {"back at the end", {100, 200, 300, 400, 0}, 5, 0},
        {"negative start", {-30, -20, -10, 0, 10}, 5, 0},
        {"up to the top", {0, INT64_MAX - 2, INT64_MAX - 1, INT64_MAX, INT64_MAX}, 5, 1},
        {"wraps past the top", {INT64_MAX - 1, INT64_MIN, INT64_MIN + 1}, 3, 0},
        /* every delta non-negative, the sum past 2^64: negative, then small again */
        {"wraps all the way round", {0, INT64_MAX, -2, 1}, 4, 0},
        {"huge steps that fit", {0, INT64_MAX / 3, 2 * (INT64_MAX / 3), INT64_MAX - 1}, 4, 1},
    };
    rng_seed(99);
    for (size_t c = 0; c < ST_ARRAY_LEN(cases) + 400; c++) {
        int64_t t[200];
        size_t n;
        int want;
        char name[64];
        if (c < ST_ARRAY_LEN(cases)) {
            n = cases[c].n;
            memcpy(t, cases[c].t, n * sizeof(int64_t));
            want = cases[c].want;
            snprintf(name, sizeof(name), "%s", cases[c].name);
        } else {
            n = 1 + rnd() % 200;
            int64_t at = (int64_t)(rnd() % 100000) - 1000;
            for (size_t i = 0; i < n; i++)
                t[i] = at += rnd() % 50 ? (int64_t)(rnd() % 30000) : -(int64_t)(rnd() % 100);
            want = 1;
            for (size_t i = 0; i < n; i++)
                want &= t[i] >= 0 && (i == 0 || t[i] >= t[i - 1]);
            snprintf(name, sizeof(name), "random %zu", c);
        }
        codec_xor_enc e;
        codec_xor_enc_init(&e);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(codec_xor_enc_append(&e, t[i], (double)(i % 7)), 0);
        codec_chunk ch = codec_xor_enc_chunk(&e);
        int64_t t1[200], t2[200];
        double v1[200], v2[200];
        size_t n1, n2;
        int asc = -1;
        st_err err;
        st_err_init(&err);
        assert_int_equal(codec_xor_decode(ch.data, ch.len, t1, v1, n, &n1, name, &err), 0);
        assert_int_equal(
            codec_xor_decode_ordered(ch.data, ch.len, t2, v2, n, &n2, &asc, name, &err), 0);
        assert_int_equal(n1, n);
        assert_int_equal(n2, n);
        assert_memory_equal(t1, t, n * sizeof(int64_t));
        assert_memory_equal(t2, t, n * sizeof(int64_t));
        assert_memory_equal(v1, v2, n * sizeof(double));
        if (asc != want)
            fail_msg("%s: ascending %d, want %d", name, asc, want);
        codec_xor_enc_release(&e);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Values. A 2-sample chunk at t = 0 and 1000 has its value field at bit 104: header 16,
 * varint(0) 8, value 64, uvarint(1000) 16.
 */
static void xor__writes_64_significant_bits_as_zero(void **state)
{
    static const sample s[] = {{0, 0x3ff0000000000000}, {1000, 0xbff0000000000001}};
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    encode(&e, s, 2);
    codec_chunk c = codec_xor_enc_chunk(&e);
    assert_int_equal(bits_at(c.data, 104, 2), 0x3); /* non-zero XOR, new window */
    assert_int_equal(bits_at(c.data, 106, 5), 0);   /* leading 0 */
    assert_int_equal(bits_at(c.data, 111, 6), 0);   /* 64 significant bits, stored as 0 */
    assert_int_equal(bits_at(c.data, 117, 64), 0x8000000000000001ull);
    assert_int_equal(c.len, (104 + 13 + 64 + 7) / 8);
    expect_samples("sig 64", c.data, c.len, s, 2);
    codec_xor_enc_release(&e);

    /* A reused 64-bit window: 10 then 64 bits. */
    static const sample r[] = {
        {0, 0x3ff0000000000000}, {1000, 0xbff0000000000001}, {2000, 0x3ff0000000000000}};
    round_trip("sig 64 reused", r, 3, NULL, 0);
}

typedef struct lead_case {
    const char *name;
    uint64_t x;
    unsigned leading; /* stored */
    unsigned sig;     /* real count; 64 is stored as 0 */
} lead_case;

static void xor__clamps_leading_zeros_at_31(void **state)
{
    static const lead_case cases[] = {
        {"clz 30", 1ull << 33, 30, 1},          {"clz 31", 1ull << 32, 31, 1},
        {"clz 32 clamped", 1ull << 31, 31, 2},  {"clz 33 clamped, ctz 0", (1ull << 30) | 1, 31, 33},
        {"clz 63 clamped", 1, 31, 33},          {"clz 40 clamped, ctz 2", 0xFFFFFCull, 31, 31},
        {"clz 0", 0x8000000000000000ull, 0, 1},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        const lead_case *k = &cases[i];
        sample s[2] = {{0, 0x4000000000000000}, {1000, 0x4000000000000000 ^ k->x}};
        codec_xor_enc e;
        codec_xor_enc_init(&e);
        encode(&e, s, 2);
        codec_chunk c = codec_xor_enc_chunk(&e);
        unsigned lead = (unsigned)bits_at(c.data, 106, 5);
        unsigned sig = (unsigned)bits_at(c.data, 111, 6);
        if (bits_at(c.data, 104, 2) != 3 || lead != k->leading || sig != (k->sig & 63))
            fail_msg("%s: leading %u sig %u, want %u %u", k->name, lead, sig, k->leading,
                     k->sig & 63);
        unsigned trailing = 64 - k->leading - k->sig;
        assert_int_equal(bits_at(c.data, 117, k->sig), k->x >> trailing);
        expect_samples(k->name, c.data, c.len, s, 2);
        codec_xor_enc_release(&e);
    }
}

/* 1.0, XOR 0x0000FF0000000000 (window 16/40, 21 bits from bit 104), then per sample dod 0 and:
 * XOR 0x0000010000000000 reuses (10 + 8 bits), XOR 0x0000800000000000 reuses (10 + 8 bits),
 * XOR 0x0001000000000000 has clz 15 < 16: new window 15/48, 1 bit. */
static void xor__reuses_the_window_when_the_xor_fits_inside_it(void **state)
{
    sample s[5] = {{0, 0x3ff0000000000000}};
    static const uint64_t x[4] = {0x0000FF0000000000, 0x0000010000000000, 0x0000800000000000,
                                  0x0001000000000000};
    for (int i = 1; i < 5; i++)
        s[i] = (sample){1000 * i, s[i - 1].v ^ x[i - 1]};
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    encode(&e, s, 5);
    codec_chunk c = codec_xor_enc_chunk(&e);
    const uint8_t *p = c.data;
    assert_int_equal(bits_at(p, 104, 2), 3);
    assert_int_equal(bits_at(p, 106, 5), 16);
    assert_int_equal(bits_at(p, 111, 6), 8);
    assert_int_equal(bits_at(p, 117, 8), 0xFF);
    assert_int_equal(bits_at(p, 125, 1), 0); /* dod 0 */
    assert_int_equal(bits_at(p, 126, 2), 2); /* reuse */
    assert_int_equal(bits_at(p, 128, 8), 0x01);
    assert_int_equal(bits_at(p, 136, 1), 0);
    assert_int_equal(bits_at(p, 137, 2), 2);
    assert_int_equal(bits_at(p, 139, 8), 0x80);
    assert_int_equal(bits_at(p, 147, 1), 0);
    assert_int_equal(bits_at(p, 148, 2), 3); /* new window */
    assert_int_equal(bits_at(p, 150, 5), 15);
    assert_int_equal(bits_at(p, 155, 6), 1);
    assert_int_equal(bits_at(p, 161, 1), 1);
    assert_int_equal(c.len, (162 + 7) / 8);
    expect_samples("window reuse", p, c.len, s, 5);
    codec_xor_enc_release(&e);
}

/* The writer starts with "no window" (leading 0xFF): the first non-zero XOR always opens one,
 * even when a 0/0 window would hold it. */
static void xor__opens_a_new_window_for_the_first_nonzero_xor(void **state)
{
    static const sample s[] = {
        {0, 0x3ff0000000000000}, {1000, 0x3ff0000000000000}, {2000, 0x3ff0000000000001}};
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    encode(&e, s, 3);
    codec_chunk c = codec_xor_enc_chunk(&e);
    /* Value-unchanged bit at 104, dod 0 at 105, then 11 at 106. */
    assert_int_equal(bits_at(c.data, 104, 2), 0);
    assert_int_equal(bits_at(c.data, 106, 2), 3);
    expect_samples("first window", c.data, c.len, s, 3);
    codec_xor_enc_release(&e);
}

static void xor__round_trips_stale_nan_bit_exactly(void **state)
{
    static const sample s[] = {
        {0, 0x3ff0000000000000},     {15000, STALE_NAN}, {30000, STALE_NAN},
        {45000, 0x4000000000000000}, {60000, STALE_NAN},
    };
    round_trip("stale markers", s, ST_ARRAY_LEN(s), NULL, 0);
    static const sample first[] = {{0, STALE_NAN}};
    round_trip("stale marker alone", first, 1, NULL, 0);
}

static void xor__round_trips_every_nan_payload_bit_exactly(void **state)
{
    static const uint64_t nans[] = {
        0x7ff8000000000000, /* quiet NaN */
        0x7ff8000000000001, /* Go's math.NaN() */
        0xfff8000000000000, /* negative quiet NaN */
        0x7ff0000000000001, /* smallest signalling payload */
        0x7ff4000000000000, /* signalling */
        0x7fffffffffffffff, 0xffffffffffffffff, STALE_NAN, 0xfff0000000000002,
    };
    sample s[ST_ARRAY_LEN(nans) * 2];
    for (size_t i = 0; i < ST_ARRAY_LEN(nans); i++) {
        s[2 * i] = (sample){(int64_t)(30000 * i), nans[i]};
        s[2 * i + 1] = (sample){(int64_t)(30000 * i + 15000), nans[i]};
    }
    round_trip("NaN payloads", s, ST_ARRAY_LEN(s), NULL, 0);
}

static void xor__round_trips_infinities_signed_zero_and_extremes(void **state)
{
    const double vals[] = {0.0,
                           -0.0,
                           INFINITY,
                           -INFINITY,
                           DBL_MAX,
                           -DBL_MAX,
                           DBL_MIN,
                           -DBL_MIN,
                           5e-324,
                           -5e-324,
                           1e300,
                           1e-300,
                           -0.0,
                           0.0,
                           1.0,
                           -1.0,
                           9007199254740993.0,
                           INFINITY,
                           INFINITY,
                           -0.0};
    sample s[ST_ARRAY_LEN(vals)];
    for (size_t i = 0; i < ST_ARRAY_LEN(vals); i++)
        s[i] = (sample){(int64_t)(1700000000000ll + 15000 * i), dbits(vals[i])};
    round_trip("specials", s, ST_ARRAY_LEN(s), NULL, 0);
    /* -0.0 and 0.0 differ only in the sign bit: the XOR is 1 << 63. */
    assert_int_equal(dbits(-0.0) ^ dbits(0.0), 0x8000000000000000ull);
}

/* 120 equal values every 15 s: 2 bits per sample after the second. */
static void xor__stores_equal_values_at_regular_intervals_in_two_bits(void **state)
{
    sample s[120];
    for (int i = 0; i < 120; i++)
        s[i] = (sample){1700000000000ll + 15000ll * i, dbits(42.0)};
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    encode(&e, s, 120);
    codec_chunk c = codec_xor_enc_chunk(&e);
    uint8_t tmp[CODEC_MAX_VARINT_LEN];
    size_t head = 2 + codec_put_varint(tmp, s[0].t) + 8 + codec_put_uvarint(tmp, 15000);
    uint64_t bits = head * 8 + 1 + 118 * 2;
    assert_int_equal(c.len, (bits + 7) / 8);
    expect_samples("constant", c.data, c.len, s, 120);
    codec_xor_enc_release(&e);
}

/* ---------------------------------------------------------------------------------------------
 * Randomized round trips.
 */
static int64_t random_delta(void)
{
    switch (rnd() % 10) {
    case 0:
        return 1 + (int64_t)(rnd() % 3);
    case 1:
        return 1 + (int64_t)(rnd() % 2000000);
    case 2:
        return 1 + (int64_t)(rnd() % (1ull << 40));
    default:
        return 15000 + (int64_t)(rnd() % 41) - 20;
    }
}

static uint64_t random_value(int kind, uint64_t prev, size_t i)
{
    switch (kind) {
    case 0: /* integer counter */
        return dbits(bitsd(prev) + (double)(rnd() % 100));
    case 1: /* 3-decimal float counter */
        return dbits(round((bitsd(prev) + (double)(rnd() % 100000) / 1000.0) * 1000) / 1000);
    case 2: /* integer random walk */
        return dbits(bitsd(prev) + (double)((int)(rnd() % 11) - 5));
    case 3: /* any 64-bit pattern, NaNs included */
        return rnd();
    case 4: /* a few values, repeated */
        return dbits((double)(rnd() % 3));
    case 5: /* single bit flips: windows of every shape */
        return prev ^ (1ull << (rnd() % 64));
    default: /* specials mixed in */
        switch (rnd() % 6) {
        case 0:
            return STALE_NAN;
        case 1:
            return dbits(INFINITY);
        case 2:
            return dbits(-0.0);
        default:
            return dbits((double)i * 0.1);
        }
    }
}

static size_t random_series(sample *s, size_t max)
{
    size_t n = 1 + rnd() % max;
    int kind = (int)(rnd() % 7);
    int64_t t = (int64_t)(rnd() % (1ull << 42)) - (1ll << 41);
    uint64_t v = dbits(0.0);
    for (size_t i = 0; i < n; i++) {
        t += random_delta();
        v = random_value(kind, v, i);
        s[i] = (sample){t, v};
    }
    return n;
}

static void xor__round_trips_randomized_series(void **state)
{
    enum { MAX = 400 };
    sample *s = malloc(MAX * sizeof(*s));
    assert_non_null(s);
    rng_seed(0x5EED0001);
    for (int k = 0; k < 3000; k++) {
        size_t n = random_series(s, MAX);
        char name[64];
        snprintf(name, sizeof(name), "random series %d (%zu samples)", k, n);
        round_trip(name, s, n, NULL, 0);
    }
    free(s);
}

/* ---------------------------------------------------------------------------------------------
 * Corrupt input.
 */
static void xor__rejects_every_truncation_as_corrupt(void **state)
{
    enum { MAX = 150 };
    sample s[MAX];
    rng_seed(0x5EED0002);
    for (size_t k = 0; k < ST_ARRAY_LEN(goldens) + 20; k++) {
        const uint8_t *data;
        size_t len;
        int spare;
        codec_xor_enc e;
        codec_xor_enc_init(&e);
        if (k < ST_ARRAY_LEN(goldens)) {
            data = goldens[k].bytes;
            len = goldens[k].len;
            spare = goldens[k].spare;
        } else {
            encode(&e, s, random_series(s, MAX));
            codec_chunk c = codec_xor_enc_chunk(&e);
            data = c.data;
            len = c.len;
            spare = e.free_bits == 8;
        }
        size_t n;
        st_err err;
        for (size_t cut = 0; cut < len; cut++) {
            int rc = decode_copy(data, cut, NULL, &n, &err);
            /* Dropping only the spare byte loses no bits. */
            int want = spare && cut == len - 1 ? 0 : ST_ECORRUPT;
            if (rc != want)
                fail_msg("chunk %zu cut to %zu of %zu bytes: rc %d, want %d (%s)", k, cut, len, rc,
                         want, err.msg);
            if (rc)
                assert_non_null(strstr(err.msg, "test chunk"));
        }
        codec_xor_enc_release(&e);
    }
}

static void xor__survives_random_byte_flips(void **state)
{
    enum { MAX = 150 };
    sample s[MAX];
    rng_seed(0x5EED0003);
    size_t ok = 0, corrupt = 0;
    for (size_t k = 0; k < ST_ARRAY_LEN(goldens) + 20; k++) {
        uint8_t buf[4096];
        size_t len;
        codec_xor_enc e;
        codec_xor_enc_init(&e);
        if (k < ST_ARRAY_LEN(goldens)) {
            len = goldens[k].len;
            memcpy(buf, goldens[k].bytes, len);
        } else {
            encode(&e, s, random_series(s, MAX));
            codec_chunk c = codec_xor_enc_chunk(&e);
            len = c.len;
            assert_true(len <= sizeof(buf));
            memcpy(buf, c.data, len);
        }
        for (int f = 0; f < 500; f++) {
            uint8_t m[4096];
            memcpy(m, buf, len);
            int flips = 1 + (int)(rnd() % 3);
            for (int j = 0; j < flips; j++)
                m[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
            size_t n;
            st_err err;
            int rc = decode_copy(m, len, NULL, &n, &err);
            if (rc != 0 && rc != ST_ECORRUPT)
                fail_msg("chunk %zu flip %d: rc %d (%s)", k, f, rc, err.msg);
            if (rc == 0)
                ok++;
            else
                corrupt++;
        }
        codec_xor_enc_release(&e);
    }
    print_message("byte flips: %zu decoded, %zu rejected as corrupt\n", ok, corrupt);
}

static void xor__rejects_a_count_larger_than_the_bits_hold(void **state)
{
    /* Zero padding bits and a spare byte read as "dod 0, value unchanged", 2 bits a sample: up to
     * 4 samples more than written may decode. Beyond that the bits run out. */
    for (size_t i = 0; i < ST_ARRAY_LEN(goldens); i++) {
        const golden *g = &goldens[i];
        const size_t counts[] = {g->n + 5, 100, 65535};
        for (size_t j = 0; j < ST_ARRAY_LEN(counts); j++) {
            uint8_t m[256];
            memcpy(m, g->bytes, g->len);
            codec_put_be16(m, (uint16_t)counts[j]);
            size_t n;
            st_err err;
            int rc = decode_copy(m, g->len, NULL, &n, &err);
            if (rc != ST_ECORRUPT)
                fail_msg("%s with count %zu: rc %d, want corrupt", g->name, counts[j], rc);
            assert_int_equal(n, 0);
        }
    }
    /* A 1-sample chunk claiming 2: the spare byte reads as a zero delta, the value is missing. */
    uint8_t one[sizeof(prom_one_bytes)];
    memcpy(one, prom_one_bytes, sizeof(one));
    codec_put_be16(one, 2);
    size_t n1;
    st_err err1;
    assert_int_equal(decode_copy(one, sizeof(one), NULL, &n1, &err1), ST_ECORRUPT);

    /* The message names the sample and the chunk. */
    uint8_t m[sizeof(prom_three_bytes)];
    memcpy(m, prom_three_bytes, sizeof(m));
    codec_put_be16(m, 100);
    size_t n;
    st_err err;
    assert_int_equal(decode_copy(m, sizeof(m), NULL, &n, &err), ST_ECORRUPT);
    assert_non_null(strstr(err.msg, "test chunk"));
    assert_non_null(strstr(err.msg, "runs past the end"));
}

static void xor__rejects_a_too_small_output_with_einval(void **state)
{
    int64_t t[2];
    double v[2];
    size_t n = 99;
    st_err err;
    st_err_init(&err);
    int rc =
        codec_xor_decode(prom_three_bytes, sizeof(prom_three_bytes), t, v, 2, &n, "chunk 7", &err);
    assert_int_equal(rc, ST_EINVAL);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.msg, "chunk 7"));
}

/* Hand-made chunks that no writer produces. */
static void xor__rejects_malformed_fields_with_a_clear_message(void **state)
{
    typedef struct bad {
        const char *name;
        uint8_t bytes[32];
        size_t len;
        const char *msg;
    } bad;
    static const bad cases[] = {
        {"empty", {0}, 0, "shorter than its header"},
        {"one byte", {0x00}, 1, "shorter than its header"},
        {"varint of 11 bytes",
         {0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
         13,
         "sample 0 timestamp"},
        {"varint cut short", {0x00, 0x01, 0x80, 0x80}, 4, "sample 0 timestamp"},
        {"value cut short", {0x00, 0x01, 0x00, 0x3f, 0xf0}, 5, "sample 0 value"},
        {"delta varint cut short",
         {0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x80},
         12,
         "sample 1 time delta"},
        /* Sample 1: 11, leading 31 (11111), 40 significant bits (101000): 71 bits. */
        {"window wider than 64 bits",
         {0x00, 0x02, 0x00, 0,    0,    0,    0,    0,    0,    0,    0,
          0x01, 0xFF, 0xA0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
         22,
         "exceed 64"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        size_t n;
        st_err err;
        int rc = decode_copy(cases[i].bytes, cases[i].len, NULL, &n, &err);
        if (rc != ST_ECORRUPT || !strstr(err.msg, cases[i].msg) || !strstr(err.msg, "test chunk"))
            fail_msg("%s: rc %d, message \"%s\", want corrupt and \"%s\"", cases[i].name, rc,
                     err.msg, cases[i].msg);
    }
}

/* Prometheus' reader starts with a 0/0 window, so a reuse before any window reads 64 bits; no
 * writer emits it, but readers agree on what it means. */
static void xor__decodes_a_reuse_before_any_window_as_64_bits_like_prometheus(void **state)
{
    uint8_t m[32] = {0x00, 0x02, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01};
    /* Bit 96: 10, then 64 bits 0x8000000000000001. */
    m[12] = 0x80 | 0x20;
    m[20] = 0x40;
    size_t len = 21;
    sample *got;
    size_t n;
    st_err err;
    assert_int_equal(decode_copy(m, len, &got, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(got[1].t, 1);
    assert_int_equal(got[1].v, 0x3ff0000000000000ull ^ 0x8000000000000001ull);
    free(got);
}

/* ---------------------------------------------------------------------------------------------
 * Encoder limits and lifecycle.
 */
static void xor__stops_at_65535_samples_with_etoobig(void **state)
{
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    for (int i = 0; i < CODEC_XOR_MAX_SAMPLES; i++)
        assert_int_equal(codec_xor_enc_append(&e, 15000ll * i, (double)(i % 17)), 0);
    codec_chunk before = codec_xor_enc_chunk(&e);
    uint32_t len = before.len;
    assert_int_equal(codec_xor_enc_append(&e, 15000ll * 65535, 1.0), ST_ETOOBIG);
    codec_chunk c = codec_xor_enc_chunk(&e);
    assert_int_equal(c.len, len);
    assert_int_equal(codec_get_be16(c.data), 65535);

    int64_t *t = malloc(65535 * sizeof(*t));
    double *v = malloc(65535 * sizeof(*v));
    assert_true(t && v);
    size_t n;
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_xor_decode(c.data, c.len, t, v, 65535, &n, "big", &err), 0);
    assert_int_equal(n, 65535);
    for (size_t i = 0; i < n; i++)
        if (t[i] != 15000ll * (int64_t)i || v[i] != (double)(i % 17))
            fail_msg("sample %zu is (%lld, %g)", i, (long long)t[i], v[i]);
    free(t);
    free(v);
    codec_xor_enc_release(&e);
}

static void xor__reset_starts_an_identical_fresh_chunk(void **state)
{
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    encode(&e, prom_values_samples, ST_ARRAY_LEN(prom_values_samples));
    codec_xor_enc_reset(&e);
    codec_chunk c = codec_xor_enc_chunk(&e);
    assert_int_equal(c.len, 2);
    assert_int_equal(codec_get_be16(c.data), 0);
    /* The stale bytes left in the buffer must not leak into the new chunk. */
    encode(&e, prom_spare_samples, ST_ARRAY_LEN(prom_spare_samples));
    c = codec_xor_enc_chunk(&e);
    expect_bytes("after reset", c.data, c.len, prom_spare_bytes, sizeof(prom_spare_bytes));
    codec_xor_enc_reset(&e);
    encode(&e, prom_dod14_17_samples, ST_ARRAY_LEN(prom_dod14_17_samples));
    c = codec_xor_enc_chunk(&e);
    expect_bytes("after second reset", c.data, c.len, prom_dod14_17_bytes,
                 sizeof(prom_dod14_17_bytes));
    codec_xor_enc_release(&e);
}

/* A failed allocation leaves the chunk as it was; appending again later continues it. */
static void xor__fails_an_append_cleanly_when_allocation_fails(void **state)
{
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    st_alloc_fail_after(1);
    assert_int_equal(codec_xor_enc_append(&e, 1000, 1.0), ST_ENOMEM);
    st_alloc_fail_after(0);
    assert_int_equal(codec_xor_enc_chunk(&e).len, 2);

    const golden *g = &goldens[4]; /* prom_values */
    for (size_t i = 0; i < g->n; i++) {
        /* Fail the next allocation before every append; growth is then refused. */
        st_alloc_fail_after(1);
        int rc = codec_xor_enc_append(&e, g->s[i].t, bitsd(g->s[i].v));
        st_alloc_fail_after(0);
        if (rc == ST_ENOMEM)
            rc = codec_xor_enc_append(&e, g->s[i].t, bitsd(g->s[i].v));
        assert_int_equal(rc, 0);
    }
    codec_chunk c = codec_xor_enc_chunk(&e);
    expect_bytes("with refused growth", c.data, c.len, g->bytes, g->len);
    codec_xor_enc_release(&e);
}

/* ---------------------------------------------------------------------------------------------
 * Several chunks on one timestamp array.
 */

/* Values for lane j of a shared encode: a random_value kind, or (kind 7) one constant. */
static uint64_t shared_value(int kind, uint64_t prev, size_t i)
{
    return kind == 7 ? dbits(20.0) : random_value(kind, prev, i);
}

/* n samples a sample at a time: the reference for the batch paths, with which
 * codec_xor_enc_append shares no code. */
static void append_each(codec_xor_enc *e, const int64_t *t, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(codec_xor_enc_append(e, t[i], v[i]), 0);
}

/* The reference for k chunks on one timestamp array: each encoded on its own. */
static void encode_separately(codec_xor_enc *want, size_t k, const int64_t *t,
                              const double *const *v, size_t n)
{
    for (size_t j = 0; j < k; j++) {
        codec_xor_enc_reset(&want[j]);
        append_each(&want[j], t, v[j], n);
    }
}

static void expect_same_chunks(const char *name, const codec_xor_enc *got,
                               const codec_xor_enc *want, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        char what[128];
        snprintf(what, sizeof(what), "%s, chunk %zu of %zu", name, j, k);
        codec_chunk g = codec_xor_enc_chunk(&got[j]), w = codec_xor_enc_chunk(&want[j]);
        expect_bytes(what, g.data, g.len, w.data, w.len);
    }
}

/* codec_xor_enc_append_batch_repeats: runs of one value on one delta (written as zeros at once)
 * of every length, broken by a new value, a jittered stamp or both, into a buffer a noisy chunk
 * left dirty, whole and cut in three anywhere, and the noisy chunk itself: the bytes of one
 * append at a time, as the plain batch gives them. */
static void xor__repeats_batch_writes_runs_as_single_appends_do(void **state)
{
    (void)state;
    enum { N = 3000 };
    static int64_t t[N];
    static double v[N];
    size_t run = 1, left = 1, breaks = 0;
    double x = 20.0;
    int64_t at = 1700000000000ll;
    for (size_t i = 0; i < N; i++) {
        if (--left == 0) {
            run = run % 71 + 1;
            left = run;
            /* by turns a new value, a jittered stamp (a dod field), or both */
            if (breaks % 3 != 1)
                x += 1.0;
            if (breaks % 3 != 0)
                at += 7;
            breaks++;
        }
        at += 15000;
        t[i] = at;
        v[i] = x;
    }
    codec_xor_enc got, want;
    codec_xor_enc_init(&got);
    codec_xor_enc_init(&want);
    static double noisy[N];
    for (size_t i = 0; i < N; i++)
        noisy[i] = v[i] + 0.001 * (double)(i % 13);
    assert_int_equal(codec_xor_enc_append_batch_repeats(&got, t, noisy, N), 0);
    append_each(&want, t, noisy, N);
    expect_same_chunks("noisy", &got, &want, 1);
    codec_xor_enc_reset(&want);
    append_each(&want, t, v, N);
    codec_xor_enc_reset(&got);
    assert_int_equal(codec_xor_enc_append_batch(&got, t, v, N), 0);
    expect_same_chunks("runs, plain batch", &got, &want, 1);
    for (int vec = 1; vec >= 0; vec--) { /* the AVX2 run scan where there is one, and without */
        codec_xor_enc_vector(vec);
        for (size_t cut = 0; cut < 200; cut += 7) {
            size_t cut2 = cut + 1 + (cut * 13) % 300;
            codec_xor_enc_reset(&got); /* its buffer dirtied with other bytes first */
            assert_int_equal(codec_xor_enc_append_batch(&got, t, noisy, N), 0);
            codec_xor_enc_reset(&got);
            assert_int_equal(codec_xor_enc_append_batch_repeats(&got, t, v, cut), 0);
            assert_int_equal(codec_xor_enc_append_batch_repeats(&got, t + cut, v + cut, cut2 - cut),
                             0);
            assert_int_equal(codec_xor_enc_append_batch_repeats(&got, t + cut2, v + cut2, N - cut2),
                             0);
            expect_same_chunks(vec ? "runs" : "runs, no vector", &got, &want, 1);
        }
    }
    codec_xor_enc_vector(1);
    codec_xor_enc_release(&got);
    codec_xor_enc_release(&want);
}

static void xor__shared_batch_matches_separate_batches_on_random_series(void **state)
{
    enum { MAX = 300, K = CODEC_XOR_SHARED_MAX };
    sample *s = malloc(MAX * sizeof(*s));
    int64_t *t = malloc(MAX * sizeof(*t));
    double *vals = malloc(K * MAX * sizeof(*vals));
    assert_true(s && t && vals);
    codec_xor_enc got[K], want[K];
    codec_xor_enc *gp[K];
    const double *vp[K];
    for (size_t j = 0; j < K; j++) {
        codec_xor_enc_init(&got[j]);
        codec_xor_enc_init(&want[j]);
        gp[j] = &got[j];
        vp[j] = vals + j * MAX;
    }
    rng_seed(0x5EED0005);
    for (int r = 0; r < 8000; r++) {
        /* each k in turn with the vector pass and without: both give the separate calls' bytes */
        codec_xor_enc_vector((r / K) % 2);
        size_t n = r < 40 ? (size_t)r % 5 : random_series(s, MAX);
        size_t k = 1 + (size_t)r % K;
        for (size_t i = 0; i < n; i++)
            t[i] = s[i].t;
        if (r < 40) /* 0 to 4 samples: every path through samples 0 and 1 */
            for (size_t i = 0; i < n; i++)
                t[i] = 1000 * (int64_t)i + (int64_t)(rnd() % 3);
        if (r >= 40 && r % 4 == 1) {
            /* window stamps: one delta throughout (one dod field of 0 bits after another),
             * broken at up to two places by a delta of its own */
            size_t b1 = rnd() % (n + 1), b2 = rnd() % (n + 1);
            for (size_t i = 1; i < n; i++)
                t[i] = t[i - 1] + 300000 + (i == b1 ? 7 : 0) - (i == b2 ? 1000 : 0);
        }
        for (size_t j = 0; j < k; j++) {
            int kind = (int)(rnd() % 8);
            uint64_t x = j == 0 && r >= 40 ? 0 : rnd();
            for (size_t i = 0; i < n; i++) {
                x = j == 0 && r >= 40 ? s[i].v : shared_value(kind, x, i);
                vals[j * MAX + i] = bitsd(x);
            }
        }
        char name[96];
        snprintf(name, sizeof(name), "random series %d (%zu samples)", r, n);
        encode_separately(want, k, t, vp, n);

        for (size_t j = 0; j < k; j++) {
            codec_xor_enc_reset(&got[j]);
            assert_int_equal(codec_xor_enc_append_batch(&got[j], t, vp[j], n), 0);
        }
        expect_same_chunks(name, got, want, k); /* separate batches */
        for (size_t j = 0; j < k; j++)
            codec_xor_enc_reset(&got[j]);
        assert_int_equal(codec_xor_enc_append_batch_shared(gp, k, t, vp, n), 0);
        expect_same_chunks(name, got, want, k);

        /* in up to five calls, each resuming where the one before stopped (cuts at 1 and 2
         * included) */
        for (size_t j = 0; j < k; j++)
            codec_xor_enc_reset(&got[j]);
        size_t at = 0;
        for (int c = 0; at < n; c++) {
            size_t m = c == 4 ? n - at : (size_t)(rnd() % (n - at + 1));
            if (r % 3 == 0 && c < 2)
                m = ST_MIN((size_t)1, n - at);
            const double *part[K];
            for (size_t j = 0; j < k; j++)
                part[j] = vp[j] + at;
            assert_int_equal(codec_xor_enc_append_batch_shared(gp, k, t + at, part, m), 0);
            at += m;
        }
        snprintf(name, sizeof(name), "random series %d (%zu samples) in parts", r, n);
        expect_same_chunks(name, got, want, k);
    }
    codec_xor_enc_vector(1);
    for (size_t j = 0; j < K; j++) {
        codec_xor_enc_release(&got[j]);
        codec_xor_enc_release(&want[j]);
    }
    free(s);
    free(t);
    free(vals);
}

/* Hand-picked value fields on one set of stamps (with every dod bucket and the 64-bit form):
 * constants, zeros, -0.0, NaN payloads, infinities, xors with 32 and more leading zeros (a new
 * window at exactly 32 in the third chunk), 64 significant bits, and windows that are reused,
 * then outgrown. */
static void xor__shared_batch_matches_separate_batches_on_value_corner_cases(void **state)
{
    enum { N = 12, K = CODEC_XOR_SHARED_MAX };
    static const int64_t t[N] = {0,
                                 1000,
                                 2000,
                                 3000,
                                 3000 + 8193,
                                 20000 + 9000000000000,
                                 40000 - 5000000000000,
                                 40001,
                                 40001 + 65537,
                                 200000,
                                 200001,
                                 400002};
    static const uint64_t v[][N] = {
        {0x4034000000000000, 0x4034000000000000, 0x4034000000000000, 0x4034000000000000,
         0x4034000000000000, 0x4034000000000000, 0x4034000000000000, 0x4034000000000000,
         0x4034000000000000, 0x4034000000000000, 0x4034000000000000, 0x4034000000000000},
        {0, 0x8000000000000000, 0, 1, 3, 2, 0x7ff0000000000000, 0xfff0000000000000, STALE_NAN,
         0x7ff8000000000001, 0x7ff8000000000001, 0},
        {0x4000000000000000, 0x4000000000000100, 0x4000000000000300, 0x4000000080000301,
         0x4000000180000002, 0xc000000180000002, 0x3fffffffffffffff, 0x4000000000000000,
         0x4000000000000000, 0x4000000000000100, 0x4000000000000000, 0x4000000000010000},
        {0xffffffffffffffff, 0, 0xffffffffffffffff, 0x8000000000000001, 0x8000000000000000, 1,
         0x0000000100000000, 0x0000000000000100, 0x0000000000000101, 0x0000000000000111,
         0x1000000000000000, 0x3000000000000000},
    };
    double vals[K][N];
    const double *vp[K];
    codec_xor_enc got[K], want[K];
    codec_xor_enc *gp[K];
    for (size_t j = 0; j < K; j++) {
        for (size_t i = 0; i < N; i++)
            vals[j][i] = bitsd(v[j][i]);
        vp[j] = vals[j];
        gp[j] = &got[j];
        codec_xor_enc_init(&got[j]);
        codec_xor_enc_init(&want[j]);
    }
    for (size_t kv = 2; kv <= 2 * K + 1; kv++) {
        size_t k = kv / 2; /* each k with the vector pass and without */
        codec_xor_enc_vector((int)(kv % 2));
        for (size_t n = 0; n <= N; n++) {
            char name[64];
            snprintf(name, sizeof(name), "%zu chunks of %zu samples%s", k, n,
                     kv % 2 ? "" : ", scalar");
            encode_separately(want, k, t, vp, n);
            for (size_t j = 0; j < k; j++)
                codec_xor_enc_reset(&got[j]);
            assert_int_equal(codec_xor_enc_append_batch_shared(gp, k, t, vp, n), 0);
            expect_same_chunks(name, got, want, k);
            for (size_t j = 0; j < k; j++) {
                sample ws[N];
                for (size_t i = 0; i < n; i++)
                    ws[i] = (sample){t[i], v[j][i]};
                codec_chunk c = codec_xor_enc_chunk(&got[j]);
                expect_samples(name, c.data, c.len, ws, n);
            }
        }
    }
    codec_xor_enc_vector(1);
    for (size_t j = 0; j < K; j++) {
        codec_xor_enc_release(&got[j]);
        codec_xor_enc_release(&want[j]);
    }
}

/* Encoders that differ in their number of samples, their last timestamp or their last delta
 * still get what separate batches give them. */
static void xor__shared_batch_appends_one_by_one_to_encoders_in_different_states(void **state)
{
    enum { N = 40 };
    int64_t t[N], shifted[N], bent[N];
    double vals[2][N];
    for (size_t i = 0; i < N; i++) {
        t[i] = 300000 * (int64_t)i;
        shifted[i] = t[i] + 5;             /* the same deltas */
        bent[i] = t[i] - (i == 8 ? 7 : 0); /* the same last stamp, another delta */
        vals[0][i] = (double)i * 0.37;
        vals[1][i] = (double)i * 1.37;
    }
    static const char *const names[] = {"a sample fewer, the same last stamp and delta",
                                        "other stamps, same deltas",
                                        "same last stamp, another delta"};
    const int64_t *odd[] = {t + 1, shifted, bent};
    codec_xor_enc got[2], want[2];
    codec_xor_enc *gp[2] = {&got[0], &got[1]};
    const double *vp[2] = {vals[0] + 10, vals[1] + 10};
    for (size_t j = 0; j < 2; j++) {
        codec_xor_enc_init(&got[j]);
        codec_xor_enc_init(&want[j]);
    }
    for (size_t c = 0; c < ST_ARRAY_LEN(odd); c++) {
        size_t m = c == 0 ? 9 : 10;
        for (size_t j = 0; j < 2; j++) {
            codec_xor_enc_reset(&got[j]);
            codec_xor_enc_reset(&want[j]);
        }
        assert_int_equal(codec_xor_enc_append_batch(&got[0], t, vals[0], 10), 0);
        append_each(&want[0], t, vals[0], 10);
        assert_int_equal(codec_xor_enc_append_batch(&got[1], odd[c], vals[1], m), 0);
        append_each(&want[1], odd[c], vals[1], m);
        assert_int_equal(codec_xor_enc_append_batch_shared(gp, 2, t + 10, vp, N - 10), 0);
        for (size_t j = 0; j < 2; j++)
            append_each(&want[j], t + 10, vp[j], N - 10);
        expect_same_chunks(names[c], got, want, 2);
    }
    assert_int_equal(codec_xor_enc_append_batch_shared(gp, 0, t, vp, 1), ST_EINVAL);
    assert_int_equal(codec_xor_enc_append_batch_shared(gp, CODEC_XOR_SHARED_MAX + 1, t, vp, 1),
                     ST_EINVAL);
    for (size_t j = 0; j < 2; j++) {
        codec_xor_enc_release(&got[j]);
        codec_xor_enc_release(&want[j]);
    }
}

/* Past 65535 samples each chunk is filled up to the cap, as a batch fills it; a failed
 * allocation appends nothing to any of them, and the same call then succeeds. */
static void xor__shared_batch_stops_at_the_cap_and_fails_cleanly(void **state)
{
    enum { N = CODEC_XOR_MAX_SAMPLES + 5, K = 2 };
    int64_t *t = malloc(N * sizeof(*t));
    double *vals = malloc(K * N * sizeof(*vals));
    assert_true(t && vals);
    for (size_t i = 0; i < N; i++) {
        t[i] = 15000 * (int64_t)i + (int64_t)(i % 7);
        vals[i] = (double)(i % 17);
        vals[N + i] = (double)i * 1.5;
    }
    const double *vp[K] = {vals, vals + N};
    codec_xor_enc got[K], want[K];
    codec_xor_enc *gp[K] = {&got[0], &got[1]};
    for (size_t j = 0; j < K; j++) {
        codec_xor_enc_init(&got[j]);
        codec_xor_enc_init(&want[j]);
        assert_int_equal(codec_xor_enc_append_batch(&want[j], t, vp[j], N), ST_ETOOBIG);
    }
    /* a whole chunk in one call, 65535 samples, is not too big, for a batch either */
    assert_int_equal(codec_xor_enc_append_batch_shared(gp, K, t, vp, CODEC_XOR_MAX_SAMPLES), 0);
    expect_same_chunks("65535 samples", got, want, K);
    for (size_t j = 0; j < K; j++) {
        codec_xor_enc_reset(&got[j]);
        assert_int_equal(codec_xor_enc_append_batch(&got[j], t, vp[j], CODEC_XOR_MAX_SAMPLES), 0);
    }
    expect_same_chunks("65535 samples in one batch", got, want, K);
    for (size_t j = 0; j < K; j++)
        codec_xor_enc_reset(&got[j]);
    assert_int_equal(codec_xor_enc_append_batch_shared(gp, K, t, vp, N), ST_ETOOBIG);
    expect_same_chunks("past the cap", got, want, K);

    for (size_t j = 0; j < K; j++) {
        /* small buffers again, that the next call must grow */
        codec_xor_enc_release(&got[j]);
        codec_xor_enc_init(&got[j]);
        codec_xor_enc_reset(&want[j]);
        assert_int_equal(codec_xor_enc_append_batch(&got[j], t, vp[j], 3), 0);
        append_each(&want[j], t, vp[j], 3);
    }
    for (long fail = 1; fail <= 2; fail++) {
        st_alloc_fail_after(fail); /* the first chunk's growth, then the second's */
        int rc = codec_xor_enc_append_batch_shared(gp, K, t + 3,
                                                   (const double *[]){vp[0] + 3, vp[1] + 3}, 5000);
        st_alloc_fail_after(0);
        assert_int_equal(rc, ST_ENOMEM);
        expect_same_chunks("after a failed growth", got, want, K);
    }
    st_alloc_fail_after(1); /* and a single batch, the same */
    assert_int_equal(codec_xor_enc_append_batch(&got[1], t + 3, vp[1] + 3, 5000), ST_ENOMEM);
    st_alloc_fail_after(0);
    expect_same_chunks("after a failed batch", got, want, K);
    assert_int_equal(codec_xor_enc_append_batch_shared(
                         gp, K, t + 3, (const double *[]){vp[0] + 3, vp[1] + 3}, 5000),
                     0);
    for (size_t j = 0; j < K; j++)
        append_each(&want[j], t + 3, vp[j] + 3, 5000);
    expect_same_chunks("after the retry", got, want, K);
    for (size_t j = 0; j < K; j++) {
        codec_xor_enc_release(&got[j]);
        codec_xor_enc_release(&want[j]);
    }
    free(t);
    free(vals);
}

/* ---------------------------------------------------------------------------------------------
 * Sample counts of every encoding.
 */
static void xor__num_samples_reads_every_known_encoding(void **state)
{
    static const uint8_t data[] = {0x01, 0x02, 0x40};
    typedef struct ns_case {
        const char *name;
        uint8_t enc;
        uint32_t len;
        int rc;
        uint32_t n;
        const char *msg;
    } ns_case;
    static const ns_case cases[] = {
        {"xor", CODEC_ENC_XOR, 2, 0, 0x0102, NULL},
        {"histogram", CODEC_ENC_HISTOGRAM, 3, 0, 0x0102, NULL},
        {"float histogram", CODEC_ENC_FLOAT_HISTOGRAM, 3, 0, 0x0102, NULL},
        {"short xor", CODEC_ENC_XOR, 1, ST_ECORRUPT, 0, "header"},
        {"short histogram", CODEC_ENC_HISTOGRAM, 2, ST_ECORRUPT, 0, "header"},
        {"short float histogram", CODEC_ENC_FLOAT_HISTOGRAM, 0, ST_ECORRUPT, 0, "header"},
        /* an AggrChunk: count {L=1, enc 2, 0x40}, then the data ends (see test_aggr.c) */
        {"aggregate", CODEC_ENC_AGGR, 3, ST_ECORRUPT, 0, "ends before its sum entry"},
        {"none", 0, 3, ST_EUNSUPP, 0, "0x00"},
        {"ooo xor", 0x81, 3, ST_EUNSUPP, 0, "0x81"},
        {"xor2", 4, 3, ST_EUNSUPP, 0, "0x04"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        const ns_case *k = &cases[i];
        codec_chunk c = {.enc = k->enc, .data = data, .len = k->len};
        uint32_t n = 77;
        st_err err;
        st_err_init(&err);
        int rc = codec_chunk_num_samples(&c, &n, "blk/chunks/000001 ref 0x8", &err);
        if (rc != k->rc || (rc == 0 && n != k->n))
            fail_msg("%s: rc %d n %u, want %d %u (%s)", k->name, rc, n, k->rc, k->n, err.msg);
        if (k->msg && (!strstr(err.msg, k->msg) || !strstr(err.msg, "ref 0x8")))
            fail_msg("%s: message \"%s\" lacks \"%s\"", k->name, err.msg, k->msg);
    }
    /* And it agrees with the encoder. */
    codec_xor_enc e;
    codec_xor_enc_init(&e);
    encode(&e, prom_dod20_64_samples, ST_ARRAY_LEN(prom_dod20_64_samples));
    codec_chunk c = codec_xor_enc_chunk(&e);
    uint32_t n;
    assert_int_equal(codec_chunk_num_samples(&c, &n, NULL, NULL), 0);
    assert_int_equal(n, ST_ARRAY_LEN(prom_dod20_64_samples));
    codec_xor_enc_release(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xor__encodes_one_sample_with_the_spare_byte),
        cmocka_unit_test(xor__encodes_two_and_three_samples_as_derived_by_hand),
        cmocka_unit_test(xor__matches_chunks_written_by_prometheus),
        cmocka_unit_test(xor__adds_the_spare_byte_only_after_a_whole_byte_ending_on_a_boundary),
        cmocka_unit_test(xor__encodes_an_empty_chunk_as_a_zero_count),
        cmocka_unit_test(xor__puts_each_dod_in_the_smallest_asymmetric_bucket),
        cmocka_unit_test(xor__round_trips_every_bucket_edge_in_one_chunk),
        cmocka_unit_test(xor__round_trips_extreme_timestamps),
        cmocka_unit_test(xor__ordered_decode_tells_whether_timestamps_ascend),
        cmocka_unit_test(xor__writes_64_significant_bits_as_zero),
        cmocka_unit_test(xor__clamps_leading_zeros_at_31),
        cmocka_unit_test(xor__reuses_the_window_when_the_xor_fits_inside_it),
        cmocka_unit_test(xor__opens_a_new_window_for_the_first_nonzero_xor),
        cmocka_unit_test(xor__round_trips_stale_nan_bit_exactly),
        cmocka_unit_test(xor__round_trips_every_nan_payload_bit_exactly),
        cmocka_unit_test(xor__round_trips_infinities_signed_zero_and_extremes),
        cmocka_unit_test(xor__stores_equal_values_at_regular_intervals_in_two_bits),
        cmocka_unit_test(xor__round_trips_randomized_series),
        cmocka_unit_test(xor__rejects_every_truncation_as_corrupt),
        cmocka_unit_test(xor__survives_random_byte_flips),
        cmocka_unit_test(xor__rejects_a_count_larger_than_the_bits_hold),
        cmocka_unit_test(xor__rejects_a_too_small_output_with_einval),
        cmocka_unit_test(xor__rejects_malformed_fields_with_a_clear_message),
        cmocka_unit_test(xor__decodes_a_reuse_before_any_window_as_64_bits_like_prometheus),
        cmocka_unit_test(xor__stops_at_65535_samples_with_etoobig),
        cmocka_unit_test(xor__reset_starts_an_identical_fresh_chunk),
        cmocka_unit_test(xor__fails_an_append_cleanly_when_allocation_fails),
        cmocka_unit_test(xor__repeats_batch_writes_runs_as_single_appends_do),
        cmocka_unit_test(xor__shared_batch_matches_separate_batches_on_random_series),
        cmocka_unit_test(xor__shared_batch_matches_separate_batches_on_value_corner_cases),
        cmocka_unit_test(xor__shared_batch_appends_one_by_one_to_encoders_in_different_states),
        cmocka_unit_test(xor__shared_batch_stops_at_the_cap_and_fails_cleanly),
        cmocka_unit_test(xor__num_samples_reads_every_known_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
