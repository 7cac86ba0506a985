/*
 * render.c - a plan for people and for machines. Text: a summary, then one table per tenant and
 * group, actions numbered in execution order, each with its input ULIDs and its reason. JSON: one
 * object {"now", "now_ms", "summary", "actions", "notes"}; the schema is in README.md ("strata plan
 * JSON"). Both are deterministic: the same plan renders to the same bytes.
 */
#include "planner_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const state_names[PLAN_NSTATES] = {
    "partial",   "marked_for_deletion", "no_compact", "no_downsample",
    "too_fresh", "superseded",          "bad_tenant"};

void fmt_bytes(char *out, size_t n, uint64_t v)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double d = (double)v;
    size_t i = 0;
    while (d >= 1024 && i + 1 < ST_ARRAY_LEN(u)) {
        d /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(out, n, "%llu B", (unsigned long long)v);
    else
        snprintf(out, n, "%.1f %s", d, u[i]);
}

void fmt_labels(char *out, size_t n, const codec_kv *l, size_t nl)
{
    size_t len = 0;
    if (n == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < nl && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s=\"%s\"", i ? ", " : "", l[i].name,
                                l[i].value);
    if (len >= n && n > 4)
        memcpy(out + n - 4, "...", 4);
}

static void res_name(char *out, size_t n, int64_t res)
{
    if (res == PLANNER_RES_RAW)
        snprintf(out, n, "raw");
    else
        planner_duration_format(out, n, res);
}

typedef struct totals {
    size_t by_type[PLANNER_ACT_NTYPES];
    uint64_t read, written, freed; /* compact and downsample in and out; delete and cleanup */
} totals;

static void count_all(const struct planner_plan *p, totals *t)
{
    memset(t, 0, sizeof(*t));
    size_t n = planner_plan_count(p);
    for (size_t i = 0; i < n; i++) {
        const planner_action *a = planner_plan_action(p, i);
        t->by_type[a->type]++;
        if (a->type == PLANNER_ACT_COMPACT || a->type == PLANNER_ACT_DOWNSAMPLE) {
            t->read += a->est.input_bytes;
            t->written += a->est.output_bytes;
        } else if (a->type != PLANNER_ACT_RETENTION && a->type != PLANNER_ACT_GC) {
            t->freed += a->est.input_bytes;
        }
    }
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_t *labels_json(const codec_kv *l, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, l[i].name, json_string(l[i].value));
    return o;
}

json_t *planner_action_json(const planner_action *a)
{
    char t0[40], t1[40], sh[24];
    planner_time_format(t0, sizeof(t0), a->min_time);
    planner_time_format(t1, sizeof(t1), a->max_time);
    snprintf(sh, sizeof(sh), "%llu", (unsigned long long)a->shard_hash);
    json_t *o = json_object(), *blocks = json_array(), *reps = json_array();
    for (size_t i = 0; i < a->nblocks; i++)
        json_array_append_new(blocks, json_string(a->blocks[i]->ulid.s));
    for (size_t i = 0; i < a->nreplica_labels; i++)
        json_array_append_new(reps, json_string(a->replica_labels[i]));
    json_object_set_new(o, "type", json_string(planner_action_type_name(a->type)));
    json_object_set_new(o, "tenant", json_string(a->tenant));
    json_object_set_new(o, "group", json_string(a->group));
    json_object_set_new(o, "labels", labels_json(a->labels, a->nlabels));
    json_object_set_new(o, "resolution", json_integer(a->resolution));
    if (a->type == PLANNER_ACT_DOWNSAMPLE) {
        json_t *t = json_array();
        for (size_t i = 0; i < a->ntargets; i++)
            json_array_append_new(t, json_integer(a->targets[i]));
        json_object_set_new(o, "target_resolutions", t);
    }
    json_object_set_new(o, "blocks", blocks);
    json_object_set_new(o, "block_prefixes", json_array());
    for (size_t i = 0; i < a->nblocks; i++)
        json_array_append_new(json_object_get(o, "block_prefixes"),
                              json_string(a->blocks[i]->prefix));
    json_object_set_new(o, "min_time", json_integer(a->min_time));
    json_object_set_new(o, "max_time", json_integer(a->max_time));
    json_object_set_new(o, "from", json_string(t0));
    json_object_set_new(o, "until", json_string(t1));
    json_object_set_new(o, "vertical", json_boolean(a->vertical));
    json_object_set_new(o, "level", json_integer(a->level));
    json_object_set_new(o, "replica_labels", reps);
    json_object_set_new(o, "reason", json_string(a->reason));
    json_object_set_new(o, "estimated_bytes", json_integer((json_int_t)a->est.input_bytes));
    json_object_set_new(o, "estimated_output_bytes", json_integer((json_int_t)a->est.output_bytes));
    json_object_set_new(o, "estimated_series", json_integer((json_int_t)a->est.series));
    json_object_set_new(o, "estimated_samples", json_integer((json_int_t)a->est.samples));
    json_object_set_new(o, "estimated_chunks", json_integer((json_int_t)a->est.chunks));
    json_object_set_new(o, "shard_hash", json_string(sh));
    return o;
}

