/*
 * ds_window.c - the windowing kernels of downsampling (downsample.c): one batch of samples into
 * its windows' count, sum, min, max and running counter, as Thanos' downsampleBatch computes
 * them, bit for bit.
 *
 * Thanos adds in sample order, one float add after another, and so must we: a float sum depends
 * on the order of its terms. That chain of adds is what bounds the scalar kernel (a few cycles a
 * sample, whatever the width of the machine). Most series hold integers, though (request counts,
 * bytes, goroutines): when every term and every partial sum is an integer of magnitude at most
 * 2^53, each add is exact, so any order gives Thanos' result to the bit. The exact kernel proves
 * that per window, sums the window in vector lanes, and hands the batch to the scalar kernel at
 * the first window it cannot prove; the scalar kernel goes on from the same state.
 */
#include "compactor_int.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define EXACT_AVX2 1
#endif

static inline int64_t next_window_end(int64_t wend, int64_t t, int64_t res)
{
    return wend >= 0 && t > wend && t - wend <= res && wend <= INT64_MAX - res
               ? wend + res
               : ds_window_end(t, res);
}

/* What the counter subtracts from x after last: last, or +0 when x is below it (a reset).
 * `x - reset_base(x, last)` is Go's `if x < last { x } else { x - last }` to the bit (x - +0 is
 * x, -0 included; an unordered pair takes the else side in both). It is a mask, not a jump:
 * gauges go down half the time, which no branch predictor guesses, and compilers turn the
 * plain ?: into a jump. */
static inline double reset_base(double x, double last)
{
#if defined(__SSE2__)
    __m128d vx = _mm_set_sd(x), vl = _mm_set_sd(last);
    return _mm_cvtsd_f64(_mm_and_pd(_mm_cmpnlt_sd(vx, vl), vl));
#else
    uint64_t u, m = (uint64_t)0 - (uint64_t) !(x < last);
    memcpy(&u, &last, sizeof(u));
    u &= m;
    memcpy(&last, &u, sizeof(u));
    return last;
#endif
}

void ds_windows_begin(ds_wstate *s, const double *v, int sorted)
{
    *s = (ds_wstate){.i = 0, .k = 0, .len = 1, .sorted = sorted, .counter = v[0], .wend = -1};
}

/* Where the window holding t[i] ends, and its samples [i, *e): up to its end, or all the rest
 * when the batch ends first. A window other than the batch's last is known to end before the
 * batch does (t[n - 1] > end stops the scan). Scraped series fill their windows alike: with t
 * sorted, a window as long as the one before (len) is checked with two loads, and only a
 * window of another length is scanned for. */
static inline int64_t window_span(const int64_t *t, size_t n, size_t i, int64_t end, size_t len,
                                  int sorted, size_t *e)
{
    if (end >= t[n - 1]) {
        *e = n;
        return t[n - 1];
    }
    size_t j = i + len;
    if (sorted && j < n && t[j] > end && t[j - 1] <= end) {
        *e = j;
        return end;
    }
    j = i + 1; /* a window's first sample always belongs to it */
    while (t[j] <= end)
        j++;
    *e = j;
    return end;
}

static inline void put_window(const ds_wout *o, size_t k, int64_t end, size_t count, double sum,
                              double mn, double mx, double counter)
{
    o->t[k] = end;
    o->count[k] = (double)count;
    o->sum[k] = sum;
    o->min[k] = mn;
    o->max[k] = mx;
    o->counter[k] = counter;
}

/* Go's comparisons are kept as they are: min starts at MaxFloat64 (so an all +Inf window has min
 * MaxFloat64), a NaN never replaces min or max but makes sum NaN, and the first of two equal (0
 * and -0) values wins. No branch depends on a value (see reset_base). */
