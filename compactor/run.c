/*
 * run.c - `strata run`: sync the bucket, plan, and carry the plan out in its order, skipping the
 * actions another shard owns. Deletions and marks come first (retention never waits behind a
 * compaction backlog), then compactions (`--compact.concurrency` at once) and downsamplings.
 *
 * Publishing a new block: its files are written and verified locally, then uploaded chunks/NNNNNN,
 * index, and meta.json last (the block becomes visible), and only then are the inputs marked for
 * deletion. A crash before meta.json leaves an invisible partial upload (removed after 48h); a
 * crash after it leaves inputs whose sources the new block holds, which the next sync sees as
 * superseded and marks. Nothing is lost or doubled in any order of events.
 *
 * A block that cannot be read (no index, CRC mismatch, out-of-order or out-of-range chunks) is
 * quarantined: it gets a no-compact mark naming the problem and its job is dropped; the rest of
 * the run goes on and the exit code is 3.
 *
 * Each run keeps its history in the bucket (history.c): the plan once it is made, then what became
 * of every action, the blocks each one created and the exit code. Writing it never fails a run.
 */
#include "compactor_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* exec_action's return when another run holds the group's lease (not an error) */
#define ACTION_SKIPPED 1

typedef struct run_ctx {
    objstore *store;
    const planner_settings *settings;
    const char *data_dir;
    int64_t now_ms;
    int threads;    /* merge threads per compaction */
    int ds_threads; /* threads per downsampling */
    merge_dedup dedup;
    pthread_mutex_t mu;
    uint64_t actions[PLANNER_ACT_NTYPES][OUT_N];
    uint64_t bytes_read, bytes_written, quarantined;
    metrics *m;       /* NULL: no metrics */
    char owner[128];  /* this run, in lease objects: host/pid/random */
    int64_t lease_ms; /* how long a lease holds; 0: no leases */
    history *hist;    /* NULL: none (--dry-run, or out of memory) */
    /* the leases this run holds, and their renewer (see "leases" below) */
    pthread_mutex_t lease_mu;
    pthread_cond_t lease_cv; /* on the monotonic clock */
    struct held_lease **held;
    size_t nheld, capheld;
    pthread_t renewer;
    int renewer_started, renewer_stop;
} run_ctx;

/* A lease this run holds, renewed in the background while any of its jobs uses it. */
typedef struct held_lease {
    char key[512];
    const char *tenant, *group;   /* the plan's, for log lines */
    char etag[OBJSTORE_ETAG_MAX]; /* of this run's last write */
    int refs;                     /* jobs of this run using it */
    int lost;                     /* renewal found another run's lease */
    uint64_t due_ns;              /* next renewal, on the monotonic clock */
} held_lease;

/* Is point one of the comma-separated names in the environment variable env? */
static int hook_at(const char *env, const char *point)
{
    const char *at = getenv(env);
    size_t n = strlen(point);
    for (; at && *at; at += strcspn(at, ",") + (at[strcspn(at, ",")] == ',')) {
        if (strncmp(at, point, n) == 0 && (at[n] == ',' || at[n] == '\0'))
            return 1;
    }
    return 0;
}

/* What one action did, for the history. */
typedef struct action_result {
    int outcome; /* OUT_*, -1 until counted */
    uint64_t read, written;
    codec_ulid created[2]; /* blocks published: a compaction's one, a downsampling's targets */
    size_t ncreated;
    codec_ulid *quarantined; /* inputs marked no-compact (heap) */
    size_t nquarantined;
} action_result;

static void created(action_result *r, const codec_ulid *id)
{
    if (r->ncreated < ST_ARRAY_LEN(r->created)) /* as many as planner_action.targets */
        r->created[r->ncreated++] = *id;
}

/* Test hook: STRATA_TEST_CRASH_AT=<point> kills the process there (SIGKILL: no cleanup runs),
 * so tests can prove every step of publishing leaves a bucket the next run repairs. */
static void crash_point(const char *point)
{
    if (hook_at("STRATA_TEST_CRASH_AT", point)) {
        fflush(NULL);
        raise(SIGKILL);
    }
}

/* Test hook: STRATA_TEST_PAUSE_AT=<point>[,<point>...] sleeps there, STRATA_TEST_PAUSE_S seconds
 * (3), a slow run for lease tests: "planned" before the first action, "lease-read" between
 * reading a lease and writing it, "leased" once it is held. */
