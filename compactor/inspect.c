/*
 * inspect.c - `strata inspect BLOCK_DIR...`: what a block is (meta.json: ULID, range, level,
 * sources, Thanos labels and resolution) and what its index holds (series, chunks, samples
 * counted from the chunk headers, chunks by encoding, label names by number of values).
 * With bucket flags instead of directories: one row per block of the bucket, as
 * `thanos tools bucket inspect` prints them, plus markers and the planner's view (too fresh,
 * superseded, partial), from the planner's sync.
 */
#include "compactor_int.h"

#include "planner/planner.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct name_card {
    codec_str name;
    size_t values;
} name_card;

typedef struct block_stats {
    uint64_t series, chunks, samples;
    uint64_t by_enc[4]; /* other, xor, histogram, float histogram */
    int64_t first_t, last_t;
    name_card *names;
    size_t nnames;
} block_stats;

static int cmp_card(const void *a, const void *b)
{
    const name_card *x = a, *y = b;
    if (x->values != y->values)
        return x->values > y->values ? -1 : 1;
    return codec_str_cmp(x->name, y->name);
}

static int gather(const codec_block *b, block_stats *st, st_err *err)
{
    memset(st, 0, sizeof(*st));
    st->first_t = INT64_MAX;
    st->last_t = INT64_MIN;
    codec_series_iter *it;
    int rc = codec_series_iter_create(&it, b->index, err);
    if (rc)
        return rc;
    char where[96];
    while ((rc = codec_series_iter_next(it, err)) == 0) {
        const codec_series *s = codec_series_iter_at(it);
        st->series++;
        for (uint32_t i = 0; i < s->nchunks; i++) {
            const codec_chunk_meta *cm = &s->chunks[i];
            codec_chunk c;
            uint32_t n;
            snprintf(where, sizeof(where), "%s/chunks ref %" PRIu64, b->dir, cm->ref);
            if ((rc = codec_chunk_reader_get(b->chunks, cm->ref, &c, err)) ||
                (rc = codec_chunk_num_samples(&c, &n, where, err)))
                goto done;
            st->chunks++;
            st->samples += n;
            st->by_enc[c.enc <= 3 ? c.enc : 0]++;
            st->first_t = ST_MIN(st->first_t, cm->mint);
            st->last_t = ST_MAX(st->last_t, cm->maxt);
        }
    }
    if (rc != ST_ITEROVER)
        goto done;
    rc = 0;
    const codec_str *names;
    size_t nnames;
    if ((rc = codec_index_label_names(b->index, &names, &nnames, err)))
        goto done;
    st->names = st_calloc(nnames + 1, sizeof(name_card));
    if (!st->names) {
        rc = st_err_set(err, ST_ENOMEM, "inspect: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nnames; i++) {
        const codec_str *vals;
        size_t nvals;
        if ((rc = codec_index_label_values(b->index, names[i], &vals, &nvals, err)))
            goto done;
        st->names[st->nnames++] = (name_card){names[i], nvals};
    }
    qsort(st->names, st->nnames, sizeof(name_card), cmp_card);
done:
    codec_series_iter_free(it);
    return rc;
}

static void fmt_time(char *out, size_t n, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t l = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + l, n - l, ".%03dZ", (int)(((ms % 1000) + 1000) % 1000));
}

/* Go's time.Duration.String() for whole milliseconds: 2h0m0s, 1h59m56.697s, 250ms. */
static void fmt_duration(char *out, size_t n, int64_t ms)
{
    if (ms < 1000 && ms > -1000) {
        snprintf(out, n, "%" PRId64 "ms", ms);
        return;
    }
    const char *sign = ms < 0 ? "-" : "";
    uint64_t u = (uint64_t)(ms < 0 ? -ms : ms);
    uint64_t h = u / 3600000, m = u / 60000 % 60, s = u / 1000 % 60, frac = u % 1000;
    char sec[24];
    if (frac == 0)
        snprintf(sec, sizeof(sec), "%" PRIu64 "s", s);
    else if (frac % 100 == 0)
        snprintf(sec, sizeof(sec), "%" PRIu64 ".%" PRIu64 "s", s, frac / 100);
    else if (frac % 10 == 0)
        snprintf(sec, sizeof(sec), "%" PRIu64 ".%02" PRIu64 "s", s, frac / 10);
    else
        snprintf(sec, sizeof(sec), "%" PRIu64 ".%03" PRIu64 "s", s, frac);
    if (h)
        snprintf(out, n, "%s%" PRIu64 "h%" PRIu64 "m%s", sign, h, m, sec);
    else if (m)
        snprintf(out, n, "%s%" PRIu64 "m%s", sign, m, sec);
    else
        snprintf(out, n, "%s%s", sign, sec);
}

