/*
 * test_planner.c - the planner as a pure function over synthetic metas (no chunks): Thanos' group
 * keys, horizontal merging in one step per final aligned range (each level, gaps, the newest
 * block, 301 two-hour blocks), overlaps and HA replicas, mixed resolutions, no-compact and
 * deletion marks, superseded blocks after a simulated crash, per-tenant retention, the
 * consistency delay, partial uploads, downsampling eligibility, the index-size split, the
 * tombstone rule, determinism and sharding. Cases are tables; a failure names the case and
 * prints what was planned.
 */
#include "../util/testutil.h"

#include "planner/planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H    3600000LL
#define D    (24 * H)
#define T0   (1209600000LL * 1400) /* 2023-08-31T00:00:00Z, on the 14d grid */
#define MAXB 400

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct spec {
    int64_t min, max;   /* absolute ms */
    const char *labels; /* "a=b,c=d" */
    int64_t res;
    int level; /* 0: 1 */
    const char *tenant;
    const int *src; /* earlier blocks whose sources this block holds, -1 ended; NULL: its own */
    int nosrc;
    int no_compact, no_downsample, failed;
    int64_t deleted_at; /* deletion mark (ms); 0: none */
    uint64_t series, samples, tombstones, size, index;
    const char *source; /* NULL: "sidecar" */
    int64_t upload;     /* 0: maxTime + 1 min; -1: absent (ULID time counts) */
    int partial;
    int64_t modified; /* partial: newest object (0: unknown) */
    int64_t ulid_ms;  /* 0: minTime */
    unsigned id;      /* random part of the ULID; 0: the position in the set */
} spec;

typedef struct fx {
    planner_blockset *set;
    planner_settings *s;
    struct planner_plan *p;
    int n;
    codec_ulid ids[MAXB];
} fx;

static codec_ulid mkulid(int64_t ms, unsigned n)
{
    static const char alpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    codec_ulid u;
    uint64_t t = (uint64_t)ms, r = n * 2654435761u + 7;
    for (int i = 9; i >= 0; i--, t >>= 5)
        u.s[i] = alpha[t & 31];
    for (int i = 25; i >= 10; i--, r >>= 5)
        u.s[i] = alpha[r & 31];
    u.s[26] = '\0';
    return u;
}

static void fx_init(fx *f, const planner_flags *flags)
{
    memset(f, 0, sizeof(*f));
    st_err err;
    st_err_init(&err);
    assert_int_equal(planner_blockset_create(&f->set), 0);
    if (planner_settings_create(&f->s, flags, &err))
        fail_msg("settings: %s", err.msg);
}

static void fx_release(fx *f)
{
    planner_plan_free(f->p);
    planner_blockset_free(f->set);
    planner_settings_free(f->s);
}

static int add_spec(fx *f, const spec *sp)
{
    assert_true(f->n < MAXB);
    planner_block b;
    memset(&b, 0, sizeof(b));
    int i = f->n;
    b.ulid = mkulid(sp->ulid_ms   ? sp->ulid_ms
                    : sp->min > 0 ? sp->min
                                  : 1,
                    sp->id ? sp->id : (unsigned)i + 1);
    f->ids[i] = b.ulid;
    b.tenant = sp->tenant;
    b.min_time = sp->min;
    b.max_time = sp->max;
    b.level = sp->level ? sp->level : 1;
    b.resolution = sp->res;
    b.compaction_failed = sp->failed;
    b.stats.series = sp->series ? sp->series : 100;
    b.stats.samples = sp->samples ? sp->samples : 48000;
    b.stats.chunks = b.stats.samples / 120;
    b.stats.tombstones = sp->tombstones;
    b.size_bytes = sp->size ? sp->size : 1000;
    b.index_bytes = sp->index ? sp->index : 100;
    b.source = sp->source ? sp->source : "sidecar";
    b.upload_time_ms = sp->upload == 0 ? sp->max + 60000 : sp->upload < 0 ? INT64_MIN : sp->upload;
    b.last_modified_ms = sp->modified ? sp->modified : INT64_MIN;
    codec_kv kv[8];
    char lab[8][2][64];
    size_t nl = 0;
    if (sp->labels) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s", sp->labels);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            assert_non_null(eq);
            snprintf(lab[nl][0], 64, "%.*s", (int)(eq - tok), tok);
            snprintf(lab[nl][1], 64, "%s", eq + 1);
            kv[nl].name = lab[nl][0];
            kv[nl].value = lab[nl][1];
            nl++;
        }
    }
    b.labels = kv;
    b.nlabels = nl;
    codec_ulid src[MAXB];
    size_t ns = 0;
    if (sp->src) {
        for (const int *k = sp->src; *k >= 0; k++) {
            const planner_block *p = planner_blockset_block(f->set, (size_t)*k);
            for (size_t j = 0; j < p->nsources; j++)
                src[ns++] = p->sources[j];
        }
    } else if (!sp->nosrc) {
        src[ns++] = b.ulid;
    }
    b.sources = src;
    b.nsources = ns;
    if (sp->no_compact)
        b.no_compact = (planner_mark){1, sp->min / 1000, "manual", "test"};
    if (sp->no_downsample)
        b.no_downsample = (planner_mark){1, sp->min / 1000, "manual", "test"};
    if (sp->deleted_at)
        b.deletion = (planner_mark){1, sp->deleted_at / 1000, "", "test"};
    if (sp->partial) {
        b.partial_reason = "no meta.json";
        b.min_time = b.max_time = 0;
        b.nlabels = b.nsources = 0;
    }
    st_err err;
    st_err_init(&err);
    if (planner_blockset_add(f->set, &b, &err))
        fail_msg("add: %s", err.msg);
    return f->n++;
}
#define ADD(f, ...) add_spec((f), &(spec){__VA_ARGS__})

static void plan_at(fx *f, int64_t now)
{
    planner_plan_free(f->p);
    f->p = NULL;
    st_err err;
    st_err_init(&err);
    if (planner_plan(&f->p, f->set, f->s, now, &err))
        fail_msg("plan: %s", err.msg);
}

static int idx(const fx *f, const planner_block *b)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->ids[i].s, b->ulid.s))
            return i;
    fail_msg("unknown block %s", b->ulid.s);
    return -1;
}

static const planner_block *blk(const fx *f, int i)
{
    return planner_blockset_block(f->set, (size_t)i);
}

