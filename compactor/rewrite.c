/*
 * rewrite.c - `strata rewrite --output=DIR BLOCK_DIR`: read a block and write it back through
 * the codec: every XOR chunk decoded and re-encoded from its samples (or copied with
 * --copy-chunks), the index rebuilt from the parsed symbols and series, tombstones carried over,
 * meta.json with a new ULID and recounted stats. The output is written to
 * DIR/<ULID>.tmp-for-creation, verified, then renamed into place. Prometheus' writer is
 * deterministic, so for its blocks index and chunks/ come out byte-identical.
 */
#include "compactor_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_pair {
    uint64_t old_ref, new_ref;
} ref_pair;

typedef struct rewriter {
    codec_block *in;
    int copy_chunks;
    codec_chunk_writer *cw;
    codec_index_writer *iw;
    codec_xor_enc *enc; /* one per chunk of the current series */
    size_t nenc;
    codec_chunk *chks;
    codec_chunk_meta *metas;
    uint64_t *refs;
    size_t cap;
    int64_t *t;
    double *v;
    size_t tv_cap;
    ref_pair *map;
    size_t nmap;
    uint64_t samples, chunks, series;
} rewriter;

static int grow(rewriter *w, size_t n, st_err *err)
{
    if (n <= w->cap)
        return 0;
    size_t ncap = w->cap ? w->cap : 16;
    while (ncap < n)
        ncap *= 2;
    codec_xor_enc *ne = st_reallocarray(w->enc, ncap, sizeof(*ne));
    if (!ne)
        return st_err_set(err, ST_ENOMEM, "rewrite: out of memory");
    w->enc = ne;
    for (size_t i = w->nenc; i < ncap; i++)
        codec_xor_enc_init(&w->enc[i]);
    w->nenc = ncap;
    codec_chunk *nc = st_reallocarray(w->chks, ncap, sizeof(*nc));
    codec_chunk_meta *nm = nc ? st_reallocarray(w->metas, ncap, sizeof(*nm)) : NULL;
    uint64_t *nr = nm ? st_reallocarray(w->refs, ncap, sizeof(*nr)) : NULL;
    if (nc)
        w->chks = nc;
    if (nm)
        w->metas = nm;
    if (nr)
        w->refs = nr;
    if (!nc || !nm || !nr)
        return st_err_set(err, ST_ENOMEM, "rewrite: out of memory");
    w->cap = ncap;
    return 0;
}

static int reencode(rewriter *w, size_t i, const codec_chunk *in, uint64_t ref, st_err *err)
{
    char where[300];
    snprintf(where, sizeof(where), "%s/chunks ref %" PRIu64, w->in->dir, ref);
    uint32_t n;
    int rc = codec_chunk_num_samples(in, &n, where, err);
    if (rc)
        return rc;
    w->samples += n;
    if (w->copy_chunks || in->enc != CODEC_ENC_XOR) {
        w->chks[i] = *in;
        return 0;
    }
    if (n > w->tv_cap) {
        int64_t *nt = st_reallocarray(w->t, n, sizeof(int64_t));
        double *nv = nt ? st_reallocarray(w->v, n, sizeof(double)) : NULL;
        if (nt)
            w->t = nt;
        if (nv)
            w->v = nv;
        if (!nt || !nv)
            return st_err_set(err, ST_ENOMEM, "rewrite: out of memory");
        w->tv_cap = n;
    }
    size_t got;
    if ((rc = codec_xor_decode(in->data, in->len, w->t, w->v, n, &got, where, err)))
        return rc;
    codec_xor_enc_reset(&w->enc[i]);
    if ((rc = codec_xor_enc_append_batch(&w->enc[i], w->t, w->v, got)))
        return st_err_set(err, rc, "rewrite: re-encoding %s failed", where);
    w->chks[i] = codec_xor_enc_chunk(&w->enc[i]);
    return 0;
}

