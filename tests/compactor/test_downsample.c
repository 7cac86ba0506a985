/*
 * test_downsample.c - Thanos' downsampling rules pinned by tables: raw -> R (windows aligned to
 * R, stamped min(window end, last sample of the batch); count, sum, min, max; the batch-wide
 * counter with the first raw sample in front and the last window repeated with the last raw
 * value; stale and other NaNs dropped; batches that never split a window) and R1 -> R2 over
 * aggregate chunks (counts summed, the counter re-read across chunk boundaries with its resets).
 * Expected values are worked out from the algorithm; the cases named "thanos:" are the vectors
 * of Thanos' own downsample_test.go, which these rules must reproduce. Properties on random
 * series: counters read back through the reset-aware reader give the raw increase at every
 * window, and 5m -> 1h agrees with raw -> 1h hour by hour.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct smp {
    int64_t t;
    double v;
} smp;

typedef struct list {
    const smp *s;
    size_t n;
} list;

#define L(...)                                                                                     \
    {                                                                                              \
        (const smp[]){__VA_ARGS__}, sizeof((const smp[]){__VA_ARGS__}) / sizeof(smp)               \
    }
#define NONE                                                                                       \
    {                                                                                              \
        NULL, 0                                                                                    \
    }
/* stands for Prometheus' stale marker in the tables (a NaN with a payload: no constant) */
#define STALE (-1.2345e-300)

static double stale_nan(void)
{
    uint64_t u = 0x7ff0000000000002ull;
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static int same_value(double want, double got)
{
    if (isnan(want))
        return isnan(got);
    return memcmp(&want, &got, sizeof(double)) == 0; /* bits: -0 is not 0 */
}

/* One raw chunk's samples into t/v at *n, expanded as Thanos expands a chunk. */
static void load_chunk(const list *in, int64_t *t, double *v, size_t *n)
{
    for (size_t i = 0; i < in->n; i++) {
        t[*n + i] = in->s[i].t;
        v[*n + i] = in->s[i].v == STALE ? stale_nan() : in->s[i].v;
    }
    *n += ds_expand(t + *n, v + *n, in->n, t + *n, v + *n);
}

static void expect_chunks(const char *name, const ds_chunks *got, size_t nwant,
                          const list want[][CODEC_AGGR_N])
{
    if (got->nchunks != nwant)
        fail_msg("%s: %zu chunks, want %zu", name, got->nchunks, nwant);
    for (size_t c = 0; c < nwant; c++) {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            const list *w = &want[c][a];
            size_t from = got->off[a][c], n = got->off[a][c + 1] - from;
            if (n != w->n)
                fail_msg("%s: chunk %zu %s: %zu samples, want %zu", name, c, codec_aggr_name(a), n,
                         w->n);
            for (size_t i = 0; i < n; i++) {
                int64_t t = got->t[a][from + i];
                double v = got->v[a][from + i];
                if (t != w->s[i].t || !same_value(w->s[i].v, v))
                    fail_msg("%s: chunk %zu %s sample %zu is (%lld, %.17g), want (%lld, %.17g)",
                             name, c, codec_aggr_name(a), i, (long long)t, v, (long long)w->s[i].t,
                             w->s[i].v);
                if (a != CODEC_AGGR_COUNTER || (i > 0 && i + 1 < n)) {
                    lo = t < lo ? t : lo;
                    hi = t > hi ? t : hi;
                }
            }
        }
        if (lo != INT64_MAX && (got->mint[c] != lo || got->maxt[c] != hi))
            fail_msg("%s: chunk %zu meta [%lld, %lld], want the window stamps [%lld, %lld]", name,
                     c, (long long)got->mint[c], (long long)got->maxt[c], (long long)lo,
                     (long long)hi);
    }
}

/* Thanos' ApplyCounterResetsSeriesIterator over the counter sub-chunks of chunks [c0, c1),
 * written again here as the querier reads it: (t, total) pairs into out, returns how many. */