static inline __attribute__((always_inline)) void windows_body(const int64_t *t, const double *v,
                                                               size_t n, int64_t res,
                                                               const ds_wout *o, ds_wstate *s)
{
    size_t k = s->k, i = s->i, len = s->len;
    double counter = s->counter, last = v[i ? i - 1 : 0]; /* the previous sample's */
    int64_t wend = s->wend;
#define DS_ADD(x)                                                                                  \
    do {                                                                                           \
        double x_ = (x);                                                                           \
        counter += x_ - reset_base(x_, last);                                                      \
        last = x_;                                                                                 \
        sum += x_;                                                                                 \
        mn = x_ < mn ? x_ : mn;                                                                    \
        mx = x_ > mx ? x_ : mx;                                                                    \
    } while (0)
    while (i < n) {
        size_t e;
        wend = next_window_end(wend, t[i], res);
        int64_t end = window_span(t, n, i, wend, len, s->sorted, &e);
        double sum = 0.0, mn = DBL_MAX, mx = -DBL_MAX;
        size_t s0 = i;
        len = e - i;
        if (i == 0) { /* the batch's first sample sets the counter */
            sum += v[0];
            mn = v[0] < mn ? v[0] : mn;
            mx = v[0] > mx ? v[0] : mx;
            i++;
        }
        for (; i < e; i++)
            DS_ADD(v[i]);
        if (end == -1 && i < n)
            continue; /* Go takes -1 for "no window yet" and drops such a window */
        put_window(o, k++, end, i - s0, sum, mn, mx, counter);
    }
#undef DS_ADD
    s->i = i;
    s->k = k;
    s->len = len;
    s->counter = counter;
    s->wend = wend;
}

#ifdef EXACT_AVX2
/* The same loop in VEX encoding: three-operand min, max and adds need no register copies (the
 * SSE build spends a third of its instructions on them). No FMA: nothing may be contracted. */
__attribute__((target("avx2"))) static void windows_avx2(const int64_t *t, const double *v,
                                                         size_t n, int64_t res, const ds_wout *o,
                                                         ds_wstate *s)
{
    windows_body(t, v, n, res, o, s);
}
#endif

void ds_windows_base(const int64_t *t, const double *v, size_t n, int64_t res, const ds_wout *o,
                     ds_wstate *s)
{
    windows_body(t, v, n, res, o, s);
}

void ds_windows(const int64_t *t, const double *v, size_t n, int64_t res, const ds_wout *o,
                ds_wstate *s)
{
#ifdef EXACT_AVX2
    if (__builtin_cpu_supports("avx2")) {
        windows_avx2(t, v, n, res, o, s);
        return;
    }
#endif
    ds_windows_base(t, v, n, res, o, s);
}

/* ---- the exact kernel ----------------------------------------------------------------------- */

typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));

#define ROUNDER                                                                                    \
    6755399441055744.0 /* 1.5 * 2^52: (x + it) - it rounds |x| <= 2^51 to an integer               \
                        */
#define ABS_MASK 0x7fffffffffffffffll

/* a where mask m is set, else b (macros: a function returning a 32-byte vector has an ABI of
 * its own without AVX) */
#define VPICK(m, a, b) ((v4d)(((v4i)(a) & (m)) | ((v4i)(b) & ~(m))))

static inline uint64_t bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof(u));
    return u;
}

/* Nonzero unless x is an integer, not -0 (or an infinity or a NaN, which the callers rule out
 * otherwise). */
static inline uint64_t inexact(double x)
{
    double r = (x + ROUNDER) - ROUNDER;
    return bits(r) ^ bits(x);
}

/* Four whole windows of L samples each, the first starting at sample i > 0 and ending at w,
 * the others right after it (ends w + res, w + 2 res, w + 3 res), windowed at once: one vector
 * lane a window, the samples of all four taken in step, so no window pays for reducing its
 * lanes. Only when all four are proven exact (see exact_body) does it write them, as windows
 * k .. k + 3 with the counter carried on, and return 1. */