static int write_series(rewriter *w, const codec_series *s, st_err *err)
{
    int rc = grow(w, s->nchunks, err);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < s->nchunks; i++) {
        codec_chunk c;
        if ((rc = codec_chunk_reader_get(w->in->chunks, s->chunks[i].ref, &c, err)))
            return rc;
        if ((rc = reencode(w, i, &c, s->chunks[i].ref, err)))
            return rc;
        w->metas[i] = s->chunks[i];
    }
    if ((rc = codec_chunk_writer_write(w->cw, w->chks, s->nchunks, w->refs, err)))
        return rc;
    for (uint32_t i = 0; i < s->nchunks; i++)
        w->metas[i].ref = w->refs[i];
    uint64_t new_ref;
    if ((rc = codec_index_writer_add_series(w->iw, s->labels, s->nlabels, w->metas, s->nchunks,
                                            &new_ref, err)))
        return rc;
    if (w->in->ntombstones) {
        ref_pair *nm = st_reallocarray(w->map, w->nmap + 1, sizeof(*nm));
        if (!nm)
            return st_err_set(err, ST_ENOMEM, "rewrite: out of memory");
        w->map = nm;
        w->map[w->nmap++] = (ref_pair){s->ref, new_ref};
    }
    w->series++;
    w->chunks += s->nchunks;
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const ref_pair *x = a, *y = b;
    return x->old_ref < y->old_ref ? -1 : x->old_ref > y->old_ref;
}

static int write_tombstones(rewriter *w, const char *path, st_err *err)
{
    size_t n = w->in->ntombstones;
    codec_tombstone *ts = st_calloc(n + 1, sizeof(*ts));
    if (!ts)
        return st_err_set(err, ST_ENOMEM, "rewrite: out of memory");
    size_t k = 0;
    if (w->nmap) /* qsort and bsearch take no NULL array, even empty */
        qsort(w->map, w->nmap, sizeof(ref_pair), cmp_pair);
    for (size_t i = 0; i < n && w->nmap; i++) {
        ref_pair key = {w->in->tombstones[i].series_ref, 0};
        ref_pair *hit = bsearch(&key, w->map, w->nmap, sizeof(ref_pair), cmp_pair);
        if (!hit)
            continue; /* names no series: nothing to carry */
        ts[k] = w->in->tombstones[i];
        ts[k++].series_ref = hit->new_ref;
    }
    int rc = codec_tombstones_write(path, ts, k, err);
    st_free(ts);
    return rc;
}

