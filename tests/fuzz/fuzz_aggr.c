/*
 * fuzz_aggr.c - libFuzzer harness for the aggregate chunk (encoding 0xFF) parser. The input is
 * the chunk data. Every input must parse or fail with ST_ECORRUPT and a message, never crash or
 * read out of bounds. When it parses: the sub-chunks lie inside the consumed bytes, the chunk's
 * sample count is the count sub-chunk's, every XOR sub-chunk decodes or fails cleanly, and
 * writing the parsed sub-chunks again gives a chunk that parses to the same sub-chunks (the
 * bytes may differ: Go's uvarint reader also takes non-minimal lengths, the writer never makes
 * them).
 */
#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ts[CODEC_XOR_MAX_SAMPLES];
static double vs[CODEC_XOR_MAX_SAMPLES];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_aggr: %s: %s\n", what, detail);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > UINT32_MAX)
        return 0;
    codec_chunk sub[CODEC_AGGR_N];
    size_t used;
    st_err err;
    st_err_init(&err);
    int rc = codec_aggr_parse(data, size, sub, &used, "fuzz", &err);
    codec_chunk whole = {.enc = CODEC_ENC_AGGR, .data = data, .len = (uint32_t)size};
    uint32_t n;
    st_err e2;
    st_err_init(&e2);
    int nrc = codec_chunk_num_samples(&whole, &n, "fuzz", &e2);
    if (rc == ST_ECORRUPT) {
        if (!err.msg[0])
            die("corrupt without a message", "");
        if (nrc != ST_ECORRUPT)
            die("num_samples accepts what parse rejects", e2.msg);
        return 0;
    }
    if (rc != 0)
        die("parse returned an unexpected code", err.msg);
    if (used > size)
        die("used past the end", "");
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        if (!sub[a].enc) {
            if (sub[a].data || sub[a].len)
                die("absent sub-chunk with bytes", "");
            continue;
        }
        if (sub[a].len == 0 || sub[a].data < data || sub[a].data + sub[a].len > data + used)
            die("sub-chunk outside the chunk", "");
    }
    if (!sub[CODEC_AGGR_COUNT].enc) {
        if (nrc != 0 || n != 0)
            die("no count aggregate but samples", e2.msg);
    } else {
        uint32_t m;
        st_err e3;
        st_err_init(&e3);
        int mrc = codec_chunk_num_samples(&sub[CODEC_AGGR_COUNT], &m, "fuzz", &e3);
        if (mrc != nrc || (mrc == 0 && m != n))
            die("num_samples is not the count sub-chunk's", e2.msg);
    }
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        if (sub[a].enc != CODEC_ENC_XOR)
            continue;
        size_t got;
        st_err_init(&err);
        rc = codec_xor_decode(sub[a].data, sub[a].len, ts, vs, CODEC_XOR_MAX_SAMPLES, &got, "fuzz",
                              &err);
        if (rc != 0 && rc != ST_ECORRUPT)
            die("sub-chunk decode returned an unexpected code", err.msg);
    }
    st_buf b;
    st_buf_init(&b, 0);
    if (codec_aggr_encode(&b, sub) != 0)
        die("re-encoding failed", "");
    if (b.len != codec_aggr_size(sub) || b.len > used)
        die("re-encoded size", "");
    codec_chunk back[CODEC_AGGR_N];
    size_t used2;
    st_err_init(&err);
    if (codec_aggr_parse(b.p, b.len, back, &used2, "again", &err) != 0 || used2 != b.len)
        die("the re-encoded chunk does not parse", err.msg);
    for (int a = 0; a < CODEC_AGGR_N; a++)
        if (back[a].enc != sub[a].enc || back[a].len != sub[a].len ||
            (sub[a].len && memcmp(back[a].data, sub[a].data, sub[a].len)))
            die("the re-encoded chunk parses to other sub-chunks", "");
    st_buf_release(&b);
    return 0;
}
