/*
 * test_metrics.c - the run's metrics: the text exposition format (sorting, HELP and TYPE lines,
 * escaping of label values and help text, integer and %g values, families without series left
 * out), names and misuse refused, exact totals under concurrent updates, the atomic textfile,
 * strata's families and todo gauges from a real plan (per shard, going down as actions succeed),
 * a failed run keeping the last success time, and pushes that fail cleanly (no server, bad URL).
 *
 * With STRATA_PUSHGATEWAY_URL set (tests/scripts/test_pushgateway.sh starts Debian's
 * prometheus-pushgateway and sets it), the pushgateway__ tests push to it: a successful run
 * (PUT), then a failed one (POST, which keeps the last success time), a grouping value with a '/'
 * (base64 path segment), and a push the gateway refuses (HTTP 400, a clear error). The script
 * then reads the gateway's /metrics back. Without the variable those tests are skipped.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define H  3600000LL
#define D  (24 * H)
#define T0 (1209600000LL * 1400) /* on the 14d grid */

static char *render(metrics *m)
{
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(metrics_render(m, &b), 0);
    char *s = st_strndup(b.p ? (const char *)b.p : "", b.len);
    st_buf_release(&b);
    return s;
}

static void expect_render(metrics *m, const char *want)
{
    char *got = render(m);
    if (strcmp(got, want) != 0)
        fail_msg("rendered:\n%s\nwant:\n%s", got, want);
    st_free(got);
}

static void metrics__render_sorted_families_with_help_and_type(void **state)
{
    (void)state;
    metrics *m = NULL;
    st_err err;
    st_err_init(&err);
    assert_int_equal(metrics_create(&m), 0);
    const char *tl[] = {"type", "outcome"};
    assert_int_equal(
        metrics_declare(m, "z_actions_total", METRICS_COUNTER, "Actions.", tl, 2, &err), 0);
    assert_int_equal(metrics_declare(m, "a_last_seconds", METRICS_GAUGE, "Last.", NULL, 0, &err),
                     0);
    assert_int_equal(metrics_declare(m, "m_unused", METRICS_GAUGE, "Never set.", NULL, 0, &err), 0);
    assert_int_equal(metrics_add(m, "z_actions_total", (const char *[]){"gc", "success"}, 2), 0);
    assert_int_equal(metrics_add(m, "z_actions_total", (const char *[]){"compact", "success"}, 1),
                     0);
    assert_int_equal(metrics_add(m, "z_actions_total", (const char *[]){"compact", "failure"}, 1),
                     0);
    assert_int_equal(metrics_add(m, "z_actions_total", (const char *[]){"gc", "success"}, 1), 0);
    assert_int_equal(metrics_set(m, "a_last_seconds", NULL, 1700000000.5), 0);
    expect_render(m, "# HELP a_last_seconds Last.\n"
                     "# TYPE a_last_seconds gauge\n"
                     "a_last_seconds 1.7000000005e+09\n"
                     "# HELP z_actions_total Actions.\n"
                     "# TYPE z_actions_total counter\n"
                     "z_actions_total{type=\"compact\",outcome=\"failure\"} 1\n"
                     "z_actions_total{type=\"compact\",outcome=\"success\"} 1\n"
                     "z_actions_total{type=\"gc\",outcome=\"success\"} 3\n");
    double v;
    assert_int_equal(metrics_get(m, "z_actions_total", (const char *[]){"gc", "success"}, &v), 0);
    assert_true(v == 3);
    assert_int_equal(metrics_get(m, "z_actions_total", (const char *[]){"gc", "failure"}, &v),
                     ST_ENOTFOUND);
    assert_int_equal(metrics_clear(m, "z_actions_total"), 0);
    expect_render(m, "# HELP a_last_seconds Last.\n"
                     "# TYPE a_last_seconds gauge\n"
                     "a_last_seconds 1.7000000005e+09\n");
    metrics_free(m);
    metrics_free(NULL);
}