static size_t read_counter(const ds_chunks *c, size_t c0, size_t c1, smp *out)
{
    size_t n = 0;
    int started = 0;
    int64_t lt = 0;
    double lv = 0, total = 0;
    const int a = CODEC_AGGR_COUNTER;
    for (size_t i = c->off[a][c0]; i < c->off[a][c1]; i++) {
        int64_t t = c->t[a][i];
        double v = c->v[a][i];
        if (isnan(v))
            continue;
        if (!started) {
            started = 1;
            total = v;
        } else if (t > lt) {
            total += v >= lv ? v - lv : v;
        } else {
            if (t == lt)
                lv = v;
            continue;
        }
        lt = t;
        lv = v;
        out[n++] = (smp){t, total};
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Chunk count, expansion.
 */
static int64_t chunk_count_loop(int64_t mint, int64_t maxt, int64_t in_res, int64_t out_res,
                                int64_t count)
{
    double max_samples = (double)((maxt - mint) / out_res);
    double f = (double)count / ((double)(maxt - mint) / (double)in_res);
    if (f > 1)
        f = 1;
    int64_t exp = (int64_t)(max_samples * f) + 1;
    int64_t x;
    for (x = 1; exp / x > 140; x++)
        ;
    return x;
}

static void downsample__counts_chunks_as_thanos_target_chunk_count(void **state)
{
    typedef struct cc {
        const char *name;
        int64_t mint, maxt, in_res, out_res, count, want;
    } cc;
    static const cc cases[] = {
        {"one sample", 5, 5, 60000, 300000, 1, 1},
        {"2h at 15s to 5m", 0, 7199999, 60000, 300000, 480, 1},
        {"11h40m at 1m to 5m: 140 expected, one chunk", 0, 140 * 300000 - 1, 60000, 300000, 700, 1},
        {"11h45m: 141 expected, two chunks", 0, 141 * 300000, 60000, 300000, 705, 2},
        {"40h at 15s to 5m", 0, 144000000 - 1, 60000, 300000, 9600, 4},
        {"40h at 2m: half full", 0, 144000000 - 1, 60000, 300000, 1200, 2},
        {"14d 5m to 1h", 0, 1209600000 - 1, 300000, 3600000, 4032, 3},
        {"no count at all (Go turns NaN into MinInt64)", 7, 7, 60000, 300000, 0, 1},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        const cc *k = &cases[i];
        int64_t got = ds_target_chunk_count(k->mint, k->maxt, k->in_res, k->out_res, k->count);
        if (got != k->want)
            fail_msg("%s: %lld chunks, want %lld", k->name, (long long)got, (long long)k->want);
    }
    /* the closed form agrees with Thanos' loop */
    uint64_t x = 0x12345678abcdefull;
    for (int r = 0; r < 200000; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t span = 1 + (int64_t)(x % 4000000000ull);
        int64_t in_res = 1 + (int64_t)((x >> 20) % 400000);
        int64_t out_res = in_res + 1 + (int64_t)((x >> 7) % 4000000);
        int64_t count = 1 + (int64_t)((x >> 33) % 200000);
        int64_t mint = (int64_t)((x >> 11) % 1700000000000ull);
        int64_t a = ds_target_chunk_count(mint, mint + span, in_res, out_res, count);
        int64_t b = chunk_count_loop(mint, mint + span, in_res, out_res, count);
        if (a != b)
            fail_msg("span %lld in %lld out %lld count %lld: %lld, loop says %lld", (long long)span,
                     (long long)in_res, (long long)out_res, (long long)count, (long long)a,
                     (long long)b);
    }
}

static void downsample__expands_chunks_like_thanos(void **state)
{
    /* thanos: TestExpandChunkIterator, plus negative timestamps (its check starts at 0) */
    static const smp in[] = {{100, 1}, {200, 2}, {200, 3},     {201, 4},
                             {200, 5}, {300, 6}, {400, STALE}, {500, 5}};
    static const smp want[] = {{100, 1}, {200, 2}, {200, 3}, {201, 4}, {300, 6}, {500, 5}};
    int64_t t[16];
    double v[16];
    size_t n = 0;
    list l = {in, ST_ARRAY_LEN(in)};
    load_chunk(&l, t, v, &n);
    assert_int_equal(n, ST_ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++)
        assert_true(t[i] == want[i].t && v[i] == want[i].v);
    static const smp neg[] = {{-5, 1}, {-1, NAN}, {0, 2}, {3, NAN}, {2, 9}};
    l = (list){neg, ST_ARRAY_LEN(neg)};
    n = 0;
    load_chunk(&l, t, v, &n);
    assert_int_equal(n, 2); /* only non-stale NaNs stay: (0, 2) and (3, NaN) */
    assert_true(t[0] == 0 && v[0] == 2 && t[1] == 3 && isnan(v[1]));
}

/* ---------------------------------------------------------------------------------------------
 * Raw -> R.
 */
typedef struct raw_case {
    const char *name;
    list in[3]; /* raw chunks, each expanded on its own, then one run */
    int64_t res, nchunks;
    size_t nwant;
    list want[4][CODEC_AGGR_N];
} raw_case;

static const raw_case raw_cases[] = {
    {"thanos: single chunk",
     {L({20, 1}, {40, 2}, {60, 3}, {80, 1}, {100, 2}, {101, STALE}, {120, 5}, {180, 10}, {250, 1})},
     100,
     0,
     1,
     {{L({99, 4}, {199, 3}, {250, 1}), L({99, 7}, {199, 17}, {250, 1}),
       L({99, 1}, {199, 2}, {250, 1}), L({99, 3}, {199, 10}, {250, 1}),
       L({20, 1}, {99, 4}, {199, 13}, {250, 14}, {250, 1})}}},
    {"thanos: three chunks",
     {L({20, 1}, {40, 2}, {60, 3}, {80, 1}, {100, 2}, {101, STALE}, {120, 5}, {180, 10}, {250, 2}),
      L({260, 1}, {300, 10}, {340, 15}, {380, 25}, {420, 35}),
      L({460, STALE}, {500, 10}, {540, 3})},
     100,
     0,
     1,
     {{L({99, 4}, {199, 3}, {299, 2}, {399, 3}, {499, 1}, {540, 2}),
       L({99, 7}, {199, 17}, {299, 3}, {399, 50}, {499, 35}, {540, 13}),
       L({99, 1}, {199, 2}, {299, 1}, {399, 10}, {499, 35}, {540, 3}),
       L({99, 3}, {199, 10}, {299, 2}, {399, 25}, {499, 35}, {540, 10}),
       L({20, 1}, {99, 4}, {199, 13}, {299, 16}, {399, 40}, {499, 50}, {540, 63}, {540, 3})}}},
    {"thanos: counter resets at chunk boundaries (batches of one window)",
     {L({10, 1}, {20, 3}, {30, 5}, {50, 1}, {60, 8}, {70, 10}, {120, 1}, {130, 18}, {140, 20},
        {160, 21}, {170, 38}, {180, 40})},
     50,
     13,
     4,
     {{L({30, 3}), L({30, 9}), L({30, 1}), L({30, 5}), L({10, 1}, {30, 5}, {30, 5})},
      {L({70, 3}), L({70, 19}), L({70, 1}), L({70, 10}), L({50, 1}, {70, 10}, {70, 10})},
      {L({140, 3}), L({140, 39}), L({140, 1}), L({140, 20}), L({120, 1}, {140, 20}, {140, 20})},
      {L({180, 3}), L({180, 99}), L({180, 21}), L({180, 40}), L({160, 21}, {180, 40}, {180, 40})}}},
    {"window edges: the last ms of a window and the first of the next",
     {L({0, 1}, {299999, 2}, {300000, 3}, {599999, 4}, {600000, 5})},
     300000,
     0,
     1,
     {{L({299999, 2}, {599999, 2}, {600000, 1}), L({299999, 3}, {599999, 7}, {600000, 5}),
       L({299999, 1}, {599999, 3}, {600000, 5}), L({299999, 2}, {599999, 4}, {600000, 5}),
       L({0, 1}, {299999, 2}, {599999, 4}, {600000, 5}, {600000, 5})}}},
    {"a counter reset inside a window is added whole",
     {L({0, 10}, {1, 20}, {2, 5}, {3, 8})},
     300000,
     0,
     1,
     {{L({3, 4}), L({3, 43}), L({3, 5}), L({3, 20}), L({0, 10}, {3, 28}, {3, 8})}}},
    {"a batch is extended to the end of its window, never split",
     {L({0, 1}, {10, 2}, {20, 3}, {30, 4}, {40, 5}, {100, 6})},
     50,
     3, /* batches of 3: the first takes all of window [0, 49] */
     2,
     {{L({40, 5}), L({40, 15}), L({40, 1}), L({40, 5}), L({0, 1}, {40, 5}, {40, 5})},
      {L({100, 1}), L({100, 6}), L({100, 6}), L({100, 6}), L({100, 6}, {100, 6}, {100, 6})}}},
    {"NaNs leave the batch; a batch of NaNs only makes no chunk",
     {L({0, 1}, {100, NAN}, {200, 2}, {300000, NAN}, {300100, NAN}, {600000, 3})},
     300000,
     6,
     2,
     {{L({200, 2}), L({200, 3}), L({200, 1}), L({200, 2}), L({0, 1}, {200, 2}, {200, 2})},
      {L({600000, 1}), L({600000, 3}), L({600000, 3}), L({600000, 3}),
       L({600000, 3}, {600000, 3}, {600000, 3})}}},
    {"a NaN-only series makes nothing",
     {L({0, NAN}, {1, STALE}, {2, NAN})},
     300000,
     0,
     0,
     {{NONE}}},
    {"a single sample: every stamp is its own",
     {L({5, 7})},
     300000,
     0,
     1,
     {{L({5, 1}), L({5, 7}), L({5, 7}), L({5, 7}), L({5, 7}, {5, 7}, {5, 7})}}},
    {"equal timestamps are kept and counted",
     {L({0, 1}, {0, 2}, {5, 3})},
     10,
     0,
     1,
     {{L({5, 3}), L({5, 6}), L({5, 1}), L({5, 3}), L({0, 1}, {5, 3}, {5, 3})}}},
    {"infinities: min starts at MaxFloat64 and max at -MaxFloat64, as in Go",
     {L({0, INFINITY}, {1, INFINITY}, {300000, -INFINITY})},
     300000,
     0,
     1,
     {{L({299999, 2}, {300000, 1}), L({299999, INFINITY}, {300000, -INFINITY}),
       L({299999, DBL_MAX}, {300000, -INFINITY}), L({299999, INFINITY}, {300000, -DBL_MAX}),
       L({0, INFINITY}, {299999, NAN}, {300000, NAN}, {300000, -INFINITY})}}},
    {"signed zeros: the first of equal values stays, sums start at +0",
     {L({0, 0.0}, {1, -0.0}, {300000, -0.0}, {300001, 0.0})},
     300000,
     0,
     1,
     {{L({299999, 2}, {300001, 2}), L({299999, 0.0}, {300001, 0.0}),
       L({299999, 0.0}, {300001, -0.0}), L({299999, 0.0}, {300001, -0.0}),
       L({0, 0.0}, {299999, 0.0}, {300001, 0.0}, {300001, 0.0})}}},
};

static void downsample__raw_follows_the_table(void **state)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(raw_cases); k++) {
        const raw_case *rc = &raw_cases[k];
        int64_t t[64];
        double v[64];
        size_t n = 0;
        for (int c = 0; c < 3; c++)
            if (rc->in[c].s)
                load_chunk(&rc->in[c], t, v, &n);
        ds_chunks out;
        ds_work w;
        ds_chunks_init(&out);
        ds_work_init(&w);
        st_err err;
        st_err_init(&err);
        if (ds_downsample_raw(t, v, n, rc->res, rc->nchunks, 1, &out, &w, &err))
            fail_msg("%s: %s", rc->name, err.msg);
        expect_chunks(rc->name, &out, rc->nwant, rc->want);
        if (out.nchunks)
            assert_int_equal(out.flags[0] & DS_GROUP_START, DS_GROUP_START);
        ds_chunks_release(&out);
        ds_work_release(&w);
    }
}

/* thanos: realisticChkDataWithStaleMarker, two raw chunks at 15 s with a stale marker and a
 * counter reset (75 after 496544) */