static inline __attribute__((always_inline)) int exact_group4(const double *v, size_t i, size_t L,
                                                              int64_t w, int64_t res, double lim,
                                                              const ds_wout *o, size_t k,
                                                              double *counter)
{
    const v4d vr = {ROUNDER, ROUNDER, ROUNDER, ROUNDER};
    const double *b0 = v + i, *b1 = b0 + L, *b2 = b1 + L, *b3 = b2 + L;
    v4d vs = {0, 0, 0, 0}, vd = {0, 0, 0, 0};
    v4d vmn = {DBL_MAX, DBL_MAX, DBL_MAX, DBL_MAX};
    v4d vmx = {-DBL_MAX, -DBL_MAX, -DBL_MAX, -DBL_MAX};
    v4i bad = {0, 0, 0, 0};
    v4d p = {b0[-1], b1[-1], b2[-1], b3[-1]};
    for (size_t j = 0; j < L; j++) {
        v4d x = {b0[j], b1[j], b2[j], b3[j]};
        bad |= (v4i)((x + vr) - vr) ^ (v4i)x;
        vs += x;
        vmn = VPICK(x < vmn, x, vmn);
        vmx = VPICK(x > vmx, x, vmx);
        vd += x - (v4d)((v4i)p & (x >= p));
        p = x;
    }
    v4i ok = (bad == 0) & (vs == vs) & (vmn >= -lim) & (vmx <= lim);
    if (!(ok[0] & ok[1] & ok[2] & ok[3]))
        return 0;
    double c = *counter;
    for (int l = 0; l < 4; l++) {
        c += vd[l];
        put_window(o, k + (size_t)l, w + l * res, L, vs[l], vmn[l], vmx[l], c);
    }
    *counter = c;
    return 1;
}

#ifdef EXACT_AVX2
/* exact_group4 in AVX2 proper (the vector extensions above leave GCC picking lanes one at a
 * time): the four windows' samples are loaded four at a time from each window and transposed,
 * min and max are vminpd and vmaxpd (x < m ? x : m, which is VPICK's pick: no NaN or signed
 * zero gets this far), the counter sums only what its steps subtract (the step sum is then the
 * value sum less that: all exact integers), and the four windows go out as one vector store per
 * array. */