static void metrics__escape_label_values_and_help(void **state)
{
    (void)state;
    metrics *m = NULL;
    assert_int_equal(metrics_create(&m), 0);
    const char *ln[] = {"tenant"};
    assert_int_equal(
        metrics_declare(m, "t", METRICS_GAUGE, "Help with \\ and\nnewline \"q\".", ln, 1, NULL), 0);
    assert_int_equal(metrics_set(m, "t", (const char *[]){"a\\b\"c\nd"}, 1), 0);
    assert_int_equal(metrics_set(m, "t", (const char *[]){""}, 2), 0);
    assert_int_equal(metrics_set(m, "t", (const char *[]){"caf\xc3\xa9 {x=\"y\"}"}, 3), 0);
    expect_render(m, "# HELP t Help with \\\\ and\\nnewline \"q\".\n"
                     "# TYPE t gauge\n"
                     "t{tenant=\"\"} 2\n"
                     "t{tenant=\"a\\\\b\\\"c\\nd\"} 1\n"
                     "t{tenant=\"caf\xc3\xa9 {x=\\\"y\\\"}\"} 3\n");
    metrics_free(m);
}

static void metrics__format_values_as_integers_or_go_g(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {1, "1"},
        {-3, "-3"},
        {1700092800, "1700092800"},
        {123456789012345.0, "123456789012345"},
        {9007199254740991.0, "9007199254740991"},
        {9007199254740992.0, "9.007199254740992e+15"},
        {1e20, "1e+20"},
        {0.1, "0.1"},
        {1.5, "1.5"},
        {12.345, "12.345"},
        {1700092800.123, "1.700092800123e+09"},
        {0.00001, "1e-05"},
        {1.0 / 0.0, "+Inf"},
        {-1.0 / 0.0, "-Inf"},
        {0.0 / 0.0, "NaN"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        metrics *m = NULL;
        assert_int_equal(metrics_create(&m), 0);
        assert_int_equal(metrics_declare(m, "v", METRICS_GAUGE, "h", NULL, 0, NULL), 0);
        assert_int_equal(metrics_set(m, "v", NULL, cases[i].v), 0);
        char *got = render(m);
        char want[128];
        snprintf(want, sizeof(want), "# HELP v h\n# TYPE v gauge\nv %s\n", cases[i].want);
        if (strcmp(got, want) != 0)
            fail_msg("case %zu (%s): got %s", i, cases[i].want, got);
        st_free(got);
        metrics_free(m);
    }
}

static void metrics__refuse_bad_names_and_misuse(void **state)
{
    (void)state;
    metrics *m = NULL;
    st_err err;
    assert_int_equal(metrics_create(&m), 0);
    static const char *const bad_names[] = {"", "1abc", "a-b", "a b", "é", NULL};
    for (size_t i = 0; i < ST_ARRAY_LEN(bad_names); i++) {
        st_err_init(&err);
        if (metrics_declare(m, bad_names[i], METRICS_GAUGE, "h", NULL, 0, &err) != ST_EINVAL)
            fail_msg("metric name '%s' accepted", bad_names[i] ? bad_names[i] : "(null)");
    }
    static const char *const bad_labels[] = {"__reserved", "a:b", "9x", ""};
    for (size_t i = 0; i < ST_ARRAY_LEN(bad_labels); i++) {
        st_err_init(&err);
        const char *l[] = {bad_labels[i]};
        if (metrics_declare(m, "ok", METRICS_GAUGE, "h", l, 1, &err) != ST_EINVAL)
            fail_msg("label name '%s' accepted", bad_labels[i]);
    }
    const char *dup[] = {"a", "a"};
    assert_int_equal(metrics_declare(m, "ok", METRICS_GAUGE, "h", dup, 2, NULL), ST_EINVAL);
    assert_int_equal(metrics_declare(m, "ok:sub_total", METRICS_COUNTER, "h", NULL, 0, NULL), 0);
    st_err_init(&err);
    assert_int_equal(metrics_declare(m, "ok:sub_total", METRICS_GAUGE, "h", NULL, 0, &err),
                     ST_EINVAL);
    assert_non_null(strstr(err.msg, "declared twice"));
    assert_int_equal(metrics_add(m, "ok:sub_total", NULL, -1), ST_EINVAL);
    assert_int_equal(metrics_add(m, "nope", NULL, 1), ST_EINVAL);
    const char *l1[] = {"tenant"};
    assert_int_equal(metrics_declare(m, "lab", METRICS_GAUGE, "h", l1, 1, NULL), 0);
    assert_int_equal(metrics_set(m, "lab", NULL, 1), ST_EINVAL);
    assert_int_equal(metrics_set(m, "ok:sub_total", NULL, 4), 0); /* a batch job sets totals */
    expect_render(m, "# HELP ok:sub_total h\n# TYPE ok:sub_total counter\nok:sub_total 4\n");
    metrics_free(m);
}