static const smp realistic0[] = {
    {1587690005791, 461968}, {1587690020791, 462151}, {1587690035797, 462336},
    {1587690050791, 462650}, {1587690065791, 462813}, {1587690080791, 462987},
    {1587690095791, 463095}, {1587690110791, 463247}, {1587690125791, 463440},
    {1587690140791, 463642}, {1587690155791, 463811}, {1587690170791, 464027},
    {1587690185791, 464308}, {1587690200791, 464514}, {1587690215791, 464798},
    {1587690230791, 465018}, {1587690245791, 465215}, {1587690260813, 465431},
    {1587690275791, 465651}, {1587690290791, 465870}, {1587690305791, 466070},
    {1587690320792, 466248}, {1587690335791, 466506}, {1587690350791, 466766},
    {1587690365791, 466970}, {1587690380791, 467123}, {1587690395791, 467265},
    {1587690410791, 467383}, {1587690425791, 467629}, {1587690440791, 467931},
    {1587690455791, 468097}, {1587690470791, 468281}, {1587690485791, 468477},
    {1587690500791, 468649}, {1587690515791, 468867}, {1587690530791, 469150},
    {1587690545791, 469268}, {1587690560791, 469488}, {1587690575791, 469742},
    {1587690590791, 469951}, {1587690605791, 470131}, {1587690620791, 470337},
    {1587690635791, 470631}, {1587690650791, 470832}, {1587690665791, 471077},
    {1587690680791, 471311}, {1587690695791, 471473}, {1587690710791, 471728},
    {1587690725791, 472002}, {1587690740791, 472158}, {1587690755791, 472329},
    {1587690770791, 472722}, {1587690785791, 472925}, {1587690800791, 473220},
    {1587690815791, 473460}, {1587690830791, 473748}, {1587690845791, 473968},
    {1587690860791, 474261}, {1587690875791, 474418}, {1587690890791, 474726},
    {1587690905791, 474913}, {1587690920791, 475031}, {1587690935791, 475284},
    {1587690950791, 475563}, {1587690965791, 475762}, {1587690980791, 475945},
    {1587690995791, 476302}, {1587691010791, 476501}, {1587691025791, 476849},
    {1587691040800, 477020}, {1587691055791, 477280}, {1587691070791, 477549},
    {1587691085791, 477758}, {1587691100817, 477960}, {1587691115791, 478261},
    {1587691130791, 478559}, {1587691145791, 478704}, {1587691160804, 478950},
    {1587691175791, 479173}, {1587691190791, 479368}, {1587691205791, 479625},
    {1587691220805, 479866}, {1587691235791, 480008}, {1587691250791, 480155},
    {1587691265791, 480472}, {1587691280811, 480598}, {1587691295791, 480771},
    {1587691310791, 480996}, {1587691325791, 481200}, {1587691340803, 481381},
    {1587691355791, 481584}, {1587691370791, 481759}, {1587691385791, 482003},
    {1587691400803, 482189}, {1587691415791, 482457}, {1587691430791, 482623},
    {1587691445791, 482768}, {1587691460804, 483036}, {1587691475791, 483322},
    {1587691490791, 483566}, {1587691505791, 483709}, {1587691520807, 483838},
    {1587691535791, 484091}, {1587691550791, 484236}, {1587691565791, 484454},
    {1587691580816, 484710}, {1587691595791, 484978}, {1587691610791, 485271},
    {1587691625791, 485476}, {1587691640792, 485640}, {1587691655791, 485921},
    {1587691670791, 486201}, {1587691685791, 486555}, {1587691700791, 486691},
    {1587691715791, 486831}, {1587691730791, 487033}, {1587691745791, 487268},
    {1587691760803, 487370}, {1587691775791, 487571}, {1587691790791, 487787},
};

static const smp realistic1[] = {
    {1587691805791, 488036}, {1587691820791, 488241}, {1587691835791, 488411},
    {1587691850791, 488625}, {1587691865791, 488868}, {1587691880791, 489005},
    {1587691895791, 489237}, {1587691910791, 489545}, {1587691925791, 489750},
    {1587691940791, 489899}, {1587691955791, 490048}, {1587691970791, 490364},
    {1587691985791, 490485}, {1587692000791, 490722}, {1587692015791, 490866},
    {1587692030791, 491025}, {1587692045791, 491286}, {1587692060816, 491543},
    {1587692075791, 491787}, {1587692090791, 492065}, {1587692105791, 492223},
    {1587692120816, 492501}, {1587692135791, 492767}, {1587692150791, 492955},
    {1587692165791, 493194}, {1587692180792, 493402}, {1587692195791, 493647},
    {1587692210791, 493897}, {1587692225791, 494117}, {1587692240805, 494356},
    {1587692255791, 494620}, {1587692270791, 494762}, {1587692285791, 495001},
    {1587692300805, 495222}, {1587692315791, 495393}, {1587692330791, 495662},
    {1587692345791, 495875}, {1587692360801, 496082}, {1587692375791, 496196},
    {1587692390791, 496245}, {1587692405791, 496295}, {1587692420791, 496365},
    {1587692435791, 496401}, {1587692450791, 496452}, {1587692465791, 496491},
    {1587692480791, 496544}, {1587692495791, STALE},  {1587692555791, 75},
    {1587692570791, 308},    {1587692585791, 508},    {1587692600791, 701},
    {1587692615791, 985},    {1587692630791, 1153},   {1587692645791, 1365},
    {1587692660791, 1612},   {1587692675803, 1922},   {1587692690791, 2103},
    {1587692705791, 2261},   {1587692720791, 2469},   {1587692735805, 2625},
    {1587692750791, 2801},   {1587692765791, 2955},   {1587692780791, 3187},
    {1587692795806, 3428},   {1587692810791, 3657},   {1587692825791, 3810},
    {1587692840791, 3968},   {1587692855791, 4195},   {1587692870791, 4414},
    {1587692885791, 4646},   {1587692900791, 4689},   {1587692915791, 4847},
    {1587692930791, 5105},   {1587692945791, 5309},   {1587692960791, 5521},
    {1587692975791, 5695},   {1587692990810, 6010},   {1587693005791, 6210},
    {1587693020791, 6394},   {1587693035791, 6597},   {1587693050791, 6872},
    {1587693065791, 7098},   {1587693080791, 7329},   {1587693095791, 7470},
    {1587693110791, 7634},   {1587693125821, 7830},   {1587693140791, 8034},
    {1587693155791, 8209},   {1587693170791, 8499},   {1587693185791, 8688},
    {1587693200791, 8893},   {1587693215791, 9052},   {1587693230791, 9379},
    {1587693245791, 9544},   {1587693260791, 9763},   {1587693275791, 9974},
    {1587693290791, 10242},  {1587693305791, 10464},  {1587693320803, 10716},
    {1587693335791, 10975},  {1587693350791, 11232},  {1587693365791, 11459},
    {1587693380791, 11778},  {1587693395804, 12007},  {1587693410791, 12206},
    {1587693425791, 12450},  {1587693440791, 12693},  {1587693455791, 12908},
    {1587693470791, 13158},  {1587693485791, 13427},  {1587693500791, 13603},
    {1587693515791, 13927},  {1587693530816, 14122},  {1587693545791, 14327},
    {1587693560791, 14579},  {1587693575791, 14759},  {1587693590791, 14956},
};

/* Thanos' realistic 5m windows: shared stamps, then count, sum, min, max, counter. */
static const int64_t real5m_t[12] = {1587690299999, 1587690599999, 1587690899999, 1587691199999,
                                     1587691499999, 1587691799999, 1587692099999, 1587692399999,
                                     1587692699999, 1587692999999, 1587693299999, 1587693590791};
static const double real5m_v[5][12] = {
    {20, 20, 20, 20, 20, 20, 20, 20, 16, 20, 20, 20},
    {9.276972e+06, 9.359861e+06, 9.447457e+06, 9.542732e+06, 9.630379e+06, 9.715631e+06,
     9.799808e+06, 9.888117e+06, 2.98928e+06, 81592, 163711, 255746},
    {461968, 466070, 470131, 474913, 479625, 483709, 488036, 492223, 75, 2261, 6210, 10464},
    {465870, 469951, 474726, 479368, 483566, 487787, 492065, 496245, 496544, 6010, 10242, 14956},
    {465870, 469951, 474726, 479368, 483566, 487787, 492065, 496245, 498647, 502554, 506786,
     511500},
};