static void pause_point(const char *point)
{
    if (hook_at("STRATA_TEST_PAUSE_AT", point)) {
        const char *sec = getenv("STRATA_TEST_PAUSE_S");
        struct timespec ts = {sec ? atoi(sec) : 3, 0};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

static void count(run_ctx *c, const planner_action *a, action_result *r, int outcome, uint64_t read,
                  uint64_t written)
{
    planner_action_type t = a->type;
    r->outcome = outcome;
    r->read = read;
    r->written = written;
    if (c->m)
        metrics_strata_action(c->m, a, outcome_names[outcome], read, written);
    pthread_mutex_lock(&c->mu);
    c->actions[t][outcome]++;
    c->bytes_read += read;
    c->bytes_written += written;
    if (outcome == OUT_QUARANTINED)
        c->quarantined++;
    pthread_mutex_unlock(&c->mu);
}

/* ---- markers (markers.c writes them as Thanos does) ------------------------------------------ */

static int mark_deletion(run_ctx *c, const planner_block *b, const char *details, st_err *err)
{
    return markers_put(c->store, b->prefix, MARKER_DELETION, NULL, details, c->now_ms / 1000, NULL,
                       err);
}

/* Quarantine: a no-compact mark whose details name the file and the problem. */
static int quarantine(run_ctx *c, const planner_block *b, const char *what, action_result *r,
                      st_err *err)
{
    const char *file = strstr(what, "/chunks/")    ? "chunks"
                       : strstr(what, "/index")    ? "index"
                       : strstr(what, "meta.json") ? "meta.json"
                                                   : "block";
    int rc = markers_quarantine(c->store, b->prefix, NULL, file, what, c->now_ms / 1000, NULL, err);
    if (!rc && c->m)
        metrics_add(c->m, "strata_blocks_quarantined_total", NULL, 1);
    codec_ulid *q = rc ? NULL : st_reallocarray(r->quarantined, r->nquarantined + 1, sizeof(*q));
    if (q) { /* without memory the history lacks this one; the mark is what counts */
        q[r->nquarantined++] = b->ulid;
        r->quarantined = q;
    }
    return rc;
}

/* ---- deleting ------------------------------------------------------------------------------ */

typedef struct key_list {
    char **v;
    size_t n, cap;
} key_list;

static int collect_key(void *ctx, const char *key, int is_prefix)
{
    key_list *l = ctx;
    if (is_prefix)
        return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nv = st_reallocarray(l->v, nc, sizeof(char *));
        if (!nv)
            return ST_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    if (!(l->v[l->n] = st_strdup(key)))
        return ST_ENOMEM;
    l->n++;
    return 0;
}

static void key_list_free(key_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        st_free(l->v[i]);
    st_free(l->v);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Remove every object of a block: meta.json first (the block stops being a block), the
 * deletion mark last (a half-deleted block stays a marked partial upload, deleted again later). */
static int delete_block(run_ctx *c, const char *prefix, st_err *err)
{
    key_list l = {0};
    int rc = objstore_iter(c->store, prefix, 1, collect_key, &l, err);
    if (rc) {
        if (rc == ST_ENOMEM)
            st_err_set(err, rc, "delete %s: out of memory", prefix);
        key_list_free(&l);
        return rc;
    }
    for (int pass = 0; pass < 3 && !rc; pass++) {
        for (size_t i = 0; i < l.n && !rc; i++) {
            int is_meta = ends_with(l.v[i], "/meta.json");
            int is_mark = ends_with(l.v[i], "/deletion-mark.json");
            if ((pass == 0 && !is_meta) || (pass == 1 && (is_meta || is_mark)) ||
                (pass == 2 && !is_mark))
                continue;
            rc = objstore_delete(c->store, l.v[i], err);
        }
    }
    key_list_free(&l);
    return rc;
}

/* ---- leases ----------------------------------------------------------------------------------
 * One object per group, _strata/leases/<tenant or _>/<group>.json = {"owner", "expires_ms"}, so a
 * slow run and the next CronJob never work on the same group. A run skips a group whose lease
 * another owner holds and has not expired. A free lease is taken with a conditional put "must not
 * exist", an expired one with "ETag equals the version just read": of several runs racing for
 * it, exactly one wins and the others step aside. On a store without conditional writes the
 * condition is checked by a read just before a plain put (not atomic). Either way the lease is
 * read back after writing: a run that does not find its own name there steps aside (the second
 * line of defence for a store that ignores the condition headers).
 *
 * While a job runs, one renewer thread for the whole run rewrites every held lease with a new
 * expiry each lease_ms/3, conditionally on the ETag of its own last write; if it finds another
 * run's lease instead, exclusivity is lost: that is logged as an error and the job goes on.
 * Jobs of one run on the same group share the run's lease (a count of users). Release reads the
 * lease and deletes it only if it still names this run: S3 has no conditional delete, so a
 * lease that expired and was taken over in the instant between that read and the delete would
 * be removed. lease_mu serialises every lease read and write of the run, so a renewal never
 * crosses a release. Wall clock, not --now. */

#define LEASE_MIN_RENEW_NS (100 * 1000000ull)

typedef struct lease_obj {
    int present;  /* the object exists */
    int readable; /* and parses, with an owner */
    char holder[160];
    int64_t expires_ms;
    char etag[OBJSTORE_ETAG_MAX];
} lease_obj;

static void lease_key(char *out, size_t n, const planner_action *a)
{
    snprintf(out, n, "_strata/leases/%s/%s.json", *a->tenant ? a->tenant : "_", a->group);
}

static int lease_get(run_ctx *c, const char *key, lease_obj *l, st_err *err)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->holder, sizeof(l->holder), "?");
    st_buf b;
    st_buf_init(&b, 0);
    st_err mine;
    st_err_init(&mine);
    int rc = objstore_get_etag(c->store, key, &b, 1 << 16, l->etag, &mine);
    if (rc) {
        st_buf_release(&b);
        return rc == ST_ENOTFOUND ? 0 : st_err_copy(err, &mine);
    }
    l->present = 1;
    json_error_t je;
    json_t *j = json_loadb((const char *)b.p, b.len, 0, &je);
    st_buf_release(&b);
    const char *owner = j ? json_string_value(json_object_get(j, "owner")) : NULL;
    if (owner) {
        l->readable = 1;
        snprintf(l->holder, sizeof(l->holder), "%s", owner);
        l->expires_ms = json_integer_value(json_object_get(j, "expires_ms"));
    }
    json_decref(j);
    return 0;
}

static int lease_mine(const run_ctx *c, const lease_obj *l)
{
    return l->present && l->readable && strcmp(l->holder, c->owner) == 0;
}

/* Held by someone: present, readable and not expired (unreadable ones are overwritten). */
static int lease_live(const lease_obj *l)
{
    return l->present && l->readable && l->expires_ms > st_now_ms();
}

/* Write this run's lease, expiring lease_ms from now, in place of `seen` (the version read just
 * before, or its absence), then read it back into *after. 0: the lease names this run; 1: it
 * names another run or is gone; <0: error. Called under lease_mu. */
static int lease_write(run_ctx *c, const char *key, const lease_obj *seen, lease_obj *after,
                       st_err *err)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"owner\":\"%s\",\"expires_ms\":%" PRId64 "}", c->owner,
                     st_now_ms() + c->lease_ms);
    objstore_cond cond = {seen->present ? OBJSTORE_IF_MATCH : OBJSTORE_IF_ABSENT, seen->etag};
    st_err mine;
    st_err_init(&mine);
    int rc = ST_EUNSUPP;
    if (objstore_supports_conditional(c->store)) {
        rc = objstore_put_if(c->store, key, body, (size_t)n, &cond, NULL, &mine);
        if (rc == ST_EUNSUPP)
            st_log(ST_LOG_WARN,
                   "the object store refuses conditional writes: leases are checked by reading "
                   "before and after writing, which two runs racing within the same instant can "
                   "both pass",
                   "store", objstore_name(c->store), "err", mine.msg, NULL);
    }
    if (rc == ST_EUNSUPP) {
        st_err_init(&mine);
        rc = lease_get(c, key, after, &mine);
        if (!rc && (after->present != seen->present ||
                    (seen->present && strcmp(after->etag, seen->etag) != 0)))
            rc = ST_ECONFLICT;
        if (!rc)
            rc = objstore_put(c->store, key, body, (size_t)n, &mine);
    }
    if (rc && rc != ST_ECONFLICT)
        return st_err_copy(err, &mine);
    /* a conflict may be our own earlier attempt of a retried request: the object tells */
    if ((rc = lease_get(c, key, after, err)))
        return rc;
    return lease_mine(c, after) ? 0 : 1;
}

static held_lease *held_find(run_ctx *c, const char *key)
{
    for (size_t i = 0; i < c->nheld; i++)
        if (strcmp(c->held[i]->key, key) == 0)
            return c->held[i];
    return NULL;
}

