/*
 * alloc.c - the one allocation wrapper. A test can make the Nth allocation from now, and every
 * one after it, fail, to prove that each error path releases what it took (SQLite OOM tests).
 */
#include "common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown; /* 0: off; else allocations left before failing */

void st_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

static int should_fail(void)
{
    long left = atomic_load(&fail_countdown);
    if (left == 0)
        return 0;
    if (left == 1)
        return 1; /* stays at 1: every later allocation fails too */
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

void *st_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *st_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *st_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *st_reallocarray(void *p, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        return NULL;
    return st_realloc(p, nmemb * size);
}

char *st_strndup(const char *s, size_t n)
{
    char *d = st_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *st_strdup(const char *s)
{
    return st_strndup(s, strlen(s));
}

void st_free(void *p)
{
    free(p);
}
