/*
 * merge.c - the merge engine: N blocks of one group into one block, as Prometheus 2.42's
 * LeveledCompactor writes it (so adjacent inputs give byte-identical index and chunks), with
 * Thanos' penalty deduplication as an option.
 *
 * Flow. The main thread merges the inputs' series in label order (a heap over the inputs) and cuts
 * them into batches; workers turn each series' input chunks into output chunks; the main thread
 * writes finished batches in order (chunk records, then the series entry with the new refs).
 * Symbols are the union of the inputs' symbol tables.
 *
 * Per series (Prometheus' compactChunkIterator, Thanos' dedupChunksIterator): chunks of all
 * inputs go into a min-heap by (mint, maxt) built and maintained exactly like Go's container/heap,
 * so ties break the same way. Pop C; absorb every next chunk whose mint <= the running maxt,
 * skipping 1:1 duplicates of the previous one. Nothing absorbed: C is copied byte for byte.
 * Otherwise the group's samples are merged (one per timestamp, or penalty dedup), re-encoded into
 * XOR chunks of at most 120 samples, the first is emitted and the rest go back into the heap.
 * Chunks crossing the output range or a tombstone are first re-encoded without those samples.
 *
 * Memory: labels, chunk metas and re-encoded bytes live in per-batch arenas; copied chunks are
 * read from the inputs' mappings, whose consumed pages are released as the writer moves on.
 */
#include "compactor_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_SERIES  512
#define RELEASE_EVERY (2ull << 20)

/* A chunk to emit or to merge: an input chunk (borrowed from a mapping) or a re-encoded one
 * (in the batch arena). */
typedef struct mchunk {
    int64_t mint, maxt;
    const uint8_t *data;
    uint32_t len;
    uint8_t enc;
    uint8_t copied; /* 1: bytes are an input chunk's, unchanged */
    uint32_t crc;   /* with copied: the input record's CRC, already checked */
} mchunk;

typedef struct src_series {
    uint32_t input;
    uint64_t ref;
    const codec_chunk_meta *chunks; /* in the batch arena */
    uint32_t nchunks;
} src_series;

typedef struct series_job {
    codec_label *labels; /* in the batch arena */
    uint32_t nlabels;
    src_series *src;
    uint32_t nsrc;
    mchunk *out;
    uint32_t nout;
    uint32_t *refs;   /* the labels' symbol refs in the output index (2 per label); NULL when
                       * an input has a v1 index: the index writer looks them up */
    uint64_t samples; /* in out */
} series_job;

/* A list of chunks being walked: one per input series, plus re-encoded remainders. */
typedef struct chunk_iter {
    mchunk *list;
    uint32_t n, pos;
} chunk_iter;

typedef struct scratch {
    int64_t *t[3];
    double *v[3];
    size_t cap[3];
    chunk_iter **heap;
    size_t heap_cap;
    chunk_iter *iters;
    size_t iters_cap;
    const mchunk **group;
    size_t group_cap;
    codec_xor_enc enc;
} scratch;

typedef struct merger merger;

typedef struct batch {
    merger *m;
    st_arena arena;
    series_job *jobs;
    size_t njobs, cap;
    uint64_t *maxref; /* per input: the highest chunk ref read by this batch */
    scratch sc;
    int rc;
    st_err err;
    int done;
} batch;

struct merger {
    codec_block *const *in;
    size_t nin;
    const merge_opts *o;
    int64_t mint, maxt; /* output range, closed: [minTime, maxTime - 1] */
    /* per input, its symbol i's ref in the output; NULL when an input has a v1 index (labels
     * are then compared as strings and looked up by the index writer) */
    uint32_t **symmap;
    progress *prog;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* the pipeline, under mu: batches filled by the reader and written by the writer so far */
    size_t filled, written;
    int input_done, stop;
    /* counters (written by workers under mu) */
    uint64_t copied, reencoded, merged_groups, dropped_hist;
};

/* ---- scratch ------------------------------------------------------------------------------- */

static int sc_arrays(scratch *sc, int k, size_t n)
{
    if (n <= sc->cap[k])
        return 0;
    size_t c = sc->cap[k] ? sc->cap[k] : 256;
    while (c < n)
        c *= 2;
    int64_t *t = st_reallocarray(sc->t[k], c, sizeof(int64_t));
    if (!t)
        return ST_ENOMEM;
    sc->t[k] = t;
    double *v = st_reallocarray(sc->v[k], c, sizeof(double));
    if (!v)
        return ST_ENOMEM;
    sc->v[k] = v;
    sc->cap[k] = c;
    return 0;
}

static void sc_release(scratch *sc)
{
    for (int k = 0; k < 3; k++) {
        st_free(sc->t[k]);
        st_free(sc->v[k]);
    }
    st_free(sc->heap);
    st_free(sc->iters);
    st_free(sc->group);
    codec_xor_enc_release(&sc->enc);
}

/* ---- Go's container/heap over chunk iterators, ordered by (mint, maxt) ---------------------- */

static int it_less(const chunk_iter *a, const chunk_iter *b)
{
    const mchunk *x = &a->list[a->pos], *y = &b->list[b->pos];
    if (x->mint != y->mint)
        return x->mint < y->mint;
    return x->maxt < y->maxt;
}

static void heap_up(chunk_iter **h, size_t j)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!it_less(h[j], h[i]))
            break;
        chunk_iter *tmp = h[i];
        h[i] = h[j];
        h[j] = tmp;
        j = i;
    }
}

static void heap_down(chunk_iter **h, size_t i, size_t n)
{
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        size_t j = j1;
        if (j1 + 1 < n && it_less(h[j1 + 1], h[j1]))
            j = j1 + 1;
        if (!it_less(h[j], h[i]))
            break;
        chunk_iter *tmp = h[i];
        h[i] = h[j];
        h[j] = tmp;
        i = j;
    }
}

static void heap_push(chunk_iter **h, size_t *n, chunk_iter *it)
{
    h[(*n)++] = it;
    heap_up(h, *n - 1);
}

static chunk_iter *heap_pop(chunk_iter **h, size_t *n)
{
    size_t last = *n - 1;
    chunk_iter *tmp = h[0];
    h[0] = h[last];
    h[last] = tmp;
    heap_down(h, 0, last);
    (*n)--;
    return h[last];
}

