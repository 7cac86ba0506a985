/*
 * xor.c - the XOR (Gorilla) float chunk, encoding 1, bit-exact with Prometheus 2.42's
 * chunkenc.XORChunk (format notes §4 bit stream, §5 XOR chunk). The encoder reproduces the
 * bstream writer byte for byte, including its spare trailing byte. The decoder is in
 * xor_decode.c.
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
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

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
 * Samples in batches, for one chunk or for up to four that share their timestamps (the count,
 * sum, min and max aggregates of a downsampled chunk share the window stamps: their dod fields
 * are worked out once). A lane is one chunk's writer and value state, in locals: with k a
 * constant (one copy of the loop for each k, unrolled over the lanes) the compiler keeps them
 * in registers as far as they go and touches no encoder inside the loop, where a byte store
 * could alias anything. The lanes' chains are independent and the core overlaps them, but the
 * loop is bound by its instruction count more than by those chains, so each field is kept to
 * few instructions:
 *
 * A field goes out at once, as two 64-bit stores from the byte holding the next bit: that
 * byte's 0..7 bits already written (read back: every store leaves zeros after its last bit, so
 * the byte holds nothing else), a prefix of up to 37 bits (dod field, control bits, a new
 * window's header) and up to 64 significant bits, zeros after them; a value equal to the last
 * (control bit 0) ends inside the first word and needs only that store. The 68-bit dod form is
 * a field of its own (prefix 1111, then the 64 bits), and the value field has no dod prefix
 * then. Each of the three value cases is a branch: reuses come in runs and count repeats one
 * value, and on noisy gauge aggregates, where about one sample in ten mispredicts, selecting
 * between every case computed (cmov) still took 40% more cycles.
 *
 * The window is kept as the mask of the bits outside it: a reuse is x & out == 0, and "no window
 * yet" is all ones, which no x != 0 fits. With the window's leading zeros at most 31 this is
 * Prometheus' lead >= window lead && trail >= window trail, for the clamped lead as well.
 *
 * Samples 0 and 1 of an empty chunk are whole bytes up to sample 1's value field (header,
 * varint t0, the bits of v0, uvarint t1 - t0), copied in; a chunk holding one sample takes the
 * next through codec_xor_enc_append. The bit position runs on from sample to sample whatever
 * the spare-byte rule says (a spare byte only moves the end), so only the last field decides
 * the final length.
 */
typedef struct lane {
    uint8_t *p;  /* the byte holding the next bit */
    unsigned r;  /* bits of *p already written */
    unsigned wl; /* the window's leading zeros and significant bits */
    unsigned ws;
    uint64_t out;  /* bits outside the window; all ones before the first one */
    uint64_t prev; /* bits of the previous value */
} lane;

/* One store: GCC assembles codec_put_be64's bytes well alone, but two of them side by side
 * became byte shuffles merged into one 16-byte store through the stack. */
static inline void store_be64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, sizeof(v));
#else
    codec_put_be64(p, v);
#endif
}

/* Append plen (1..37) bits left-aligned in pre, then sig (0..64) bits left-aligned in bits;
 * every bit after them in pre and bits is zero. */
static inline void lane_field(lane *l, uint64_t pre, unsigned plen, uint64_t bits, unsigned sig)
{
    uint8_t *p = l->p;
    unsigned c = l->r + plen; /* 1 .. 44 */
    store_be64(p, ((uint64_t)p[0] << 56) | pre >> l->r | bits >> c);
    store_be64(p + 8, bits << (64 - c));
    unsigned total = c + sig;
    l->p = p + (total >> 3);
    l->r = total & 7;
}

