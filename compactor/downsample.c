/*
 * downsample.c - Thanos' downsampling (pkg/compact/downsample, reference notes §5): a block's
 * series turned into aggregate chunks (codec/aggr.c) at a coarser resolution, raw -> 5m -> 1h or
 * any resolutions, with Thanos' exact rules, so Thanos Store and Querier read our blocks as they
 * read their own:
 *
 *  - raw -> R (DownsampleRaw): a series' samples, stale NaNs and samples going back in time
 *    dropped, are cut into targetChunkCount batches of n / chunks + 1 samples, each extended to
 *    the end of its window; other NaNs leave the batch; each batch becomes one AggrChunk. Per
 *    window (aligned to R, stamped min(window end, last sample of the batch)): count, sum, min,
 *    max and the batch's running counter (a value below the previous one is a reset and is added
 *    whole). The counter sub-chunk opens with the batch's first raw sample and closes with the
 *    last window's stamp repeated, carrying the last raw value.
 *  - R1 -> R2 (downsampleAggr): batches are runs of whole input chunks (chunks / targetChunkCount
 *    of them); count and sum are summed, min and max kept; the counter sub-chunks go through
 *    ApplyCounterResetsSeriesIterator (the repeated stamp carries the true last value, so resets
 *    between chunks are seen), then are windowed like a raw counter.
 *
 * One read serves every requested resolution: the first from the input, each next one from the
 * previous one's arrays in memory (Thanos' 1h block is made from the 5m block, whose chunks hold
 * exactly these samples). Work is a pipeline like merge.c's: the main thread reads series into
 * batches, workers decode and aggregate over arrays (no per-sample calls), the main thread writes
 * finished batches in order, one chunk writer and index writer per output.
 */
#include "compactor_int.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_SERIES  512
#define RELEASE_EVERY (2ull << 20)
#define REPAIR_RES    300000 /* XOR chunks in a downsampled block go to 5m first */
#define CHUNK_SAMPLES 140    /* targetChunkCount's samples per chunk */

/* Go's int(float64) on amd64 (CVTTSD2SI): NaN and out-of-range values give MinInt64. */
static int64_t go_int(double x)
{
    if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)x;
}

int64_t ds_target_chunk_count(int64_t mint, int64_t maxt, int64_t in_res, int64_t out_res,
                              int64_t count)
{
    int64_t span = (int64_t)((uint64_t)maxt - (uint64_t)mint);
    double max_samples = (double)(span / out_res);
    double full = (double)count / ((double)span / (double)in_res);
    if (full > 1)
        full = 1;
    int64_t exp = go_int(max_samples * full);
    exp = exp == INT64_MAX ? exp : exp + 1;
    /* the smallest x with exp / x <= 140 */
    return exp <= CHUNK_SAMPLES ? 1 : exp / (CHUNK_SAMPLES + 1) + 1;
}

size_t ds_expand(const int64_t *t, const double *v, size_t n, int64_t *ot, double *ov)
{
    int64_t last = 0;
    size_t m = 0;
    if (n && ot == t && ov == v) {
        /* in place, and almost always nothing to drop: find the first sample to drop without
         * writing anything; the samples before it stay where they are */
        size_t i = 0;
        if (t[0] >= 0 && !ds_is_stale(v[0])) {
            for (i = 1; i < n; i++) {
                uint64_t u;
                memcpy(&u, &v[i], sizeof(u));
                if (__builtin_expect(u == DS_STALE_NAN || t[i] < t[i - 1], 0))
                    break;
            }
            if (i == n)
                return n;
            last = t[i - 1];
        }
        m = i;
        t += i, v += i, ot += i, ov += i, n -= i;
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (ds_is_stale(v[i]) || t[i] < last)
            continue;
        last = t[i];
        ot[w] = t[i];
        ov[w++] = v[i];
    }
    return m + w;
}

/* ---- ds_chunks and ds_work ------------------------------------------------------------------ */

void ds_chunks_init(ds_chunks *c)
{
    memset(c, 0, sizeof(*c));
}

void ds_chunks_reset(ds_chunks *c)
{
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        c->n[a] = 0;
        if (c->off[a])
            c->off[a][0] = 0;
    }
    c->nchunks = 0;
}

void ds_chunks_release(ds_chunks *c)
{
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        st_free(c->t[a]);
        st_free(c->v[a]);
        st_free(c->off[a]);
    }
    st_free(c->mint);
    st_free(c->maxt);
    st_free(c->flags);
    memset(c, 0, sizeof(*c));
}

/* Room for one more chunk (and its closing offsets). */
static int chunk_room(ds_chunks *c)
{
    if (c->nchunks + 1 <= c->chunks_cap && c->off[0])
        return 0;
    size_t cap = c->chunks_cap ? c->chunks_cap * 2 : 16;
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        size_t *o = st_reallocarray(c->off[a], cap + 1, sizeof(size_t));
        if (!o)
            return ST_ENOMEM;
        if (!c->off[a])
            o[0] = 0;
        c->off[a] = o;
    }
    int64_t *mi = st_reallocarray(c->mint, cap, sizeof(int64_t));
    if (mi)
        c->mint = mi;
    int64_t *ma = mi ? st_reallocarray(c->maxt, cap, sizeof(int64_t)) : NULL;
    if (ma)
        c->maxt = ma;
    uint8_t *fl = ma ? st_reallocarray(c->flags, cap, 1) : NULL;
    if (!fl)
        return ST_ENOMEM;
    c->flags = fl;
    c->chunks_cap = cap;
    return 0;
}

/* Grow a pair of sample arrays to hold need samples (doubling from first); on failure both
 * stay valid and *cap unchanged. */
static int grow_samples(int64_t **t, double **v, size_t *cap, size_t need, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    int64_t *nt = st_reallocarray(*t, c, sizeof(int64_t));
    if (!nt)
        return ST_ENOMEM;
    *t = nt;
    double *nv = st_reallocarray(*v, c, sizeof(double));
    if (!nv)
        return ST_ENOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

/* Room for extra more samples of aggregate a. */
static int sample_room(ds_chunks *c, int a, size_t extra)
{
    return grow_samples(&c->t[a], &c->v[a], &c->cap[a], c->n[a] + extra, 256);
}

/* Close the chunk being built: every aggregate's samples pushed since the last close are its. */
static void chunk_close(ds_chunks *c, int64_t mint, int64_t maxt, uint8_t flags)
{
    c->mint[c->nchunks] = mint;
    c->maxt[c->nchunks] = maxt;
    c->flags[c->nchunks] = flags;
    c->nchunks++;
    for (int a = 0; a < CODEC_AGGR_N; a++)
        c->off[a][c->nchunks] = c->n[a];
}

int ds_chunks_add(ds_chunks *dst, const int64_t *const t[CODEC_AGGR_N],
                  const double *const v[CODEC_AGGR_N], const size_t n[CODEC_AGGR_N], int64_t mint,
                  int64_t maxt, uint8_t flags)
{
    if (chunk_room(dst))
        return ST_ENOMEM;
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        if (sample_room(dst, a, n[a]))
            return ST_ENOMEM;
        if (n[a]) {
            memcpy(dst->t[a] + dst->n[a], t[a], n[a] * sizeof(int64_t));
            memcpy(dst->v[a] + dst->n[a], v[a], n[a] * sizeof(double));
        }
        dst->n[a] += n[a];
    }
    chunk_close(dst, mint, maxt, flags);
    return 0;
}

void ds_work_init(ds_work *w)
{
    memset(w, 0, sizeof(*w));
}

void ds_work_release(ds_work *w)
{
    st_free(w->bt);
    st_free(w->bv);
    memset(w, 0, sizeof(*w));
}

static int work_buf(ds_work *w, size_t n)
{
    return grow_samples(&w->bt, &w->bv, &w->bcap, n, 1024);
}

/* ---- the algorithm -------------------------------------------------------------------------- */

/* Whether timestamps pass expandChunkIterator untouched: none negative, none going back in
 * time. */
static int times_clean(const int64_t *t, size_t n)
{
    return codec_times_ascend(t, n);
}