static void downsample__reproduces_thanos_realistic_15s_to_5m_to_1h(void **state)
{
    int64_t t[256];
    double v[256];
    size_t n = 0;
    list c0 = {realistic0, ST_ARRAY_LEN(realistic0)}, c1 = {realistic1, ST_ARRAY_LEN(realistic1)};
    load_chunk(&c0, t, v, &n);
    load_chunk(&c1, t, v, &n);
    assert_int_equal(n, 236);
    ds_chunks m5, h1;
    ds_work w;
    ds_chunks_init(&m5);
    ds_chunks_init(&h1);
    ds_work_init(&w);
    st_err err;
    st_err_init(&err);
    assert_int_equal(ds_downsample_raw(t, v, n, 300000, 0, 1, &m5, &w, &err), 0);
    smp want[5][14];
    list wl[1][CODEC_AGGR_N];
    for (int a = 0; a < 4; a++) {
        for (int i = 0; i < 12; i++)
            want[a][i] = (smp){real5m_t[i], real5m_v[a][i]};
        wl[0][a] = (list){want[a], 12};
    }
    want[4][0] = (smp){1587690005791, 461968};
    for (int i = 0; i < 12; i++)
        want[4][i + 1] = (smp){real5m_t[i], real5m_v[4][i]};
    want[4][13] = (smp){1587693590791, 14956};
    wl[0][4] = (list){want[4], 14};
    expect_chunks("thanos: realistic 15s to 5m", &m5, 1, wl);

    /* thanos: "realistic ResLevel1 (5m) downsampled chunks with from counter resets" -> 1h */
    const list w1h[1][CODEC_AGGR_N] = {
        {L({1587693590791, 236}), L({1587693590791, 8.0151286e+07}), L({1587693590791, 75}),
         L({1587693590791, 496544}),
         L({1587690005791, 461968}, {1587693590791, 511500}, {1587693590791, 14956})}};
    for (int in_res = 0; in_res < 2; in_res++) {
        ds_chunks_reset(&h1);
        /* Thanos' test says the input is at 1h - 1 ms; the real one is 5m: same result */
        assert_int_equal(
            ds_downsample_aggr(&m5, 0, 1, in_res ? 300000 : 3599999, 3600000, 0, &h1, &w, &err), 0);
        expect_chunks("thanos: realistic 5m to 1h", &h1, 1, w1h);
    }
    ds_chunks_release(&m5);
    ds_chunks_release(&h1);
    ds_work_release(&w);
}

/* ---------------------------------------------------------------------------------------------
 * R1 -> R2 over aggregate chunks.
 */
typedef struct aggr_case {
    const char *name;
    list in[4][CODEC_AGGR_N];
    size_t nin;
    int64_t in_res, out_res, nchunks;
    size_t nwant;
    list want[2][CODEC_AGGR_N];
} aggr_case;

#define THANOS_AGGR_IN                                                                             \
    {                                                                                              \
        L({199, 5}, {299, 1}, {399, 10}, {400, 3}, {499, 10}, {699, 0}, {999, 100}),               \
            L({199, 5}, {299, 1}, {399, 10}, {400, 3}, {499, 10}, {699, 0}, {999, 100}),           \
            L({199, 5}, {299, 1}, {399, 10}, {400, -3}, {499, 10}, {699, 0}, {999, 100}),          \
            L({199, 5}, {299, 1}, {399, 10}, {400, -3}, {499, 10}, {699, 0}, {999, 100}),          \
            L({99, 100}, {299, 150}, {499, 210}, {499, 10}, {599, 20}, {799, 50}, {999, 120},      \
              {999, 50}, {1099, 40}, {1199, 80}, {1299, 110})                                      \
    }
#define THANOS_AGGR_OUT                                                                            \
    {                                                                                              \
        L({499, 29}, {999, 100}), L({499, 29}, {999, 100}), L({499, -3}, {999, 0}),                \
            L({499, 10}, {999, 100}),                                                              \
            L({99, 100}, {499, 210}, {999, 320}, {1299, 430}, {1299, 110})                         \
    }

static const aggr_case aggr_cases[] = {
    {"thanos: single aggregated chunk (resets inside it)",
     {THANOS_AGGR_IN},
     1,
     499,
     500,
     0,
     1,
     {THANOS_AGGR_OUT}},
    {"thanos: the same resolution again gives the same chunk",
     {THANOS_AGGR_OUT},
     1,
     499,
     500,
     0,
     1,
     {THANOS_AGGR_OUT}},
    {"thanos: two aggregated chunks",
     {THANOS_AGGR_IN,
      {L({1399, 10}, {1400, 3}, {1499, 10}, {1699, 0}, {1999, 100}),
       L({1399, 10}, {1400, 3}, {1499, 10}, {1699, 0}, {1999, 100}),
       L({1399, 10}, {1400, -3}, {1499, 10}, {1699, 0}, {1999, 100}),
       L({1399, 10}, {1400, -3}, {1499, 10}, {1699, 0}, {1999, 100}),
       L({1499, 210}, {1499, 10}, {1599, 20}, {1799, 50}, {1999, 120}, {1999, 50}, {2099, 40},
         {2199, 80}, {2299, 110})}},
     2,
     499,
     500,
     0,
     1,
     {{L({499, 29}, {999, 100}, {1499, 23}, {1999, 100}),
       L({499, 29}, {999, 100}, {1499, 23}, {1999, 100}),
       L({499, -3}, {999, 0}, {1499, -3}, {1999, 0}),
       L({499, 10}, {999, 100}, {1499, 10}, {1999, 100}),
       L({99, 100}, {499, 210}, {999, 320}, {1499, 530}, {1999, 640}, {2299, 750}, {2299, 110})}}},
    {"thanos: counter resets at chunk boundaries, two batches of two chunks",
     {{L({30, 3}), L({30, 9}), L({30, 1}), L({30, 5}), L({10, 1}, {30, 5}, {30, 5})},
      {L({70, 3}), L({70, 19}), L({70, 1}), L({70, 10}), L({50, 1}, {70, 10}, {70, 10})},
      {L({140, 3}), L({140, 39}), L({140, 1}), L({140, 20}), L({120, 1}, {140, 20}, {140, 20})},
      {L({180, 3}), L({180, 99}), L({180, 21}), L({180, 40}), L({160, 21}, {180, 40}, {180, 40})}},
     4,
     50,
     100,
     2,
     2,
     {{L({70, 6}), L({70, 28}), L({70, 1}), L({70, 10}), L({10, 1}, {70, 15}, {70, 10})},
      {L({180, 6}), L({180, 138}), L({180, 1}), L({180, 40}), L({120, 1}, {180, 40}, {180, 40})}}},
    {"a window split by a chunk boundary is stamped in both batches",
     {{L({100, 2}), L({100, 2}), L({100, 1}), L({100, 1}), L({50, 1}, {100, 2}, {100, 1})},
      {L({150, 2}), L({150, 4}), L({150, 0}), L({150, 4}), L({120, 0}, {150, 4}, {150, 4})}},
     2,
     50,
     1000,
     2,
     2,
     {{L({100, 2}), L({100, 2}), L({100, 1}), L({100, 1}), L({50, 1}, {100, 2}, {100, 1})},
      {L({150, 2}), L({150, 4}), L({150, 0}), L({150, 4}), L({120, 0}, {150, 4}, {150, 4})}}},
    {"a stale marker in a counter sub-chunk is skipped",
     {{L({299, 2}, {599, 1}), L({299, 2}, {599, 5}), L({299, 1}, {599, 5}), L({299, 1}, {599, 5}),
       L({100, 1}, {299, 1}, {450, STALE}, {599, 5}, {599, 5})}},
     1,
     300,
     600,
     0,
     1,
     {{L({599, 3}), L({599, 7}), L({599, 1}), L({599, 5}), L({100, 1}, {599, 5}, {599, 5})}}},
    {"absent aggregates stay absent",
     {{L({299, 2}), NONE, NONE, NONE, L({100, 1}, {299, 3}, {299, 3})}},
     1,
     300,
     600,
     0,
     1,
     {{L({299, 2}), NONE, NONE, NONE, L({100, 1}, {299, 3}, {299, 3})}}},
};

static void load_aggr(ds_chunks *in, const list chunks[][CODEC_AGGR_N], size_t nin)
{
    for (size_t c = 0; c < nin; c++) {
        const int64_t *tp[CODEC_AGGR_N];
        const double *vp[CODEC_AGGR_N];
        size_t np[CODEC_AGGR_N];
        int64_t tt[CODEC_AGGR_N][16];
        double vv[CODEC_AGGR_N][16];
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            const list *l = &chunks[c][a];
            assert_true(l->n <= 16);
            for (size_t i = 0; i < l->n; i++) {
                tt[a][i] = l->s[i].t;
                vv[a][i] = l->s[i].v == STALE ? stale_nan() : l->s[i].v;
                lo = tt[a][i] < lo ? tt[a][i] : lo; /* Thanos' test: meta over all samples */
                hi = tt[a][i] > hi ? tt[a][i] : hi;
            }
            tp[a] = tt[a];
            vp[a] = vv[a];
            np[a] = l->n;
        }
        assert_int_equal(ds_chunks_add(in, tp, vp, np, lo, hi, c == 0 ? DS_GROUP_START : 0), 0);
    }
}