/* The actions of one type in plan order: "0,1,2 v:3,4" (v: vertical), "5>5m+1h" (downsample). */
static void describe(const fx *f, planner_action_type t, char *out, size_t n)
{
    size_t l = 0;
    out[0] = '\0';
    for (size_t i = 0; i < planner_plan_count(f->p); i++) {
        const planner_action *a = planner_plan_action(f->p, i);
        if (a->type != t)
            continue;
        l += (size_t)snprintf(out + l, n - l, "%s%s", l ? " " : "", a->vertical ? "v:" : "");
        int ix[MAXB];
        for (size_t k = 0; k < a->nblocks; k++)
            ix[k] = idx(f, a->blocks[k]);
        for (size_t k = 1; k < a->nblocks; k++) /* by index: equal ranges order by ULID */
            for (size_t j = k; j > 0 && ix[j - 1] > ix[j]; j--) {
                int tmp = ix[j];
                ix[j] = ix[j - 1];
                ix[j - 1] = tmp;
            }
        for (size_t k = 0; k < a->nblocks && l < n; k++)
            l += (size_t)snprintf(out + l, n - l, "%s%d", k ? "," : "", ix[k]);
        for (size_t k = 0; k < a->ntargets && l < n; k++)
            l += (size_t)snprintf(out + l, n - l, "%s%s", k ? "+" : ">",
                                  a->targets[k] == PLANNER_RES_5M ? "5m" : "1h");
    }
}

static char *render(fx *f, planner_format fmt);