__attribute__((target("avx2"))) static int exact_group4_avx2(const double *v, size_t i, size_t L,
                                                             int64_t w, int64_t res, double lim,
                                                             const ds_wout *o, size_t k,
                                                             double *counter)
{
    const __m256d vr = _mm256_set1_pd(ROUNDER);
    const double *b0 = v + i, *b1 = b0 + L, *b2 = b1 + L, *b3 = b2 + L;
    __m256d vs = _mm256_setzero_pd(), vq = _mm256_setzero_pd();
    __m256d vmn = _mm256_set1_pd(DBL_MAX), vmx = _mm256_set1_pd(-DBL_MAX);
    __m256d bad = _mm256_setzero_pd();
    __m256d p = _mm256_setr_pd(b0[-1], b1[-1], b2[-1], b3[-1]);
/* One sample of each window into bad, min and max; sets Q to its counter step's subtrahend
 * (the sample before it where that is not above it, else 0). */
#define EXACT_STEP(x, Q)                                                                           \
    do {                                                                                           \
        __m256d x_ = (x);                                                                          \
        bad = _mm256_or_pd(bad, _mm256_xor_pd(_mm256_sub_pd(_mm256_add_pd(x_, vr), vr), x_));      \
        vmn = _mm256_min_pd(x_, vmn);                                                              \
        vmx = _mm256_max_pd(x_, vmx);                                                              \
        Q = _mm256_and_pd(p, _mm256_cmp_pd(x_, p, _CMP_GE_OQ));                                    \
        p = x_;                                                                                    \
    } while (0)
    size_t j = 0;
    /* the four samples' values and subtrahends are added in pairs before they go into vs and
     * vq: one add per four samples on each sum's chain instead of four (exact integers: the
     * order is free), and registers enough that GCC no longer keeps vq on the stack */
    for (; j + 4 <= L; j += 4) {
        __m256d r0 = _mm256_loadu_pd(b0 + j), r1 = _mm256_loadu_pd(b1 + j);
        __m256d r2 = _mm256_loadu_pd(b2 + j), r3 = _mm256_loadu_pd(b3 + j);
        __m256d lo01 = _mm256_unpacklo_pd(r0, r1), hi01 = _mm256_unpackhi_pd(r0, r1);
        __m256d lo23 = _mm256_unpacklo_pd(r2, r3), hi23 = _mm256_unpackhi_pd(r2, r3);
        __m256d x0 = _mm256_permute2f128_pd(lo01, lo23, 0x20);
        __m256d x1 = _mm256_permute2f128_pd(hi01, hi23, 0x20);
        __m256d x2 = _mm256_permute2f128_pd(lo01, lo23, 0x31);
        __m256d x3 = _mm256_permute2f128_pd(hi01, hi23, 0x31);
        __m256d q0, q1, q2, q3;
        EXACT_STEP(x0, q0);
        EXACT_STEP(x1, q1);
        EXACT_STEP(x2, q2);
        EXACT_STEP(x3, q3);
        vs = _mm256_add_pd(vs, _mm256_add_pd(_mm256_add_pd(x0, x1), _mm256_add_pd(x2, x3)));
        vq = _mm256_add_pd(vq, _mm256_add_pd(_mm256_add_pd(q0, q1), _mm256_add_pd(q2, q3)));
    }
    for (; j < L; j++) {
        __m256d x = _mm256_setr_pd(b0[j], b1[j], b2[j], b3[j]), q;
        EXACT_STEP(x, q);
        vs = _mm256_add_pd(vs, x);
        vq = _mm256_add_pd(vq, q);
    }
#undef EXACT_STEP
    __m256d ok = _mm256_and_pd(
        _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_castpd_si256(bad), _mm256_setzero_si256())),
        _mm256_and_pd(_mm256_cmp_pd(vs, vs, _CMP_EQ_OQ),
                      _mm256_and_pd(_mm256_cmp_pd(vmn, _mm256_set1_pd(-lim), _CMP_GE_OQ),
                                    _mm256_cmp_pd(vmx, _mm256_set1_pd(lim), _CMP_LE_OQ))));
    if (_mm256_movemask_pd(ok) != 0xF)
        return 0;
    /* the counter after each window: *counter plus the running sum of the steps */
    __m256d d = _mm256_sub_pd(vs, vq);
    d = _mm256_add_pd(d, _mm256_castsi256_pd(_mm256_slli_si256(_mm256_castpd_si256(d), 8)));
    d = _mm256_add_pd(d, _mm256_blend_pd(_mm256_setzero_pd(), _mm256_permute4x64_pd(d, 0x55), 0xC));
    d = _mm256_add_pd(d, _mm256_set1_pd(*counter));
    _mm256_storeu_pd(o->counter + k, d);
    *counter = _mm256_cvtsd_f64(_mm256_permute4x64_pd(d, 0xFF));
    _mm256_storeu_pd(o->count + k, _mm256_set1_pd((double)L));
    _mm256_storeu_pd(o->sum + k, vs);
    _mm256_storeu_pd(o->min + k, vmn);
    _mm256_storeu_pd(o->max + k, vmx);
    _mm256_storeu_si256(
        (__m256i *)(void *)(o->t + k),
        _mm256_add_epi64(_mm256_set1_epi64x(w), _mm256_setr_epi64x(0, res, 2 * res, 3 * res)));
    return 1;
}
#endif

static inline __attribute__((always_inline)) int group4(const double *v, size_t i, size_t L,
                                                        int64_t w, int64_t res, double lim,
                                                        const ds_wout *o, size_t k, double *counter,
                                                        int avx2)
{
#ifdef EXACT_AVX2
    if (avx2)
        return exact_group4_avx2(v, i, L, w, res, lim, o, k, counter);
#endif
    (void)avx2;
    return exact_group4(v, i, L, w, res, lim, o, k, counter);
}

