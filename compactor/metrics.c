/*
 * metrics.c - the run's metrics: a small thread-safe registry of counters and gauges, rendered
 * in the Prometheus text exposition format 0.0.4 (`# HELP`, `# TYPE`, `name{l="v"} value`; label
 * values escape \, " and newline, HELP text \ and newline), written as a node-exporter textfile
 * (atomically: tmp, fsync, rename) and/or pushed to a Pushgateway over HTTP with libcurl
 * (PUT or POST to /metrics/job/<job>[/<label>/<value>...], the grouping key; values that hold a
 * '/' or are empty go base64url-encoded as `<label>@base64/<value>`). Then strata's own families
 * and the helpers `strata run` calls: todo gauges from the plan, one count per action, the run's
 * end, and publishing that never fails the run.
 */
#include "compactor_int.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct series {
    char **values; /* one per label name */
    double v;
} series;

typedef struct family {
    char *name, *help;
    metrics_kind kind;
    char **label_names;
    size_t nlabels;
    series *s;
    size_t ns, cap;
} family;

struct metrics {
    pthread_mutex_t mu;
    family *f;
    size_t nf, cap;
};

int metrics_create(metrics **out)
{
    *out = st_calloc(1, sizeof(**out));
    if (!*out)
        return ST_ENOMEM;
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        st_free(v[i]);
    st_free(v);
}

static void family_clear(family *f)
{
    for (size_t i = 0; i < f->ns; i++)
        free_strs(f->s[i].values, f->nlabels);
    f->ns = 0;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nf; i++) {
        family *f = &m->f[i];
        family_clear(f);
        st_free(f->s);
        st_free(f->name);
        st_free(f->help);
        free_strs(f->label_names, f->nlabels);
    }
    st_free(m->f);
    pthread_mutex_destroy(&m->mu);
    st_free(m);
}

static int valid_name(const char *s, int label)
{
    if (!s || !*s || (label && s[0] == '_' && s[1] == '_'))
        return 0;
    for (const char *c = s; *c; c++) {
        int alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                    (!label && *c == ':');
        if (!alpha && !(c > s && *c >= '0' && *c <= '9'))
            return 0;
    }
    return 1;
}

static family *find_family(metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nf; i++)
        if (strcmp(m->f[i].name, name) == 0)
            return &m->f[i];
    return NULL;
}

int metrics_declare(metrics *m, const char *name, metrics_kind kind, const char *help,
                    const char *const *label_names, size_t nlabels, st_err *err)
{
    if (!valid_name(name, 0))
        return st_err_set(err, ST_EINVAL, "metrics: invalid metric name '%s'", name ? name : "");
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_name(label_names[i], 1))
            return st_err_set(err, ST_EINVAL, "metrics: %s: invalid label name '%s'", name,
                              label_names[i] ? label_names[i] : "");
        for (size_t j = 0; j < i; j++)
            if (strcmp(label_names[i], label_names[j]) == 0)
                return st_err_set(err, ST_EINVAL, "metrics: %s: label '%s' given twice", name,
                                  label_names[i]);
    }
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    if (find_family(m, name)) {
        rc = st_err_set(err, ST_EINVAL, "metrics: %s declared twice", name);
        goto done;
    }
    if (m->nf == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 16;
        family *nf = st_reallocarray(m->f, nc, sizeof(*nf));
        if (!nf) {
            rc = st_err_set(err, ST_ENOMEM, "metrics: out of memory");
            goto done;
        }
        m->f = nf;
        m->cap = nc;
    }
    family f = {.kind = kind, .nlabels = nlabels};
    f.name = st_strdup(name);
    f.help = st_strdup(help ? help : "");
    f.label_names = nlabels ? st_calloc(nlabels, sizeof(char *)) : NULL;
    int oom = !f.name || !f.help || (nlabels && !f.label_names);
    for (size_t i = 0; !oom && i < nlabels; i++)
        oom = !(f.label_names[i] = st_strdup(label_names[i]));
    if (oom) {
        st_free(f.name);
        st_free(f.help);
        free_strs(f.label_names, nlabels);
        rc = st_err_set(err, ST_ENOMEM, "metrics: out of memory");
        goto done;
    }
    m->f[m->nf++] = f;
done:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* The series of f with these values; created (value 0) when create is set. Under m->mu. */
static series *find_series(family *f, const char *const *values, int create)
{
    for (size_t i = 0; i < f->ns; i++) {
        size_t j = 0;
        while (j < f->nlabels && strcmp(f->s[i].values[j], values[j] ? values[j] : "") == 0)
            j++;
        if (j == f->nlabels)
            return &f->s[i];
    }
    if (!create)
        return NULL;
    if (f->ns == f->cap) {
        size_t nc = f->cap ? 2 * f->cap : 8;
        series *ns = st_reallocarray(f->s, nc, sizeof(*ns));
        if (!ns)
            return NULL;
        f->s = ns;
        f->cap = nc;
    }
    series s = {.values = f->nlabels ? st_calloc(f->nlabels, sizeof(char *)) : NULL};
    if (f->nlabels && !s.values)
        return NULL;
    for (size_t j = 0; j < f->nlabels; j++) {
        if (!(s.values[j] = st_strdup(values[j] ? values[j] : ""))) {
            free_strs(s.values, f->nlabels);
            return NULL;
        }
    }
    f->s[f->ns] = s;
    return &f->s[f->ns++];
}

static int update(metrics *m, const char *name, const char *const *values, double v, int add)
{
    if (!m)
        return ST_EINVAL;
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    family *f = find_family(m, name);
    const char *why = NULL;
    if (!f)
        why = "unknown metric";
    else if (f->nlabels && !values)
        why = "label values missing";
    else if (add && f->kind == METRICS_COUNTER && !(v >= 0))
        why = "a counter cannot go down";
    if (why) {
        rc = ST_EINVAL;
        goto done;
    }
    series *s = find_series(f, values, 1);
    if (!s) {
        rc = ST_ENOMEM;
        why = "out of memory";
        goto done;
    }
    s->v = add ? s->v + v : v;
done:
    pthread_mutex_unlock(&m->mu);
    if (why)
        st_log(ST_LOG_WARN, "metric not updated", "metric", name, "err", why, NULL);
    return rc;
}

int metrics_add(metrics *m, const char *name, const char *const *label_values, double delta)
{
    return update(m, name, label_values, delta, 1);
}

int metrics_set(metrics *m, const char *name, const char *const *label_values, double v)
{
    return update(m, name, label_values, v, 0);
}

