/*
 * crc32c.c - CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF), the checksum of chunk records, index sections and tombstones (format notes §0).
 * Two implementations that must agree bit for bit: a portable slicing-by-8 table version and
 * the SSE4.2 crc32 instruction. codec_crc32c picks one once, at first use. The functions chain
 * like zlib's crc32: pass the previous result (0 to start) as `crc`.
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

/* The target attribute keeps this compiling if the file is ever built without -msse4.2. */
__attribute__((target("sse4.2"))) uint32_t codec_crc32c_hw(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    uint64_t c = (uint32_t)~crc;

    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
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
