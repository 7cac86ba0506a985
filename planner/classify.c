/*
 * classify.c - groups and block states (thanos-compactor.md §2). A block's group is its tenant,
 * its external labels without the tenant's replica labels (Thanos' ReplicaLabelRemover: when
 * none are left, `<first replica label>="deduped"`) and its resolution; the key is Thanos'
 * `<resolution>@<labels.Hash()>`, xxHash64 (seed 0) of `name 0xFF value 0xFF` per label in name
 * order. States follow the meta-sync filters: partial, deletion / no-compact / no-downsample
 * marks, too fresh (consistency delay from upload time or ULID time; compactor, compactor.repair
 * and bucket.repair blocks exempt) and superseded (DeduplicateFilter: per group, by number of
 * sources descending then ULID, a block whose sources are a subset of a kept block's is
 * superseded: what a crash between an upload and the marking of its inputs leaves behind).
 */
#include "planner_int.h"

#include <stdio.h>
#include <stdlib.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

uint64_t planner_labels_hash(const codec_kv *labels, size_t n)
{
    static const unsigned char sep = 0xFF;
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    for (size_t i = 0; i < n; i++) {
        XXH64_update(&st, labels[i].name, strlen(labels[i].name));
        XXH64_update(&st, &sep, 1);
        XXH64_update(&st, labels[i].value, strlen(labels[i].value));
        XXH64_update(&st, &sep, 1);
    }
    return XXH64_digest(&st);
}

void planner_group_key(char out[PLANNER_GROUP_KEY_LEN], int64_t resolution, const codec_kv *labels,
                       size_t n)
{
    snprintf(out, PLANNER_GROUP_KEY_LEN, "%lld@%llu", (long long)resolution,
             (unsigned long long)planner_labels_hash(labels, n));
}

static int is_replica(const planner_tenant_settings *ts, const char *name)
{
    for (size_t i = 0; i < ts->nreplica_labels; i++)
        if (strcmp(ts->replica_labels[i], name) == 0)
            return 1;
    return 0;
}

static int exempt_source(const char *src)
{
    return !strcmp(src, "compactor") || !strcmp(src, "compactor.repair") ||
           !strcmp(src, "bucket.repair");
}

static int set_group(planner_blockset *set, planner_block *b, const planner_tenant_settings *ts)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nlabels; i++)
        n += !is_replica(ts, b->labels[i].name);
    codec_kv *gl = st_arena_alloc(&set->arena, (n ? n : 1) * sizeof(*gl));
    if (!gl)
        return ST_ENOMEM;
    n = 0;
    for (size_t i = 0; i < b->nlabels; i++)
        if (!is_replica(ts, b->labels[i].name))
            gl[n++] = b->labels[i];
    if (n == 0 && ts->nreplica_labels) {
        gl[0].name = (char *)ts->replica_labels[0];
        gl[0].value = "deduped";
        n = 1;
    }
    b->group_labels = gl;
    b->ngroup_labels = n;
    planner_group_key(b->group, b->resolution, gl, n);
    return 0;
}

/* Blocks that take part in the duplicate check: what Thanos' filters leave visible. */
static int visible(const planner_block *b)
{
    return !(b->state & (PLANNER_BLOCK_PARTIAL | PLANNER_BLOCK_MARKED_DELETION |
                         PLANNER_BLOCK_TOO_FRESH | PLANNER_BLOCK_BAD_TENANT));
}

/* Order for the duplicate check: tenant, group, then more sources first, then ULID. */
static int cmp_dedup(const void *x, const void *y)
{
    const planner_block *a = *(planner_block *const *)x, *b = *(planner_block *const *)y;
    int c = strcmp(a->tenant, b->tenant);
    if (!c)
        c = strcmp(a->group, b->group);
    if (!c && a->nsources != b->nsources)
        c = a->nsources > b->nsources ? -1 : 1;
    if (!c)
        c = ulid_cmp(&a->ulid, &b->ulid);
    return c;
}