/* ---- sample merging ------------------------------------------------------------------------ */

static int decode_into(batch *b, const mchunk *c, int k, size_t *n)
{
    /* input chunks passed their CRC check when loaded; the context is only for messages */
    const char *where = c->copied ? "input chunk being merged" : "re-encoded chunk";
    codec_chunk ch = {.enc = c->enc, .data = c->data, .len = c->len};
    uint32_t cnt;
    int rc = codec_chunk_num_samples(&ch, &cnt, where, &b->err);
    if (rc)
        return rc;
    if ((rc = sc_arrays(&b->sc, k, cnt)))
        return st_err_set(&b->err, rc, "merge: out of memory");
    return codec_xor_decode(c->data, c->len, b->sc.t[k], b->sc.v[k], cnt, n, where, &b->err);
}

/* acc (slot 0, na samples) merged with slot 1 (nb samples) into slot 2, then swapped into 0:
 * one sample per timestamp, acc's sample wins a tie. */
static size_t merge_chain2(scratch *sc, size_t na, size_t nb)
{
    const int64_t *ta = sc->t[0], *tb = sc->t[1];
    const double *va = sc->v[0], *vb = sc->v[1];
    int64_t *to = sc->t[2];
    double *vo = sc->v[2];
    size_t i = 0, j = 0, o = 0;
    while (i < na && j < nb) {
        if (ta[i] <= tb[j]) {
            if (ta[i] == tb[j])
                j++;
            to[o] = ta[i];
            vo[o++] = va[i++];
        } else {
            to[o] = tb[j];
            vo[o++] = vb[j++];
        }
    }
    for (; i < na; i++, o++) {
        to[o] = ta[i];
        vo[o] = va[i];
    }
    for (; j < nb; j++, o++) {
        to[o] = tb[j];
        vo[o] = vb[j];
    }
    return o;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

/* Thanos' penalty dedup of two replicas A (slot 0) and B (slot 1) into slot 2: stay on one
 * replica; the other may take over only after a gap longer than twice the last interval. One
 * difference: Thanos gives the first pick a fixed 5 s penalty, which drops data of inputs spaced
 * closer than that; here the first penalty is twice the chosen replica's own first interval. */
size_t merge_penalty2(const int64_t *ta, const double *va, size_t na, const int64_t *tb,
                      const double *vb, size_t nb, int64_t *to, double *vo)
{
    size_t i = 0, j = 0, o = 0;
    int64_t last = INT64_MIN, pen_a = 0, pen_b = 0;
    int first = 1;
    for (;;) {
        int64_t seek_a = last == INT64_MIN ? INT64_MIN : sat_add(sat_add(last, 1), pen_a);
        int64_t seek_b = last == INT64_MIN ? INT64_MIN : sat_add(sat_add(last, 1), pen_b);
        while (i < na && ta[i] < seek_a)
            i++;
        while (j < nb && tb[j] < seek_b)
            j++;
        if (i >= na && j >= nb)
            break;
        if (i >= na) {
            to[o] = tb[j];
            vo[o++] = vb[j];
            last = tb[j];
            pen_b = 0;
            continue;
        }
        if (j >= nb) {
            to[o] = ta[i];
            vo[o++] = va[i];
            last = ta[i];
            pen_a = 0;
            continue;
        }
        int use_a = ta[i] <= tb[j];
        int64_t t = use_a ? ta[i] : tb[j];
        int64_t pen;
        if (first) {
            const int64_t *ts = use_a ? ta : tb;
            size_t k = use_a ? i : j, n = use_a ? na : nb;
            pen = k + 1 < n ? 2 * (ts[k + 1] - ts[k]) : 0;
            first = 0;
        } else {
            pen = (t - last) > INT64_MAX / 2 ? INT64_MAX / 2 : 2 * (t - last);
        }
        if (use_a) {
            pen_b = pen;
            pen_a = 0;
            to[o] = t;
            vo[o++] = va[i];
        } else {
            pen_a = pen;
            pen_b = 0;
            to[o] = t;
            vo[o++] = vb[j];
        }
        last = t;
    }
    return o;
}

static void swap_slots(scratch *sc, int a, int b)
{
    int64_t *t = sc->t[a];
    double *v = sc->v[a];
    size_t c = sc->cap[a];
    sc->t[a] = sc->t[b];
    sc->v[a] = sc->v[b];
    sc->cap[a] = sc->cap[b];
    sc->t[b] = t;
    sc->v[b] = v;
    sc->cap[b] = c;
}

/* Encode samples (slot 0, n) into chunks of at most 120 samples, in the batch arena. */
static int encode_chunks(batch *b, size_t n, mchunk **out, uint32_t *nout)
{
    scratch *sc = &b->sc;
    uint32_t nc = (uint32_t)((n + CODEC_CHUNK_TARGET_SAMPLES - 1) / CODEC_CHUNK_TARGET_SAMPLES);
    mchunk *list = st_arena_alloc(&b->arena, sizeof(mchunk) * (nc ? nc : 1));
    if (!list)
        return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
    for (uint32_t c = 0; c < nc; c++) {
        size_t from = (size_t)c * CODEC_CHUNK_TARGET_SAMPLES;
        size_t cnt = ST_MIN((size_t)CODEC_CHUNK_TARGET_SAMPLES, n - from);
        codec_xor_enc_reset(&sc->enc);
        int rc = codec_xor_enc_append_batch(&sc->enc, sc->t[0] + from, sc->v[0] + from, cnt);
        if (rc)
            return st_err_set(&b->err, rc, "merge: encoding failed");
        codec_chunk ch = codec_xor_enc_chunk(&sc->enc);
        uint8_t *bytes = st_arena_alloc(&b->arena, ch.len);
        if (!bytes)
            return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
        memcpy(bytes, ch.data, ch.len);
        list[c] =
            (mchunk){sc->t[0][from], sc->t[0][from + cnt - 1], bytes, ch.len, CODEC_ENC_XOR, 0, 0};
    }
    *out = list;
    *nout = nc;
    return 0;
}

/* Merge an overlap group (in merge order) into chunks. */
static int merge_group(batch *b, const mchunk **g, size_t ng, mchunk **out, uint32_t *nout)
{
    scratch *sc = &b->sc;
    size_t na, nb;
    int rc = decode_into(b, g[0], 0, &na);
    for (size_t k = 1; !rc && k < ng; k++) {
        if ((rc = decode_into(b, g[k], 1, &nb)))
            break;
        if ((rc = sc_arrays(sc, 2, na + nb)))
            return st_err_set(&b->err, rc, "merge: out of memory");
        if (b->m->o->dedup == MERGE_DEDUP_PENALTY)
            na = merge_penalty2(sc->t[0], sc->v[0], na, sc->t[1], sc->v[1], nb, sc->t[2], sc->v[2]);
        else
            na = merge_chain2(sc, na, nb);
        swap_slots(sc, 0, 2);
    }
    if (rc)
        return rc;
    return encode_chunks(b, na, out, nout);
}

/* ---- one series ---------------------------------------------------------------------------- */

static int deleted_at(const codec_tombstone *ts, size_t n, int64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (t >= ts[i].mint && t <= ts[i].maxt)
            return 1;
    return 0;
}

/* An input chunk as an mchunk: verbatim, or re-encoded without samples outside [mint, maxt] or
 * inside a tombstone. *keep = 0 when nothing is left. */
static int load_chunk(batch *b, const src_series *s, const codec_chunk_meta *cm, mchunk *out,
                      int *keep)
{
    merger *m = b->m;
    const codec_block *blk = m->in[s->input];
    codec_chunk c;
    *keep = 0;
    int rc = codec_chunk_reader_get(blk->chunks, cm->ref, &c, &b->err);
    if (rc)
        return rc;
    if (cm->ref > b->maxref[s->input])
        b->maxref[s->input] = cm->ref;
    size_t nts = 0;
    const codec_tombstone *ts = codec_block_series_tombstones(blk, s->ref, &nts);
    int touched = cm->mint < m->mint || cm->maxt > m->maxt;
    for (size_t i = 0; i < nts && !touched; i++)
        touched = ts[i].mint <= cm->maxt && ts[i].maxt >= cm->mint;
    if (!touched) {
        *out = (mchunk){cm->mint, cm->maxt, c.data, c.len, c.enc, 1, c.crc};
        *keep = 1;
        return 0;
    }
    if (c.enc != CODEC_ENC_XOR)
        return st_err_set(&b->err, ST_EUNSUPP,
                          "block %s: series ref %" PRIu64 ": chunk ref %" PRIu64
                          " (encoding %u) crosses a tombstone or the output range; only XOR "
                          "chunks can be trimmed so far",
                          blk->dir, s->ref, cm->ref, c.enc);
    mchunk tmp = {cm->mint, cm->maxt, c.data, c.len, c.enc, 1, c.crc};
    size_t n;
    if ((rc = decode_into(b, &tmp, 0, &n)))
        return rc;
    scratch *sc = &b->sc;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t t = sc->t[0][i];
        if (t < m->mint || t > m->maxt || deleted_at(ts, nts, t))
            continue;
        sc->t[0][w] = t;
        sc->v[0][w++] = sc->v[0][i];
    }
    if (w == 0)
        return 0;
    /* Prometheus re-encodes a trimmed chunk as one chunk, whatever its length */
    codec_xor_enc_reset(&sc->enc);
    if ((rc = codec_xor_enc_append_batch(&sc->enc, sc->t[0], sc->v[0], w)))
        return st_err_set(&b->err, rc, "merge: encoding failed");
    codec_chunk ch = codec_xor_enc_chunk(&sc->enc);
    uint8_t *bytes = st_arena_alloc(&b->arena, ch.len);
    if (!bytes)
        return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
    memcpy(bytes, ch.data, ch.len);
    *out = (mchunk){sc->t[0][0], sc->t[0][w - 1], bytes, ch.len, CODEC_ENC_XOR, 0, 0};
    *keep = 1;
    return 0;
}