/* A value field after the hlen-bit dod field in head. */
static inline __attribute__((always_inline)) void lane_value(lane *l, uint64_t head, unsigned hlen,
                                                             uint64_t vb)
{
    uint64_t x = vb ^ l->prev;
    l->prev = vb;
    if (x == 0) {
        /* the control bit 0: the field ends inside the first word, so that one store does */
        uint8_t *p = l->p;
        unsigned c = l->r + hlen + 1; /* 1 .. 32 */
        store_be64(p, ((uint64_t)p[0] << 56) | head >> l->r);
        l->p = p + (c >> 3);
        l->r = c & 7;
    } else if ((x & l->out) == 0) {
        lane_field(l, head | (1ull << 63) >> hlen, hlen + 2, x << l->wl, l->ws); /* 10 */
    } else {
        unsigned lead = (unsigned)__builtin_clzll(x);
        unsigned trail = (unsigned)__builtin_ctzll(x);
        if (lead > 31)
            lead = 31; /* must fit 5 bits; the extra zeros become significant bits */
        unsigned sig = 64 - lead - trail;
        /* 11, 5-bit leading, 6-bit significant count (64 as 0), left-aligned */
        uint64_t ctl = ((3ull << 11) | (lead << 6) | (sig & 63)) << 51;
        l->wl = lead;
        l->ws = sig;
        l->out = ~((~0ull >> lead) & (~0ull << trail));
        lane_field(l, head | ctl >> hlen, hlen + 13, x << lead, sig);
    }
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

/* Sample t's delta from pt, its delta of deltas after td0, and that dod's field (dod_field). */
static inline unsigned sample_dod(int64_t t, int64_t pt, int64_t td0, int64_t *td, int64_t *dod,
                                  uint64_t *head)
{
    *td = (int64_t)((uint64_t)t - (uint64_t)pt);
    *dod = (int64_t)((uint64_t)*td - (uint64_t)td0);
    return dod_field(*dod, head);
}

static int use_vector = 1; /* codec_xor_enc_vector */

#if defined(__x86_64__) && defined(__GNUC__)
#define LANES4_AVX2 1
/* From sample j >= 1, four samples a step while all four are on delta td and, with values,
 * hold the value prev: where the first step that is not stops (the scalar loops go on from
 * there). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) size_t
scan_avx2(const int64_t *t, const double *v, size_t j, size_t n, uint64_t prev, uint64_t td,
          int values)
{
    const __m256i vp = _mm256_set1_epi64x((long long)prev), vt = _mm256_set1_epi64x((long long)td);
    for (; j + 4 <= n; j += 4) {
        __m256i o = _mm256_sub_epi64(
            _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(const void *)(t + j)),
                             _mm256_loadu_si256((const __m256i *)(const void *)(t + j - 1))),
            vt);
        if (values)
            o = _mm256_or_si256(
                o,
                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(v + j)), vp));
        if (!_mm256_testz_si256(o, o))
            break;
    }
    return j;
}

/* run_end's four-at-a-time loop (see run_end). */
__attribute__((target("avx2"))) static size_t
run_end_avx2(const int64_t *t, const double *v, size_t j, size_t n, uint64_t prev, uint64_t td)
{
    return scan_avx2(t, v, j, n, prev, td, 1);
}
#endif

/* Where a run from sample j >= 1 ends: the first sample from j on whose value is not prev or
 * whose delta is not td. Four at a time while all four are (one test for the four). */
static inline size_t run_end(const int64_t *t, const double *v, size_t j, size_t n, uint64_t prev,
                             uint64_t td)
{
#ifdef LANES4_AVX2
    if (use_vector && __builtin_cpu_supports("avx2"))
        j = run_end_avx2(t, v, j, n, prev, td);
#endif
    for (; j + 4 <= n; j += 4) {
        uint64_t d = 0;
        for (size_t q = j; q < j + 4; q++)
            d |= (dbl_bits(v[q]) ^ prev) | ((uint64_t)t[q] - (uint64_t)t[q - 1] - td);
        if (d)
            break;
    }
    while (j < n && dbl_bits(v[j]) == prev && (uint64_t)t[j] - (uint64_t)t[j - 1] == td)
        j++;
    return j;
}

/* Samples i..n-1 into K lanes (K and runs constants at every call); *prev_t and *tdelta hold
 * the timestamp state before sample i, and after the last on return. With runs (one lane), a
 * run of samples on the same delta with the same value is written at once: only where the
 * caller expects them, as the check costs the plain loop its registers. */
static inline __attribute__((always_inline)) void lanes_run(lane *L, const size_t K, const int runs,
                                                            const double *const *vp,
                                                            const int64_t *t, size_t i, size_t n,
                                                            int64_t *prev_t, int64_t *tdelta)
{
    int64_t pt = *prev_t, td0 = *tdelta;
    for (; i < n; i++) {
        int64_t td, dod;
        uint64_t head;
        unsigned hlen = sample_dod(t[i], pt, td0, &td, &dod, &head);
        if (K == 1 && runs && hlen == 1 && dbl_bits(vp[0][i]) == L[0].prev) {
            /* a run: two zero bits a sample */
            size_t j = run_end(t, vp[0], i + 1, n, L[0].prev, (uint64_t)td0);
            size_t c = L[0].r + 2 * (j - i);
            memset(L[0].p + 1, 0, c >> 3); /* the byte holding the next bit is zero after it */
            L[0].p += c >> 3;
            L[0].r = (unsigned)(c & 7);
            pt = t[j - 1];
            i = j - 1;
            continue;
        }
        if (__builtin_expect(hlen == 0, 0)) {
#pragma GCC unroll 4
            for (size_t j = 0; j < K; j++)
                lane_field(&L[j], 0xFull << 60, 4, (uint64_t)dod, 64);
            head = 0;
        }
#pragma GCC unroll 4
        for (size_t j = 0; j < K; j++)
            lane_value(&L[j], head, hlen, dbl_bits(vp[j][i]));
        pt = t[i];
        td0 = td;
    }
    *prev_t = pt;
    *tdelta = td0;
}

#ifdef LANES4_AVX2
/* ---- four lanes in one AVX2 vector ----
 *
 * lanes_run(L, 4, ...) with each lane's state in one 64-bit element: the value fields of the
 * four chunks are worked out together, with no branch on a value. Every case of the field is
 * computed and the lane's own picked by mask (the scalar loop's case branches mispredict on
 * noisy gauges; here nothing does), so the bits written are the scalar loop's, field by field.
 *
 * The window's leading zeros need only be exact up to 31 (the clamp): the high 32 bits of x go
 * through a double (or-ing them into the mantissa of 2^52 and subtracting 2^52 gives the exact
 * double, whose exponent is 1023 + their log2, or 0 for none), and 1054 - exponent, clamped to
 * 31, is the clamped count. The trailing zeros are the log2 of x's lowest set bit, found the same
 * way on the half that holds it, plus 32 for the high half.
 *
 * The byte holding the next bit is kept in a register (pend, left-aligned) rather than read
 * back; each field is two big-endian 64-bit stores per lane, as lane_field. A variable shift by
 * 64 or more gives zero, which picks the next pend out of the field's two words with no branch.
 */
typedef struct vstate {
    __m256i p, r, pend, wl, ws, out, prev;
} vstate;

__attribute__((target("avx2"))) static inline __m256i vset(uint64_t a, uint64_t b, uint64_t c,
                                                           uint64_t d)
{
    return _mm256_setr_epi64x((long long)a, (long long)b, (long long)c, (long long)d);
}

/* The field of plen bits left-aligned in pre, then sig bits left-aligned in bits, per lane. */
__attribute__((target("avx2"))) static inline void vfield(vstate *s, __m256i pre, __m256i plen,
                                                          __m256i bits, __m256i sig)
{
    const __m256i bswap = _mm256_setr_epi8(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8, 7,
                                           6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
    __m256i c = _mm256_add_epi64(s->r, plen);
    __m256i w0 = _mm256_or_si256(_mm256_or_si256(s->pend, _mm256_srlv_epi64(pre, s->r)),
                                 _mm256_srlv_epi64(bits, c));
    __m256i w1 = _mm256_sllv_epi64(bits, _mm256_sub_epi64(_mm256_set1_epi64x(64), c));
    __m256i total = _mm256_add_epi64(c, sig);
    __m256i nb = _mm256_srli_epi64(total, 3), sh = _mm256_slli_epi64(nb, 3);
    s->r = _mm256_and_si256(total, _mm256_set1_epi64x(7));
    /* each lane's two words, byte-swapped, side by side: one 16-byte store a lane */
    __m256i b0 = _mm256_shuffle_epi8(w0, bswap), b1 = _mm256_shuffle_epi8(w1, bswap);
    __m256i q02 = _mm256_unpacklo_epi64(b0, b1), q13 = _mm256_unpackhi_epi64(b0, b1);
    __m128i pl = _mm256_castsi256_si128(s->p), ph = _mm256_extracti128_si256(s->p, 1);
    uint8_t *p0 = (uint8_t *)(uintptr_t)_mm_cvtsi128_si64(pl);
    uint8_t *p1 = (uint8_t *)(uintptr_t)_mm_extract_epi64(pl, 1);
    uint8_t *p2 = (uint8_t *)(uintptr_t)_mm_cvtsi128_si64(ph);
    uint8_t *p3 = (uint8_t *)(uintptr_t)_mm_extract_epi64(ph, 1);
    _mm_storeu_si128((__m128i *)(void *)p0, _mm256_castsi256_si128(q02));
    _mm_storeu_si128((__m128i *)(void *)p1, _mm256_castsi256_si128(q13));
    _mm_storeu_si128((__m128i *)(void *)p2, _mm256_extracti128_si256(q02, 1));
    _mm_storeu_si128((__m128i *)(void *)p3, _mm256_extracti128_si256(q13, 1));
    /* the byte the field ended in: byte nb of w0 w1 (a shift by 64 or more is zero) */
    s->pend = _mm256_and_si256(
        _mm256_or_si256(_mm256_sllv_epi64(w0, sh),
                        _mm256_sllv_epi64(w1, _mm256_sub_epi64(sh, _mm256_set1_epi64x(64)))),
        _mm256_set1_epi64x((long long)0xFF00000000000000ull));
    s->p = _mm256_add_epi64(s->p, nb);
}

/* floor(log2) of the low 32 bits of each element as 1023 + log2, 0 for none. */
__attribute__((target("avx2"))) static inline __m256i vexp32(__m256i x)
{
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);
    const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
    __m256d d = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(x, magic)), two52);
    return _mm256_srli_epi64(_mm256_castpd_si256(d), 52);
}