static uint64_t renew_every_ns(const run_ctx *c)
{
    return ST_MAX((uint64_t)c->lease_ms * 1000000u / 3, LEASE_MIN_RENEW_NS);
}

static int held_add(run_ctx *c, const char *key, const planner_action *a, const char *etag)
{
    held_lease *h = st_calloc(1, sizeof(*h));
    if (!h)
        return ST_ENOMEM;
    if (c->nheld == c->capheld) {
        size_t nc = c->capheld ? c->capheld * 2 : 8;
        held_lease **nv = st_reallocarray(c->held, nc, sizeof(*nv));
        if (!nv) {
            st_free(h);
            return ST_ENOMEM;
        }
        c->held = nv;
        c->capheld = nc;
    }
    snprintf(h->key, sizeof(h->key), "%s", key);
    snprintf(h->etag, sizeof(h->etag), "%s", etag);
    h->tenant = a->tenant;
    h->group = a->group;
    h->refs = 1;
    h->due_ns = st_mono_ns() + renew_every_ns(c);
    c->held[c->nheld++] = h;
    pthread_cond_signal(&c->lease_cv);
    return 0;
}

static void log_skip(const planner_action *a, const lease_obj *l, const char *why)
{
    char until[48];
    planner_time_format(until, sizeof(until), l->expires_ms);
    st_log(ST_LOG_INFO, "group leased by another run, skipped", "tenant", a->tenant, "group",
           a->group, "holder", l->holder, "until", until, "why", why, NULL);
}

/* 0: taken (or already this run's); 1: held by another run (logged); <0: error. */
static int lease_take(run_ctx *c, const planner_action *a, st_err *err)
{
    if (!c->lease_ms)
        return 0;
    char key[512];
    lease_key(key, sizeof(key), a);
    pthread_mutex_lock(&c->lease_mu);
    held_lease *h = held_find(c, key);
    lease_obj seen, after;
    int rc = 0;
    if (h && h->lost) {
        st_log(ST_LOG_INFO, "group leased by another run, skipped", "tenant", a->tenant, "group",
               a->group, "why", "this run's lease was taken over", NULL);
        rc = 1;
    } else if (h) {
        h->refs++;
    } else if ((rc = lease_get(c, key, &seen, err)) == 0 && lease_live(&seen) &&
               !lease_mine(c, &seen)) {
        log_skip(a, &seen, "held");
        rc = 1;
    } else if (rc == 0) {
        pause_point("lease-read");
        rc = lease_write(c, key, &seen, &after, err);
        if (rc == 1)
            log_skip(a, &after, "another run took it first");
        if (rc == 0 && seen.present && seen.readable && !lease_mine(c, &seen)) {
            char until[48];
            planner_time_format(until, sizeof(until), seen.expires_ms);
            st_log(ST_LOG_INFO, "expired lease taken over", "tenant", a->tenant, "group", a->group,
                   "holder", seen.holder, "expired", until, NULL);
        }
        if (rc == 0 && held_add(c, key, a, after.etag)) {
            st_err ignored;
            st_err_init(&ignored);
            objstore_delete(c->store, key, &ignored);
            rc = st_err_set(err, ST_ENOMEM, "lease %s: out of memory", key);
        }
    }
    pthread_mutex_unlock(&c->lease_mu);
    return rc;
}

static void lease_release(run_ctx *c, const planner_action *a)
{
    if (!c->lease_ms)
        return;
    char key[512];
    lease_key(key, sizeof(key), a);
    pthread_mutex_lock(&c->lease_mu);
    held_lease *h = held_find(c, key);
    if (h && --h->refs == 0) {
        for (size_t i = 0; i < c->nheld; i++)
            if (c->held[i] == h)
                c->held[i] = c->held[--c->nheld];
        lease_obj cur;
        st_err err;
        st_err_init(&err);
        int rc = 0;
        if (!h->lost && !(rc = lease_get(c, key, &cur, &err)) && lease_mine(c, &cur))
            rc = objstore_delete(c->store, key, &err); /* a lost lease is the other run's */
        if (rc)
            st_log(ST_LOG_WARN, "lease not released: it holds the group until it expires", "tenant",
                   a->tenant, "group", a->group, "err", err.msg, NULL);
        st_free(h);
    }
    pthread_mutex_unlock(&c->lease_mu);
}

/* Under lease_mu: rewrite one held lease with a new expiry over our last write. */
static void lease_renew(run_ctx *c, held_lease *h)
{
    lease_obj seen = {.present = 1}, after;
    snprintf(seen.etag, sizeof(seen.etag), "%s", h->etag);
    st_err err;
    st_err_init(&err);
    uint64_t every = renew_every_ns(c);
    int rc = lease_write(c, h->key, &seen, &after, &err);
    if (rc == 0) {
        snprintf(h->etag, sizeof(h->etag), "%s", after.etag);
        h->due_ns = st_mono_ns() + every;
        if (st_log_enabled(ST_LOG_DEBUG)) {
            char until[48];
            planner_time_format(until, sizeof(until), after.expires_ms);
            st_log(ST_LOG_DEBUG, "lease renewed", "tenant", h->tenant, "group", h->group, "until",
                   until, NULL);
        }
    } else if (rc == 1) {
        h->lost = 1;
        st_log(ST_LOG_ERROR,
               "lease lost to another run: this run no longer has the group to itself; the job "
               "goes on",
               "tenant", h->tenant, "group", h->group, "holder", after.holder, NULL);
    } else {
        h->due_ns = st_mono_ns() + every / 4;
        st_log(ST_LOG_WARN, "lease not renewed; trying again", "tenant", h->tenant, "group",
               h->group, "err", err.msg, NULL);
    }
}

static void *lease_renewer(void *arg)
{
    run_ctx *c = arg;
    pthread_mutex_lock(&c->lease_mu);
    while (!c->renewer_stop) {
        uint64_t next = UINT64_MAX;
        /* renewer_stop is set under lease_mu, held through this pass */
        for (size_t i = 0; i < c->nheld; i++) {
            held_lease *h = c->held[i];
            if (!h->lost && h->due_ns <= st_mono_ns())
                lease_renew(c, h);
            if (!h->lost)
                next = ST_MIN(next, h->due_ns);
        }
        if (next == UINT64_MAX) {
            pthread_cond_wait(&c->lease_cv, &c->lease_mu);
        } else {
            struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
            pthread_cond_timedwait(&c->lease_cv, &c->lease_mu, &ts);
        }
    }
    pthread_mutex_unlock(&c->lease_mu);
    return NULL;
}

static int lease_renewer_start(run_ctx *c)
{
    if (!c->lease_ms)
        return 0;
    if (pthread_create(&c->renewer, NULL, lease_renewer, c) != 0)
        return ST_ENOMEM;
    c->renewer_started = 1;
    return 0;
}