static int grow_ptrs(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *np = st_reallocarray(*p, c, elem);
    if (!np)
        return ST_ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

/* What the writer would otherwise do: count the samples. */
static int count_samples(batch *b, series_job *j)
{
    j->samples = 0;
    for (uint32_t c = 0; c < j->nout; c++) {
        const mchunk *mc = &j->out[c];
        codec_chunk cc = {mc->enc, mc->data, mc->len, 0, 0};
        uint32_t n = 0;
        int rc = codec_chunk_num_samples(&cc, &n, "merged chunk", &b->err);
        if (rc)
            return rc;
        j->samples += n;
    }
    return 0;
}

static int do_series(batch *b, series_job *j)
{
    scratch *sc = &b->sc;
    merger *m = b->m;
    size_t total = 0;
    for (uint32_t s = 0; s < j->nsrc; s++)
        total += j->src[s].nchunks;
    /* iterators: one per input series, plus room for re-encoded remainders */
    size_t max_iters = j->nsrc + total + 1;
    if (grow_ptrs((void **)&sc->iters, &sc->iters_cap, max_iters, sizeof(chunk_iter)) ||
        grow_ptrs((void **)&sc->heap, &sc->heap_cap, max_iters, sizeof(chunk_iter *)))
        return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
    size_t niters = 0, hn = 0;
    for (uint32_t s = 0; s < j->nsrc; s++) {
        const src_series *ss = &j->src[s];
        mchunk *list = st_arena_alloc(&b->arena, sizeof(mchunk) * (ss->nchunks ? ss->nchunks : 1));
        if (!list)
            return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
        uint32_t n = 0;
        for (uint32_t c = 0; c < ss->nchunks; c++) {
            const codec_chunk_meta *cm = &ss->chunks[c];
            if (cm->maxt < m->mint || cm->mint > m->maxt)
                continue;
            int keep;
            int rc = load_chunk(b, ss, cm, &list[n], &keep);
            if (rc)
                return rc;
            n += (uint32_t)keep;
        }
        if (n == 0)
            continue;
        chunk_iter *it = &sc->iters[niters++];
        *it = (chunk_iter){list, n, 0};
        heap_push(sc->heap, &hn, it);
    }

    /* output list: at most one per popped item */
    mchunk *out = NULL;
    size_t nout = 0, out_cap = 0;
    int penalty = m->o->dedup == MERGE_DEDUP_PENALTY;
    while (hn > 0) {
        chunk_iter *it = heap_pop(sc->heap, &hn);
        mchunk cur = it->list[it->pos++];
        if (it->pos < it->n)
            heap_push(sc->heap, &hn, it);
        size_t ng = 0;
        int64_t omax = cur.maxt;
        const mchunk *prev = &cur;
        if (grow_ptrs((void **)&sc->group, &sc->group_cap, 2, sizeof(mchunk *)))
            return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
        if (penalty)
            sc->group[ng++] = &cur; /* Thanos: the popped chunk is the preferred replica */
        size_t absorbed = 0;
        while (hn > 0) {
            chunk_iter *top = sc->heap[0];
            const mchunk *next = &top->list[top->pos];
            if (next->mint > omax)
                break;
            if (!(next->mint == prev->mint && next->maxt == prev->maxt && next->len == prev->len &&
                  memcmp(next->data, prev->data, next->len) == 0)) {
                if (grow_ptrs((void **)&sc->group, &sc->group_cap, ng + 2, sizeof(mchunk *)))
                    return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
                sc->group[ng++] = next;
                absorbed++;
                if (next->maxt > omax)
                    omax = next->maxt;
                prev = next;
            }
            chunk_iter *t = heap_pop(sc->heap, &hn);
            t->pos++;
            if (t->pos < t->n)
                heap_push(sc->heap, &hn, t);
        }
        if (grow_ptrs((void **)&out, &out_cap, nout + 1, sizeof(mchunk))) {
            st_free(out);
            return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
        }
        if (absorbed == 0) {
            out[nout++] = cur;
            continue;
        }
        if (!penalty)
            sc->group[ng++] = &cur; /* Prometheus: the popped chunk goes last */
        int all_xor = 1;
        for (size_t k = 0; k < ng; k++)
            all_xor &= sc->group[k]->enc == CODEC_ENC_XOR;
        if (!all_xor) {
            /* histogram merging is not implemented: keep the popped chunk whole */
            pthread_mutex_lock(&m->mu);
            m->dropped_hist += absorbed;
            pthread_mutex_unlock(&m->mu);
            out[nout++] = cur;
            continue;
        }
        mchunk *merged = NULL;
        uint32_t nm = 0;
        int rc = merge_group(b, sc->group, ng, &merged, &nm);
        if (rc) {
            st_free(out);
            return rc;
        }
        pthread_mutex_lock(&m->mu);
        m->merged_groups++;
        pthread_mutex_unlock(&m->mu);
        if (nm == 0)
            continue;
        out[nout++] = merged[0];
        if (nm > 1) {
            chunk_iter *rest = &sc->iters[niters++];
            *rest = (chunk_iter){merged, nm, 1};
            heap_push(sc->heap, &hn, rest);
        }
    }
    /* move the output list into the arena (the batch owns it until written) */
    j->out = st_arena_alloc(&b->arena, sizeof(mchunk) * (nout ? nout : 1));
    if (!j->out) {
        st_free(out);
        return st_err_set(&b->err, ST_ENOMEM, "merge: out of memory");
    }
    if (nout)
        memcpy(j->out, out, sizeof(mchunk) * nout);
    j->nout = (uint32_t)nout;
    st_free(out);
    return count_samples(b, j);
}

static void run_batch(void *arg)
{
    batch *b = arg;
    int rc = 0;
    for (size_t i = 0; i < b->njobs && !rc; i++)
        rc = do_series(b, &b->jobs[i]);
    pthread_mutex_lock(&b->m->mu);
    b->rc = rc;
    b->done = 1;
    pthread_cond_broadcast(&b->m->cv);
    pthread_mutex_unlock(&b->m->mu);
}

/* ---- the input side: symbols and series in label order ------------------------------------- */

typedef struct in_cursor {
    codec_series_iter *it;
    const codec_series *cur;
    uint32_t input;
    const uint32_t *map; /* the merger's symmap[input], or NULL */
    uint32_t *orefs;     /* with map: cur's labels as output symbol refs, 2 per label */
    uint32_t orefs_cap;
} in_cursor;

/* Label sets as output symbol refs: they sort like the strings, pair by pair. */
static int refs_cmp(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
    uint32_t n = 2 * ST_MIN(na, nb);
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return na < nb ? -1 : na > nb;
}

static int cursor_less(const in_cursor *a, const in_cursor *b)
{
    int c =
        a->map ? refs_cmp(a->orefs, a->cur->nlabels, b->orefs, b->cur->nlabels)
               : codec_labels_cmp(a->cur->labels, a->cur->nlabels, b->cur->labels, b->cur->nlabels);
    return c < 0 || (c == 0 && a->input < b->input);
}

/* Move c to its input's next series: 0, ST_ITEROVER or an error. */
static int cursor_next(in_cursor *c, st_err *err)
{
    int rc = codec_series_iter_next(c->it, err);
    if (rc)
        return rc;
    c->cur = codec_series_iter_at(c->it);
    if (!c->map)
        return 0;
    uint32_t n = 2 * c->cur->nlabels;
    if (n > c->orefs_cap) {
        uint32_t *o = st_reallocarray(c->orefs, n, sizeof(uint32_t));
        if (!o)
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
        c->orefs = o;
        c->orefs_cap = n;
    }
    for (uint32_t i = 0; i < n; i++)
        c->orefs[i] = c->map[c->cur->symrefs[i]]; /* v2 refs were checked by the reader */
    return 0;
}

static void cheap_down(in_cursor **h, size_t i, size_t n)
{
    for (;;) {
        size_t l = 2 * i + 1, s = i;
        if (l < n && cursor_less(h[l], h[s]))
            s = l;
        if (l + 1 < n && cursor_less(h[l + 1], h[s]))
            s = l + 1;
        if (s == i)
            return;
        in_cursor *t = h[i];
        h[i] = h[s];
        h[s] = t;
        i = s;
    }
}

static void cheap_up(in_cursor **h, size_t j)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!cursor_less(h[j], h[i]))
            return;
        in_cursor *t = h[i];
        h[i] = h[j];
        h[j] = t;
        j = i;
    }
}