static void downsample__aggregates_follow_the_table(void **state)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(aggr_cases); k++) {
        const aggr_case *ac = &aggr_cases[k];
        ds_chunks in, out;
        ds_work w;
        ds_chunks_init(&in);
        ds_chunks_init(&out);
        ds_work_init(&w);
        load_aggr(&in, ac->in, ac->nin);
        st_err err;
        st_err_init(&err);
        if (ds_downsample_aggr(&in, 0, in.nchunks, ac->in_res, ac->out_res, ac->nchunks, &out, &w,
                               &err))
            fail_msg("%s: %s", ac->name, err.msg);
        expect_chunks(ac->name, &out, ac->nwant, ac->want);
        ds_chunks_release(&in);
        ds_chunks_release(&out);
        ds_work_release(&w);
    }
}

static void downsample__reads_four_counter_only_chunks_into_one(void **state)
{
    /* thanos: "downsampling four, 120 sample chunks for 2x resolution should result in two
     * chunks, but results in one" (issue 2542): no count, so no samples to count chunks by */
    ds_chunks in, out;
    ds_work w;
    ds_chunks_init(&in);
    ds_chunks_init(&out);
    ds_work_init(&w);
    for (int c = 0; c < 4; c++) {
        int64_t t[120];
        double v[120];
        for (int i = 0; i < 120; i++) {
            t[i] = 120 * c + i;
            v[i] = (double)(120 * c + i);
        }
        const int64_t *tp[CODEC_AGGR_N] = {NULL, NULL, NULL, NULL, t};
        const double *vp[CODEC_AGGR_N] = {NULL, NULL, NULL, NULL, v};
        size_t np[CODEC_AGGR_N] = {0, 0, 0, 0, 120};
        assert_int_equal(ds_chunks_add(&in, tp, vp, np, t[0], t[119], 0), 0);
    }
    st_err err;
    st_err_init(&err);
    assert_int_equal(ds_downsample_aggr(&in, 0, 4, 1, 2, 0, &out, &w, &err), 0);
    assert_int_equal(out.nchunks, 1);
    const int a = CODEC_AGGR_COUNTER;
    for (int b = 0; b < CODEC_AGGR_COUNTER; b++)
        assert_int_equal(out.off[b][1], 0);
    assert_int_equal(out.off[a][1], 242);
    assert_true(out.t[a][0] == 0 && out.v[a][0] == 0);
    for (int i = 0; i < 240; i++)
        assert_true(out.t[a][1 + i] == 2 * i + 1 && out.v[a][1 + i] == 2 * i + 1);
    assert_true(out.t[a][241] == 479 && out.v[a][241] == 479);
    ds_chunks_release(&in);
    ds_chunks_release(&out);
    ds_work_release(&w);
}

static void downsample__refuses_more_output_chunks_than_input_chunks(void **state)
{
    /* Thanos cuts batches of len/numChunks == 0 chunks here and never ends */
    const list one[1][CODEC_AGGR_N] = {
        {L({299, 2}), L({299, 2}), L({299, 1}), L({299, 1}), L({0, 1}, {299, 1}, {299, 1})}};
    ds_chunks in, out;
    ds_work w;
    ds_chunks_init(&in);
    ds_chunks_init(&out);
    ds_work_init(&w);
    load_aggr(&in, one, 1);
    st_err err;
    st_err_init(&err);
    assert_int_equal(ds_downsample_aggr(&in, 0, 1, 300, 600, 2, &out, &w, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "cannot be cut"));
    assert_int_equal(out.nchunks, 0);
    ds_chunks_release(&in);
    ds_chunks_release(&out);
    ds_work_release(&w);
}

/* ---------------------------------------------------------------------------------------------
 * Properties on random series.
 */
static uint64_t rs = 0xC0FFEE1234567ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

/* A random counter-like series: integer values (sums stay exact), resets, NaNs, gaps. */
static size_t random_series(int64_t *t, double *v, size_t max)
{
    size_t n = 1 + rnd() % max;
    int64_t at = (int64_t)(rnd() % 1000000);
    double c = (double)(rnd() % 1000);
    for (size_t i = 0; i < n; i++) {
        at += 1 + (int64_t)(rnd() % 30000);
        if (rnd() % 50 == 0)
            at += (int64_t)(rnd() % 4000000); /* a gap */
        if (rnd() % 40 == 0)
            c = (double)(rnd() % 10); /* a reset */
        else
            c += (double)(rnd() % 100);
        t[i] = at;
        v[i] = rnd() % 60 == 0 ? NAN : c;
    }
    return n;
}

/* The raw counter total at each raw sample, the reset rule over the non-NaN samples. */
static double raw_total_upto(const int64_t *t, const double *v, size_t n, int64_t upto)
{
    double total = 0, last = 0;
    int started = 0;
    for (size_t i = 0; i < n && t[i] <= upto; i++) {
        if (isnan(v[i]))
            continue;
        if (!started) {
            total = v[i];
            started = 1;
        } else {
            total += v[i] < last ? v[i] : v[i] - last;
        }
        last = v[i];
    }
    return total;
}

static void downsample__counter_read_back_gives_the_raw_increase_at_every_window(void **state)
{
    static int64_t t[4000], tc[4000];
    static double v[4000], vc[4000];
    static smp got[8000];
    ds_chunks m, h;
    ds_work w;
    ds_chunks_init(&m);
    ds_chunks_init(&h);
    ds_work_init(&w);
    static const int64_t res[] = {10, 1000, 60000, 300000};
    size_t windows = 0, boundary_resets = 0;
    for (int round = 0; round < 400; round++) {
        size_t n = random_series(t, v, 4000);
        memcpy(tc, t, n * sizeof(int64_t));
        memcpy(vc, v, n * sizeof(double));
        int64_t r = res[rnd() % 4];
        int64_t forced = rnd() % 2 ? 0 : 1 + (int64_t)(rnd() % 40);
        ds_chunks_reset(&m);
        ds_chunks_reset(&h);
        st_err err;
        st_err_init(&err);
        assert_int_equal(ds_downsample_raw(tc, vc, n, r, forced, 1, &m, &w, &err), 0);
        /* counts and sums over all windows are the raw ones (integer values: exact) */
        double cnt = 0, sum = 0, want_sum = 0;
        size_t want_cnt = 0;
        for (size_t i = 0; i < n; i++)
            if (!isnan(v[i]))
                want_cnt++, want_sum += v[i];
        for (size_t i = 0; i < m.n[CODEC_AGGR_COUNT]; i++)
            cnt += m.v[CODEC_AGGR_COUNT][i], sum += m.v[CODEC_AGGR_SUM][i];
        assert_true(cnt == (double)want_cnt && sum == want_sum);
        for (size_t c = 1; c < m.nchunks; c++) {
            size_t e = m.off[CODEC_AGGR_COUNTER][c];
            if (m.v[CODEC_AGGR_COUNTER][e] < m.v[CODEC_AGGR_COUNTER][e - 1])
                boundary_resets++;
        }
        /* the querier's reading of the counter equals the raw total at each window stamp */
        size_t k = read_counter(&m, 0, m.nchunks, got);
        for (size_t i = 0; i < k; i++, windows++) {
            double want = raw_total_upto(t, v, n, got[i].t);
            if (got[i].v != want)
                fail_msg("round %d res %lld: total at %lld is %.17g, raw says %.17g", round,
                         (long long)r, (long long)got[i].t, got[i].v, want);
        }
        /* and so does its reading after a second level (R -> 10R) */
        if (m.nchunks) {
            assert_int_equal(ds_downsample_aggr(&m, 0, m.nchunks, r, r * 10, 0, &h, &w, &err), 0);
            k = read_counter(&h, 0, h.nchunks, got);
            for (size_t i = 0; i < k; i++) {
                double want = raw_total_upto(t, v, n, got[i].t);
                if (got[i].v != want)
                    fail_msg("round %d res %lld x10: total at %lld is %.17g, raw says %.17g", round,
                             (long long)r, (long long)got[i].t, got[i].v, want);
            }
        }
    }
    print_message("%zu windows checked; %zu chunk boundaries with a counter reset\n", windows,
                  boundary_resets);
    assert_true(boundary_resets > 10);
    ds_chunks_release(&m);
    ds_chunks_release(&h);
    ds_work_release(&w);
}

