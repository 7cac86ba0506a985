/*
 * verify.c - `strata verify`: walks a block end to end and lists every problem it finds:
 * meta.json, the index (TOC and section CRCs, symbol and series order, label order, chunk meta
 * order and range against meta.json, postings order and agreement with the series), every chunk
 * (CRC, decodes, sample count, first and last timestamps equal to the index; for Thanos'
 * aggregate chunks every sub-chunk, see check_aggr), tombstones, and the stats in meta.json
 * against what was counted. The same walk guards blocks before upload.
 */
#include "compactor_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void problem(verify_report *r, const char *dir, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(verify_report *r, const char *dir, const char *file, const char *fmt, ...)
{
    r->nproblems++;
    if (!r->out || r->nproblems > r->max_print)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->out, "block %s: %s: ", dir, file);
    vfprintf(r->out, fmt, ap);
    fputc('\n', r->out);
    va_end(ap);
}

/* A copy of the previous series' labels, to check the order of the next. */
typedef struct label_copy {
    st_buf bytes;
    codec_label *l;
    uint32_t n, cap;
} label_copy;

static int label_copy_set(label_copy *c, const codec_series *s)
{
    st_buf_reset(&c->bytes);
    if (s->nlabels > c->cap) {
        codec_label *nl = st_reallocarray(c->l, s->nlabels, sizeof(*nl));
        if (!nl)
            return ST_ENOMEM;
        c->l = nl;
        c->cap = s->nlabels;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < s->nlabels; i++)
        total += s->labels[i].name.len + s->labels[i].value.len;
    if (st_buf_reserve(&c->bytes, total))
        return ST_ENOMEM;
    for (uint32_t i = 0; i < s->nlabels; i++) {
        c->l[i].name.p = (const char *)c->bytes.p + c->bytes.len;
        c->l[i].name.len = s->labels[i].name.len;
        st_buf_append(&c->bytes, s->labels[i].name.p, s->labels[i].name.len);
        c->l[i].value.p = (const char *)c->bytes.p + c->bytes.len;
        c->l[i].value.len = s->labels[i].value.len;
        st_buf_append(&c->bytes, s->labels[i].value.p, s->labels[i].value.len);
    }
    c->n = s->nlabels;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* An aggregate chunk (downsampled blocks): the five entries frame the data exactly; each XOR
 * sub-chunk decodes; count, sum, min and max stamps strictly increase and come in equal numbers;
 * the counter's may repeat (its first raw sample may share the first window's stamp, its last
 * window is repeated with the last raw value); the window stamps span exactly the index's
 * [mint, maxt]. The counter's first sample is the first raw sample, so it may lie before mint.
 * Float-histogram sub-chunks (histogram series) are only framed and counted. */