typedef struct sym_cursor {
    const codec_index *idx;
    uint32_t pos, n;
    codec_str cur;
} sym_cursor;

/* Room for the symbol maps when every input has a v2 index (symbol refs are indexes). */
static int symmap_create(merger *m, st_err *err)
{
    for (size_t i = 0; i < m->nin; i++)
        if (codec_index_version(m->in[i]->index) == 1)
            return 0;
    if (!(m->symmap = st_calloc(m->nin, sizeof(uint32_t *))))
        return st_err_set(err, ST_ENOMEM, "merge: out of memory");
    for (size_t i = 0; i < m->nin; i++) {
        uint32_t n = codec_index_nsymbols(m->in[i]->index);
        if (!(m->symmap[i] = st_calloc(n ? n : 1, sizeof(uint32_t))))
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
    }
    return 0;
}

/* The union of the inputs' symbol tables, in order; with symmap, where each input's symbols
 * went. */
static int write_symbols(merger *m, codec_index_writer *iw, st_err *err)
{
    sym_cursor *c = st_calloc(m->nin, sizeof(*c));
    if (!c)
        return st_err_set(err, ST_ENOMEM, "merge: out of memory");
    int rc = 0;
    for (size_t i = 0; i < m->nin; i++) {
        c[i].idx = m->in[i]->index;
        c[i].n = codec_index_nsymbols(c[i].idx);
        if (c[i].n && (rc = codec_index_symbol(c[i].idx, 0, &c[i].cur, err)))
            goto done;
    }
    codec_str last = {NULL, 0};
    int have_last = 0;
    uint32_t out_ref = 0; /* symbols written so far */
    for (;;) {
        int best = -1;
        for (size_t i = 0; i < m->nin; i++)
            if (c[i].pos < c[i].n && (best < 0 || codec_str_cmp(c[i].cur, c[best].cur) < 0))
                best = (int)i;
        if (best < 0)
            break;
        codec_str s = c[best].cur;
        if (!have_last || codec_str_cmp(last, s) != 0) {
            if ((rc = codec_index_writer_add_symbol(iw, s, err)))
                goto done;
            last = s;
            have_last = 1;
            out_ref++;
        }
        for (size_t i = 0; i < m->nin; i++) {
            while (c[i].pos < c[i].n && codec_str_cmp(c[i].cur, s) == 0) {
                if (m->symmap)
                    m->symmap[i][c[i].pos] = out_ref - 1;
                if (++c[i].pos < c[i].n &&
                    (rc = codec_index_symbol(c[i].idx, c[i].pos, &c[i].cur, err)))
                    goto done;
            }
        }
    }
done:
    st_free(c);
    return rc;
}