static void dump_plan(const fx *f)
{
    st_buf b;
    st_buf_init(&b, 0);
    st_err err;
    st_err_init(&err);
    if (planner_plan_format(f->p, PLANNER_FORMAT_TEXT, &b, &err) == 0 && st_buf_cstr(&b))
        fprintf(stderr, "%s", (const char *)b.p);
    st_buf_release(&b);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Space-separated tokens in sorted order (the order of groups follows their hashes). */
static void sorted_tokens(const char *in, char *out, size_t n)
{
    char buf[8192], *tok[512], *save = NULL;
    size_t k = 0, l = 0;
    snprintf(buf, sizeof(buf), "%s", in);
    for (char *t = strtok_r(buf, " ", &save); t && k < 512; t = strtok_r(NULL, " ", &save))
        tok[k++] = t;
    qsort(tok, k, sizeof(*tok), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < k && l < n; i++)
        l += (size_t)snprintf(out + l, n - l, "%s%s", i ? " " : "", tok[i]);
}

static void expect(const fx *f, planner_action_type t, const char *want, const char *name)
{
    char got[8192], a[8192], b[8192];
    describe(f, t, got, sizeof(got));
    sorted_tokens(got, a, sizeof(a));
    sorted_tokens(want, b, sizeof(b));
    if (strcmp(a, b) != 0) {
        dump_plan(f);
        fail_msg("%s: %s actions \"%s\", want \"%s\"", name, planner_action_type_name(t), got,
                 want);
    }
}

static size_t count_type(const fx *f, planner_action_type t)
{
    size_t n = 0;
    for (size_t i = 0; i < planner_plan_count(f->p); i++)
        n += planner_plan_action(f->p, i)->type == t;
    return n;
}

static const planner_action *action_of(const fx *f, int block)
{
    for (size_t i = 0; i < planner_plan_count(f->p); i++) {
        const planner_action *a = planner_plan_action(f->p, i);
        for (size_t k = 0; k < a->nblocks; k++)
            if (idx(f, a->blocks[k]) == block)
                return a;
    }
    return NULL;
}

static int has_note(const fx *f, const char *needle)
{
    for (size_t i = 0; i < planner_plan_nnotes(f->p); i++)
        if (strstr(planner_plan_note(f->p, i)->text, needle))
            return 1;
    return 0;
}

/* ---- group keys --------------------------------------------------------------------------- */

static void plan__group_keys_match_thanos_published_values(void **state)
{
    static const struct {
        int64_t res;
        codec_kv l[2];
        size_t n;
        const char *want;
    } cases[] = {
        {0, {{0}}, 0, "0@17241709254077376921"},
        {0, {{"foo", "bar"}, {"foo1", "bar2"}}, 2, "0@2124638872457683483"},
        {0,
         {{"foo/some..thing/some.thing/../", "a_b_c/bar-something-a\\metric/a\\x"}},
         1,
         "0@16590761456214576373"},
        {0, {{"cluster", "one"}, {"dataset", "continuous"}}, 2, "0@5015951687603620089"},
        {300000, {{0}}, 0, "300000@17241709254077376921"},
        {3600000, {{"foo", "bar"}, {"foo1", "bar2"}}, 2, "3600000@2124638872457683483"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char key[PLANNER_GROUP_KEY_LEN];
        planner_group_key(key, cases[i].res, cases[i].l, cases[i].n);
        if (strcmp(key, cases[i].want) != 0)
            fail_msg("case %zu: %s, want %s", i, key, cases[i].want);
    }
    assert_true(planner_labels_hash(NULL, 0) == 0xEF46DB3751D8E999ULL);
}

static void plan__groups_drop_replica_labels_and_sort_labels(void **state)
{
    const char *reps[] = {"replica"};
    planner_flags fl = {.replica_labels = reps, .nreplica_labels = 1};
    fx f;
    fx_init(&f, &fl);
    int a = ADD(&f, .min = T0, .max = T0 + 2 * H, .labels = "foo1=bar2,replica=r1,foo=bar");
    int b = ADD(&f, .min = T0, .max = T0 + 2 * H, .labels = "foo=bar,foo1=bar2,replica=r2");
    int c = ADD(&f, .min = T0, .max = T0 + 2 * H, .labels = "replica=r1");
    int d = ADD(&f, .min = T0, .max = T0 + 2 * H, .labels = "foo=bar,foo1=bar2", .res = 300000);
    plan_at(&f, T0 + 30 * D);
    assert_string_equal(blk(&f, a)->group, "0@2124638872457683483");
    assert_string_equal(blk(&f, b)->group, "0@2124638872457683483");
    assert_int_equal(blk(&f, a)->ngroup_labels, 2);
    /* nothing left but the replica label: `<first replica label>="deduped"`, as Thanos */
    codec_kv dd = {"replica", "deduped"};
    char want[PLANNER_GROUP_KEY_LEN];
    planner_group_key(want, 0, &dd, 1);
    assert_string_equal(blk(&f, c)->group, want);
    assert_string_equal(blk(&f, d)->group, "300000@2124638872457683483");
    fx_release(&f);
}

/* ---- horizontal: one step per final aligned range ----------------------------------------- */

typedef struct hcase {
    const char *name;
    int n;
    int64_t b[12][2]; /* [minTime, maxTime) in hours from T0 */
    const char *want; /* compact actions in plan order */
} hcase;

static void plan__merges_each_closed_aligned_range_in_one_step(void **state)
{
    static const hcase cases[] = {
        {"four 2h blocks complete an 8h range: the newest is included",
         4,
         {{0, 2}, {2, 4}, {4, 6}, {6, 8}},
         "0,1,2,3"},
        {"three 2h blocks, newest in the same open 8h range: nothing",
         3,
         {{0, 2}, {2, 4}, {4, 6}},
         ""},
        {"one newer block is not enough (Thanos' highTime is the second newest's minTime)",
         4,
         {{0, 2}, {2, 4}, {4, 6}, {8, 10}},
         ""},
        {"two newer blocks close the 8h range, whose gap stays",
         5,
         {{0, 2}, {2, 4}, {4, 6}, {8, 10}, {10, 12}},
         "0,1,2"},
        {"two 1h blocks in a complete 2h range", 3, {{0, 1}, {1, 2}, {2, 3}}, "0,1"},
        {"six 8h blocks complete a 2d range",
         6,
         {{0, 8}, {8, 16}, {16, 24}, {24, 32}, {32, 40}, {40, 48}},
         "0,1,2,3,4,5"},
        {"seven 2d blocks complete a 14d range",
         7,
         {{0, 48}, {48, 96}, {96, 144}, {144, 192}, {192, 240}, {240, 288}, {288, 336}},
         "0,1,2,3,4,5,6"},
        {"mixed levels in a closed 2d range become one block",
         6,
         {{0, 8}, {8, 16}, {16, 18}, {18, 20}, {48, 50}, {50, 52}},
         "0,1,2,3"},
        {"far apart blocks of one 14d range merge once it is closed",
         4,
         {{0, 2}, {100, 102}, {336, 338}, {338, 340}},
         "0,1"},
        {"open 14d range: its complete 2d ranges merge, 2h blocks after them wait",
         9,
         {{0, 48}, {48, 56}, {56, 64}, {64, 72}, {72, 80}, {80, 88}, {88, 96}, {96, 98}, {98, 100}},
         "1,2,3,4,5,6"},
        {"a block crossing a 2d boundary still joins its closed 14d range",
         5,
         {{0, 2}, {46, 50}, {50, 52}, {336, 338}, {338, 340}},
         "0,1,2"},
        {"a block crossing the 14d boundary is never merged",
         5,
         {{0, 2}, {2, 4}, {334, 338}, {338, 340}, {340, 342}},
         "0,1"},
        {"a single block in a closed range is already final", 3, {{0, 8}, {8, 10}, {10, 12}}, ""},
        {"blocks before the epoch align with a floor division",
         4,
         {{-8 - 14 * 24 * 1400, -6 - 14 * 24 * 1400},
          {-6 - 14 * 24 * 1400, -4 - 14 * 24 * 1400},
          {-4 - 14 * 24 * 1400, -2 - 14 * 24 * 1400},
          {-2 - 14 * 24 * 1400, 0 - 14 * 24 * 1400}},
         "0,1,2,3"},
    };
    for (size_t c = 0; c < ST_ARRAY_LEN(cases); c++) {
        fx f;
        fx_init(&f, NULL);
        for (int i = 0; i < cases[c].n; i++)
            ADD(&f, .min = T0 + cases[c].b[i][0] * H, .max = T0 + cases[c].b[i][1] * H,
                .labels = "cluster=a");
        plan_at(&f, T0 + 60 * D);
        expect(&f, PLANNER_ACT_COMPACT, cases[c].want, cases[c].name);
        /* outputs are aligned: inside one aligned 14d range */
        for (size_t i = 0; i < planner_plan_count(f.p); i++) {
            const planner_action *a = planner_plan_action(f.p, i);
            int64_t w = 14 * D, t0 = a->min_time - (((a->min_time % w) + w) % w);
            if (a->max_time > t0 + w)
                fail_msg("%s: output [%lld, %lld) crosses a 14d boundary", cases[c].name,
                         (long long)a->min_time, (long long)a->max_time);
        }
        fx_release(&f);
    }
}

static void plan__301_two_hour_blocks_take_one_action_per_final_range(void **state)
{
    fx f;
    fx_init(&f, NULL);
    for (int i = 0; i < 301; i++)
        ADD(&f, .min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "cluster=a",
            .size = 1 << 20, .index = 1 << 16);
    plan_at(&f, T0 + 30 * D);
    /* [0, 14d) complete: 168 blocks, one action. The open [14d, 28d): five complete 2d ranges
     * (days 14-24) and three complete 8h ranges of day 24; the newest block (day 25) waits. */
    size_t n = planner_plan_count(f.p);
    if (n != 9) {
        dump_plan(&f);
        fail_msg("%zu actions, want 9 (Thanos needs 88 compactions)", n);
    }
    static const struct {
        int64_t min_h, max_h;
        size_t nblocks;
    } want[] = {{0, 336, 168},  {336, 384, 24}, {384, 432, 24}, {432, 480, 24}, {480, 528, 24},
                {528, 576, 24}, {576, 584, 4},  {584, 592, 4},  {592, 600, 4}};
    unsigned char seen[301] = {0};
    for (size_t i = 0; i < n; i++) {
        const planner_action *a = planner_plan_action(f.p, i);
        assert_int_equal(a->type, PLANNER_ACT_COMPACT);
        assert_false(a->vertical);
        if (a->min_time != T0 + want[i].min_h * H || a->max_time != T0 + want[i].max_h * H ||
            a->nblocks != want[i].nblocks)
            fail_msg("action %zu: [%lld h, %lld h) with %zu blocks, want [%lld h, %lld h) with %zu",
                     i, (long long)((a->min_time - T0) / H), (long long)((a->max_time - T0) / H),
                     a->nblocks, (long long)want[i].min_h, (long long)want[i].max_h,
                     want[i].nblocks);
        assert_int_equal(a->level, 2);
        assert_true(a->est.input_bytes == a->nblocks << 20);
        assert_true(a->est.output_bytes == a->est.input_bytes);
        for (size_t k = 0; k < a->nblocks; k++) {
            int b = idx(&f, a->blocks[k]);
            assert_false(seen[b]);
            seen[b] = 1;
        }
    }
    assert_null(action_of(&f, 300)); /* the newest */

    /* Execute the plan on paper (each output replaces its inputs) and plan again: nothing is
     * left to do until newer blocks arrive. */
    fx g;
    fx_init(&g, NULL);
    for (size_t i = 0; i < n; i++) {
        const planner_action *a = planner_plan_action(f.p, i);
        planner_block o;
        memset(&o, 0, sizeof(o));
        o.ulid = mkulid(a->max_time, 9000 + (unsigned)i);
        codec_ulid *src = calloc(a->nblocks, sizeof(*src));
        for (size_t k = 0; k < a->nblocks; k++)
            src[k] = a->blocks[k]->sources[0];
        o.min_time = a->min_time;
        o.max_time = a->max_time;
        o.level = a->level;
        o.sources = src;
        o.nsources = a->nblocks;
        o.labels = a->labels;
        o.nlabels = a->nlabels;
        o.source = "compactor";
        o.upload_time_ms = INT64_MIN;
        st_err err;
        st_err_init(&err);
        assert_int_equal(planner_blockset_add(g.set, &o, &err), 0);
        free(src);
    }
    planner_block last = *blk(&f, 300);
    st_err err;
    st_err_init(&err);
    assert_int_equal(planner_blockset_add(g.set, &last, &err), 0);
    g.n = 0;
    plan_at(&g, T0 + 30 * D);
    assert_int_equal(count_type(&g, PLANNER_ACT_COMPACT), 0);
    fx_release(&g);
    fx_release(&f);
}

/* ---- vertical ---------------------------------------------------------------------------- */

static void plan__merges_overlapping_blocks_vertically(void **state)
{
    static const hcase cases[] = {
        {"two overlapping blocks in an open range merge at once", 2, {{0, 2}, {1, 3}}, "v:0,1"},
        {"touching blocks do not overlap (half-open ranges)", 2, {{0, 2}, {2, 4}}, ""},
        {"overlap is transitive", 4, {{0, 4}, {3, 6}, {5, 8}, {9, 10}}, "v:0,1,2"},
        {"an overlap inside a complete 8h range merges with its neighbours in one step",
         5,
         {{0, 2}, {0, 2}, {2, 4}, {4, 6}, {6, 8}},
         "v:0,1,2,3,4"},
        {"a block inside another one", 3, {{0, 8}, {2, 3}, {20, 22}}, "v:0,1"},
        {"the newest block takes part in an overlap", 3, {{0, 2}, {2, 4}, {3, 4}}, "v:1,2"},
        {"an overlap crossing the 14d boundary merges on its own",
         2,
         {{334, 338}, {336, 340}},
         "v:0,1"},
    };
    for (size_t c = 0; c < ST_ARRAY_LEN(cases); c++) {
        fx f;
        fx_init(&f, NULL);
        for (int i = 0; i < cases[c].n; i++)
            ADD(&f, .min = T0 + cases[c].b[i][0] * H, .max = T0 + cases[c].b[i][1] * H,
                .labels = "cluster=a");
        plan_at(&f, T0 + 60 * D);
        expect(&f, PLANNER_ACT_COMPACT, cases[c].want, cases[c].name);
        fx_release(&f);
    }
}

static void plan__ha_replicas_share_a_group_only_with_replica_labels(void **state)
{
    const char *reps[] = {"replica"};
    planner_flags with = {.replica_labels = reps, .nreplica_labels = 1};
    for (int mode = 0; mode < 2; mode++) {
        fx f;
        fx_init(&f, mode ? &with : NULL);
        /* two Prometheus replicas, 2h blocks over [0, 8h), plus two newer pairs */
        for (int h = 0; h < 12; h += 2) {
            ADD(&f, .min = T0 + h * H, .max = T0 + (h + 2) * H, .labels = "cluster=eu,replica=a",
                .size = 1000);
            ADD(&f, .min = T0 + h * H, .max = T0 + (h + 2) * H, .labels = "cluster=eu,replica=b",
                .size = 1000);
        }
        plan_at(&f, T0 + 2 * D);
        if (mode == 0) {
            /* two groups, each replica merged on its own: [0, 8h) is complete in both */
            expect(&f, PLANNER_ACT_COMPACT, "0,2,4,6 1,3,5,7", "replicas without replica labels");
        } else {
            /* one group: [0, 8h) merged with dedup; the pairs at 8h and 10h merge vertically */
            expect(&f, PLANNER_ACT_COMPACT, "v:0,1,2,3,4,5,6,7 v:8,9 v:10,11",
                   "replicas with replica labels");
            const planner_action *a = planner_plan_action(f.p, 0);
            assert_int_equal(a->nlabels, 1);
            assert_string_equal(a->labels[0].name, "cluster");
            assert_int_equal(a->nreplica_labels, 1);
            assert_string_equal(a->replica_labels[0], "replica");
            assert_non_null(strstr(a->reason, "dedup on replica"));
            /* replicas overlap fully: the output is expected to be one replica's size */
            assert_true(a->est.input_bytes == 8000);
            assert_true(a->est.output_bytes == 4000);
        }
        fx_release(&f);
    }
}

/* ---- resolutions, marks ------------------------------------------------------------------- */

static void plan__resolutions_compact_separately(void **state)
{
    fx f;
    fx_init(&f, NULL);
    /* raw and 5m copies of the same data: two groups with the same ranges */
    for (int i = 0; i < 3; i++)
        ADD(&f, .min = T0 + i * 2 * D, .max = T0 + (i + 1) * 2 * D, .labels = "cluster=a",
            .level = 3);
    for (int i = 0; i < 3; i++)
        ADD(&f, .min = T0 + i * 2 * D, .max = T0 + (i + 1) * 2 * D, .labels = "cluster=a",
            .level = 3, .res = PLANNER_RES_5M, .src = (int[]){i, -1});
    /* newer blocks in the next 14d range close [0, 14d) for both */
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 2; i++)
            ADD(&f, .min = T0 + 14 * D + i * 2 * D, .max = T0 + 14 * D + (i + 1) * 2 * D,
                .labels = "cluster=a", .level = 3, .res = r ? PLANNER_RES_5M : 0);
    /* overlapping 5m blocks are not merged (Thanos #6775) */
    ADD(&f, .min = T0 + 20 * D, .max = T0 + 22 * D, .labels = "cluster=a", .res = PLANNER_RES_5M);
    ADD(&f, .min = T0 + 21 * D, .max = T0 + 23 * D, .labels = "cluster=a", .res = PLANNER_RES_5M);
    plan_at(&f, T0 + 40 * D);
    expect(&f, PLANNER_ACT_COMPACT, "0,1,2 3,4,5", "raw and 5m groups");
    assert_true(planner_plan_action(f.p, 0)->resolution == 0);
    assert_true(action_of(&f, 3)->resolution == PLANNER_RES_5M);
    codec_kv ca = {"cluster", "a"};
    char key5m[PLANNER_GROUP_KEY_LEN];
    planner_group_key(key5m, PLANNER_RES_5M, &ca, 1);
    assert_string_equal(action_of(&f, 3)->group, key5m);
    assert_true(has_note(&f, "overlapping downsampled blocks are not merged"));
    fx_release(&f);
}

static void plan__no_compact_blocks_split_runs_and_are_never_inputs(void **state)
{
    static const struct {
        const char *name;
        int n;
        int64_t b[8][2];
        int nc[8];
        const char *want;
    } cases[] = {
        {"a marked block splits a complete 8h range into runs",
         4,
         {{0, 2}, {2, 4}, {4, 6}, {6, 8}},
         {0, 1, 0, 0},
         "2,3"},
        {"runs on both sides",
         6,
         {{0, 2}, {2, 4}, {4, 6}, {6, 8}, {16, 18}, {18, 20}},
         {0, 0, 1, 0, 0, 0},
         "0,1"},
        {"a marked block does not take part in an overlap",
         3,
         {{0, 2}, {1, 3}, {9, 10}},
         {0, 1, 0},
         ""},
        {"the marked newest block still counts as the newest",
         5,
         {{0, 2}, {2, 4}, {4, 6}, {8, 10}, {10, 12}},
         {0, 0, 0, 0, 1},
         "0,1,2"},
    };
    for (size_t c = 0; c < ST_ARRAY_LEN(cases); c++) {
        fx f;
        fx_init(&f, NULL);
        for (int i = 0; i < cases[c].n; i++)
            ADD(&f, .min = T0 + cases[c].b[i][0] * H, .max = T0 + cases[c].b[i][1] * H,
                .labels = "cluster=a", .no_compact = cases[c].nc[i]);
        plan_at(&f, T0 + 60 * D);
        expect(&f, PLANNER_ACT_COMPACT, cases[c].want, cases[c].name);
        for (int i = 0; i < cases[c].n; i++)
            if (cases[c].nc[i] && action_of(&f, i))
                fail_msg("%s: no-compact block %d is an input", cases[c].name, i);
        fx_release(&f);
    }
}

static void plan__deletion_marks_wait_for_the_delete_delay(void **state)
{
    fx f;
    fx_init(&f, NULL);
    int64_t now = T0 + 30 * D;
    for (int i = 0; i < 4; i++) /* a complete 8h range whose third block is marked */
        ADD(&f, .min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "cluster=a",
            .deleted_at = i == 2 ? now - 10 * H : 0);
    int exact = ADD(&f, .min = T0 + 10 * D, .max = T0 + 10 * D + 2 * H, .deleted_at = now - 48 * H);
    int older =
        ADD(&f, .min = T0 + 11 * D, .max = T0 + 11 * D + 2 * H, .deleted_at = now - 48 * H - 1000);
    int partial = ADD(&f, .partial = 1, .ulid_ms = T0, .deleted_at = now - 72 * H);
    plan_at(&f, now);
    /* the marked block is no input; the rest of its range still merges */
    expect(&f, PLANNER_ACT_COMPACT, "0,1,3", "marked block left out");
    /* strictly older than the delay, as Thanos' BlocksCleaner */
    char want[64];
    snprintf(want, sizeof(want), "%d %d", older, partial);
    (void)exact;
    expect(&f, PLANNER_ACT_DELETE, want, "deletions");
    assert_non_null(strstr(action_of(&f, partial)->reason, "partial upload"));
    assert_true(action_of(&f, older)->est.input_bytes == 1000);
    assert_int_equal(count_type(&f, PLANNER_ACT_CLEANUP_PARTIAL), 0);
    fx_release(&f);
}

static void plan__superseded_blocks_left_by_a_crash_are_collected(void **state)
{
    fx f;
    fx_init(&f, NULL);
    /* three 2h blocks were compacted into one; the run died before marking its inputs */
    int a = ADD(&f, .min = T0, .max = T0 + 2 * H, .labels = "cluster=a");
    int b = ADD(&f, .min = T0 + 2 * H, .max = T0 + 4 * H, .labels = "cluster=a");
    int c = ADD(&f, .min = T0 + 4 * H, .max = T0 + 6 * H, .labels = "cluster=a");
    int out = ADD(&f, .min = T0, .max = T0 + 6 * H, .labels = "cluster=a", .level = 2,
                  .src = (int[]){a, b, c, -1}, .source = "compactor", .ulid_ms = T0 + 7 * H);
    /* a duplicate output (same sources): the lower ULID is kept, as Thanos */
    int dup = ADD(&f, .min = T0, .max = T0 + 6 * H, .labels = "cluster=a", .level = 2,
                  .src = (int[]){a, b, c, -1}, .source = "compactor", .ulid_ms = T0 + 8 * H);
    /* the same sources in another group (a 5m copy) supersede nothing */
    int ds = ADD(&f, .min = T0, .max = T0 + 6 * H, .labels = "cluster=a", .level = 2,
                 .res = PLANNER_RES_5M, .src = (int[]){a, b, c, -1});
    /* a block without sources is never called superseded */
    int nos = ADD(&f, .min = T0 + 8 * H, .max = T0 + 10 * H, .labels = "cluster=a", .nosrc = 1);
    ADD(&f, .min = T0 + 10 * H, .max = T0 + 12 * H, .labels = "cluster=a");
    plan_at(&f, T0 + 2 * D);
    char want[64];
    snprintf(want, sizeof(want), "%d %d %d %d", a, b, c, dup);
    expect(&f, PLANNER_ACT_GC, want, "gc of the inputs and the duplicate");
    assert_true((blk(&f, a)->state & PLANNER_BLOCK_SUPERSEDED) != 0);
    assert_string_equal(blk(&f, a)->superseded_by.s, f.ids[out].s);
    assert_string_equal(blk(&f, dup)->superseded_by.s, f.ids[out].s);
    assert_false(blk(&f, out)->state & PLANNER_BLOCK_SUPERSEDED);
    assert_false(blk(&f, ds)->state & PLANNER_BLOCK_SUPERSEDED);
    assert_false(blk(&f, nos)->state & PLANNER_BLOCK_SUPERSEDED);
    assert_non_null(strstr(action_of(&f, a)->reason, f.ids[out].s));
    /* the output is alone in its closed [0, 8h) range: nothing to merge */
    expect(&f, PLANNER_ACT_COMPACT, "", "the output alone in its range");
    fx_release(&f);
}

/* ---- retention, delays, partial uploads ---------------------------------------------------- */

static void plan__retention_is_per_tenant_and_resolution_on_max_time(void **state)
{
    planner_flags fl = {.retention_raw = "30d",
                        .retention_5m = "90d",
                        .tenant_config_yaml = "tenants:\n"
                                              "  acme:\n"
                                              "    retention: {raw: 7d, 1h: 1y}\n"
                                              "  globex:\n"
                                              "    retention: {raw: 0}\n"};
    fx f;
    fx_init(&f, &fl);
    int64_t now = T0 + 400 * D + 500;
    static const struct {
        const char *tenant;
        int64_t res, age; /* now - maxTime */
        int want;
    } cases[] = {
        {"acme", 0, 7 * D - 500, 0}, /* exactly at retention: kept */
        {"acme", 0, 7 * D - 499, 1}, /* 1 ms past */
        {"acme", 0, 7 * D, 1},       /* maxTime truncated to seconds: 500 ms past */
        {"acme", 0, 7 * D - 501, 0},
        {"acme", PLANNER_RES_5M, 91 * D, 1},  /* 5m from the defaults (flag) */
        {"acme", PLANNER_RES_1H, 364 * D, 0}, /* 1h: 1y */
        {"acme", PLANNER_RES_1H, 366 * D, 1},
        {"globex", 0, 399 * D, 0}, /* raw kept forever */
        {"globex", PLANNER_RES_5M, 91 * D, 1},
        {"initech", 0, 31 * D, 1}, /* defaults */
        {"initech", 0, 29 * D, 0},
        {"initech", PLANNER_RES_1H, 399 * D, 0}, /* 1h: 0d by default */
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        int64_t max = now - cases[i].age;
        ADD(&f, .min = max - 2 * H + 7 * (int64_t)i, .max = max, .tenant = cases[i].tenant,
            .res = cases[i].res, .labels = "cluster=a");
    }
    plan_at(&f, now);
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        const planner_action *a = action_of(&f, (int)i);
        int got = a && a->type == PLANNER_ACT_RETENTION;
        if (got != cases[i].want) {
            dump_plan(&f);
            fail_msg("case %zu (%s): retention %d, want %d", i, cases[i].tenant, got,
                     cases[i].want);
        }
    }
    const planner_action *a = action_of(&f, 1);
    if (!strstr(a->reason, "raw retention 1w of tenant acme"))
        fail_msg("reason: %s", a->reason);
    assert_string_equal(a->tenant, "acme");
    fx_release(&f);
}