typedef struct adder {
    metrics *m;
    int id;
} adder;

static void *add_many(void *arg)
{
    adder *a = arg;
    char t[16];
    snprintf(t, sizeof(t), "t%d", a->id % 3);
    for (int i = 0; i < 20000; i++) {
        metrics_add(a->m, "c_total", NULL, 1);
        metrics_add(a->m, "per_total", (const char *[]){t}, 0.5);
        if (i % 1000 == 0) {
            st_buf b;
            st_buf_init(&b, 0);
            metrics_render(a->m, &b);
            st_buf_release(&b);
        }
    }
    return NULL;
}

static void metrics__concurrent_updates_give_exact_totals(void **state)
{
    (void)state;
    metrics *m = NULL;
    assert_int_equal(metrics_create(&m), 0);
    const char *ln[] = {"tenant"};
    assert_int_equal(metrics_declare(m, "c_total", METRICS_COUNTER, "h", NULL, 0, NULL), 0);
    assert_int_equal(metrics_declare(m, "per_total", METRICS_COUNTER, "h", ln, 1, NULL), 0);
    pthread_t th[8];
    adder a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (adder){m, i};
        assert_int_equal(pthread_create(&th[i], NULL, add_many, &a[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    double v;
    assert_int_equal(metrics_get(m, "c_total", NULL, &v), 0);
    assert_true(v == 160000);
    double sum = 0;
    for (int t = 0; t < 3; t++) {
        char name[8];
        snprintf(name, sizeof(name), "t%d", t);
        assert_int_equal(metrics_get(m, "per_total", (const char *[]){name}, &v), 0);
        sum += v;
    }
    assert_true(sum == 80000);
    metrics_free(m);
}

static char *slurp(const char *path)
{
    size_t len;
    uint8_t *p = tu_read(path, &len);
    char *s = st_strndup((const char *)p, len);
    free(p);
    return s;
}

static void metrics__textfile_is_replaced_atomically(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/strata.prom", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    metrics *m = NULL;
    st_err err;
    st_err_init(&err);
    assert_int_equal(metrics_create(&m), 0);
    assert_int_equal(metrics_declare(m, "g", METRICS_GAUGE, "h", NULL, 0, NULL), 0);
    assert_int_equal(metrics_set(m, "g", NULL, 1), 0);
    assert_int_equal(metrics_write_textfile(m, path, &err), 0);
    char *got = slurp(path);
    assert_string_equal(got, "# HELP g h\n# TYPE g gauge\ng 1\n");
    st_free(got);
    assert_int_equal(metrics_set(m, "g", NULL, 2), 0);
    assert_int_equal(metrics_write_textfile(m, path, &err), 0);
    got = slurp(path);
    assert_string_equal(got, "# HELP g h\n# TYPE g gauge\ng 2\n");
    st_free(got);
    struct stat st;
    assert_int_not_equal(stat(tmp, &st), 0);
    /* A directory that does not exist: a clear error, nothing else. */
    char bad[4200];
    snprintf(bad, sizeof(bad), "%s/missing/strata.prom", dir);
    st_err_init(&err);
    assert_int_equal(metrics_write_textfile(m, bad, &err), ST_EIO);
    assert_non_null(strstr(err.msg, "missing/strata.prom"));
    metrics_free(m);
    tu_tmpdir_free(dir);
}

/* ---- strata's families and the plan ------------------------------------------------------- */

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

static void add_block(planner_blockset *set, const char *tenant, unsigned n, int64_t min,
                      int64_t max, const char *replica, int64_t deleted_at_ms)
{
    planner_block b;
    memset(&b, 0, sizeof(b));
    b.ulid = mkulid(min, n);
    b.tenant = tenant;
    b.min_time = min;
    b.max_time = max;
    b.level = 1;
    b.stats.series = 100;
    b.stats.samples = 48000;
    b.stats.chunks = 400;
    b.size_bytes = 1000;
    b.index_bytes = 100;
    b.source = "sidecar";
    b.upload_time_ms = max + 60000;
    b.last_modified_ms = INT64_MIN;
    char k1[] = "cluster", v1[] = "eu1", k2[] = "replica", v2[16];
    snprintf(v2, sizeof(v2), "%s", replica);
    codec_kv kv[2] = {{k1, v1}, {k2, v2}};
    b.labels = kv;
    b.nlabels = 2;
    b.sources = &b.ulid;
    b.nsources = 1;
    if (deleted_at_ms)
        b.deletion = (planner_mark){1, deleted_at_ms / 1000, "", "test"};
    st_err err;
    st_err_init(&err);
    if (planner_blockset_add(set, &b, &err))
        fail_msg("add: %s", err.msg);
}

static double get(metrics *m, const char *name, const char *label)
{
    double v = -1;
    const char *vals[] = {label};
    if (metrics_get(m, name, label ? vals : NULL, &v))
        fail_msg("%s{%s} has no value", name, label ? label : "");
    return v;
}

static void metrics__strata_todo_gauges_follow_the_plan_and_the_actions(void **state)
{
    (void)state;
    planner_blockset *set = NULL;
    planner_settings *s = NULL;
    struct planner_plan *p = NULL;
    st_err err;
    st_err_init(&err);
    planner_flags pf = {.retention_raw = "30d"};
    assert_int_equal(planner_settings_create(&s, &pf, &err), 0);
    assert_int_equal(planner_blockset_create(&set), 0);
    unsigned n = 1;
    for (int i = 0; i < 4; i++) /* acme: 4 x 2h, one complete 8h range -> compact */
        add_block(set, "acme", n++, T0 + i * 2 * H, T0 + (i + 1) * 2 * H, "a", 0);
    add_block(set, "acme", n++, T0 - 40 * D, T0 - 39 * D, "a", 0);     /* past retention */
    add_block(set, "globex", n++, T0 - 3 * D, T0 - 3 * D + 2 * H, "a", /* mark 3d old */
              T0 + 7 * D);
    add_block(set, "globex", n++, T0 - 4 * D, T0 - 4 * D + 2 * H, "a", T0 + 7 * D);
    add_block(set, "idle", n++, T0 + 10 * D - 10 * 60000, T0 + 10 * D - 5 * 60000, "a", 0);
    int64_t now = T0 + 10 * D;
    if (planner_plan(&p, set, s, now, &err))
        fail_msg("plan: %s", err.msg);

    /* What the plan asks of each tenant, counted here from the actions themselves. */
    const char *tenants[] = {"acme", "globex", "idle"};
    double want[3][3] = {{0}};
    size_t per_type[PLANNER_ACT_NTYPES] = {0};
    for (size_t i = 0; i < planner_plan_count(p); i++) {
        const planner_action *a = planner_plan_action(p, i);
        per_type[a->type]++;
        int t = strcmp(a->tenant, "acme") == 0 ? 0 : strcmp(a->tenant, "globex") == 0 ? 1 : 2;
        int k = a->type == PLANNER_ACT_COMPACT ? 0 : a->type == PLANNER_ACT_DOWNSAMPLE ? 1 : 2;
        want[t][k] += k == 2 ? (double)a->nblocks : 1;
    }
    assert_true(per_type[PLANNER_ACT_COMPACT] >= 1);
    assert_int_equal(per_type[PLANNER_ACT_RETENTION], 1);
    assert_int_equal(per_type[PLANNER_ACT_DELETE], 2);

    metrics *m = NULL;
    assert_int_equal(metrics_strata_create(&m), 0);
    metrics_strata_todo(m, set, p, 0, 1);
    const char *todo[] = {"strata_todo_compactions", "strata_todo_downsamples",
                          "strata_todo_deletions"};
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 3; k++)
            if (get(m, todo[k], tenants[t]) != want[t][k])
                fail_msg("%s{tenant=%s} = %g, want %g", todo[k], tenants[t],
                         get(m, todo[k], tenants[t]), want[t][k]);
    assert_true(get(m, "strata_todo_compactions", "idle") == 0);

    /* Successes take work off the gauges; failures leave it. */
    for (size_t i = 0; i < planner_plan_count(p); i++) {
        const planner_action *a = planner_plan_action(p, i);
        int fail = a->type == PLANNER_ACT_DELETE &&
                   strcmp(a->blocks[0]->ulid.s, mkulid(T0 - 3 * D, 6).s) == 0;
        metrics_strata_action(m, a, fail ? "failed" : "ok",
                              a->type == PLANNER_ACT_COMPACT ? 4000 : 0,
                              a->type == PLANNER_ACT_COMPACT ? 3000 : 0);
    }
    assert_true(get(m, "strata_todo_compactions", "acme") == 0);
    assert_true(get(m, "strata_todo_deletions", "acme") == 0);
    assert_true(get(m, "strata_todo_deletions", "globex") == 1);
    double v;
    assert_int_equal(
        metrics_get(m, "strata_actions_total", (const char *[]){"delete", "failed"}, &v), 0);
    assert_true(v == 1);
    assert_int_equal(metrics_get(m, "strata_actions_total", (const char *[]){"delete", "ok"}, &v),
                     0);
    assert_true(v == 1);
    assert_true(get(m, "strata_bytes_read_total", NULL) ==
                4000.0 * (double)per_type[PLANNER_ACT_COMPACT]);
    assert_true(get(m, "strata_bytes_written_total", NULL) ==
                3000.0 * (double)per_type[PLANNER_ACT_COMPACT]);
    assert_true(get(m, "strata_blocks_quarantined_total", NULL) == 0);

    /* Two shards split the actions between them: their gauges add up to the whole. */
    metrics *m0 = NULL, *m1 = NULL;
    assert_int_equal(metrics_strata_create(&m0), 0);
    assert_int_equal(metrics_strata_create(&m1), 0);
    metrics_strata_todo(m0, set, p, 0, 2);
    metrics_strata_todo(m1, set, p, 1, 2);
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 3; k++)
            assert_true(get(m0, todo[k], tenants[t]) + get(m1, todo[k], tenants[t]) == want[t][k]);

    /* Every family of the contract renders, with HELP and TYPE. */
    metrics_strata_finish(m, 1700000000000LL, 1700000012500LL, 1);
    char *text = render(m);
    static const char *const lines[] = {
        "# TYPE strata_last_success_timestamp_seconds gauge\n"
        "strata_last_success_timestamp_seconds 1.7000000125e+09\n",
        "# TYPE strata_last_run_timestamp_seconds gauge\n",
        "# TYPE strata_run_duration_seconds gauge\nstrata_run_duration_seconds 12.5\n",
        "# TYPE strata_actions_total counter\n",
        "strata_actions_total{type=\"delete\",outcome=\"failed\"} 1\n",
        "strata_actions_total{type=\"downsample\",outcome=\"ok\"} 0\n",
        "# TYPE strata_bytes_read_total counter\n",
        "# TYPE strata_bytes_written_total counter\n",
        "# TYPE strata_blocks_quarantined_total counter\nstrata_blocks_quarantined_total 0\n",
        "# TYPE strata_todo_compactions gauge\n",
        "strata_todo_deletions{tenant=\"globex\"} 1\n",
        "strata_todo_downsamples{tenant=\"idle\"} 0\n",
        "# HELP strata_todo_compactions ",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(lines); i++)
        if (!strstr(text, lines[i]))
            fail_msg("missing:\n%s\nin:\n%s", lines[i], text);
    assert_null(strstr(text, "strata_metrics_push_failures_total")); /* none yet */
    st_free(text);
    metrics_free(m0);
    metrics_free(m1);
    metrics_free(m);
    planner_plan_free(p);
    planner_blockset_free(set);
    planner_settings_free(s);
}

static void metrics__failed_run_keeps_the_last_success_in_the_textfile(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/strata.prom", dir);
    metrics *m = NULL;
    assert_int_equal(metrics_strata_create(&m), 0);
    metrics_strata_finish(m, 1700000000000LL, 1700000060000LL, 1);
    assert_int_equal(metrics_strata_publish(m, &(metrics_publish_opts){.textfile = path}), 0);
    metrics_free(m);

    assert_int_equal(metrics_strata_create(&m), 0);
    metrics_strata_finish(m, 1700003600000LL, 1700003605000LL, 0);
    assert_int_equal(metrics_strata_publish(m, &(metrics_publish_opts){.textfile = path}), 0);
    metrics_free(m);
    char *text = slurp(path);
    if (!strstr(text, "\nstrata_last_success_timestamp_seconds 1700000060\n") ||
        !strstr(text, "\nstrata_last_run_timestamp_seconds 1700003605\n") ||
        !strstr(text, "\nstrata_run_duration_seconds 5\n"))
        fail_msg("textfile after a failed run:\n%s", text);
    st_free(text);

    /* A first run that fails has no success to keep. */
    unlink(path);
    assert_int_equal(metrics_strata_create(&m), 0);
    metrics_strata_finish(m, 1700003600000LL, 1700003605000LL, 0);
    assert_int_equal(metrics_strata_publish(m, &(metrics_publish_opts){.textfile = path}), 0);
    metrics_free(m);
    text = slurp(path);
    assert_null(strstr(text, "strata_last_success_timestamp_seconds"));
    st_free(text);
    tu_tmpdir_free(dir);
}

/* A loopback port with nothing listening on it. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void metrics__push_failures_are_clear_errors_never_fatal(void **state)
{
    (void)state;
    metrics *m = NULL;
    assert_int_equal(metrics_strata_create(&m), 0);
    metrics_strata_finish(m, 1700000000000LL, 1700000001000LL, 1);
    char url[256];
    snprintf(url, sizeof(url), "http://strata:s3cret@127.0.0.1:%d/", closed_port());
    st_err err;
    st_err_init(&err);
    int rc = metrics_push(m, url, "strata", NULL, 0, METRICS_PUSH_REPLACE, 2000, &err);
    assert_int_equal(rc, ST_ETRANSIENT);
    assert_non_null(strstr(err.msg, "/metrics/job/strata"));
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_null(strstr(err.msg, "s3cret"));

    static const char *const bad[] = {"127.0.0.1:9091", "ftp://host/", "",
                                      "http://host:9091/metrics/job/strata"};
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        st_err_init(&err);
        if (metrics_push(m, bad[i], "strata", NULL, 0, METRICS_PUSH_REPLACE, 0, &err) !=
                ST_EINVAL ||
            !strstr(err.msg, "--pushgateway.url"))
            fail_msg("url '%s': %s", bad[i], err.msg);
    }
    st_err_init(&err);
    assert_int_equal(metrics_push(m, "http://h:1", "strata", (const char *[]){"shard"}, 1,
                                  METRICS_PUSH_REPLACE, 0, &err),
                     ST_EINVAL);

    /* Through the run's publish: logged and counted, the textfile still written. */
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/strata.prom", dir);
    metrics_publish_opts o = {.textfile = path, .pushgateway_url = url, .timeout_ms = 2000};
    assert_int_equal(metrics_strata_publish(m, &o), 1);
    char *text = slurp(path);
    assert_non_null(strstr(text, "\nstrata_metrics_push_failures_total 1\n"));
    st_free(text);
    tu_tmpdir_free(dir);
    metrics_free(m);
}

