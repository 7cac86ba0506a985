/*
 * history.c - the run history: what each `strata run` planned and what became of every action,
 * kept in the bucket so an operator can answer "why was this block deleted, and when?" long after
 * the logs are gone. One object per run and shard, zstd-compressed JSON lines:
 *
 *   _strata/runs/<UTC start: YYYYMMDDTHHMMSS.mmmZ>-<shard index>.jsonl.zst
 *
 *   line                              written                  holds
 *   {"kind":"run", ...}               once, first              start, now, shard, owner, settings
 *   {"kind":"action","n":N, ...}      per action of the shard  the plan's action JSON (+ n)
 *   {"kind":"outcome","n":N, ...}     per executed action      outcome, time, bytes, new blocks
 *   {"kind":"summary", ...}           once, last               end, exit code, counts
 *
 * The object is written after planning (run line status "started", no outcomes: a run that dies
 * leaves its plan) and once more, whole, at the end (status "finished"). The fields are listed in
 * README.md ("Run history"). The key's time is the wall clock: keys sort by start, and retention
 * of the history (history_prune) reads the time back from the key without a GET.
 */
#include "compactor_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <zstd.h>

#ifndef STRATA_VERSION
#define STRATA_VERSION ""
#endif

#define HISTORY_FORMAT 1 /* the run line's "format": bumped when a field changes meaning */
#define KEY_SUFFIX     ".jsonl.zst"

const char *const outcome_names[OUT_N] = {"ok", "failed", "quarantined", "skipped"};

struct history {
    pthread_mutex_t mu; /* outcomes come from the compaction threads */
    char key[HISTORY_KEY_MAX];
    int64_t start_ms;
    json_t *run;      /* the first line */
    json_t *actions;  /* array of action lines */
    json_t *outcomes; /* array of outcome lines, in the order the actions ended */
    json_t *summary;  /* NULL until history_finish */
    int nomem;        /* sticky: something could not be recorded */
};

/* ---- keys ------------------------------------------------------------------------------------ */

void history_key_format(char out[HISTORY_KEY_MAX], int64_t start_ms, unsigned shard)
{
    int64_t s = start_ms / 1000, r = start_ms % 1000;
    if (r < 0) {
        r += 1000;
        s--;
    }
    time_t t = (time_t)s;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    gmtime_r(&t, &tm);
    snprintf(out, HISTORY_KEY_MAX, "%s%04d%02d%02dT%02d%02d%02d.%03dZ-%u%s", HISTORY_PREFIX,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)r,
             shard, KEY_SUFFIX);
}

/* n decimal digits at *p (advanced); -1 if any is not a digit. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

int history_key_parse(const char *key, int64_t *start_ms, unsigned *shard)
{
    size_t pl = strlen(HISTORY_PREFIX);
    if (strncmp(key, HISTORY_PREFIX, pl) != 0)
        return ST_EINVAL;
    const char *p = key + pl;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y = digits(&p, 4), mo = digits(&p, 2), d = digits(&p, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || *p++ != 'T')
        return ST_EINVAL;
    int h = digits(&p, 2), mi = digits(&p, 2), s = digits(&p, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || *p++ != '.')
        return ST_EINVAL;
    int ms = digits(&p, 3);
    if (ms < 0 || *p++ != 'Z' || *p++ != '-' || *p < '0' || *p > '9')
        return ST_EINVAL;
    unsigned long sh = 0;
    for (int i = 0; *p >= '0' && *p <= '9'; p++, i++) {
        if (i == 5 || (i == 1 && sh == 0)) /* at most 5 digits, no leading zero */
            return ST_EINVAL;
        sh = sh * 10 + (unsigned long)(*p - '0');
    }
    if (strcmp(p, KEY_SUFFIX) != 0)
        return ST_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* timegm normalised 31 April into May */
        return ST_EINVAL;
    *start_ms = (int64_t)t * 1000 + ms;
    *shard = (unsigned)sh;
    return 0;
}

/* ---- recording ------------------------------------------------------------------------------- */

/* A JSON string of s; bytes that are not UTF-8 (a file name in an error) become '?'. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j || !s)
        return j;
    char *c = st_strdup(s);
    if (!c)
        return NULL;
    for (char *q = c; *q; q++)
        if ((unsigned char)*q >= 0x80)
            *q = '?';
    j = json_string(c);
    st_free(c);
    return j;
}

static void set(history *h, json_t *o, const char *k, json_t *v)
{
    if (!v || json_object_set_new(o, k, v)) /* frees v, and fails on a NULL o */
        h->nomem = 1;
}

static void set_time(history *h, json_t *o, const char *k, int64_t ms)
{
    char t[48], kms[32];
    planner_time_format(t, sizeof(t), ms);
    snprintf(kms, sizeof(kms), "%s_ms", k);
    set(h, o, k, json_string(t));
    set(h, o, kms, json_integer(ms));
}