/* Whether samples pass expandChunkIterator and the batch NaN filter untouched: clean
 * timestamps and no NaN. Infinities fail it too (x - x is +0 exactly for every finite x, NaN
 * otherwise) and take the filters' pass, which keeps them. */
static int ds_clean(const int64_t *t, const double *v, size_t n)
{
    uint64_t odd = 0;
    for (size_t i = 0; i < n; i++) {
        double z = v[i] - v[i];
        uint64_t u;
        memcpy(&u, &z, sizeof(u));
        odd |= u;
    }
    return !odd && times_clean(t, n);
}

/* How downsample_raw treats NaNs: a batch's NaNs are filtered out (Thanos' batch filter), or,
 * for samples the caller knows are otherwise clean (no stale marker to drop before the batches
 * are cut, see raw_series), looked for only where a window's sum comes out NaN (the exact
 * kernel rules them out in its windows); finding one ends the pass with RAW_REDO, for the
 * caller to filter and start again. */
enum { RAW_FILTER, RAW_CHECK };
#define RAW_REDO 1

static int has_nan(const double *v, size_t n)
{
    int nans = 0;
    for (size_t i = 0; i < n; i++)
        nans |= v[i] != v[i];
    return nans;
}

static inline void minmax(const int64_t *t, size_t k, int64_t *mint, int64_t *maxt)
{
    for (size_t i = 0; i < k; i++) {
        if (t[i] < *mint)
            *mint = t[i];
        if (t[i] > *maxt)
            *maxt = t[i];
    }
}

/* Whether no sum of n is NaN. */
static int sums_ok(const double *sum, size_t n)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= sum[i] == sum[i];
    return ok;
}

/* One raw batch (m >= 1 samples; no NaN, or mode RAW_CHECK) into one AggrChunk appended to out;
 * 0, ST_ENOMEM or RAW_REDO (out unchanged). */
static int raw_batch(const int64_t *bt, const double *bv, size_t m, int64_t res, uint8_t flags,
                     int mode, int sorted, ds_chunks *out)
{
    if (chunk_room(out))
        return ST_ENOMEM;
    for (int a = 0; a < CODEC_AGGR_N; a++)
        if (sample_room(out, a, a == CODEC_AGGR_COUNTER ? m + 2 : m))
            return ST_ENOMEM;
    size_t n4 = out->n[CODEC_AGGR_COUNTER];
    int64_t *wt = out->t[0] + out->n[0];
    int64_t *ct = out->t[CODEC_AGGR_COUNTER] + n4;
    double *cv = out->v[CODEC_AGGR_COUNTER] + n4;
    ds_wout o = {wt,
                 out->v[CODEC_AGGR_COUNT] + out->n[CODEC_AGGR_COUNT],
                 out->v[CODEC_AGGR_SUM] + out->n[CODEC_AGGR_SUM],
                 out->v[CODEC_AGGR_MIN] + out->n[CODEC_AGGR_MIN],
                 out->v[CODEC_AGGR_MAX] + out->n[CODEC_AGGR_MAX],
                 cv + 1};
    ds_wstate st;
    ds_windows_begin(&st, bv, sorted);
    ds_windows_exact(bt, bv, m, res, &o, &st);
    if (st.i < m) {
        size_t i0 = st.i, k0 = st.k;
        ds_windows(bt, bv, m, res, &o, &st);
        /* a NaN makes its window's sum NaN (so does inf - inf: then look) */
        if (mode == RAW_CHECK && !sums_ok(o.sum + k0, st.k - k0) && has_nan(bv + i0, m - i0))
            return RAW_REDO;
    }
    size_t k = st.k;
    for (int a = 1; a <= CODEC_AGGR_MAX; a++)
        memcpy(out->t[a] + out->n[a], wt, k * sizeof(int64_t));
    /* the counter: the first raw sample, the windows, the last window again with the last raw
     * value (ApplyCounterResetsSeriesIterator reads it as the true last value) */
    ct[0] = bt[0];
    cv[0] = bv[0];
    memcpy(ct + 1, wt, k * sizeof(int64_t));
    ct[k + 1] = wt[k - 1];
    cv[k + 1] = bv[m - 1];
    for (int a = 0; a <= CODEC_AGGR_MAX; a++)
        out->n[a] += k;
    out->n[CODEC_AGGR_COUNTER] += k + 2;
    int64_t mint = wt[0], maxt = wt[k - 1];
    if (!sorted)
        minmax(wt, k, &mint, &maxt);
    /* Window stamps of ascending samples ascend. No value is a stale marker: the batch holds no
     * NaN, min and max are its values, and arithmetic makes only the default NaN (inf - inf). */
    chunk_close(out, mint, maxt, sorted ? flags | DS_SHARED : flags);
    return 0;
}

/* DownsampleRaw, NaNs treated as mode says; sorted: t ascends. 0, an error, or RAW_REDO with
 * out as it was. */
static int downsample_raw(int64_t *t, double *v, size_t n, int64_t res, int64_t nchunks,
                          int group_start, int mode, int sorted, ds_chunks *out, st_err *err)
{
    if (n == 0)
        return 0;
    if (res <= 0)
        return st_err_set(err, ST_EINVAL, "downsample: resolution %" PRId64 " ms", res);
    if (nchunks <= 0)
        nchunks = ds_target_chunk_count(t[0], t[n - 1], DOWNSAMPLE_RAW_RES, res, (int64_t)n);
    size_t batch = n / (size_t)nchunks + 1;
    uint8_t flags = group_start ? DS_GROUP_START : 0;
    size_t i = 0, c0 = out->nchunks;
    while (i < n) {
        size_t end = i + ST_MIN(batch, n - i);
        /* never split a window: take the rest of the last sample's window too */
        int64_t cw = ds_window_end(t[end - 1], res);
        while (end < n && t[end] <= cw)
            end++;
        size_t m = end;
        if (mode == RAW_FILTER && has_nan(v + i, end - i)) {
            m = i;
            for (size_t k = i; k < end; k++) {
                if (isnan(v[k]))
                    continue;
                t[m] = t[k];
                v[m++] = v[k];
            }
        }
        if (m > i) {
            int rc = raw_batch(t + i, v + i, m - i, res, flags, mode, sorted, out);
            if (rc == RAW_REDO) {
                /* forget this run's chunks */
                out->nchunks = c0;
                for (int a = 0; a < CODEC_AGGR_N; a++)
                    out->n[a] = out->off[a][c0];
                return RAW_REDO;
            }
            if (rc)
                return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
            flags = 0;
        }
        i = end;
    }
    return 0;
}

int ds_downsample_raw(int64_t *t, double *v, size_t n, int64_t res, int64_t nchunks,
                      int group_start, ds_chunks *out, ds_work *w, st_err *err)
{
    (void)w;
    return downsample_raw(t, v, n, res, nchunks, group_start, RAW_FILTER, times_clean(t, n), out,
                          err);
}

/* Whether chunks [c0, c1) are DS_SHARED and their stamps ascend across them too. */
static int shared_run(const ds_chunks *in, size_t c0, size_t c1)
{
    for (size_t c = c0; c < c1; c++) {
        if (!(in->flags[c] & DS_SHARED))
            return 0;
        size_t s = in->off[0][c];
        if (c > c0 && s > in->off[0][c0] && s < in->off[0][c + 1] && in->t[0][s] < in->t[0][s - 1])
            return 0;
    }
    return 1;
}