/* Sample i of the four lanes' values. */
__attribute__((target("avx2"))) static inline __m256i
lane4_load(const double *v0, const double *v1, const double *v2, const double *v3, size_t i)
{
    return _mm256_castpd_si256(_mm256_set_m128d(_mm_loadh_pd(_mm_load_sd(v2 + i), v3 + i),
                                                _mm_loadh_pd(_mm_load_sd(v0 + i), v1 + i)));
}

/* The value fields of the four lanes' values vb, each after the dod field: its hlen bits (hl)
 * left-aligned in head; bit is the control bit 1 just after them. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
lane4_value(vstate *s, __m256i vb, __m256i hl, __m256i head, __m256i bit)
{
    const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi64x(-1);
    const __m256i lo32 = _mm256_set1_epi64x(0xFFFFFFFFll);
    __m256i x = _mm256_xor_si256(vb, s->prev);
    s->prev = vb;
    __m256i z = _mm256_cmpeq_epi64(x, zero);
    __m256i ru = _mm256_cmpeq_epi64(_mm256_and_si256(x, s->out), zero); /* z or reuse */
    /* a new window's clamped leading and trailing zeros, significant bits and control */
    __m256i hi = _mm256_srli_epi64(x, 32);
    __m256i lead = _mm256_min_epu32(_mm256_sub_epi64(_mm256_set1_epi64x(1054), vexp32(hi)),
                                    _mm256_set1_epi64x(31));
    __m256i low = _mm256_and_si256(x, _mm256_sub_epi64(zero, x));
    __m256i lowhi = _mm256_srli_epi64(low, 32);
    __m256i trail = _mm256_add_epi64(
        _mm256_sub_epi64(vexp32(_mm256_and_si256(_mm256_or_si256(low, lowhi), lo32)),
                         _mm256_set1_epi64x(1023)),
        _mm256_andnot_si256(_mm256_cmpeq_epi64(lowhi, zero), _mm256_set1_epi64x(32)));
    __m256i sig = _mm256_sub_epi64(_mm256_sub_epi64(_mm256_set1_epi64x(64), lead), trail);
    __m256i ctl = _mm256_or_si256(
        _mm256_or_si256(_mm256_set1_epi64x((long long)(3ull << 62)), _mm256_slli_epi64(lead, 57)),
        _mm256_slli_epi64(_mm256_and_si256(sig, _mm256_set1_epi64x(63)), 51));
    __m256i nout = _mm256_xor_si256(
        _mm256_and_si256(_mm256_srlv_epi64(ones, lead), _mm256_sllv_epi64(ones, trail)), ones);
    /* the field: the dod prefix, then 0 | 10 + window bits | 11 + header + bits */
    __m256i pre = _mm256_or_si256(
        head, _mm256_blendv_epi8(_mm256_srlv_epi64(ctl, hl), _mm256_andnot_si256(z, bit), ru));
    __m256i plen =
        _mm256_add_epi64(hl, _mm256_blendv_epi8(_mm256_set1_epi64x(13),
                                                _mm256_add_epi64(_mm256_set1_epi64x(2), z), ru));
    s->wl = _mm256_blendv_epi8(lead, s->wl, ru);
    s->ws = _mm256_blendv_epi8(sig, s->ws, ru);
    s->out = _mm256_blendv_epi8(nout, s->out, ru);
    vfield(s, pre, plen, _mm256_sllv_epi64(x, s->wl), _mm256_andnot_si256(z, s->ws));
}

