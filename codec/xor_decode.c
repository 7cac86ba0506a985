/*
 * xor_decode.c - the XOR chunk decoder (the layout is in xor.c): a whole chunk into caller
 * arrays through a 64-bit bit buffer, every bit it consumes checked against the chunk's length.
 *
 * It has a file of its own for one compiler flag (CMakeLists.txt): its loop starts a 64-byte
 * block. The loop's speed depends on where it lies against the 64-byte blocks the front end
 * fetches and keeps decoded: over the 8-byte steps of one block, the same build decoded the
 * 100k-series benchmark block in 2.86 to 3.09 G cycles, and which place a build got depended
 * on whatever code came before the loop. Aligned, it decodes at the fast end (x86-64, GCC 12).
 */
#include "codec.h"

#include <assert.h>

#define HEADER_SIZE 2

static inline double bits_dbl(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Decoder.
 *
 * The bit reader keeps up to 64 unread bits left-aligned in `buf` (`avail` of them count) and
 * refills a whole 64-bit big-endian word at a time while 8 bytes remain (the bits past `avail`
 * are the stream's next bits, so an overlapping reload ORs in the same values). Past the end of
 * the chunk it feeds zero bits instead of reading, and the caller compares the bit position
 * with the chunk's size once per sample: no read ever leaves the buffer, and a chunk that
 * claims more samples than its bits hold is caught at the sample that overran.
 */
typedef struct bitreader {
    const uint8_t *data;
    size_t len; /* bytes in data */
    size_t off; /* next byte to load; may pass len by the zero bytes fed after the end */
    uint64_t buf;
    unsigned avail;
} bitreader;

static inline void br_refill(bitreader *r)
{
    if (r->avail >= 56)
        return;
    if (r->off + 8 <= r->len) {
        r->buf |= codec_get_be64(r->data + r->off) >> r->avail;
        r->off += (63 - r->avail) >> 3;
        r->avail |= 56;
        return;
    }
    while (r->avail < 56) {
        uint64_t c = r->off < r->len ? r->data[r->off] : 0;
        r->buf |= c << (56 - r->avail);
        r->off++;
        r->avail += 8;
    }
}

/* Consume n bits, 1 <= n <= avail (and n < 64). */
static inline uint64_t br_take(bitreader *r, unsigned n)
{
    assert(n >= 1 && n < 64 && n <= r->avail);
    uint64_t v = r->buf >> (64 - n);
    r->buf <<= n;
    r->avail -= n;
    return v;
}

/* Any n, 1 <= n <= 64, refilling as needed. */
static inline uint64_t br_get(bitreader *r, unsigned n)
{
    if (n > r->avail)
        br_refill(r);
    if (n <= r->avail)
        return br_take(r, n);
    uint64_t hi = br_take(r, 32);
    br_refill(r);
    return (hi << (n - 32)) | br_take(r, n - 32);
}

/* Bits consumed since data[0]. */
static inline uint64_t br_pos(const bitreader *r)
{
    return (uint64_t)r->off * 8 - r->avail;
}

static const char *varint_problem(const codec_decbuf *d)
{
    return d->p >= d->end ? "runs past the end of the chunk" : "is over 10 bytes or 64 bits";
}

/* Branch-free, so it vectorises. */
int codec_times_ascend(const int64_t *t, size_t n)
{
    uint64_t neg = n ? (uint64_t)t[0] : 0;
    /* with every t >= 0 the difference cannot overflow: its sign is the order */
    for (size_t i = 1; i < n; i++)
        neg |= (uint64_t)t[i] | ((uint64_t)t[i] - (uint64_t)t[i - 1]);
    return !(neg >> 63);
}

/* The decoder. With ascending != NULL it also says whether the timestamps ascend and none is
 * negative, without a pass of its own and without work in the common case, where the delta of
 * deltas is 0: every time delta is one of the few the deltas of deltas set, so their sign bits
 * (ORed into ord) and the largest (maxd) are kept where they are set. With t[0] and every delta
 * non-negative, timestamps ascend unless they pass 2^63; they cannot when t[0] plus (count - 1)
 * times the largest delta stays below it, and only a chunk whose deltas come that close to 2^63
 * has its timestamps looked at again. */
static inline __attribute__((always_inline)) int decode(const uint8_t *data, size_t len, int64_t *t,
                                                        double *v, size_t cap, size_t *n,
                                                        int *ascending, const char *where,
                                                        st_err *err)
{
    if (ascending)
        *ascending = 0;
    *n = 0;
    if (len < HEADER_SIZE)
        return ST_CORRUPT(err, where, 0, "XOR chunk of %zu bytes is shorter than its header", len);
    size_t count = codec_get_be16(data);
    if (count > cap)
        return st_err_set(err, ST_EINVAL,
                          "%s: XOR chunk holds %zu samples, the output has room for %zu",
                          where ? where : "?", count, cap);
    if (count == 0) {
        if (ascending)
            *ascending = 1;
        return 0;
    }

    /* Samples 0 and 1 are whole bytes and byte-aligned. */
    codec_decbuf d;
    codec_decbuf_init(&d, data, data + HEADER_SIZE, len - HEADER_SIZE);
    uint64_t ts = (uint64_t)codec_dec_varint(&d);
    if (d.err)
        return ST_CORRUPT(err, where, codec_dec_offset(&d), "sample 0 timestamp varint %s",
                          varint_problem(&d));
    if (codec_dec_left(&d) < 8)
        return ST_CORRUPT(err, where, codec_dec_offset(&d),
                          "sample 0 value needs 8 bytes, %zu remain", codec_dec_left(&d));
    uint64_t vb = codec_dec_be64(&d);
    t[0] = (int64_t)ts;
    v[0] = bits_dbl(vb);
    if (count == 1) {
        if (ascending)
            *ascending = !(ts >> 63);
        *n = 1;
        return 0;
    }

    uint64_t tdelta = codec_dec_uvarint(&d);
    if (d.err)
        return ST_CORRUPT(err, where, codec_dec_offset(&d), "sample 1 time delta uvarint %s",
                          varint_problem(&d));
    const uint64_t t0 = ts;
    uint64_t ord = ts | tdelta, maxd = tdelta;
    ts += tdelta;

    bitreader r = {data, len, codec_dec_offset(&d), 0, 0};
    const uint64_t end_bits = (uint64_t)len * 8;
    unsigned leading = 0, trailing = 0; /* Prometheus' reader starts with a 0/0 window */

    for (size_t i = 1; i < count; i++) {
        uint64_t start = br_pos(&r);
        if (i >= 2) {
            br_refill(&r);
            /* Leading ones of the prefix, at most 4: bit 59 stops the count. */
            unsigned ones = (unsigned)__builtin_clzll(~r.buf | (1ull << 59));
            if (ones == 0) {
                br_take(&r, 1); /* dod 0: the delta stays */
            } else {
                uint64_t dod;
                if (ones < 4) {
                    static const unsigned payload[4] = {0, 14, 17, 20};
                    unsigned sz = payload[ones];
                    br_take(&r, ones + 1);
                    dod = br_take(&r, sz);
                    if (dod > (1ull << (sz - 1)))
                        dod -= 1ull << sz;
                } else {
                    br_take(&r, 4);
                    dod = br_get(&r, 64);
                }
                tdelta += dod;
                ord |= tdelta;
                maxd = tdelta > maxd ? tdelta : maxd;
            }
            ts += tdelta;
        }

        /* The control bits and a new window's header: 13 bits at most. */
        if (r.avail < 13)
            br_refill(&r);
        unsigned ctl = (unsigned)(r.buf >> 62);
        if (ctl < 2) {
            br_take(&r, 1);
        } else {
            br_take(&r, 2);
            if (ctl == 3) {
                unsigned head = (unsigned)br_take(&r, 11);
                unsigned lead = head >> 6, sig = head & 63;
                if (sig == 0)
                    sig = 64;
                if (lead + sig > 64)
                    return ST_CORRUPT(err, where, start / 8,
                                      "sample %zu: %u leading zeros + %u significant bits "
                                      "exceed 64",
                                      i, lead, sig);
                leading = lead;
                trailing = 64 - lead - sig;
            }
            vb ^= br_get(&r, 64 - leading - trailing) << trailing;
        }

        if (br_pos(&r) > end_bits)
            return ST_CORRUPT(err, where, start / 8,
                              "sample %zu of %zu runs past the end of the %zu-byte chunk", i, count,
                              len);
        t[i] = (int64_t)ts;
        v[i] = bits_dbl(vb);
    }
    *n = count;
    if (ascending && !(ord >> 63))
        *ascending =
            maxd <= (((uint64_t)1 << 63) - 1 - t0) / (count - 1) || codec_times_ascend(t, count);
    return 0;
}

/* The decoder's one copy, behind both entry points: the downsampling benchmark's decode-only
 * floor and the job it is the floor of run the same code (the file's comment says why that
 * matters). */
__attribute__((noinline)) int codec_xor_decode_ordered(const uint8_t *data, size_t len, int64_t *t,
                                                       double *v, size_t cap, size_t *n,
                                                       int *ascending, const char *where,
                                                       st_err *err)
{
    return decode(data, len, t, v, cap, n, ascending, where, err);
}

int codec_xor_decode(const uint8_t *data, size_t len, int64_t *t, double *v, size_t cap, size_t *n,
                     const char *where, st_err *err)
{
    return codec_xor_decode_ordered(data, len, t, v, cap, n, NULL, where, err);
}