int ds_counter_windows_passes(const int64_t *t, const double *v, size_t n, int64_t res, ds_work *w,
                              int64_t *ot, double *ov, size_t *m)
{
    size_t nb = 0;
    *m = 0;
    if (work_buf(w, n))
        return ST_ENOMEM;
    int started = 0;
    int64_t lt = 0;
    double lv = 0, tv = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i]))
            continue;
        if (!started) {
            started = 1;
            tv = v[i];
        } else if (t[i] > lt) {
            tv += v[i] >= lv ? v[i] - lv : v[i];
        } else {
            if (t[i] == lt)
                lv = v[i];
            continue;
        }
        lt = t[i];
        lv = v[i];
        w->bt[nb] = t[i];
        w->bv[nb++] = tv;
    }
    /* totals ascend in time and none is a stale marker (NaNs were skipped; arithmetic makes
     * only the default NaN): what expandChunkIterator drops is the negative stamps, if any */
    nb = ds_expand(w->bt, w->bv, nb, w->bt, w->bv);
    if (nb == 0)
        return 0;
    size_t k = ds_window_reduce(w->bt, w->bv, nb, res, DS_REDUCE_COUNTER, 1, ot + 1, ov + 1);
    ot[0] = w->bt[0]; /* the first raw value, kept */
    ov[0] = w->bv[0];
    ot[k + 1] = ot[k]; /* the true last value, kept */
    ov[k + 1] = lv;
    *m = k + 2;
    return 0;
}

/* downsampleFloatAggrBatch: input chunks [c0, c1) into one AggrChunk appended to out. */
static int aggr_batch(const ds_chunks *in, size_t c0, size_t c1, int64_t res, uint8_t flags,
                      ds_chunks *out, ds_work *w, st_err *err)
{
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    if (chunk_room(out))
        goto nomem;
    /* Count, sum, min and max on the same ascending stamps with no stale marker (our own 5m
     * stage's, always) are windowed in one pass, which is what expandChunkIterator and a
     * window pass of each would give; otherwise each goes on its own. */
    size_t j0 = in->off[0][c0], nj = in->off[0][c1] - j0;
    int joint = nj > 0 && shared_run(in, c0, c1);
    if (nj > 0 && !joint) {
        joint = ds_clean(in->t[0] + j0, in->v[0] + j0, nj);
        for (int a = 1; a <= CODEC_AGGR_MAX && joint; a++) {
            size_t sa = in->off[a][c0];
            joint = in->off[a][c1] - sa == nj &&
                    !memcmp(in->t[a] + sa, in->t[0] + j0, nj * sizeof(int64_t)) &&
                    ds_clean(in->t[a] + sa, in->v[a] + sa, nj);
        }
    }
    if (joint) {
        const double *v[4];
        double *ov[4];
        for (int a = 0; a <= CODEC_AGGR_MAX; a++) {
            if (sample_room(out, a, nj))
                goto nomem;
            v[a] = in->v[a] + in->off[a][c0];
            ov[a] = out->v[a] + out->n[a];
        }
        int64_t *ot = out->t[0] + out->n[0];
        size_t k = ds_window_reduce4(in->t[0] + j0, v, nj, res, ot, ov);
        for (int a = 0; a <= CODEC_AGGR_MAX; a++) {
            if (a)
                memcpy(out->t[a] + out->n[a], ot, k * sizeof(int64_t));
            out->n[a] += k;
        }
        minmax(ot, k, &mint, &maxt);
    }
    for (int a = 0; a <= CODEC_AGGR_MAX && !joint; a++) {
        size_t s0 = in->off[a][c0], total = in->off[a][c1] - s0, nb = total;
        const int64_t *bt = in->t[a] + s0;
        const double *bv = in->v[a] + s0;
        int clean = ds_clean(bt, bv, total);
        if (!clean) {
            /* expandChunkIterator chunk by chunk, into the work arrays */
            if (work_buf(w, total))
                goto nomem;
            nb = 0;
            for (size_t c = c0; c < c1; c++) {
                size_t s = in->off[a][c], e = in->off[a][c + 1];
                nb += ds_expand(in->t[a] + s, in->v[a] + s, e - s, w->bt + nb, w->bv + nb);
            }
            bt = w->bt;
            bv = w->bv;
        }
        if (nb == 0)
            continue; /* absent in every chunk: absent in the output */
        /* count: the sum of the counts; sum: the sum; min: min; max: max */
        int op = a == CODEC_AGGR_MIN   ? DS_REDUCE_MIN
                 : a == CODEC_AGGR_MAX ? DS_REDUCE_MAX
                                       : DS_REDUCE_SUM;
        if (sample_room(out, a, nb))
            goto nomem;
        int64_t *ot = out->t[a] + out->n[a];
        size_t k = ds_window_reduce(bt, bv, nb, res, op, clean, ot, out->v[a] + out->n[a]);
        out->n[a] += k;
        minmax(ot, k, &mint, &maxt);
    }

    /* ApplyCounterResetsSeriesIterator over the counter sub-chunks, then its windows: one pass
     * (ds_counter_windows) unless a stamp is negative */
    const int a = CODEC_AGGR_COUNTER;
    size_t c0s = in->off[a][c0], total = in->off[a][c1] - c0s;
    if (sample_room(out, a, total + 2))
        goto nomem;
    int64_t *ot = out->t[a] + out->n[a];
    double *ov = out->v[a] + out->n[a];
    size_t m = ds_counter_windows(in->t[a] + c0s, in->v[a] + c0s, total, res, ot, ov);
    if (m == SIZE_MAX &&
        ds_counter_windows_passes(in->t[a] + c0s, in->v[a] + c0s, total, res, w, ot, ov, &m))
        goto nomem;
    if (m > 0) {
        out->n[a] += m;
        minmax(ot + 1, m - 2, &mint, &maxt);
    }
    if (mint == INT64_MAX) {
        /* nothing at all: drop what was pushed (nothing) and report as Thanos does */
        return st_err_set(err, ST_EINVAL,
                          "invalid range for downsampled aggregate chunk: no samples in %zu input "
                          "chunks",
                          c1 - c0);
    }
    /* one pass's stamps, windows of ascending ones; min and max are values, the rest sums */
    chunk_close(out, mint, maxt, joint ? flags | DS_SHARED : flags);
    return 0;
nomem:
    /* leave out consistent: forget the samples of the unfinished chunk */
    for (int b = 0; b < CODEC_AGGR_N; b++)
        if (out->off[b])
            out->n[b] = out->off[b][out->nchunks];
    return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
}

int ds_downsample_aggr(const ds_chunks *in, size_t c0, size_t c1, int64_t in_res, int64_t out_res,
                       int64_t nchunks, ds_chunks *out, ds_work *w, st_err *err)
{
    if (c0 >= c1)
        return 0;
    if (in_res <= 0 || out_res <= 0)
        return st_err_set(err, ST_EINVAL, "downsample: resolutions %" PRId64 " -> %" PRId64, in_res,
                          out_res);
    int64_t count = 0;
    for (size_t c = c0; c < c1; c++)
        count += (int64_t)(in->off[CODEC_AGGR_COUNT][c + 1] - in->off[CODEC_AGGR_COUNT][c]);
    if (nchunks <= 0)
        nchunks = ds_target_chunk_count(in->mint[c0], in->maxt[c1 - 1], in_res, out_res, count);
    size_t batch = (size_t)((int64_t)(c1 - c0) / nchunks);
    if (batch == 0)
        /* Thanos' downsampleAggrLoop never ends here (batches of zero chunks) */
        return st_err_set(err, ST_EINVAL,
                          "downsample: %zu input chunks at %" PRId64
                          " ms cannot be cut into the %" PRId64
                          " output chunks Thanos' rule asks for at %" PRId64 " ms",
                          c1 - c0, in_res, nchunks, out_res);
    uint8_t flags = DS_GROUP_START;
    for (size_t c = c0; c < c1;) {
        size_t j = ST_MIN(batch, c1 - c);
        int rc = aggr_batch(in, c, c + j, out_res, flags, out, w, err);
        if (rc)
            return rc;
        flags = 0;
        c += j;
    }
    return 0;
}

/* Every run of float chunks of in (split where histograms were skipped) to out_res. */
static int aggr_runs(const ds_chunks *in, int64_t in_res, int64_t out_res, ds_chunks *out,
                     ds_work *w, st_err *err)
{
    size_t c0 = 0;
    while (c0 < in->nchunks) {
        size_t c1 = c0 + 1;
        while (c1 < in->nchunks && !(in->flags[c1] & DS_GROUP_START))
            c1++;
        int rc = ds_downsample_aggr(in, c0, c1, in_res, out_res, 0, out, w, err);
        if (rc)
            return rc;
        c0 = c1;
    }
    return 0;
}

