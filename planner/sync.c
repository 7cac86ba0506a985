/*
 * sync.c - read what the bucket holds (thanos-compactor.md §1, §2 "Meta sync"): list the block
 * prefixes (flat, per tenant prefix, or flat with a tenant label), then, on a pool of threads
 * sharing the thread-safe store handle, per block: one listing of `<prefix><ULID>/` (which tells
 * which of meta.json and the three markers exist, and whether anything is left at all), meta.json
 * from the cache in <data-dir>/meta-syncer/<ULID>/meta.json or the bucket (then cached), the
 * markers that exist, and for partial uploads the newest LastModified of their objects (the age
 * Thanos uses to clean them up). Blocks whose meta.json lacks file sizes get them from the
 * objects' attributes. Nothing is written to the bucket.
 */
#include "planner_int.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define META_MAX   (16u << 20)
#define MARKER_MAX (1u << 20)

static const char *const marker_files[3] = {"deletion-mark.json", "no-compact-mark.json",
                                            "no-downsample-mark.json"};
static const char *const marker_time_keys[3] = {"deletion_time", "no_compact_time",
                                                "no_downsample_time"};

typedef struct sync_ctx sync_ctx;

typedef struct job {
    sync_ctx *ctx;
    const char *tenant; /* in ctx->arena */
    char *prefix;       /* "<tenant>/<ULID>/" (heap) */
    codec_ulid ulid;
    /* results */
    int gone; /* nothing under the prefix any more */
    codec_meta *meta;
    char *partial_reason;
    int64_t last_modified_ms;
    planner_mark marks[3];
    char *mark_strs[6]; /* reason, details per marker (heap) */
    unsigned bad_markers;
    planner_file *files; /* sizes from attributes when meta.json has none */
    size_t nfiles;
    char **file_paths;
} job;

struct sync_ctx {
    objstore *store;
    const planner_settings *s;
    const char *data_dir;
    job *jobs;
    size_t njobs, cap;
    st_arena arena;
    int failed; /* set (atomically) by the first job that fails */
    st_err err; /* that job's error; written once, guarded by `failed` */
    size_t meta_fetched, meta_cached, markers_fetched, bad_markers, requests;
};

