/*
 * err.c - error codes and the error detail carried by handles. The first error recorded on an
 * st_err wins, so the innermost, most precise message survives as the error travels outward.
 */
#include "common.h"

#include <stdio.h>
#include <string.h>

void st_err_init(st_err *e)
{
    e->code = 0;
    e->msg[0] = '\0';
}

int st_err_vset(st_err *e, int code, const char *fmt, va_list ap)
{
    if (!e || e->code != 0)
        return code;
    e->code = code;
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return code;
}

int st_err_set(st_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st_err_vset(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int st_err_copy(st_err *dst, const st_err *src)
{
    if (dst && dst->code == 0 && src->code != 0) {
        dst->code = src->code;
        memcpy(dst->msg, src->msg, sizeof(dst->msg));
    }
    return src->code;
}

int st_err_corrupt(st_err *e, int code, const char *file, uint64_t off, const char *src, int line,
                   const char *fmt, ...)
{
    char what[320];
    va_list ap;
    if (!e || e->code != 0)
        return code;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const char *base = strrchr(src, '/');
    return st_err_set(e, code, "%s: %s at offset %llu: %s (%s:%d)", st_strerror(code),
                      file ? file : "?", (unsigned long long)off, what, base ? base + 1 : src,
                      line);
}

const char *st_strerror(int code)
{
    switch (code) {
    case ST_OK:
        return "ok";
    case ST_ENOMEM:
        return "out of memory";
    case ST_EIO:
        return "I/O error";
    case ST_ENOTFOUND:
        return "not found";
    case ST_ECORRUPT:
        return "corrupt";
    case ST_ECHECKSUM:
        return "checksum mismatch";
    case ST_ETRANSIENT:
        return "transient error";
    case ST_EAUTH:
        return "access denied";
    case ST_EINVAL:
        return "invalid argument";
    case ST_ETOOBIG:
        return "too big";
    case ST_EUNSUPP:
        return "unsupported";
    case ST_ECONFLICT:
        return "precondition failed";
    case ST_ITEROVER:
        return "iteration over";
    default:
        return "unknown error";
    }
}
