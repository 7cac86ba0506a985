/*
 * dump.c - `strata dump`: every float sample of the given blocks, one line each, exactly as
 * `promtool tsdb dump` prints it: `{labels} value timestamp`, series in label order, blocks
 * merged like a query (one sample per timestamp), samples inside [--min-time, --max-time] and
 * outside tombstones. A series stops at its first histogram sample, as promtool's does.
 *
 * With --aggregate=count|sum|min|max|counter it reads downsampled blocks instead: one aggregate
 * of every aggregate chunk, chunk by chunk, exactly as stored (the counter's leading raw sample
 * and repeated last window included, so timestamps may repeat), same line format, no merging.
 */
#include "compactor_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct samples {
    int64_t *t;
    double *v;
    size_t n, cap;
    int64_t stop_at; /* first histogram sample time seen, INT64_MAX if none */
} samples;

typedef struct source {
    codec_block *b;
    codec_series_iter *it;
    const codec_series *cur;
    samples s;
} source;

static int samples_grow(samples *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    size_t ncap = s->cap ? s->cap : 1024;
    while (ncap < need)
        ncap *= 2;
    int64_t *nt = st_reallocarray(s->t, ncap, sizeof(int64_t));
    if (!nt)
        return ST_ENOMEM;
    s->t = nt;
    double *nv = st_reallocarray(s->v, ncap, sizeof(double));
    if (!nv)
        return ST_ENOMEM;
    s->v = nv;
    s->cap = ncap;
    return 0;
}

static int deleted(const codec_tombstone *ts, size_t nts, int64_t t)
{
    for (size_t i = 0; i < nts; i++)
        if (t >= ts[i].mint && t <= ts[i].maxt)
            return 1;
    return 0;
}

/* Decode the chunks of src's current series that fall in [mint, maxt] into src->s; with
 * aggr >= 0, that aggregate of its aggregate chunks (other chunks are skipped). */
static int load_series(source *src, int64_t mint, int64_t maxt, int aggr, st_err *err)
{
    samples *s = &src->s;
    const codec_series *se = src->cur;
    s->n = 0;
    s->stop_at = INT64_MAX;
    size_t nts;
    const codec_tombstone *ts = codec_block_series_tombstones(src->b, se->ref, &nts);
    char where[256];
    for (uint32_t i = 0; i < se->nchunks; i++) {
        const codec_chunk_meta *cm = &se->chunks[i];
        if (cm->maxt < mint || cm->mint > maxt)
            continue;
        if (cm->mint >= s->stop_at)
            break;
        codec_chunk c;
        int rc = codec_chunk_reader_get(src->b->chunks, cm->ref, &c, err);
        if (rc)
            return rc;
        snprintf(where, sizeof(where), "%s/chunks ref %" PRIu64, src->b->dir, cm->ref);
        if (aggr >= 0) {
            if (c.enc != CODEC_ENC_AGGR)
                continue;
            codec_chunk sub[CODEC_AGGR_N];
            if ((rc = codec_aggr_parse(c.data, c.len, sub, NULL, where, err)))
                return rc;
            if (!sub[aggr].enc)
                continue;
            if (sub[aggr].enc != CODEC_ENC_XOR) {
                s->stop_at = cm->mint; /* a histogram aggregate: stop, as for histograms */
                break;
            }
            c = sub[aggr];
        } else if (c.enc != CODEC_ENC_XOR) {
            if (c.enc == CODEC_ENC_HISTOGRAM || c.enc == CODEC_ENC_FLOAT_HISTOGRAM) {
                s->stop_at = cm->mint;
                break;
            }
            if (c.enc == CODEC_ENC_AGGR)
                return st_err_set(err, ST_EUNSUPP,
                                  "%s: series ref %" PRIu64 ": chunk ref %" PRIu64
                                  " is an aggregate chunk (a downsampled block): use "
                                  "--aggregate=count|sum|min|max|counter",
                                  src->b->dir, se->ref, cm->ref);
            return st_err_set(err, ST_EUNSUPP,
                              "%s: series ref %" PRIu64 ": chunk ref %" PRIu64
                              " has unsupported encoding %u",
                              src->b->dir, se->ref, cm->ref, c.enc);
        }
        uint32_t cnt;
        if ((rc = codec_chunk_num_samples(&c, &cnt, where, err)))
            return rc;
        if ((rc = samples_grow(s, s->n + cnt)))
            return st_err_set(err, rc, "dump: out of memory");
        size_t got;
        if ((rc = codec_xor_decode(c.data, c.len, s->t + s->n, s->v + s->n, cnt, &got, where, err)))
            return rc;
        /* keep samples inside the window and outside deleted intervals, in place */
        size_t w = s->n;
        for (size_t k = s->n; k < s->n + got; k++) {
            int64_t t = s->t[k];
            if (t < mint || t > maxt || (nts && deleted(ts, nts, t)))
                continue;
            s->t[w] = t;
            s->v[w] = s->v[k];
            w++;
        }
        s->n = w;
    }
    return 0;
}

