/*
 * xor.c - the XOR (Gorilla) float chunk, encoding 1, bit-exact with Prometheus 2.42's
 * chunkenc.XORChunk (format notes §4 bit stream, §5 XOR chunk). The encoder reproduces the
 * bstream writer byte for byte, including its spare trailing byte; the decoder unpacks a whole
 * chunk into caller arrays through a 64-bit bit buffer and checks every bit it consumes against
 * the chunk's length.
 *
 * Layout (bits MSB-first, the 2-byte header counts as whole bytes already written):
 *
 *   offset  size        field
 *   0       2 bytes     BE16 number of samples
 *   2       1..10 B     sample 0: zig-zag varint t0
 *           8 bytes               raw float64 bits of v0
 *           1..10 B     sample 1: uvarint t1 - t0 (the stream is byte-aligned here)
 *           1..77 bits            value field
 *           1..68 bits  sample i >= 2: timestamp delta-of-delta field, then value field
 *           0..8 bits   zero padding, or one whole zero "spare" byte (see below)
 *
 *   dod field:   0 | 10 + 14 bits | 110 + 17 bits | 1110 + 20 bits | 1111 + 64 bits, the
 *                n-bit payloads holding -(2^(n-1)-1) .. 2^(n-1) (asymmetric).
 *   value field: x = bits(v) ^ bits(prev).  0 (x == 0) | 10 + window bits (reuse the window)
 *                | 11 + 5-bit leading + 6-bit significant count (64 stored as 0) + bits.
 */
#include "codec.h"

#include <assert.h>

#define HEADER_SIZE 2
/* Hard cap on an encoder's buffer: 65535 samples of at most 145 bits, plus slack. */
#define ENC_MAX_BYTES (2u << 20)
/* Room reserved before each append: a sample takes at most 21 bytes (sample 1: a 10-byte
 * uvarint and a 77-bit value field), and a bit store writes 9 bytes from the byte it starts in. */
#define ENC_SAMPLE_ROOM 48

_Static_assert(CODEC_XOR_MAX_SAMPLES == 0xFFFF, "the sample count is a BE16");
_Static_assert(ENC_SAMPLE_ROOM >= 21 + 9, "the reserve covers a sample and a bit store");