/* Whether the four windows of exact_group4 are there: L samples in each of the windows ending
 * at w, w + res, w + 2 res and w + 3 res, and one more sample after them (so that none is the
 * batch's last window, whose stamp is its last sample's). t ascends. */
static inline int group_fits(const int64_t *t, size_t n, size_t i, size_t L, int64_t w, int64_t res)
{
    if (i + 4 * L >= n || res > INT64_MAX / 4 || w > INT64_MAX - 4 * res)
        return 0;
    int fits = 1;
    for (size_t l = 1; l <= 4; l++) {
        int64_t end = w + (int64_t)(l - 1) * res;
        fits &= (t[i + l * L - 1] <= end) & (t[i + l * L] > end);
    }
    return fits;
}

/* The windows of [s->i, n) from a fresh state, as long as each is proven exact: every value an
 * integer (not -0) of magnitude at most lim = 2^53 / (2n + 2). Then every partial sum, of the
 * window's values and of the counter's steps (each at most 2 lim), stays within 2^53 in any
 * order, and the window's count, sum, min and max (no NaN, no signed zero: order-free) and the
 * counter after it are exactly ds_windows' (reset_base's mask is the same mask here). The proof
 * per window: (x + 1.5 * 2^52) - 1.5 * 2^52 is x, bit for bit, for every value (integers and
 * infinities and some NaNs pass; -0 and fractions fail), its sum is not NaN (no NaN went in),
 * and -lim <= min, max <= lim (no infinity either). Stops at the first window it cannot prove,
 * leaving the state at that window's start. */
static inline __attribute__((always_inline)) void exact_body(const int64_t *t, const double *v,
                                                             size_t n, int64_t res,
                                                             const ds_wout *o, ds_wstate *s,
                                                             int avx2)
{
    const double lim = 9007199254740992.0 / (2.0 * (double)n + 2.0);
    const v4d vr = {ROUNDER, ROUNDER, ROUNDER, ROUNDER};
    size_t k = s->k, i = s->i, len = s->len;
    double counter = s->counter;
    int64_t wend = s->wend;
    while (i < n) {
        size_t e;
        int64_t w, end;
        int four;
        if (i > 0 && s->sorted && wend >= 0 && wend <= INT64_MAX - res && t[i] > wend &&
            group_fits(t, n, i, len, wend + res, res)) {
            /* four windows as long as the last right after it (a group after a group): the
             * window after wend holds t[i] (t[i] <= its end as the group fits), and group_fits
             * has checked the spans window_span would find */
            w = end = wend + res;
            e = i + len;
            four = 1;
        } else {
            w = next_window_end(wend, t[i], res);
            end = window_span(t, n, i, w, len, s->sorted, &e);
            four = i > 0 && s->sorted && end == w && w >= 0 && group_fits(t, n, i, e - i, w, res);
        }
        /* scraped series fill their windows alike: four at a time where they do */
        if (four && group4(v, i, e - i, w, res, lim, o, k, &counter, avx2)) {
            len = e - i;
            i += 4 * len;
            k += 4;
            wend = w + 3 * res;
            continue;
        }
        v4d vs = {0, 0, 0, 0}, vd = {0, 0, 0, 0};
        v4d vmn = {DBL_MAX, DBL_MAX, DBL_MAX, DBL_MAX};
        v4d vmx = {-DBL_MAX, -DBL_MAX, -DBL_MAX, -DBL_MAX};
        v4i bad = {0, 0, 0, 0};
        double sum = 0.0, mn = DBL_MAX, mx = -DBL_MAX, d = 0.0;
        uint64_t sbad = 0;
        size_t j = i;
        if (j == 0) { /* the batch's first sample: no counter step */
            sbad |= inexact(v[0]);
            sum = mn = mx = v[0];
            j = 1;
        }
        for (; j + 4 <= e; j += 4) {
            v4d x, p;
            memcpy(&x, v + j, sizeof(x));
            memcpy(&p, v + j - 1, sizeof(p));
            bad |= (v4i)((x + vr) - vr) ^ (v4i)x;
            vs += x;
            vmn = VPICK(x < vmn, x, vmn);
            vmx = VPICK(x > vmx, x, vmx);
            vd += x - (v4d)((v4i)p & (x >= p));
        }
        for (; j < e; j++) {
            double x = v[j];
            sbad |= inexact(x);
            sum += x;
            mn = x < mn ? x : mn;
            mx = x > mx ? x : mx;
            d += x - reset_base(x, v[j - 1]);
        }
        sum += (vs[0] + vs[1]) + (vs[2] + vs[3]);
        d += (vd[0] + vd[1]) + (vd[2] + vd[3]);
        for (int l = 0; l < 4; l++) {
            mn = vmn[l] < mn ? vmn[l] : mn;
            mx = vmx[l] > mx ? vmx[l] : mx;
        }
        if ((sbad | (uint64_t)(bad[0] | bad[1] | bad[2] | bad[3])) || sum != sum || !(mn >= -lim) ||
            !(mx <= lim))
            break;
        counter += d;
        wend = w;
        size_t s0 = i;
        len = e - i;
        i = e;
        if (end == -1 && i < n)
            continue; /* as ds_windows */
        put_window(o, k++, end, i - s0, sum, mn, mx, counter);
    }
    s->i = i;
    s->k = k;
    s->len = len;
    s->counter = counter;
    s->wend = wend;
}