/* ---- the block pipeline --------------------------------------------------------------------- */

typedef struct ochunk {
    int64_t mint, maxt;
    codec_chunk chunk; /* sealed in its record, in the batch's records arena of its output */
    uint32_t samples;  /* of the count aggregate */
} ochunk;

typedef struct series_job {
    codec_label *labels; /* in the batch arena */
    uint32_t nlabels;
    uint32_t *symrefs; /* the input's symbol refs (2 per label), NULL for a v1 index */
    uint64_t ref;
    codec_chunk_meta *chunks;
    uint32_t nchunks;
    ochunk *out[DOWNSAMPLE_MAX_RES];
    uint32_t nout[DOWNSAMPLE_MAX_RES];
} series_job;

typedef struct scratch {
    int64_t *t;
    double *v;
    size_t cap;
    ds_chunks in;                        /* the AggrChunks of a downsampled input series */
    ds_chunks stage[DOWNSAMPLE_MAX_RES]; /* the series at each output resolution */
    ds_work w;
    codec_xor_enc enc[CODEC_AGGR_N];
} scratch;

typedef struct dsr dsr;

typedef struct batch {
    dsr *d;
    st_arena arena;
    /* each output's chunk records, back to back: the writer sends them from here, in pieces
     * as large as an arena page */
    st_arena records[DOWNSAMPLE_MAX_RES];
    series_job *jobs;
    size_t njobs, cap;
    uint64_t maxref; /* the highest chunk ref read by this batch */
    scratch sc;
    uint64_t chunks, bytes, samples, hist_chunks, hist_series, empty, repaired;
    int rc;
    st_err err;
    int done;
} batch;

struct dsr {
    progress *prog;
    const codec_block *in;
    int64_t in_res;
    const int64_t *res;
    size_t nres;
    const downsample_opts *o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static int sc_samples(scratch *sc, size_t need)
{
    return grow_samples(&sc->t, &sc->v, &sc->cap, need, 4096);
}

static void sc_init(scratch *sc)
{
    memset(sc, 0, sizeof(*sc));
    ds_chunks_init(&sc->in);
    for (int k = 0; k < DOWNSAMPLE_MAX_RES; k++)
        ds_chunks_init(&sc->stage[k]);
    ds_work_init(&sc->w);
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_init(&sc->enc[a]);
}

static void sc_release(scratch *sc)
{
    st_free(sc->t);
    st_free(sc->v);
    ds_chunks_release(&sc->in);
    for (int k = 0; k < DOWNSAMPLE_MAX_RES; k++)
        ds_chunks_release(&sc->stage[k]);
    ds_work_release(&sc->w);
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_release(&sc->enc[a]);
}

/* The batch error, naming the block, the series and (ref != UINT64_MAX) the chunk. */
static int series_fail(batch *b, const series_job *j, uint64_t ref, int code, const char *what)
{
    st_buf l;
    st_buf_init(&l, 0);
    if (gofmt_labels(&l, j->labels, j->nlabels) || !st_buf_cstr(&l)) {
        st_buf_release(&l);
        return st_err_set(&b->err, code, "block %s: series ref %" PRIu64 ": %s", b->d->in->dir,
                          j->ref, what);
    }
    if (ref == UINT64_MAX)
        st_err_set(&b->err, code, "block %s: series %s: %s", b->d->in->dir, (const char *)l.p,
                   what);
    else
        st_err_set(&b->err, code, "block %s: series %s: chunk ref %" PRIu64 ": %s", b->d->in->dir,
                   (const char *)l.p, ref, what);
    st_buf_release(&l);
    return code;
}

static int get_chunk(batch *b, const series_job *j, const codec_chunk_meta *cm, codec_chunk *c)
{
    st_err e;
    st_err_init(&e);
    int rc = codec_chunk_reader_get(b->d->in->chunks, cm->ref, c, &e);
    if (rc)
        return series_fail(b, j, cm->ref, rc, e.msg);
    if (cm->ref > b->maxref)
        b->maxref = cm->ref;
    b->chunks++;
    b->bytes += c->len;
    return 0;
}

/* Decode an XOR chunk, appending its samples to t/v at *n (grown), and count them; with asc,
 * also whether its timestamps pass times_clean. */
static int decode_xor(batch *b, const series_job *j, uint64_t ref, const codec_chunk *c,
                      int64_t **t, double **v, size_t *n, int *asc, int (*grow)(void *, size_t),
                      void *g)
{
    st_err e;
    st_err_init(&e);
    uint32_t cnt;
    int rc = codec_chunk_num_samples(c, &cnt, "chunk", &e);
    if (rc)
        return series_fail(b, j, ref, rc, e.msg);
    if (grow(g, *n + cnt))
        return series_fail(b, j, ref, ST_ENOMEM, "out of memory");
    size_t got;
    rc = asc ? codec_xor_decode_ordered(c->data, c->len, *t + *n, *v + *n, cnt, &got, asc, "chunk",
                                        &e)
             : codec_xor_decode(c->data, c->len, *t + *n, *v + *n, cnt, &got, "chunk", &e);
    if (rc)
        return series_fail(b, j, ref, rc, e.msg);
    *n += got;
    b->samples += got;
    return 0;
}

static int grow_sc(void *g, size_t need)
{
    return sc_samples(g, need);
}

typedef struct agg_grow {
    ds_chunks *c;
    int a;
} agg_grow;

static int grow_agg(void *g, size_t need)
{
    agg_grow *x = g;
    return need > x->c->n[x->a] ? sample_room(x->c, x->a, need - x->c->n[x->a]) : 0;
}

/* One run of raw float samples through DownsampleRaw. clean: every chunk's timestamps passed
 * times_clean, so expandChunkIterator could only have dropped stale markers, which are NaNs:
 * the run goes through with no filter unless a NaN turns up, and then again, filtered.
 * sorted: t ascends across the chunks too. */
static int raw_run(int64_t *t, double *v, size_t n, int64_t res, int clean, int sorted,
                   ds_chunks *out, st_err *err)
{
    int rc = downsample_raw(t, v, n, res, 0, 1, clean ? RAW_CHECK : RAW_FILTER, sorted, out, err);
    if (rc != RAW_REDO)
        return rc;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (ds_is_stale(v[i]))
            continue;
        t[m] = t[i];
        v[m++] = v[i];
    }
    return downsample_raw(t, v, m, res, 0, 1, RAW_FILTER, sorted, out, err);
}

/* A raw input series: runs of XOR chunks (split at histogram chunks, which are skipped) through
 * DownsampleRaw at the first resolution. */
static int raw_series(batch *b, series_job *j)
{
    scratch *sc = &b->sc;
    dsr *d = b->d;
    ds_chunks *out = &sc->stage[0];
    size_t n = 0;
    int floats = 0, hists = 0, clean = 1, sorted = 1; /* see raw_run */
    st_err e;
    st_err_init(&e);
    for (uint32_t i = 0; i < j->nchunks; i++) {
        const codec_chunk_meta *cm = &j->chunks[i];
        codec_chunk c;
        int rc = get_chunk(b, j, cm, &c);
        if (rc)
            return rc;
        if (c.enc == CODEC_ENC_XOR) {
            size_t at = n;
            int asc;
            if ((rc = decode_xor(b, j, cm->ref, &c, &sc->t, &sc->v, &n, &asc, grow_sc, sc)))
                return rc;
            if (!asc) {
                n = at + ds_expand(sc->t + at, sc->v + at, n - at, sc->t + at, sc->v + at);
                clean = 0; /* and now ascending within the chunk */
            }
            if (at > 0 && n > at && sc->t[at] < sc->t[at - 1])
                sorted = 0;
            floats = 1;
        } else if (c.enc == CODEC_ENC_HISTOGRAM || c.enc == CODEC_ENC_FLOAT_HISTOGRAM) {
            /* Thanos cuts the series where the encoding switches; the float run so far is one */
            if ((rc = raw_run(sc->t, sc->v, n, d->res[0], clean, sorted, out, &e)))
                return series_fail(b, j, UINT64_MAX, rc, e.msg);
            n = 0;
            clean = sorted = 1;
            b->hist_chunks++;
            hists = 1;
        } else {
            char msg[96];
            snprintf(msg, sizeof(msg), "chunk encoding 0x%02x cannot be in a raw block", c.enc);
            return series_fail(b, j, cm->ref, ST_EUNSUPP, msg);
        }
    }
    int rc = raw_run(sc->t, sc->v, n, d->res[0], clean, sorted, out, &e);
    if (rc)
        return series_fail(b, j, UINT64_MAX, rc, e.msg);
    if (hists && !floats)
        b->hist_series++;
    return 0;
}