static void print_text(const codec_block *b, const block_stats *st)
{
    const codec_meta *m = b->meta;
    char t0[40], t1[40], d[96];
    fmt_time(t0, sizeof(t0), m->min_time);
    fmt_time(t1, sizeof(t1), m->max_time);
    fmt_duration(d, sizeof(d), m->max_time - m->min_time);
    printf("block       %s\n", m->ulid.s);
    printf("dir         %s\n", b->dir);
    printf("range       %s .. %s (%s) [%" PRId64 ", %" PRId64 ")\n", t0, t1, d, m->min_time,
           m->max_time);
    printf("level       %d\n", m->level);
    printf("sources     %zu\n", m->nsources);
    printf("resolution  %" PRId64 "ms\n", m->thanos.resolution);
    printf("source      %s\n", m->thanos.source && *m->thanos.source ? m->thanos.source : "-");
    printf("labels      {");
    for (size_t i = 0; i < m->thanos.nlabels; i++)
        printf("%s%s=\"%s\"", i ? ", " : "", m->thanos.labels[i].name, m->thanos.labels[i].value);
    printf("}\n");
    printf("series      %" PRIu64 " (meta %" PRIu64 ")\n", st->series, m->stats.num_series);
    printf("chunks      %" PRIu64 " (meta %" PRIu64 "; xor %" PRIu64 ", histogram %" PRIu64
           ", float histogram %" PRIu64 ", other %" PRIu64 ")\n",
           st->chunks, m->stats.num_chunks, st->by_enc[1], st->by_enc[2], st->by_enc[3],
           st->by_enc[0]);
    printf("samples     %" PRIu64 " (meta %" PRIu64 ")\n", st->samples, m->stats.num_samples);
    if (st->chunks)
        printf("data        %" PRId64 " .. %" PRId64 " (first and last sample)\n", st->first_t,
               st->last_t);
    printf("tombstones  %zu\n", b->ntombstones);
    printf("index       %" PRIu64 " bytes, %u symbols\n", codec_index_size(b->index),
           codec_index_nsymbols(b->index));
    for (uint32_t i = 0; i < codec_chunk_reader_nsegments(b->chunks); i++)
        printf("chunks/%s %" PRIu64 " bytes\n", codec_chunk_reader_segment_name(b->chunks, i),
               codec_chunk_reader_segment_size(b->chunks, i));
    printf("label names by number of values:\n");
    for (size_t i = 0; i < st->nnames && i < 20; i++)
        printf("  %8zu  %.*s\n", st->names[i].values, (int)st->names[i].name.len,
               st->names[i].name.p);
    if (st->nnames > 20)
        printf("  ... %zu more\n", st->nnames - 20);
}