__attribute__((target("avx2"))) static void lanes4_avx2(lane *L, const double *const *vp,
                                                        const int64_t *t, size_t i, size_t n,
                                                        int64_t *prev_t, int64_t *tdelta)
{
    const __m256i zero = _mm256_setzero_si256();
    vstate s;
    s.p = vset((uintptr_t)L[0].p, (uintptr_t)L[1].p, (uintptr_t)L[2].p, (uintptr_t)L[3].p);
    s.r = vset(L[0].r, L[1].r, L[2].r, L[3].r);
    s.pend = vset((uint64_t)L[0].p[0] << 56, (uint64_t)L[1].p[0] << 56, (uint64_t)L[2].p[0] << 56,
                  (uint64_t)L[3].p[0] << 56);
    s.wl = vset(L[0].wl, L[1].wl, L[2].wl, L[3].wl);
    s.ws = vset(L[0].ws, L[1].ws, L[2].ws, L[3].ws);
    s.out = vset(L[0].out, L[1].out, L[2].out, L[3].out);
    s.prev = vset(L[0].prev, L[1].prev, L[2].prev, L[3].prev);
    const double *v0 = vp[0], *v1 = vp[1], *v2 = vp[2], *v3 = vp[3];
    int64_t pt = *prev_t, td0 = *tdelta;
    /* Samples on the delta before them (window stamps are): their dod field is the bit 0, so
     * the loop for them takes it as a constant. The rest go one by one as the dods say. */
    size_t reg = i;
    if (i < n && (uint64_t)t[i] - (uint64_t)pt == (uint64_t)td0) {
        reg = scan_avx2(t, NULL, i + 1, n, 0, (uint64_t)td0, 0);
        while (reg < n && (uint64_t)t[reg] - (uint64_t)t[reg - 1] == (uint64_t)td0)
            reg++;
        const __m256i hl = _mm256_set1_epi64x(1), bit = _mm256_set1_epi64x(1ll << 62);
        for (; i < reg; i++)
            lane4_value(&s, lane4_load(v0, v1, v2, v3, i), hl, zero, bit);
        pt = t[reg - 1];
    }
    for (; i < n; i++) {
        int64_t td, dod;
        uint64_t head;
        unsigned hlen = sample_dod(t[i], pt, td0, &td, &dod, &head);
        if (__builtin_expect(hlen == 0, 0)) {
            vfield(&s, _mm256_set1_epi64x((long long)(0xFull << 60)), _mm256_set1_epi64x(4),
                   _mm256_set1_epi64x(dod), _mm256_set1_epi64x(64));
            head = 0;
        }
        lane4_value(&s, lane4_load(v0, v1, v2, v3, i), _mm256_set1_epi64x(hlen),
                    _mm256_set1_epi64x((long long)head),
                    _mm256_set1_epi64x((long long)((1ull << 63) >> hlen)));
        pt = t[i];
        td0 = td;
    }
    uint64_t p[4], r[4], wl[4], ws[4], out[4], prev[4];
    _mm256_storeu_si256((__m256i *)(void *)p, s.p);
    _mm256_storeu_si256((__m256i *)(void *)r, s.r);
    _mm256_storeu_si256((__m256i *)(void *)wl, s.wl);
    _mm256_storeu_si256((__m256i *)(void *)ws, s.ws);
    _mm256_storeu_si256((__m256i *)(void *)out, s.out);
    _mm256_storeu_si256((__m256i *)(void *)prev, s.prev);
    for (int j = 0; j < 4; j++)
        L[j] = (lane){(uint8_t *)(uintptr_t)p[j],
                      (unsigned)r[j],
                      (unsigned)wl[j],
                      (unsigned)ws[j],
                      out[j],
                      prev[j]};
    *prev_t = pt;
    *tdelta = td0;
}
#endif

