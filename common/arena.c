/*
 * arena.c - bump allocation in pages. Reset keeps every page on a spare list so a per-job arena
 * stops calling malloc after its first job (zstd's cwksp, libgit2's git_pool).
 */
#include "common.h"

#include <string.h>

struct st_arena_page {
    st_arena_page *next;
    size_t size; /* usable bytes in data */
    size_t used;
    _Alignas(16) uint8_t data[];
};

void st_arena_init(st_arena *a, size_t page_size)
{
    a->head = NULL;
    a->spare = NULL;
    a->page_size = page_size ? page_size : 64 * 1024;
    a->used_total = 0;
}

static void free_list(st_arena_page *p)
{
    while (p) {
        st_arena_page *n = p->next;
        st_free(p);
        p = n;
    }
}

void st_arena_release(st_arena *a)
{
    free_list(a->head);
    free_list(a->spare);
    a->head = a->spare = NULL;
    a->used_total = 0;
}

void st_arena_reset(st_arena *a)
{
    while (a->head) {
        st_arena_page *n = a->head->next;
        a->head->used = 0;
        a->head->next = a->spare;
        a->spare = a->head;
        a->head = n;
    }
    a->used_total = 0;
}

/* n bytes from where the current page's next align-aligned byte is (align: 1 or 16). */
static void *take(st_arena *a, size_t n, size_t align)
{
    st_arena_page *pg = a->head;
    size_t at = pg ? (pg->used + align - 1) & ~(align - 1) : 0;
    if (!pg || at > pg->size || pg->size - at < n) {
        /* take a spare page that fits, else a new one */
        st_arena_page **pp = &a->spare;
        while (*pp && (*pp)->size < n)
            pp = &(*pp)->next;
        if (*pp) {
            pg = *pp;
            *pp = pg->next;
        } else {
            size_t sz = n > a->page_size ? n : a->page_size;
            pg = st_malloc(sizeof(*pg) + sz);
            if (!pg)
                return NULL;
            pg->size = sz;
        }
        pg->used = 0;
        pg->next = a->head;
        a->head = pg;
        at = 0;
    }
    void *r = pg->data + at;
    a->used_total += at + n - pg->used;
    pg->used = at + n;
    return r;
}

void *st_arena_alloc(st_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    return take(a, n ? n : 16, 16);
}

void *st_arena_alloc_packed(st_arena *a, size_t n)
{
    return take(a, n ? n : 1, 1);
}

char *st_arena_strndup(st_arena *a, const char *s, size_t n)
{
    char *d = st_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