static void check_aggr(verify_report *r, const codec_block *b, const codec_series *s,
                       const codec_chunk_meta *cm, const codec_chunk *c, uint32_t n, int64_t **t,
                       double **v, size_t *cap, st_err *scratch)
{
    codec_chunk sub[CODEC_AGGR_N];
    size_t used;
    char where[128];
    snprintf(where, sizeof(where), "chunk ref %" PRIu64, cm->ref);
    st_err_init(scratch);
    if (codec_aggr_parse(c->data, c->len, sub, &used, where, scratch)) {
        problem(r, b->dir, "chunks", "series ref %" PRIu64 ": %s", s->ref, scratch->msg);
        return;
    }
    if (used != c->len)
        problem(r, b->dir, "chunks",
                "series ref %" PRIu64 ": aggregate chunk ref %" PRIu64
                " has %zu bytes after its five entries",
                s->ref, cm->ref, (size_t)c->len - used);
    if (n == 0) {
        problem(r, b->dir, "chunks",
                "series ref %" PRIu64 ": aggregate chunk ref %" PRIu64 " has no count samples",
                s->ref, cm->ref);
        return;
    }
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        if (sub[a].enc != CODEC_ENC_XOR)
            continue;
        uint32_t k;
        st_err_init(scratch);
        if (codec_chunk_num_samples(&sub[a], &k, where, scratch)) {
            problem(r, b->dir, "chunks", "series ref %" PRIu64 ": %s sub-chunk: %s", s->ref,
                    codec_aggr_name(a), scratch->msg);
            continue;
        }
        if (k > *cap) {
            int64_t *nt = st_reallocarray(*t, k, sizeof(int64_t));
            double *nv = nt ? st_reallocarray(*v, k, sizeof(double)) : NULL;
            if (nt)
                *t = nt;
            if (nv)
                *v = nv;
            if (!nt || !nv) {
                problem(r, b->dir, "chunks", "out of memory decoding chunk ref %" PRIu64, cm->ref);
                return;
            }
            *cap = k;
        }
        size_t got;
        st_err_init(scratch);
        if (codec_xor_decode(sub[a].data, sub[a].len, *t, *v, k, &got, where, scratch)) {
            problem(r, b->dir, "chunks", "series ref %" PRIu64 ": %s sub-chunk: %s", s->ref,
                    codec_aggr_name(a), scratch->msg);
            continue;
        }
        int counter = a == CODEC_AGGR_COUNTER;
        if (!counter && a != CODEC_AGGR_COUNT && got != n)
            problem(r, b->dir, "chunks",
                    "series ref %" PRIu64 ": aggregate chunk ref %" PRIu64
                    ": %zu %s samples but %u count samples",
                    s->ref, cm->ref, got, codec_aggr_name(a), n);
        if (counter && got < 2) {
            problem(r, b->dir, "chunks",
                    "series ref %" PRIu64 ": aggregate chunk ref %" PRIu64
                    ": the counter holds %zu samples, not its first and last raw values",
                    s->ref, cm->ref, got);
            continue;
        }
        for (size_t i = 1; i < got; i++) {
            if ((*t)[i] < (*t)[i - 1] || (!counter && (*t)[i] == (*t)[i - 1])) {
                problem(r, b->dir, "chunks",
                        "series ref %" PRIu64 ": aggregate chunk ref %" PRIu64
                        ": %s timestamps out of order at sample %zu",
                        s->ref, cm->ref, codec_aggr_name(a), i);
                break;
            }
        }
        if (counter && (*t)[got - 1] != (*t)[got - 2])
            problem(r, b->dir, "chunks",
                    "series ref %" PRIu64 ": aggregate chunk ref %" PRIu64
                    ": the counter does not end with its last window repeated",
                    s->ref, cm->ref);
        /* window stamps: every sample, but the counter's first and last raw values */
        size_t from = counter ? 1 : 0, to = counter ? got - 1 : got;
        for (size_t i = from; i < to; i++) {
            lo = (*t)[i] < lo ? (*t)[i] : lo;
            hi = (*t)[i] > hi ? (*t)[i] : hi;
        }
    }
    if (lo != INT64_MAX && (lo != cm->mint || hi != cm->maxt))
        problem(r, b->dir, "chunks",
                "series ref %" PRIu64 ": aggregate chunk ref %" PRIu64 " has windows [%" PRId64
                ", %" PRId64 "] but the index says [%" PRId64 ", %" PRId64 "]",
                s->ref, cm->ref, lo, hi, cm->mint, cm->maxt);
}