static json_t *to_json(const codec_block *b, const block_stats *st)
{
    const codec_meta *m = b->meta;
    json_t *o = json_object();
    json_t *labels = json_object();
    for (size_t i = 0; i < m->thanos.nlabels; i++)
        json_object_set_new(labels, m->thanos.labels[i].name,
                            json_string(m->thanos.labels[i].value));
    json_t *names = json_array();
    for (size_t i = 0; i < st->nnames; i++)
        json_array_append_new(names, json_pack("{s:s%,s:I}", "name", st->names[i].name.p,
                                               (size_t)st->names[i].name.len, "values",
                                               (json_int_t)st->names[i].values));
    json_t *segs = json_array();
    for (uint32_t i = 0; i < codec_chunk_reader_nsegments(b->chunks); i++)
        json_array_append_new(segs,
                              json_pack("{s:s,s:I}", "name",
                                        codec_chunk_reader_segment_name(b->chunks, i), "size_bytes",
                                        (json_int_t)codec_chunk_reader_segment_size(b->chunks, i)));
    json_object_set_new(o, "ulid", json_string(m->ulid.s));
    json_object_set_new(o, "dir", json_string(b->dir));
    json_object_set_new(o, "min_time", json_integer(m->min_time));
    json_object_set_new(o, "max_time", json_integer(m->max_time));
    json_object_set_new(o, "level", json_integer(m->level));
    json_object_set_new(o, "sources", json_integer((json_int_t)m->nsources));
    json_object_set_new(o, "resolution", json_integer(m->thanos.resolution));
    json_object_set_new(o, "source", json_string(m->thanos.source ? m->thanos.source : ""));
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "series", json_integer((json_int_t)st->series));
    json_object_set_new(o, "chunks", json_integer((json_int_t)st->chunks));
    json_object_set_new(o, "samples", json_integer((json_int_t)st->samples));
    json_object_set_new(o, "chunks_by_encoding",
                        json_pack("{s:I,s:I,s:I,s:I}", "xor", (json_int_t)st->by_enc[1],
                                  "histogram", (json_int_t)st->by_enc[2], "float_histogram",
                                  (json_int_t)st->by_enc[3], "other", (json_int_t)st->by_enc[0]));
    json_object_set_new(o, "meta_stats",
                        json_pack("{s:I,s:I,s:I}", "series", (json_int_t)m->stats.num_series,
                                  "chunks", (json_int_t)m->stats.num_chunks, "samples",
                                  (json_int_t)m->stats.num_samples));
    json_object_set_new(o, "tombstones", json_integer((json_int_t)b->ntombstones));
    json_object_set_new(o, "index_bytes", json_integer((json_int_t)codec_index_size(b->index)));
    json_object_set_new(o, "symbols", json_integer(codec_index_nsymbols(b->index)));
    json_object_set_new(o, "segments", segs);
    json_object_set_new(o, "label_names", names);
    return o;
}

/* ---- bucket mode ------------------------------------------------------------------------ */