/* ---- against a real Pushgateway (test_pushgateway.sh) ------------------------------------- */

static const char *gateway(void)
{
    const char *u = getenv("STRATA_PUSHGATEWAY_URL");
    return u && *u ? u : NULL;
}

/* The registry of one run, as `strata run` fills it. */
static metrics *a_run(int succeeded, int64_t end_ms, double compactions)
{
    metrics *m = NULL;
    assert_int_equal(metrics_strata_create(&m), 0);
    assert_int_equal(
        metrics_add(m, "strata_actions_total", (const char *[]){"compact", "ok"}, compactions), 0);
    if (!succeeded)
        assert_int_equal(
            metrics_add(m, "strata_actions_total", (const char *[]){"compact", "failed"}, 1), 0);
    assert_int_equal(metrics_add(m, "strata_bytes_read_total", NULL, 123456789), 0);
    assert_int_equal(metrics_add(m, "strata_bytes_written_total", NULL, 98765432), 0);
    assert_int_equal(metrics_add(m, "strata_blocks_quarantined_total", NULL, succeeded ? 0 : 2), 0);
    assert_int_equal(
        metrics_set(m, "strata_todo_compactions", (const char *[]){"acme"}, succeeded ? 0 : 3), 0);
    assert_int_equal(
        metrics_set(m, "strata_todo_compactions", (const char *[]){"we \"quote\"\\"}, 1), 0);
    assert_int_equal(metrics_set(m, "strata_todo_downsamples", (const char *[]){"acme"}, 0), 0);
    assert_int_equal(metrics_set(m, "strata_todo_deletions", (const char *[]){"acme"}, 5), 0);
    metrics_strata_finish(m, end_ms - 12500, end_ms, succeeded);
    return m;
}