static void check_chunk(verify_report *r, const codec_block *b, const codec_series *s,
                        const codec_chunk_meta *cm, int64_t **t, double **v, size_t *cap,
                        st_err *scratch)
{
    codec_chunk c;
    st_err_init(scratch);
    if (codec_chunk_reader_get(b->chunks, cm->ref, &c, scratch)) {
        problem(r, b->dir, "chunks", "series ref %" PRIu64 ": %s", s->ref, scratch->msg);
        return;
    }
    char where[128];
    snprintf(where, sizeof(where), "chunk ref %" PRIu64, cm->ref);
    uint32_t n;
    if (codec_chunk_num_samples(&c, &n, where, scratch)) {
        problem(r, b->dir, "chunks", "series ref %" PRIu64 ": %s", s->ref, scratch->msg);
        return;
    }
    r->samples += n;
    if (c.enc == CODEC_ENC_AGGR) {
        check_aggr(r, b, s, cm, &c, n, t, v, cap, scratch);
        return;
    }
    if (c.enc != CODEC_ENC_XOR)
        return; /* histogram chunks: CRC and count only */
    if (n == 0) {
        problem(r, b->dir, "chunks", "series ref %" PRIu64 ": chunk ref %" PRIu64 " is empty",
                s->ref, cm->ref);
        return;
    }
    if (n > *cap) {
        int64_t *nt = st_reallocarray(*t, n, sizeof(int64_t));
        double *nv = nt ? st_reallocarray(*v, n, sizeof(double)) : NULL;
        if (nt)
            *t = nt;
        if (nv)
            *v = nv;
        if (!nt || !nv) {
            problem(r, b->dir, "chunks", "out of memory decoding chunk ref %" PRIu64, cm->ref);
            return;
        }
        *cap = n;
    }
    size_t got;
    if (codec_xor_decode(c.data, c.len, *t, *v, n, &got, where, scratch)) {
        problem(r, b->dir, "chunks", "series ref %" PRIu64 ": %s", s->ref, scratch->msg);
        return;
    }
    for (size_t i = 1; i < got; i++) {
        if ((*t)[i] <= (*t)[i - 1]) {
            problem(r, b->dir, "chunks",
                    "series ref %" PRIu64 ": chunk ref %" PRIu64
                    ": timestamps out of order at sample %zu",
                    s->ref, cm->ref, i);
            return;
        }
    }
    if ((*t)[0] != cm->mint || (*t)[got - 1] != cm->maxt)
        problem(r, b->dir, "chunks",
                "series ref %" PRIu64 ": chunk ref %" PRIu64 " holds [%" PRId64 ", %" PRId64
                "] but the index says [%" PRId64 ", %" PRId64 "]",
                s->ref, cm->ref, (*t)[0], (*t)[got - 1], cm->mint, cm->maxt);
}

static void check_series(verify_report *r, const codec_block *b, const codec_series *s,
                         label_copy *prev, int have_prev)
{
    if (s->nlabels == 0)
        problem(r, b->dir, "index", "series ref %" PRIu64 " has no labels", s->ref);
    for (uint32_t i = 0; i < s->nlabels; i++) {
        if (s->labels[i].name.len == 0)
            problem(r, b->dir, "index", "series ref %" PRIu64 " has an empty label name", s->ref);
        if (i > 0 && codec_str_cmp(s->labels[i - 1].name, s->labels[i].name) >= 0)
            problem(r, b->dir, "index",
                    "series ref %" PRIu64 ": labels not sorted or duplicated at label %u", s->ref,
                    i);
    }
    if (have_prev && codec_labels_cmp(prev->l, prev->n, s->labels, s->nlabels) >= 0)
        problem(r, b->dir, "index", "series ref %" PRIu64 " is out of order or a duplicate",
                s->ref);
    if (s->nchunks == 0)
        problem(r, b->dir, "index", "series ref %" PRIu64 " has no chunks", s->ref);
    const codec_meta *m = b->meta;
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const codec_chunk_meta *cm = &s->chunks[i];
        if (cm->mint > cm->maxt)
            problem(r, b->dir, "index", "series ref %" PRIu64 ": chunk %u has mint > maxt", s->ref,
                    i);
        if (i > 0 && cm->mint <= s->chunks[i - 1].maxt)
            problem(r, b->dir, "index",
                    "series ref %" PRIu64 ": chunk %u overlaps or precedes chunk %u", s->ref, i,
                    i - 1);
        if (i > 0 && cm->ref <= s->chunks[i - 1].ref)
            problem(r, b->dir, "index", "series ref %" PRIu64 ": chunk refs do not increase",
                    s->ref);
        if (cm->mint < m->min_time || cm->maxt >= m->max_time)
            problem(r, b->dir, "index",
                    "series ref %" PRIu64 ": chunk %u [%" PRId64 ", %" PRId64
                    "] is outside the block range [%" PRId64 ", %" PRId64 ")",
                    s->ref, i, cm->mint, cm->maxt, m->min_time, m->max_time);
    }
}