static int has_source(const planner_block *b, const codec_ulid *id)
{
    size_t lo = 0, hi = b->nsources;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = ulid_cmp(&b->sources[mid], id);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int covers(const planner_block *parent, const planner_block *child)
{
    for (size_t i = 0; i < child->nsources; i++)
        if (!has_source(parent, &child->sources[i]))
            return 0;
    return 1;
}

/* An index from a source ULID to the kept blocks of the current group holding it, so a block is
 * compared only with the kept blocks that share its first source, not with the whole group.
 * Open addressing; an entry belongs to the group whose generation it carries. */
typedef struct src_entry {
    const codec_ulid *id; /* NULL: empty slot */
    size_t gen;
    const planner_block **kept;
    size_t n, cap;
} src_entry;

typedef struct src_index {
    src_entry *e;
    size_t cap, gen;
} src_index;

static src_entry *src_slot(src_index *x, const codec_ulid *id)
{
    size_t mask = x->cap - 1, i = (size_t)XXH64(id->s, CODEC_ULID_LEN, 0) & mask;
    while (x->e[i].id && ulid_cmp(x->e[i].id, id) != 0)
        i = (i + 1) & mask;
    src_entry *e = &x->e[i];
    if (e->id && e->gen != x->gen)
        e->n = 0; /* left over from an earlier group */
    e->gen = x->gen;
    return e;
}

static int src_add(src_index *x, const codec_ulid *id, const planner_block *b)
{
    src_entry *e = src_slot(x, id);
    e->id = id;
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 2;
        const planner_block **nk = st_reallocarray(e->kept, ncap, sizeof(*nk));
        if (!nk)
            return ST_ENOMEM;
        e->kept = nk;
        e->cap = ncap;
    }
    e->kept[e->n++] = b;
    return 0;
}

static int mark_superseded(planner_blockset *set)
{
    planner_block **v = st_calloc(set->n + 1, sizeof(*v));
    size_t n = 0, nsrc = 0;
    if (!v)
        return ST_ENOMEM;
    for (size_t i = 0; i < set->n; i++)
        if (visible(&set->blocks[i])) {
            v[n++] = &set->blocks[i];
            nsrc += set->blocks[i].nsources;
        }
    if (n)
        qsort(v, n, sizeof(*v), cmp_dedup);
    src_index x = {0};
    x.cap = 16;
    while (x.cap < 2 * nsrc + 16)
        x.cap *= 2;
    int rc = 0;
    if (!(x.e = st_calloc(x.cap, sizeof(src_entry)))) {
        st_free(v);
        return ST_ENOMEM;
    }
    for (size_t k = 0; k < n && !rc; k++) {
        planner_block *b = v[k];
        if (k == 0 || strcmp(v[k - 1]->tenant, b->tenant) || strcmp(v[k - 1]->group, b->group))
            x.gen++; /* a new group: kept blocks of the previous one no longer count */
        /* A block without sources would be "covered" by anything: never call it superseded. */
        const planner_block *parent = NULL;
        if (b->nsources) {
            src_entry *e = src_slot(&x, &b->sources[0]);
            for (size_t i = 0; e->id && i < e->n && !parent; i++)
                if (covers(e->kept[i], b))
                    parent = e->kept[i];
        }
        if (parent) {
            b->state |= PLANNER_BLOCK_SUPERSEDED;
            b->superseded_by = parent->ulid;
            continue;
        }
        for (size_t i = 0; i < b->nsources && !rc; i++)
            rc = src_add(&x, &b->sources[i], b);
    }
    for (size_t i = 0; i < x.cap; i++)
        st_free(x.e[i].kept);
    st_free(x.e);
    st_free(v);
    return rc;
}

int planner_classify(planner_blockset *set, const planner_settings *s, int64_t now_ms, st_err *err)
{
    for (size_t i = 0; i < set->n; i++) {
        planner_block *b = blockset_at(set, i);
        b->state = 0;
        b->group[0] = '\0';
        b->group_labels = NULL;
        b->ngroup_labels = 0;
        memset(&b->superseded_by, 0, sizeof(b->superseded_by));
        if (b->partial_reason)
            b->state |= PLANNER_BLOCK_PARTIAL;
        if (b->deletion.present)
            b->state |= PLANNER_BLOCK_MARKED_DELETION;
        if (b->no_compact.present)
            b->state |= PLANNER_BLOCK_NO_COMPACT;
        if (b->no_downsample.present)
            b->state |= PLANNER_BLOCK_NO_DOWNSAMPLE;
        if (s->tenant_layout == PLANNER_TENANTS_LABEL && *b->tenant &&
            !planner_tenant_valid(b->tenant))
            b->state |= PLANNER_BLOCK_BAD_TENANT;
        if (b->partial_reason)
            continue;
        if (!exempt_source(b->source) &&
            sat_sub(now_ms, block_birth_ms(b)) < s->consistency_delay_ms)
            b->state |= PLANNER_BLOCK_TOO_FRESH;
        if (set_group(set, b, planner_settings_tenant(s, b->tenant)))
            return st_err_set(err, ST_ENOMEM, "planner: out of memory");
    }
    if (mark_superseded(set))
        return st_err_set(err, ST_ENOMEM, "planner: out of memory");
    return 0;
}