static inline uint64_t dbl_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static inline double bits_dbl(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Encoder.
 *
 * Prometheus' bstream writes a bit into the free low bits of the last byte, appending a zero
 * byte when there are none; but a whole-byte write (every varint byte, and every 8-bit group of
 * a multi-bit write, which goes bytes first, then single bits) always appends one more byte and
 * leaves the free count unchanged. The bits themselves are an ordinary MSB-first stream; only
 * the length differs: a chunk whose last primitive was a whole-byte write ending on a byte
 * boundary carries one extra zero byte. So the encoder writes plain bits at a bit position and,
 * after each sample, derives the length and free count from where it stopped and whether the
 * last field ended with a whole byte (a bit count that is a multiple of 8).
 */

/* Write the n low bits of u (1 <= n <= 64, higher bits zero) at bit position *pos of p. The bits
 * before *pos in its byte are kept; that byte and the eight after it are rewritten, so every
 * bit after the new position reads as zero (Go appends zero bytes), whatever was there. */
static inline void put_bits(uint8_t *p, uint64_t *pos, uint64_t u, unsigned n)
{
    assert(n >= 1 && n <= 64 && (n == 64 || u >> n == 0));
    size_t at = (size_t)(*pos >> 3);
    unsigned r = (unsigned)(*pos & 7);
    unsigned span = r + n; /* 1 .. 71 */
    uint64_t hi = r ? (uint64_t)(p[at] & (0xFF00u >> r)) << 56 : 0;
    uint8_t lo;
    if (span <= 64) {
        hi |= u << (64 - span);
        lo = 0;
    } else {
        hi |= u >> (span - 64);
        lo = (uint8_t)(u << (72 - span));
    }
    codec_put_be64(p + at, hi);
    p[at + 8] = lo;
    *pos += n;
}

/* A value-XOR field; returns 1 if it ended with a whole byte (bstream writeByte). */
static inline int put_value(codec_xor_enc *e, uint8_t *p, uint64_t *pos, uint64_t vb)
{
    uint64_t x = vb ^ e->v;
    if (x == 0) {
        put_bits(p, pos, 0, 1);
        return 0;
    }
    unsigned lead = (unsigned)__builtin_clzll(x);
    unsigned trail = (unsigned)__builtin_ctzll(x);
    if (lead >= 32)
        lead = 31; /* must fit 5 bits; the extra zeros become significant bits */

    if (e->leading != 0xFF && lead >= e->leading && trail >= e->trailing) {
        unsigned sig = 64 - e->leading - e->trailing;
        uint64_t bits = x >> e->trailing;
        if (sig <= 62) {
            put_bits(p, pos, (2ull << sig) | bits, 2 + sig);
        } else {
            put_bits(p, pos, 2, 2);
            put_bits(p, pos, bits, sig);
        }
        return sig % 8 == 0;
    }

    unsigned sig = 64 - lead - trail;
    uint64_t bits = x >> trail;
    uint64_t head = (3u << 11) | (lead << 6) | (sig & 63); /* 11, leading, sig (64 as 0) */
    e->leading = (uint8_t)lead;
    e->trailing = (uint8_t)trail;
    if (sig <= 51) {
        put_bits(p, pos, (head << sig) | bits, 13 + sig);
    } else {
        put_bits(p, pos, head, 13);
        put_bits(p, pos, bits, sig);
    }
    return sig % 8 == 0;
}

/* Whether dod fits the asymmetric n-bit range -(2^(n-1)-1) .. 2^(n-1). */
static inline int dod_fits(int64_t dod, unsigned n)
{
    int64_t half = (int64_t)1 << (n - 1);
    return dod > -half && dod <= half;
}

static inline void put_dod(uint8_t *p, uint64_t *pos, int64_t dod)
{
    uint64_t u = (uint64_t)dod;
    if (dod == 0)
        put_bits(p, pos, 0, 1);
    else if (dod_fits(dod, 14))
        put_bits(p, pos, (0x2ull << 14) | (u & 0x3FFF), 2 + 14);
    else if (dod_fits(dod, 17))
        put_bits(p, pos, (0x6ull << 17) | (u & 0x1FFFF), 3 + 17);
    else if (dod_fits(dod, 20))
        put_bits(p, pos, (0xEull << 20) | (u & 0xFFFFF), 4 + 20);
    else {
        put_bits(p, pos, 0xF, 4);
        put_bits(p, pos, u, 64);
    }
}

static inline void put_byte_run(uint8_t *p, uint64_t *pos, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_bits(p, pos, b[i], 8);
}

void codec_xor_enc_init(codec_xor_enc *e)
{
    st_buf_init(&e->b, ENC_MAX_BYTES);
    codec_xor_enc_reset(e);
}

void codec_xor_enc_reset(codec_xor_enc *e)
{
    st_buf_reset(&e->b);
    e->free_bits = 0;
    e->n = 0;
    e->t = 0;
    e->tdelta = 0;
    e->v = 0;
    e->leading = 0xFF;
    e->trailing = 0;
}

void codec_xor_enc_release(codec_xor_enc *e)
{
    st_buf_release(&e->b);
}

int codec_xor_enc_append(codec_xor_enc *e, int64_t t, double v)
{
    if (e->n == CODEC_XOR_MAX_SAMPLES)
        return ST_ETOOBIG;
    /* Reserve first so that a failed append leaves the chunk as it was. */
    int rc = st_buf_reserve(&e->b, ENC_SAMPLE_ROOM);
    if (rc)
        return rc;
    if (e->b.len == 0) {
        e->b.p[0] = e->b.p[1] = 0;
        e->b.len = HEADER_SIZE;
        e->free_bits = 0;
    }

    uint8_t *p = e->b.p;
    uint64_t pos = (uint64_t)e->b.len * 8 - e->free_bits;
    uint64_t vb = dbl_bits(v);
    uint64_t tdelta = 0;
    uint8_t tmp[CODEC_MAX_VARINT_LEN];
    int whole; /* the sample's last field ended with a whole-byte write */

    if (e->n == 0) {
        put_byte_run(p, &pos, tmp, codec_put_varint(tmp, t));
        put_bits(p, &pos, vb, 64);
        whole = 1;
    } else if (e->n == 1) {
        tdelta = (uint64_t)t - (uint64_t)e->t;
        put_byte_run(p, &pos, tmp, codec_put_uvarint(tmp, tdelta));
        whole = put_value(e, p, &pos, vb);
    } else {
        tdelta = (uint64_t)t - (uint64_t)e->t;
        put_dod(p, &pos, (int64_t)(tdelta - e->tdelta));
        whole = put_value(e, p, &pos, vb);
    }

    unsigned r = (unsigned)(pos & 7);
    unsigned free_bits = whole ? 8 - r : (8 - r) & 7;
    e->b.len = (size_t)((pos + free_bits) / 8);
    e->free_bits = (uint8_t)free_bits;
    assert(e->b.len + 1 < e->b.cap);
    e->n++;
    e->t = t;
    e->tdelta = tdelta;
    e->v = vb;
    codec_put_be16(p, e->n);
    return 0;
}

/* ---- the batch path ----
 *
 * Samples from the third on, with the state in registers and no branch on a value: a sample is
 * two writes, (dod field, value control bits and window header) and (significant bits), each
 * composed left-aligned in a word. The writer holds the 0..7 bits after the last whole byte
 * left-aligned in `acc`; a write of 0..64 bits stores the eight bytes from `p` (the pending bits
 * and as many new ones as fit), moves `p` past the whole bytes and keeps the rest: no load, no
 * branch. What fell past those eight bytes (n + len > 64) is kept in acc and stored by the next
 * write, or by bw_flush, which also leaves zeros after the last bit as the format wants. */
typedef struct bitwriter {
    uint8_t *p;
    uint64_t acc;
    unsigned n;
} bitwriter;

/* Append the len (0..64) high bits of w; the bits of w below them must be zero. */
static inline void bw_put(bitwriter *b, uint64_t w, unsigned len)
{
    uint64_t word = b->acc | (w >> b->n);
    uint64_t spill = (w << (63 - b->n)) << 1;
    unsigned total = b->n + len, adv = total >> 3;
    codec_put_be64(b->p, word);
    b->p += adv;
    uint64_t keep = word << ((adv & 7) * 8);
    b->acc = adv == 8 ? spill : keep;
    b->n = total & 7;
}

static inline void bw_flush(bitwriter *b)
{
    codec_put_be64(b->p, b->acc);
}

/* The dod field, left-aligned, and its length; 0 for the 68-bit form (the caller writes it). */
static inline unsigned dod_field(int64_t dod, uint64_t *w)
{
    uint64_t u = (uint64_t)dod;
    if (dod == 0) {
        *w = 0;
        return 1;
    }
    if (dod_fits(dod, 14)) {
        *w = ((0x2ull << 14) | (u & 0x3FFF)) << 48;
        return 16;
    }
    if (dod_fits(dod, 17)) {
        *w = ((0x6ull << 17) | (u & 0x1FFFF)) << 44;
        return 20;
    }
    if (dod_fits(dod, 20)) {
        *w = ((0xEull << 20) | (u & 0xFFFFF)) << 40;
        return 24;
    }
    return 0;
}

/* The first two samples have their own encodings and go through codec_xor_enc_append; the
 * rest reserve room once. The bit position runs on from sample to sample whatever the
 * spare-byte rule says (a spare byte only moves the end), so only the last sample decides the
 * final length. */
int codec_xor_enc_append_batch(codec_xor_enc *e, const int64_t *t, const double *v, size_t n)
{
    size_t i = 0;
    int rc = 0;
    if (n > (size_t)(CODEC_XOR_MAX_SAMPLES - e->n)) {
        for (; i < n && !rc; i++)
            rc = codec_xor_enc_append(e, t[i], v[i]);
        return rc;
    }
    for (; i < n && e->n < 2; i++)
        if ((rc = codec_xor_enc_append(e, t[i], v[i])))
            return rc;
    if (i == n)
        return 0;
    size_t left = n - i;
    if (left > SIZE_MAX / ENC_SAMPLE_ROOM)
        return ST_ETOOBIG;
    if ((rc = st_buf_reserve(&e->b, left * ENC_SAMPLE_ROOM)))
        return rc;
    uint8_t *base = e->b.p;
    uint64_t pos = (uint64_t)e->b.len * 8 - e->free_bits;
    bitwriter bw = {base + pos / 8, 0, (unsigned)(pos & 7)};
    if (bw.n)
        bw.acc = (uint64_t)(*bw.p & (0xFF00u >> bw.n)) << 56;
    int64_t prev_t = e->t, tdelta = e->tdelta;
    uint64_t prev_v = e->v;
    /* no window yet (0xFF) reads as 64/64: no x fits it */
    unsigned wl = e->leading == 0xFF ? 64 : e->leading, wt = e->trailing;
    if (e->leading == 0xFF)
        wt = 64;
    unsigned sig_last = 1;
    for (; i < n; i++) {
        int64_t td = (int64_t)((uint64_t)t[i] - (uint64_t)prev_t);
        int64_t dod = (int64_t)((uint64_t)td - (uint64_t)tdelta);
        uint64_t head;
        unsigned hlen = dod_field(dod, &head);
        if (__builtin_expect(hlen == 0, 0)) {
            bw_put(&bw, 0xFull << 60, 4);
            bw_put(&bw, (uint64_t)dod, 64);
            head = 0;
        }
        uint64_t vb = dbl_bits(v[i]);
        uint64_t x = vb ^ prev_v;
        unsigned lead = (unsigned)__builtin_clzll(x | 1);
        unsigned trail = (unsigned)__builtin_ctzll(x | (1ull << 63));
        if (lead > 31)
            lead = 31; /* must fit 5 bits; the extra zeros become significant bits */
        unsigned nsig = 64 - lead - trail;
        int reuse = lead >= wl && trail >= wt;
        /* control bits and header: 0 | 10 | 11 + 5-bit leading + 6-bit significant count */
        uint64_t ctl = reuse ? 2 : (3u << 11) | (lead << 6) | (nsig & 63);
        unsigned clen = reuse ? 2 : 13;
        unsigned sig = reuse ? 64 - wl - wt : nsig;
        uint64_t bits = x << (reuse ? wl : lead);
        if (x == 0) {
            ctl = 0;
            clen = 1;
            sig = 0;
            bits = 0;
        } else if (!reuse) {
            wl = lead;
            wt = trail;
        }
        head |= ctl << (64 - hlen - clen);
        bw_put(&bw, head, hlen + clen);
        bw_put(&bw, bits, sig);
        sig_last = sig;
        prev_v = vb;
        prev_t = t[i];
        tdelta = td;
    }
    bw_flush(&bw);
    pos = (uint64_t)(bw.p - base) * 8 + bw.n;
    int whole = sig_last != 0 && sig_last % 8 == 0;
    unsigned r = (unsigned)(pos & 7);
    unsigned free_bits = whole ? 8 - r : (8 - r) & 7;
    e->b.len = (size_t)((pos + free_bits) / 8);
    e->free_bits = (uint8_t)free_bits;
    assert(e->b.len + 1 < e->b.cap);
    e->n = (uint16_t)(e->n + left);
    e->t = prev_t;
    e->tdelta = tdelta;
    e->v = prev_v;
    e->leading = (uint8_t)(wl == 64 ? 0xFF : wl);
    e->trailing = (uint8_t)(wl == 64 ? 0 : wt);
    codec_put_be16(base, e->n);
    return 0;
}

codec_chunk codec_xor_enc_chunk(const codec_xor_enc *e)
{
    static const uint8_t empty[HEADER_SIZE] = {0, 0};
    codec_chunk c = {.enc = CODEC_ENC_XOR, .data = empty, .len = HEADER_SIZE};
    if (e->b.len) {
        c.data = e->b.p;
        c.len = (uint32_t)e->b.len;
    }
    return c;
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

int codec_xor_decode(const uint8_t *data, size_t len, int64_t *t, double *v, size_t cap, size_t *n,
                     const char *where, st_err *err)
{
    *n = 0;
    if (len < HEADER_SIZE)
        return ST_CORRUPT(err, where, 0, "XOR chunk of %zu bytes is shorter than its header", len);
    size_t count = codec_get_be16(data);
    if (count > cap)
        return st_err_set(err, ST_EINVAL,
                          "%s: XOR chunk holds %zu samples, the output has room for %zu",
                          where ? where : "?", count, cap);
    if (count == 0)
        return 0;

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
        *n = 1;
        return 0;
    }

    uint64_t tdelta = codec_dec_uvarint(&d);
    if (d.err)
        return ST_CORRUPT(err, where, codec_dec_offset(&d), "sample 1 time delta uvarint %s",
                          varint_problem(&d));
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
            int64_t dod;
            if (ones == 0) {
                br_take(&r, 1);
                dod = 0;
            } else if (ones < 4) {
                static const unsigned payload[4] = {0, 14, 17, 20};
                unsigned sz = payload[ones];
                br_take(&r, ones + 1);
                uint64_t u = br_take(&r, sz);
                if (u > (1ull << (sz - 1)))
                    u -= 1ull << sz;
                dod = (int64_t)u;
            } else {
                br_take(&r, 4);
                dod = (int64_t)br_get(&r, 64);
            }
            tdelta += (uint64_t)dod;
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
    return 0;
}