int metrics_get(metrics *m, const char *name, const char *const *label_values, double *v)
{
    pthread_mutex_lock(&m->mu);
    family *f = find_family(m, name);
    int rc = ST_ENOTFOUND;
    if (f && (!f->nlabels || label_values)) {
        series *s = find_series(f, label_values, 0);
        if (s) {
            *v = s->v;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int metrics_clear(metrics *m, const char *name)
{
    pthread_mutex_lock(&m->mu);
    family *f = find_family(m, name);
    if (f)
        family_clear(f);
    pthread_mutex_unlock(&m->mu);
    return f ? 0 : ST_EINVAL;
}

/* ---- rendering ------------------------------------------------------------------------------ */

static int put_escaped(st_buf *b, const char *s, int quote)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = st_buf_append(b, "\\\\", 2);
        else if (*s == '\n')
            rc = st_buf_append(b, "\\n", 2);
        else if (quote && *s == '"')
            rc = st_buf_append(b, "\\\"", 2);
        else
            rc = st_buf_putc(b, (uint8_t)*s);
    }
    return rc;
}

/* Integers print as integers (exact below 2^53); anything else as Go's %g, as client_golang
 * does, with +Inf, -Inf and NaN. */
static int put_value(st_buf *b, double v)
{
    char num[40];
    if (isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0)
        snprintf(num, sizeof(num), "%.0f", v);
    else
        num[gofmt_float(num, v)] = '\0';
    return st_buf_printf(b, "%s", num);
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp((*(family *const *)a)->name, (*(family *const *)b)->name);
}

static int cmp_series(const void *a, const void *b, void *nlabels)
{
    const series *x = *(series *const *)a, *y = *(series *const *)b;
    for (size_t i = 0; i < *(size_t *)nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

int metrics_render(metrics *m, st_buf *out)
{
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    family **fs = m->nf ? st_calloc(m->nf, sizeof(*fs)) : NULL;
    if (m->nf && !fs) {
        rc = ST_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < m->nf; i++)
        fs[i] = &m->f[i];
    if (m->nf)
        qsort(fs, m->nf, sizeof(*fs), cmp_family);
    for (size_t i = 0; i < m->nf && !rc; i++) {
        family *f = fs[i];
        if (!f->ns)
            continue;
        series **ss = st_calloc(f->ns, sizeof(*ss));
        if (!ss) {
            rc = ST_ENOMEM;
            break;
        }
        for (size_t j = 0; j < f->ns; j++)
            ss[j] = &f->s[j];
        qsort_r(ss, f->ns, sizeof(*ss), cmp_series, &f->nlabels);
        rc = st_buf_printf(out, "# HELP %s ", f->name);
        if (!rc)
            rc = put_escaped(out, f->help, 0);
        if (!rc)
            rc = st_buf_printf(out, "\n# TYPE %s %s\n", f->name,
                               f->kind == METRICS_COUNTER ? "counter" : "gauge");
        for (size_t j = 0; j < f->ns && !rc; j++) {
            rc = st_buf_printf(out, "%s", f->name);
            for (size_t k = 0; k < f->nlabels && !rc; k++) {
                rc = st_buf_printf(out, "%s%s=\"", k ? "," : "{", f->label_names[k]);
                if (!rc)
                    rc = put_escaped(out, ss[j]->values[k], 1);
                if (!rc)
                    rc = st_buf_putc(out, '"');
            }
            if (!rc && f->nlabels)
                rc = st_buf_putc(out, '}');
            if (!rc)
                rc = st_buf_putc(out, ' ');
            if (!rc)
                rc = put_value(out, ss[j]->v);
            if (!rc)
                rc = st_buf_putc(out, '\n');
        }
        st_free(ss);
    }
done:
    st_free(fs);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int metrics_write_textfile(metrics *m, const char *path, st_err *err)
{
    st_buf b;
    st_buf_init(&b, 0);
    int rc = metrics_render(m, &b);
    if (rc)
        st_err_set(err, rc, "metrics textfile %s: cannot render: %s", path, st_strerror(rc));
    else
        rc = st_write_file_atomic(path, b.p, b.len, err);
    st_buf_release(&b);
    return rc;
}

/* ---- Pushgateway ---------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The URL for messages: user:password@ replaced by ***@. */
static void redact_url(char *out, size_t n, const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        snprintf(out, n, "%.*s***%s", (int)(host - url), url, at);
    else
        snprintf(out, n, "%s", url);
}

/* One grouping-key segment: "/<name>/<percent-encoded value>", or "/<name>@base64/<base64url>"
 * when the value holds a '/' or is empty (Pushgateway's rules). */
static int put_group(st_buf *b, const char *name, const char *value)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (!*value || strchr(value, '/')) {
        int rc = st_buf_printf(b, "/%s@base64/", name);
        const unsigned char *p = (const unsigned char *)value;
        size_t n = strlen(value);
        for (size_t i = 0; i < n && !rc; i += 3) {
            uint32_t v = (uint32_t)p[i] << 16;
            if (i + 1 < n)
                v |= (uint32_t)p[i + 1] << 8;
            if (i + 2 < n)
                v |= p[i + 2];
            char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                         i + 2 < n ? b64[v & 63] : '='};
            rc = st_buf_append(b, q, 4);
        }
        return rc ? rc : (n ? 0 : st_buf_putc(b, '='));
    }
    int rc = st_buf_printf(b, "/%s/", name);
    for (const unsigned char *c = (const unsigned char *)value; *c && !rc; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~')
            rc = st_buf_putc(b, *c);
        else
            rc = st_buf_printf(b, "%%%02X", *c);
    }
    return rc;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    st_buf *b = ctx;
    size_t len = size * n, room = b->len < 4096 ? 4096 - b->len : 0;
    st_buf_append(b, p, ST_MIN(len, room));
    return len;
}

int metrics_push(metrics *m, const char *url, const char *job, const char *const *grouping,
                 size_t ngrouping, metrics_push_method method, long timeout_ms, st_err *err)
{
    char shown[1024];
    redact_url(shown, sizeof(shown), url ? url : "");
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return st_err_set(err, ST_EINVAL,
                          "--pushgateway.url=%s: expected http://HOST:PORT or https://HOST:PORT",
                          shown);
    if (strstr(url, "/metrics/job"))
        return st_err_set(err, ST_EINVAL,
                          "--pushgateway.url=%s: give the Pushgateway's base URL; strata adds "
                          "/metrics/job/...",
                          shown);
    if (ngrouping % 2)
        return st_err_set(err, ST_EINVAL, "metrics push: grouping key needs name/value pairs");
    for (size_t i = 0; i < ngrouping; i += 2)
        if (!valid_name(grouping[i], 1) || !grouping[i + 1])
            return st_err_set(err, ST_EINVAL, "metrics push: invalid grouping label '%s'",
                              grouping[i] ? grouping[i] : "");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return st_err_set(err, ST_EIO, "metrics push: curl_global_init: %s",
                          curl_easy_strerror(curl_init_rc));

    st_buf target, body, resp;
    st_buf_init(&target, 0);
    st_buf_init(&body, 0);
    st_buf_init(&resp, 0);
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    size_t ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/')
        ul--;
    int rc = st_buf_append(&target, url, ul);
    if (!rc)
        rc = st_buf_append(&target, "/metrics", 8);
    if (!rc)
        rc = put_group(&target, "job", job && *job ? job : "strata");
    for (size_t i = 0; i < ngrouping && !rc; i += 2)
        rc = put_group(&target, grouping[i], grouping[i + 1]);
    if (!rc && !st_buf_cstr(&target))
        rc = ST_ENOMEM;
    if (!rc)
        rc = metrics_render(m, &body);
    if (rc) {
        st_err_set(err, rc, "metrics push to %s: %s", shown, st_strerror(rc));
        goto done;
    }
    redact_url(shown, sizeof(shown), (const char *)target.p);
    if (!(h = curl_easy_init())) {
        rc = st_err_set(err, ST_ENOMEM, "metrics push to %s: curl_easy_init failed", shown);
        goto done;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
    if (hdrs)
        hdrs = curl_slist_append(hdrs, "Expect:");
    if (!hdrs) {
        rc = st_err_set(err, ST_ENOMEM, "metrics push to %s: out of memory", shown);
        goto done;
    }
    if (timeout_ms <= 0)
        timeout_ms = 10000;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, (const char *)target.p);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ST_MIN(timeout_ms, 5000L));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body.p);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method == METRICS_PUSH_MERGE ? "POST" : "PUT");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        rc = st_err_set(err, ST_ETRANSIENT, "metrics push to %s: %s", shown,
                        *errbuf ? errbuf : curl_easy_strerror(cc));
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        const char *text = st_buf_cstr(&resp);
        size_t tl = text ? strcspn(text, "\r\n") : 0;
        rc = st_err_set(err, status >= 500 ? ST_ETRANSIENT : ST_EIO,
                        "metrics push to %s: HTTP %ld%s%.*s", shown, status, tl ? ": " : "",
                        (int)ST_MIN(tl, (size_t)300), text ? text : "");
    }