static int rewrite_block(const char *in_dir, const char *out_dir, int copy_chunks, char *final_out,
                         size_t final_cap, st_err *err)
{
    rewriter w = {0};
    w.copy_chunks = copy_chunks;
    codec_series_iter *it = NULL;
    char *tmp = NULL, *path = NULL;
    int rc = codec_block_open(&w.in, in_dir, err);
    if (rc)
        return rc;
    codec_ulid id;
    if ((rc = codec_ulid_new(&id, st_now_ms()))) {
        st_err_set(err, rc, "rewrite: no randomness for a ULID");
        goto done;
    }
    snprintf(final_out, final_cap, "%s/%s", out_dir, id.s);
    size_t tl = strlen(final_out) + 32;
    if (!(tmp = st_malloc(tl))) {
        rc = st_err_set(err, ST_ENOMEM, "rewrite: out of memory");
        goto done;
    }
    snprintf(tmp, tl, "%s.tmp-for-creation", final_out);
    if ((rc = st_rmtree(tmp, err)) || (rc = st_mkdir_p(tmp, err)))
        goto done;

#define PATH(name)                                                                                 \
    do {                                                                                           \
        st_free(path);                                                                             \
        if (!(path = st_path_join(tmp, name))) {                                                   \
            rc = st_err_set(err, ST_ENOMEM, "rewrite: out of memory");                             \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

    PATH("chunks");
    if ((rc = codec_chunk_writer_create(&w.cw, path, 0, err)))
        goto done;
    PATH("index");
    if ((rc = codec_index_writer_create(&w.iw, path, err)))
        goto done;
    uint32_t nsym = codec_index_nsymbols(w.in->index);
    for (uint32_t i = 0; i < nsym; i++) {
        codec_str s;
        if ((rc = codec_index_symbol(w.in->index, i, &s, err)) ||
            (rc = codec_index_writer_add_symbol(w.iw, s, err)))
            goto done;
    }
    if ((rc = codec_series_iter_create(&it, w.in->index, err)))
        goto done;
    while ((rc = codec_series_iter_next(it, err)) == 0)
        if ((rc = write_series(&w, codec_series_iter_at(it), err)))
            goto done;
    if (rc != ST_ITEROVER)
        goto done;
    if ((rc = codec_chunk_writer_close(w.cw, err)) || (rc = codec_index_writer_close(w.iw, err)))
        goto done;
    PATH("tombstones");
    if ((rc = write_tombstones(&w, path, err)))
        goto done;

    codec_meta *m = w.in->meta;
    m->ulid = id;
    m->stats.num_series = w.series;
    m->stats.num_chunks = w.chunks;
    m->stats.num_samples = w.samples;
    m->stats.num_tombstones = w.in->ntombstones;
    PATH("meta.json");
    if ((rc = codec_meta_write(m, path, m->has_thanos ? CODEC_META_NEWLINE : 0, err)))
        goto done;

    verify_report r = {0};
    r.out = stderr;
    r.max_print = 20;
    if ((rc = verify_block(tmp, &r, err)))
        goto done;
    if (r.nproblems) {
        rc = st_err_set(err, ST_ECORRUPT,
                        "rewrite: the new block %s failed verification with %zu problems "
                        "(listed above); it was removed",
                        tmp, r.nproblems);
        goto done;
    }
    if ((rc = st_fsync_dir(tmp, err)))
        goto done;
    if (rename(tmp, final_out) != 0) {
        rc = st_err_set(err, ST_EIO, "rewrite: rename %s to %s failed", tmp, final_out);
        goto done;
    }
    rc = st_fsync_dir(out_dir, err);
#undef PATH
done:
    if (rc && tmp) {
        st_err scratch;
        st_err_init(&scratch);
        st_rmtree(tmp, &scratch);
    }
    codec_series_iter_free(it);
    codec_chunk_writer_free(w.cw);
    codec_index_writer_free(w.iw);
    for (size_t i = 0; i < w.nenc; i++)
        codec_xor_enc_release(&w.enc[i]);
    st_free(w.enc);
    st_free(w.chks);
    st_free(w.metas);
    st_free(w.refs);
    st_free(w.t);
    st_free(w.v);
    st_free(w.map);
    st_free(tmp);
    st_free(path);
    codec_block_free(w.in);
    return rc;
}

int cmd_rewrite(int argc, char **argv)
{
    const char *output = NULL;
    int copy_chunks = 0;
    const cli_flag flags[] = {
        {"output", CLI_STRING, &output, "directory to write the new block into"},
        {"copy-chunks", CLI_BOOL, &copy_chunks, "copy chunk bytes instead of re-encoding"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("rewrite", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc)
        return rc;
    if (npos != 1 || !output) {
        fprintf(stderr, "usage: strata rewrite --output=DIR [--copy-chunks] BLOCK_DIR\n");
        st_free(pos);
        return COMPACTOR_EXIT_USAGE;
    }
    st_err err;
    st_err_init(&err);
    char out[4096];
    int exit_code = COMPACTOR_EXIT_OK;
    if ((rc = st_mkdir_p(output, &err)) ||
        (rc = rewrite_block(pos[0], output, copy_chunks, out, sizeof(out), &err))) {
        fprintf(stderr, "strata rewrite: %s\n", err.msg);
        exit_code = COMPACTOR_EXIT_ERROR;
    } else {
        printf("%s\n", out);
    }
    st_free(pos);
    return exit_code;
}