static void lease_renewer_stop(run_ctx *c)
{
    if (!c->renewer_started)
        return;
    pthread_mutex_lock(&c->lease_mu);
    c->renewer_stop = 1;
    pthread_cond_signal(&c->lease_cv);
    pthread_mutex_unlock(&c->lease_mu);
    pthread_join(c->renewer, NULL);
    c->renewer_started = 0;
}

/* ---- compaction ---------------------------------------------------------------------------- */

/* Download a block's files into dir (meta.json, index, chunks/NNNNNN, tombstones if any). */
static int download_block(run_ctx *c, const planner_block *b, const char *dir, uint64_t *bytes,
                          st_err *err)
{
    key_list l = {0};
    int rc = objstore_iter(c->store, b->prefix, 1, collect_key, &l, err);
    size_t pl = strlen(b->prefix);
    for (size_t i = 0; i < l.n && !rc; i++) {
        const char *rel = l.v[i] + pl;
        if (ends_with(rel, "-mark.json"))
            continue;
        if (strcmp(rel, "meta.json") != 0 && strcmp(rel, "index") != 0 &&
            strcmp(rel, "tombstones") != 0 && strncmp(rel, "chunks/", 7) != 0)
            continue;
        char *path = st_path_join(dir, rel);
        if (!path) {
            rc = st_err_set(err, ST_ENOMEM, "out of memory");
            break;
        }
        rc = objstore_get_file(c->store, l.v[i], path, err);
        struct stat st;
        if (!rc && stat(path, &st) == 0) /* the local copy's size: no extra request */
            *bytes += (uint64_t)st.st_size;
        st_free(path);
    }
    key_list_free(&l);
    return rc;
}

static void rfc3339_nano(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t l = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + l, n - l, ".%09ldZ", ts.tv_nsec);
}

/* Upload a local block under prefix: chunks/NNNNNN, index, then meta.json with upload_time set. */
static int upload_block(run_ctx *c, const char *dir, const char *prefix, uint64_t *bytes,
                        st_err *err)
{
    codec_meta *meta = NULL;
    char *path = st_path_join(dir, "meta.json");
    st_buf key;
    st_buf_init(&key, 0);
    int rc = path ? codec_meta_read(&meta, path, err) : st_err_set(err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < meta->thanos.nfiles; i++) {
        const codec_meta_file *f = &meta->thanos.files[i];
        if (strcmp(f->rel_path, "meta.json") == 0)
            continue;
        char *local = st_path_join(dir, f->rel_path);
        st_buf_reset(&key);
        if (!local || st_buf_printf(&key, "%s%s", prefix, f->rel_path) || !st_buf_cstr(&key)) {
            st_free(local);
            rc = st_err_set(err, ST_ENOMEM, "out of memory");
            break;
        }
        rc = objstore_put_file(c->store, (const char *)key.p, local, err);
        st_free(local);
        if (!rc && f->size_bytes > 0)
            *bytes += (uint64_t)f->size_bytes;
        if (!rc)
            crash_point(strcmp(f->rel_path, "index") == 0 ? "upload-index" : "upload-chunks");
    }
    if (!rc) {
        char ts[64];
        rfc3339_nano(ts, sizeof(ts));
        st_free(meta->thanos.upload_time);
        meta->thanos.upload_time = st_strdup(ts);
        st_buf j;
        st_buf_init(&j, 0);
        st_buf_reset(&key);
        if (!meta->thanos.upload_time || st_buf_printf(&key, "%smeta.json", prefix) ||
            !st_buf_cstr(&key))
            rc = st_err_set(err, ST_ENOMEM, "out of memory");
        else if (!(rc = codec_meta_format(meta, &j, CODEC_META_NEWLINE, err)) &&
                 !(rc = codec_meta_write(meta, path, CODEC_META_NEWLINE, err)))
            rc = objstore_put(c->store, (const char *)key.p, j.p, j.len, err);
        if (!rc)
            *bytes += j.len;
        st_buf_release(&j);
    }
    if (!rc)
        crash_point("upload-meta");
    codec_meta_free(meta);
    st_buf_release(&key);
    st_free(path);
    return rc;
}

/* After a merge failed on bad data: find which inputs are bad and quarantine them. */
static int quarantine_bad_inputs(run_ctx *c, const planner_action *a, char *const *dirs,
                                 action_result *res, const st_err *cause)
{
    int found = 0;
    for (size_t i = 0; i < a->nblocks; i++) {
        if (!dirs[i])
            continue;
        verify_report r = {0};
        r.max_print = 0;
        st_err verr;
        st_err_init(&verr);
        int rc = verify_block(dirs[i], &r, &verr);
        if (rc == 0 && r.nproblems == 0)
            continue;
        const char *why = rc ? verr.msg : cause->msg;
        st_err merr;
        st_err_init(&merr);
        if (quarantine(c, a->blocks[i], why, res, &merr) == 0) {
            st_log(ST_LOG_ERROR, "quarantined block: marked no-compact", "block",
                   a->blocks[i]->ulid.s, "tenant", a->tenant, "group", a->group, "problem", why,
                   NULL);
            found++;
        } else {
            st_log(ST_LOG_ERROR, "could not quarantine block", "block", a->blocks[i]->ulid.s, "err",
                   merr.msg, NULL);
        }
    }
    return found;
}