/* Every postings list sorted, and naming only series that exist; their sizes add up to the
 * number of (series, label) pairs. */
static void check_postings(verify_report *r, const codec_block *b, const uint64_t *refs,
                           size_t nrefs, uint64_t label_pairs, st_err *scratch)
{
    const codec_str *names;
    size_t nnames;
    uint64_t total = 0;
    st_err_init(scratch);
    if (codec_index_label_names(b->index, &names, &nnames, scratch)) {
        problem(r, b->dir, "index", "%s", scratch->msg);
        return;
    }
    for (size_t i = 0; i < nnames; i++) {
        const codec_str *vals;
        size_t nvals;
        st_err_init(scratch);
        if (codec_index_label_values(b->index, names[i], &vals, &nvals, scratch)) {
            problem(r, b->dir, "index", "%s", scratch->msg);
            continue;
        }
        for (size_t j = 0; j < nvals; j++) {
            codec_postings p;
            st_err_init(scratch);
            if (codec_index_postings(b->index, names[i], vals[j], &p, scratch)) {
                problem(r, b->dir, "index", "%s", scratch->msg);
                continue;
            }
            total += p.n;
            for (uint32_t k = 0; k < p.n; k++) {
                uint64_t ref = codec_postings_at(&p, k);
                if (k > 0 && ref <= codec_postings_at(&p, k - 1)) {
                    problem(r, b->dir, "index", "postings %.*s=%.*s are not sorted",
                            (int)names[i].len, names[i].p, (int)vals[j].len, vals[j].p);
                    break;
                }
                if (!nrefs || !bsearch(&ref, refs, nrefs, sizeof(uint64_t), cmp_u64)) {
                    problem(r, b->dir, "index",
                            "postings %.*s=%.*s name series ref %" PRIu64 " which is not a series",
                            (int)names[i].len, names[i].p, (int)vals[j].len, vals[j].p, ref);
                    break;
                }
            }
        }
    }
    if (total != label_pairs)
        problem(r, b->dir, "index",
                "postings hold %" PRIu64 " entries but the series have %" PRIu64 " labels", total,
                label_pairs);
}