typedef struct hour {
    int64_t end;
    double count, sum, min, max;
} hour;

/* Fold one result's count/sum/min/max windows into hourly buckets (by the hour each stamp is
 * in: a stamp cut short by a batch end still lies in its window). */
static size_t by_hour(const ds_chunks *c, hour *out)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n[CODEC_AGGR_COUNT]; i++) {
        int64_t t = c->t[CODEC_AGGR_COUNT][i];
        int64_t end = t - t % 3600000 + 3599999;
        if (n == 0 || out[n - 1].end != end)
            out[n++] = (hour){end, 0, 0, DBL_MAX, -DBL_MAX};
        hour *h = &out[n - 1];
        h->count += c->v[CODEC_AGGR_COUNT][i];
        h->sum += c->v[CODEC_AGGR_SUM][i];
        h->min = ST_MIN(h->min, c->v[CODEC_AGGR_MIN][i]);
        h->max = ST_MAX(h->max, c->v[CODEC_AGGR_MAX][i]);
    }
    return n;
}

static void downsample__5m_then_1h_agrees_with_1h_from_raw(void **state)
{
    static int64_t t[20000], t2[20000];
    static double v[20000], v2[20000];
    static hour a[2000], b[2000];
    ds_chunks m5, h1, direct;
    ds_work w;
    ds_chunks_init(&m5);
    ds_chunks_init(&h1);
    ds_chunks_init(&direct);
    ds_work_init(&w);
    size_t same_chunks = 0;
    for (int round = 0; round < 60; round++) {
        /* 15 s samples (some missing, some NaN) over up to 6 days: several 5m chunks */
        size_t n = 0;
        int64_t at = 1700000000000 + (int64_t)(rnd() % 3600000);
        size_t len = 1 + rnd() % 20000;
        for (size_t i = 0; i < len; i++) {
            at += 15000 + (rnd() % 8 == 0 ? (int64_t)(rnd() % 200000) : 0);
            t[n] = at;
            v[n++] = rnd() % 100 == 0 ? NAN : (double)(int64_t)(rnd() % 100000) - 50000;
        }
        memcpy(t2, t, n * sizeof(int64_t));
        memcpy(v2, v, n * sizeof(double));
        ds_chunks_reset(&m5);
        ds_chunks_reset(&h1);
        ds_chunks_reset(&direct);
        st_err err;
        st_err_init(&err);
        assert_int_equal(ds_downsample_raw(t, v, n, 300000, 0, 1, &m5, &w, &err), 0);
        if (m5.nchunks)
            assert_int_equal(
                ds_downsample_aggr(&m5, 0, m5.nchunks, 300000, 3600000, 0, &h1, &w, &err), 0);
        assert_int_equal(ds_downsample_raw(t2, v2, n, 3600000, 0, 1, &direct, &w, &err), 0);
        size_t na = by_hour(&h1, a), nb = by_hour(&direct, b);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            if (a[i].end != b[i].end || a[i].count != b[i].count || a[i].sum != b[i].sum ||
                a[i].min != b[i].min || a[i].max != b[i].max)
                fail_msg("round %d hour %zu: 5m->1h (%lld %g %g %g %g) vs raw->1h (%lld %g %g "
                         "%g %g)",
                         round, i, (long long)a[i].end, a[i].count, a[i].sum, a[i].min, a[i].max,
                         (long long)b[i].end, b[i].count, b[i].sum, b[i].min, b[i].max);
        }
        /* with one 5m chunk the two are the same samples */
        if (m5.nchunks == 1 && h1.nchunks == 1 && direct.nchunks == 1) {
            same_chunks++;
            for (int g = 0; g < CODEC_AGGR_COUNTER; g++) {
                assert_int_equal(h1.n[g], direct.n[g]);
                for (size_t i = 0; i < h1.n[g]; i++)
                    assert_true(h1.t[g][i] == direct.t[g][i] && h1.v[g][i] == direct.v[g][i]);
            }
        }
    }
    assert_true(same_chunks > 0);
    ds_chunks_release(&m5);
    ds_chunks_release(&h1);
    ds_chunks_release(&direct);
    ds_work_release(&w);
}

/* The windows of one batch as a kernel run leaves them. */
typedef struct wrun {
    int64_t *t;
    double *a[5]; /* count, sum, min, max, counter */
    ds_wstate st;
} wrun;

static void wrun_alloc(wrun *r, size_t n)
{
    r->t = test_calloc(n, sizeof(int64_t));
    for (int i = 0; i < 5; i++)
        r->a[i] = test_calloc(n, sizeof(double));
}

static void wrun_free(wrun *r)
{
    test_free(r->t);
    for (int i = 0; i < 5; i++)
        test_free(r->a[i]);
}

/* kernel 0: ds_windows alone; 1: ds_windows_exact then ds_windows; 2: the same with the
 * portable exact kernel; 3: the portable ds_windows alone. Returns the sample the exact kernel
 * stopped at (n: none left). */
static size_t run_kernel(int kernel, const int64_t *t, const double *v, size_t n, int64_t res,
                         int sorted, wrun *r)
{
    ds_wout o = {r->t, r->a[0], r->a[1], r->a[2], r->a[3], r->a[4]};
    ds_windows_begin(&r->st, v, sorted);
    if (kernel == 1)
        ds_windows_exact(t, v, n, res, &o, &r->st);
    else if (kernel == 2)
        ds_windows_exact_base(t, v, n, res, &o, &r->st);
    size_t stop = r->st.i;
    if (kernel == 3)
        ds_windows_base(t, v, n, res, &o, &r->st);
    else if (r->st.i < n)
        ds_windows(t, v, n, res, &o, &r->st);
    assert_int_equal(r->st.i, n);
    return stop;
}

/* The exact (vector) kernel may take a window only when its result is the scalar one's to the
 * bit; random batches of integers, big integers around its bound, and integers spoilt by one
 * fraction, -0, NaN, stale marker or infinity, on regular, jittered, gappy, repeated and
 * unsorted timestamps, at several resolutions. The scalar loop's portable build gives the same
 * as the one ds_windows picks (VEX where the CPU has AVX2). */