static int print_series(st_buf *line, size_t prefix_len, source **grp, size_t ng, FILE *out)
{
    int64_t stop = INT64_MAX;
    for (size_t g = 0; g < ng; g++)
        stop = ST_MIN(stop, grp[g]->s.stop_at);
    size_t pos[64] = {0};
    char num[64];
    for (;;) {
        /* the smallest next timestamp; on ties the earliest block (by minTime) wins */
        int best = -1;
        int64_t bt = INT64_MAX;
        for (size_t g = 0; g < ng; g++) {
            samples *s = &grp[g]->s;
            if (pos[g] < s->n && (best < 0 || s->t[pos[g]] < bt)) {
                best = (int)g;
                bt = s->t[pos[g]];
            }
        }
        if (best < 0 || bt >= stop)
            break;
        double v = grp[best]->s.v[pos[best]];
        for (size_t g = 0; g < ng; g++)
            while (pos[g] < grp[g]->s.n && grp[g]->s.t[pos[g]] == bt)
                pos[g]++;
        line->len = prefix_len;
        size_t n = gofmt_float(num, v);
        num[n++] = ' ';
        n += (size_t)snprintf(num + n, sizeof(num) - n, "%" PRId64 "\n", bt);
        if (st_buf_append(line, num, n))
            return ST_ENOMEM;
        if (fwrite(line->p, 1, line->len, out) != line->len)
            return ST_EIO;
    }
    return 0;
}

/* Aggregate mode: every stored sample of each block in turn (blocks by minTime), unmerged. */
static int print_stored(st_buf *line, size_t prefix_len, source **grp, size_t ng, FILE *out)
{
    char num[64];
    for (size_t g = 0; g < ng; g++) {
        const samples *s = &grp[g]->s;
        for (size_t i = 0; i < s->n && s->t[i] < s->stop_at; i++) {
            line->len = prefix_len;
            size_t n = gofmt_float(num, s->v[i]);
            num[n++] = ' ';
            n += (size_t)snprintf(num + n, sizeof(num) - n, "%" PRId64 "\n", s->t[i]);
            if (st_buf_append(line, num, n))
                return ST_ENOMEM;
            if (fwrite(line->p, 1, line->len, out) != line->len)
                return ST_EIO;
        }
    }
    return 0;
}

static int cmp_block_min(const void *a, const void *b)
{
    const source *x = a, *y = b;
    int64_t ax = x->b->meta->min_time, by = y->b->meta->min_time;
    return ax < by ? -1 : ax > by;
}