static void plan__retention_never_waits_behind_compaction(void **state)
{
    planner_flags fl = {.retention_raw = "3d19h", .downsampling_disable = 1};
    fx f;
    fx_init(&f, &fl);
    /* an 8h range whose first two blocks are past retention, then a backlog of 2h blocks */
    for (int i = 0; i < 4; i++)
        ADD(&f, .min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "cluster=a");
    for (int i = 0; i < 30; i++)
        ADD(&f, .min = T0 + D + i * 2 * H, .max = T0 + D + (i + 1) * 2 * H, .labels = "cluster=a");
    plan_at(&f, T0 + 4 * D);
    expect(&f, PLANNER_ACT_RETENTION, "0 1", "retention");
    /* retention comes first in the plan, before any compaction */
    assert_int_equal(planner_plan_action(f.p, 0)->type, PLANNER_ACT_RETENTION);
    assert_int_equal(planner_plan_action(f.p, 1)->type, PLANNER_ACT_RETENTION);
    /* the rest of [0, 2d) merges without the two expired blocks */
    const planner_action *a = action_of(&f, 2);
    assert_int_equal(a->type, PLANNER_ACT_COMPACT);
    assert_int_equal(a->nblocks, 14);
    assert_true(a->min_time == T0 + 4 * H && a->max_time == T0 + 2 * D);
    fx_release(&f);
}