done:
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    st_buf_release(&resp);
    st_buf_release(&body);
    st_buf_release(&target);
    return rc;
}

/* ---- strata's run metrics ---------------------------------------------------------------------
 */

static const char *const outcomes[] = {"ok", "failed"};
static const char *const todo_names[] = {"strata_todo_compactions", "strata_todo_downsamples",
                                         "strata_todo_deletions"};

int metrics_strata_create(metrics **out)
{
    static const char *const type_outcome[] = {"type", "outcome"}, *const tenant[] = {"tenant"};
    static const struct {
        const char *name;
        metrics_kind kind;
        const char *help;
        const char *const *labels;
        size_t nlabels;
        int zero; /* starts at 0 (else: absent until set) */
    } fams[] = {
        {"strata_last_success_timestamp_seconds", METRICS_GAUGE,
         "Unix time at which the last run that did its work (exit 0 or 3) ended.", NULL, 0, 0},
        {"strata_last_run_timestamp_seconds", METRICS_GAUGE,
         "Unix time at which the last run ended, whatever its outcome.", NULL, 0, 0},
        {"strata_run_duration_seconds", METRICS_GAUGE, "Wall-clock duration of the last run.", NULL,
         0, 0},
        {"strata_actions_total", METRICS_COUNTER,
         "Plan actions executed by the last run, by action type and outcome.", type_outcome, 2, 0},
        {"strata_bytes_read_total", METRICS_COUNTER,
         "Bytes read from the object store by the last run.", NULL, 0, 1},
        {"strata_bytes_written_total", METRICS_COUNTER,
         "Bytes written to the object store by the last run.", NULL, 0, 1},
        {"strata_blocks_quarantined_total", METRICS_COUNTER,
         "Blocks the last run could not read and marked no-compact (quarantined).", NULL, 0, 1},
        {"strata_todo_compactions", METRICS_GAUGE,
         "Compactions planned for this shard and not done by the end of the last run.", tenant, 1,
         0},
        {"strata_todo_downsamples", METRICS_GAUGE,
         "Downsamplings planned for this shard and not done by the end of the last run.", tenant, 1,
         0},
        {"strata_todo_deletions", METRICS_GAUGE,
         "Blocks to mark for deletion, delete or clean up that the last run left to do.", tenant, 1,
         0},
        {"strata_metrics_push_failures_total", METRICS_COUNTER,
         "Pushes of these metrics to the Pushgateway that failed.", NULL, 0, 0},
    };
    metrics *m = NULL;
    int rc = metrics_create(&m);
    for (size_t i = 0; !rc && i < ST_ARRAY_LEN(fams); i++) {
        rc = metrics_declare(m, fams[i].name, fams[i].kind, fams[i].help, fams[i].labels,
                             fams[i].nlabels, NULL);
        if (!rc && fams[i].zero)
            rc = metrics_set(m, fams[i].name, NULL, 0);
    }
    for (int t = 0; !rc && t < PLANNER_ACT_NTYPES; t++)
        for (size_t o = 0; !rc && o < ST_ARRAY_LEN(outcomes); o++)
            rc = metrics_set(
                m, "strata_actions_total",
                (const char *[]){planner_action_type_name((planner_action_type)t), outcomes[o]}, 0);
    if (rc) {
        metrics_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

/* Which todo gauge an action counts in (-1: none), and by how much. */
static int todo_of(const planner_action *a, double *n)
{
    *n = 1;
    switch (a->type) {
    case PLANNER_ACT_COMPACT:
        return 0;
    case PLANNER_ACT_DOWNSAMPLE:
        return 1;
    case PLANNER_ACT_DELETE:
    case PLANNER_ACT_CLEANUP_PARTIAL:
    case PLANNER_ACT_GC:
    case PLANNER_ACT_RETENTION:
        *n = (double)a->nblocks;
        return 2;
    default:
        return -1;
    }
}

void metrics_strata_todo(metrics *m, const planner_blockset *set, const struct planner_plan *p,
                         unsigned shard, unsigned nshards)
{
    for (int k = 0; k < 3; k++)
        metrics_clear(m, todo_names[k]);
    size_t nb = set ? planner_blockset_count(set) : 0;
    for (size_t i = 0; i < nb; i++) {
        const char *tenant = planner_blockset_block(set, i)->tenant;
        const char *v[] = {tenant ? tenant : ""};
        for (int k = 0; k < 3; k++)
            metrics_add(m, todo_names[k], v, 0);
    }
    size_t na = p ? planner_plan_count(p) : 0;
    for (size_t i = 0; i < na; i++) {
        const planner_action *a = planner_plan_action(p, i);
        if (nshards > 1 && planner_action_shard(a, nshards) != shard)
            continue;
        double n;
        int k = todo_of(a, &n);
        const char *v[] = {a->tenant ? a->tenant : ""};
        if (k >= 0)
            metrics_add(m, todo_names[k], v, n);
    }
}

void metrics_strata_action(metrics *m, const planner_action *a, const char *outcome,
                           uint64_t bytes_read, uint64_t bytes_written)
{
    metrics_add(m, "strata_actions_total",
                (const char *[]){planner_action_type_name(a->type), outcome}, 1);
    if (bytes_read)
        metrics_add(m, "strata_bytes_read_total", NULL, (double)bytes_read);
    if (bytes_written)
        metrics_add(m, "strata_bytes_written_total", NULL, (double)bytes_written);
    double n, cur;
    int k = todo_of(a, &n);
    const char *v[] = {a->tenant ? a->tenant : ""};
    if (k < 0 || strcmp(outcome, "ok") != 0 || metrics_get(m, todo_names[k], v, &cur))
        return;
    metrics_set(m, todo_names[k], v, cur > n ? cur - n : 0);
}

void metrics_strata_finish(metrics *m, int64_t start_ms, int64_t end_ms, int succeeded)
{
    metrics_set(m, "strata_run_duration_seconds", NULL, (double)(end_ms - start_ms) / 1000.0);
    metrics_set(m, "strata_last_run_timestamp_seconds", NULL, (double)end_ms / 1000.0);
    if (succeeded)
        metrics_set(m, "strata_last_success_timestamp_seconds", NULL, (double)end_ms / 1000.0);
}

/* The last success time in an earlier textfile, so that a failed run does not erase it. */
static int previous_success(const char *path, double *v)
{
    static const char name[] = "strata_last_success_timestamp_seconds ";
    char *text = NULL;
    size_t len = 0;
    int rc = st_read_file(path, &text, &len, 1 << 20, NULL);
    if (rc)
        return rc;
    rc = ST_ENOTFOUND;
    for (char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, sizeof(name) - 1) == 0) {
            char *end;
            double d = strtod(line + sizeof(name) - 1, &end);
            if (end != line + sizeof(name) - 1 && isfinite(d)) {
                *v = d;
                rc = 0;
            }
            break;
        }
    }
    st_free(text);
    return rc;
}