static void count(size_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static void fail(sync_ctx *c, const st_err *e)
{
    int expected = 0;
    if (__atomic_compare_exchange_n(&c->failed, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        st_err_copy(&c->err, e);
}

static int failed(sync_ctx *c)
{
    return __atomic_load_n(&c->failed, __ATOMIC_ACQUIRE);
}

/* ---- listing ------------------------------------------------------------------------------- */

typedef struct list_ctx {
    sync_ctx *c;
    const char *tenant;
    size_t plen; /* length of the listed prefix */
    st_err *err;
} list_ctx;

static int add_job(sync_ctx *c, const char *tenant, const char *prefix, const char *id)
{
    if (c->njobs == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        job *nj = st_reallocarray(c->jobs, ncap, sizeof(*nj));
        if (!nj)
            return ST_ENOMEM;
        c->jobs = nj;
        c->cap = ncap;
    }
    job *j = &c->jobs[c->njobs];
    memset(j, 0, sizeof(*j));
    j->ctx = c;
    j->tenant = tenant;
    j->last_modified_ms = INT64_MIN;
    memcpy(j->ulid.s, id, CODEC_ULID_LEN);
    j->ulid.s[CODEC_ULID_LEN] = '\0';
    size_t n = strlen(prefix) + CODEC_ULID_LEN + 2;
    if (!(j->prefix = st_malloc(n)))
        return ST_ENOMEM;
    snprintf(j->prefix, n, "%s%s/", prefix, j->ulid.s);
    c->njobs++;
    return 0;
}

/* A child "<prefix><name>/" whose name is a ULID becomes a block. */
static int on_block_entry(void *arg, const char *key, int is_prefix)
{
    list_ctx *l = arg;
    if (!is_prefix)
        return 0;
    const char *name = key + l->plen;
    size_t n = strlen(name);
    if (n != CODEC_ULID_LEN + 1 || !codec_ulid_valid(name, CODEC_ULID_LEN))
        return 0; /* not a block: `_strata/`, Mimir's `markers/`, debug dirs... */
    char pfx[512];
    snprintf(pfx, sizeof(pfx), "%.*s", (int)l->plen, key);
    if (add_job(l->c, l->tenant, pfx, name))
        return st_err_set(l->err, ST_ENOMEM, "planner: out of memory");
    return 0;
}

typedef struct tenant_list {
    char **names;
    size_t n, cap;
    st_err *err;
} tenant_list;

static int on_tenant_entry(void *arg, const char *key, int is_prefix)
{
    tenant_list *t = arg;
    if (!is_prefix)
        return 0;
    size_t n = strlen(key) - 1;
    char *name = st_strndup(key, n);
    if (!name)
        return st_err_set(t->err, ST_ENOMEM, "planner: out of memory");
    if (strcmp(name, "_strata") == 0) {
        st_free(name);
        return 0;
    }
    if (codec_ulid_valid(name, n)) {
        st_log(ST_LOG_WARN, "block at the top of a prefix-layout bucket ignored", "block", name,
               NULL);
        st_free(name);
        return 0;
    }
    if (!planner_tenant_valid(name)) {
        st_log(ST_LOG_WARN, "top-level prefix is not a valid tenant name; ignored", "prefix", key,
               NULL);
        st_free(name);
        return 0;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        char **nn = st_reallocarray(t->names, ncap, sizeof(*nn));
        if (!nn) {
            st_free(name);
            return st_err_set(t->err, ST_ENOMEM, "planner: out of memory");
        }
        t->names = nn;
        t->cap = ncap;
    }
    t->names[t->n++] = name;
    return 0;
}

static int list_blocks(sync_ctx *c, st_err *err)
{
    int rc;
    if (c->s->tenant_layout != PLANNER_TENANTS_PREFIX) {
        list_ctx l = {c, "", 0, err};
        count(&c->requests);
        return objstore_iter(c->store, "", 0, on_block_entry, &l, err);
    }
    tenant_list t = {.err = err};
    count(&c->requests);
    rc = objstore_iter(c->store, "", 0, on_tenant_entry, &t, err);
    for (size_t i = 0; i < t.n && !rc; i++) {
        char pfx[200];
        snprintf(pfx, sizeof(pfx), "%s/", t.names[i]);
        const char *tenant = arena_str(&c->arena, t.names[i]);
        if (!tenant) {
            rc = st_err_set(err, ST_ENOMEM, "planner: out of memory");
            break;
        }
        list_ctx l = {c, tenant, strlen(pfx), err};
        count(&c->requests);
        rc = objstore_iter(c->store, pfx, 0, on_block_entry, &l, err);
    }
    for (size_t i = 0; i < t.n; i++)
        st_free(t.names[i]);
    st_free(t.names);
    return rc;
}

/* ---- one block ----------------------------------------------------------------------------- */

typedef struct block_list {
    size_t plen;
    int n, has_meta, has_marker[3];
} block_list;

static int on_block_file(void *arg, const char *key, int is_prefix)
{
    block_list *b = arg;
    const char *name = key + b->plen;
    b->n++;
    if (is_prefix)
        return 0;
    if (!strcmp(name, "meta.json"))
        b->has_meta = 1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, marker_files[i]))
            b->has_marker[i] = 1;
    return 0;
}

static char *cache_path(const sync_ctx *c, const codec_ulid *id, const char *file)
{
    char buf[4096];
    if (!c->data_dir)
        return NULL;
    snprintf(buf, sizeof(buf), "%s/meta-syncer/%s%s%s", c->data_dir, id->s, file ? "/" : "",
             file ? file : "");
    return st_strdup(buf);
}

/* meta.json from the cache, else from the bucket (and then cached). A meta.json that is missing
 * or does not parse makes the block partial; other errors fail the sync. */
static int load_meta(job *j, st_err *err)
{
    sync_ctx *c = j->ctx;
    char *cp = cache_path(c, &j->ulid, "meta.json");
    st_err e2;
    st_err_init(&e2);
    if (cp && codec_meta_read(&j->meta, cp, &e2) == 0) {
        if (ulid_cmp(&j->meta->ulid, &j->ulid) == 0) {
            count(&c->meta_cached);
            st_free(cp);
            return 0;
        }
        codec_meta_free(j->meta);
        j->meta = NULL;
    }
    st_buf body;
    st_buf_init(&body, META_MAX);
    char key[600];
    snprintf(key, sizeof(key), "%smeta.json", j->prefix);
    count(&c->requests);
    count(&c->meta_fetched);
    int rc = objstore_get(c->store, key, &body, META_MAX, err);
    if (rc == ST_ENOTFOUND) {
        rc = 0;
        j->partial_reason = st_strdup("no meta.json");
    } else if (rc == 0) {
        st_err_init(&e2);
        if (codec_meta_parse(&j->meta, (const char *)body.p, body.len, key, &e2) != 0) {
            char msg[600];
            snprintf(msg, sizeof(msg), "meta.json: %s", e2.msg);
            j->partial_reason = st_strdup(msg);
        } else if (ulid_cmp(&j->meta->ulid, &j->ulid) != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "meta.json names block %s", j->meta->ulid.s);
            j->partial_reason = st_strdup(msg);
            codec_meta_free(j->meta);
            j->meta = NULL;
        } else if (cp) {
            /* cache it; a failure to cache costs a GET next time, nothing more */
            char *dir = cache_path(c, &j->ulid, NULL);
            st_err_init(&e2);
            if (!dir || st_mkdir_p(dir, &e2) || st_write_file_atomic(cp, body.p, body.len, &e2))
                st_log(ST_LOG_WARN, "could not cache meta.json", "block", j->ulid.s, "err", e2.msg,
                       NULL);
            st_free(dir);
        }
    }
    if (!rc && j->partial_reason == NULL && j->meta == NULL)
        rc = st_err_set(err, ST_ENOMEM, "planner: out of memory");
    st_buf_release(&body);
    st_free(cp);
    return rc;
}