/* 1234567 -> "1,234,567" (humanize.Comma, as Thanos prints counts) */
static void comma(char *out, size_t n, uint64_t v)
{
    char d[32];
    int l = snprintf(d, sizeof(d), "%" PRIu64, v), k = 0;
    for (int i = 0; i < l && (size_t)k + 2 < n; i++) {
        if (i && (l - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = d[i];
    }
    out[k] = '\0';
}

static int cmp_row(const void *x, const void *y)
{
    const planner_block *a = *(const planner_block *const *)x;
    const planner_block *b = *(const planner_block *const *)y;
    int c = strcmp(a->tenant, b->tenant);
    if (!c)
        c = (a->partial_reason != NULL) - (b->partial_reason != NULL);
    for (size_t i = 0; !c && i < a->nlabels && i < b->nlabels; i++)
        if (!(c = strcmp(a->labels[i].name, b->labels[i].name)))
            c = strcmp(a->labels[i].value, b->labels[i].value);
    if (!c && a->nlabels != b->nlabels)
        c = a->nlabels < b->nlabels ? -1 : 1;
    if (!c && a->resolution != b->resolution)
        c = a->resolution < b->resolution ? -1 : 1;
    if (!c && a->min_time != b->min_time)
        c = a->min_time < b->min_time ? -1 : 1;
    return c ? c : strcmp(a->ulid.s, b->ulid.s);
}

/* b - a without overflow (bucket metadata may hold any value) */
static int64_t span(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(b, a, &r) || r == INT64_MIN)
        return a < 0 ? INT64_MAX : INT64_MIN + 1;
    return r;
}

/* "deletion@2023-11-14T00:00:00Z,no-compact(manual),too-fresh,superseded-by:<ULID>" or "-" */
static void markers_text(st_buf *o, const planner_block *b)
{
    char t[40];
    size_t start = o->len;
    if (b->partial_reason)
        st_buf_printf(o, "partial(%s)", b->partial_reason);
    if (b->deletion.present) {
        int64_t s = b->deletion.time_s;
        planner_time_format(t, sizeof(t),
                            s > INT64_MAX / 1000   ? INT64_MAX
                            : s < INT64_MIN / 1000 ? INT64_MIN
                                                   : s * 1000);
        st_buf_printf(o, "%sdeletion@%s", o->len > start ? "," : "", t);
    }
    if (b->no_compact.present)
        st_buf_printf(o, "%sno-compact(%s)", o->len > start ? "," : "",
                      *b->no_compact.reason ? b->no_compact.reason : "-");
    if (b->no_downsample.present)
        st_buf_printf(o, "%sno-downsample", o->len > start ? "," : "");
    if (b->state & PLANNER_BLOCK_TOO_FRESH)
        st_buf_printf(o, "%stoo-fresh", o->len > start ? "," : "");
    if (b->state & PLANNER_BLOCK_SUPERSEDED)
        st_buf_printf(o, "%ssuperseded-by:%s", o->len > start ? "," : "", b->superseded_by.s);
    if (b->bad_markers)
        st_buf_printf(o, "%sunreadable-marker", o->len > start ? "," : "");
    if (o->len == start)
        st_buf_printf(o, "-");
}

static json_t *mark_json(const planner_mark *m)
{
    if (!m->present)
        return json_null();
    return json_pack("{s:I,s:s,s:s}", "time", (json_int_t)m->time_s, "reason", m->reason, "details",
                     m->details);
}

static json_t *row_json(const planner_block *b)
{
    json_t *o = json_object(), *labels = json_object(), *state = json_array();
    for (size_t i = 0; i < b->nlabels; i++)
        json_object_set_new(labels, b->labels[i].name, json_string(b->labels[i].value));
    static const char *const names[] = {"partial",       "marked_for_deletion", "no_compact",
                                        "no_downsample", "too_fresh",           "superseded",
                                        "bad_tenant"};
    for (size_t k = 0; k < ST_ARRAY_LEN(names); k++)
        if (b->state & (1u << k))
            json_array_append_new(state, json_string(names[k]));
    json_object_set_new(o, "tenant", json_string(b->tenant));
    json_object_set_new(o, "ulid", json_string(b->ulid.s));
    json_object_set_new(o, "prefix", json_string(b->prefix));
    json_object_set_new(o, "partial", json_boolean(b->partial_reason != NULL));
    if (b->partial_reason) {
        json_object_set_new(o, "partial_reason", json_string(b->partial_reason));
    } else {
        json_object_set_new(o, "min_time", json_integer(b->min_time));
        json_object_set_new(o, "max_time", json_integer(b->max_time));
        json_object_set_new(o, "series", json_integer((json_int_t)b->stats.series));
        json_object_set_new(o, "samples", json_integer((json_int_t)b->stats.samples));
        json_object_set_new(o, "chunks", json_integer((json_int_t)b->stats.chunks));
        json_object_set_new(o, "level", json_integer(b->level));
        json_object_set_new(o, "compaction_failed", json_boolean(b->compaction_failed));
        json_object_set_new(o, "labels", labels);
        labels = NULL;
        json_object_set_new(o, "resolution", json_integer(b->resolution));
        json_object_set_new(o, "source", json_string(b->source));
        json_object_set_new(o, "group", json_string(b->group));
        json_object_set_new(o, "size_bytes", json_integer((json_int_t)b->size_bytes));
        json_object_set_new(o, "sources", json_integer((json_int_t)b->nsources));
    }
    json_decref(labels);
    json_object_set_new(o, "deletion_mark", mark_json(&b->deletion));
    json_object_set_new(o, "no_compact_mark", mark_json(&b->no_compact));
    json_object_set_new(o, "no_downsample_mark", mark_json(&b->no_downsample));
    json_object_set_new(o, "state", state);
    if (b->state & PLANNER_BLOCK_SUPERSEDED)
        json_object_set_new(o, "superseded_by", json_string(b->superseded_by.s));
    return o;
}

#define NCOLS 15
static void row_cells(char cells[NCOLS][160], const planner_block *b, st_buf *mk)
{
    static const int64_t down[2] = {PLANNER_DOWNSAMPLE_RANGE_5M, PLANNER_DOWNSAMPLE_RANGE_1H};
    for (int i = 0; i < NCOLS; i++)
        snprintf(cells[i], 160, "-");
    snprintf(cells[0], 160, "%s", *b->tenant ? b->tenant : "-");
    snprintf(cells[1], 160, "%s", b->ulid.s);
    st_buf_reset(mk);
    markers_text(mk, b);
    snprintf(cells[14], 160, "%s", st_buf_cstr(mk) ? (const char *)mk->p : "?");
    if (b->partial_reason)
        return;
    planner_time_format(cells[2], 160, b->min_time);
    planner_time_format(cells[3], 160, b->max_time);
    int64_t range = span(b->min_time, b->max_time);
    fmt_duration(cells[4], 160, range);
    int r = b->resolution == PLANNER_RES_RAW ? 0 : b->resolution == PLANNER_RES_5M ? 1 : -1;
    if (r >= 0 && range >= 0 && down[r] > range)
        fmt_duration(cells[5], 160, down[r] - range);
    comma(cells[6], 160, b->stats.series);
    comma(cells[7], 160, b->stats.samples);
    comma(cells[8], 160, b->stats.chunks);
    snprintf(cells[9], 160, "%d", b->level);
    snprintf(cells[10], 160, "%s", b->compaction_failed ? "true" : "false");
    size_t l = 0;
    cells[11][0] = '\0';
    for (size_t i = 0; i < b->nlabels && l < 150; i++)
        l += (size_t)snprintf(cells[11] + l, 160 - l, "%s%s=%s", i ? "," : "", b->labels[i].name,
                              b->labels[i].value);
    if (!b->nlabels)
        snprintf(cells[11], 160, "-");
    if (b->resolution)
        fmt_duration(cells[12], 160, b->resolution);
    else
        snprintf(cells[12], 160, "0s"); /* Go's Duration(0).String() */
    snprintf(cells[13], 160, "%s", *b->source ? b->source : "-");
}

static int inspect_bucket(const char *cfg_file, const char *cfg_yaml, const char *bucket,
                          const char *data_dir, const planner_flags *pf, const char *now_s,
                          int json)
{
    st_err err;
    st_err_init(&err);
    planner_settings *s = NULL;
    objstore *store = NULL;
    planner_blockset *set = NULL;
    const planner_block **rows = NULL;
    int64_t now = st_now_ms();
    int exit_code = COMPACTOR_EXIT_ERROR;
    st_buf mk;
    st_buf_init(&mk, 0);
    if (now_s && planner_time_parse(now_s, &now)) {
        fprintf(stderr, "strata inspect: --now=%s: expected an RFC 3339 time\n", now_s);
        return COMPACTOR_EXIT_USAGE;
    }
    if (planner_settings_create(&s, pf, &err)) {
        fprintf(stderr, "strata inspect: %s\n", err.msg);
        return COMPACTOR_EXIT_USAGE;
    }
    planner_sync_opts so = {.data_dir = data_dir};
    if (objstore_open_flags(&store, cfg_file, cfg_yaml, bucket, &err) ||
        planner_sync(&set, store, s, &so, NULL, &err) || planner_classify(set, s, now, &err))
        goto fail;
    size_t n = planner_blockset_count(set);
    if (!(rows = st_calloc(n + 1, sizeof(*rows)))) {
        st_err_set(&err, ST_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = planner_blockset_block(set, i);
    qsort(rows, n, sizeof(*rows), cmp_row);
    if (json) {
        json_t *all = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(all, row_json(rows[i]));
        char *txt = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(all);
        if (txt)
            printf("%s\n", txt);
        free(txt);
    } else {
        static const char *const head[NCOLS] = {
            "TENANT",      "ULID",    "FROM",       "UNTIL",   "RANGE",
            "UNTIL-DOWN",  "#SERIES", "#SAMPLES",   "#CHUNKS", "COMP-LEVEL",
            "COMP-FAILED", "LABELS",  "RESOLUTION", "SOURCE",  "MARKERS"};
        int first = pf->tenant_layout && strcmp(pf->tenant_layout, "none") ? 0 : 1;
        size_t w[NCOLS];
        char cells[NCOLS][160];
        for (int c = 0; c < NCOLS; c++)
            w[c] = strlen(head[c]);
        for (size_t i = 0; i < n; i++) {
            row_cells(cells, rows[i], &mk);
            for (int c = 0; c < NCOLS; c++)
                w[c] = ST_MAX(w[c], strlen(cells[c]));
        }
        for (int c = first; c < NCOLS; c++)
            printf("%-*s%s", c + 1 < NCOLS ? (int)w[c] : 0, head[c], c + 1 < NCOLS ? "  " : "\n");
        for (size_t i = 0; i < n; i++) {
            row_cells(cells, rows[i], &mk);
            for (int c = first; c < NCOLS; c++)
                printf("%-*s%s", c + 1 < NCOLS ? (int)w[c] : 0, cells[c],
                       c + 1 < NCOLS ? "  " : "\n");
        }
    }
    exit_code = COMPACTOR_EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "strata inspect: %s\n", err.msg);
done:
    st_buf_release(&mk);
    st_free(rows);
    planner_blockset_free(set);
    objstore_free(store);
    planner_settings_free(s);
    return exit_code;
}

int cmd_inspect(int argc, char **argv)
{
    const char *output = "text";
    const char *cfg_file = NULL, *cfg_yaml = NULL, *bucket = NULL, *data_dir = NULL, *now_s = NULL;
    planner_flags pf = {0};
    cli_strings replicas = {0};
    const cli_flag flags[] = {
        {"output", CLI_STRING, &output, "text or json"},
        {"objstore.config-file", CLI_STRING, &cfg_file, "inspect a bucket: object store YAML file"},
        {"objstore.config", CLI_STRING, &cfg_yaml, "inspect a bucket: object store YAML, inline"},
        {"bucket", CLI_STRING, &bucket, "inspect a bucket: a local directory"},
        {"data-dir", CLI_STRING, &data_dir, "bucket mode: metas are cached in DIR/meta-syncer"},
        {"tenant-layout", CLI_STRING, &pf.tenant_layout, "bucket mode: none, prefix or label"},
        {"tenant-label", CLI_STRING, &pf.tenant_label, "bucket mode: label naming the tenant"},
        {"deduplication.replica-label", CLI_STRINGS, &replicas,
         "bucket mode: replica labels (for superseded blocks)"},
        {"consistency-delay", CLI_STRING, &pf.consistency_delay, "bucket mode: too fresh (30m)"},
        {"now", CLI_STRING, &now_s, "bucket mode: as of this RFC 3339 time"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("inspect", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc) {
        cli_strings_free(&replicas);
        return rc;
    }
    int json = strcmp(output, "json") == 0;
    int bucket_mode = cfg_file || cfg_yaml || bucket;
    if ((npos == 0) == !bucket_mode || (!json && strcmp(output, "text") != 0)) {
        fprintf(stderr,
                "usage: strata inspect [--output=text|json] BLOCK_DIR...\n"
                "       strata inspect [--output=text|json] (--objstore.config-file=F | "
                "--objstore.config=YAML | --bucket=DIR) [--tenant-layout=none|prefix|label] "
                "[--data-dir=DIR]\n");
        st_free(pos);
        cli_strings_free(&replicas);
        return COMPACTOR_EXIT_USAGE;
    }
    if (bucket_mode) {
        pf.replica_labels = replicas.v;
        pf.nreplica_labels = replicas.n;
        rc = inspect_bucket(cfg_file, cfg_yaml, bucket, data_dir, &pf, now_s, json);
        st_free(pos);
        cli_strings_free(&replicas);
        return rc;
    }
    cli_strings_free(&replicas);
    int exit_code = COMPACTOR_EXIT_OK;
    json_t *all = json ? json_array() : NULL;
    for (size_t i = 0; i < npos; i++) {
        st_err err;
        st_err_init(&err);
        codec_block *b = NULL;
        block_stats st = {0};
        if ((rc = codec_block_open(&b, pos[i], &err)) || (rc = gather(b, &st, &err))) {
            fprintf(stderr, "strata inspect: %s\n", err.msg);
            exit_code = COMPACTOR_EXIT_ERROR;
        } else if (json) {
            json_array_append_new(all, to_json(b, &st));
        } else {
            if (i > 0)
                printf("\n");
            print_text(b, &st);
        }
        st_free(st.names);
        codec_block_free(b);
    }
    if (json) {
        char *s = json_dumps(all, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(all);
    }
    st_free(pos);
    return exit_code;
}
