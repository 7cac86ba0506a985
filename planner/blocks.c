/*
 * blocks.c - the blockset: the blocks one sync found (or a test made up), each a deep copy whose
 * strings and arrays live in the set's arena, so a whole bucket's metadata is freed at once.
 */
#include "planner_int.h"

#include <stdio.h>
#include <stdlib.h>

int planner_blockset_create(planner_blockset **out)
{
    *out = NULL;
    planner_blockset *s = st_calloc(1, sizeof(*s));
    if (!s)
        return ST_ENOMEM;
    st_arena_init(&s->arena, 256 * 1024);
    *out = s;
    return 0;
}

void planner_blockset_free(planner_blockset *set)
{
    if (!set)
        return;
    st_free(set->blocks);
    st_arena_release(&set->arena);
    st_free(set);
}

size_t planner_blockset_count(const planner_blockset *set)
{
    return set->n;
}

const planner_block *planner_blockset_block(const planner_blockset *set, size_t i)
{
    return i < set->n ? &set->blocks[i] : NULL;
}

static int copy_mark(st_arena *a, planner_mark *m)
{
    if (!(m->reason = arena_str(a, m->reason)) || !(m->details = arena_str(a, m->details)))
        return ST_ENOMEM;
    return 0;
}

static int cmp_kv(const void *x, const void *y)
{
    return strcmp(((const codec_kv *)x)->name, ((const codec_kv *)y)->name);
}

static int cmp_ulid(const void *x, const void *y)
{
    return ulid_cmp(x, y);
}

int planner_blockset_add(planner_blockset *set, const planner_block *in, st_err *err)
{
    if (!codec_ulid_valid(in->ulid.s, strnlen(in->ulid.s, CODEC_ULID_LEN + 1)))
        return st_err_set(err, ST_EINVAL, "planner: block id \"%.26s\" is not a ULID", in->ulid.s);
    if (set->n == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 64;
        planner_block *nb = st_reallocarray(set->blocks, ncap, sizeof(*nb));
        if (!nb)
            return st_err_set(err, ST_ENOMEM, "planner: out of memory");
        set->blocks = nb;
        set->cap = ncap;
    }
    st_arena *a = &set->arena;
    planner_block b = *in;
    char pfx[CODEC_ULID_LEN + 2];
    snprintf(pfx, sizeof(pfx), "%s/", in->ulid.s);
    b.tenant = arena_str(a, in->tenant);
    b.prefix = arena_str(a, in->prefix ? in->prefix : pfx);
    b.source = arena_str(a, in->source);
    b.partial_reason = in->partial_reason ? arena_str(a, in->partial_reason) : NULL;
    if (!b.tenant || !b.prefix || !b.source || (in->partial_reason && !b.partial_reason) ||
        copy_mark(a, &b.deletion) || copy_mark(a, &b.no_compact) || copy_mark(a, &b.no_downsample))
        goto nomem;

    codec_ulid *src = NULL;
    if (in->nsources) {
        if (!(src = st_arena_alloc(a, in->nsources * sizeof(*src))))
            goto nomem;
        memcpy(src, in->sources, in->nsources * sizeof(*src));
        qsort(src, in->nsources, sizeof(*src), cmp_ulid);
    }
    b.sources = src;

    codec_kv *lab = NULL;
    if (in->nlabels) {
        if (!(lab = st_arena_alloc(a, in->nlabels * sizeof(*lab))))
            goto nomem;
        for (size_t i = 0; i < in->nlabels; i++)
            if (!(lab[i].name = arena_str(a, in->labels[i].name)) ||
                !(lab[i].value = arena_str(a, in->labels[i].value)))
                goto nomem;
        qsort(lab, in->nlabels, sizeof(*lab), cmp_kv);
    }
    b.labels = lab;

    planner_file *files = NULL;
    if (in->nfiles) {
        if (!(files = st_arena_alloc(a, in->nfiles * sizeof(*files))))
            goto nomem;
        for (size_t i = 0; i < in->nfiles; i++) {
            files[i].size_bytes = in->files[i].size_bytes;
            if (!(files[i].rel_path = arena_str(a, in->files[i].rel_path)))
                goto nomem;
        }
    }
    b.files = files;

    /* derived fields start empty */
    b.state = 0;
    b.group[0] = '\0';
    b.group_labels = NULL;
    b.ngroup_labels = 0;
    memset(&b.superseded_by, 0, sizeof(b.superseded_by));
    set->blocks[set->n++] = b;
    return 0;
nomem:
    return st_err_set(err, ST_ENOMEM, "planner: out of memory");
}

int64_t block_birth_ms(const planner_block *b)
{
    if (b->upload_time_ms != INT64_MIN)
        return b->upload_time_ms;
    int64_t t = 0;
    codec_ulid_time(b->ulid.s, &t);
    return t;
}