static void plan__consistency_delay_holds_back_fresh_uploads(void **state)
{
    fx f;
    fx_init(&f, NULL);
    int64_t now = T0 + 10 * H;
    for (int i = 0; i < 4; i++)
        ADD(&f, .min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "cluster=a",
            .upload = i == 3 ? now - 10 * 60000 : 0);
    /* too fresh by ULID time (no upload time) */
    int by_ulid = ADD(&f, .min = T0 + 8 * H, .max = T0 + 10 * H, .labels = "cluster=b",
                      .upload = -1, .ulid_ms = now - 60000);
    ADD(&f, .min = T0, .max = T0 + 2 * H, .labels = "cluster=b", .upload = -1,
        .ulid_ms = now - 29 * 60000);
    /* compactor-made blocks are exempt */
    int made = ADD(&f, .min = T0, .max = T0 + 8 * H, .labels = "cluster=c", .upload = now,
                   .source = "compactor", .level = 2);
    plan_at(&f, now);
    assert_true(blk(&f, 3)->state & PLANNER_BLOCK_TOO_FRESH);
    assert_false(blk(&f, 2)->state & PLANNER_BLOCK_TOO_FRESH);
    assert_true(blk(&f, by_ulid)->state & PLANNER_BLOCK_TOO_FRESH);
    assert_false(blk(&f, made)->state & PLANNER_BLOCK_TOO_FRESH);
    /* without its fourth block the 8h range is open (block 2 is now the newest) */
    expect(&f, PLANNER_ACT_COMPACT, "", "fresh block hidden");
    plan_at(&f, now + 21 * 60000);
    expect(&f, PLANNER_ACT_COMPACT, "0,1,2,3", "fresh block visible");
    fx_release(&f);
}