/* Copy the next series (all inputs holding the smallest label set) into a job of b. Returns 0,
 * ST_ITEROVER when every input is exhausted, or an error. */
static int next_series(merger *m, in_cursor **h, size_t *hn, batch *b, st_err *err)
{
    if (*hn == 0)
        return ST_ITEROVER;
    if (b->njobs == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : BATCH_SERIES;
        series_job *nj = st_reallocarray(b->jobs, nc, sizeof(*nj));
        if (!nj)
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
        b->jobs = nj;
        b->cap = nc;
    }
    series_job *j = &b->jobs[b->njobs];
    memset(j, 0, sizeof(*j));
    const codec_series *first = h[0]->cur;
    /* labels */
    j->nlabels = first->nlabels;
    j->labels =
        st_arena_alloc(&b->arena, sizeof(codec_label) * (first->nlabels ? first->nlabels : 1));
    if (!j->labels)
        return st_err_set(err, ST_ENOMEM, "merge: out of memory");
    /* the strings stay in the input's mapped symbol table */
    memcpy(j->labels, first->labels, sizeof(codec_label) * first->nlabels);
    if (h[0]->map) {
        j->refs = st_arena_alloc(&b->arena, sizeof(uint32_t) * 2 * (j->nlabels ? j->nlabels : 1));
        if (!j->refs)
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
        memcpy(j->refs, h[0]->orefs, sizeof(uint32_t) * 2 * j->nlabels);
    }
    j->src = st_arena_alloc(&b->arena, sizeof(src_series) * m->nin);
    if (!j->src)
        return st_err_set(err, ST_ENOMEM, "merge: out of memory");
    /* every input positioned on the same label set, in input order (the heap breaks ties by
     * input index) */
    while (*hn > 0 && (j->refs ? refs_cmp(h[0]->orefs, h[0]->cur->nlabels, j->refs, j->nlabels)
                               : codec_labels_cmp(h[0]->cur->labels, h[0]->cur->nlabels, j->labels,
                                                  j->nlabels)) == 0) {
        in_cursor *c = h[0];
        const codec_series *s = c->cur;
        src_series *ss = &j->src[j->nsrc++];
        ss->input = c->input;
        ss->ref = s->ref;
        ss->nchunks = s->nchunks;
        codec_chunk_meta *cm =
            st_arena_alloc(&b->arena, sizeof(*cm) * (s->nchunks ? s->nchunks : 1));
        if (!cm)
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
        memcpy(cm, s->chunks, sizeof(*cm) * s->nchunks);
        ss->chunks = cm;
        int rc = cursor_next(c, err);
        if (rc == 0) {
            cheap_down(h, 0, *hn);
        } else if (rc == ST_ITEROVER) {
            h[0] = h[--*hn];
            cheap_down(h, 0, *hn);
        } else {
            return rc;
        }
    }
    b->njobs++;
    return 0;
}

/* ---- the output side ----------------------------------------------------------------------- */

typedef struct writer {
    codec_chunk_writer *cw;
    codec_index_writer *iw;
    codec_chunk *chks;
    codec_chunk_meta *metas;
    uint64_t *refs;
    size_t cap;
    uint64_t series, chunks, samples;
    uint64_t released_at; /* bytes consumed since the last page release */
    int64_t first_t, last_t;
} writer;