int verify_block(const char *dir, verify_report *r, st_err *err)
{
    codec_block *b = NULL;
    codec_series_iter *it = NULL;
    label_copy prev = {0};
    st_buf_init(&prev.bytes, 0);
    uint64_t *refs = NULL;
    size_t nrefs = 0, refs_cap = 0;
    int64_t *t = NULL;
    double *v = NULL;
    size_t cap = 0;
    uint64_t label_pairs = 0;
    st_err scratch;
    int rc = codec_block_open(&b, dir, err);
    if (rc)
        goto done;
    if ((rc = codec_series_iter_create(&it, b->index, err)))
        goto done;
    int have_prev = 0;
    while ((rc = codec_series_iter_next(it, err)) == 0) {
        const codec_series *s = codec_series_iter_at(it);
        r->series++;
        r->chunks += s->nchunks;
        label_pairs += s->nlabels;
        check_series(r, b, s, &prev, have_prev);
        for (uint32_t i = 0; i < s->nchunks; i++)
            check_chunk(r, b, s, &s->chunks[i], &t, &v, &cap, &scratch);
        if (nrefs > 0 && s->ref <= refs[nrefs - 1])
            problem(r, b->dir, "index", "all-postings list is not sorted at series ref %" PRIu64,
                    s->ref);
        if (nrefs == refs_cap) {
            size_t ncap = refs_cap ? refs_cap * 2 : 1024;
            uint64_t *nr = st_reallocarray(refs, ncap, sizeof(uint64_t));
            if (!nr) {
                rc = st_err_set(err, ST_ENOMEM, "verify %s: out of memory", dir);
                goto done;
            }
            refs = nr;
            refs_cap = ncap;
        }
        refs[nrefs++] = s->ref;
        if (label_copy_set(&prev, s)) {
            rc = st_err_set(err, ST_ENOMEM, "verify %s: out of memory", dir);
            goto done;
        }
        have_prev = 1;
    }
    if (rc != ST_ITEROVER) {
        /* the walk itself broke: that is a problem of the block, not of the run */
        problem(r, dir, "index", "%s", err->msg);
        st_err_init(err);
        rc = 0;
        goto done;
    }
    rc = 0;
    if (nrefs) /* qsort and bsearch take no NULL array, even empty */
        qsort(refs, nrefs, sizeof(uint64_t), cmp_u64);
    check_postings(r, b, refs, nrefs, label_pairs, &scratch);
    for (size_t i = 0; i < b->ntombstones; i++) {
        uint64_t ref = b->tombstones[i].series_ref;
        if (!nrefs || !bsearch(&ref, refs, nrefs, sizeof(uint64_t), cmp_u64)) {
            problem(r, dir, "tombstones",
                    "entry names series ref %" PRIu64 " which is not a series", ref);
            break;
        }
    }
    const codec_meta *m = b->meta;
    if (m->stats.num_series != r->series)
        problem(r, dir, "meta.json", "stats.numSeries is %" PRIu64 " but the index has %" PRIu64,
                m->stats.num_series, r->series);
    if (m->stats.num_chunks != r->chunks)
        problem(r, dir, "meta.json", "stats.numChunks is %" PRIu64 " but the index has %" PRIu64,
                m->stats.num_chunks, r->chunks);
    if (m->stats.num_samples != r->samples)
        problem(r, dir, "meta.json", "stats.numSamples is %" PRIu64 " but the chunks hold %" PRIu64,
                m->stats.num_samples, r->samples);
done:
    codec_series_iter_free(it);
    codec_block_free(b);
    st_buf_release(&prev.bytes);
    st_free(prev.l);
    st_free(refs);
    st_free(t);
    st_free(v);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    int64_t max_print = 100;
    const cli_flag flags[] = {
        {"max-problems", CLI_INT64, &max_print, "print at most this many problems per block"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("verify", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc)
        return rc;
    if (npos == 0) {
        fprintf(stderr, "usage: strata verify BLOCK_DIR...\n");
        st_free(pos);
        return COMPACTOR_EXIT_USAGE;
    }
    int exit_code = COMPACTOR_EXIT_OK;
    for (size_t i = 0; i < npos; i++) {
        verify_report r = {0};
        r.out = stdout;
        r.max_print = (size_t)max_print;
        st_err err;
        st_err_init(&err);
        if (verify_block(pos[i], &r, &err)) {
            printf("block %s: %s\n", pos[i], err.msg);
            exit_code = COMPACTOR_EXIT_ERROR;
            continue;
        }
        if (r.nproblems) {
            if (r.nproblems > r.max_print)
                printf("block %s: ... %zu more problems\n", pos[i], r.nproblems - r.max_print);
            printf("block %s: FAILED: %zu problems (%" PRIu64 " series, %" PRIu64
                   " chunks, %" PRIu64 " samples)\n",
                   pos[i], r.nproblems, r.series, r.chunks, r.samples);
            exit_code = COMPACTOR_EXIT_ERROR;
        } else {
            printf("block %s: ok (%" PRIu64 " series, %" PRIu64 " chunks, %" PRIu64 " samples)\n",
                   pos[i], r.series, r.chunks, r.samples);
        }
    }
    st_free(pos);
    return exit_code;
}