static void downsample__exact_kernel_gives_the_scalar_windows_bit_for_bit(void **state)
{
    (void)state;
    enum { MAXN = 3000 };
    static const int64_t resolutions[] = {7, 1000, 15000, 60000, 300000, 3600000};
    int64_t *t = test_calloc(MAXN, sizeof(int64_t));
    double *v = test_calloc(MAXN, sizeof(double));
    wrun r[4];
    for (int k = 0; k < 4; k++)
        wrun_alloc(&r[k], MAXN);
    size_t whole = 0, partial = 0, windows = 0;
    for (int round = 0; round < 3000; round++) {
        size_t n = 1 + rnd() % (rnd() % 4 == 0 ? MAXN : 100);
        int kind = (int)(rnd() % 10), tkind = (int)(rnd() % 5);
        int64_t res = resolutions[rnd() % 6];
        double lim = 9007199254740992.0 / (2.0 * (double)n + 2.0);
        int64_t at = (int64_t)(rnd() % 2000000000000ull) - (rnd() % 4 == 0 ? 1000000000000 : 0);
        int64_t walk = (int64_t)(rnd() % 1000) - 500;
        for (size_t i = 0; i < n; i++) {
            switch (tkind) {
            case 0:
                at += 15000;
                break; /* regular */
            case 1:
                at += 15000 + (int64_t)(rnd() % 5) - 2;
                break; /* jitter */
            case 2:
                at += rnd() % 8 ? 15000 : (int64_t)(rnd() % 900000);
                break; /* gaps */
            case 3:
                at += rnd() % 3 ? 0 : 1000;
                break; /* repeats */
            default:
                at += (int64_t)(rnd() % 40000) - 12000;
                break; /* back in time */
            }
            t[i] = at;
            switch (kind) {
            case 0:
                walk += (int64_t)(rnd() % 201) - 100;
                break; /* gauge */
            case 1:
                walk = rnd() % 50 ? walk + (int64_t)(rnd() % 1000) : 0;
                break; /* counter */
            case 2:
                walk = (int64_t)(rnd() % 3) - 1 + (int64_t)lim * (rnd() % 2 ? 1 : -1);
                break;
            case 3:
                walk = 0;
                break;
            case 4:
                walk = (int64_t)(rnd() % 1000) * 1000000000000000ll;
                break; /* past 2^53 */
            default:
                walk += (int64_t)(rnd() % 7) - 3;
                break;
            }
            v[i] = (double)walk;
        }
        size_t bad = n; /* where the batch stops being provably exact, at the latest */
        if (kind >= 5 && n > 1) {
            bad = rnd() % n;
            double spoil[] = {0.5, -0.0, NAN, stale_nan(), INFINITY, -INFINITY, (double)lim * 4};
            v[bad] = kind == 9 ? (double)rnd() / 1e9 : spoil[rnd() % 7];
        }
        int ascending = 1;
        for (size_t i = 1; i < n; i++)
            ascending &= t[i] >= t[i - 1];
        int sorted = ascending && rnd() % 4 != 0;
        for (int k = 0; k < 4; k++) {
            size_t stop = run_kernel(k, t, v, n, res, sorted, &r[k]);
            if (k == 0)
                continue;
            if (k < 3) {
                assert_true(stop <= bad);
                if (kind <= 1 || kind == 3)
                    assert_int_equal(stop, n); /* small integers: every window */
                whole += stop == n;
                partial += stop > 0 && stop < n;
            }
            assert_int_equal(r[k].st.k, r[0].st.k);
            for (size_t w = 0; w < r[0].st.k; w++) {
                if (r[k].t[w] != r[0].t[w])
                    fail_msg("round %d kernel %d window %zu: stamp %lld, want %lld", round, k, w,
                             (long long)r[k].t[w], (long long)r[0].t[w]);
                for (int a = 0; a < 5; a++)
                    if (memcmp(&r[k].a[a][w], &r[0].a[a][w], sizeof(double)) != 0)
                        fail_msg("round %d (kind %d, times %d, n %zu, res %lld) kernel %d "
                                 "window %zu aggregate %d: %.17g, want %.17g",
                                 round, kind, tkind, n, (long long)res, k, w, a, r[k].a[a][w],
                                 r[0].a[a][w]);
            }
        }
        windows += r[0].st.k;
    }
    print_message("%zu windows; exact kernel took %zu batches whole, %zu in part\n", windows, whole,
                  partial);
    assert_true(whole > 1000 && partial > 100);
    for (int k = 0; k < 4; k++)
        wrun_free(&r[k]);
    test_free(t);
    test_free(v);
}

/* ds_window_reduce4 is four ds_window_reduce calls in one pass, to the bit: random shared
 * stamps (regular, gappy, repeated, negative) and values (floats, NaN, infinities, signed
 * zeros). */
static void downsample__joint_reduce_is_four_single_reduces(void **state)
{
    (void)state;
    enum { MAXN = 400 };
    static const int64_t resolutions[] = {1, 1000, 300000, 3600000};
    int64_t t[MAXN], wt[MAXN], wt1[MAXN];
    double v[4][MAXN], o4[4][MAXN], o1[MAXN];
    static const double odd[] = {NAN, INFINITY, -INFINITY, -0.0, 0.0, DBL_MAX, -DBL_MAX};
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + rnd() % MAXN;
        int64_t res = resolutions[rnd() % 4];
        int64_t at = (int64_t)(rnd() % 100000000) - 50000000;
        for (size_t i = 0; i < n; i++) {
            at += rnd() % 5 == 0 ? 0 : (int64_t)(rnd() % (rnd() % 2 ? 300000 : 4000000));
            t[i] = at;
            for (int a = 0; a < 4; a++)
                v[a][i] = rnd() % 20 == 0 ? odd[rnd() % 7] : ((double)(int64_t)rnd()) / 1e12;
        }
        const double *vp[4] = {v[0], v[1], v[2], v[3]};
        double *op[4] = {o4[0], o4[1], o4[2], o4[3]};
        size_t k = ds_window_reduce4(t, vp, n, res, wt, op);
        static const int ops[4] = {DS_REDUCE_SUM, DS_REDUCE_SUM, DS_REDUCE_MIN, DS_REDUCE_MAX};
        for (int a = 0; a < 4; a++) {
            size_t k1 = ds_window_reduce(t, v[a], n, res, ops[a], rnd() % 2, wt1, o1);
            assert_int_equal(k1, k);
            assert_memory_equal(wt1, wt, k * sizeof(int64_t));
            if (memcmp(o1, o4[a], k * sizeof(double)) != 0)
                fail_msg("round %d: aggregate %d differs from ds_window_reduce", round, a);
        }
    }
}

/* ds_counter_windows gives in one pass what Thanos' three passes give
 * (ds_counter_windows_passes: ApplyCounterResetsSeriesIterator, expandChunkIterator, the
 * windows), to the bit: random counter samples with repeated stamps, stamps going back, NaNs,
 * resets, infinities and signed zeros. Negative stamps first send the caller to the passes. */
static void downsample__counter_windows_in_one_pass_as_in_three(void **state)
{
    (void)state;
    enum { MAXN = 300 };
    static const int64_t resolutions[] = {1, 1000, 300000, 3600000};
    static const double odd[] = {NAN, INFINITY, -INFINITY, -0.0, 0.0, 1e300};
    int64_t t[MAXN], ot[MAXN + 2], rt[MAXN + 2];
    double v[MAXN], ov[MAXN + 2], rv[MAXN + 2];
    size_t one = 0, none = 0, negative = 0;
    ds_work w;
    ds_work_init(&w);
    for (int round = 0; round < 5000; round++) {
        size_t n = 1 + rnd() % MAXN;
        int64_t res = resolutions[rnd() % 4];
        int64_t at = (int64_t)(rnd() % 10000000) - (rnd() % 8 == 0 ? 10000000 : 0);
        double c = (double)(rnd() % 1000);
        int64_t first = INT64_MIN; /* the first stamp with a value */
        for (size_t i = 0; i < n; i++) {
            unsigned r = (unsigned)(rnd() % 10);
            at += r == 0 ? 0 : r == 1 ? -(int64_t)(rnd() % 100000) : (int64_t)(rnd() % 2000000);
            t[i] = at;
            c = rnd() % 10 == 0 ? (double)(rnd() % 100) : c + (double)(rnd() % 1000) / 8;
            v[i] = rnd() % 30 == 0 || round % 100 == 0 ? odd[rnd() % 6] : c;
            if (round % 100 == 0)
                v[i] = NAN;
            if (first == INT64_MIN && !isnan(v[i]))
                first = t[i];
        }
        size_t want;
        assert_int_equal(ds_counter_windows_passes(t, v, n, res, &w, rt, rv, &want), 0);
        size_t got = ds_counter_windows(t, v, n, res, ot, ov);
        if (first != INT64_MIN && first < 0) {
            assert_true(got == SIZE_MAX);
            negative++;
            continue;
        }
        assert_int_equal(got, want);
        if (got == 0) {
            none++;
            continue;
        }
        assert_memory_equal(ot, rt, got * sizeof(int64_t));
        if (memcmp(ov, rv, got * sizeof(double)) != 0)
            fail_msg("round %d: the counter differs from the three passes'", round);
        one++;
    }
    ds_work_release(&w);
    print_message("%zu in one pass, %zu all NaN, %zu negative first\n", one, none, negative);
    assert_true(one > 3000 && none >= 40 && negative > 100);
}

/* Counters that only count take ds_counter_windows_rising, which gives the three passes'
 * samples to the bit; one sample that breaks its rule (a fraction, a -0, a drop, a stamp that
 * repeats or goes back, a NaN, a value past 2^51) sends it back to the loop, which still agrees. */