static void bad_marker(job *j, int i, const char *why)
{
    j->bad_markers |= 1u << i;
    count(&j->ctx->bad_markers);
    char file[600];
    snprintf(file, sizeof(file), "%s%s", j->prefix, marker_files[i]);
    st_log(ST_LOG_WARN, "unreadable marker treated as absent", "file", file, "err", why, NULL);
}

/* Thanos' marker JSON: {"id": ULID, "version": 1, "details": ..., "<kind>_time": unix s,
 * "reason": ...}. Anything else is reported and the marker counts as absent. */
static int load_marker(job *j, int i, st_err *err)
{
    sync_ctx *c = j->ctx;
    char key[600];
    snprintf(key, sizeof(key), "%s%s", j->prefix, marker_files[i]);
    st_buf body;
    st_buf_init(&body, MARKER_MAX);
    count(&c->requests);
    count(&c->markers_fetched);
    int rc = objstore_get(c->store, key, &body, MARKER_MAX, err);
    if (rc == ST_ENOTFOUND || rc == ST_ETOOBIG) {
        if (rc == ST_ETOOBIG)
            bad_marker(j, i, "larger than 1 MiB");
        st_buf_release(&body);
        return 0;
    }
    if (rc) {
        st_buf_release(&body);
        return rc;
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)body.p, body.len, 0, &je);
    st_buf_release(&body);
    json_t *id = o ? json_object_get(o, "id") : NULL;
    json_t *ver = o ? json_object_get(o, "version") : NULL;
    json_t *t = o ? json_object_get(o, marker_time_keys[i]) : NULL;
    json_t *det = o ? json_object_get(o, "details") : NULL;
    json_t *rea = o ? json_object_get(o, "reason") : NULL;
    const char *why = NULL;
    if (!o || !json_is_object(o))
        why = o ? "not a JSON object" : je.text;
    else if (!json_is_integer(ver) || json_integer_value(ver) != 1)
        why = "version is not 1";
    else if (!json_is_string(id) || strcasecmp(json_string_value(id), j->ulid.s) != 0)
        why = "id does not name this block";
    else if (!json_is_integer(t))
        why = "no integer time";
    if (why) {
        bad_marker(j, i, why);
    } else {
        j->marks[i].present = 1;
        j->marks[i].time_s = (int64_t)json_integer_value(t);
        if (json_is_string(rea) && !(j->mark_strs[2 * i] = st_strdup(json_string_value(rea))))
            rc = st_err_set(err, ST_ENOMEM, "planner: out of memory");
        if (json_is_string(det) && !(j->mark_strs[2 * i + 1] = st_strdup(json_string_value(det))))
            rc = st_err_set(err, ST_ENOMEM, "planner: out of memory");
    }
    json_decref(o);
    return rc;
}