static void plan__partial_uploads_are_cleaned_after_48h(void **state)
{
    fx f;
    fx_init(&f, NULL);
    int64_t now = T0 + 10 * D;
    int old = ADD(&f, .partial = 1, .ulid_ms = now - 100 * H, .modified = now - 48 * H - 1);
    int recent = ADD(&f, .partial = 1, .ulid_ms = now - 100 * H, .modified = now - 47 * H);
    int exact = ADD(&f, .partial = 1, .ulid_ms = now - 100 * H, .modified = now - 48 * H);
    int by_ulid = ADD(&f, .partial = 1, .ulid_ms = now - 49 * H);
    int young_ulid = ADD(&f, .partial = 1, .ulid_ms = now - 2 * H);
    plan_at(&f, now);
    char want[64];
    snprintf(want, sizeof(want), "%d %d", old, by_ulid);
    expect(&f, PLANNER_ACT_CLEANUP_PARTIAL, want, "partial uploads");
    (void)recent, (void)exact, (void)young_ulid;
    const planner_action *a = action_of(&f, by_ulid);
    assert_string_equal(a->group, "");
    assert_non_null(strstr(a->reason, "ULID time"));
    assert_true(blk(&f, old)->state & PLANNER_BLOCK_PARTIAL);
    fx_release(&f);
}

/* ---- downsampling -------------------------------------------------------------------------- */

static void plan__downsamples_long_blocks_whose_sources_lack_a_copy(void **state)
{
    planner_flags off = {.tenant_config_yaml = "tenants:\n  globex:\n    downsampling: false\n"};
    fx f;
    fx_init(&f, &off);
    int r2d = ADD(&f, .min = T0, .max = T0 + 2 * D, .labels = "c=a", .level = 3);
    int r39 = ADD(&f, .min = T0 + 2 * D, .max = T0 + 2 * D + 39 * H, .labels = "c=a", .level = 3);
    int r40 = ADD(&f, .min = T0 + 4 * D, .max = T0 + 4 * D + 40 * H, .labels = "c=a", .level = 3);
    int covered = ADD(&f, .min = T0 + 6 * D, .max = T0 + 8 * D, .labels = "c=a", .level = 3);
    ADD(&f, .min = T0 + 6 * D, .max = T0 + 8 * D, .labels = "c=a", .res = PLANNER_RES_5M,
        .src = (int[]){covered, -1});
    int r14 = ADD(&f, .min = T0 + 14 * D, .max = T0 + 28 * D, .labels = "c=b", .level = 4);
    int m14 = ADD(&f, .min = T0 + 28 * D, .max = T0 + 42 * D, .labels = "c=b",
                  .res = PLANNER_RES_5M, .level = 4);
    int m2 =
        ADD(&f, .min = T0 + 42 * D, .max = T0 + 44 * D, .labels = "c=b", .res = PLANNER_RES_5M);
    int nd = ADD(&f, .min = T0 + 44 * D, .max = T0 + 46 * D, .labels = "c=b", .no_downsample = 1);
    int off_t = ADD(&f, .min = T0, .max = T0 + 2 * D, .labels = "c=a", .tenant = "globex");
    int h1 =
        ADD(&f, .min = T0 + 46 * D, .max = T0 + 60 * D, .labels = "c=b", .res = PLANNER_RES_1H);
    plan_at(&f, T0 + 90 * D);
    char want[128];
    snprintf(want, sizeof(want), "%d>5m %d>5m %d>5m+1h %d>1h", r2d, r40, r14, m14);
    expect(&f, PLANNER_ACT_DOWNSAMPLE, want, "downsampling");
    expect(&f, PLANNER_ACT_COMPACT, "", "nothing to merge here");
    (void)r39, (void)m2, (void)nd, (void)off_t, (void)h1;
    const planner_action *a = action_of(&f, r14);
    assert_true(a->resolution == 0 && a->ntargets == 2);
    assert_non_null(strstr(a->reason, "same read"));
    assert_true(a->est.output_bytes > 0);
    assert_int_equal(a->level, 4);
    fx_release(&f);
}