static void downsample__rising_counters_take_the_short_way_to_the_same_bits(void **state)
{
    (void)state;
    enum { MAXN = 300 };
    static const int64_t resolutions[] = {1, 1000, 300000, 3600000};
    int64_t t[MAXN], ot[MAXN + 2], rt[MAXN + 2];
    double v[MAXN], ov[MAXN + 2], rv[MAXN + 2];
    size_t rising = 0, refused = 0;
    ds_work w;
    ds_work_init(&w);
    for (int round = 0; round < 6000; round++) {
        size_t n = 2 + rnd() % (MAXN - 1);
        int64_t res = resolutions[rnd() % 4];
        int64_t at = (int64_t)(rnd() % 10000000);
        double c = (double)(rnd() % 3 == 0 ? 0 : rnd() % 100000);
        if (rnd() % 10 == 0)
            c = 2251799813685248.0 - (double)(4000000 + rnd() % 4000000); /* near 2^51 */
        for (size_t i = 0; i < n; i++) {
            at += 1 + (int64_t)(rnd() % (rnd() % 2 ? 30000 : 2000000));
            t[i] = at;
            c += rnd() % 4 == 0 ? 0 : (double)(rnd() % 1000);
            v[i] = c;
        }
        if (rnd() % 2) { /* the true last value at the last stamp again, as a 5m block has it */
            t[n - 1] = t[n - 2];
            v[n - 1] = (double)(rnd() % 100);
        }
        int broken = round % 3 == 0;
        if (broken) {
            size_t i = rnd() % n;
            static const double odd[] = {0.5, -0.0, NAN, INFINITY, -1};
            switch (rnd() % 4) {
            case 0:
                v[i] = odd[rnd() % 5];
                break;
            case 1:
                v[i] = i > 0 ? v[i - 1] - 1 : -1; /* a drop: a reset */
                break;
            case 2:
                t[i] = i > 0 ? t[i - 1] - (int64_t)(rnd() % 2) : -1; /* repeated, back, < 0 */
                break;
            default:
                v[i] = 2251799813685248.0 + 2; /* past 2^51 */
            }
        }
        size_t want;
        assert_int_equal(ds_counter_windows_passes(t, v, n, res, &w, rt, rv, &want), 0);
        size_t got = ds_counter_windows_rising(t, v, n, res, ot, ov);
        int64_t bt[MAXN + 2];
        double bv[MAXN + 2];
        size_t base = ds_counter_windows_rising_base(t, v, n, res, bt, bv);
        assert_int_equal(base, got);
        if (got != SIZE_MAX && (memcmp(bt, ot, got * sizeof(int64_t)) != 0 ||
                                memcmp(bv, ov, got * sizeof(double)) != 0))
            fail_msg("round %d: the portable build differs from the AVX2 one", round);
        if (got == SIZE_MAX) {
            if (!broken)
                fail_msg("round %d: a rising counter was refused", round);
            refused++;
            got = ds_counter_windows(t, v, n, res, ot, ov);
            if (got == SIZE_MAX)
                continue; /* a negative first stamp: the caller takes the passes */
        } else {
            rising++;
        }
        assert_int_equal(got, want);
        assert_memory_equal(ot, rt, got * sizeof(int64_t));
        if (memcmp(ov, rv, got * sizeof(double)) != 0)
            fail_msg("round %d: the counter differs from the three passes'", round);
    }
    ds_work_release(&w);
    print_message("%zu rising, %zu refused\n", rising, refused);
    assert_true(rising > 4000 && refused > 1200);
}

/* DS_SHARED (raw windows of ascending samples) lets 5m -> 1h skip comparing and scanning the
 * stamps and values: the claim holds on every flagged chunk, and 1h from the flagged chunks
 * equals 1h from the same chunks unflagged, bit for bit, NaNs and infinities included. */
static void downsample__shared_chunks_downsample_as_unflagged_ones(void **state)
{
    (void)state;
    static int64_t t[6000];
    static double v[6000];
    static const double odd[] = {NAN, INFINITY, -INFINITY, -0.0, 0.5, 1e300, -1e300};
    ds_chunks m5, plain, h1, h1p;
    ds_work w;
    ds_chunks_init(&m5);
    ds_chunks_init(&plain);
    ds_chunks_init(&h1);
    ds_chunks_init(&h1p);
    ds_work_init(&w);
    size_t flagged = 0;
    for (int round = 0; round < 300; round++) {
        size_t n = 0, len = 1 + rnd() % 6000;
        int64_t at = (int64_t)(rnd() % 3600000);
        for (size_t i = 0; i < len; i++) {
            at += 15000 + (rnd() % 8 == 0 ? (int64_t)(rnd() % 900000) : 0);
            t[n] = at;
            v[n++] = rnd() % 50 == 0 ? odd[rnd() % 7] : (double)(int64_t)(rnd() % 1000) - 500;
        }
        ds_chunks_reset(&m5);
        ds_chunks_reset(&plain);
        ds_chunks_reset(&h1);
        ds_chunks_reset(&h1p);
        st_err err;
        st_err_init(&err);
        assert_int_equal(ds_downsample_raw(t, v, n, 300000, 0, 1, &m5, &w, &err), 0);
        for (size_t c = 0; c < m5.nchunks; c++) {
            const int64_t *ct[CODEC_AGGR_N];
            const double *cv[CODEC_AGGR_N];
            size_t cn[CODEC_AGGR_N];
            for (int a = 0; a < CODEC_AGGR_N; a++) {
                ct[a] = m5.t[a] + m5.off[a][c];
                cv[a] = m5.v[a] + m5.off[a][c];
                cn[a] = m5.off[a][c + 1] - m5.off[a][c];
            }
            if (m5.flags[c] & DS_SHARED) {
                flagged++;
                for (int a = 1; a <= CODEC_AGGR_MAX; a++) {
                    assert_int_equal(cn[a], cn[0]);
                    assert_memory_equal(ct[a], ct[0], cn[0] * sizeof(int64_t));
                }
                for (size_t i = 0; i < cn[0]; i++) {
                    assert_true(ct[0][i] >= 0 && (i == 0 || ct[0][i] > ct[0][i - 1]));
                    for (int a = 0; a <= CODEC_AGGR_MAX; a++)
                        assert_false(ds_is_stale(cv[a][i]));
                }
            }
            assert_int_equal(
                ds_chunks_add(&plain, ct, cv, cn, m5.mint[c], m5.maxt[c], m5.flags[c] & ~DS_SHARED),
                0);
        }
        if (m5.nchunks == 0)
            continue;
        assert_int_equal(ds_downsample_aggr(&m5, 0, m5.nchunks, 300000, 3600000, 0, &h1, &w, &err),
                         0);
        assert_int_equal(
            ds_downsample_aggr(&plain, 0, plain.nchunks, 300000, 3600000, 0, &h1p, &w, &err), 0);
        assert_int_equal(h1.nchunks, h1p.nchunks);
        for (size_t c = 0; c < h1.nchunks; c++) {
            assert_int_equal(h1.mint[c], h1p.mint[c]);
            assert_int_equal(h1.maxt[c], h1p.maxt[c]);
            assert_int_equal(h1.flags[c] & DS_GROUP_START, h1p.flags[c] & DS_GROUP_START);
        }
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            assert_int_equal(h1.n[a], h1p.n[a]);
            assert_memory_equal(h1.t[a], h1p.t[a], h1.n[a] * sizeof(int64_t));
            if (h1.n[a] && memcmp(h1.v[a], h1p.v[a], h1.n[a] * sizeof(double)) != 0)
                fail_msg("round %d: aggregate %d differs between flagged and plain chunks", round,
                         a);
        }
    }
    assert_true(flagged > 100);
    ds_chunks_release(&m5);
    ds_chunks_release(&plain);
    ds_chunks_release(&h1);
    ds_chunks_release(&h1p);
    ds_work_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(downsample__counts_chunks_as_thanos_target_chunk_count),
        cmocka_unit_test(downsample__expands_chunks_like_thanos),
        cmocka_unit_test(downsample__raw_follows_the_table),
        cmocka_unit_test(downsample__reproduces_thanos_realistic_15s_to_5m_to_1h),
        cmocka_unit_test(downsample__aggregates_follow_the_table),
        cmocka_unit_test(downsample__reads_four_counter_only_chunks_into_one),
        cmocka_unit_test(downsample__refuses_more_output_chunks_than_input_chunks),
        cmocka_unit_test(downsample__counter_read_back_gives_the_raw_increase_at_every_window),
        cmocka_unit_test(downsample__5m_then_1h_agrees_with_1h_from_raw),
        cmocka_unit_test(downsample__exact_kernel_gives_the_scalar_windows_bit_for_bit),
        cmocka_unit_test(downsample__joint_reduce_is_four_single_reduces),
        cmocka_unit_test(downsample__counter_windows_in_one_pass_as_in_three),
        cmocka_unit_test(downsample__rising_counters_take_the_short_way_to_the_same_bits),
        cmocka_unit_test(downsample__shared_chunks_downsample_as_unflagged_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
