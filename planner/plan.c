/*
 * plan.c - the plan: a pure function of the blockset, the settings and `now`
 * (thanos-compactor.md §3 planner, §5 downsampling eligibility, §6 retention and deletion,
 * §7 crash leftovers). Per block first: deletions whose mark is older than the delete delay,
 * partial uploads older than 48h, superseded blocks (gc) and blocks past their tenant's
 * retention for their resolution (on maxTime, truncated to seconds, as Thanos) - none of which
 * waits for any compaction. Then per group, on the blocks left:
 *
 *  - Overlapping blocks (Thanos' rule: sorted by minTime, a block starting before the running
 *    max of maxTime overlaps) form clusters, merged vertically.
 *  - Horizontal merging in one step. Clusters and single blocks ("units") are placed in the
 *    aligned windows of 14d, 2d, 8h and 2h (t0 = iv * floor(minTime / iv), a unit fits when its
 *    maxTime <= t0 + iv), largest first. A window is closed when its units span it exactly, or
 *    when it holds neither the newest unit nor anything ending after the second newest unit's
 *    minTime (Thanos' `highTime`). Every closed window becomes one compaction straight from its
 *    inputs - where Thanos walks 2h -> 8h -> 2d -> 14d one plan per pass (88 compactions for
 *    301 two-hour blocks), its final ranges are planned here at once - and its units are done;
 *    open windows are searched again at the next smaller size. So the newest block only takes
 *    part when its range is complete, and no output crosses an aligned 14d boundary.
 *    No-compact blocks (and overlapping downsampled blocks, Thanos #6775) split a window into
 *    runs, merged separately; windows holding a block with compaction.failed are skipped.
 *    A run whose inputs' indexes reach 85% of the index size limit is cut into consecutive
 *    parts (Thanos would mark blocks no-compact instead).
 *  - Overlap clusters left in open windows are merged on their own; blocks with more than 5%
 *    tombstones are rewritten (Thanos' last planner rule).
 *  - Downsampling: a raw block of range >= 40h with a source no 5m block of its tenant holds gets
 *    a 5m copy (and a 1h copy from the same read when its range is >= 10d and a source is not in
 *    any 1h block); a 5m block of range >= 10d likewise gets a 1h copy. Inputs of this plan's
 *    compactions wait for their output.
 */
#include "planner_int.h"

#include <stdio.h>
#include <stdlib.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

struct planner_plan {
    int64_t now_ms;
    const planner_blockset *set;
    planner_action *actions;
    size_t n, cap;
    planner_note *notes;
    size_t nnotes, notes_cap;
    st_arena arena;
    /* summary */
    size_t blocks, by_state[PLAN_NSTATES];
};

/* A group's block, or an overlap cluster of them, as the horizontal planner sees it. */
typedef struct unit {
    int64_t min, max;
    const planner_block **m; /* members, sorted by (minTime, maxTime, ULID) */
    size_t n;
    int nc;       /* a no-compact block: splits runs, never merged */
    int blocked;  /* overlapping downsampled blocks: not merged (Thanos #6775) */
    int assigned; /* its window was closed: nothing smaller is planned for it */
    int in_action;
} unit;

typedef struct pctx {
    struct planner_plan *p;
    const planner_settings *s;
    int64_t now;
    unsigned char *used; /* per set index: input of an action */
    st_err *err;
} pctx;

static int nomem(pctx *c)
{
    return st_err_set(c->err, ST_ENOMEM, "planner: out of memory");
}

