/*
 * meta.c - a block's meta.json (block format §2) with Thanos' `thanos` section (Thanos
 * compactor spec §1). Parsing uses jansson and checks what Prometheus and Thanos check (version 1,
 * thanos.version 0 or 1) plus a valid ULID and minTime <= maxTime. Formatting is written by hand
 * to give the bytes of Go's json.MarshalIndent(meta, "", "\t") for Prometheus' BlockMeta and
 * Thanos' metadata.Meta: struct field order, omitempty rules, sorted map keys, Go's string
 * escaping (\u003c \u003e \u0026 \u2028 \u2029, \u00XX for control bytes, \ufffd for invalid
 * UTF-8) and Go's float formatting for free-form values. Fields neither struct knows are kept
 * from the parsed input and written after the known fields of their object, in input order.
 */
#include "codec.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define META_MAX_SIZE (64u << 20)
#define ZERO_ULID     "00000000000000000000000000"
#define ZERO_TIME     "0001-01-01T00:00:00Z"

/* m->unknown is a jansson object holding what the structs do not know, by place:
 *   "top", "stats", "compaction", "thanos", "downsample", "index_stats": objects of unknown
 *       members of that object, in input order;
 *   "rewrites", "extensions": thanos.rewrites and thanos.extensions as read (Go keeps them as
 *       []Rewrite and `any`; we keep the JSON and write it in its struct position);
 *   "parents": {ulid: {unknown members of that parent}}, "files": {rel_path: {...}},
 *   "hash": {rel_path: {unknown members of that file's hash}}. Keyed by identity rather than
 *       position so a caller that edits the arrays does not attach them to the wrong element. */

/* =============================================================================================
 * Parsing.
 */
typedef struct pctx {
    const char *name;
    st_err *err;
    codec_meta *m;
} pctx;

static int nomem(pctx *c)
{
    return st_err_set(c->err, ST_ENOMEM, "parse %s: out of memory", c->name);
}

static int bad(pctx *c, const char *field, const char *what)
{
    return st_err_set(c->err, ST_ECORRUPT, "corrupt: %s: field %s: %s", c->name, field, what);
}

/* The object m->unknown[place], created on first use. */
static json_t *unknown_obj(codec_meta *m, const char *place)
{
    json_t *u = m->unknown;
    if (!u && !(u = m->unknown = json_object()))
        return NULL;
    json_t *o = json_object_get(u, place);
    if (!o) {
        o = json_object();
        if (!o || json_object_set_new(u, place, o) != 0)
            return NULL;
    }
    return o;
}

static int keep(pctx *c, const char *place, const char *key, json_t *v)
{
    json_t *o = unknown_obj(c->m, place);
    if (!o || json_object_set(o, key, v) != 0)
        return nomem(c);
    return 0;
}

/* Unknown members of one element of parents/files, under m->unknown[place][id]. */
static int keep_elem(pctx *c, const char *place, const char *id, const char *key, json_t *v)
{
    json_t *o = unknown_obj(c->m, place);
    if (!o)
        return nomem(c);
    json_t *e = json_object_get(o, id);
    if (!e && (!(e = json_object()) || json_object_set_new(o, id, e) != 0))
        return nomem(c);
    if (json_object_set(e, key, v) != 0)
        return nomem(c);
    return 0;
}

/* Go leaves a field alone when the JSON value is null; so do these getters. */
static int get_i64(pctx *c, const char *field, json_t *v, int64_t *out)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return bad(c, field, "expected an integer");
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_u64(pctx *c, const char *field, json_t *v, uint64_t *out)
{
    int64_t x = 0;
    int rc = get_i64(c, field, v, &x);
    if (rc)
        return rc;
    if (x < 0)
        return bad(c, field, "expected a non-negative integer");
    if (!json_is_null(v))
        *out = (uint64_t)x;
    return 0;
}

static int get_bool(pctx *c, const char *field, json_t *v, int *out)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad(c, field, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

/* A heap copy of a string value; null gives NULL. */
static int get_str(pctx *c, const char *field, json_t *v, char **out)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad(c, field, "expected a string");
    char *s = st_strndup(json_string_value(v), json_string_length(v));
    if (!s)
        return nomem(c);
    st_free(*out);
    *out = s;
    return 0;
}