static json_t *dur(int64_t ms)
{
    char d[48];
    planner_duration_format(d, sizeof(d), ms);
    return json_string(d);
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, jstr(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *ulids(const codec_ulid *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i].s))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *tenant_json(history *h, const planner_tenant_settings *t)
{
    json_t *o = json_object(), *r = json_object();
    set(h, r, "raw", dur(t->retention_ms[PLANNER_RAW]));
    set(h, r, "5m", dur(t->retention_ms[PLANNER_5M]));
    set(h, r, "1h", dur(t->retention_ms[PLANNER_1H]));
    set(h, o, "retention", r);
    set(h, o, "downsampling", json_boolean(t->downsampling));
    set(h, o, "replica_labels", strings(t->replica_labels, t->nreplica_labels));
    return o;
}

static json_t *settings_json(history *h, const history_info *in)
{
    static const char *const layouts[] = {"none", "prefix", "label"};
    const planner_settings *s = in->settings;
    json_t *o = json_object(), *t = json_object();
    set(h, o, "tenant_layout", json_string(layouts[s->tenant_layout % 3]));
    if (s->tenant_layout == PLANNER_TENANTS_LABEL)
        set(h, o, "tenant_label", jstr(s->tenant_label));
    set(h, o, "delete_delay", dur(s->delete_delay_ms));
    set(h, o, "consistency_delay", dur(s->consistency_delay_ms));
    set(h, o, "deduplication_func", jstr(in->dedup_func));
    set(h, o, "history_retention", dur(in->history_retention_ms));
    set(h, o, "defaults", tenant_json(h, &s->defaults));
    for (size_t i = 0; i < s->ntenants; i++)
        set(h, t, s->tenants[i].name, tenant_json(h, &s->tenants[i]));
    set(h, o, "tenants", t);
    return o;
}

int history_create(history **out, const history_info *in)
{
    *out = NULL;
    history *h = st_calloc(1, sizeof(*h));
    if (!h)
        return ST_ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    h->start_ms = in->start_ms;
    history_key_format(h->key, in->start_ms, in->shard);
    h->run = json_object();
    h->actions = json_array();
    h->outcomes = json_array();
    if (!h->run || !h->actions || !h->outcomes) {
        history_free(h);
        return ST_ENOMEM;
    }
    char shard[32];
    snprintf(shard, sizeof(shard), "%u/%u", in->shard, in->nshards ? in->nshards : 1);
    json_t *r = h->run;
    set(h, r, "kind", json_string("run"));
    set(h, r, "format", json_integer(HISTORY_FORMAT));
    set(h, r, "key", json_string(h->key));
    set(h, r, "status", json_string("started"));
    set_time(h, r, "start", in->start_ms);
    set_time(h, r, "now", in->now_ms);
    set(h, r, "shard", json_string(shard));
    set(h, r, "owner", jstr(in->owner));
    set(h, r, "host", jstr(in->host));
    set(h, r, "strata_version", json_string(STRATA_VERSION));
    set(h, r, "bucket", jstr(in->bucket));
    set(h, r, "planned", json_integer((json_int_t)in->planned));
    set(h, r, "actions", json_integer(0));
    if (in->settings)
        set(h, r, "settings", settings_json(h, in));
    if (h->nomem) {
        history_free(h);
        return ST_ENOMEM;
    }
    *out = h;
    return 0;
}

void history_free(history *h)
{
    if (!h)
        return;
    json_decref(h->run);
    json_decref(h->actions);
    json_decref(h->outcomes);
    json_decref(h->summary);
    pthread_mutex_destroy(&h->mu);
    st_free(h);
}

const char *history_key(const history *h)
{
    return h ? h->key : "";
}

void history_add_action(history *h, size_t n, const planner_action *a)
{
    if (!h)
        return;
    json_t *o = json_object(), *aj = planner_action_json(a);
    set(h, o, "kind", json_string("action"));
    set(h, o, "n", json_integer((json_int_t)n));
    if (!o || !aj || json_object_update(o, aj))
        h->nomem = 1;
    json_decref(aj);
    pthread_mutex_lock(&h->mu);
    if (!o || json_array_append_new(h->actions, o))
        h->nomem = 1;
    else
        set(h, h->run, "actions", json_integer((json_int_t)json_array_size(h->actions)));
    pthread_mutex_unlock(&h->mu);
}

