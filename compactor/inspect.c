/*
 * inspect.c - `strata inspect BLOCK_DIR...`: what a block is (meta.json: ULID, range, level,
 * sources, Thanos labels and resolution) and what its index holds (series, chunks, samples
 * counted from the chunk headers, chunks by encoding, label names by number of values).
 */
#include "compactor_int.h"

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
        json_array_append_new(
            names, json_pack("{s:s%,s:I}", "name", st->names[i].name.p,
                             (size_t)st->names[i].name.len, "values", (json_int_t)st->names[i].values));
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

int cmd_inspect(int argc, char **argv)
{
    const char *output = "text";
    const cli_flag flags[] = {
        {"output", CLI_STRING, &output, "text or json"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("inspect", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc)
        return rc;
    int json = strcmp(output, "json") == 0;
    if (npos == 0 || (!json && strcmp(output, "text") != 0)) {
        fprintf(stderr, "usage: strata inspect [--output=text|json] BLOCK_DIR...\n");
        st_free(pos);
        return COMPACTOR_EXIT_USAGE;
    }
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