static char *aprintf(st_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *aprintf(st_arena *a, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return arena_str(a, buf);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int cmp_block_time(const void *x, const void *y)
{
    const planner_block *a = *(const planner_block *const *)x;
    const planner_block *b = *(const planner_block *const *)y;
    if (a->min_time != b->min_time)
        return a->min_time < b->min_time ? -1 : 1;
    if (a->max_time != b->max_time)
        return a->max_time < b->max_time ? -1 : 1;
    return ulid_cmp(&a->ulid, &b->ulid);
}

static int cmp_block_group(const void *x, const void *y)
{
    const planner_block *a = *(const planner_block *const *)x;
    const planner_block *b = *(const planner_block *const *)y;
    int c = strcmp(a->tenant, b->tenant);
    if (!c)
        c = strcmp(a->group, b->group);
    return c ? c : cmp_block_time(x, y);
}

static const char *tenant_prefix(pctx *c, const char *tenant)
{
    if (c->s->tenant_layout != PLANNER_TENANTS_PREFIX || !*tenant)
        return "";
    return aprintf(&c->p->arena, "%s/", tenant);
}

static int add_note(pctx *c, const planner_block *b, const char *group, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int add_note(pctx *c, const planner_block *b, const char *group, const char *fmt, ...)
{
    struct planner_plan *p = c->p;
    if (p->nnotes == p->notes_cap) {
        size_t ncap = p->notes_cap ? p->notes_cap * 2 : 16;
        planner_note *nn = st_reallocarray(p->notes, ncap, sizeof(*nn));
        if (!nn)
            return nomem(c);
        p->notes = nn;
        p->notes_cap = ncap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    planner_note *n = &p->notes[p->nnotes];
    n->tenant = b ? b->tenant : "";
    n->group = group ? group : (b ? b->group : "");
    n->ulid = b ? arena_str(&p->arena, b->ulid.s) : "";
    n->text = arena_str(&p->arena, buf);
    if (!n->ulid || !n->text)
        return nomem(c);
    p->nnotes++;
    return 0;
}

static uint64_t shard_hash(const char *tenant, const char *key)
{
    static const unsigned char sep = 0xFF;
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    XXH64_update(&st, tenant, strlen(tenant));
    XXH64_update(&st, &sep, 1);
    XXH64_update(&st, key, strlen(key));
    return XXH64_digest(&st);
}

/* A new action on blocks b[0..n) (copied and sorted); group fields from b[0]. */
static planner_action *add_action(pctx *c, planner_action_type type, const planner_block **b,
                                  size_t n)
{
    struct planner_plan *p = c->p;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        planner_action *na = st_reallocarray(p->actions, ncap, sizeof(*na));
        if (!na)
            return NULL;
        p->actions = na;
        p->cap = ncap;
    }
    const planner_block **in = st_arena_alloc(&p->arena, n * sizeof(*in));
    if (!in)
        return NULL;
    memcpy(in, b, n * sizeof(*in));
    qsort(in, n, sizeof(*in), cmp_block_time);
    const planner_block *f = in[0];
    const planner_tenant_settings *ts = planner_settings_tenant(c->s, f->tenant);
    planner_action *a = &p->actions[p->n];
    memset(a, 0, sizeof(*a));
    a->type = type;
    a->tenant = f->tenant;
    a->tenant_prefix = tenant_prefix(c, f->tenant);
    a->group = f->group;
    a->resolution = f->resolution;
    a->blocks = in;
    a->nblocks = n;
    a->min_time = INT64_MAX;
    a->max_time = INT64_MIN;
    a->labels = f->group_labels;
    a->nlabels = f->ngroup_labels;
    a->replica_labels = ts->replica_labels;
    a->nreplica_labels = ts->nreplica_labels;
    for (size_t i = 0; i < n; i++) {
        const planner_block *x = in[i];
        a->min_time = ST_MIN(a->min_time, x->min_time);
        a->max_time = ST_MAX(a->max_time, x->max_time);
        a->level = ST_MAX(a->level, x->level);
        a->est.input_bytes += x->size_bytes;
        a->est.series += x->stats.series;
        a->est.samples += x->stats.samples;
        a->est.chunks += x->stats.chunks;
        c->used[x - planner_blockset_block(p->set, 0)] = 1;
    }
    if (!a->tenant_prefix)
        return NULL;
    a->shard_hash = (type == PLANNER_ACT_COMPACT || type == PLANNER_ACT_DOWNSAMPLE)
                        ? shard_hash(a->tenant, a->group)
                        : shard_hash(a->tenant, f->ulid.s);
    p->n++;
    return a;
}

static int block_action(pctx *c, planner_action_type type, const planner_block *b, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static int block_action(pctx *c, planner_action_type type, const planner_block *b, const char *fmt,
                        ...)
{
    planner_action *a = add_action(c, type, &b, 1);
    if (!a)
        return nomem(c);
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (!(a->reason = arena_str(&c->p->arena, buf)))
        return nomem(c);
    return 0;
}

/* ---- per block: deletions, partial uploads, gc, retention -------------------------------- */

static int plan_block(pctx *c, const planner_block *b, int *eligible)
{
    const planner_settings *s = c->s;
    char t1[40], d1[32];
    *eligible = 0;
    if (b->bad_markers) {
        int rc = add_note(c, b, NULL, "%s%s%sunreadable: treated as absent",
                          b->bad_markers & PLANNER_MARKER_DELETION ? "deletion-mark.json " : "",
                          b->bad_markers & PLANNER_MARKER_NO_COMPACT ? "no-compact-mark.json " : "",
                          b->bad_markers & PLANNER_MARKER_NO_DOWNSAMPLE ? "no-downsample-mark.json "
                                                                        : "");
        if (rc)
            return rc;
    }
    if (b->state & PLANNER_BLOCK_BAD_TENANT)
        return add_note(c, b, NULL,
                        "tenant label %s=\"%s\" is not a valid tenant name: block left alone",
                        s->tenant_label, b->tenant);
    if (b->deletion.present) {
        int64_t marked = sec_to_ms(b->deletion.time_s);
        if (sat_sub(c->now, marked) <= s->delete_delay_ms)
            return 0;
        planner_time_format(t1, sizeof(t1), marked);
        planner_duration_format(d1, sizeof(d1), s->delete_delay_ms);
        return block_action(c, PLANNER_ACT_DELETE, b,
                            "%smarked for deletion at %s, longer ago than --delete-delay=%s",
                            b->partial_reason ? "partial upload " : "", t1, d1);
    }
    if (b->partial_reason) {
        int64_t t = b->last_modified_ms;
        const char *what = "newest object written";
        if (t == INT64_MIN) {
            codec_ulid_time(b->ulid.s, &t);
            what = "ULID time";
        }
        if (sat_sub(c->now, t) <= PLANNER_PARTIAL_MAX_AGE)
            return 0;
        planner_time_format(t1, sizeof(t1), t);
        return block_action(c, PLANNER_ACT_CLEANUP_PARTIAL, b,
                            "partial upload (%s); %s %s, more than 48h ago", b->partial_reason,
                            what, t1);
    }
    if (b->state & PLANNER_BLOCK_TOO_FRESH)
        return 0;
    if (b->state & PLANNER_BLOCK_SUPERSEDED)
        return block_action(c, PLANNER_ACT_GC, b,
                            "superseded: all %zu sources are in block %s (left by a run that "
                            "stopped between upload and marking)",
                            b->nsources, b->superseded_by.s);
    const planner_tenant_settings *ts = planner_settings_tenant(s, b->tenant);
    int r = res_index(b->resolution);
    if (r >= 0 && ts->retention_ms[r] > 0) {
        int64_t end = (b->max_time / 1000) * 1000;
        if (sat_sub(c->now, end) > ts->retention_ms[r]) {
            static const char *const names[3] = {"raw", "5m", "1h"};
            planner_time_format(t1, sizeof(t1), b->max_time);
            planner_duration_format(d1, sizeof(d1), ts->retention_ms[r]);
            return block_action(c, PLANNER_ACT_RETENTION, b,
                                "maxTime %s is older than the %s retention %s%s%s", t1, names[r],
                                d1, ts->name ? " of tenant " : "", ts->name ? ts->name : "");
        }
    }
    *eligible = 1;
    return 0;
}

/* ---- per group: compaction --------------------------------------------------------------- */

static void range_text(char *out, size_t n, int64_t iv, int64_t t0)
{
    char d[32], a[40], b[40];
    planner_duration_format(d, sizeof(d), iv);
    planner_time_format(a, sizeof(a), t0);
    planner_time_format(b, sizeof(b), t0 + iv);
    snprintf(out, n, "aligned %s range [%s, %s)", d, a, b);
}

/* Expected size of a merge. Non-overlapping inputs are copied: their sum. An overlap set shrinks
 * by the share of time its inputs cover twice (HA replicas dedup to about one replica), but never
 * below its largest input. */
static uint64_t merged_bytes(const unit *const *u, size_t nu)
{
    double out = 0;
    for (size_t i = 0; i < nu; i++) {
        uint64_t bytes = 0, largest = 0;
        double dur = 0;
        for (size_t k = 0; k < u[i]->n; k++) {
            bytes += u[i]->m[k]->size_bytes;
            largest = ST_MAX(largest, u[i]->m[k]->size_bytes);
            dur += (double)u[i]->m[k]->max_time - (double)u[i]->m[k]->min_time;
        }
        double ratio =
            (u[i]->n > 1 && dur > 0) ? ((double)u[i]->max - (double)u[i]->min) / dur : 1.0;
        double est = (double)bytes * (ratio > 1.0 ? 1.0 : ratio);
        out += est > (double)largest ? est : (double)largest;
    }
    return (uint64_t)out;
}

/* One compaction of the units u[0..nu). why: the rule, e.g. "aligned 8h range [...) complete". */
static int compact_action(pctx *c, unit *const *u, size_t nu, const char *why, const char *part)
{
    size_t n = 0, clusters = 0;
    for (size_t i = 0; i < nu; i++) {
        n += u[i]->n;
        clusters += u[i]->n > 1;
    }
    if (n < 2)
        return 0;
    const planner_block **b = st_calloc(n, sizeof(*b));
    if (!b)
        return nomem(c);
    n = 0;
    for (size_t i = 0; i < nu; i++) {
        for (size_t k = 0; k < u[i]->n; k++)
            b[n++] = u[i]->m[k];
        u[i]->in_action = 1;
    }
    planner_action *a = add_action(c, PLANNER_ACT_COMPACT, b, n);
    st_free(b);
    if (!a)
        return nomem(c);
    a->level++;
    a->vertical = clusters > 0;
    a->est.output_bytes = merged_bytes((const unit *const *)u, nu);
    char ded[256] = "";
    if (a->vertical) {
        size_t l = (size_t)snprintf(ded, sizeof(ded), "; %zu overlapping set%s merged vertically",
                                    clusters, clusters > 1 ? "s" : "");
        for (size_t i = 0; i < a->nreplica_labels && l < sizeof(ded); i++)
            l += (size_t)snprintf(ded + l, sizeof(ded) - l, "%s%s", i ? "," : ", dedup on ",
                                  a->replica_labels[i]);
    }
    if (!(a->reason = aprintf(&c->p->arena, "%s: %zu blocks in one step%s%s", why, n, ded, part)))
        return nomem(c);
    return 0;
}

static uint64_t unit_index_bytes(const unit *u)
{
    uint64_t s = 0;
    for (size_t k = 0; k < u->n; k++)
        s += u->m[k]->index_bytes;
    return s;
}

/* A run of mergeable units: one compaction, or consecutive parts when the inputs' indexes reach
 * 85% of the limit (Thanos' largeTotalIndexSizeFilter threshold). */
static int compact_run(pctx *c, unit **r, size_t nr, const char *why)
{
    uint64_t lim = c->s->max_index_bytes, thr = lim - lim / 20 * 3;
    size_t nparts = 0, start = 0;
    uint64_t acc = 0;
    size_t cut[256];
    for (size_t i = 0; i < nr; i++) {
        uint64_t ib = unit_index_bytes(r[i]);
        if (lim && i > start && acc + ib >= thr && nparts < ST_ARRAY_LEN(cut) - 1) {
            cut[nparts++] = i;
            start = i;
            acc = 0;
        }
        acc += ib;
    }
    if (nparts == 0)
        return compact_action(c, r, nr, why, "");
    cut[nparts] = nr;
    char lims[32], part[200];
    fmt_bytes(lims, sizeof(lims), lim);
    start = 0;
    for (size_t p = 0; p <= nparts; p++) {
        snprintf(part, sizeof(part),
                 "; part %zu of %zu (the inputs' indexes would reach 85%% of the %s index limit)",
                 p + 1, nparts + 1, lims);
        int rc = compact_action(c, r + start, cut[p] - start, why, part);
        if (rc)
            return rc;
        start = cut[p];
    }
    return 0;
}

static int cmp_unit(const void *x, const void *y)
{
    const unit *a = x, *b = y;
    if (a->min != b->min)
        return a->min < b->min ? -1 : 1;
    if (a->max != b->max)
        return a->max < b->max ? -1 : 1;
    return ulid_cmp(&a->m[0]->ulid, &b->m[0]->ulid);
}

static int plan_group(pctx *c, const planner_block **g, size_t n)
{
    const planner_settings *s = c->s;
    const char *group = g[0]->group;
    int rc = 0;
    /* g is sorted by (minTime, maxTime, ULID); no-compact blocks are kept apart */
    const planner_block **a = st_calloc(n, sizeof(*a)), **ncb = st_calloc(n, sizeof(*ncb));
    unit *u = st_calloc(n, sizeof(*u));
    unit **run = st_calloc(n, sizeof(*run));
    if (!a || !ncb || !u || !run) {
        rc = nomem(c);
        goto done;
    }
    size_t na = 0, nnc = 0, nu = 0;
    for (size_t i = 0; i < n; i++) {
        if (g[i]->state & PLANNER_BLOCK_NO_COMPACT)
            ncb[nnc++] = g[i];
        else
            a[na++] = g[i];
    }
    for (size_t i = 0; i < na;) {
        size_t j = i + 1;
        int64_t mx = a[i]->max_time;
        for (; j < na && a[j]->min_time < mx; j++)
            mx = ST_MAX(mx, a[j]->max_time);
        u[nu++] = (unit){.min = a[i]->min_time, .max = mx, .m = &a[i], .n = j - i};
        if (j - i > 1 && g[0]->resolution != PLANNER_RES_RAW) {
            u[nu - 1].blocked = 1;
            rc = add_note(c, a[i], group,
                          "%zu overlapping downsampled blocks are not merged (vertical compaction "
                          "of downsampled blocks is unsupported, as in Thanos #6775)",
                          j - i);
            if (rc)
                goto done;
        }
        i = j;
    }
    for (size_t i = 0; i < nnc; i++)
        u[nu++] =
            (unit){.min = ncb[i]->min_time, .max = ncb[i]->max_time, .m = &ncb[i], .n = 1, .nc = 1};
    qsort(u, nu, sizeof(*u), cmp_unit);
    /* Thanos leaves the newest block out and only closes a partial window when it ends before
     * the second newest block starts (highTime). */
    size_t newest = nu - 1;
    int64_t high = nu >= 2 ? u[nu - 2].min : INT64_MIN;

    for (size_t lv = s->nranges; lv-- > 1;) {
        int64_t iv = s->ranges_ms[lv];
        for (size_t i = 0; i < nu;) {
            if (u[i].assigned) {
                i++;
                continue;
            }
            if (u[i].min > INT64_MAX - 2 * iv || u[i].min < INT64_MIN + 2 * iv) {
                i++; /* no aligned window holds it */
                continue;
            }
            int64_t t0 = floor_div(u[i].min, iv) * iv, end = t0 + iv;
            size_t nr = 0, v = i;
            int has_newest = 0, failed = 0;
            int64_t mx = INT64_MIN;
            for (; v < nu && u[v].min < end; v++) {
                if (u[v].assigned || u[v].max > end)
                    continue;
                run[nr++] = &u[v];
                mx = ST_MAX(mx, u[v].max);
                has_newest |= v == newest;
                for (size_t k = 0; k < u[v].n; k++)
                    failed |= u[v].m[k]->compaction_failed;
            }
            if (v == i)
                v = i + 1;
            i = v;
            if (nr == 0)
                continue;
            int spanned = run[0]->min == t0 && mx == end;
            if (!spanned && (has_newest || mx > high))
                continue; /* open: look again with a smaller range */
            char why[200];
            range_text(why, sizeof(why), iv, t0);
            if (failed) {
                rc = add_note(c, run[0]->m[0], group,
                              "%s not compacted: a block in it has compaction.failed set", why);
                if (rc)
                    goto done;
                continue;
            }
            size_t l = strlen(why);
            snprintf(why + l, sizeof(why) - l,
                     spanned ? " complete" : " closed (newer blocks follow)");
            /* no-compact and blocked units split the window into runs merged separately */
            size_t start = 0;
            for (size_t k = 0; k <= nr && !rc; k++) {
                if (k < nr && !run[k]->nc && !run[k]->blocked)
                    continue;
                if (k > start)
                    rc = compact_run(c, run + start, k - start, why);
                start = k + 1;
            }
            for (size_t k = 0; k < nr; k++)
                run[k]->assigned = 1;
            if (rc)
                goto done;
        }
    }
    /* overlaps in windows that are still open: merged on their own, as Thanos merges overlaps
     * before anything else (the newest block included) */
    for (size_t i = 0; i < nu && !rc; i++) {
        if (u[i].assigned || u[i].nc || u[i].blocked || u[i].n < 2)
            continue;
        unit *one = &u[i];
        rc = compact_action(c, &one, 1,
                            "overlapping blocks, merged on their own (no closed aligned range "
                            "holds them yet)",
                            "");
    }
    /* Thanos' last rule: from the second newest back, while blocks are at least ranges[n/2]
     * long, rewrite one whose tombstones exceed 5% of its series */
    for (size_t i = nu >= 2 ? nu - 1 : 0; i-- > 0 && !rc;) {
        const planner_block *b = u[i].m[0];
        if (u[i].nc)
            continue;
        if (sat_sub(u[i].max, u[i].min) < s->ranges_ms[s->nranges / 2])
            break;
        if (u[i].in_action || u[i].n != 1 ||
            (double)b->stats.tombstones / (double)(b->stats.series + 1) <= 0.05)
            continue;
        planner_action *act = add_action(c, PLANNER_ACT_COMPACT, &b, 1);
        if (!act || !(act->reason = aprintf(&c->p->arena,
                                            "%llu tombstones for %llu series (more than 5%%): "
                                            "rewritten without the deleted data",
                                            (unsigned long long)b->stats.tombstones,
                                            (unsigned long long)b->stats.series)))
            rc = nomem(c);
        else {
            act->level++;
            act->est.output_bytes = b->size_bytes;
        }
    }
done:
    st_free(a);
    st_free(ncb);
    st_free(u);
    st_free(run);
    return rc;
}

/* ---- downsampling ------------------------------------------------------------------------ */

typedef struct tsrc {
    const char *tenant;
    const codec_ulid *id;
} tsrc;

static int cmp_tsrc(const void *x, const void *y)
{
    const tsrc *a = x, *b = y;
    int c = strcmp(a->tenant, b->tenant);
    return c ? c : ulid_cmp(a->id, b->id);
}

/* Sorted (tenant, source) pairs of every complete block at resolution res. */
static tsrc *sources_at(const planner_blockset *set, int64_t res, size_t *n)
{
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++)
        if (!set->blocks[i].partial_reason && set->blocks[i].resolution == res)
            k += set->blocks[i].nsources;
    tsrc *v = st_calloc(k + 1, sizeof(*v));
    if (!v)
        return NULL;
    k = 0;
    for (size_t i = 0; i < set->n; i++) {
        const planner_block *b = &set->blocks[i];
        if (b->partial_reason || b->resolution != res)
            continue;
        for (size_t j = 0; j < b->nsources; j++)
            v[k++] = (tsrc){b->tenant, &b->sources[j]};
    }
    if (k)
        qsort(v, k, sizeof(*v), cmp_tsrc);
    *n = k;
    return v;
}

/* How many of b's sources no block in v holds. */
static size_t missing(const planner_block *b, const tsrc *v, size_t n)
{
    size_t m = 0;
    for (size_t j = 0; j < b->nsources; j++) {
        tsrc key = {b->tenant, &b->sources[j]};
        m += bsearch(&key, v, n, sizeof(*v), cmp_tsrc) == NULL;
    }
    return m;
}

/* Rough size of a downsampled copy: the index, plus the chunk bytes scaled by the number of
 * aggregate samples (5 per window for raw input, already aggregated for 5m input). */
static uint64_t downsampled_bytes(const planner_block *b, int64_t res)
{
    uint64_t chunks = b->size_bytes > b->index_bytes ? b->size_bytes - b->index_bytes : 0;
    double range = (double)b->max_time - (double)b->min_time;
    double windows = (double)b->stats.series * (range / (double)res + 1);
    double per = b->resolution == PLANNER_RES_RAW ? 5.0 : 1.0;
    double ratio = b->stats.samples ? per * windows / (double)b->stats.samples : 1.0;
    return b->index_bytes + (uint64_t)((double)chunks * (ratio < 1.0 ? ratio : 1.0));
}

static int plan_downsampling(pctx *c, const planner_block *const *elig, size_t ne)
{
    size_t n5 = 0, n1 = 0;
    tsrc *s5 = sources_at(c->p->set, PLANNER_RES_5M, &n5);
    tsrc *s1 = sources_at(c->p->set, PLANNER_RES_1H, &n1);
    int rc = 0;
    if (!s5 || !s1) {
        rc = nomem(c);
        goto done;
    }
    for (size_t i = 0; i < ne && !rc; i++) {
        const planner_block *b = elig[i];
        const planner_tenant_settings *ts = planner_settings_tenant(c->s, b->tenant);
        size_t idx = (size_t)(b - planner_blockset_block(c->p->set, 0));
        if (!ts->downsampling || c->used[idx] || (b->state & PLANNER_BLOCK_NO_DOWNSAMPLE))
            continue;
        int64_t range = sat_sub(b->max_time, b->min_time);
        int64_t targets[2];
        size_t nt = 0, m5 = 0, m1 = 0;
        if (b->resolution == PLANNER_RES_RAW && range >= PLANNER_DOWNSAMPLE_RANGE_5M &&
            (m5 = missing(b, s5, n5)) > 0) {
            targets[nt++] = PLANNER_RES_5M;
            if (range >= PLANNER_DOWNSAMPLE_RANGE_1H && (m1 = missing(b, s1, n1)) > 0)
                targets[nt++] = PLANNER_RES_1H;
        } else if (b->resolution == PLANNER_RES_5M && range >= PLANNER_DOWNSAMPLE_RANGE_1H &&
                   (m1 = missing(b, s1, n1)) > 0) {
            targets[nt++] = PLANNER_RES_1H;
        }
        if (nt == 0)
            continue;
        planner_action *a = add_action(c, PLANNER_ACT_DOWNSAMPLE, &b, 1);
        if (!a) {
            rc = nomem(c);
            break;
        }
        char d[32];
        planner_duration_format(d, sizeof(d), range);
        memcpy(a->targets, targets, sizeof(targets));
        a->ntargets = nt;
        for (size_t t = 0; t < nt; t++)
            a->est.output_bytes += downsampled_bytes(b, targets[t]);
        if (b->resolution == PLANNER_RES_RAW)
            a->reason = aprintf(&c->p->arena,
                                "raw block of range %s >= 40h: %zu of its %zu sources are in no 5m "
                                "block%s",
                                d, m5, b->nsources,
                                nt > 1 ? "; range >= 10d and not in any 1h block either, so the "
                                         "1h copy comes from the same read"
                                       : "");
        else
            a->reason = aprintf(&c->p->arena,
                                "5m block of range %s >= 10d: %zu of its %zu sources are in no 1h "
                                "block",
                                d, m1, b->nsources);
        if (!a->reason)
            rc = nomem(c);
    }
done:
    st_free(s5);
    st_free(s1);
    return rc;
}

/* ---- the plan ---------------------------------------------------------------------------- */

static int cmp_action(const void *x, const void *y)
{
    const planner_action *a = x, *b = y;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    int c = strcmp(a->tenant, b->tenant);
    if (!c)
        c = strcmp(a->group, b->group);
    if (c)
        return c;
    if (a->min_time != b->min_time)
        return a->min_time < b->min_time ? -1 : 1;
    if (a->max_time != b->max_time)
        return a->max_time < b->max_time ? -1 : 1;
    return ulid_cmp(&a->blocks[0]->ulid, &b->blocks[0]->ulid);
}

int planner_plan(struct planner_plan **out, planner_blockset *set, const planner_settings *s,
                 int64_t now_ms, st_err *err)
{
    *out = NULL;
    int rc = planner_classify(set, s, now_ms, err);
    if (rc)
        return rc;
    struct planner_plan *p = st_calloc(1, sizeof(*p));
    const planner_block **elig = st_calloc(set->n + 1, sizeof(*elig));
    unsigned char *used = st_calloc(set->n + 1, 1);
    pctx c = {p, s, now_ms, used, err};
    if (!p || !elig || !used) {
        st_free(p);
        st_free(elig);
        st_free(used);
        return st_err_set(err, ST_ENOMEM, "planner: out of memory");
    }
    p->now_ms = now_ms;
    p->set = set;
    st_arena_init(&p->arena, 64 * 1024);
    p->blocks = set->n;
    size_t ne = 0;
    for (size_t i = 0; i < set->n && !rc; i++) {
        const planner_block *b = &set->blocks[i];
        for (int k = 0; k < PLAN_NSTATES; k++)
            p->by_state[k] += (b->state >> k) & 1;
        int ok = 0;
        rc = plan_block(&c, b, &ok);
        if (ok)
            elig[ne++] = b;
    }
    if (!rc) {
        if (ne)
            qsort(elig, ne, sizeof(*elig), cmp_block_group);
        for (size_t i = 0; i < ne && !rc;) {
            size_t j = i + 1;
            while (j < ne && !strcmp(elig[j]->tenant, elig[i]->tenant) &&
                   !strcmp(elig[j]->group, elig[i]->group))
                j++;
            rc = plan_group(&c, elig + i, j - i);
            i = j;
        }
    }
    if (!rc)
        rc = plan_downsampling(&c, elig, ne);
    if (!rc && p->n)
        qsort(p->actions, p->n, sizeof(*p->actions), cmp_action);
    st_free(elig);
    st_free(used);
    if (rc) {
        planner_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void planner_plan_free(struct planner_plan *p)
{
    if (!p)
        return;
    st_free(p->actions);
    st_free(p->notes);
    st_arena_release(&p->arena);
    st_free(p);
}

void plan_summary(const struct planner_plan *p, size_t by_state[PLAN_NSTATES], size_t *nblocks)
{
    memcpy(by_state, p->by_state, sizeof(p->by_state));
    *nblocks = p->blocks;
}

int64_t planner_plan_now(const struct planner_plan *p)
{
    return p->now_ms;
}

size_t planner_plan_count(const struct planner_plan *p)
{
    return p->n;
}

const planner_action *planner_plan_action(const struct planner_plan *p, size_t i)
{
    return i < p->n ? &p->actions[i] : NULL;
}

size_t planner_plan_nnotes(const struct planner_plan *p)
{
    return p->nnotes;
}

const planner_note *planner_plan_note(const struct planner_plan *p, size_t i)
{
    return i < p->nnotes ? &p->notes[i] : NULL;
}

unsigned planner_action_shard(const planner_action *a, unsigned nshards)
{
    return nshards ? (unsigned)(a->shard_hash % nshards) : 0;
}

const char *planner_action_type_name(planner_action_type t)
{
    static const char *const names[PLANNER_ACT_NTYPES] = {
        "delete", "cleanup_partial", "gc", "retention", "compact", "downsample"};
    return (unsigned)t < PLANNER_ACT_NTYPES ? names[t] : "unknown";
}