/* Where a chunk can need its bytes for n more samples: samples 0 and 1 (a 10-byte varint,
 * 8 bytes, a 10-byte uvarint and a 77-bit value field), at most 145 bits for each later one,
 * and the 16 bytes a field's stores cover. */
static size_t batch_room(size_t n)
{
    return HEADER_SIZE + 2 * CODEC_MAX_VARINT_LEN + 8 + 10 + (n * 145 + 7) / 8 + 16;
}

/* n >= 1 samples into k encoders (1 <= k <= CODEC_XOR_SHARED_MAX) with the same last timestamp
 * and delta, holding the same number of samples or at least two each (a lane's count only
 * matters for its first two samples), room for n more. */
static int append_lanes(codec_xor_enc *const *e, size_t k, const int64_t *t, const double *const *v,
                        size_t n, int runs)
{
    assert(n >= 1 && k >= 1 && k <= CODEC_XOR_SHARED_MAX);
    /* All the room first: a failed call leaves every chunk as it was. */
    for (size_t j = 0; j < k; j++) {
        int rc = st_buf_reserve(&e[j]->b, batch_room(n));
        if (rc)
            return rc;
    }
    size_t have = e[0]->n, i = 0, had[CODEC_XOR_SHARED_MAX];
    for (size_t j = 0; j < k; j++)
        had[j] = e[j]->n;
    int64_t prev_t = e[0]->t, tdelta = e[0]->tdelta;
    lane L[CODEC_XOR_SHARED_MAX];
    const double *vp[CODEC_XOR_SHARED_MAX];
    for (size_t j = 0; j < k; j++)
        vp[j] = v[j];

    if (have == 0) {
        uint8_t lead[HEADER_SIZE + 2 * CODEC_MAX_VARINT_LEN + 8];
        size_t m = HEADER_SIZE;
        lead[0] = lead[1] = 0;
        m += codec_put_varint(lead + m, t[0]);
        size_t vat = m;
        m += 8;
        tdelta = 0;
        if (n > 1) {
            tdelta = (int64_t)((uint64_t)t[1] - (uint64_t)t[0]);
            m += codec_put_uvarint(lead + m, (uint64_t)tdelta);
        }
        prev_t = t[0];
        for (size_t j = 0; j < k; j++) {
            uint8_t *p = e[j]->b.p;
            uint64_t vb = dbl_bits(vp[j][0]);
            memcpy(p, lead, m);
            codec_put_be64(p + vat, vb);
            p[m] = 0;
            L[j] = (lane){p + m, 0, 0, 0, ~0ull, vb};
        }
        i = 1;
        if (n > 1) {
            for (size_t j = 0; j < k; j++)
                lane_value(&L[j], 0, 0, dbl_bits(vp[j][1]));
            prev_t = t[1];
            i = 2;
        }
    } else {
        if (have == 1) {
            /* the room is there: this cannot fail */
            for (size_t j = 0; j < k; j++) {
                int rc = codec_xor_enc_append(e[j], t[0], vp[j][0]);
                assert(rc == 0);
                (void)rc;
                vp[j]++;
            }
            if (--n == 0)
                return 0;
            t++;
            for (size_t j = 0; j < k; j++)
                had[j] = 2;
            prev_t = e[0]->t;
            tdelta = e[0]->tdelta;
        }
        for (size_t j = 0; j < k; j++) {
            const codec_xor_enc *x = e[j];
            uint64_t pos = (uint64_t)x->b.len * 8 - x->free_bits;
            L[j] = (lane){x->b.p + pos / 8, (unsigned)(pos & 7), 0, 0, ~0ull, x->v};
            *L[j].p &= (uint8_t)(0xFF00u >> L[j].r);
            if (x->leading != 0xFF) {
                L[j].wl = x->leading;
                L[j].ws = 64u - x->leading - x->trailing;
                L[j].out = ~((~0ull >> x->leading) & (~0ull << x->trailing));
            }
        }
    }

    switch (k) {
    case 1:
        if (runs)
            lanes_run(L, 1, 1, vp, t, i, n, &prev_t, &tdelta);
        else
            lanes_run(L, 1, 0, vp, t, i, n, &prev_t, &tdelta);
        break;
    case 2:
        lanes_run(L, 2, 0, vp, t, i, n, &prev_t, &tdelta);
        break;
    case 3:
        lanes_run(L, 3, 0, vp, t, i, n, &prev_t, &tdelta);
        break;
    default:
#ifdef LANES4_AVX2
        if (use_vector && __builtin_cpu_supports("avx2")) {
            lanes4_avx2(L, vp, t, i, n, &prev_t, &tdelta);
            break;
        }
#endif
        lanes_run(L, 4, 0, vp, t, i, n, &prev_t, &tdelta);
        break;
    }

    for (size_t j = 0; j < k; j++) {
        codec_xor_enc *x = e[j];
        uint8_t *base = x->b.p;
        uint64_t pos = (uint64_t)(L[j].p - base) * 8 + L[j].r;
        /* the last field ended with a whole byte: sample 0's value, or a value field with a
         * multiple of 8 significant bits */
        uint64_t before = n >= 2 ? dbl_bits(vp[j][n - 2]) : x->v;
        int whole = had[j] + n == 1 || (L[j].prev != before && L[j].ws % 8 == 0);
        unsigned r = (unsigned)(pos & 7);
        unsigned free_bits = whole ? 8 - r : (8 - r) & 7;
        x->b.len = (size_t)((pos + free_bits) / 8);
        x->free_bits = (uint8_t)free_bits;
        assert(x->b.len + 1 < x->b.cap);
        x->n = (uint16_t)(had[j] + n);
        x->t = prev_t;
        x->tdelta = tdelta;
        x->v = L[j].prev;
        x->leading = (uint8_t)(L[j].out == ~0ull ? 0xFF : L[j].wl);
        x->trailing = (uint8_t)(L[j].out == ~0ull ? 0 : 64 - L[j].wl - L[j].ws);
        codec_put_be16(base, x->n);
    }
    return 0;
}