static int write_batch(merger *m, writer *w, batch *b, st_err *err)
{
    uint64_t in_series = 0, bytes = 0;
    for (size_t i = 0; i < b->njobs; i++) {
        series_job *j = &b->jobs[i];
        in_series += j->nsrc;
        if (j->nout == 0)
            continue; /* no samples left: no index entry, as Prometheus */
        if (grow_ptrs((void **)&w->chks, &w->cap, j->nout, sizeof(codec_chunk))) {
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
        }
        size_t cap2 = 0;
        if (grow_ptrs((void **)&w->metas, &cap2, w->cap, sizeof(codec_chunk_meta)) ||
            (cap2 = 0, grow_ptrs((void **)&w->refs, &cap2, w->cap, sizeof(uint64_t))))
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
        w->samples += j->samples;
        for (uint32_t c = 0; c < j->nout; c++) {
            const mchunk *mc = &j->out[c];
            w->chks[c] = (codec_chunk){mc->enc, mc->data, mc->len, mc->crc, mc->copied};
            bytes += mc->len;
            if (mc->copied)
                m->copied++;
            else
                m->reencoded++;
        }
        int rc = codec_chunk_writer_write(w->cw, w->chks, j->nout, w->refs, err);
        if (rc)
            return rc;
        for (uint32_t c = 0; c < j->nout; c++)
            w->metas[c] = (codec_chunk_meta){j->out[c].mint, j->out[c].maxt, w->refs[c]};
        if ((rc = codec_index_writer_add_series_refs(w->iw, j->labels, j->nlabels, j->refs,
                                                     w->metas, j->nout, NULL, err)))
            return rc;
        w->series++;
        w->chunks += j->nout;
        w->first_t = ST_MIN(w->first_t, j->out[0].mint);
        w->last_t = ST_MAX(w->last_t, j->out[j->nout - 1].maxt);
    }
    progress_add(m->prog, in_series, bytes);
    /* every later batch reads only chunks after this batch's, so the pages before are done */
    w->released_at += bytes;
    if (w->released_at >= RELEASE_EVERY) {
        int rc = codec_chunk_writer_flush(w->cw, err); /* it may point into those pages */
        if (rc)
            return rc;
        for (size_t i = 0; i < m->nin; i++)
            if (b->maxref[i])
                codec_chunk_reader_release_before(m->in[i]->chunks, b->maxref[i]);
        w->released_at = 0;
    }
    return 0;
}

typedef struct write_loop {
    merger *m;
    writer *w;
    batch *batches;
    size_t nbatches;
    int rc;
    st_err err;
} write_loop;

/* The writer thread: batches in the order they were filled, each once its workers are done. */
static void *writer_main(void *arg)
{
    write_loop *l = arg;
    merger *m = l->m;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        batch *b = NULL;
        while (!m->stop) {
            if (m->written < m->filled && l->batches[m->written % l->nbatches].done) {
                b = &l->batches[m->written % l->nbatches];
                break;
            }
            if (m->written == m->filled && m->input_done)
                break;
            pthread_cond_wait(&m->cv, &m->mu);
        }
        pthread_mutex_unlock(&m->mu);
        if (!b)
            return NULL;
        int rc = b->rc ? st_err_copy(&l->err, &b->err) : write_batch(m, l->w, b, &l->err);
        pthread_mutex_lock(&m->mu);
        if (rc) {
            l->rc = rc;
            m->stop = 1;
        } else {
            m->written++;
        }
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        if (rc)
            return NULL;
    }
}

/* ---- the meta of the new block ------------------------------------------------------------- */

static int cmp_ulid(const void *a, const void *b)
{
    return strcmp(((const codec_ulid *)a)->s, ((const codec_ulid *)b)->s);
}

static int is_replica_label(const merge_opts *o, const char *name)
{
    for (size_t i = 0; i < o->nreplica_labels; i++)
        if (strcmp(o->replica_labels[i], name) == 0)
            return 1;
    return 0;
}

/* The group's external labels (first input's, replica labels removed) must be every input's. */
static int group_labels(merger *m, const codec_meta *ref, st_err *err)
{
    for (size_t i = 1; i < m->nin; i++) {
        const codec_meta *o = m->in[i]->meta;
        size_t a = 0, b = 0;
        for (;;) {
            while (a < ref->thanos.nlabels && is_replica_label(m->o, ref->thanos.labels[a].name))
                a++;
            while (b < o->thanos.nlabels && is_replica_label(m->o, o->thanos.labels[b].name))
                b++;
            if (a == ref->thanos.nlabels || b == o->thanos.nlabels) {
                if (a != ref->thanos.nlabels || b != o->thanos.nlabels)
                    goto differ;
                break;
            }
            if (strcmp(ref->thanos.labels[a].name, o->thanos.labels[b].name) != 0 ||
                strcmp(ref->thanos.labels[a].value, o->thanos.labels[b].value) != 0)
                goto differ;
            a++;
            b++;
        }
        if (o->thanos.resolution != ref->thanos.resolution)
            return st_err_set(err, ST_EINVAL,
                              "merge: blocks %s and %s have different resolutions (%" PRId64
                              " and %" PRId64 " ms)",
                              ref->ulid.s, o->ulid.s, ref->thanos.resolution, o->thanos.resolution);
        continue;
    differ:
        return st_err_set(err, ST_EINVAL,
                          "merge: blocks %s and %s have different external labels (after "
                          "removing replica labels): they belong to different groups",
                          ref->ulid.s, o->ulid.s);
    }
    return 0;
}