void ds_windows_exact_base(const int64_t *t, const double *v, size_t n, int64_t res,
                           const ds_wout *o, ds_wstate *s)
{
    exact_body(t, v, n, res, o, s, 0);
}

#ifdef EXACT_AVX2
__attribute__((target("avx2"))) static void exact_avx2(const int64_t *t, const double *v, size_t n,
                                                       int64_t res, const ds_wout *o, ds_wstate *s)
{
    exact_body(t, v, n, res, o, s, 1);
}
#endif

void ds_windows_exact(const int64_t *t, const double *v, size_t n, int64_t res, const ds_wout *o,
                      ds_wstate *s)
{
#ifdef EXACT_AVX2
    if (__builtin_cpu_supports("avx2")) {
        exact_avx2(t, v, n, res, o, s);
        return;
    }
#endif
    ds_windows_exact_base(t, v, n, res, o, s);
}

/* One tight loop per op over the window's span, found first. */
size_t ds_window_reduce(const int64_t *t, const double *v, size_t n, int64_t res, int op,
                        int sorted, int64_t *wt, double *out)
{
    size_t k = 0, i = 0, len = 1;
    double counter = v[0], last = v[0];
    int64_t wend = -1;
    while (i < n) {
        size_t e;
        wend = next_window_end(wend, t[i], res);
        int64_t end = window_span(t, n, i, wend, len, sorted, &e);
        len = e - i;
        double acc = op == DS_REDUCE_MIN ? DBL_MAX : op == DS_REDUCE_MAX ? -DBL_MAX : 0.0;
        switch (op) {
        case DS_REDUCE_SUM:
            for (; i < e; i++)
                acc += v[i];
            break;
        case DS_REDUCE_MIN:
            for (; i < e; i++)
                acc = v[i] < acc ? v[i] : acc;
            break;
        case DS_REDUCE_MAX:
            for (; i < e; i++)
                acc = v[i] > acc ? v[i] : acc;
            break;
        default:
            if (i == 0)
                i = 1; /* the first sample sets the counter */
            for (; i < e; i++) {
                counter += v[i] - reset_base(v[i], last);
                last = v[i];
            }
            acc = counter;
        }
        if (end == -1 && i < n)
            continue; /* as ds_windows */
        wt[k] = end;
        out[k++] = acc;
    }
    return k;
}