typedef struct obj_walk {
    job *j;
    size_t plen;
    int64_t newest;
    st_err *err;
} obj_walk;

static int on_object(void *arg, const char *key, int is_prefix)
{
    obj_walk *w = arg;
    sync_ctx *c = w->j->ctx;
    if (is_prefix || failed(c))
        return 0;
    objstore_attrs a;
    st_err e2;
    st_err_init(&e2);
    count(&c->requests);
    if (objstore_attributes(c->store, key, &a, &e2) != 0)
        return 0; /* best effort: gone meanwhile, or the store cannot tell */
    w->newest = ST_MAX(w->newest, a.last_modified_ms);
    const char *rel = key + w->plen;
    if (!strcmp(rel, "meta.json") || !strcmp(rel, "tombstones") || strstr(rel, "-mark.json"))
        return 0;
    job *j = w->j;
    planner_file *nf = st_reallocarray(j->files, j->nfiles + 1, sizeof(*nf));
    char **np = nf ? st_reallocarray(j->file_paths, j->nfiles + 1, sizeof(*np)) : NULL;
    if (nf)
        j->files = nf;
    if (np)
        j->file_paths = np;
    if (!nf || !np || !(np[j->nfiles] = st_strdup(rel)))
        return st_err_set(w->err, ST_ENOMEM, "planner: out of memory");
    nf[j->nfiles].rel_path = np[j->nfiles];
    nf[j->nfiles].size_bytes = (int64_t)a.size;
    j->nfiles++;
    return 0;
}

static int has_sizes(const codec_meta *m)
{
    for (size_t i = 0; i < m->thanos.nfiles; i++)
        if (m->thanos.files[i].size_bytes > 0)
            return 1;
    return 0;
}

static void run_job(void *arg)
{
    job *j = arg;
    sync_ctx *c = j->ctx;
    if (failed(c))
        return;
    st_err err;
    st_err_init(&err);
    block_list bl = {.plen = strlen(j->prefix)};
    count(&c->requests);
    int rc = objstore_iter(c->store, j->prefix, 0, on_block_file, &bl, &err);
    if (rc)
        goto done;
    if (bl.n == 0) {
        j->gone = 1; /* deleted between the two listings */
        goto done;
    }
    if (bl.has_meta)
        rc = load_meta(j, &err);
    else if (!(j->partial_reason = st_strdup("no meta.json")))
        rc = st_err_set(&err, ST_ENOMEM, "planner: out of memory");
    for (int i = 0; i < 3 && !rc; i++)
        if (bl.has_marker[i])
            rc = load_marker(j, i, &err);
    if (!rc && (j->partial_reason || !has_sizes(j->meta))) {
        obj_walk w = {j, strlen(j->prefix), INT64_MIN, &err};
        count(&c->requests);
        rc = objstore_iter(c->store, j->prefix, 1, on_object, &w, &err);
        if (rc && rc != ST_ENOMEM) {
            st_log(ST_LOG_WARN, "could not list the objects of a block", "block", j->prefix, "err",
                   err.msg, NULL);
            st_err_init(&err);
            rc = 0;
        }
        if (j->partial_reason)
            j->last_modified_ms = w.newest;
    }
done:
    if (rc)
        fail(c, &err);
}