static int build_meta(merger *m, const codec_ulid *id, const writer *w, const char *dir,
                      codec_meta **out, st_err *err)
{
    codec_meta *meta;
    int rc = codec_meta_new(&meta, err);
    if (rc)
        return rc;
    const codec_meta *first = m->in[0]->meta;
    meta->ulid = *id;
    meta->min_time = m->mint;
    meta->max_time = m->maxt + 1;
    meta->stats.num_samples = w->samples;
    meta->stats.num_series = w->series;
    meta->stats.num_chunks = w->chunks;
    meta->version = 1;
    size_t nsrc = 0;
    for (size_t i = 0; i < m->nin; i++) {
        meta->level = ST_MAX(meta->level, m->in[i]->meta->level + 1);
        nsrc += m->in[i]->meta->nsources;
    }
    meta->sources = st_calloc(nsrc + 1, sizeof(codec_ulid));
    meta->parents = st_calloc(m->nin, sizeof(codec_block_desc));
    if (!meta->sources || !meta->parents) {
        codec_meta_free(meta);
        return st_err_set(err, ST_ENOMEM, "merge: out of memory");
    }
    for (size_t i = 0; i < m->nin; i++) {
        const codec_meta *im = m->in[i]->meta;
        for (size_t k = 0; k < im->nsources; k++)
            meta->sources[meta->nsources++] = im->sources[k];
        meta->parents[i] = (codec_block_desc){im->ulid, im->min_time, im->max_time};
    }
    meta->nparents = m->nin;
    qsort(meta->sources, meta->nsources, sizeof(codec_ulid), cmp_ulid);
    size_t u = 0;
    for (size_t k = 0; k < meta->nsources; k++)
        if (u == 0 || strcmp(meta->sources[u - 1].s, meta->sources[k].s) != 0)
            meta->sources[u++] = meta->sources[k];
    meta->nsources = u;

    int thanos = m->o->have_labels;
    for (size_t i = 0; i < m->nin; i++)
        thanos |= m->in[i]->meta->has_thanos;
    if (thanos) {
        const codec_kv *src = m->o->have_labels ? m->o->labels : first->thanos.labels;
        size_t nsrc_labels = m->o->have_labels ? m->o->nlabels : first->thanos.nlabels;
        meta->has_thanos = 1;
        meta->thanos.resolution = first->thanos.resolution;
        meta->thanos.source = st_strdup(m->o->source ? m->o->source : "compactor");
        meta->thanos.labels = st_calloc(nsrc_labels + 1, sizeof(codec_kv));
        if (!meta->thanos.source || !meta->thanos.labels) {
            codec_meta_free(meta);
            return st_err_set(err, ST_ENOMEM, "merge: out of memory");
        }
        for (size_t i = 0; i < nsrc_labels; i++) {
            if (!m->o->have_labels && is_replica_label(m->o, src[i].name))
                continue;
            codec_kv *kv = &meta->thanos.labels[meta->thanos.nlabels++];
            kv->name = st_strdup(src[i].name);
            kv->value = st_strdup(src[i].value);
            if (!kv->name || !kv->value) {
                codec_meta_free(meta);
                return st_err_set(err, ST_ENOMEM, "merge: out of memory");
            }
        }
        rc = meta_set_files(meta, dir, err);
        if (rc) {
            codec_meta_free(meta);
            return rc;
        }
    }
    *out = meta;
    return 0;
}

/* ---- the whole merge ----------------------------------------------------------------------- */

static void batch_reset(batch *b, size_t nin)
{
    st_arena_reset(&b->arena);
    b->njobs = 0;
    b->rc = 0;
    b->done = 0;
    st_err_init(&b->err);
    memset(b->maxref, 0, sizeof(uint64_t) * nin);
}

static int cmp_input(const void *a, const void *b)
{
    const codec_block *x = *(codec_block *const *)a, *y = *(codec_block *const *)b;
    if (x->meta->min_time != y->meta->min_time)
        return x->meta->min_time < y->meta->min_time ? -1 : 1;
    return strcmp(x->meta->ulid.s, y->meta->ulid.s);
}