/* The four of ds_window_reduce on shared, ascending stamps (n >= 1): sums of v[0] and v[1],
 * min of v[2], max of v[3], each in ds_window_reduce's order, one scan for the windows. */
size_t ds_window_reduce4(const int64_t *t, const double *const v[4], size_t n, int64_t res,
                         int64_t *wt, double *const out[4])
{
    size_t k = 0, i = 0, len = 1;
    int64_t wend = -1;
    while (i < n) {
        size_t e;
        wend = next_window_end(wend, t[i], res);
        int64_t end = window_span(t, n, i, wend, len, 1, &e);
        len = e - i;
        double c = 0.0, s = 0.0, mn = DBL_MAX, mx = -DBL_MAX;
        for (; i < e; i++) {
            c += v[0][i];
            s += v[1][i];
            mn = v[2][i] < mn ? v[2][i] : mn;
            mx = v[3][i] > mx ? v[3][i] : mx;
        }
        if (end == -1 && i < n)
            continue; /* as ds_windows */
        wt[k] = end;
        out[0][k] = c;
        out[1][k] = s;
        out[2][k] = mn;
        out[3][k++] = mx;
    }
    return k;
}

#define RISING_TOP 2251799813685248.0 /* 2^51, up to where inexact() is exact */

/* Whether samples [i, m) (i >= 1) rise as ds_counter_windows_rising needs: each stamp above the
 * one before, each value an integer (inexact) and not below the one before (a NaN fails that
 * too). */
static int rising_tail(const int64_t *t, const double *v, size_t i, size_t m)
{
    uint64_t bad = 0;
    for (; i < m; i++)
        bad |= inexact(v[i]) | (uint64_t) !(v[i] >= v[i - 1]) | (uint64_t)(t[i] <= t[i - 1]);
    return !bad;
}

#ifdef EXACT_AVX2
/* rising_tail from 1, four samples a step. */
__attribute__((target("avx2"))) static int rising_avx2(const int64_t *t, const double *v, size_t m)
{
    const __m256d vr = _mm256_set1_pd(ROUNDER);
    __m256i bad = _mm256_setzero_si256(), ok = _mm256_set1_epi64x(-1);
    size_t i = 1;
    for (; i + 4 <= m; i += 4) {
        __m256d x = _mm256_loadu_pd(v + i), p = _mm256_loadu_pd(v + i - 1);
        __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(t + i));
        __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(t + i - 1));
        __m256d r = _mm256_sub_pd(_mm256_add_pd(x, vr), vr);
        bad = _mm256_or_si256(bad, _mm256_castpd_si256(_mm256_xor_pd(r, x)));
        ok = _mm256_and_si256(ok, _mm256_castpd_si256(_mm256_cmp_pd(x, p, _CMP_GE_OQ)));
        ok = _mm256_and_si256(ok, _mm256_cmpgt_epi64(u, q));
    }
    return _mm256_testz_si256(bad, bad) && _mm256_testc_si256(ok, _mm256_set1_epi64x(-1)) &&
           rising_tail(t, v, i, m);
}
#endif

/* Samples [0, m) (m >= 1) rise: rising_tail, the first value an integer too, and (with the
 * values rising) the first and the last within 2^51. */
static int rising(const int64_t *t, const double *v, size_t m, int avx2)
{
    if (inexact(v[0]) || !(v[0] >= -RISING_TOP && v[m - 1] <= RISING_TOP))
        return 0;
#ifdef EXACT_AVX2
    if (avx2)
        return rising_avx2(t, v, m);
#endif
    (void)avx2;
    return rising_tail(t, v, 1, m);
}

/* ds_counter_windows for counters that only count: stamps that ascend from 0 on and values
 * that are integers (not -0) of magnitude at most 2^51 and never go down, the last sample
 * excepted when it repeats the stamp before it (it only sets the last value, and need only not
 * be a NaN). That is the counter aggregate of a 5m block of a counter, or of a gauge of
 * non-negative integers. Then each increase is exact and so is each running total: every total
 * is its value, every running counter the last total, and each window's counter is the last
 * value in it, bit for bit what ds_counter_windows' loop computes with its adds. SIZE_MAX when
 * the samples are not such, or fewer than two. */
