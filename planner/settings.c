/*
 * settings.c - the planner's settings: Thanos-named flags are the defaults, the tenant file's
 * `defaults:` overrides them and its `tenants:` entries override those, key by key:
 *
 *   defaults:
 *     retention: {raw: 30d, 5m: 180d, 1h: 2y}   # Prometheus durations; 0 keeps forever
 *     downsampling: true
 *     replica_labels: [replica, prometheus_replica]
 *   tenants:
 *     acme:
 *       retention: {raw: 7d, 1h: 5y}            # keys not given fall back to defaults
 *     globex:
 *       downsampling: false
 *
 * Read with libyaml's document API. Every error names the file, the line, the tenant and the
 * key; the final values are checked per tenant as Thanos checks its flags (raw retention >= 40h
 * and 5m retention >= 10d while downsampling is on).
 */
#include "planner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

static const char *const ret_keys[3] = {"raw", "5m", "1h"};
static const char *const ret_flags[3] = {"--retention.resolution-raw", "--retention.resolution-5m",
                                         "--retention.resolution-1h"};

/* One scope (the defaults or a tenant) while it is being read: which keys were given, and
 * where each retention value came from (for messages). */
typedef struct scope {
    planner_tenant_settings t;
    int has_ret[3], has_ds, has_rl;
    const char *origin_ret[3];
    const char *origin_ds;
} scope;

typedef struct priv {
    st_arena arena;
    planner_tenant_settings *tenants;
} priv;

typedef struct yctx {
    yaml_document_t doc;
    const char *file;
    st_arena *a;
    st_err *err;
} yctx;

int planner_tenant_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 150 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strcmp(name, "_strata") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!-_.*'()", c)))
            return 0;
    }
    return 1;
}

static int parse_bytes(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        int shift;
    } sfx[] = {{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"PiB", 50}, {"KB", 10},
               {"MB", 20},  {"GB", 30},  {"TB", 40},  {"PB", 50},  {"B", 0},    {"", 0}};
    char *end;
    if (!s || *s < '0' || *s > '9')
        return ST_EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    for (size_t i = 0; i < ST_ARRAY_LEN(sfx); i++) {
        if (strcmp(end, sfx[i].suffix) == 0) {
            if (sfx[i].shift && v > (UINT64_MAX >> sfx[i].shift))
                return ST_EINVAL;
            *out = (uint64_t)v << sfx[i].shift;
            return 0;
        }
    }
    return ST_EINVAL;
}

/* ---- YAML ------------------------------------------------------------------------------- */