/* ULIDs are parsed like oklog/ulid (either case) and kept upper case, as Go writes them. */
static int get_ulid(pctx *c, const char *field, json_t *v, codec_ulid *out)
{
    if (!json_is_string(v))
        return bad(c, field, "expected a ULID string");
    const char *s = json_string_value(v);
    if (!codec_ulid_valid(s, json_string_length(v)))
        return bad(c, field, "not a valid ULID");
    for (int i = 0; i < CODEC_ULID_LEN; i++)
        out->s[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    out->s[CODEC_ULID_LEN] = '\0';
    return 0;
}

/* An array value (null: no elements). */
static int get_array(pctx *c, const char *field, json_t *v, size_t *n)
{
    *n = 0;
    if (json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(c, field, "expected an array");
    *n = json_array_size(v);
    return 0;
}

static int get_str_array(pctx *c, const char *field, json_t *v, char ***out, size_t *nout)
{
    size_t n;
    int rc = get_array(c, field, v, &n);
    if (rc || n == 0)
        return rc;
    char **a = st_calloc(n, sizeof(*a));
    if (!a)
        return nomem(c);
    *out = a;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return bad(c, field, "expected an array of strings");
        if ((rc = get_str(c, field, e, &a[i])))
            return rc;
        *nout = i + 1;
    }
    return 0;
}

static int days_in_month(int y, int mon)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[mon - 1];
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Check an RFC 3339 time as Go's time.Time.UnmarshalJSON does and rewrite it as its
 * MarshalJSON would (RFC3339Nano): fraction cut to 9 digits with trailing zeros dropped, and a
 * zero offset written as Z. Returns a heap string, NULL for the zero time, or sets *bad. */
static char *norm_time(const char *s, size_t len, int *bad_time)
{
    *bad_time = 1;
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return NULL;
    int y = num(s, 4), mon = num(s + 5, 2), d = num(s + 8, 2);
    int h = num(s + 11, 2), mi = num(s + 14, 2), sec = num(s + 17, 2);
    if (y < 0 || mon < 1 || mon > 12 || d < 1 || d > days_in_month(y, mon) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return NULL;
    size_t i = 19;
    char frac[10] = "";
    if (s[i] == '.') {
        size_t k = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (k < 9)
                frac[k++] = s[i];
        if (k == 0)
            return NULL;
        while (k > 0 && frac[k - 1] == '0')
            k--;
        frac[k] = '\0';
    }
    char zone[7];
    if (i + 1 == len && s[i] == 'Z') {
        strcpy(zone, "Z");
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int zh = num(s + i + 1, 2), zm = num(s + i + 4, 2);
        if (zh < 0 || zh > 23 || zm < 0 || zm > 59)
            return NULL;
        if (zh == 0 && zm == 0)
            strcpy(zone, "Z");
        else
            snprintf(zone, sizeof(zone), "%.6s", s + i);
    } else {
        return NULL;
    }
    *bad_time = 0;
    char out[64];
    snprintf(out, sizeof(out), "%.19s%s%s%s", s, frac[0] ? "." : "", frac, zone);
    if (strcmp(out, ZERO_TIME) == 0)
        return NULL;
    char *r = st_strdup(out);
    if (!r)
        *bad_time = -1;
    return r;
}

static int parse_stats(pctx *c, json_t *o)
{
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad(c, "stats", "expected an object");
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, k, v)
    {
        if (!strcmp(k, "numSamples"))
            rc = get_u64(c, "stats.numSamples", v, &c->m->stats.num_samples);
        else if (!strcmp(k, "numFloatSamples"))
            rc = get_u64(c, "stats.numFloatSamples", v, &c->m->stats.num_float_samples);
        else if (!strcmp(k, "numHistogramSamples"))
            rc = get_u64(c, "stats.numHistogramSamples", v, &c->m->stats.num_histogram_samples);
        else if (!strcmp(k, "numSeries"))
            rc = get_u64(c, "stats.numSeries", v, &c->m->stats.num_series);
        else if (!strcmp(k, "numChunks"))
            rc = get_u64(c, "stats.numChunks", v, &c->m->stats.num_chunks);
        else if (!strcmp(k, "numTombstones"))
            rc = get_u64(c, "stats.numTombstones", v, &c->m->stats.num_tombstones);
        else
            rc = keep(c, "stats", k, v);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_parent(pctx *c, json_t *o, codec_block_desc *d)
{
    if (!json_is_object(o))
        return bad(c, "compaction.parents", "expected an array of objects");
    json_t *id = json_object_get(o, "ulid");
    if (!id)
        return bad(c, "compaction.parents", "a parent has no ulid");
    int rc = get_ulid(c, "compaction.parents.ulid", id, &d->ulid);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (rc)
            break;
        if (!strcmp(k, "ulid"))
            continue;
        if (!strcmp(k, "minTime"))
            rc = get_i64(c, "compaction.parents.minTime", v, &d->min_time);
        else if (!strcmp(k, "maxTime"))
            rc = get_i64(c, "compaction.parents.maxTime", v, &d->max_time);
        else
            rc = keep_elem(c, "parents", d->ulid.s, k, v);
    }
    return rc;
}

static int parse_compaction(pctx *c, json_t *o)
{
    codec_meta *m = c->m;
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad(c, "compaction", "expected an object");
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, k, v)
    {
        size_t n = 0;
        if (!strcmp(k, "level")) {
            int64_t l = 0;
            if (!(rc = get_i64(c, "compaction.level", v, &l))) {
                if (l < INT32_MIN || l > INT32_MAX)
                    rc = bad(c, "compaction.level", "out of range");
                m->level = (int)l;
            }
        } else if (!strcmp(k, "sources")) {
            st_free(m->sources);
            m->sources = NULL;
            m->nsources = 0;
            if (!(rc = get_array(c, "compaction.sources", v, &n)) && n > 0) {
                if (!(m->sources = st_calloc(n, sizeof(*m->sources))))
                    return nomem(c);
                for (size_t i = 0; i < n && !rc; i++)
                    rc = get_ulid(c, "compaction.sources", json_array_get(v, i), &m->sources[i]);
                m->nsources = n;
            }
        } else if (!strcmp(k, "deletable")) {
            rc = get_bool(c, "compaction.deletable", v, &m->deletable);
        } else if (!strcmp(k, "parents")) {
            st_free(m->parents);
            m->parents = NULL;
            m->nparents = 0;
            if (!(rc = get_array(c, "compaction.parents", v, &n)) && n > 0) {
                if (!(m->parents = st_calloc(n, sizeof(*m->parents))))
                    return nomem(c);
                m->nparents = n;
                for (size_t i = 0; i < n && !rc; i++)
                    rc = parse_parent(c, json_array_get(v, i), &m->parents[i]);
            }
        } else if (!strcmp(k, "failed")) {
            rc = get_bool(c, "compaction.failed", v, &m->failed);
        } else if (!strcmp(k, "hints")) {
            for (size_t i = 0; i < m->nhints; i++)
                st_free(m->hints[i]);
            st_free(m->hints);
            m->hints = NULL;
            m->nhints = 0;
            rc = get_str_array(c, "compaction.hints", v, &m->hints, &m->nhints);
        } else {
            rc = keep(c, "compaction", k, v);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const codec_kv *)a)->name, ((const codec_kv *)b)->name);
}