int merge_blocks(codec_block *const *in_unsorted, size_t nin, const char *out_dir,
                 const merge_opts *o, merge_stats *st, st_err *err)
{
    memset(st, 0, sizeof(*st));
    if (nin == 0)
        return st_err_set(err, ST_EINVAL, "merge: no input blocks");
    uint64_t t0 = st_mono_ns();
    codec_block **in = st_calloc(nin, sizeof(*in));
    if (!in)
        return st_err_set(err, ST_ENOMEM, "merge: out of memory");
    memcpy(in, in_unsorted, nin * sizeof(*in));
    qsort(in, nin, sizeof(*in), cmp_input); /* parents in minTime order, as Prometheus */

    merger m = {0};
    m.in = in;
    m.nin = nin;
    m.o = o;
    m.mint = INT64_MAX;
    m.maxt = INT64_MIN;
    for (size_t i = 0; i < nin; i++) {
        m.mint = ST_MIN(m.mint, in[i]->meta->min_time);
        m.maxt = ST_MAX(m.maxt, in[i]->meta->max_time - 1);
    }
    pthread_mutex_init(&m.mu, NULL);
    pthread_cond_init(&m.cv, NULL);

    int threads = o->threads > 0 ? o->threads : st_ncpu();
    size_t nbatches = threads > 1 ? (size_t)threads * 3 : 1;
    batch *batches = st_calloc(nbatches, sizeof(batch));
    in_cursor *cursors = st_calloc(nin, sizeof(in_cursor));
    in_cursor **heap = st_calloc(nin, sizeof(in_cursor *));
    st_pool *pool = NULL;
    writer w = {0};
    w.first_t = INT64_MAX;
    w.last_t = INT64_MIN;
    codec_meta *meta = NULL;
    char *tmp = NULL, *path = NULL;
    size_t hn = 0;
    int rc = 0;
    if (!batches || !cursors || !heap) {
        rc = st_err_set(err, ST_ENOMEM, "merge: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nbatches; i++) {
        batches[i].m = &m;
        st_arena_init(&batches[i].arena, 1 << 20);
        codec_xor_enc_init(&batches[i].sc.enc);
        if (!(batches[i].maxref = st_calloc(nin, sizeof(uint64_t)))) {
            rc = st_err_set(err, ST_ENOMEM, "merge: out of memory");
            goto done;
        }
    }
    if (!o->have_labels && (rc = group_labels(&m, in[0]->meta, err)))
        goto done;
    if (threads > 1 && (rc = st_pool_create(&pool, threads))) {
        st_err_set(err, rc, "merge: cannot start %d threads", threads);
        goto done;
    }

    codec_ulid id;
    if ((rc = codec_ulid_new(&id, st_now_ms()))) {
        st_err_set(err, rc, "merge: no randomness for a ULID");
        goto done;
    }
    snprintf(st->dir, sizeof(st->dir), "%s/%s", out_dir, id.s);
    uint64_t in_series = 0;
    for (size_t i = 0; i < nin; i++)
        in_series += in[i]->meta->stats.num_series;
    m.prog = progress_begin("compact", id.s, in_series, 0);
    size_t tl = strlen(st->dir) + 32;
    if (!(tmp = st_malloc(tl))) {
        rc = st_err_set(err, ST_ENOMEM, "merge: out of memory");
        goto done;
    }
    snprintf(tmp, tl, "%s.tmp-for-creation", st->dir);
    if ((rc = st_rmtree(tmp, err)) || (rc = st_mkdir_p(tmp, err)))
        goto done;
    if (!(path = st_path_join(tmp, "chunks")) ||
        (rc = codec_chunk_writer_create(&w.cw, path, 0, err)))
        goto nomem_or_rc;
    st_free(path);
    if (!(path = st_path_join(tmp, "index")) || (rc = codec_index_writer_create(&w.iw, path, err)))
        goto nomem_or_rc;
    if ((rc = symmap_create(&m, err)) || (rc = write_symbols(&m, w.iw, err)))
        goto done;

    for (size_t i = 0; i < nin; i++) {
        cursors[i].input = (uint32_t)i;
        cursors[i].map = m.symmap ? m.symmap[i] : NULL;
        if ((rc = codec_series_iter_create(&cursors[i].it, in[i]->index, err)))
            goto done;
        rc = cursor_next(&cursors[i], err);
        if (rc == ST_ITEROVER)
            continue;
        if (rc)
            goto done;
        heap[hn++] = &cursors[i];
        cheap_up(heap, hn - 1);
    }
    rc = 0;

    /* the pipeline: this thread fills batches in a ring and hands them to the workers; the
     * writer thread writes them back in order */
    codec_chunk_writer_zero_copy(w.cw, 1); /* the inputs stay mapped until the end */
    write_loop wl = {&m, &w, batches, nbatches, 0, {0}};
    st_err_init(&wl.err);
    pthread_t wt;
    if (pthread_create(&wt, NULL, writer_main, &wl) != 0) {
        rc = st_err_set(err, ST_EIO, "merge: cannot start the writer thread");
        goto done;
    }
    for (int input_done = 0; !input_done && !rc;) {
        pthread_mutex_lock(&m.mu);
        while (!m.stop && m.filled - m.written >= nbatches)
            pthread_cond_wait(&m.cv, &m.mu);
        int stop = m.stop;
        pthread_mutex_unlock(&m.mu);
        if (stop)
            break;
        batch *b = &batches[m.filled % nbatches];
        batch_reset(b, nin);
        while (b->njobs < BATCH_SERIES) {
            rc = next_series(&m, heap, &hn, b, err);
            if (rc == ST_ITEROVER) {
                input_done = 1;
                rc = 0;
                break;
            }
            if (rc)
                break;
        }
        pthread_mutex_lock(&m.mu);
        if (rc)
            m.stop = 1;
        else if (b->njobs)
            m.filled++;
        m.input_done = input_done;
        pthread_cond_broadcast(&m.cv);
        pthread_mutex_unlock(&m.mu);
        if (rc || !b->njobs)
            break;
        if (pool)
            st_pool_submit(pool, run_batch, b);
        else
            run_batch(b);
    }
    if (rc) {
        pthread_mutex_lock(&m.mu);
        m.stop = 1;
        pthread_cond_broadcast(&m.cv);
        pthread_mutex_unlock(&m.mu);
    }
    pthread_join(wt, NULL);
    if (!rc && wl.rc)
        rc = st_err_copy(err, &wl.err);
    if (rc)
        goto drain;

    if ((rc = codec_chunk_writer_close(w.cw, err)) || (rc = codec_index_writer_close(w.iw, err)))
        goto done;
    st_free(path);
    if (!(path = st_path_join(tmp, "tombstones")) ||
        (rc = codec_tombstones_write(path, NULL, 0, err)))
        goto nomem_or_rc;
    st->series = w.series;
    st->chunks = w.chunks;
    st->samples = w.samples;
    st->chunks_copied = m.copied;
    st->chunks_reencoded = m.reencoded;
    st->overlap_groups = m.merged_groups;
    st->histogram_chunks_dropped = m.dropped_hist;
    if (w.samples == 0) {
        /* nothing to write: as Prometheus, no block at all */
        st->empty = 1;
        st->dir[0] = '\0';
        goto done;
    }
    if ((rc = build_meta(&m, &id, &w, tmp, &meta, err)))
        goto done;
    st_free(path);
    if (!(path = st_path_join(tmp, "meta.json")) ||
        (rc = codec_meta_write(meta, path, meta->has_thanos ? CODEC_META_NEWLINE : 0, err)))
        goto nomem_or_rc;
    if (o->verify) {
        verify_report r = {0};
        r.out = stderr;
        r.max_print = 20;
        if ((rc = verify_block(tmp, &r, err)))
            goto done;
        if (r.nproblems) {
            rc = st_err_set(err, ST_ECORRUPT,
                            "merge: the new block failed verification with %zu problems "
                            "(listed above); it was removed",
                            r.nproblems);
            goto done;
        }
    }
    if ((rc = st_fsync_dir(tmp, err)))
        goto done;
    if (rename(tmp, st->dir) != 0) {
        rc = st_err_set(err, ST_EIO, "merge: rename %s to %s failed", tmp, st->dir);
        goto done;
    }
    rc = st_fsync_dir(out_dir, err);
    st->ulid = id;
    goto done;

drain:
    /* wait for batches still running before their memory goes */
    if (pool)
        st_pool_wait(pool);
    goto done;
nomem_or_rc:
    if (!rc)
        rc = st_err_set(err, ST_ENOMEM, "merge: out of memory");
done:
    if (pool) {
        st_pool_wait(pool);
        st_pool_free(pool);
    }
    progress_end(m.prog);
    if ((rc || st->empty) && tmp) {
        st_err ignored;
        st_err_init(&ignored);
        st_rmtree(tmp, &ignored);
    }
    for (size_t i = 0; cursors && i < nin; i++) {
        codec_series_iter_free(cursors[i].it);
        st_free(cursors[i].orefs);
    }
    for (size_t i = 0; m.symmap && i < nin; i++)
        st_free(m.symmap[i]);
    st_free(m.symmap);
    for (size_t i = 0; batches && i < nbatches; i++) {
        st_arena_release(&batches[i].arena);
        sc_release(&batches[i].sc);
        st_free(batches[i].jobs);
        st_free(batches[i].maxref);
    }
    codec_chunk_writer_free(w.cw);
    codec_index_writer_free(w.iw);
    st_free(w.chks);
    st_free(w.metas);
    st_free(w.refs);
    codec_meta_free(meta);
    st_free(batches);
    st_free(cursors);
    st_free(heap);
    st_free(tmp);
    st_free(path);
    st_free(in);
    pthread_mutex_destroy(&m.mu);
    pthread_cond_destroy(&m.cv);
    st->seconds = (double)(st_mono_ns() - t0) / 1e9;
    if (rc)
        st->dir[0] = '\0';
    return rc;
}
