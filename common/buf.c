/*
 * buf.c - growable byte buffers with a hard cap (curl's dynbuf): init cannot fail, growth
 * doubles, and an append past the cap fails cleanly instead of eating the machine.
 */
#include "common.h"

#include <stdio.h>
#include <string.h>

void st_buf_init(st_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

void st_buf_release(st_buf *b)
{
    st_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void st_buf_reset(st_buf *b)
{
    b->len = 0;
}

int st_buf_reserve(st_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return ST_ETOOBIG;
    size_t need = b->len + extra + 1; /* room for a terminator */
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap *= 2;
    uint8_t *np = st_realloc(b->p, ncap);
    if (!np)
        return ST_ENOMEM;
    b->p = np;
    b->cap = ncap;
    return 0;
}

int st_buf_append(st_buf *b, const void *p, size_t n)
{
    int rc = st_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int st_buf_putc(st_buf *b, uint8_t c)
{
    if (b->len + 1 < b->cap) {
        b->p[b->len++] = c;
        return 0;
    }
    return st_buf_append(b, &c, 1);
}

int st_buf_printf(st_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ST_EINVAL;
    int rc = st_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *st_buf_cstr(st_buf *b)
{
    if (st_buf_reserve(b, 0))
        return NULL;
    b->p[b->len] = '\0';
    return (const char *)b->p;
}