static int exec_compact(run_ctx *c, const planner_action *a, action_result *res, st_err *err)
{
    char **dirs = st_calloc(a->nblocks + 1, sizeof(char *));
    codec_block **blocks = st_calloc(a->nblocks + 1, sizeof(codec_block *));
    char *jobdir = NULL, *outdir = NULL;
    uint64_t read = 0, written = 0;
    int outcome = OUT_FAILED, rc = 0;
    merge_stats ms;
    memset(&ms, 0, sizeof(ms));
    st_buf tmp;
    st_buf_init(&tmp, 0);
    if (!dirs || !blocks ||
        st_buf_printf(&tmp, "%s/compact/%s%s%s", c->data_dir, *a->tenant ? a->tenant : "",
                      *a->tenant ? "/" : "", a->group) ||
        !st_buf_cstr(&tmp) || !(jobdir = st_strdup((const char *)tmp.p)) ||
        !(outdir = st_path_join(jobdir, "out"))) {
        rc = st_err_set(err, ST_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = st_rmtree(jobdir, err)) || (rc = st_mkdir_p(outdir, err)))
        goto done;
    for (size_t i = 0; i < a->nblocks; i++) {
        if (!(dirs[i] = st_path_join(jobdir, a->blocks[i]->ulid.s))) {
            rc = st_err_set(err, ST_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = download_block(c, a->blocks[i], dirs[i], &read, err)))
            goto done;
    }
    crash_point("compact-downloaded");
    int nbad = 0;
    for (size_t i = 0; i < a->nblocks; i++) {
        st_err berr;
        st_err_init(&berr);
        if (codec_block_open(&blocks[i], dirs[i], &berr) == 0)
            continue;
        st_err merr;
        st_err_init(&merr);
        if (quarantine(c, a->blocks[i], berr.msg, res, &merr) == 0) {
            st_log(ST_LOG_ERROR, "quarantined block: marked no-compact", "block",
                   a->blocks[i]->ulid.s, "tenant", a->tenant, "group", a->group, "problem",
                   berr.msg, NULL);
            nbad++;
        } else {
            rc = st_err_copy(err, &merr);
            goto done;
        }
    }
    if (nbad) {
        outcome = OUT_QUARANTINED;
        st_err_set(err, ST_ECORRUPT, "%d input block(s) quarantined", nbad);
        goto done;
    }
    merge_opts o = {0};
    o.threads = c->threads;
    o.dedup = MERGE_DEDUP_NONE;
    o.replica_labels = a->replica_labels;
    o.nreplica_labels = a->nreplica_labels;
    o.verify = 1;
    o.source = "compactor";
    o.labels = a->labels;
    o.nlabels = a->nlabels;
    o.have_labels = 1;
    if (a->vertical)
        o.dedup = c->dedup;
    rc = merge_blocks(blocks, a->nblocks, outdir, &o, &ms, err);
    if (rc == ST_ECORRUPT || rc == ST_ECHECKSUM) {
        if (quarantine_bad_inputs(c, a, dirs, res, err) > 0)
            outcome = OUT_QUARANTINED;
        goto done;
    }
    if (rc)
        goto done;
    if (ms.empty) {
        /* no samples in range: the inputs hold nothing, mark them as Thanos does */
        for (size_t i = 0; i < a->nblocks && !rc; i++)
            rc = mark_deletion(c, a->blocks[i], "source of compacted block", err);
        outcome = rc ? OUT_FAILED : OUT_OK;
        goto done;
    }
    st_buf_reset(&tmp);
    if (st_buf_printf(&tmp, "%s%s/", a->tenant_prefix, ms.ulid.s) || !st_buf_cstr(&tmp)) {
        rc = st_err_set(err, ST_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = upload_block(c, ms.dir, (const char *)tmp.p, &written, err)))
        goto done;
    created(res, &ms.ulid);
    for (size_t i = 0; i < a->nblocks && !rc; i++) {
        rc = mark_deletion(c, a->blocks[i], "source of compacted block", err);
        if (!rc && i == 0)
            crash_point("mark-input");
    }
    if (!rc)
        outcome = OUT_OK;
done:
    for (size_t i = 0; i < a->nblocks; i++) {
        codec_block_free(blocks ? blocks[i] : NULL);
        st_free(dirs ? dirs[i] : NULL);
    }
    if (jobdir) {
        st_err ignored;
        st_err_init(&ignored);
        st_rmtree(jobdir, &ignored);
    }
    st_free(dirs);
    st_free(blocks);
    st_free(jobdir);
    st_free(outdir);
    st_buf_release(&tmp);
    count(c, a, res, outcome, read, written);
    if (outcome == OUT_OK) {
        char n[5][32];
        snprintf(n[0], 32, "%zu", a->nblocks);
        snprintf(n[1], 32, "%" PRIu64, ms.series);
        snprintf(n[2], 32, "%" PRIu64, ms.samples);
        snprintf(n[3], 32, "%" PRIu64, read);
        snprintf(n[4], 32, "%" PRIu64, written);
        st_log(ST_LOG_INFO, "compacted", "tenant", a->tenant, "group", a->group, "blocks", n[0],
               "new_block", ms.ulid.s, "series", n[1], "samples", n[2], "bytes_read", n[3],
               "bytes_written", n[4], NULL);
        return 0;
    }
    return outcome == OUT_QUARANTINED ? ST_ECORRUPT : (rc ? rc : ST_ECORRUPT);
}

/* Downsample one block into a.targets (5m, and 1h from the same read), publish each output as
 * compaction outputs are published. The input stays; a bad input is quarantined. */