static int format_json(const struct planner_plan *p, const size_t *by_state, size_t nblocks,
                       st_buf *out, st_err *err)
{
    totals t;
    count_all(p, &t);
    char now[40];
    planner_time_format(now, sizeof(now), planner_plan_now(p));
    json_t *root = json_object(), *sum = json_object(), *acts = json_array(), *notes = json_array(),
           *bytypes = json_object();
    json_object_set_new(root, "now", json_string(now));
    json_object_set_new(root, "now_ms", json_integer(planner_plan_now(p)));
    json_object_set_new(sum, "blocks", json_integer((json_int_t)nblocks));
    for (int k = 0; k < PLAN_NSTATES; k++)
        json_object_set_new(sum, state_names[k], json_integer((json_int_t)by_state[k]));
    for (int k = 0; k < PLANNER_ACT_NTYPES; k++)
        json_object_set_new(bytypes, planner_action_type_name(k),
                            json_integer((json_int_t)t.by_type[k]));
    json_object_set_new(sum, "actions", bytypes);
    json_object_set_new(sum, "estimated_read_bytes", json_integer((json_int_t)t.read));
    json_object_set_new(sum, "estimated_written_bytes", json_integer((json_int_t)t.written));
    json_object_set_new(sum, "estimated_deleted_bytes", json_integer((json_int_t)t.freed));
    json_object_set_new(root, "summary", sum);
    for (size_t i = 0; i < planner_plan_count(p); i++)
        json_array_append_new(acts, planner_action_json(planner_plan_action(p, i)));
    json_object_set_new(root, "actions", acts);
    for (size_t i = 0; i < planner_plan_nnotes(p); i++) {
        const planner_note *n = planner_plan_note(p, i);
        json_array_append_new(notes, json_pack("{s:s,s:s,s:s,s:s}", "tenant", n->tenant, "group",
                                               n->group, "block", n->ulid, "text", n->text));
    }
    json_object_set_new(root, "notes", notes);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return st_err_set(err, ST_ENOMEM, "planner: out of memory");
    int rc = st_buf_append(out, s, strlen(s));
    if (!rc)
        rc = st_buf_putc(out, '\n');
    free(s);
    return rc ? st_err_set(err, rc, "planner: cannot format the plan") : 0;
}

/* ---- text ------------------------------------------------------------------------------- */

typedef struct ordered {
    const planner_action *a;
    size_t index; /* position in the plan (execution order) */
} ordered;

static int cmp_ordered(const void *x, const void *y)
{
    const ordered *a = x, *b = y;
    int c = strcmp(a->a->tenant, b->a->tenant);
    if (!c)
        c = strcmp(a->a->group, b->a->group);
    if (!c)
        c = a->index < b->index ? -1 : a->index > b->index;
    return c;
}

