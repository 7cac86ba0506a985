/*
 * encoding.c - the integer encodings every TSDB file uses: Go's unsigned LEB128 uvarint, its
 * zig-zag varint, big-endian fixed widths, and a bounds-checked decoding cursor whose error is
 * sticky (Prometheus tsdb/encoding). Also the label-set order shared by index and merge.
 */
#include "codec.h"

size_t codec_uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int codec_buf_uvarint(st_buf *b, uint64_t v)
{
    uint8_t tmp[CODEC_MAX_VARINT_LEN];
    return st_buf_append(b, tmp, codec_put_uvarint(tmp, v));
}

int codec_buf_varint(st_buf *b, int64_t v)
{
    uint8_t tmp[CODEC_MAX_VARINT_LEN];
    return st_buf_append(b, tmp, codec_put_varint(tmp, v));
}

int codec_buf_be32(st_buf *b, uint32_t v)
{
    uint8_t tmp[4];
    codec_put_be32(tmp, v);
    return st_buf_append(b, tmp, 4);
}

int codec_buf_be64(st_buf *b, uint64_t v)
{
    uint8_t tmp[8];
    codec_put_be64(tmp, v);
    return st_buf_append(b, tmp, 8);
}

void codec_decbuf_init(codec_decbuf *d, const uint8_t *base, const uint8_t *p, size_t len)
{
    d->base = base ? base : p;
    d->p = p;
    d->end = p + len;
    d->err = 0;
}

/* Go's binary.Uvarint rules: at most 10 bytes, and the 10th byte may only be 0 or 1. */
uint64_t codec_dec_uvarint(codec_decbuf *d)
{
    if (d->err)
        return 0;
    uint64_t v = 0;
    unsigned shift = 0;
    for (int i = 0; i < CODEC_MAX_VARINT_LEN; i++) {
        if (d->p >= d->end) {
            d->err = ST_ECORRUPT;
            return 0;
        }
        uint8_t c = *d->p++;
        if (c < 0x80) {
            if (i == 9 && c > 1) {
                d->err = ST_ECORRUPT;
                return 0;
            }
            return v | ((uint64_t)c << shift);
        }
        v |= (uint64_t)(c & 0x7f) << shift;
        shift += 7;
    }
    d->err = ST_ECORRUPT;
    return 0;
}

int64_t codec_dec_varint(codec_decbuf *d)
{
    uint64_t u = codec_dec_uvarint(d);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

uint8_t codec_dec_byte(codec_decbuf *d)
{
    if (d->err || d->p >= d->end) {
        d->err = ST_ECORRUPT;
        return 0;
    }
    return *d->p++;
}

uint32_t codec_dec_be32(codec_decbuf *d)
{
    if (d->err || codec_dec_left(d) < 4) {
        d->err = ST_ECORRUPT;
        return 0;
    }
    uint32_t v = codec_get_be32(d->p);
    d->p += 4;
    return v;
}

uint64_t codec_dec_be64(codec_decbuf *d)
{
    if (d->err || codec_dec_left(d) < 8) {
        d->err = ST_ECORRUPT;
        return 0;
    }
    uint64_t v = codec_get_be64(d->p);
    d->p += 8;
    return v;
}

const uint8_t *codec_dec_bytes(codec_decbuf *d, size_t n)
{
    if (d->err || codec_dec_left(d) < n) {
        d->err = ST_ECORRUPT;
        return NULL;
    }
    const uint8_t *r = d->p;
    d->p += n;
    return r;
}

int codec_labels_cmp(const codec_label *a, uint32_t na, const codec_label *b, uint32_t nb)
{
    uint32_t n = na < nb ? na : nb;
    for (uint32_t i = 0; i < n; i++) {
        int c = codec_str_cmp(a[i].name, b[i].name);
        if (c)
            return c;
        c = codec_str_cmp(a[i].value, b[i].value);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb;
}