/* A downsampled input series: its AggrChunks decoded into sc->in (empty XOR chunks skipped,
 * non-empty ones downsampled to 5m first, as Thanos repairs them; histogram chunks skipped),
 * then every float run to the first resolution. */
static int aggr_series(batch *b, series_job *j)
{
    scratch *sc = &b->sc;
    dsr *d = b->d;
    ds_chunks *in = &sc->in;
    int brk = 1, floats = 0, hists = 0, rc;
    st_err e;
    st_err_init(&e);
    for (uint32_t i = 0; i < j->nchunks; i++) {
        const codec_chunk_meta *cm = &j->chunks[i];
        codec_chunk c;
        if ((rc = get_chunk(b, j, cm, &c)))
            return rc;
        if (c.enc == CODEC_ENC_AGGR) {
            codec_chunk sub[CODEC_AGGR_N];
            if ((rc = codec_aggr_parse(c.data, c.len, sub, NULL, "chunk", &e)))
                return series_fail(b, j, cm->ref, rc, e.msg);
            uint8_t cenc = sub[CODEC_AGGR_COUNTER].enc;
            if (cenc == CODEC_ENC_HISTOGRAM || cenc == CODEC_ENC_FLOAT_HISTOGRAM) {
                b->hist_chunks++;
                hists = 1;
                brk = 1;
                continue;
            }
            if (chunk_room(in))
                return series_fail(b, j, cm->ref, ST_ENOMEM, "out of memory");
            for (int a = 0; a < CODEC_AGGR_N; a++) {
                if (!sub[a].enc)
                    continue;
                if (sub[a].enc != CODEC_ENC_XOR) {
                    char msg[96];
                    snprintf(msg, sizeof(msg),
                             "%s sub-chunk of a float aggregate chunk has "
                             "encoding %u",
                             codec_aggr_name(a), sub[a].enc);
                    return series_fail(b, j, cm->ref, ST_EUNSUPP, msg);
                }
                agg_grow g = {in, a};
                size_t before = b->samples;
                if ((rc = decode_xor(b, j, cm->ref, &sub[a], &in->t[a], &in->v[a], &in->n[a], NULL,
                                     grow_agg, &g)))
                    return rc;
                if (a != CODEC_AGGR_COUNT)
                    b->samples = before; /* count the windows once */
            }
            chunk_close(in, cm->mint, cm->maxt, brk ? DS_GROUP_START : 0);
            brk = 0;
            floats = 1;
        } else if (c.enc == CODEC_ENC_XOR) {
            size_t n = 0;
            if ((rc = decode_xor(b, j, cm->ref, &c, &sc->t, &sc->v, &n, NULL, grow_sc, sc)))
                return rc;
            if (n == 0) {
                b->empty++; /* Thanos #5272: empty XOR chunks in downsampled blocks */
                continue;
            }
            n = ds_expand(sc->t, sc->v, n, sc->t, sc->v);
            size_t before = in->nchunks;
            if ((rc = ds_downsample_raw(sc->t, sc->v, n, REPAIR_RES, 0, brk, in, &sc->w, &e)))
                return series_fail(b, j, cm->ref, rc, e.msg);
            if (in->nchunks > before)
                brk = 0;
            b->repaired++;
            floats = 1;
        } else if (c.enc == CODEC_ENC_HISTOGRAM || c.enc == CODEC_ENC_FLOAT_HISTOGRAM) {
            uint32_t cnt;
            if ((rc = codec_chunk_num_samples(&c, &cnt, "chunk", &e)))
                return series_fail(b, j, cm->ref, rc, e.msg);
            if (cnt == 0) {
                b->empty++;
                continue;
            }
            b->hist_chunks++;
            hists = 1;
            brk = 1;
        } else {
            char msg[96];
            snprintf(msg, sizeof(msg), "unknown chunk encoding 0x%02x", c.enc);
            return series_fail(b, j, cm->ref, ST_EUNSUPP, msg);
        }
    }
    if (hists && !floats)
        b->hist_series++;
    if ((rc = aggr_runs(in, d->in_res, d->res[0], &sc->stage[0], &sc->w, &e)))
        return series_fail(b, j, UINT64_MAX, rc, e.msg);
    return 0;
}

/* Decode every chunk and nothing else: the floor a downsampling pass cannot beat. */
static int decode_series(batch *b, series_job *j)
{
    scratch *sc = &b->sc;
    for (uint32_t i = 0; i < j->nchunks; i++) {
        const codec_chunk_meta *cm = &j->chunks[i];
        codec_chunk c;
        int rc = get_chunk(b, j, cm, &c);
        if (rc)
            return rc;
        size_t n = 0;
        if (c.enc == CODEC_ENC_XOR) {
            if ((rc = decode_xor(b, j, cm->ref, &c, &sc->t, &sc->v, &n, NULL, grow_sc, sc)))
                return rc;
        } else if (c.enc == CODEC_ENC_AGGR) {
            codec_chunk sub[CODEC_AGGR_N];
            st_err e;
            st_err_init(&e);
            if ((rc = codec_aggr_parse(c.data, c.len, sub, NULL, "chunk", &e)))
                return series_fail(b, j, cm->ref, rc, e.msg);
            for (int a = 0; a < CODEC_AGGR_N; a++) {
                n = 0;
                if (sub[a].enc == CODEC_ENC_XOR && (rc = decode_xor(b, j, cm->ref, &sub[a], &sc->t,
                                                                    &sc->v, &n, NULL, grow_sc, sc)))
                    return rc;
            }
        }
    }
    return 0;
}

_Static_assert(CODEC_AGGR_COUNT == 0 && CODEC_AGGR_MAX + 1 <= CODEC_XOR_SHARED_MAX,
               "count .. max are the first aggregates, few enough for one shared encode");

/* Windows a chunk needs for encode_aligned to pay: below it, its extra calls cost more than
 * taking the counter out of the scalar pass saves. */
#define ALIGNED_MIN_WINDOWS 16

/* Whether a chunk's counter (from[] and k[]: where each aggregate's samples start and how many)
 * is laid out as raw_batch lays it out, on the stamps of the other aggregates (which share
 * theirs): the first raw sample, one sample per window, the last window's stamp again. */
static int counter_aligned(const ds_chunks *s, const size_t *from, const size_t *k)
{
    const int64_t *ct = s->t[CODEC_AGGR_COUNTER] + from[CODEC_AGGR_COUNTER];
    return k[0] >= ALIGNED_MIN_WINDOWS && k[CODEC_AGGR_COUNTER] == k[0] + 2 &&
           ct[k[0] + 1] == ct[k[0]] && !memcmp(ct + 1, s->t[0] + from[0], k[0] * sizeof(int64_t));
}

/* An aligned chunk (counter_aligned) through the encoders: the bytes one batch per aggregate
 * gives. From the third window on, the counter's timestamp fields are the others' (the same
 * stamps, one sample later in its chunk: the same deltas), so sum, min, max and the counter go
 * in one four-lane pass there; count, which repeats one value, goes alone, where runs of it are
 * written at once, and the counter's values, which change at every window, leave the
 * single-lane pass, where they cost the most. */