void codec_xor_enc_vector(int on)
{
    use_vector = on;
}

/* Past the sample cap the samples go one at a time, up to the ST_ETOOBIG of the one past it. */
static int append_batch(codec_xor_enc *e, const int64_t *t, const double *v, size_t n, int runs)
{
    if (n > (size_t)(CODEC_XOR_MAX_SAMPLES - e->n)) {
        int rc = 0;
        for (size_t i = 0; i < n && !rc; i++)
            rc = codec_xor_enc_append(e, t[i], v[i]);
        return rc;
    }
    return n ? append_lanes(&e, 1, t, &v, n, runs) : 0;
}

int codec_xor_enc_append_batch(codec_xor_enc *e, const int64_t *t, const double *v, size_t n)
{
    return append_batch(e, t, v, n, 0);
}

int codec_xor_enc_append_batch_repeats(codec_xor_enc *e, const int64_t *t, const double *v,
                                       size_t n)
{
    return append_batch(e, t, v, n, 1);
}

int codec_xor_enc_append_batch_shared(codec_xor_enc *const *e, size_t k, const int64_t *t,
                                      const double *const *v, size_t n)
{
    if (k == 0 || k > CODEC_XOR_SHARED_MAX)
        return ST_EINVAL;
    int same = 1;
    for (size_t j = 0; j < k; j++)
        same &= n <= (size_t)(CODEC_XOR_MAX_SAMPLES - e[j]->n) && e[j]->t == e[0]->t &&
                e[j]->tdelta == e[0]->tdelta &&
                (e[j]->n == e[0]->n || (e[j]->n >= 2 && e[0]->n >= 2));
    if (!same) {
        /* past the sample cap, or chunks whose timestamps differ: one at a time */
        int rc = 0;
        for (size_t j = 0; j < k; j++) {
            int r = codec_xor_enc_append_batch(e[j], t, v[j], n);
            rc = rc ? rc : r;
        }
        return rc;
    }
    return n ? append_lanes(e, k, t, v, n, 0) : 0;
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