void history_add_outcome(history *h, size_t n, const planner_action *a, const history_outcome *oc)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    json_t *o = json_object();
    set(h, o, "kind", json_string("outcome"));
    set(h, o, "n", json_integer((json_int_t)n));
    set(h, o, "type", json_string(planner_action_type_name(a->type)));
    set(h, o, "tenant", jstr(a->tenant));
    set(h, o, "group", jstr(a->group));
    set(h, o, "outcome", json_string(oc->outcome));
    set_time(h, o, "time", st_now_ms());
    set(h, o, "duration_ms", json_integer(oc->duration_ms));
    set(h, o, "bytes_read", json_integer((json_int_t)oc->bytes_read));
    set(h, o, "bytes_written", json_integer((json_int_t)oc->bytes_written));
    set(h, o, "error", jstr(oc->error));
    set(h, o, "created", ulids(oc->created, oc->ncreated));
    set(h, o, "quarantined", ulids(oc->quarantined, oc->nquarantined));
    if (!o || json_array_append_new(h->outcomes, o))
        h->nomem = 1;
    pthread_mutex_unlock(&h->mu);
}

void history_finish(history *h, int64_t end_ms, int exit_code, const char *error, size_t pruned)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    json_t *by_type = json_object(), *total = json_object();
    uint64_t read = 0, written = 0;
    size_t i;
    json_t *o;
    json_array_foreach(h->outcomes, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "type"));
        const char *oc = json_string_value(json_object_get(o, "outcome"));
        if (!t || !oc)
            continue;
        json_t *bt = json_object_get(by_type, t);
        if (!bt)
            set(h, by_type, t, bt = json_object());
        set(h, bt, oc, json_integer(json_integer_value(json_object_get(bt, oc)) + 1));
        set(h, total, oc, json_integer(json_integer_value(json_object_get(total, oc)) + 1));
        read += (uint64_t)json_integer_value(json_object_get(o, "bytes_read"));
        written += (uint64_t)json_integer_value(json_object_get(o, "bytes_written"));
    }
    json_t *s = json_object();
    set(h, s, "kind", json_string("summary"));
    set_time(h, s, "end", end_ms);
    set(h, s, "duration_ms", json_integer(end_ms - h->start_ms));
    set(h, s, "exit_code", json_integer(exit_code));
    set(h, s, "error", jstr(error));
    set(h, s, "executed", json_integer((json_int_t)json_array_size(h->outcomes)));
    for (int k = 0; k < OUT_N; k++) /* every outcome, 0 included */
        if (total && !json_object_get(total, outcome_names[k]))
            set(h, total, outcome_names[k], json_integer(0));
    set(h, s, "outcomes", total);
    set(h, s, "by_type", by_type);
    set(h, s, "bytes_read", json_integer((json_int_t)read));
    set(h, s, "bytes_written", json_integer((json_int_t)written));
    set(h, s, "history_pruned", json_integer((json_int_t)pruned));
    json_decref(h->summary);
    h->summary = s;
    set(h, h->run, "status", json_string("finished"));
    pthread_mutex_unlock(&h->mu);
}

/* ---- writing ------------------------------------------------------------------------------- */

static int put_line(st_buf *b, const json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return ST_ENOMEM;
    int rc = st_buf_append(b, s, strlen(s));
    if (!rc)
        rc = st_buf_putc(b, '\n');
    free(s);
    return rc;
}

int history_encode(history *h, st_buf *out, st_err *err)
{
    st_buf lines;
    st_buf_init(&lines, 0);
    pthread_mutex_lock(&h->mu);
    int rc = h->nomem ? ST_ENOMEM : put_line(&lines, h->run);
    size_t i;
    json_t *o;
    json_array_foreach(h->actions, i, o)
    {
        if (!rc)
            rc = put_line(&lines, o);
    }
    json_array_foreach(h->outcomes, i, o)
    {
        if (!rc)
            rc = put_line(&lines, o);
    }
    if (!rc && h->summary)
        rc = put_line(&lines, h->summary);
    pthread_mutex_unlock(&h->mu);
    if (rc)
        rc = st_err_set(err, rc, "history %s: out of memory", h->key);
    else
        rc = history_compress(lines.p, lines.len, out, err);
    st_buf_release(&lines);
    return rc;
}

int history_save(history *h, objstore *s, st_err *err)
{
    if (!h)
        return 0;
    st_buf b;
    st_buf_init(&b, 0);
    int rc = history_encode(h, &b, err);
    if (!rc)
        rc = objstore_put(s, h->key, b.p, b.len, err);
    st_buf_release(&b);
    return rc;
}

typedef struct list_ctx {
    int64_t from, before;
    history_keys *k;
} list_ctx;

static int list_key(void *ctx, const char *key, int is_prefix)
{
    list_ctx *c = ctx;
    history_keys *k = c->k;
    int64_t t;
    unsigned shard;
    if (is_prefix || history_key_parse(key, &t, &shard) || t < c->from || t >= c->before)
        return 0;
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 64;
        char **nv = st_reallocarray(k->v, nc, sizeof(*nv));
        if (!nv)
            return ST_ENOMEM;
        k->v = nv;
        k->cap = nc;
    }
    return (k->v[k->n] = st_strdup(key)) ? (k->n++, 0) : ST_ENOMEM;
}