static int encode_aligned(codec_xor_enc *enc, const ds_chunks *s, const size_t *from,
                          const size_t *k)
{
    const int C = CODEC_AGGR_COUNTER;
    size_t n = k[0];
    const int64_t *wt = s->t[0] + from[0], *ct = s->t[C] + from[C];
    const double *cv = s->v[C] + from[C];
    codec_xor_enc *e[4] = {&enc[CODEC_AGGR_SUM], &enc[CODEC_AGGR_MIN], &enc[CODEC_AGGR_MAX],
                           &enc[C]};
    const double *v[4] = {s->v[CODEC_AGGR_SUM] + from[CODEC_AGGR_SUM],
                          s->v[CODEC_AGGR_MIN] + from[CODEC_AGGR_MIN],
                          s->v[CODEC_AGGR_MAX] + from[CODEC_AGGR_MAX], cv + 1};
    int rc = codec_xor_enc_append_batch_repeats(&enc[CODEC_AGGR_COUNT], wt,
                                                s->v[CODEC_AGGR_COUNT] + from[CODEC_AGGR_COUNT], n);
    if (!rc)
        rc = codec_xor_enc_append_batch_shared(e, 3, wt, v, 2);
    if (!rc)
        rc = codec_xor_enc_append_batch(&enc[C], ct, cv, 3);
    for (int a = 0; a < 4; a++)
        v[a] += 2;
    if (!rc)
        rc = codec_xor_enc_append_batch_shared(e, 4, wt + 2, v, n - 2);
    if (!rc)
        rc = codec_xor_enc_append(&enc[C], ct[n + 1], cv[n + 1]);
    return rc;
}

/* The chunks of stage k as AggrChunk records in the batch's records arena of output k. */
static int encode_stage(batch *b, const series_job *j, size_t stage, ochunk **out, uint32_t *nout)
{
    const ds_chunks *s = &b->sc.stage[stage];
    scratch *sc = &b->sc;
    *nout = 0;
    if (s->nchunks == 0)
        return 0;
    ochunk *list = st_arena_alloc(&b->arena, sizeof(ochunk) * s->nchunks);
    if (!list)
        return series_fail(b, j, UINT64_MAX, ST_ENOMEM, "out of memory");
    for (size_t c = 0; c < s->nchunks; c++) {
        codec_chunk sub[CODEC_AGGR_N];
        size_t from[CODEC_AGGR_N], k[CODEC_AGGR_N];
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            from[a] = s->off[a][c];
            k[a] = s->off[a][c + 1] - from[a];
            codec_xor_enc_reset(&sc->enc[a]);
        }
        /* Count, sum, min and max on the same stamps go through the encoder in one pass.
         * DS_SHARED chunks have them; others (aggr_batch windowing each aggregate over its
         * own input) are compared. */
        int shared = k[0] > 0, rc = 0;
        for (int a = 1; a <= CODEC_AGGR_MAX && shared && !(s->flags[c] & DS_SHARED); a++)
            shared = k[a] == k[0] &&
                     memcmp(s->t[a] + from[a], s->t[0] + from[0], k[0] * sizeof(int64_t)) == 0;
        int aligned = shared && counter_aligned(s, from, k);
        if (aligned) {
            rc = encode_aligned(sc->enc, s, from, k);
        } else if (shared) {
            codec_xor_enc *e[CODEC_AGGR_MAX + 1];
            const double *v[CODEC_AGGR_MAX + 1];
            for (int a = 0; a <= CODEC_AGGR_MAX; a++) {
                e[a] = &sc->enc[a];
                v[a] = s->v[a] + from[a];
            }
            rc = codec_xor_enc_append_batch_shared(e, CODEC_AGGR_MAX + 1, s->t[0] + from[0], v,
                                                   k[0]);
        }
        for (int a = aligned  ? CODEC_AGGR_N
                     : shared ? CODEC_AGGR_MAX + 1
                              : 0;
             a < CODEC_AGGR_N && !rc; a++)
            if (k[a])
                rc = codec_xor_enc_append_batch(&sc->enc[a], s->t[a] + from[a], s->v[a] + from[a],
                                                k[a]);
        if (rc)
            return series_fail(b, j, UINT64_MAX, rc,
                               rc == ST_ETOOBIG ? "an aggregate chunk would hold more than "
                                                  "65535 samples"
                                                : "out of memory");
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            codec_chunk x = codec_xor_enc_chunk(&sc->enc[a]);
            sub[a] = k[a] ? (codec_chunk){.enc = CODEC_ENC_XOR, .data = x.data, .len = x.len}
                          : (codec_chunk){.enc = 0, .data = NULL, .len = 0};
        }
        /* five sub-chunks of at most 65535 samples: a few MB at most */
        uint32_t size = (uint32_t)codec_aggr_size(sub);
        uint8_t *rec = st_arena_alloc_packed(&b->records[stage], codec_chunk_record_size(size));
        if (!rec)
            return series_fail(b, j, UINT64_MAX, ST_ENOMEM, "out of memory");
        codec_aggr_write(sub, codec_chunk_record_data(rec, size));
        list[c] =
            (ochunk){s->mint[c], s->maxt[c], codec_chunk_record_seal(rec, CODEC_ENC_AGGR, size),
                     (uint32_t)(s->off[0][c + 1] - s->off[0][c])};
    }
    *out = list;
    *nout = (uint32_t)s->nchunks;
    return 0;
}

static int do_series(batch *b, series_job *j)
{
    dsr *d = b->d;
    scratch *sc = &b->sc;
    for (uint32_t i = 1; i < j->nchunks; i++)
        if (j->chunks[i - 1].maxt >= j->chunks[i].mint)
            return series_fail(b, j, UINT64_MAX, ST_ECORRUPT,
                               "found overlapping chunks within the series; chunks are expected "
                               "to be ordered by min time and not to overlap");
    if (d->o->decode_only)
        return decode_series(b, j);
    ds_chunks_reset(&sc->in);
    for (size_t k = 0; k < d->nres; k++)
        ds_chunks_reset(&sc->stage[k]);
    int rc = d->in_res == 0 ? raw_series(b, j) : aggr_series(b, j);
    if (rc)
        return rc;
    st_err e;
    st_err_init(&e);
    /* each next resolution from the previous one's chunks, all of them as one run: the block
     * we would have written holds no histogram chunks to split the run (Thanos' own 5m block
     * would; we skip them), so this is what downsampling our previous block gives */
    for (size_t k = 1; k < d->nres; k++)
        if ((rc = ds_downsample_aggr(&sc->stage[k - 1], 0, sc->stage[k - 1].nchunks, d->res[k - 1],
                                     d->res[k], 0, &sc->stage[k], &sc->w, &e)))
            return series_fail(b, j, UINT64_MAX, rc, e.msg);
    for (size_t k = 0; k < d->nres; k++)
        if ((rc = encode_stage(b, j, k, &j->out[k], &j->nout[k])))
            return rc;
    return 0;
}

static void run_batch(void *arg)
{
    batch *b = arg;
    int rc = 0;
    for (size_t i = 0; i < b->njobs && !rc; i++)
        rc = do_series(b, &b->jobs[i]);
    pthread_mutex_lock(&b->d->mu);
    b->rc = rc;
    b->done = 1;
    pthread_cond_broadcast(&b->d->cv);
    pthread_mutex_unlock(&b->d->mu);
}

/* Copy the iterator's current series into a new job of b. */
static int add_job(batch *b, const codec_series *s, st_err *err)
{
    if (b->njobs == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : BATCH_SERIES;
        series_job *nj = st_reallocarray(b->jobs, nc, sizeof(*nj));
        if (!nj)
            return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
        b->jobs = nj;
        b->cap = nc;
    }
    series_job *j = &b->jobs[b->njobs];
    memset(j, 0, sizeof(*j));
    j->ref = s->ref;
    j->nlabels = s->nlabels;
    j->nchunks = s->nchunks;
    j->labels = st_arena_alloc(&b->arena, sizeof(codec_label) * (s->nlabels ? s->nlabels : 1));
    j->chunks = st_arena_alloc(&b->arena, sizeof(codec_chunk_meta) * (s->nchunks ? s->nchunks : 1));
    if (!j->labels || !j->chunks)
        return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
    /* the strings stay in the input's mapped symbol table */
    memcpy(j->labels, s->labels, sizeof(codec_label) * s->nlabels);
    if (s->symrefs && s->nlabels) {
        /* each output's symbol table is the input's: the refs carry over */
        if (!(j->symrefs = st_arena_alloc(&b->arena, sizeof(uint32_t) * 2 * s->nlabels)))
            return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
        memcpy(j->symrefs, s->symrefs, sizeof(uint32_t) * 2 * s->nlabels);
    }
    if (s->nchunks)
        memcpy(j->chunks, s->chunks, sizeof(codec_chunk_meta) * s->nchunks);
    b->njobs++;
    return 0;
}

