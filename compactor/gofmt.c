/*
 * gofmt.c - output that matches Go's: fmt's %g for float64 (shortest digits that round-trip,
 * exponent form when the exponent is < -4 or >= 6, at least two exponent digits) and
 * strconv.Quote for label values, so `strata dump` prints what `promtool tsdb dump` prints.
 */
#include "compactor_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shortest decimal digits of v (> 0, finite) that parse back to v: digits in d (no dot),
 * returns their count, *exp10 is the exponent of the first digit. */
static int shortest_digits(double v, char *d, int *exp10)
{
    char tmp[40];
    /* integers below 2^53 are exact: their digits minus trailing zeros are the answer */
    if (v < 9007199254740992.0 && v == floor(v)) {
        int n = snprintf(tmp, sizeof(tmp), "%.0f", v);
        *exp10 = n - 1;
        while (n > 1 && tmp[n - 1] == '0')
            n--;
        memcpy(d, tmp, (size_t)n);
        return n;
    }
    /* the correctly rounded p-digit form round-trips for every p from the shortest up, so a
     * binary search over p finds the shortest */
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(tmp, sizeof(tmp), "%.*e", mid - 1, v);
        if (strtod(tmp, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", lo - 1, v);
    int n = 0;
    const char *c = tmp;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            d[n++] = *c;
    *exp10 = atoi(c + 1);
    while (n > 1 && d[n - 1] == '0')
        n--;
    return n;
}

size_t gofmt_float(char *out, double v)
{
    if (isnan(v))
        return (size_t)sprintf(out, "NaN");
    if (isinf(v))
        return (size_t)sprintf(out, v > 0 ? "+Inf" : "-Inf");
    size_t o = 0;
    if (signbit(v)) {
        out[o++] = '-';
        v = -v;
    }
    if (v == 0) {
        out[o++] = '0';
        out[o] = '\0';
        return o;
    }
    char d[24];
    int exp10;
    int nd = shortest_digits(v, d, &exp10);
    if (exp10 < -4 || exp10 >= 6) {
        out[o++] = d[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, d + 1, (size_t)nd - 1);
            o += (size_t)nd - 1;
        }
        o += (size_t)sprintf(out + o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        return o;
    }
    if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            out[o++] = '0';
        memcpy(out + o, d, (size_t)nd);
        o += (size_t)nd;
    } else {
        for (int i = 0; i <= exp10; i++)
            out[o++] = i < nd ? d[i] : '0';
        if (nd > exp10 + 1) {
            out[o++] = '.';
            memcpy(out + o, d + exp10 + 1, (size_t)(nd - exp10 - 1));
            o += (size_t)(nd - exp10 - 1);
        }
    }
    out[o] = '\0';
    return o;
}

/* Decode one UTF-8 rune as Go does; returns its length, or 0 for an invalid byte. */
static size_t utf8_rune(const unsigned char *s, size_t n, uint32_t *r)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *r = c;
        return 1;
    }
    size_t len;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        *r = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        *r = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        *r = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *r = (*r << 6) | (s[i] & 0x3F);
    }
    if (*r < min || *r > 0x10FFFF || (*r >= 0xD800 && *r <= 0xDFFF))
        return 0;
    return len;
}

/* Go's unicode.IsPrint for runes >= 0x80, covering the categories that matter in label values:
 * controls, separators and format characters, private use and non-characters are escaped.
 * Unassigned code points are treated as printable (Go escapes them). */
static int rune_printable(uint32_t r)
{
    static const uint32_t nonprint[][2] = {
        {0x80, 0xA0},     {0xAD, 0xAD},       {0x600, 0x605},     {0x61C, 0x61C},
        {0x6DD, 0x6DD},   {0x70F, 0x70F},     {0x1680, 0x1680},   {0x180E, 0x180E},
        {0x2000, 0x200F}, {0x2028, 0x202F},   {0x205F, 0x2064},   {0x2066, 0x206F},
        {0x3000, 0x3000}, {0xD800, 0xF8FF},   {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},
        {0xFFFE, 0xFFFF}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xF0000, 0x10FFFF},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(nonprint); i++)
        if (r >= nonprint[i][0] && r <= nonprint[i][1])
            return 0;
    if ((r & 0xFFFE) == 0xFFFE)
        return 0;
    return 1;
}

int gofmt_quote(st_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = st_buf_reserve(b, n + 2);
    if (rc)
        return rc;
    rc = st_buf_putc(b, '"');
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (!rc && i < n) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            rc = st_buf_putc(b, c);
            i++;
            continue;
        }
        char esc[12];
        size_t el = 0;
        uint32_t r;
        size_t len = c < 0x80 ? 1 : utf8_rune(u + i, n - i, &r);
        if (c < 0x80) {
            esc[0] = '\\';
            el = 2;
            switch (c) {
            case '"':
                esc[1] = '"';
                break;
            case '\\':
                esc[1] = '\\';
                break;
            case '\a':
                esc[1] = 'a';
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            case '\v':
                esc[1] = 'v';
                break;
            default:
                esc[1] = 'x';
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                el = 4;
            }
            rc = st_buf_append(b, esc, el);
            i++;
        } else if (len == 0) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            rc = st_buf_append(b, esc, 4);
            i++;
        } else if (rune_printable(r)) {
            rc = st_buf_append(b, u + i, len);
            i += len;
        } else {
            if (r < 0x10000)
                el = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", r);
            else
                el = (size_t)snprintf(esc, sizeof(esc), "\\U%08x", r);
            rc = st_buf_append(b, esc, el);
            i += len;
        }
    }
    if (!rc)
        rc = st_buf_putc(b, '"');
    return rc;
}

int gofmt_labels(st_buf *b, const codec_label *l, uint32_t n)
{
    int rc = st_buf_putc(b, '{');
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (i > 0)
            rc = st_buf_append(b, ", ", 2);
        if (!rc)
            rc = st_buf_append(b, l[i].name.p, l[i].name.len);
        if (!rc)
            rc = st_buf_putc(b, '=');
        if (!rc)
            rc = gofmt_quote(b, l[i].value.p, l[i].value.len);
    }
    if (!rc)
        rc = st_buf_putc(b, '}');
    return rc;
}
