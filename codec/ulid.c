/*
 * ulid.c - block identifiers: 128-bit ULIDs written as 26 Crockford base32 characters, a 48-bit
 * millisecond timestamp followed by 80 random bits (block format §1). Parsing follows
 * oklog/ulid's strict parse, which Prometheus uses for block directory names: the decode table
 * accepts upper and lower case letters (no I, L, O, U aliases), and the first character may not
 * exceed '7' because 26 characters hold 130 bits.
 */
#include "codec.h"

/* Layout of the 16 bytes behind the text:
 *   offset size
 *        0    6  BE48 Unix time in ms
 *        6   10  randomness
 * The text is the 128 bits, most significant first, in 26 groups of 5 bits where the first
 * group holds only the top 3 bits (so it is '0'..'7'). */
#define ULID_BYTES 16
_Static_assert(CODEC_ULID_LEN * 5 == 128 + 2, "26 base32 characters hold 128 bits plus 2");

static const char alphabet[33] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Value of a base32 character, or -1. Case-insensitive like oklog/ulid's table. */
static int digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        c = (unsigned char)(c - 'a' + 'A');
    if (c < 'A' || c > 'Z')
        return -1;
    for (int i = 10; i < 32; i++)
        if (alphabet[i] == (char)c)
            return i;
    return -1;
}

static void encode(const uint8_t id[ULID_BYTES], char out[CODEC_ULID_LEN + 1])
{
    /* Walk the 130-bit big-endian number (two leading zero bits, then the 128) in 5-bit
     * groups. */
    for (int i = 0; i < CODEC_ULID_LEN; i++) {
        int bit = i * 5 - 2; /* position of the group's top bit within the 128 bits */
        unsigned v = 0;
        for (int k = 0; k < 5; k++) {
            int b = bit + k;
            v <<= 1;
            if (b >= 0)
                v |= (id[b / 8] >> (7 - b % 8)) & 1u;
        }
        out[i] = alphabet[v];
    }
    out[CODEC_ULID_LEN] = '\0';
}

int codec_ulid_new(codec_ulid *out, int64_t ms)
{
    uint8_t id[ULID_BYTES];
    if (ms < 0 || (uint64_t)ms > 0xFFFFFFFFFFFFull)
        return ST_EINVAL;
    for (int i = 0; i < 6; i++)
        id[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
    if (st_random(id + 6, ULID_BYTES - 6) != 0)
        return ST_EIO;
    encode(id, out->s);
    return 0;
}

int codec_ulid_valid(const char *s, size_t len)
{
    if (!s || len != CODEC_ULID_LEN)
        return 0;
    if ((unsigned char)s[0] > '7')
        return 0;
    for (size_t i = 0; i < CODEC_ULID_LEN; i++)
        if (digit((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

int codec_ulid_time(const char *s, int64_t *ms)
{
    /* The time is the first 48 of the 128 bits: characters 0..9 hold the top 2 + 48 bits. */
    if (!s || !codec_ulid_valid(s, strnlen(s, CODEC_ULID_LEN + 1)))
        return ST_EINVAL;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++)
        v = (v << 5) | (uint64_t)digit((unsigned char)s[i]);
    *ms = (int64_t)v;
    return 0;
}
