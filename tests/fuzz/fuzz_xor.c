/*
 * fuzz_xor.c - libFuzzer harness for the XOR chunk decoder and the chunk sample count. The input
 * is the chunk data (starting with the BE16 count). Every input must decode or fail with
 * ST_ECORRUPT, never crash or read out of bounds. When it decodes, encoding the samples again
 * must give a chunk that decodes to the same samples (values compared as bits), and encoding
 * those once more must give the same bytes: the encoder's output is a fixed point.
 */
#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t t1[CODEC_XOR_MAX_SAMPLES], t2[CODEC_XOR_MAX_SAMPLES];
static double v1[CODEC_XOR_MAX_SAMPLES], v2[CODEC_XOR_MAX_SAMPLES];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_xor: %s: %s\n", what, detail);
    abort();
}

static void check_num_samples(const uint8_t *data, size_t size)
{
    static const uint8_t encs[] = {
        CODEC_ENC_XOR, CODEC_ENC_HISTOGRAM, CODEC_ENC_FLOAT_HISTOGRAM, CODEC_ENC_AGGR, 0, 0x81};
    for (size_t i = 0; i < sizeof(encs); i++) {
        codec_chunk c = {.enc = encs[i], .data = data, .len = (uint32_t)size};
        uint32_t n;
        st_err err;
        st_err_init(&err);
        int rc = codec_chunk_num_samples(&c, &n, "fuzz", &err);
        if (rc != 0 && rc != ST_ECORRUPT && rc != ST_EUNSUPP)
            die("num_samples returned an unexpected code", err.msg);
        /* an aggregate chunk counts its count sub-chunk (fuzz_aggr.c checks that) */
        if (rc == 0 && encs[i] != CODEC_ENC_AGGR && n != codec_get_be16(data))
            die("num_samples disagrees with the header", "");
        if (rc && !err.msg[0])
            die("num_samples failed without a message", "");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > UINT32_MAX)
        return 0;
    check_num_samples(data, size);

    size_t n;
    st_err err;
    st_err_init(&err);
    int rc = codec_xor_decode(data, size, t1, v1, CODEC_XOR_MAX_SAMPLES, &n, "fuzz", &err);
    if (rc == ST_ECORRUPT) {
        if (!err.msg[0] || n != 0)
            die("corrupt without a message or with samples", err.msg);
        int asc = -1;
        size_t no;
        if (codec_xor_decode_ordered(data, size, t2, v2, CODEC_XOR_MAX_SAMPLES, &no, &asc, "fuzz",
                                     &err) != ST_ECORRUPT ||
            no != 0 || asc != 0)
            die("the ordered decoder takes a chunk the plain one calls corrupt", err.msg);
        return 0;
    }
    if (rc != 0)
        die("decode returned an unexpected code", err.msg);
    if (n != codec_get_be16(data))
        die("decoded count differs from the header", "");

    /* the ordered decoder: the same samples, and whether they ascend from t >= 0 */
    size_t no;
    int asc = -1, want = 1;
    st_err_init(&err);
    if (codec_xor_decode_ordered(data, size, t2, v2, CODEC_XOR_MAX_SAMPLES, &no, &asc, "fuzz",
                                 &err) != 0 ||
        no != n || memcmp(t1, t2, n * sizeof(*t1)) || memcmp(v1, v2, n * sizeof(*v1)))
        die("the ordered decoder disagrees with the plain one", err.msg);
    for (size_t i = 0; i < n; i++)
        want &= t1[i] >= 0 && (i == 0 || t1[i] >= t1[i - 1]);
    if (asc != want)
        die("the ordered decoder misjudges the order", "");

    codec_xor_enc e;
    codec_xor_enc_init(&e);
    if (codec_xor_enc_append_batch(&e, t1, v1, n) != 0)
        die("re-encoding failed", "");
    codec_chunk c = codec_xor_enc_chunk(&e);
    size_t n2;
    st_err_init(&err);
    if (codec_xor_decode(c.data, c.len, t2, v2, CODEC_XOR_MAX_SAMPLES, &n2, "re-encoded", &err))
        die("the re-encoded chunk does not decode", err.msg);
    if (n2 != n || memcmp(t1, t2, n * sizeof(*t1)) || memcmp(v1, v2, n * sizeof(*v1)))
        die("the re-encoded chunk decodes to other samples", "");

    codec_xor_enc f;
    codec_xor_enc_init(&f);
    if (codec_xor_enc_append_batch(&f, t2, v2, n2) != 0)
        die("encoding the second time failed", "");
    codec_chunk d = codec_xor_enc_chunk(&f);
    if (d.len != c.len || memcmp(d.data, c.data, c.len))
        die("encoding is not a fixed point", "");

    /* The same samples one at a time give the same bytes; and the shared encoder, with a second
     * value series (v1 backwards) on the same timestamps, gives each chunk's own bytes. */
    codec_xor_enc g;
    codec_xor_enc_init(&g);
    for (size_t i = 0; i < n; i++)
        if (codec_xor_enc_append(&g, t1[i], v1[i]) != 0)
            die("appending one at a time failed", "");
    codec_chunk one = codec_xor_enc_chunk(&g);
    if (one.len != c.len || memcmp(one.data, c.data, c.len))
        die("one at a time and in a batch differ", "");
    for (size_t i = 0; i < n; i++)
        v2[i] = v1[n - 1 - i];
    codec_xor_enc_reset(&f);
    if (codec_xor_enc_append_batch(&f, t1, v2, n) != 0)
        die("encoding backwards values failed", "");
    codec_xor_enc s0, s1;
    codec_xor_enc_init(&s0);
    codec_xor_enc_init(&s1);
    codec_xor_enc *const lanes[2] = {&s0, &s1};
    const double *const vals[2] = {v1, v2};
    if (codec_xor_enc_append_batch_shared(lanes, 2, t1, vals, n) != 0)
        die("the shared encoder failed", "");
    codec_chunk a = codec_xor_enc_chunk(&s0), b = codec_xor_enc_chunk(&s1),
                back = codec_xor_enc_chunk(&f);
    if (a.len != c.len || memcmp(a.data, c.data, c.len) || b.len != back.len ||
        memcmp(b.data, back.data, back.len))
        die("the shared encoder and one chunk at a time differ", "");
    codec_xor_enc_release(&s0);
    codec_xor_enc_release(&s1);
    codec_xor_enc_release(&g);
    codec_xor_enc_release(&f);
    codec_xor_enc_release(&e);
    return 0;
}