int metrics_strata_publish(metrics *m, const metrics_publish_opts *o)
{
    int failed = 0;
    double v;
    int succeeded = metrics_get(m, "strata_last_success_timestamp_seconds", NULL, &v) == 0;
    st_err err;
    if (o->pushgateway_url && *o->pushgateway_url) {
        st_err_init(&err);
        char shown[1024];
        redact_url(shown, sizeof(shown), o->pushgateway_url);
        if (metrics_push(m, o->pushgateway_url, o->job, o->grouping, o->ngrouping,
                         succeeded ? METRICS_PUSH_REPLACE : METRICS_PUSH_MERGE, o->timeout_ms,
                         &err)) {
            st_log(ST_LOG_ERROR, "metrics push failed; the run's outcome is unchanged", "url",
                   shown, "err", err.msg, NULL);
            metrics_add(m, "strata_metrics_push_failures_total", NULL, 1);
            failed++;
        } else {
            st_log(ST_LOG_INFO, "metrics pushed", "url", shown, "method",
                   succeeded ? "PUT" : "POST", NULL);
        }
    }
    if (o->textfile && *o->textfile) {
        st_err_init(&err);
        if (!succeeded && previous_success(o->textfile, &v) == 0)
            metrics_set(m, "strata_last_success_timestamp_seconds", NULL, v);
        if (metrics_write_textfile(m, o->textfile, &err)) {
            st_log(ST_LOG_ERROR, "metrics textfile not written; the run's outcome is unchanged",
                   "file", o->textfile, "err", err.msg, NULL);
            failed++;
        } else {
            st_log(ST_LOG_INFO, "metrics written", "file", o->textfile, NULL);
        }
    }
    return failed;
}