static void plan__compaction_inputs_are_downsampled_after_their_merge(void **state)
{
    fx f;
    fx_init(&f, NULL);
    /* seven 2d blocks complete a 14d range: they merge first, the 14d output is downsampled
     * by a later run */
    for (int i = 0; i < 7; i++)
        ADD(&f, .min = T0 + i * 2 * D, .max = T0 + (i + 1) * 2 * D, .labels = "c=a", .level = 3);
    plan_at(&f, T0 + 30 * D);
    expect(&f, PLANNER_ACT_COMPACT, "0,1,2,3,4,5,6", "14d merge");
    expect(&f, PLANNER_ACT_DOWNSAMPLE, "", "no downsampling of merge inputs");
    fx_release(&f);
}

/* ---- limits, failed blocks, tombstones -------------------------------------------------- */

static void plan__large_merges_are_cut_before_the_index_limit(void **state)
{
    planner_flags fl = {.max_index_size = "1000"}; /* 85%: 850 bytes of input indexes */
    fx f;
    fx_init(&f, &fl);
    for (int i = 0; i < 7; i++)
        ADD(&f, .min = T0 + i * 2 * D, .max = T0 + (i + 1) * 2 * D, .labels = "c=a", .index = 300);
    plan_at(&f, T0 + 30 * D);
    expect(&f, PLANNER_ACT_COMPACT, "0,1 2,3 4,5", "parts under the limit");
    assert_non_null(strstr(planner_plan_action(f.p, 0)->reason, "part 1 of 4"));
    fx_release(&f);
}

static void plan__ranges_with_a_failed_compaction_are_skipped(void **state)
{
    fx f;
    fx_init(&f, NULL);
    for (int i = 0; i < 4; i++)
        ADD(&f, .min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "c=a",
            .failed = i == 1);
    plan_at(&f, T0 + 30 * D);
    /* the 8h range is skipped; its 2h sub-ranges hold one block each */
    expect(&f, PLANNER_ACT_COMPACT, "", "failed block");
    assert_true(has_note(&f, "compaction.failed"));
    fx_release(&f);
}

static void plan__blocks_with_many_tombstones_are_rewritten(void **state)
{
    fx f;
    fx_init(&f, NULL);
    ADD(&f, .min = T0, .max = T0 + 2 * D, .labels = "c=a", .series = 100, .tombstones = 6);
    ADD(&f, .min = T0 + 2 * D, .max = T0 + 4 * D, .labels = "c=a", .series = 100, .tombstones = 5);
    ADD(&f, .min = T0 + 4 * D, .max = T0 + 6 * D, .labels = "c=a", .series = 100,
        .tombstones = 50); /* the newest: left alone */
    plan_at(&f, T0 + 8 * D);
    expect(&f, PLANNER_ACT_COMPACT, "0", "tombstones");
    assert_non_null(strstr(planner_plan_action(f.p, 0)->reason, "tombstones"));
    fx_release(&f);
}

/* Metas come from the bucket: absurd values must give a plan (or a note), never overflow. */
static void plan__survives_absurd_metas(void **state)
{
    planner_flags fl = {.retention_raw = "1y", .delete_delay = "292y"};
    fx f;
    fx_init(&f, &fl);
    ADD(&f, .min = INT64_MIN, .max = INT64_MAX, .upload = -1, .ulid_ms = 1, .labels = "c=a");
    ADD(&f, .min = INT64_MAX - 5, .max = INT64_MAX, .upload = -1, .ulid_ms = 2, .labels = "c=a");
    ADD(&f, .min = INT64_MIN, .max = INT64_MIN + 1, .upload = -1, .ulid_ms = 3, .labels = "c=a",
        .tombstones = 1000, .series = 1);
    ADD(&f, .min = 5 * H, .max = 1 * H, .upload = -1, .ulid_ms = 4, .labels = "c=a");
    ADD(&f, .min = T0, .max = T0 + 2 * H, .upload = -1, .ulid_ms = 5, .labels = "c=a",
        .deleted_at = INT64_MAX / 1000 * 1000);
    ADD(&f, .min = T0, .max = T0 + 2 * H, .upload = -1, .ulid_ms = 6, .labels = "c=b",
        .deleted_at = INT64_MIN / 1000 * 1000);
    ADD(&f, .min = -2 * D, .max = 20 * D, .upload = -1, .ulid_ms = 7, .labels = "c=a");
    ADD(&f, .partial = 1, .ulid_ms = 8, .modified = INT64_MIN + 1);
    for (int k = 0; k < 3; k++) {
        int64_t now = k == 0 ? INT64_MAX : k == 1 ? INT64_MIN : T0;
        plan_at(&f, now);
        for (int fmt = 0; fmt < 2; fmt++)
            free(render(&f, (planner_format)fmt));
    }
    fx_release(&f);
}

/* ---- tenants, determinism, sharding ------------------------------------------------------ */

static void plan__tenants_are_planned_apart(void **state)
{
    planner_flags fl = {.tenant_layout = "prefix"};
    fx f;
    fx_init(&f, &fl);
    /* the same labels and ranges in two tenants: two separate compactions */
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++)
            ADD(&f, .min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "c=a",
                .tenant = t ? "globex" : "acme");
    plan_at(&f, T0 + D);
    expect(&f, PLANNER_ACT_COMPACT, "0,1,2,3 4,5,6,7", "two tenants");
    const planner_action *a = planner_plan_action(f.p, 0), *b = planner_plan_action(f.p, 1);
    assert_string_equal(a->tenant, "acme");
    assert_string_equal(a->tenant_prefix, "acme/");
    assert_string_equal(b->tenant, "globex");
    assert_string_equal(a->group, b->group);
    assert_true(a->shard_hash != b->shard_hash);
    fx_release(&f);
}

static void plan__label_layout_leaves_blocks_of_invalid_tenants_alone(void **state)
{
    planner_flags fl = {.tenant_layout = "label"};
    fx f;
    fx_init(&f, &fl);
    for (int i = 0; i < 4; i++)
        ADD(&f, .min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "tenant_id=a/b",
            .tenant = "a/b");
    plan_at(&f, T0 + D);
    assert_int_equal(planner_plan_count(f.p), 0);
    assert_true(blk(&f, 0)->state & PLANNER_BLOCK_BAD_TENANT);
    assert_true(has_note(&f, "not a valid tenant name"));
    fx_release(&f);
}