static size_t counter_windows_rising(const int64_t *t, const double *v, size_t n, int64_t res,
                                     int64_t *ot, double *ov, int avx2)
{
    if (n < 2)
        return SIZE_MAX;
    size_t m = t[n - 1] == t[n - 2] ? n - 1 : n; /* the samples that each make a total */
    if (t[0] < 0 || v[n - 1] != v[n - 1] || !rising(t, v, m, avx2))
        return SIZE_MAX;
    int64_t wend = next_window_end(-1, t[0], res);
    size_t k = 0;
    ot[k] = t[0]; /* the first raw value, kept */
    ov[k++] = v[0];
    /* each window from its first sample s to the first stamp past wend (window_span) */
    for (size_t s = 0, len = 1;;) {
        size_t e;
        window_span(t, m, s, wend, len, 1, &e);
        if (e == m)
            break;
        if (wend != -1) {
            ot[k] = wend;
            ov[k++] = v[e - 1];
        }
        wend = next_window_end(wend, t[e], res);
        len = e - s;
        s = e;
    }
    ot[k] = t[m - 1]; /* the last window, stamped with its last sample */
    ov[k++] = v[m - 1];
    ot[k] = t[m - 1]; /* the true last value, kept */
    ov[k++] = v[n - 1];
    return k;
}

size_t ds_counter_windows_rising(const int64_t *t, const double *v, size_t n, int64_t res,
                                 int64_t *ot, double *ov)
{
#ifdef EXACT_AVX2
    if (__builtin_cpu_supports("avx2"))
        return counter_windows_rising(t, v, n, res, ot, ov, 1);
#endif
    return counter_windows_rising(t, v, n, res, ot, ov, 0);
}

size_t ds_counter_windows_rising_base(const int64_t *t, const double *v, size_t n, int64_t res,
                                      int64_t *ot, double *ov)
{
    return counter_windows_rising(t, v, n, res, ot, ov, 0);
}

size_t ds_counter_windows(const int64_t *t, const double *v, size_t n, int64_t res, int64_t *ot,
                          double *ov)
{
    size_t quick = ds_counter_windows_rising(t, v, n, res, ot, ov);
    if (quick != SIZE_MAX)
        return quick;
    size_t i = 0;
    while (i < n && isnan(v[i]))
        i++;
    if (i == n)
        return 0;
    if (t[i] < 0)
        return SIZE_MAX;
    /* the total (lt, lv, tv: ApplyCounterResetsSeriesIterator's state) and, over the totals,
     * ds_window_reduce's counter (counter, last) in the window ending at wend */
    int64_t lt = t[i], wend = next_window_end(-1, lt, res);
    double lv = v[i], tv = lv, counter = tv, last = tv;
    size_t k = 0;
    ot[k] = lt; /* the first raw value, kept */
    ov[k++] = tv;
    for (i++; i < n; i++) {
        int64_t x = t[i];
        double y = v[i];
        if (isnan(y))
            continue;
        if (x <= lt) {
            if (x == lt)
                lv = y;
            continue;
        }
        tv += y >= lv ? y - lv : y;
        lt = x;
        lv = y;
        if (x > wend) {
            /* the window before ends (stamped with its end, dropped if that is Go's "none") */
            if (wend != -1) {
                ot[k] = wend;
                ov[k++] = counter;
            }
            wend = next_window_end(wend, x, res);
        }
        counter += tv - reset_base(tv, last);
        last = tv;
    }
    ot[k] = lt; /* the last window, stamped with its last sample */
    ov[k++] = counter;
    ot[k] = lt; /* the true last value, kept */
    ov[k++] = lv;
    return k;
}