static int exec_downsample(run_ctx *c, const planner_action *a, action_result *res, st_err *err)
{
    const planner_block *b = a->blocks[0];
    uint64_t read = 0, written = 0;
    int outcome = OUT_FAILED, rc = 0;
    codec_block *blk = NULL;
    downsample_stats ds;
    memset(&ds, 0, sizeof(ds));
    st_buf tmp;
    st_buf_init(&tmp, 0);
    char *jobdir = NULL, *indir = NULL, *outdir = NULL;
    if (st_buf_printf(&tmp, "%s/downsample/%s", c->data_dir, b->ulid.s) || !st_buf_cstr(&tmp) ||
        !(jobdir = st_strdup((const char *)tmp.p)) || !(indir = st_path_join(jobdir, "in")) ||
        !(outdir = st_path_join(jobdir, "out"))) {
        rc = st_err_set(err, ST_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = st_rmtree(jobdir, err)) || (rc = st_mkdir_p(outdir, err)) ||
        (rc = download_block(c, b, indir, &read, err)))
        goto done;
    st_err berr;
    st_err_init(&berr);
    if (codec_block_open(&blk, indir, &berr)) {
        st_err qerr;
        st_err_init(&qerr);
        if ((rc = quarantine(c, b, berr.msg, res, &qerr)))
            st_err_copy(err, &qerr);
        else
            outcome = OUT_QUARANTINED;
        st_err_copy(err, &berr);
        rc = berr.code;
        goto done;
    }
    downsample_opts o = {.threads = c->ds_threads, .verify = 1};
    if ((rc = downsample_block(blk, a->targets, a->ntargets, outdir, &o, &ds, err)))
        goto done;
    for (size_t i = 0; i < ds.nout && !rc; i++) {
        st_buf_reset(&tmp);
        if (st_buf_printf(&tmp, "%s%s/", a->tenant_prefix, ds.out[i].ulid.s) ||
            !st_buf_cstr(&tmp)) {
            rc = st_err_set(err, ST_ENOMEM, "out of memory");
            break;
        }
        rc = upload_block(c, ds.out[i].dir, (const char *)tmp.p, &written, err);
        if (!rc)
            created(res, &ds.out[i].ulid);
    }
    if (!rc)
        outcome = OUT_OK;
done:
    codec_block_free(blk);
    if (jobdir) {
        st_err ignored;
        st_err_init(&ignored);
        st_rmtree(jobdir, &ignored);
    }
    st_free(jobdir);
    st_free(indir);
    st_free(outdir);
    st_buf_release(&tmp);
    count(c, a, res, outcome, read, written);
    if (outcome == OUT_OK) {
        char n[4][32];
        snprintf(n[0], 32, "%zu", ds.nout);
        snprintf(n[1], 32, "%" PRIu64, ds.in_series);
        snprintf(n[2], 32, "%" PRIu64, read);
        snprintf(n[3], 32, "%" PRIu64, written);
        st_log(ST_LOG_INFO, "downsampled", "tenant", a->tenant, "group", a->group, "block",
               b->ulid.s, "outputs", n[0], "series", n[1], "bytes_read", n[2], "bytes_written",
               n[3], NULL);
        return 0;
    }
    return outcome == OUT_QUARANTINED ? ST_ECORRUPT : (rc ? rc : ST_ECORRUPT);
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* With the lease held: has another run done this job already? A run that planned while another
 * was working on the group, and got the lease once that run had released it, finds the inputs
 * marked for deletion (their replacement is published). 1: an input is marked (logged); 0: none
 * is; <0: error. */
static int inputs_marked(run_ctx *c, const planner_action *a, st_err *err)
{
    if (!c->lease_ms)
        return 0;
    for (size_t i = 0; i < a->nblocks; i++) {
        int ex = 0;
        int rc = markers_exists(c->store, a->blocks[i]->prefix, MARKER_DELETION, &ex, err);
        if (rc)
            return rc;
        if (ex) {
            st_log(ST_LOG_INFO, "input already marked for deletion by another run, skipped",
                   "tenant", a->tenant, "group", a->group, "block", a->blocks[i]->ulid.s, NULL);
            return 1;
        }
    }
    return 0;
}

static int exec_action(run_ctx *c, const planner_action *a, action_result *r, st_err *err)
{
    const planner_block *b = a->nblocks ? a->blocks[0] : NULL;
    int rc = 0;
    switch (a->type) {
    case PLANNER_ACT_DELETE:
    case PLANNER_ACT_CLEANUP_PARTIAL:
        rc = delete_block(c, b->prefix, err);
        count(c, a, r, rc ? OUT_FAILED : OUT_OK, 0, 0);
        return rc;
    case PLANNER_ACT_GC:
        rc = mark_deletion(c, b, "outdated block", err);
        count(c, a, r, rc ? OUT_FAILED : OUT_OK, 0, 0);
        return rc;
    case PLANNER_ACT_RETENTION: {
        char details[128], dur[48];
        const planner_tenant_settings *ts = planner_settings_tenant(c->settings, a->tenant);
        int idx = a->resolution == PLANNER_RES_1H   ? PLANNER_1H
                  : a->resolution == PLANNER_RES_5M ? PLANNER_5M
                                                    : PLANNER_RAW;
        planner_duration_format(dur, sizeof(dur), ts->retention_ms[idx]);
        snprintf(details, sizeof(details), "block exceeding retention of %s", dur);
        rc = mark_deletion(c, b, details, err);
        count(c, a, r, rc ? OUT_FAILED : OUT_OK, 0, 0);
        return rc;
    }
    case PLANNER_ACT_COMPACT:
    case PLANNER_ACT_DOWNSAMPLE:
        rc = lease_take(c, a, err);
        if (rc == 0 && (rc = inputs_marked(c, a, err)) != 0)
            lease_release(c, a);
        if (rc == 1) {
            count(c, a, r, OUT_SKIPPED, 0, 0);
            return ACTION_SKIPPED;
        }
        if (rc) {
            count(c, a, r, OUT_FAILED, 0, 0);
            return rc;
        }
        pause_point("leased");
        rc = a->type == PLANNER_ACT_COMPACT ? exec_compact(c, a, r, err)
                                            : exec_downsample(c, a, r, err);
        lease_release(c, a);
        return rc;
    default:
        return st_err_set(err, ST_EINVAL, "unknown action type %d", (int)a->type);
    }
}

typedef struct job {
    run_ctx *c;
    const planner_action *a;
    size_t index;
    action_result r;
} job;

static void log_action(run_ctx *c, const planner_action *a, size_t idx, int rc, const st_err *err,
                       double secs)
{
    char n[4][40];
    snprintf(n[0], sizeof(n[0]), "%zu", idx + 1);
    snprintf(n[1], sizeof(n[1]), "%zu", a->nblocks);
    snprintf(n[2], sizeof(n[2]), "%.3f", secs);
    snprintf(n[3], sizeof(n[3]), "%" PRIu64, a->est.input_bytes);
    const char *outcome = rc == 0                                     ? "ok"
                          : rc == ACTION_SKIPPED                      ? "skipped"
                          : (rc == ST_ECORRUPT || rc == ST_ECHECKSUM) ? "quarantined"
                                                                      : "failed";
    st_log(rc == 0                ? ST_LOG_INFO
           : rc == ACTION_SKIPPED ? ST_LOG_WARN
                                  : ST_LOG_ERROR,
           "action", "n", n[0], "type", planner_action_type_name(a->type), "tenant", a->tenant,
           "group", a->group, "blocks", n[1], "first_block", a->nblocks ? a->blocks[0]->ulid.s : "",
           "bytes", n[3], "duration_s", n[2], "outcome", outcome, "err", rc < 0 ? err->msg : "",
           NULL);
    (void)c;
}

static void run_job(void *arg)
{
    job *j = arg;
    st_err err;
    st_err_init(&err);
    uint64_t t0 = st_mono_ns();
    j->r.outcome = -1;
    int rc = exec_action(j->c, j->a, &j->r, &err);
    uint64_t ns = st_mono_ns() - t0;
    log_action(j->c, j->a, j->index, rc, &err, (double)ns / 1e9);
    history_outcome o = {
        .outcome = j->r.outcome >= 0 ? outcome_names[j->r.outcome]
                   : rc              ? "failed"
                                     : "ok",
        .duration_ms = (int64_t)(ns / 1000000),
        .bytes_read = j->r.read,
        .bytes_written = j->r.written,
        .error = rc < 0 ? err.msg : "",
        .created = j->r.created,
        .ncreated = j->r.ncreated,
        .quarantined = j->r.quarantined,
        .nquarantined = j->r.nquarantined,
    };
    history_add_outcome(j->c->hist, j->index + 1, j->a, &o);
}

/* A history that cannot be written is a warning: the run's work and exit code stand. */
static void save_history(run_ctx *c)
{
    st_err err;
    st_err_init(&err);
    if (c->hist && history_save(c->hist, c->store, &err))
        st_log(ST_LOG_WARN, "could not write the run history", "key", history_key(c->hist), "err",
               err.msg, NULL);
}

static int parse_shard(const char *s, unsigned *i, unsigned *n)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (*end != '/')
        return -1;
    unsigned long b = strtoul(end + 1, &end, 10);
    if (*end || b == 0 || a >= b || b > 10000)
        return -1;
    *i = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    plan_args a;
    plan_args_init(&a);
    int dry_run = 0;
    int64_t compact_conc = 1, downsample_conc = 1, threads = 0, shards = 0;
    const char *shard_s = NULL, *func = "", *push_url = NULL, *textfile = NULL;
    const char *lease_s = "6h", *hist_ret_s = "30d";
    progress_args pa;
    cli_flag flags[PLAN_ARGS_NFLAGS + 15];
    size_t nflags = plan_args_flags(&a, flags);
    nflags += progress_flags(&pa, flags + nflags);
    flags[nflags++] = (cli_flag){"dry-run", CLI_BOOL, &dry_run, "print the plan, change nothing"};
    flags[nflags++] = (cli_flag){"deduplication.func", CLI_STRING, &func,
                                 "\"\" keeps one sample per timestamp; penalty dedups HA replicas"};
    flags[nflags++] =
        (cli_flag){"compact.concurrency", CLI_INT64, &compact_conc, "compactions run at once (1)"};
    flags[nflags++] = (cli_flag){"downsample.concurrency", CLI_INT64, &downsample_conc,
                                 "downsamplings run at once (1)"};
    flags[nflags++] =
        (cli_flag){"threads", CLI_INT64, &threads, "merge threads in all (default: one per core)"};
    flags[nflags++] =
        (cli_flag){"shard", CLI_STRING, &shard_s, "I/N: run only the actions of shard I of N"};
    flags[nflags++] =
        (cli_flag){"shards", CLI_INT64, &shards, "N shards, this one from $JOB_COMPLETION_INDEX"};
    flags[nflags++] =
        (cli_flag){"lease.duration", CLI_STRING, &lease_s,
                   "a group's lease against other runs lasts this long, renewed every third of it "
                   "while its job runs (6h; 0: no leases)"};
    flags[nflags++] = (cli_flag){"history.retention", CLI_STRING, &hist_ret_s,
                                 "delete run history older than this (30d; 0: keep forever)"};
    flags[nflags++] = (cli_flag){"pushgateway.url", CLI_STRING, &push_url,
                                 "push the run's metrics to this Pushgateway"};
    flags[nflags++] = (cli_flag){"metrics.textfile", CLI_STRING, &textfile,
                                 "write the run's metrics to this node-exporter textfile"};
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("run", argc, argv, flags, nflags, &pos, &npos);
    if (rc) {
        plan_args_release(&a);
        return rc;
    }
    int exit_code = COMPACTOR_EXIT_USAGE, hist_tried = 0;
    int64_t now = 0, start_ms = st_now_ms(), hist_ret = 0;
    char host[64] = "host";
    unsigned shard = 0, nshards = 1;
    planner_settings *settings = NULL;
    objstore *store = NULL;
    planner_blockset *set = NULL;
    struct planner_plan *plan = NULL;
    st_pool *pool = NULL, *dspool = NULL, *cur = NULL;
    job *jobs = NULL;
    run_ctx c;
    memset(&c, 0, sizeof(c));
    history_info hinfo;
    memset(&hinfo, 0, sizeof(hinfo));
    pthread_mutex_init(&c.mu, NULL);
    pthread_mutex_init(&c.lease_mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c.lease_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    st_err err;
    st_err_init(&err);
    if (npos || compact_conc < 1 || compact_conc > 64 || downsample_conc < 1 ||
        downsample_conc > 64 || threads < 0 ||
        (strcmp(func, "") != 0 && strcmp(func, "penalty") != 0)) {
        fprintf(stderr, "usage: strata run [plan flags] [--dry-run] [--compact.concurrency=N] "
                        "[--threads=N] [--shard=I/N | --shards=N]\n");
        goto done;
    }
    if ((rc = plan_args_check(&a, "run", &now)) || (rc = progress_args_start(&pa, "run"))) {
        exit_code = rc;
        goto done;
    }
    if (shard_s && parse_shard(shard_s, &shard, &nshards)) {
        fprintf(stderr, "strata run: --shard=%s: expected I/N with 0 <= I < N\n", shard_s);
        goto done;
    }
    if (!shard_s && shards > 0) {
        const char *idx = getenv("JOB_COMPLETION_INDEX");
        char buf[64];
        snprintf(buf, sizeof(buf), "%s/%" PRId64, idx ? idx : "", shards);
        if (!idx || parse_shard(buf, &shard, &nshards)) {
            fprintf(stderr,
                    "strata run: --shards=%" PRId64 " needs JOB_COMPLETION_INDEX in "
                    "0..%" PRId64 " (set by an Indexed Job)\n",
                    shards, shards - 1);
            goto done;
        }
    }
    if (strcmp(func, "penalty") == 0 && a.replicas.n == 0) {
        fprintf(stderr, "strata run: --deduplication.func=penalty needs at least one "
                        "--deduplication.replica-label\n");
        goto done;
    }
    c.dedup = strcmp(func, "penalty") == 0 ? MERGE_DEDUP_PENALTY : MERGE_DEDUP_NONE;
    if (planner_duration_parse(lease_s, &c.lease_ms)) {
        fprintf(stderr, "strata run: --lease.duration=%s: expected a duration such as 6h\n",
                lease_s);
        goto done;
    }
    if (planner_duration_parse(hist_ret_s, &hist_ret)) {
        fprintf(stderr, "strata run: --history.retention=%s: expected a duration such as 30d\n",
                hist_ret_s);
        goto done;
    }
    {
        uint32_t r = 0;
        gethostname(host, sizeof(host) - 1);
        st_random(&r, sizeof(r));
        snprintf(c.owner, sizeof(c.owner), "%s/%d/%08x", host, (int)getpid(), r);
    }
    exit_code = COMPACTOR_EXIT_ERROR;
    uint64_t t0 = st_mono_ns();
    start_ms = st_now_ms();
    if ((push_url || textfile) && metrics_strata_create(&c.m)) {
        fprintf(stderr, "strata run: out of memory\n");
        goto done;
    }
    if (planner_settings_create(&settings, &a.pf, &err)) {
        fprintf(stderr, "strata run: %s\n", err.msg);
        exit_code = COMPACTOR_EXIT_USAGE;
        goto done;
    }
    if (objstore_open_flags(&store, a.cfg_file, a.cfg_yaml, a.bucket, &err))
        goto fail;
    c.store = store;
    hinfo = (history_info){.start_ms = start_ms,
                           .now_ms = now,
                           .shard = shard,
                           .nshards = nshards,
                           .owner = c.owner,
                           .host = host,
                           .bucket = objstore_name(store),
                           .settings = settings,
                           .dedup_func = func,
                           .history_retention_ms = hist_ret};
    if (plan_args_sync(&a, settings, store, &set, &err) ||
        planner_plan(&plan, set, settings, now, &err))
        goto fail;
    pause_point("planned");
    if (dry_run) {
        st_buf out;
        st_buf_init(&out, 0);
        if (planner_plan_format(plan, PLANNER_FORMAT_TEXT, &out, &err)) {
            st_buf_release(&out);
            goto fail;
        }
        fwrite(out.p, 1, out.len, stdout);
        st_buf_release(&out);
        exit_code = COMPACTOR_EXIT_OK;
        goto done;
    }

    if (c.m)
        metrics_strata_todo(c.m, set, plan, shard, nshards);
    c.settings = settings;
    c.data_dir = a.data_dir ? a.data_dir : "data";
    c.now_ms = now;
    int total = threads > 0 ? (int)threads : st_ncpu();
    c.threads = ST_MAX(1, total / (int)compact_conc);
    c.ds_threads = ST_MAX(1, total / (int)downsample_conc);
    size_t n = planner_plan_count(plan);
    jobs = st_calloc(n + 1, sizeof(job));
    if (!jobs || st_pool_create(&pool, (int)compact_conc) ||
        st_pool_create(&dspool, (int)downsample_conc) || lease_renewer_start(&c)) {
        st_err_set(&err, ST_ENOMEM, "out of memory");
        goto fail;
    }
    hinfo.planned = n;
    hist_tried = 1;
    if (history_create(&c.hist, &hinfo))
        st_log(ST_LOG_WARN, "out of memory: this run keeps no history", NULL);
    for (size_t i = 0; i < n; i++) {
        const planner_action *act = planner_plan_action(plan, i);
        if (planner_action_shard(act, nshards) == shard)
            history_add_action(c.hist, i + 1, act);
    }
    save_history(&c); /* status "started": a run that dies leaves its plan */
    size_t mine = 0;
    for (size_t i = 0; i < n; i++) {
        const planner_action *act = planner_plan_action(plan, i);
        if (planner_action_shard(act, nshards) != shard)
            continue;
        mine++;
        jobs[i] = (job){.c = &c, .a = act, .index = i};
        /* compactions run --compact.concurrency at once, downsamplings
         * --downsample.concurrency; between kinds of action the plan's order holds */
        st_pool *want = act->type == PLANNER_ACT_COMPACT      ? pool
                        : act->type == PLANNER_ACT_DOWNSAMPLE ? dspool
                                                              : NULL;
        if (want != cur && cur)
            st_pool_wait(cur);
        cur = want;
        if (want)
            st_pool_submit(want, run_job, &jobs[i]);
        else
            run_job(&jobs[i]);
    }
    if (cur)
        st_pool_wait(cur);
    lease_renewer_stop(&c);
    progress_stop();

    uint64_t failed = 0, skipped = 0;
    st_buf sum;
    st_buf_init(&sum, 0);
    for (int t = 0; t < PLANNER_ACT_NTYPES; t++) {
        failed += c.actions[t][OUT_FAILED];
        skipped += c.actions[t][OUT_SKIPPED];
        for (int o = 0; o < OUT_N; o++)
            if (c.actions[t][o])
                st_buf_printf(&sum, "%s%s_%s=%" PRIu64, sum.len ? " " : "",
                              planner_action_type_name((planner_action_type)t), outcome_names[o],
                              c.actions[t][o]);
    }
    char f[6][40];
    snprintf(f[0], 40, "%zu", n);
    snprintf(f[1], 40, "%zu", mine);
    snprintf(f[2], 40, "%u/%u", shard, nshards);
    snprintf(f[3], 40, "%" PRIu64, c.bytes_read);
    snprintf(f[4], 40, "%" PRIu64, c.bytes_written);
    snprintf(f[5], 40, "%.3f", (double)(st_mono_ns() - t0) / 1e9);
    st_log(failed ? ST_LOG_ERROR : ST_LOG_INFO, "run finished", "planned", f[0], "executed", f[1],
           "shard", f[2], "bytes_read", f[3], "bytes_written", f[4], "duration_s", f[5], "actions",
           st_buf_cstr(&sum) ? (const char *)sum.p : "", NULL);
    st_buf_release(&sum);
    exit_code = failed          ? COMPACTOR_EXIT_ERROR
                : c.quarantined ? COMPACTOR_EXIT_QUARANTINED
                                : COMPACTOR_EXIT_OK;
    (void)skipped;
    goto done;
fail:
    fprintf(stderr, "strata run: %s\n", err.msg);
done:
    progress_stop();
    if (store && !dry_run) {
        size_t pruned = 0;
        st_err herr;
        st_err_init(&herr);
        if (!c.hist && !hist_tried && /* the run failed before its plan */
            history_create(&c.hist, &hinfo))
            st_log(ST_LOG_WARN, "out of memory: this run keeps no history", NULL);
        if (hist_ret > 0 &&
            history_prune(store, now - hist_ret, history_key(c.hist), &pruned, &herr))
            st_log(ST_LOG_WARN, "could not delete old run history", "err", herr.msg, NULL);
        history_finish(c.hist, st_now_ms(), exit_code, err.code ? err.msg : "", pruned);
        save_history(&c);
    }
    if (c.m && !dry_run) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%u", shard);
        const char *grouping[] = {"shard", idx};
        metrics_publish_opts mo = {.textfile = textfile, .pushgateway_url = push_url};
        if (nshards > 1) {
            mo.grouping = grouping;
            mo.ngrouping = 2;
        }
        metrics_strata_finish(c.m, start_ms, st_now_ms(),
                              exit_code == COMPACTOR_EXIT_OK ||
                                  exit_code == COMPACTOR_EXIT_QUARANTINED);
        metrics_strata_publish(c.m, &mo);
    }
    metrics_free(c.m);
    lease_renewer_stop(&c);
    st_pool_free(pool);
    st_pool_free(dspool);
    for (size_t i = 0; jobs && i < planner_plan_count(plan); i++)
        st_free(jobs[i].r.quarantined);
    st_free(jobs);
    history_free(c.hist);
    planner_plan_free(plan);
    planner_blockset_free(set);
    objstore_free(store);
    planner_settings_free(settings);
    pthread_mutex_destroy(&c.mu);
    pthread_mutex_destroy(&c.lease_mu);
    pthread_cond_destroy(&c.lease_cv);
    st_free(c.held); /* empty: every job released its lease */
    st_free(pos);
    plan_args_release(&a);
    return exit_code;
}