static void job_release(job *j)
{
    st_free(j->prefix);
    codec_meta_free(j->meta);
    st_free(j->partial_reason);
    for (int i = 0; i < 6; i++)
        st_free(j->mark_strs[i]);
    for (size_t i = 0; i < j->nfiles; i++)
        st_free(j->file_paths[i]);
    st_free(j->file_paths);
    st_free(j->files);
}

/* ---- results into the blockset ------------------------------------------------------------- */

static int job_to_block(sync_ctx *c, job *j, planner_blockset *set, st_err *err)
{
    planner_block b;
    memset(&b, 0, sizeof(b));
    b.ulid = j->ulid;
    b.tenant = j->tenant;
    b.prefix = j->prefix;
    b.partial_reason = j->partial_reason;
    b.last_modified_ms = j->last_modified_ms;
    b.upload_time_ms = INT64_MIN;
    b.bad_markers = j->bad_markers;
    planner_mark *m[3] = {&b.deletion, &b.no_compact, &b.no_downsample};
    for (int i = 0; i < 3; i++) {
        *m[i] = j->marks[i];
        m[i]->reason = j->mark_strs[2 * i];
        m[i]->details = j->mark_strs[2 * i + 1];
    }
    planner_file *files = NULL;
    const codec_meta *md = j->meta;
    if (md) {
        b.min_time = md->min_time;
        b.max_time = md->max_time;
        b.stats.samples = md->stats.num_samples;
        b.stats.series = md->stats.num_series;
        b.stats.chunks = md->stats.num_chunks;
        b.stats.tombstones = md->stats.num_tombstones;
        b.level = md->level;
        b.compaction_failed = md->failed;
        b.sources = md->sources;
        b.nsources = md->nsources;
        b.labels = md->thanos.labels;
        b.nlabels = md->thanos.nlabels;
        b.resolution = md->thanos.resolution;
        b.source = md->thanos.source;
        if (md->thanos.upload_time && planner_time_parse(md->thanos.upload_time, &b.upload_time_ms))
            b.upload_time_ms = INT64_MIN;
        if (c->s->tenant_layout == PLANNER_TENANTS_LABEL)
            for (size_t i = 0; i < md->thanos.nlabels; i++)
                if (!strcmp(md->thanos.labels[i].name, c->s->tenant_label))
                    b.tenant = md->thanos.labels[i].value;
    }
    /* sizes from meta.json when it has them, else from the objects' attributes (partial
     * uploads too: what a cleanup frees) */
    if (md && has_sizes(md)) {
        if (!(files = st_calloc(md->thanos.nfiles + 1, sizeof(*files))))
            return st_err_set(err, ST_ENOMEM, "planner: out of memory");
        for (size_t i = 0; i < md->thanos.nfiles; i++) {
            files[i].rel_path = md->thanos.files[i].rel_path;
            files[i].size_bytes = md->thanos.files[i].size_bytes;
        }
        b.files = files;
        b.nfiles = md->thanos.nfiles;
    } else {
        b.files = j->files;
        b.nfiles = j->nfiles;
    }
    for (size_t i = 0; i < b.nfiles; i++) {
        if (b.files[i].size_bytes <= 0)
            continue;
        b.size_bytes += (uint64_t)b.files[i].size_bytes;
        if (!strcmp(b.files[i].rel_path, "index"))
            b.index_bytes = (uint64_t)b.files[i].size_bytes;
    }
    int rc = planner_blockset_add(set, &b, err);
    st_free(files);
    return rc;
}

static int cmp_job(const void *x, const void *y)
{
    const job *a = x, *b = y;
    int c = strcmp(a->tenant, b->tenant);
    return c ? c : ulid_cmp(&a->ulid, &b->ulid);
}

static int cmp_block(const void *x, const void *y)
{
    const planner_block *a = x, *b = y;
    int c = strcmp(a->tenant, b->tenant);
    return c ? c : ulid_cmp(&a->ulid, &b->ulid);
}

static int cmp_ulid_key(const void *x, const void *y)
{
    return memcmp(x, y, CODEC_ULID_LEN);
}