static int parse_labels(pctx *c, json_t *o)
{
    codec_meta *m = c->m;
    if (json_is_null(o)) {
        m->thanos.labels_null = 1;
        return 0;
    }
    if (!json_is_object(o))
        return bad(c, "thanos.labels", "expected an object");
    m->thanos.labels_null = 0;
    size_t n = json_object_size(o);
    if (n == 0)
        return 0;
    if (!(m->thanos.labels = st_calloc(n, sizeof(*m->thanos.labels))))
        return nomem(c);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        codec_kv *kv = &m->thanos.labels[m->thanos.nlabels];
        if (!json_is_string(v))
            return bad(c, "thanos.labels", "expected string values");
        if (!(kv->name = st_strdup(k)))
            return nomem(c);
        m->thanos.nlabels++;
        int rc = get_str(c, "thanos.labels", v, &kv->value);
        if (rc)
            return rc;
    }
    qsort(m->thanos.labels, m->thanos.nlabels, sizeof(codec_kv), cmp_kv);
    return 0;
}

static int parse_downsample(pctx *c, json_t *o)
{
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad(c, "thanos.downsample", "expected an object");
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, k, v)
    {
        if (!strcmp(k, "resolution"))
            rc = get_i64(c, "thanos.downsample.resolution", v, &c->m->thanos.resolution);
        else
            rc = keep(c, "downsample", k, v);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_hash(pctx *c, json_t *o, codec_meta_file *f)
{
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad(c, "thanos.files.hash", "expected an object");
    /* Present, so both members are written even when absent from the input. */
    if (!(f->hash_func = st_strdup("")) || !(f->hash_value = st_strdup("")))
        return nomem(c);
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, k, v)
    {
        if (!strcmp(k, "hashFunc"))
            rc = get_str(c, "thanos.files.hash.hashFunc", v, &f->hash_func);
        else if (!strcmp(k, "value"))
            rc = get_str(c, "thanos.files.hash.value", v, &f->hash_value);
        else
            rc = keep_elem(c, "hash", f->rel_path, k, v);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_file(pctx *c, json_t *o, codec_meta_file *f)
{
    f->size_bytes = -1;
    if (!json_is_object(o))
        return bad(c, "thanos.files", "expected an array of objects");
    json_t *rp = json_object_get(o, "rel_path");
    int rc = 0;
    if (rp)
        rc = get_str(c, "thanos.files.rel_path", rp, &f->rel_path);
    if (!rc && !f->rel_path && !(f->rel_path = st_strdup("")))
        rc = nomem(c);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (rc)
            break;
        if (!strcmp(k, "rel_path"))
            continue;
        if (!strcmp(k, "size_bytes")) {
            int64_t sz = 0;
            rc = get_i64(c, "thanos.files.size_bytes", v, &sz);
            /* omitempty: 0 is never written, so it reads back as absent */
            f->size_bytes = sz == 0 ? -1 : sz;
        } else if (!strcmp(k, "hash")) {
            rc = parse_hash(c, v, f);
        } else {
            rc = keep_elem(c, "files", f->rel_path, k, v);
        }
    }
    return rc;
}

static int parse_index_stats(pctx *c, json_t *o)
{
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad(c, "thanos.index_stats", "expected an object");
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, k, v)
    {
        if (!strcmp(k, "series_max_size"))
            rc = get_i64(c, "thanos.index_stats.series_max_size", v, &c->m->thanos.series_max_size);
        else if (!strcmp(k, "chunk_max_size"))
            rc = get_i64(c, "thanos.index_stats.chunk_max_size", v, &c->m->thanos.chunk_max_size);
        else
            rc = keep(c, "index_stats", k, v);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_thanos(pctx *c, json_t *o)
{
    codec_meta *m = c->m;
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad(c, "thanos", "expected an object");
    m->has_thanos = 1;
    m->thanos.labels_null = 1; /* a nil map unless the input has one */
    if (!m->thanos.source && !(m->thanos.source = st_strdup("")))
        return nomem(c);
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, k, v)
    {
        size_t n = 0;
        if (!strcmp(k, "version")) {
            int64_t ver = 0;
            rc = get_i64(c, "thanos.version", v, &ver);
            if (!rc && ver != 0 && ver != 1) {
                char what[64];
                snprintf(what, sizeof(what), "unsupported Thanos section version %lld",
                         (long long)ver);
                rc = bad(c, "thanos.version", what);
            }
            m->thanos.version = (int)ver;
        } else if (!strcmp(k, "labels")) {
            for (size_t i = 0; i < m->thanos.nlabels; i++) {
                st_free(m->thanos.labels[i].name);
                st_free(m->thanos.labels[i].value);
            }
            st_free(m->thanos.labels);
            m->thanos.labels = NULL;
            m->thanos.nlabels = 0;
            rc = parse_labels(c, v);
        } else if (!strcmp(k, "downsample")) {
            rc = parse_downsample(c, v);
        } else if (!strcmp(k, "source")) {
            rc = get_str(c, "thanos.source", v, &m->thanos.source);
        } else if (!strcmp(k, "segment_files")) {
            for (size_t i = 0; i < m->thanos.nsegment_files; i++)
                st_free(m->thanos.segment_files[i]);
            st_free(m->thanos.segment_files);
            m->thanos.segment_files = NULL;
            m->thanos.nsegment_files = 0;
            rc = get_str_array(c, "thanos.segment_files", v, &m->thanos.segment_files,
                               &m->thanos.nsegment_files);
        } else if (!strcmp(k, "files")) {
            if (!(rc = get_array(c, "thanos.files", v, &n)) && n > 0) {
                if (!(m->thanos.files = st_calloc(n, sizeof(*m->thanos.files))))
                    return nomem(c);
                for (size_t i = 0; i < n && !rc; i++) {
                    m->thanos.nfiles = i + 1;
                    rc = parse_file(c, json_array_get(v, i), &m->thanos.files[i]);
                }
            }
        } else if (!strcmp(k, "rewrites") || !strcmp(k, "extensions")) {
            json_t *u = m->unknown;
            if (!u && !(u = m->unknown = json_object()))
                return nomem(c);
            if (json_is_null(v))
                json_object_del(u, k);
            else if (json_object_set(u, k, v) != 0)
                return nomem(c);
        } else if (!strcmp(k, "index_stats")) {
            rc = parse_index_stats(c, v);
        } else if (!strcmp(k, "upload_time")) {
            st_free(m->thanos.upload_time);
            m->thanos.upload_time = NULL;
            if (!json_is_null(v)) {
                int badt = 0;
                if (!json_is_string(v))
                    return bad(c, "thanos.upload_time", "expected an RFC 3339 time string");
                m->thanos.upload_time =
                    norm_time(json_string_value(v), json_string_length(v), &badt);
                if (badt < 0)
                    return nomem(c);
                if (badt)
                    return bad(c, "thanos.upload_time", "not an RFC 3339 time");
            }
        } else {
            rc = keep(c, "thanos", k, v);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_top(pctx *c, json_t *root)
{
    codec_meta *m = c->m;
    const char *k;
    json_t *v;
    int rc = 0, have_ulid = 0;
    json_object_foreach(root, k, v)
    {
        if (!strcmp(k, "ulid")) {
            rc = get_ulid(c, "ulid", v, &m->ulid);
            have_ulid = 1;
        } else if (!strcmp(k, "minTime")) {
            rc = get_i64(c, "minTime", v, &m->min_time);
        } else if (!strcmp(k, "maxTime")) {
            rc = get_i64(c, "maxTime", v, &m->max_time);
        } else if (!strcmp(k, "stats")) {
            rc = parse_stats(c, v);
        } else if (!strcmp(k, "compaction")) {
            rc = parse_compaction(c, v);
        } else if (!strcmp(k, "version")) {
            int64_t ver = 0;
            rc = get_i64(c, "version", v, &ver);
            m->version = (ver < INT32_MIN || ver > INT32_MAX) ? -1 : (int)ver;
        } else if (!strcmp(k, "thanos")) {
            rc = parse_thanos(c, v);
        } else {
            rc = keep(c, "top", k, v);
        }
        if (rc)
            return rc;
    }
    if (!have_ulid)
        return bad(c, "ulid", "missing");
    if (m->version != 1)
        return st_err_set(c->err, ST_ECORRUPT,
                          "corrupt: %s: unsupported meta.json version %d (want 1)", c->name,
                          m->version);
    if (m->min_time > m->max_time)
        return st_err_set(c->err, ST_ECORRUPT, "corrupt: %s: minTime %lld > maxTime %lld", c->name,
                          (long long)m->min_time, (long long)m->max_time);
    return 0;
}

int codec_meta_new(codec_meta **out, st_err *err)
{
    codec_meta *m = st_calloc(1, sizeof(*m));
    *out = NULL;
    if (!m)
        return st_err_set(err, ST_ENOMEM, "new meta: out of memory");
    m->version = 1;
    m->level = 1;
    *out = m;
    return 0;
}

void codec_meta_free(codec_meta *m)
{
    if (!m)
        return;
    st_free(m->sources);
    st_free(m->parents);
    for (size_t i = 0; i < m->nhints; i++)
        st_free(m->hints[i]);
    st_free(m->hints);
    for (size_t i = 0; i < m->thanos.nlabels; i++) {
        st_free(m->thanos.labels[i].name);
        st_free(m->thanos.labels[i].value);
    }
    st_free(m->thanos.labels);
    st_free(m->thanos.source);
    for (size_t i = 0; i < m->thanos.nsegment_files; i++)
        st_free(m->thanos.segment_files[i]);
    st_free(m->thanos.segment_files);
    for (size_t i = 0; i < m->thanos.nfiles; i++) {
        st_free(m->thanos.files[i].rel_path);
        st_free(m->thanos.files[i].hash_func);
        st_free(m->thanos.files[i].hash_value);
    }
    st_free(m->thanos.files);
    st_free(m->thanos.upload_time);
    json_decref(m->unknown);
    st_free(m);
}

int codec_meta_parse(codec_meta **out, const char *json, size_t len, const char *name, st_err *err)
{
    *out = NULL;
    if (!name)
        name = "meta.json";
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root)
        return ST_CORRUPT(err, name, je.position, "bad JSON at line %d column %d: %s", je.line,
                          je.column, je.text);
    int rc = 0;
    codec_meta *m = st_calloc(1, sizeof(*m));
    pctx c = {name, err, m};
    if (!m)
        rc = nomem(&c);
    else if (!json_is_object(root))
        rc = st_err_set(err, ST_ECORRUPT, "corrupt: %s: not a JSON object", name);
    else
        rc = parse_top(&c, root);
    json_decref(root);
    if (rc) {
        codec_meta_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int codec_meta_read(codec_meta **out, const char *path, st_err *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = st_read_file(path, &text, &len, META_MAX_SIZE, err);
    if (rc)
        return rc;
    rc = codec_meta_parse(out, text, len, path, err);
    st_free(text);
    return rc;
}

/* =============================================================================================
 * Formatting, as Go's encoder followed by json.Indent with a tab: "{" and "[" open a level,
 * each member or element goes on its own line one tab deeper, "key": value, and an empty
 * object or array stays "{}" / "[]".
 */
typedef struct jw {
    st_buf *b;
    int depth;
    int rc;
} jw;

static void put(jw *w, const char *s, size_t n)
{
    if (!w->rc)
        w->rc = st_buf_append(w->b, s, n);
}

static void puts_(jw *w, const char *s)
{
    put(w, s, strlen(s));
}

static void newline(jw *w)
{
    put(w, "\n", 1);
    for (int i = 0; i < w->depth; i++)
        put(w, "\t", 1);
}

/* Go's decoding of one UTF-8 sequence: its length, or 0 if invalid (Go then takes 1 byte). */
static size_t utf8_len(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        len = 2, v = c & 0x1Fu, min = 0x80;
    else if (c < 0xF0)
        len = 3, v = c & 0x0Fu, min = 0x800;
    else
        len = 4, v = c & 0x07u, min = 0x10000;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* A JSON string as Go's encoder writes it with HTML escaping on (the default). Go 1.19/1.20,
 * which built Prometheus 2.42, writes \b and \f as \u0008 and \u000c; we do the same. */
static void str(jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, i = 0;
    put(w, "\"", 1);
    while (i < n) {
        unsigned char b = p[i];
        char esc[8];
        size_t elen = 0, adv = 1;
        if (b < 0x80) {
            if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') {
                i++;
                continue;
            }
            esc[0] = '\\';
            switch (b) {
            case '"':
            case '\\':
                esc[1] = (char)b;
                elen = 2;
                break;
            case '\n':
                esc[1] = 'n';
                elen = 2;
                break;
            case '\r':
                esc[1] = 'r';
                elen = 2;
                break;
            case '\t':
                esc[1] = 't';
                elen = 2;
                break;
            default:
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[b >> 4];
                esc[5] = hex[b & 0xF];
                elen = 6;
            }
        } else {
            uint32_t cp = 0;
            size_t l = utf8_len(p + i, n - i, &cp);
            if (l == 0) {
                memcpy(esc, "\\ufffd", 6);
                elen = 6;
            } else if (cp == 0x2028 || cp == 0x2029) {
                memcpy(esc, "\\u202", 5);
                esc[5] = hex[cp & 0xF];
                elen = 6;
                adv = l;
            } else {
                i += l;
                continue;
            }
        }
        put(w, s + start, i - start);
        put(w, esc, elen);
        i += adv;
        start = i;
    }
    put(w, s + start, n - start);
    put(w, "\"", 1);
}

static void cstr(jw *w, const char *s)
{
    str(w, s ? s : "", s ? strlen(s) : 0);
}

static void open_(jw *w, char c)
{
    put(w, &c, 1);
    w->depth++;
}

static void close_(jw *w, char c, int first)
{
    w->depth--;
    if (!first)
        newline(w);
    put(w, &c, 1);
}

/* Start a member: separator, newline, "key": */
static void key(jw *w, int *first, const char *k)
{
    if (!*first)
        put(w, ",", 1);
    *first = 0;
    newline(w);
    cstr(w, k);
    put(w, ": ", 2);
}

static void elem(jw *w, int *first)
{
    if (!*first)
        put(w, ",", 1);
    *first = 0;
    newline(w);
}

static void i64(jw *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    put(w, tmp, (size_t)n);
}

static void u64(jw *w, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    put(w, tmp, (size_t)n);
}

/* A float64 as Go's encoding/json writes it: the shortest digits that read back to the same
 * value, in %f style, or %e style when |f| < 1e-6 or |f| >= 1e21 with a one-digit negative
 * exponent written without its leading zero (1e-7, 1e+21). Two deviations, both so that our
 * output reads back to itself through jansson: an integral value of 2^63 or more that %f style
 * would print without a point is written in %e style (jansson cannot read integers past int64),
 * and -0 is written as 0 (jansson reads "-0" as the integer 0). */
static void go_float(jw *w, double f)
{
    char tmp[40];
    if (f == 0) {
        put(w, "0", 1);
        return;
    }
    int prec;
    for (prec = 1; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
    /* tmp = [-]d[.ddd]e(+|-)XX */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    int neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1); /* value = d.ddd * 10^exp10 */
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    double a = fabs(f);
    int efmt = a != 0 && (a < 1e-6 || a >= 1e21);
    if (!efmt && a >= 9223372036854775808.0 && exp10 >= (int)nd - 1)
        efmt = 1;
    char out[400];
    size_t k = 0;
    if (neg)
        out[k++] = '-';
    if (efmt) {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[k++] = digits[i];
        }
        k += (size_t)snprintf(out + k, sizeof(out) - k, "e%c%s%d", exp10 < 0 ? '-' : '+',
                              (exp10 > -10 && exp10 < 10 && exp10 >= 0) ? "0" : "",
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 >= 0) {
        for (int i = 0; i <= exp10; i++)
            out[k++] = (size_t)i < nd ? digits[i] : '0';
        if ((int)nd > exp10 + 1) {
            out[k++] = '.';
            for (size_t i = (size_t)exp10 + 1; i < nd; i++)
                out[k++] = digits[i];
        }
    } else {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            out[k++] = '0';
        for (size_t i = 0; i < nd; i++)
            out[k++] = digits[i];
    }
    put(w, out, k);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A kept JSON value. `as_go_any` formats it as Go re-encodes a value decoded into `any`: object
 * keys sorted, every number a float64 (thanos.extensions). Otherwise keys keep input order and
 * integers print as read. */
static void value(jw *w, json_t *v, int as_go_any)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        int first = 1;
        size_t n = json_object_size(v);
        open_(w, '{');
        if (as_go_any && n > 1) {
            const char **keys = st_calloc(n, sizeof(*keys));
            if (!keys) {
                w->rc = ST_ENOMEM;
                return;
            }
            size_t i = 0;
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x) keys[i++] = k;
            qsort(keys, n, sizeof(*keys), cmp_cstr);
            for (i = 0; i < n; i++) {
                key(w, &first, keys[i]);
                value(w, json_object_get(v, keys[i]), as_go_any);
            }
            st_free(keys);
        } else {
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x)
            {
                key(w, &first, k);
                value(w, x, as_go_any);
            }
        }
        close_(w, '}', first);
        break;
    }
    case JSON_ARRAY: {
        int first = 1;
        open_(w, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            elem(w, &first);
            value(w, json_array_get(v, i), as_go_any);
        }
        close_(w, ']', first);
        break;
    }
    case JSON_STRING:
        str(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        if (as_go_any)
            go_float(w, (double)json_integer_value(v));
        else
            i64(w, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        go_float(w, json_real_value(v));
        break;
    case JSON_TRUE:
        puts_(w, "true");
        break;
    case JSON_FALSE:
        puts_(w, "false");
        break;
    case JSON_NULL:
        puts_(w, "null");
        break;
    }
}

/* The kept members of one object, after its known ones. */
static void unknown_members(jw *w, int *first, json_t *o)
{
    const char *k;
    json_t *v;
    if (!o)
        return;
    json_object_foreach(o, k, v)
    {
        key(w, first, k);
        value(w, v, 0);
    }
}

static json_t *unk(const codec_meta *m, const char *place)
{
    return m->unknown ? json_object_get(m->unknown, place) : NULL;
}

static json_t *unk_elem(const codec_meta *m, const char *place, const char *id)
{
    json_t *o = unk(m, place);
    return o && id ? json_object_get(o, id) : NULL;
}

static void ulid_(jw *w, const codec_ulid *u)
{
    cstr(w, u->s[0] ? u->s : ZERO_ULID);
}

static void fmt_stats(jw *w, const codec_meta *m)
{
    int first = 1;
    open_(w, '{');
    const struct {
        const char *name;
        uint64_t v;
    } st[] = {
        {"numSamples", m->stats.num_samples},
        {"numFloatSamples", m->stats.num_float_samples},
        {"numHistogramSamples", m->stats.num_histogram_samples},
        {"numSeries", m->stats.num_series},
        {"numChunks", m->stats.num_chunks},
        {"numTombstones", m->stats.num_tombstones},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(st); i++) {
        if (st[i].v) {
            key(w, &first, st[i].name);
            u64(w, st[i].v);
        }
    }
    unknown_members(w, &first, unk(m, "stats"));
    close_(w, '}', first);
}

static void str_array(jw *w, char *const *a, size_t n)
{
    int first = 1;
    open_(w, '[');
    for (size_t i = 0; i < n; i++) {
        elem(w, &first);
        cstr(w, a[i]);
    }
    close_(w, ']', first);
}

static void fmt_compaction(jw *w, const codec_meta *m)
{
    int first = 1;
    open_(w, '{');
    key(w, &first, "level");
    i64(w, m->level);
    if (m->nsources) {
        int f2 = 1;
        key(w, &first, "sources");
        open_(w, '[');
        for (size_t i = 0; i < m->nsources; i++) {
            elem(w, &f2);
            ulid_(w, &m->sources[i]);
        }
        close_(w, ']', f2);
    }
    if (m->deletable) {
        key(w, &first, "deletable");
        puts_(w, "true");
    }
    if (m->nparents) {
        int f2 = 1;
        key(w, &first, "parents");
        open_(w, '[');
        for (size_t i = 0; i < m->nparents; i++) {
            const codec_block_desc *d = &m->parents[i];
            int f3 = 1;
            elem(w, &f2);
            open_(w, '{');
            key(w, &f3, "ulid");
            ulid_(w, &d->ulid);
            key(w, &f3, "minTime");
            i64(w, d->min_time);
            key(w, &f3, "maxTime");
            i64(w, d->max_time);
            unknown_members(w, &f3, unk_elem(m, "parents", d->ulid.s));
            close_(w, '}', f3);
        }
        close_(w, ']', f2);
    }
    if (m->failed) {
        key(w, &first, "failed");
        puts_(w, "true");
    }
    if (m->nhints) {
        key(w, &first, "hints");
        str_array(w, m->hints, m->nhints);
    }
    unknown_members(w, &first, unk(m, "compaction"));
    close_(w, '}', first);
}

static int cmp_kvp(const void *a, const void *b)
{
    return strcmp((*(const codec_kv *const *)a)->name, (*(const codec_kv *const *)b)->name);
}

static void fmt_labels(jw *w, const codec_meta *m)
{
    if (m->thanos.labels_null && m->thanos.nlabels == 0) {
        puts_(w, "null");
        return;
    }
    /* Go writes map keys sorted; sort pointers so a caller's order does not matter. */
    size_t n = m->thanos.nlabels;
    const codec_kv **v = NULL;
    if (n && !(v = st_calloc(n, sizeof(*v)))) {
        w->rc = ST_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = &m->thanos.labels[i];
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_kvp);
    int first = 1;
    open_(w, '{');
    for (size_t i = 0; i < n; i++) {
        key(w, &first, v[i]->name);
        cstr(w, v[i]->value);
    }
    close_(w, '}', first);
    st_free(v);
}

static void fmt_files(jw *w, const codec_meta *m)
{
    int first = 1;
    open_(w, '[');
    for (size_t i = 0; i < m->thanos.nfiles; i++) {
        const codec_meta_file *f = &m->thanos.files[i];
        int f2 = 1;
        elem(w, &first);
        open_(w, '{');
        key(w, &f2, "rel_path");
        cstr(w, f->rel_path);
        /* omitempty drops 0; -1 is our "absent" */
        if (f->size_bytes != 0 && f->size_bytes != -1) {
            key(w, &f2, "size_bytes");
            i64(w, f->size_bytes);
        }
        if (f->hash_func || f->hash_value) {
            int f3 = 1;
            key(w, &f2, "hash");
            open_(w, '{');
            key(w, &f3, "hashFunc");
            cstr(w, f->hash_func);
            key(w, &f3, "value");
            cstr(w, f->hash_value);
            unknown_members(w, &f3, unk_elem(m, "hash", f->rel_path));
            close_(w, '}', f3);
        }
        unknown_members(w, &f2, unk_elem(m, "files", f->rel_path));
        close_(w, '}', f2);
    }
    close_(w, ']', first);
}

static void fmt_thanos(jw *w, const codec_meta *m)
{
    int first = 1, f2 = 1;
    json_t *x;
    open_(w, '{');
    if (m->thanos.version) {
        key(w, &first, "version");
        i64(w, m->thanos.version);
    }
    key(w, &first, "labels");
    fmt_labels(w, m);
    key(w, &first, "downsample");
    open_(w, '{');
    key(w, &f2, "resolution");
    i64(w, m->thanos.resolution);
    unknown_members(w, &f2, unk(m, "downsample"));
    close_(w, '}', f2);
    key(w, &first, "source");
    cstr(w, m->thanos.source);
    if (m->thanos.nsegment_files) {
        key(w, &first, "segment_files");
        str_array(w, m->thanos.segment_files, m->thanos.nsegment_files);
    }
    if (m->thanos.nfiles) {
        key(w, &first, "files");
        fmt_files(w, m);
    }
    /* []Rewrite, omitempty: an empty array is not written */
    if ((x = unk(m, "rewrites")) && !(json_is_array(x) && json_array_size(x) == 0)) {
        key(w, &first, "rewrites");
        value(w, x, 0);
    }
    f2 = 1;
    key(w, &first, "index_stats");
    open_(w, '{');
    if (m->thanos.series_max_size) {
        key(w, &f2, "series_max_size");
        i64(w, m->thanos.series_max_size);
    }
    if (m->thanos.chunk_max_size) {
        key(w, &f2, "chunk_max_size");
        i64(w, m->thanos.chunk_max_size);
    }
    unknown_members(w, &f2, unk(m, "index_stats"));
    close_(w, '}', f2);
    if ((x = unk(m, "extensions"))) {
        key(w, &first, "extensions");
        value(w, x, 1);
    }
    key(w, &first, "upload_time");
    cstr(w, m->thanos.upload_time ? m->thanos.upload_time : ZERO_TIME);
    unknown_members(w, &first, unk(m, "thanos"));
    close_(w, '}', first);
}

int codec_meta_format(const codec_meta *m, st_buf *out, int flags, st_err *err)
{
    jw w = {out, 0, 0};
    int first = 1;
    size_t start = out->len;
    open_(&w, '{');
    key(&w, &first, "ulid");
    ulid_(&w, &m->ulid);
    key(&w, &first, "minTime");
    i64(&w, m->min_time);
    key(&w, &first, "maxTime");
    i64(&w, m->max_time);
    key(&w, &first, "stats");
    fmt_stats(&w, m);
    key(&w, &first, "compaction");
    fmt_compaction(&w, m);
    key(&w, &first, "version");
    i64(&w, m->version);
    if (m->has_thanos) {
        key(&w, &first, "thanos");
        fmt_thanos(&w, m);
    }
    unknown_members(&w, &first, unk(m, "top"));
    close_(&w, '}', first);
    if (flags & CODEC_META_NEWLINE)
        put(&w, "\n", 1);
    if (w.rc) {
        out->len = start;
        return st_err_set(err, w.rc, "format meta.json %s: %s", m->ulid.s, st_strerror(w.rc));
    }
    return 0;
}

int codec_meta_write(const codec_meta *m, const char *path, int flags, st_err *err)
{
    st_buf b;
    st_buf_init(&b, 0);
    int rc = codec_meta_format(m, &b, flags, err);
    if (!rc)
        rc = st_write_file_atomic(path, b.p, b.len, err);
    st_buf_release(&b);
    return rc;
}
