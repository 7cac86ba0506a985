/*
 * crc32c.c - CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF), the checksum of chunk records, index sections and tombstones (format notes §0).
 * Two implementations that must agree bit for bit: a portable slicing-by-8 table version and
 * the SSE4.2 crc32 instruction (three streams at once on long buffers). codec_crc32c picks one
 * once, at first use. The functions chain like zlib's crc32: pass the previous result (0 to start)
 * as `crc`.
 */
#include "codec.h"

#include <pthread.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define POLY 0x82F63B78u

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* table[k][b]: the CRC register after byte b is followed by k zero bytes. */
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            table[k][i] = (table[k - 1][i] >> 8) ^ table[0][table[k - 1][i] & 0xFF];
}

static inline uint32_t sw_byte(uint32_t c, uint8_t b)
{
    return table[0][(c ^ b) & 0xFF] ^ (c >> 8);
}

uint32_t codec_crc32c_sw(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    uint32_t c = ~crc;

    pthread_once(&table_once, table_build);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Slicing-by-8 needs the eight bytes as a little-endian word. */
    while (n && ((uintptr_t)p & 7)) {
        c = sw_byte(c, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = table[7][w & 0xFF] ^ table[6][(w >> 8) & 0xFF] ^ table[5][(w >> 16) & 0xFF] ^
            table[4][(w >> 24) & 0xFF] ^ table[3][(w >> 32) & 0xFF] ^ table[2][(w >> 40) & 0xFF] ^
            table[1][(w >> 48) & 0xFF] ^ table[0][w >> 56];
        p += 8;
        n -= 8;
    }
#endif
    while (n--)
        c = sw_byte(c, *p++);
    return ~c;
}

#if defined(__x86_64__)

/*
 * The crc32 instruction takes 3 cycles and can start one a cycle: one running CRC leaves two
 * thirds of the unit idle. Long buffers go as three streams side by side, each its own CRC of a
 * third of a block, joined after the block: the CRC register is linear over GF(2), so the register
 * after streams a, b, c is shift(shift(ra, L) ^ rb, L) ^ rc, where ra starts from the running
 * register, rb and rc from zero, and shift(r, L) is r after L zero bytes: a linear map of 32 bits,
 * applied as four table lookups (one per byte of r). Blocks of 3 x 2 KiB, then of 3 x 128 bytes;
 * chunk records shorter than 384 bytes take the plain loop.
 */
#define STREAM_LONG  2048
#define STREAM_SHORT 128

/* shift_tab[s][k][b]: shift(b << 8k, STREAM_LONG or STREAM_SHORT) */
static uint32_t shift_tab[2][4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static void shift_build(void)
{
    static const size_t len[2] = {STREAM_LONG, STREAM_SHORT};
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 4; k++)
            for (uint32_t b = 0; b < 256; b++) {
                uint64_t r = (uint64_t)b << (8 * k);
                for (size_t i = 0; i < len[s] / 8; i++)
                    r = _mm_crc32_u64(r, 0);
                shift_tab[s][k][b] = (uint32_t)r;
            }
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t r)
{
    return t[0][r & 0xFF] ^ t[1][(r >> 8) & 0xFF] ^ t[2][(r >> 16) & 0xFF] ^ t[3][r >> 24];
}

/* Blocks of three streams of len bytes (a multiple of 8) while they fit. */
__attribute__((target("sse4.2"))) static inline uint64_t
streams3(uint64_t c, const uint8_t **pp, size_t *np, size_t len, const uint32_t t[4][256])
{
    const uint8_t *p = *pp;
    size_t n = *np;
    while (n >= 3 * len) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < len; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p + len + i, 8);
            memcpy(&w2, p + 2 * len + i, 8);
            c = _mm_crc32_u64(c, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        c = shift(t, shift(t, (uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * len;
        n -= 3 * len;
    }
    *pp = p;
    *np = n;
    return c;
}

/* The target attribute keeps this compiling if the file is ever built without -msse4.2. */
__attribute__((target("sse4.2"))) uint32_t codec_crc32c_hw(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    uint64_t c = (uint32_t)~crc;

    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    if (n >= 3 * STREAM_SHORT) {
        pthread_once(&shift_once, shift_build);
        c = streams3(c, &p, &n, STREAM_LONG, shift_tab[0]);
        c = streams3(c, &p, &n, STREAM_SHORT, shift_tab[1]);
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

int codec_crc32c_hw_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

#else

/* No hardware path on this architecture: callers check _hw_available() first, but stay correct
 * if they do not. */
uint32_t codec_crc32c_hw(uint32_t crc, const void *buf, size_t n)
{
    return codec_crc32c_sw(crc, buf, n);
}

int codec_crc32c_hw_available(void)
{
    return 0;
}

#endif

static crc_fn impl;
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

static void impl_pick(void)
{
    impl = codec_crc32c_hw_available() ? codec_crc32c_hw : codec_crc32c_sw;
}

uint32_t codec_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&impl_once, impl_pick);
    return impl(crc, p, n);
}