static int yerr(yctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int yerr(yctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return st_err_set(c->err, ST_EINVAL, "tenant config %s:%lu: %s", c->file,
                      n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
}

static yaml_node_t *node(yctx *c, int i)
{
    return yaml_document_get_node(&c->doc, i);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    if (!n)
        return 1;
    if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Calls fn(key, value) for each pair of a mapping node, refusing repeated keys. */
typedef int (*pair_fn)(yctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg);
static int each_pair(yctx *c, yaml_node_t *m, const char *where, pair_fn fn, void *arg)
{
    if (is_null(m))
        return 0;
    if (m->type != YAML_MAPPING_NODE)
        return yerr(c, m, "%s: expected a mapping", where);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        const char *ks = scalar(k);
        if (!ks)
            return yerr(c, k, "%s: keys must be strings", where);
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            const char *prev = scalar(node(c, q->key));
            if (prev && strcmp(prev, ks) == 0)
                return yerr(c, k, "%s: key \"%s\" given twice", where, ks);
        }
        int rc = fn(c, ks, k, v, arg);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct scope_arg {
    scope *sc;
    const char *where; /* "defaults" or "tenants.acme" */
} scope_arg;

static char *where_key(yctx *c, const char *where, const char *key)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s: %s.%s", c->file, where, key);
    return arena_str(c->a, buf);
}

static int retention_pair(yctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    scope_arg *sa = arg;
    for (int i = 0; i < 3; i++) {
        if (strcmp(key, ret_keys[i]) != 0)
            continue;
        const char *s = scalar(v);
        int64_t ms;
        if (!s || planner_duration_parse(s, &ms))
            return yerr(c, v ? v : k,
                        "%s: retention.%s: \"%s\" is not a duration (use e.g. 90m, 36h, 30d, 2w, "
                        "1y, or 0 to keep forever)",
                        sa->where, key, s ? s : "(not a scalar)");
        sa->sc->t.retention_ms[i] = ms;
        sa->sc->has_ret[i] = 1;
        char wk[64];
        snprintf(wk, sizeof(wk), "retention.%s", key);
        if (!(sa->sc->origin_ret[i] = where_key(c, sa->where, wk)))
            return st_err_set(c->err, ST_ENOMEM, "planner: out of memory");
        return 0;
    }
    return yerr(c, k, "%s: retention: unknown key \"%s\" (known: raw, 5m, 1h)", sa->where, key);
}

static int parse_bool(const char *s, int *out)
{
    if (!s)
        return ST_EINVAL;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = 0;
    else
        return ST_EINVAL;
    return 0;
}

static int scope_pair(yctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    scope_arg *sa = arg;
    scope *sc = sa->sc;
    if (strcmp(key, "retention") == 0)
        return each_pair(c, v, sa->where, retention_pair, sa);
    if (strcmp(key, "downsampling") == 0) {
        if (parse_bool(scalar(v), &sc->t.downsampling))
            return yerr(c, v, "%s: downsampling: expected true or false", sa->where);
        sc->has_ds = 1;
        if (!(sc->origin_ds = where_key(c, sa->where, "downsampling")))
            return st_err_set(c->err, ST_ENOMEM, "planner: out of memory");
        return 0;
    }
    if (strcmp(key, "replica_labels") == 0) {
        sc->has_rl = 1;
        sc->t.replica_labels = NULL;
        sc->t.nreplica_labels = 0;
        if (is_null(v))
            return 0;
        size_t n = 0;
        yaml_node_item_t *items = NULL;
        if (v->type == YAML_SEQUENCE_NODE) {
            items = v->data.sequence.items.start;
            n = (size_t)(v->data.sequence.items.top - items);
        } else if (!scalar(v)) {
            return yerr(c, v, "%s: replica_labels: expected a list of label names", sa->where);
        }
        const char **l = st_arena_alloc(c->a, (n ? n : 1) * sizeof(char *));
        if (!l)
            return st_err_set(c->err, ST_ENOMEM, "planner: out of memory");
        for (size_t i = 0; i < (items ? n : 1); i++) {
            yaml_node_t *it = items ? node(c, items[i]) : v;
            const char *s = scalar(it);
            if (!s || !*s)
                return yerr(c, it, "%s: replica_labels: expected label names", sa->where);
            if (!(l[i] = arena_str(c->a, s)))
                return st_err_set(c->err, ST_ENOMEM, "planner: out of memory");
        }
        sc->t.replica_labels = l;
        sc->t.nreplica_labels = items ? n : 1;
        return 0;
    }
    return yerr(c, k, "%s: unknown key \"%s\" (known: retention, downsampling, replica_labels)",
                sa->where, key);
}

typedef struct tenants_arg {
    scope *scopes;
    size_t n, cap;
} tenants_arg;

static int tenant_pair(yctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    tenants_arg *ta = arg;
    if (!planner_tenant_valid(key))
        return yerr(c, k,
                    "tenants: \"%s\" is not a valid tenant name (1-150 of A-Z a-z 0-9 ! - _ . * ' "
                    "( ), not \".\", \"..\" or \"_strata\")",
                    key);
    if (ta->n == ta->cap) {
        size_t ncap = ta->cap ? ta->cap * 2 : 16;
        scope *ns = st_reallocarray(ta->scopes, ncap, sizeof(*ns));
        if (!ns)
            return st_err_set(c->err, ST_ENOMEM, "planner: out of memory");
        ta->scopes = ns;
        ta->cap = ncap;
    }
    scope *sc = &ta->scopes[ta->n++];
    memset(sc, 0, sizeof(*sc));
    if (!(sc->t.name = arena_str(c->a, key)))
        return st_err_set(c->err, ST_ENOMEM, "planner: out of memory");
    char where[200];
    snprintf(where, sizeof(where), "tenants.%s", key);
    scope_arg sa = {sc, where};
    return each_pair(c, v, where, scope_pair, &sa);
}

typedef struct top_arg {
    scope *defaults;
    tenants_arg *tenants;
} top_arg;

static int top_pair(yctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    top_arg *ta = arg;
    if (strcmp(key, "defaults") == 0) {
        scope_arg sa = {ta->defaults, "defaults"};
        return each_pair(c, v, "defaults", scope_pair, &sa);
    }
    if (strcmp(key, "tenants") == 0)
        return each_pair(c, v, "tenants", tenant_pair, ta->tenants);
    return yerr(c, k, "unknown top-level key \"%s\" (known: defaults, tenants)", key);
}

static int load_yaml(const char *text, size_t len, const char *file, st_arena *a, scope *defaults,
                     tenants_arg *tenants, st_err *err)
{
    yaml_parser_t parser;
    yctx c = {.file = file, .a = a, .err = err};
    if (!yaml_parser_initialize(&parser))
        return st_err_set(err, ST_ENOMEM, "planner: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&parser, &c.doc)) {
        rc = st_err_set(err, ST_EINVAL, "tenant config %s:%lu: %s", file,
                        (unsigned long)parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&c.doc);
    top_arg ta = {defaults, tenants};
    if (root)
        rc = each_pair(&c, root, "top level", top_pair, &ta);
    yaml_document_delete(&c.doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- settings --------------------------------------------------------------------------- */

static int cmp_tenant(const void *x, const void *y)
{
    return strcmp(((const planner_tenant_settings *)x)->name,
                  ((const planner_tenant_settings *)y)->name);
}

static int flag_duration(const char *val, const char *dflt, const char *flag, int64_t *ms,
                         st_err *err)
{
    if (!val)
        val = dflt;
    if (planner_duration_parse(val, ms))
        return st_err_set(err, ST_EINVAL,
                          "%s=%s: not a duration (use e.g. 90m, 36h, 30d, 2w, 1y, or 0)", flag,
                          val);
    return 0;
}

/* Replica labels from repeatable, comma-separated flags. */
static int flag_replicas(const planner_flags *f, st_arena *a, scope *sc, st_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nreplica_labels; i++)
        for (const char *p = f->replica_labels[i]; p; p = strchr(p + 1, ','))
            n++;
    const char **l = st_arena_alloc(a, (n ? n : 1) * sizeof(char *));
    if (!l)
        return st_err_set(err, ST_ENOMEM, "planner: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < f->nreplica_labels; i++) {
        const char *p = f->replica_labels[i];
        while (*p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len) {
                int dup = 0;
                for (size_t j = 0; j < k; j++)
                    dup |= strlen(l[j]) == len && !strncmp(l[j], p, len);
                if (!dup && !(l[k++] = st_arena_strndup(a, p, len)))
                    return st_err_set(err, ST_ENOMEM, "planner: out of memory");
            }
            p += len + (e ? 1 : 0);
        }
    }
    sc->t.replica_labels = l;
    sc->t.nreplica_labels = k;
    return 0;
}

/* Thanos' startup check, per tenant: with downsampling on, raw data must live long enough for
 * its 5m copy to be made (40h) and 5m data for its 1h copy (10d). */
static int validate(const scope *sc, const char *who, st_err *err)
{
    static const int64_t need[2] = {PLANNER_DOWNSAMPLE_RANGE_5M, PLANNER_DOWNSAMPLE_RANGE_1H};
    static const char *const min[2] = {"40h", "10d"};
    if (!sc->t.downsampling)
        return 0;
    for (int i = 0; i < 2; i++) {
        int64_t r = sc->t.retention_ms[i];
        if (r == 0 || r >= need[i])
            continue;
        char have[32];
        planner_duration_format(have, sizeof(have), r);
        return st_err_set(err, ST_EINVAL,
                          "%s: retention.%s %s (from %s) is shorter than %s while downsampling is "
                          "on: %s blocks would be deleted before their %s copy is made (set it to "
                          "0 or at least %s, or turn downsampling off)",
                          who, ret_keys[i], have, sc->origin_ret[i], min[i], i ? "5m" : "raw",
                          i ? "1h" : "5m", min[i]);
    }
    return 0;
}

int planner_settings_create(planner_settings **out, const planner_flags *f, st_err *err)
{
    *out = NULL;
    planner_flags none = {0};
    if (!f)
        f = &none;
    planner_settings *s = st_calloc(1, sizeof(*s));
    priv *pv = st_calloc(1, sizeof(*pv));
    tenants_arg ta = {0};
    char *text = NULL;
    int rc = 0;
    if (!s || !pv) {
        st_free(s);
        st_free(pv);
        return st_err_set(err, ST_ENOMEM, "planner: out of memory");
    }
    s->priv = pv;
    st_arena_init(&pv->arena, 16 * 1024);
    st_arena *a = &pv->arena;

    /* flags: the defaults of the defaults */
    scope def = {0};
    def.t.downsampling = !f->downsampling_disable;
    def.origin_ds = "--downsampling.disable";
    const char *rv[3] = {f->retention_raw, f->retention_5m, f->retention_1h};
    for (int i = 0; i < 3; i++) {
        if ((rc = flag_duration(rv[i], "0d", ret_flags[i], &def.t.retention_ms[i], err)))
            goto done;
        def.origin_ret[i] = ret_flags[i];
    }
    if ((rc = flag_replicas(f, a, &def, err)) ||
        (rc = flag_duration(f->delete_delay, "48h", "--delete-delay", &s->delete_delay_ms, err)) ||
        (rc = flag_duration(f->consistency_delay, "30m", "--consistency-delay",
                            &s->consistency_delay_ms, err)))
        goto done;
    if (f->max_index_size ? parse_bytes(f->max_index_size, &s->max_index_bytes) : 0) {
        rc = st_err_set(err, ST_EINVAL,
                        "--compact.block-max-index-size=%s: expected bytes, e.g. 64GB or 512MiB",
                        f->max_index_size);
        goto done;
    }
    if (!f->max_index_size)
        s->max_index_bytes = 64ULL << 30;
    const char *layout = f->tenant_layout ? f->tenant_layout : "none";
    if (!strcmp(layout, "none"))
        s->tenant_layout = PLANNER_TENANTS_NONE;
    else if (!strcmp(layout, "prefix"))
        s->tenant_layout = PLANNER_TENANTS_PREFIX;
    else if (!strcmp(layout, "label"))
        s->tenant_layout = PLANNER_TENANTS_LABEL;
    else {
        rc = st_err_set(err, ST_EINVAL, "--tenant-layout=%s: expected none, prefix or label",
                        layout);
        goto done;
    }
    if (!(s->tenant_label = arena_str(a, f->tenant_label ? f->tenant_label : "tenant_id")))
        goto nomem;
    if (!*s->tenant_label) {
        rc = st_err_set(err, ST_EINVAL, "--tenant-label: must not be empty");
        goto done;
    }
    static const int64_t ranges[] = {3600000LL, 7200000LL, 28800000LL, 172800000LL, 1209600000LL};
    memcpy(s->ranges_ms, ranges, sizeof(ranges));
    s->nranges = ST_ARRAY_LEN(ranges);

    /* the tenant file */
    if (f->tenant_config_file && f->tenant_config_yaml) {
        rc = st_err_set(err, ST_EINVAL, "planner: give the tenant config as a file or as text");
        goto done;
    }
    scope fdef = {0};
    const char *file = f->tenant_config_file ? f->tenant_config_file : "(inline)";
    if (f->tenant_config_file || f->tenant_config_yaml) {
        size_t len;
        const char *yaml = f->tenant_config_yaml;
        if (f->tenant_config_file) {
            st_err e2;
            st_err_init(&e2);
            if ((rc = st_read_file(f->tenant_config_file, &text, &len, 16 << 20, &e2))) {
                rc = st_err_set(err, rc, "--tenant-config: %s", e2.msg);
                goto done;
            }
            yaml = text;
        } else {
            len = strlen(yaml);
        }
        if ((rc = load_yaml(yaml, len, file, a, &fdef, &ta, err)))
            goto done;
    }
    for (int i = 0; i < 3; i++)
        if (fdef.has_ret[i]) {
            def.t.retention_ms[i] = fdef.t.retention_ms[i];
            def.origin_ret[i] = fdef.origin_ret[i];
        }
    if (fdef.has_ds) {
        def.t.downsampling = fdef.t.downsampling;
        def.origin_ds = fdef.origin_ds;
    }
    if (fdef.has_rl) {
        def.t.replica_labels = fdef.t.replica_labels;
        def.t.nreplica_labels = fdef.t.nreplica_labels;
    }
    if ((rc = validate(&def, "defaults", err)))
        goto done;
    s->defaults = def.t;

    if (ta.n) {
        if (!(pv->tenants = st_calloc(ta.n, sizeof(*pv->tenants))))
            goto nomem;
        for (size_t i = 0; i < ta.n; i++) {
            scope *sc = &ta.scopes[i], eff = def;
            eff.t.name = sc->t.name;
            for (int r = 0; r < 3; r++)
                if (sc->has_ret[r]) {
                    eff.t.retention_ms[r] = sc->t.retention_ms[r];
                    eff.origin_ret[r] = sc->origin_ret[r];
                }
            if (sc->has_ds)
                eff.t.downsampling = sc->t.downsampling;
            if (sc->has_rl) {
                eff.t.replica_labels = sc->t.replica_labels;
                eff.t.nreplica_labels = sc->t.nreplica_labels;
            }
            char who[200];
            snprintf(who, sizeof(who), "tenant \"%s\"", sc->t.name);
            if ((rc = validate(&eff, who, err)))
                goto done;
            pv->tenants[i] = eff.t;
        }
        qsort(pv->tenants, ta.n, sizeof(*pv->tenants), cmp_tenant);
        s->tenants = pv->tenants;
        s->ntenants = ta.n;
    }
    goto done;
nomem:
    rc = st_err_set(err, ST_ENOMEM, "planner: out of memory");
done:
    st_free(ta.scopes);
    st_free(text);
    if (rc)
        planner_settings_free(s);
    else
        *out = s;
    return rc;
}

void planner_settings_free(planner_settings *s)
{
    if (!s)
        return;
    priv *pv = s->priv;
    if (pv) {
        st_free(pv->tenants);
        st_arena_release(&pv->arena);
        st_free(pv);
    }
    st_free(s);
}

const planner_tenant_settings *planner_settings_tenant(const planner_settings *s,
                                                       const char *tenant)
{
    size_t lo = 0, hi = s->ntenants;
    while (tenant && lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->tenants[mid].name, tenant);
        if (c == 0)
            return &s->tenants[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &s->defaults;
}