int history_list(objstore *s, int64_t from_ms, int64_t before_ms, history_keys *out, st_err *err)
{
    list_ctx c = {from_ms, before_ms, out};
    int rc = objstore_iter(s, HISTORY_PREFIX, 0, list_key, &c, err);
    return rc == ST_ENOMEM ? st_err_set(err, rc, "history: out of memory") : rc;
}

void history_keys_release(history_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        st_free(k->v[i]);
    st_free(k->v);
    memset(k, 0, sizeof(*k));
}

int history_prune(objstore *s, int64_t cutoff_ms, const char *keep, size_t *deleted, st_err *err)
{
    history_keys k = {0};
    *deleted = 0;
    int rc = history_list(s, INT64_MIN, cutoff_ms, &k, err);
    for (size_t i = 0; i < k.n && !rc; i++) {
        if (keep && strcmp(k.v[i], keep) == 0)
            continue;
        if (!(rc = objstore_delete(s, k.v[i], err)))
            (*deleted)++;
    }
    history_keys_release(&k);
    return rc;
}

/* ---- zstd ------------------------------------------------------------------------------------ */

int history_compress(const void *p, size_t n, st_buf *out, st_err *err)
{
    size_t bound = ZSTD_compressBound(n);
    int rc = st_buf_reserve(out, bound);
    if (rc)
        return st_err_set(err, rc, "history: out of memory");
    size_t z = ZSTD_compress(out->p + out->len, bound, p, n, 3);
    if (ZSTD_isError(z))
        return st_err_set(err, ST_EINVAL, "history: zstd: %s", ZSTD_getErrorName(z));
    out->len += z;
    return 0;
}

int history_decompress(const void *p, size_t n, st_buf *out, size_t max, const char *name,
                       st_err *err)
{
    if (n == 0)
        return st_err_set(err, ST_ECORRUPT, "%s: empty object, not a zstd frame", name);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
    ZSTD_inBuffer in = {p, n, 0};
    size_t start = out->len, chunk = ZSTD_DStreamOutSize(), left = 0;
    int rc = 0;
    for (;;) {
        if ((rc = st_buf_reserve(out, chunk))) {
            st_err_set(err, rc, "%s: out of memory", name);
            break;
        }
        ZSTD_outBuffer ob = {out->p + out->len, chunk, 0};
        left = ZSTD_decompressStream(d, &ob, &in);
        if (ZSTD_isError(left)) {
            rc =
                st_err_set(err, ST_ECORRUPT, "%s: not a valid zstd stream (at byte %zu of %zu): %s",
                           name, in.pos, n, ZSTD_getErrorName(left));
            break;
        }
        out->len += ob.pos;
        if (out->len - start > max) {
            rc = st_err_set(err, ST_ETOOBIG, "%s: more than %zu bytes decompressed", name, max);
            break;
        }
        if (in.pos == in.size && ob.pos < ob.size)
            break; /* all input read, everything decoded flushed */
    }
    if (!rc && left != 0) /* a frame started and did not end */
        rc = st_err_set(err, ST_ECORRUPT, "%s: truncated zstd frame (%zu bytes)", name, n);
    ZSTD_freeDCtx(d);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------------- */

static int lines_add(history_lines *l, json_t *o)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        json_t **nv = st_reallocarray(l->v, nc, sizeof(*nv));
        if (!nv)
            return ST_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = o;
    return 0;
}

int history_decode(const void *p, size_t n, const char *key, history_lines *out, st_err *err)
{
    st_buf b;
    st_buf_init(&b, 0);
    int rc = history_decompress(p, n, &b, HISTORY_MAX_DECODED, key, err);
    const char *s = (const char *)b.p, *end = s + b.len;
    for (size_t line = 1; !rc && s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        json_error_t je;
        json_t *o = len ? json_loadb(s, len, 0, &je) : NULL;
        const char *why = !len ? "empty line"
                          : !o ? je.text
                          : !json_is_string(json_object_get(o, "kind"))
                              ? "not a JSON object with a \"kind\""
                              : NULL;
        if (why) {
            if (!out->nbad++)
                snprintf(out->bad, sizeof(out->bad), "%s: line %zu: %s", key, line, why);
            json_decref(o);
        } else if (lines_add(out, o)) {
            json_decref(o);
            rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", key);
        }
        s += len + (nl ? 1 : 0);
    }
    if (!rc && out->n == 0)
        rc = st_err_set(err, ST_ECORRUPT, "%s: no history line in %zu bytes%s%s", key, b.len,
                        out->nbad ? "; " : "", out->nbad ? out->bad : "");
    st_buf_release(&b);
    return rc;
}

void history_lines_release(history_lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->v[i]);
    st_free(l->v);
    memset(l, 0, sizeof(*l));
}