static int format_text(const struct planner_plan *p, const size_t *by_state, size_t nblocks,
                       st_buf *b)
{
    totals t;
    count_all(p, &t);
    char now[40], r[32], w[32], f[32];
    planner_time_format(now, sizeof(now), planner_plan_now(p));
    fmt_bytes(r, sizeof(r), t.read);
    fmt_bytes(w, sizeof(w), t.written);
    fmt_bytes(f, sizeof(f), t.freed);
    size_t n = planner_plan_count(p);
    int rc = st_buf_printf(b,
                           "plan at %s: %zu blocks (%zu partial, %zu marked for deletion, %zu "
                           "no-compact, %zu no-downsample, %zu too fresh, %zu superseded)\n",
                           now, nblocks, by_state[0], by_state[1], by_state[2], by_state[3],
                           by_state[4], by_state[5]);
    rc |= st_buf_printf(b, "%zu actions:", n);
    for (int k = 0; k < PLANNER_ACT_NTYPES; k++)
        rc |=
            st_buf_printf(b, "%s %zu %s", k ? "," : "", t.by_type[k], planner_action_type_name(k));
    rc |= st_buf_printf(b, "; reads %s, writes ~%s, deletes %s\n", r, w, f);
    ordered *o = st_calloc(n + 1, sizeof(*o));
    if (!o)
        return ST_ENOMEM;
    for (size_t i = 0; i < n; i++)
        o[i] = (ordered){planner_plan_action(p, i), i};
    if (n)
        qsort(o, n, sizeof(*o), cmp_ordered);
    for (size_t i = 0; i < n && !rc; i++) {
        const planner_action *a = o[i].a;
        int new_tenant = i == 0 || strcmp(a->tenant, o[i - 1].a->tenant);
        if (new_tenant)
            rc |= st_buf_printf(b, "\ntenant %s\n", *a->tenant ? a->tenant : "(none)");
        if (new_tenant || strcmp(a->group, o[i - 1].a->group)) {
            if (!*a->group) {
                rc |= st_buf_printf(b, "  partial uploads (no meta.json: no group)\n");
            } else {
                char lab[512], res[32];
                fmt_labels(lab, sizeof(lab), a->labels, a->nlabels);
                res_name(res, sizeof(res), a->resolution);
                rc |= st_buf_printf(b, "  group %s {%s} %s\n", a->group, lab, res);
            }
            rc |= st_buf_printf(b, "    %-4s %-15s %-25s %-25s %-15s %6s %10s %10s\n", "#", "TYPE",
                                "FROM", "UNTIL", "RANGE", "BLOCKS", "IN", "OUT");
        }
        char t0[40], t1[40], d[32], in[32], out[32];
        planner_time_format(t0, sizeof(t0), a->min_time);
        planner_time_format(t1, sizeof(t1), a->max_time);
        planner_duration_format(d, sizeof(d), sat_sub(a->max_time, a->min_time));
        fmt_bytes(in, sizeof(in), a->est.input_bytes);
        if (a->type == PLANNER_ACT_COMPACT || a->type == PLANNER_ACT_DOWNSAMPLE)
            fmt_bytes(out, sizeof(out), a->est.output_bytes);
        else
            snprintf(out, sizeof(out), "-");
        char type[64];
        snprintf(type, sizeof(type), "%s%s", planner_action_type_name(a->type),
                 a->vertical ? "*" : "");
        if (a->type == PLANNER_ACT_DOWNSAMPLE) {
            char r1[16], r2[16];
            res_name(r1, sizeof(r1), a->targets[0]);
            res_name(r2, sizeof(r2), a->ntargets > 1 ? a->targets[1] : 0);
            snprintf(type, sizeof(type), "downsample>%s%s%s", r1, a->ntargets > 1 ? "+" : "",
                     a->ntargets > 1 ? r2 : "");
        }
        rc |= st_buf_printf(b, "    %-4zu %-15s %-25s %-25s %-15s %6zu %10s %10s\n", o[i].index + 1,
                            type, a->blocks[0]->partial_reason ? "-" : t0,
                            a->blocks[0]->partial_reason ? "-" : t1,
                            a->blocks[0]->partial_reason ? "-" : d, a->nblocks, in, out);
        rc |= st_buf_printf(b, "         blocks:");
        for (size_t k = 0; k < a->nblocks; k++) {
            if (k == 6 && a->nblocks > 8) {
                rc |= st_buf_printf(b, " ... %zu more ... %s", a->nblocks - 7,
                                    a->blocks[a->nblocks - 1]->ulid.s);
                break;
            }
            rc |= st_buf_printf(b, " %s", a->blocks[k]->ulid.s);
        }
        rc |= st_buf_printf(b, "\n         why:    %s\n", a->reason);
    }
    st_free(o);
    size_t nn = planner_plan_nnotes(p);
    if (nn)
        rc |= st_buf_printf(b, "\nnotes:\n");
    for (size_t i = 0; i < nn && !rc; i++) {
        const planner_note *x = planner_plan_note(p, i);
        rc |= st_buf_printf(b, "  - tenant %s%s%s%s%s: %s\n", *x->tenant ? x->tenant : "(none)",
                            *x->group ? " group " : "", x->group, *x->ulid ? " block " : "",
                            x->ulid, x->text);
    }
    if (n == 0)
        rc |= st_buf_printf(b, "\nnothing to do\n");
    return rc ? ST_ENOMEM : 0;
}

int planner_plan_format(const struct planner_plan *p, planner_format f, st_buf *out, st_err *err)
{
    size_t by_state[PLAN_NSTATES], nblocks;
    plan_summary(p, by_state, &nblocks);
    if (f == PLANNER_FORMAT_JSON)
        return format_json(p, by_state, nblocks, out, err);
    int rc = format_text(p, by_state, nblocks, out);
    return rc ? st_err_set(err, rc, "planner: cannot format the plan") : 0;
}