/* Remove cached metas of blocks no longer in the bucket (only ULID-named directories). */
static void prune_cache(sync_ctx *c)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/meta-syncer", c->data_dir);
    codec_ulid *ids = st_calloc(c->njobs + 1, sizeof(*ids));
    DIR *d = ids ? opendir(dir) : NULL;
    if (!d) {
        st_free(ids);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->njobs; i++)
        if (!c->jobs[i].gone)
            ids[n++] = c->jobs[i].ulid;
    if (n)
        qsort(ids, n, sizeof(*ids), cmp_ulid_key);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != CODEC_ULID_LEN || !codec_ulid_valid(e->d_name, CODEC_ULID_LEN) ||
            bsearch(e->d_name, ids, n, sizeof(*ids), cmp_ulid_key))
            continue;
        char *p = st_path_join(dir, e->d_name);
        st_err e2;
        st_err_init(&e2);
        if (p)
            st_rmtree(p, &e2);
        st_free(p);
    }
    closedir(d);
    st_free(ids);
}

int planner_sync(planner_blockset **out, objstore *store, const planner_settings *s,
                 const planner_sync_opts *o, planner_sync_stats *stats, st_err *err)
{
    *out = NULL;
    uint64_t t0 = st_mono_ns();
    planner_sync_opts none = {0};
    if (!o)
        o = &none;
    sync_ctx c = {.store = store, .s = s, .data_dir = o->data_dir};
    st_arena_init(&c.arena, 16 * 1024);
    st_err_init(&c.err);
    planner_blockset *set = NULL;
    st_pool *pool = NULL;
    int rc = list_blocks(&c, err);
    if (rc)
        goto done;
    if (c.njobs) {
        int threads = o->concurrency > 0 ? o->concurrency : 32;
        if ((size_t)threads > c.njobs)
            threads = (int)c.njobs;
        if ((rc = st_pool_create(&pool, threads))) {
            st_err_set(err, rc, "planner: cannot start %d sync threads", threads);
            goto done;
        }
        for (size_t i = 0; i < c.njobs && !rc; i++)
            if ((rc = st_pool_submit(pool, run_job, &c.jobs[i])))
                st_err_set(err, rc, "planner: out of memory");
        st_pool_wait(pool);
        if (rc)
            goto done;
        if (c.failed) {
            rc = st_err_copy(err, &c.err);
            goto done;
        }
    }
    if ((rc = planner_blockset_create(&set))) {
        st_err_set(err, rc, "planner: out of memory");
        goto done;
    }
    if (c.njobs)
        qsort(c.jobs, c.njobs, sizeof(job), cmp_job);
    for (size_t i = 0; i < c.njobs && !rc; i++)
        if (!c.jobs[i].gone)
            rc = job_to_block(&c, &c.jobs[i], set, err);
    if (rc)
        goto done;
    /* in the label layout the tenant is only known after the metas are read */
    if (set->n)
        qsort(set->blocks, set->n, sizeof(planner_block), cmp_block);
    if (c.data_dir)
        prune_cache(&c);
done:
    st_pool_free(pool);
    if (stats) {
        memset(stats, 0, sizeof(*stats));
        if (set) {
            stats->blocks = set->n;
            for (size_t i = 0; i < set->n; i++) {
                stats->partial += set->blocks[i].partial_reason != NULL;
                stats->tenants +=
                    i == 0 || strcmp(set->blocks[i].tenant, set->blocks[i - 1].tenant);
            }
        }
        stats->meta_fetched = c.meta_fetched;
        stats->meta_cached = c.meta_cached;
        stats->markers_fetched = c.markers_fetched;
        stats->bad_markers = c.bad_markers;
        stats->requests = c.requests;
        stats->seconds = (double)(st_mono_ns() - t0) / 1e9;
    }
    for (size_t i = 0; i < c.njobs; i++)
        job_release(&c.jobs[i]);
    st_free(c.jobs);
    st_arena_release(&c.arena);
    if (rc)
        planner_blockset_free(set);
    else
        *out = set;
    return rc;
}