static void pushgateway__successful_then_failed_run(void **state)
{
    (void)state;
    if (!gateway())
        skip();
    /* The script lints the textfile with `promtool check metrics` when it names one. */
    metrics_publish_opts o = {.pushgateway_url = gateway(),
                              .textfile = getenv("STRATA_METRICS_TEXTFILE"),
                              .grouping = (const char *[]){"shard", "1"},
                              .ngrouping = 2};
    metrics *m = a_run(1, 1700000000000LL, 3);
    assert_int_equal(metrics_strata_publish(m, &o), 0); /* PUT */
    metrics_free(m);
    m = a_run(0, 1700003600000LL, 1);
    assert_int_equal(metrics_strata_publish(m, &o), 0); /* POST: keeps the last success */
    metrics_free(m);
}

static void pushgateway__grouping_value_with_a_slash(void **state)
{
    (void)state;
    if (!gateway())
        skip();
    metrics *m = a_run(1, 1700007200000LL, 2);
    st_err err;
    st_err_init(&err);
    int rc = metrics_push(m, gateway(), "strata", (const char *[]){"instance", "pod/a b"}, 2,
                          METRICS_PUSH_REPLACE, 0, &err);
    if (rc)
        fail_msg("push: %s", err.msg);
    metrics_free(m);
}

