/*
 * aggr.c - Thanos' aggregate chunk (encoding 0xFF, pkg/compact/downsample/aggr.go), the chunk of
 * downsampled blocks: five sub-chunks in a fixed order, each length-prefixed. The container only
 * frames the sub-chunks; their bytes are ordinary XOR (or float-histogram) chunks, decoded with
 * their own decoders.
 *
 * Layout of the chunk data (the record around it is an ordinary segment record, §3 of the
 * format notes: uvarint len | 0xFF | data | CRC32C(0xFF + data)):
 *
 *   entry   field       size        notes
 *   0       count       see below   XOR: samples per window (histograms too)
 *   1       sum         see below   XOR, or float histogram for histogram series
 *   2       min         see below   XOR; absent for histogram series
 *   3       max         see below   XOR; absent for histogram series
 *   4       counter     see below   XOR or float histogram; first raw sample, one sample per
 *                                   window, then the last window repeated with the last raw value
 *
 *   each entry:  uvarint L (1..10 bytes) | encoding byte | L bytes      (present)
 *                0x00                                                  (absent)
 *
 * Thanos' reader (AggrChunk.Get) walks the entries up to the one asked for and fails with
 * "invalid size" when fewer than L + 1 bytes remain. It also asks for one byte after an absent
 * entry, so an absent *last* entry fails there; this reader accepts it (nothing follows it).
 */
#include "codec.h"

static const char *const names[CODEC_AGGR_N] = {"count", "sum", "min", "max", "counter"};

const char *codec_aggr_name(int aggr)
{
    return aggr >= 0 && aggr < CODEC_AGGR_N ? names[aggr] : NULL;
}

int codec_aggr_from_name(const char *name)
{
    for (int i = 0; i < CODEC_AGGR_N; i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int codec_aggr_parse(const uint8_t *data, size_t len, codec_chunk sub[CODEC_AGGR_N], size_t *used,
                     const char *where, st_err *err)
{
    codec_decbuf d;
    codec_decbuf_init(&d, data, data, len);
    for (int i = 0; i < CODEC_AGGR_N; i++)
        sub[i] = (codec_chunk){.enc = 0, .data = NULL, .len = 0};
    if (used)
        *used = 0;
    for (int i = 0; i < CODEC_AGGR_N; i++) {
        uint64_t at = codec_dec_offset(&d);
        uint64_t l = codec_dec_uvarint(&d);
        if (d.err) {
            if (at >= len)
                return ST_CORRUPT(err, where, at,
                                  "aggregate chunk of %zu bytes ends before its %s entry", len,
                                  names[i]);
            if (d.p >= d.end)
                return ST_CORRUPT(err, where, at,
                                  "aggregate chunk: %s entry length varint runs past the end "
                                  "of the %zu-byte chunk",
                                  names[i], len);
            return ST_CORRUPT(err, where, at,
                              "aggregate chunk: %s entry length varint is over 10 bytes or 64 "
                              "bits",
                              names[i]);
        }
        if (l == 0)
            continue; /* absent */
        size_t left = codec_dec_left(&d);
        if (l > UINT32_MAX || left < 1 || l > left - 1)
            return ST_CORRUPT(err, where, at,
                              "aggregate chunk: %s entry says %llu bytes (+1 encoding byte), "
                              "%zu remain",
                              names[i], (unsigned long long)l, left);
        uint8_t enc = codec_dec_byte(&d);
        if (enc != CODEC_ENC_XOR && enc != CODEC_ENC_HISTOGRAM && enc != CODEC_ENC_FLOAT_HISTOGRAM)
            return ST_CORRUPT(err, where, at,
                              "aggregate chunk: %s sub-chunk has encoding 0x%02x, not 1, 2 or 3",
                              names[i], enc);
        const uint8_t *p = codec_dec_bytes(&d, (size_t)l);
        sub[i] = (codec_chunk){.enc = enc, .data = p, .len = (uint32_t)l};
    }
    if (used)
        *used = (size_t)codec_dec_offset(&d);
    return 0;
}

size_t codec_aggr_size(const codec_chunk sub[CODEC_AGGR_N])
{
    size_t n = 0;
    for (int i = 0; i < CODEC_AGGR_N; i++)
        n += sub[i].enc ? codec_uvarint_len(sub[i].len) + 1 + sub[i].len : 1;
    return n;
}

size_t codec_aggr_write(const codec_chunk sub[CODEC_AGGR_N], uint8_t *out)
{
    size_t n = 0;
    for (int i = 0; i < CODEC_AGGR_N; i++) {
        if (!sub[i].enc) {
            out[n++] = 0;
            continue;
        }
        n += codec_put_uvarint(out + n, sub[i].len);
        out[n++] = sub[i].enc;
        if (sub[i].len)
            memcpy(out + n, sub[i].data, sub[i].len);
        n += sub[i].len;
    }
    return n;
}

int codec_aggr_encode(st_buf *b, const codec_chunk sub[CODEC_AGGR_N])
{
    for (int i = 0; i < CODEC_AGGR_N; i++)
        if (sub[i].enc && sub[i].len == 0)
            return ST_EINVAL;
    size_t n = codec_aggr_size(sub);
    int rc = st_buf_reserve(b, n);
    if (rc)
        return rc;
    b->len += codec_aggr_write(sub, b->p + b->len);
    return 0;
}