static void build_mixed(fx *f, const int *order, int n)
{
    static spec specs[40];
    int k = 0;
    for (int i = 0; i < 12; i++)
        specs[k++] = (spec){.min = T0 + i * 2 * H, .max = T0 + (i + 1) * 2 * H, .labels = "c=a"};
    for (int i = 0; i < 8; i++) /* replica pairs: two slots in t1, two in t2 */
        specs[k++] = (spec){.min = T0 + i / 2 * 2 * H,
                            .max = T0 + (i / 2 + 1) * 2 * H,
                            .labels = i % 2 ? "c=b,replica=x" : "c=b,replica=y",
                            .tenant = i < 4 ? "t1" : "t2"};
    specs[k++] = (spec){.min = T0, .max = T0 + 2 * D, .labels = "c=d", .level = 3};
    specs[k++] = (spec){.partial = 1, .ulid_ms = T0};
    specs[k++] =
        (spec){.min = T0 + 3 * D, .max = T0 + 3 * D + 2 * H, .labels = "c=a", .deleted_at = T0};
    assert_int_equal(k, n);
    for (int i = 0; i < n; i++)
        specs[i].id = (unsigned)i + 1; /* the ULID follows the block, not the listing order */
    for (int i = 0; i < n; i++)
        add_spec(f, &specs[order[i]]);
}

static char *render(fx *f, planner_format fmt)
{
    st_buf b;
    st_buf_init(&b, 0);
    st_err err;
    st_err_init(&err);
    assert_int_equal(planner_plan_format(f->p, fmt, &b, &err), 0);
    char *s = strdup(st_buf_cstr(&b));
    st_buf_release(&b);
    return s;
}

static void plan__is_deterministic_whatever_the_listing_order(void **state)
{
    const char *reps[] = {"replica"};
    planner_flags fl = {.replica_labels = reps, .nreplica_labels = 1};
    enum { N = 23 };
    int fwd[N], rev[N], shuf[N];
    for (int i = 0; i < N; i++)
        fwd[i] = i, rev[i] = N - 1 - i, shuf[i] = (i * 7) % N;
    const int *orders[] = {fwd, rev, shuf};
    char *first[2] = {NULL, NULL};
    for (size_t o = 0; o < ST_ARRAY_LEN(orders); o++) {
        fx f;
        fx_init(&f, &fl);
        build_mixed(&f, orders[o], N);
        for (int rep = 0; rep < 2; rep++) {
            plan_at(&f, T0 + 5 * D);
            for (int fmt = 0; fmt < 2; fmt++) {
                char *s = render(&f, (planner_format)fmt);
                if (!first[fmt])
                    first[fmt] = s;
                else {
                    if (strcmp(s, first[fmt]) != 0)
                        fail_msg("order %zu rep %d format %d differs:\n%s\n---\n%s", o, rep, fmt, s,
                                 first[fmt]);
                    free(s);
                }
            }
        }
        assert_true(planner_plan_count(f.p) >= 4);
        fx_release(&f);
    }
    /* the JSON has the fields the issue asks for */
    static const char *const keys[] = {"\"now\": \"2023-09-05T00:00:00Z\"",
                                       "\"actions\"",
                                       "\"type\": \"compact\"",
                                       "\"tenant\"",
                                       "\"group\"",
                                       "\"resolution\"",
                                       "\"blocks\"",
                                       "\"min_time\"",
                                       "\"max_time\"",
                                       "\"vertical\": true",
                                       "\"reason\"",
                                       "\"estimated_bytes\"",
                                       "\"type\": \"cleanup_partial\""};
    for (size_t i = 0; i < ST_ARRAY_LEN(keys); i++)
        if (!strstr(first[1], keys[i]))
            fail_msg("JSON lacks %s:\n%s", keys[i], first[1]);
    free(first[0]);
    free(first[1]);
}

static void plan__shards_split_by_group_and_by_block(void **state)
{
    const char *reps[] = {"replica"};
    planner_flags fl = {.replica_labels = reps, .nreplica_labels = 1};
    fx f;
    fx_init(&f, &fl);
    int ord[23];
    for (int i = 0; i < 23; i++)
        ord[i] = i;
    build_mixed(&f, ord, 23);
    plan_at(&f, T0 + 5 * D);
    size_t per[3] = {0};
    for (size_t i = 0; i < planner_plan_count(f.p); i++) {
        const planner_action *a = planner_plan_action(f.p, i);
        unsigned s = planner_action_shard(a, 3);
        assert_true(s < 3);
        per[s]++;
        assert_int_equal(planner_action_shard(a, 1), 0);
        /* every job of a group lands on the same pod */
        for (size_t j = 0; j < planner_plan_count(f.p); j++) {
            const planner_action *b = planner_plan_action(f.p, j);
            if (a->type == PLANNER_ACT_COMPACT && b->type == PLANNER_ACT_COMPACT &&
                !strcmp(a->tenant, b->tenant) && !strcmp(a->group, b->group))
                assert_int_equal(planner_action_shard(b, 3), s);
        }
    }
    assert_true(per[0] + per[1] + per[2] == planner_plan_count(f.p));
    fx_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan__group_keys_match_thanos_published_values),
        cmocka_unit_test(plan__groups_drop_replica_labels_and_sort_labels),
        cmocka_unit_test(plan__merges_each_closed_aligned_range_in_one_step),
        cmocka_unit_test(plan__301_two_hour_blocks_take_one_action_per_final_range),
        cmocka_unit_test(plan__merges_overlapping_blocks_vertically),
        cmocka_unit_test(plan__ha_replicas_share_a_group_only_with_replica_labels),
        cmocka_unit_test(plan__resolutions_compact_separately),
        cmocka_unit_test(plan__no_compact_blocks_split_runs_and_are_never_inputs),
        cmocka_unit_test(plan__deletion_marks_wait_for_the_delete_delay),
        cmocka_unit_test(plan__superseded_blocks_left_by_a_crash_are_collected),
        cmocka_unit_test(plan__retention_is_per_tenant_and_resolution_on_max_time),
        cmocka_unit_test(plan__retention_never_waits_behind_compaction),
        cmocka_unit_test(plan__consistency_delay_holds_back_fresh_uploads),
        cmocka_unit_test(plan__partial_uploads_are_cleaned_after_48h),
        cmocka_unit_test(plan__downsamples_long_blocks_whose_sources_lack_a_copy),
        cmocka_unit_test(plan__compaction_inputs_are_downsampled_after_their_merge),
        cmocka_unit_test(plan__large_merges_are_cut_before_the_index_limit),
        cmocka_unit_test(plan__ranges_with_a_failed_compaction_are_skipped),
        cmocka_unit_test(plan__blocks_with_many_tombstones_are_rewritten),
        cmocka_unit_test(plan__survives_absurd_metas),
        cmocka_unit_test(plan__tenants_are_planned_apart),
        cmocka_unit_test(plan__label_layout_leaves_blocks_of_invalid_tenants_alone),
        cmocka_unit_test(plan__is_deterministic_whatever_the_listing_order),
        cmocka_unit_test(plan__shards_split_by_group_and_by_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