/* ---- the output side ------------------------------------------------------------------------ */

typedef struct output {
    int64_t res;
    codec_ulid id;
    char *tmp, *dir;
    codec_chunk_writer *cw;
    codec_index_writer *iw;
    uint64_t series, chunks, samples;
    int published;
} output;

typedef struct writer {
    output out[DOWNSAMPLE_MAX_RES];
    size_t nout;
    codec_chunk *chks;
    codec_chunk_meta *metas;
    uint64_t *refs;
    size_t cap;
    uint64_t released_at;
} writer;

static int writer_room(writer *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n)
        cap *= 2;
    codec_chunk *c = st_reallocarray(w->chks, cap, sizeof(*c));
    if (!c)
        return ST_ENOMEM;
    w->chks = c;
    codec_chunk_meta *m = st_reallocarray(w->metas, cap, sizeof(*m));
    if (!m)
        return ST_ENOMEM;
    w->metas = m;
    uint64_t *r = st_reallocarray(w->refs, cap, sizeof(*r));
    if (!r)
        return ST_ENOMEM;
    w->refs = r;
    w->cap = cap;
    return 0;
}

static int write_batch(dsr *d, writer *w, batch *b, downsample_stats *st, st_err *err)
{
    st->in_chunks += b->chunks;
    st->in_chunk_bytes += b->bytes;
    st->in_samples += b->samples;
    st->hist_chunks_skipped += b->hist_chunks;
    st->hist_series_skipped += b->hist_series;
    st->empty_xor_skipped += b->empty;
    st->xor_repaired += b->repaired;
    st->in_series += b->njobs;
    progress_add(d->prog, b->njobs, b->bytes);
    w->released_at += b->bytes;
    for (size_t i = 0; i < b->njobs; i++) {
        series_job *j = &b->jobs[i];
        for (size_t k = 0; k < w->nout; k++) {
            output *o = &w->out[k];
            uint32_t n = j->nout[k];
            if (n == 0)
                continue; /* no samples: no index entry, as Thanos' streamed writer */
            if (writer_room(w, n))
                return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
            for (uint32_t c = 0; c < n; c++) {
                w->chks[c] = j->out[k][c].chunk;
                o->samples += j->out[k][c].samples;
            }
            int rc = codec_chunk_writer_write(o->cw, w->chks, n, w->refs, err);
            if (rc)
                return rc;
            for (uint32_t c = 0; c < n; c++)
                w->metas[c] = (codec_chunk_meta){
                    .mint = j->out[k][c].mint, .maxt = j->out[k][c].maxt, .ref = w->refs[c]};
            if ((rc = codec_index_writer_add_series_refs(o->iw, j->labels, j->nlabels, j->symrefs,
                                                         w->metas, n, NULL, err)))
                return rc;
            o->series++;
            o->chunks += n;
        }
    }
    /* the records go out from the batch's arenas, reset when it takes new series */
    for (size_t k = 0; k < w->nout; k++) {
        int rc = codec_chunk_writer_flush(w->out[k].cw, err);
        if (rc)
            return rc;
    }
    /* later batches read only chunks after this batch's */
    if (w->released_at >= RELEASE_EVERY && b->maxref) {
        codec_chunk_reader_release_before(d->in->chunks, b->maxref);
        w->released_at = 0;
    }
    return 0;
}

/* The input's meta (deep copy through its JSON: unknown fields stay), as Thanos' downsampled
 * meta: new ULID, the resolution, source "compactor", version 1, recounted stats, files. */