int cmd_dump(int argc, char **argv)
{
    int64_t mint = INT64_MIN, maxt = INT64_MAX;
    cli_strings match = {0};
    const char *aggregate = NULL;
    const cli_flag flags[] = {
        {"min-time", CLI_INT64, &mint, "minimum timestamp to dump, ms (inclusive)"},
        {"max-time", CLI_INT64, &maxt, "maximum timestamp to dump, ms (inclusive)"},
        {"match", CLI_STRINGS, &match, "series selector; repeatable (a series matching any)"},
        {"aggregate", CLI_STRING, &aggregate,
         "downsampled blocks: count, sum, min, max or counter, printed as stored"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("dump", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc) {
        cli_strings_free(&match);
        return rc;
    }
    int aggr = aggregate ? codec_aggr_from_name(aggregate) : -1;
    if (npos == 0 || (aggregate && aggr < 0)) {
        fprintf(stderr, "usage: strata dump [--min-time=MS] [--max-time=MS] [--match=SELECTOR]... "
                        "[--aggregate=count|sum|min|max|counter] BLOCK_DIR...\n");
        st_free(pos);
        cli_strings_free(&match);
        return COMPACTOR_EXIT_USAGE;
    }

    st_err err;
    st_err_init(&err);
    int exit_code = COMPACTOR_EXIT_OK;
    selector *sels = st_calloc(match.n + 1, sizeof(selector));
    source *src = st_calloc(npos, sizeof(source));
    source **grp = st_calloc(npos, sizeof(source *));
    size_t nsel = 0, nsrc = 0;
    st_buf line;
    st_buf_init(&line, 0);
    if (!sels || !src || !grp) {
        st_err_set(&err, ST_ENOMEM, "dump: out of memory");
        goto done;
    }
    if (npos > 64) {
        st_err_set(&err, ST_EINVAL, "dump: at most 64 blocks at once");
        goto done;
    }
    for (; nsel < match.n; nsel++) {
        if ((rc = selector_parse(&sels[nsel], match.v[nsel], &err))) {
            exit_code = COMPACTOR_EXIT_USAGE;
            goto done;
        }
    }
    for (size_t i = 0; i < npos; i++) {
        codec_block *b;
        if ((rc = codec_block_open(&b, pos[i], &err)))
            goto done;
        if (aggr >= 0 && !(b->meta->has_thanos && b->meta->thanos.resolution > 0)) {
            st_err_set(&err, ST_EINVAL,
                       "dump: block %s is not downsampled (resolution 0): "
                       "--aggregate reads downsampled blocks only",
                       pos[i]);
            codec_block_free(b);
            goto done;
        }
        /* only blocks whose [minTime, maxTime) meets [mint, maxt] take part */
        if (!(b->meta->min_time <= maxt && mint < b->meta->max_time)) {
            codec_block_free(b);
            continue;
        }
        src[nsrc++].b = b;
    }
    qsort(src, nsrc, sizeof(source), cmp_block_min);
    for (size_t i = 0; i < nsrc; i++) {
        if ((rc = codec_series_iter_create(&src[i].it, src[i].b->index, &err)))
            goto done;
        rc = codec_series_iter_next(src[i].it, &err);
        if (rc == 0)
            src[i].cur = codec_series_iter_at(src[i].it);
        else if (rc != ST_ITEROVER)
            goto done;
    }

    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    rc = 0;
    for (;;) {
        /* the smallest current label set, and every source positioned on it */
        size_t ng = 0;
        const codec_series *min = NULL;
        for (size_t i = 0; i < nsrc; i++) {
            const codec_series *c = src[i].cur;
            if (!c)
                continue;
            int cmp = min ? codec_labels_cmp(c->labels, c->nlabels, min->labels, min->nlabels) : -1;
            if (cmp < 0) {
                min = c;
                ng = 0;
            }
            if (cmp <= 0)
                grp[ng++] = &src[i];
        }
        if (!min)
            break;
        int want = nsel == 0;
        for (size_t k = 0; k < nsel && !want; k++)
            want = selector_matches(&sels[k], min->labels, min->nlabels);
        if (want) {
            for (size_t g = 0; g < ng && !rc; g++)
                rc = load_series(grp[g], mint, maxt, aggr, &err);
            if (rc)
                goto done;
            line.len = 0;
            if (gofmt_labels(&line, min->labels, min->nlabels) || st_buf_putc(&line, ' ')) {
                rc = st_err_set(&err, ST_ENOMEM, "dump: out of memory");
                goto done;
            }
            rc = aggr >= 0 ? print_stored(&line, line.len, grp, ng, stdout)
                           : print_series(&line, line.len, grp, ng, stdout);
            if (rc) {
                st_err_set(&err, rc, "dump: writing output failed");
                goto done;
            }
        }
        for (size_t g = 0; g < ng; g++) {
            rc = codec_series_iter_next(grp[g]->it, &err);
            if (rc == 0) {
                grp[g]->cur = codec_series_iter_at(grp[g]->it);
            } else if (rc == ST_ITEROVER) {
                grp[g]->cur = NULL;
                rc = 0;
            } else {
                goto done;
            }
        }
    }

done:
    if (err.code) {
        fflush(stdout);
        fprintf(stderr, "strata dump: %s\n", err.msg);
        if (exit_code == COMPACTOR_EXIT_OK)
            exit_code = COMPACTOR_EXIT_ERROR;
    }
    if (fflush(stdout) != 0 && exit_code == COMPACTOR_EXIT_OK)
        exit_code = COMPACTOR_EXIT_ERROR;
    for (size_t i = 0; i < nsrc; i++) {
        codec_series_iter_free(src[i].it);
        codec_block_free(src[i].b);
        st_free(src[i].s.t);
        st_free(src[i].s.v);
    }
    for (size_t i = 0; i < nsel; i++)
        selector_release(&sels[i]);
    st_free(sels);
    st_free(src);
    st_free(grp);
    st_buf_release(&line);
    st_free(pos);
    cli_strings_free(&match);
    return exit_code;
}