static void pushgateway__refused_push_is_a_clear_error(void **state)
{
    (void)state;
    if (!gateway())
        skip();
    /* strata_run_duration_seconds is a gauge in the other groups: the gateway refuses a counter
     * of that name (inconsistent with what it holds). */
    metrics *m = NULL;
    assert_int_equal(metrics_create(&m), 0);
    assert_int_equal(
        metrics_declare(m, "strata_run_duration_seconds", METRICS_COUNTER, "x", NULL, 0, NULL), 0);
    assert_int_equal(metrics_set(m, "strata_run_duration_seconds", NULL, 1), 0);
    st_err err;
    st_err_init(&err);
    int rc = metrics_push(m, gateway(), "strata", (const char *[]){"shard", "refused"}, 2,
                          METRICS_PUSH_REPLACE, 0, &err);
    if (rc != ST_EIO || !strstr(err.msg, "HTTP 400"))
        fail_msg("rc %d: %s", rc, err.msg);
    assert_non_null(strstr(err.msg, "/metrics/job/strata/shard/refused"));
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics__render_sorted_families_with_help_and_type),
        cmocka_unit_test(metrics__escape_label_values_and_help),
        cmocka_unit_test(metrics__format_values_as_integers_or_go_g),
        cmocka_unit_test(metrics__refuse_bad_names_and_misuse),
        cmocka_unit_test(metrics__concurrent_updates_give_exact_totals),
        cmocka_unit_test(metrics__textfile_is_replaced_atomically),
        cmocka_unit_test(metrics__strata_todo_gauges_follow_the_plan_and_the_actions),
        cmocka_unit_test(metrics__failed_run_keeps_the_last_success_in_the_textfile),
        cmocka_unit_test(metrics__push_failures_are_clear_errors_never_fatal),
        cmocka_unit_test(pushgateway__successful_then_failed_run),
        cmocka_unit_test(pushgateway__grouping_value_with_a_slash),
        cmocka_unit_test(pushgateway__refused_push_is_a_clear_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