static int build_meta(const codec_meta *src, const output *o, const char *dir, codec_meta **out,
                      st_err *err)
{
    st_buf j;
    st_buf_init(&j, 0);
    codec_meta *m = NULL;
    int rc = codec_meta_format(src, &j, 0, err);
    if (!rc)
        rc = codec_meta_parse(&m, (const char *)j.p, j.len, src->ulid.s, err);
    st_buf_release(&j);
    if (rc)
        return rc;
    m->ulid = o->id;
    m->version = 1;
    m->stats.num_samples = o->samples;
    m->stats.num_series = o->series;
    m->stats.num_chunks = o->chunks;
    /* Thanos leaves these as the input had them; every output sample is a float */
    m->stats.num_float_samples = src->stats.num_float_samples ? o->samples : 0;
    m->stats.num_histogram_samples = 0;
    m->stats.num_tombstones = 0;
    if (!m->has_thanos) {
        m->has_thanos = 1;
        m->thanos.labels_null = 0;
    }
    m->thanos.resolution = o->res;
    st_free(m->thanos.source);
    m->thanos.source = st_strdup("compactor");
    st_free(m->thanos.upload_time);
    m->thanos.upload_time = NULL; /* set at upload */
    m->thanos.series_max_size = 0;
    m->thanos.chunk_max_size = 0;
    if (!m->thanos.source) {
        codec_meta_free(m);
        return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
    }
    if ((rc = meta_set_files(m, dir, err))) {
        codec_meta_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Close an output's files, write its meta.json and check it; publish_output renames it. */
static int finish_output(const codec_block *in, output *o, const downsample_opts *opts, st_err *err)
{
    int rc = codec_chunk_writer_close(o->cw, err);
    if (!rc)
        rc = codec_index_writer_close(o->iw, err);
    if (rc)
        return rc;
    codec_meta *meta = NULL;
    char *path = st_path_join(o->tmp, "meta.json");
    if (!path)
        return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
    if (!(rc = build_meta(in->meta, o, o->tmp, &meta, err)))
        rc = codec_meta_write(meta, path, CODEC_META_NEWLINE, err);
    codec_meta_free(meta);
    st_free(path);
    if (rc)
        return rc;
    if (opts->verify) {
        verify_report r = {0};
        r.out = stderr;
        r.max_print = 20;
        if ((rc = verify_block(o->tmp, &r, err)))
            return rc;
        if (r.nproblems)
            return st_err_set(err, ST_ECORRUPT,
                              "downsample: the new %" PRId64 " ms block failed verification with "
                              "%zu problems (listed above); it was removed",
                              o->res, r.nproblems);
    }
    return st_fsync_dir(o->tmp, err);
}

static int publish_output(output *o, st_err *err)
{
    if (rename(o->tmp, o->dir) != 0)
        return st_err_set(err, ST_EIO, "downsample: rename %s to %s failed", o->tmp, o->dir);
    o->published = 1;
    return 0;
}

static int open_output(const codec_block *in, const char *out_dir, int64_t res, output *o,
                       st_err *err)
{
    o->res = res;
    int rc = codec_ulid_new(&o->id, st_now_ms());
    if (rc)
        return st_err_set(err, rc, "downsample: no randomness for a ULID");
    size_t l = strlen(out_dir) + CODEC_ULID_LEN + 32;
    o->dir = st_malloc(l);
    o->tmp = st_malloc(l);
    if (!o->dir || !o->tmp)
        return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
    snprintf(o->dir, l, "%s/%s", out_dir, o->id.s);
    snprintf(o->tmp, l, "%s.tmp-for-creation", o->dir);
    if ((rc = st_rmtree(o->tmp, err)) || (rc = st_mkdir_p(o->tmp, err)))
        return rc;
    char *p = st_path_join(o->tmp, "chunks");
    if (!p)
        return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
    rc = codec_chunk_writer_create(&o->cw, p, 0, err);
    st_free(p);
    if (rc)
        return rc;
    codec_chunk_writer_zero_copy(o->cw, 1); /* records sealed in batch arenas, see write_batch */
    if (!(p = st_path_join(o->tmp, "index")))
        return st_err_set(err, ST_ENOMEM, "downsample: out of memory");
    rc = codec_index_writer_create(&o->iw, p, err);
    st_free(p);
    if (rc)
        return rc;
    /* every symbol of the input, as Thanos' streamed writer */
    uint32_t ns = codec_index_nsymbols(in->index);
    for (uint32_t i = 0; i < ns; i++) {
        codec_str s;
        if ((rc = codec_index_symbol(in->index, i, &s, err)) ||
            (rc = codec_index_writer_add_symbol(o->iw, s, err)))
            return rc;
    }
    return 0;
}

static void batch_reset(batch *b)
{
    st_arena_reset(&b->arena);
    for (size_t k = 0; k < DOWNSAMPLE_MAX_RES; k++)
        st_arena_reset(&b->records[k]);
    b->njobs = 0;
    b->maxref = 0;
    b->chunks = b->bytes = b->samples = 0;
    b->hist_chunks = b->hist_series = b->empty = b->repaired = 0;
    b->rc = 0;
    b->done = 0;
    st_err_init(&b->err);
}

int downsample_block(const codec_block *in, const int64_t *resolutions, size_t nres,
                     const char *out_dir, const downsample_opts *o, downsample_stats *st,
                     st_err *err)
{
    memset(st, 0, sizeof(*st));
    uint64_t t0 = st_mono_ns();
    int64_t in_res = in->meta->has_thanos ? in->meta->thanos.resolution : 0;
    if (nres == 0 || nres > DOWNSAMPLE_MAX_RES)
        return st_err_set(err, ST_EINVAL, "downsample: between 1 and %d resolutions, not %zu",
                          DOWNSAMPLE_MAX_RES, nres);
    for (size_t k = 0; k < nres; k++) {
        int64_t prev = k ? resolutions[k - 1] : in_res;
        if (resolutions[k] <= prev)
            return st_err_set(err, ST_EINVAL,
                              "downsample: block %s: target resolution %" PRId64
                              " ms is not above %" PRId64 " ms (%s)",
                              in->dir, resolutions[k], prev,
                              k ? "resolutions must increase" : "the block's resolution");
    }

    dsr d = {0};
    d.in = in;
    d.in_res = in_res;
    d.res = resolutions;
    d.nres = nres;
    d.o = o;
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    d.prog = progress_begin("downsample", in->meta->ulid.s, in->meta->stats.num_series, 0);

    int threads = o->threads > 0 ? o->threads : st_ncpu();
    size_t nbatches = threads > 1 ? (size_t)threads * 3 : 1;
    batch *batches = st_calloc(nbatches, sizeof(batch));
    st_pool *pool = NULL;
    codec_series_iter *it = NULL;
    writer w;
    memset(&w, 0, sizeof(w));
    int rc = 0;
    if (!batches) {
        rc = st_err_set(err, ST_ENOMEM, "downsample: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nbatches; i++) {
        batches[i].d = &d;
        st_arena_init(&batches[i].arena, 1 << 20);
        for (size_t k = 0; k < DOWNSAMPLE_MAX_RES; k++)
            st_arena_init(&batches[i].records[k], 1 << 20);
        sc_init(&batches[i].sc);
    }
    if (!o->decode_only) {
        w.nout = nres;
        for (size_t k = 0; k < nres; k++)
            if ((rc = open_output(in, out_dir, resolutions[k], &w.out[k], err)))
                goto done;
        /* Every output holds the same series (a coarser one is made from the finer one's
         * samples, so both have some or neither): the first output's postings serve all. */
        for (size_t k = 1; k < nres; k++)
            if ((rc = codec_index_writer_follow(w.out[k].iw, w.out[0].iw, err)))
                goto done;
    }
    if (threads > 1 && (rc = st_pool_create(&pool, threads))) {
        st_err_set(err, rc, "downsample: cannot start %d threads", threads);
        goto done;
    }
    if ((rc = codec_series_iter_create(&it, in->index, err)))
        goto done;

    size_t head = 0, tail = 0, inflight = 0;
    int input_done = 0;
    while (!input_done || inflight > 0) {
        while (!input_done && inflight < nbatches) {
            batch *b = &batches[head];
            batch_reset(b);
            while (b->njobs < BATCH_SERIES) {
                rc = codec_series_iter_next(it, err);
                if (rc == ST_ITEROVER) {
                    input_done = 1;
                    rc = 0;
                    break;
                }
                if (rc || (rc = add_job(b, codec_series_iter_at(it), err)))
                    goto drain;
            }
            if (b->njobs == 0)
                break;
            inflight++;
            head = (head + 1) % nbatches;
            if (pool)
                st_pool_submit(pool, run_batch, b);
            else
                run_batch(b);
        }
        if (inflight == 0)
            break;
        batch *b = &batches[tail];
        pthread_mutex_lock(&d.mu);
        while (!b->done)
            pthread_cond_wait(&d.cv, &d.mu);
        pthread_mutex_unlock(&d.mu);
        if (b->rc) {
            rc = st_err_copy(err, &b->err);
            goto drain;
        }
        if ((rc = write_batch(&d, &w, b, st, err)))
            goto drain;
        inflight--;
        tail = (tail + 1) % nbatches;
    }
    if (pool) {
        st_pool_wait(pool);
        st_pool_free(pool);
        pool = NULL;
    }
    /* every output complete and checked before any is published; the first's index, whose
     * postings the others write, last */
    for (size_t k = w.nout; k-- > 0;)
        if ((rc = finish_output(in, &w.out[k], o, err)))
            goto done;
    for (size_t k = 0; k < w.nout; k++)
        if ((rc = publish_output(&w.out[k], err)))
            goto done;
    for (size_t k = 0; k < w.nout; k++) {
        downsample_out *so = &st->out[st->nout++];
        so->resolution = w.out[k].res;
        so->ulid = w.out[k].id;
        snprintf(so->dir, sizeof(so->dir), "%s", w.out[k].dir);
        so->series = w.out[k].series;
        so->chunks = w.out[k].chunks;
        so->samples = w.out[k].samples;
    }
    if (w.nout)
        rc = st_fsync_dir(out_dir, err);
    if (!rc && (st->hist_chunks_skipped || st->empty_xor_skipped)) {
        char a[32], b2[32], c[32];
        snprintf(a, sizeof(a), "%" PRIu64, st->hist_series_skipped);
        snprintf(b2, sizeof(b2), "%" PRIu64, st->hist_chunks_skipped);
        snprintf(c, sizeof(c), "%" PRIu64, st->empty_xor_skipped);
        st_log(ST_LOG_WARN,
               "downsample: native histogram chunks are not downsampled (skipped); empty chunks "
               "skipped",
               "block", in->meta->ulid.s, "histogram_only_series", a, "histogram_chunks", b2,
               "empty_chunks", c, NULL);
    }
    goto done;

drain:
    if (pool)
        st_pool_wait(pool);
done:
    if (pool) {
        st_pool_wait(pool);
        st_pool_free(pool);
    }
    progress_end(d.prog);
    codec_series_iter_free(it);
    for (size_t k = 0; k < w.nout; k++) {
        output *x = &w.out[k];
        codec_chunk_writer_free(x->cw);
        codec_index_writer_free(x->iw);
        st_err ignored;
        st_err_init(&ignored);
        if (x->tmp)
            st_rmtree(x->tmp, &ignored); /* after a rename there is nothing left here */
        if (rc && x->published)
            st_rmtree(x->dir, &ignored); /* all or nothing */
        st_free(x->tmp);
        st_free(x->dir);
    }
    for (size_t i = 0; batches && i < nbatches; i++) {
        st_arena_release(&batches[i].arena);
        for (size_t k = 0; k < DOWNSAMPLE_MAX_RES; k++)
            st_arena_release(&batches[i].records[k]);
        sc_release(&batches[i].sc);
        st_free(batches[i].jobs);
    }
    st_free(batches);
    st_free(w.chks);
    st_free(w.metas);
    st_free(w.refs);
    pthread_mutex_destroy(&d.mu);
    pthread_cond_destroy(&d.cv);
    st->seconds = (double)(st_mono_ns() - t0) / 1e9;
    if (rc)
        st->nout = 0;
    return rc;
}
