/*
 * test_plan_settings.c - the planner's settings: Prometheus durations both ways, RFC 3339 times,
 * Thanos-named flags as defaults, the per-tenant YAML exactly as issue 4 shows it (defaults,
 * overrides key by key), and errors that name the flag or the file, line, tenant and key,
 * including Thanos' refusal of short raw/5m retention while downsampling is on.
 */
#include "../util/testutil.h"

#include "planner/planner.h"

#include <stdio.h>
#include <string.h>

#define H 3600000LL
#define D (24 * H)

static void settings__parses_prometheus_durations(void **state)
{
    static const struct {
        const char *in;
        int64_t want; /* -1: invalid */
    } cases[] = {
        {"90m", 90 * 60000LL},
        {"36h", 36 * H},
        {"30d", 30 * D},
        {"2w", 14 * D},
        {"1y", 365 * D},
        {"0", 0},
        {"0s", 0},
        {"0d", 0},
        {"1h30m", 90 * 60000LL},
        {"1d12h", 36 * H},
        {"500ms", 500},
        {"1m1ms", 60001},
        {"2y3w4d5h6m7s8ms", 2 * 365 * D + 3 * 7 * D + 4 * D + 5 * H + 6 * 60000 + 7000 + 8},
        {"", -1},
        {"30", -1},
        {"1h1d", -1},
        {"1x", -1},
        {"-1d", -1},
        {"d", -1},
        {"1.5h", -1},
        {"1hh", -1},
        {"1h ", -1},
        {"99999999999999999999d", -1},
        {"1m1m", -1},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        int64_t ms = -7;
        int rc = planner_duration_parse(cases[i].in, &ms);
        if (cases[i].want < 0 && rc == 0)
            fail_msg("\"%s\": accepted as %lld, want an error", cases[i].in, (long long)ms);
        if (cases[i].want >= 0 && (rc != 0 || ms != cases[i].want))
            fail_msg("\"%s\": rc %d ms %lld, want %lld", cases[i].in, rc, (long long)ms,
                     (long long)cases[i].want);
    }
}

static void settings__formats_durations_as_prometheus(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "0s"},       {30 * D, "30d"},   {14 * D, "2w"},          {365 * D, "1y"},
        {90 * D, "90d"}, {36 * H, "1d12h"}, {90 * 60000LL, "1h30m"}, {1500, "1s500ms"},
        {48 * H, "2d"},  {366 * D, "366d"}, {40 * H, "1d16h"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char out[64];
        planner_duration_format(out, sizeof(out), cases[i].ms);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%lld ms: got %s, want %s", (long long)cases[i].ms, out, cases[i].want);
        int64_t back;
        assert_int_equal(planner_duration_parse(out, &back), 0);
        assert_true(back == cases[i].ms);
    }
}

static void settings__parses_and_formats_rfc3339_times(void **state)
{
    int64_t ms;
    assert_int_equal(planner_time_parse("2023-11-14T00:00:00Z", &ms), 0);
    assert_true(ms == 1699920000000LL);
    assert_int_equal(planner_time_parse("2023-11-14T01:00:00.250+01:00", &ms), 0);
    assert_true(ms == 1699920000250LL);
    assert_int_equal(planner_time_parse("2023-11-13T23:30:00.123456789-00:30", &ms), 0);
    assert_true(ms == 1699920000123LL);
    static const char *const bad[] = {"",
                                      "2023-11-14",
                                      "2023-11-14T00:00:00",
                                      "2023-02-30T00:00:00Z",
                                      "2023-11-14T25:00:00Z",
                                      "2023-11-14T00:00:00.Z",
                                      "2023-11-14T00:00:00+0100",
                                      "1699920000000"};
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++)
        if (planner_time_parse(bad[i], &ms) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
    char out[40];
    planner_time_format(out, sizeof(out), 1699920000000LL);
    assert_string_equal(out, "2023-11-14T00:00:00Z");
    planner_time_format(out, sizeof(out), 1699920000007LL);
    assert_string_equal(out, "2023-11-14T00:00:00.007Z");
    planner_time_format(out, sizeof(out), -1);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void settings__defaults_are_thanos_defaults(void **state)
{
    planner_settings *s;
    st_err err;
    st_err_init(&err);
    assert_int_equal(planner_settings_create(&s, NULL, &err), 0);
    assert_true(s->delete_delay_ms == 48 * H);
    assert_true(s->consistency_delay_ms == 30 * 60000LL);
    for (int i = 0; i < 3; i++)
        assert_true(s->defaults.retention_ms[i] == 0);
    assert_int_equal(s->defaults.downsampling, 1);
    assert_int_equal(s->defaults.nreplica_labels, 0);
    assert_int_equal(s->tenant_layout, PLANNER_TENANTS_NONE);
    assert_string_equal(s->tenant_label, "tenant_id");
    assert_int_equal(s->nranges, 5);
    assert_true(s->ranges_ms[1] == 2 * H && s->ranges_ms[4] == 14 * D);
    assert_true(s->max_index_bytes == 64ULL << 30);
    assert_ptr_equal(planner_settings_tenant(s, "anyone"), &s->defaults);
    planner_settings_free(s);
}

static void settings__flags_set_the_defaults(void **state)
{
    const char *reps[] = {"replica,prometheus_replica", "rule_replica", "replica"};
    planner_flags f = {.retention_raw = "30d",
                       .retention_5m = "180d",
                       .retention_1h = "2y",
                       .replica_labels = reps,
                       .nreplica_labels = 3,
                       .delete_delay = "12h",
                       .consistency_delay = "0",
                       .tenant_layout = "prefix",
                       .max_index_size = "512MiB"};
    planner_settings *s;
    st_err err;
    st_err_init(&err);
    if (planner_settings_create(&s, &f, &err))
        fail_msg("%s", err.msg);
    assert_true(s->defaults.retention_ms[PLANNER_RAW] == 30 * D);
    assert_true(s->defaults.retention_ms[PLANNER_5M] == 180 * D);
    assert_true(s->defaults.retention_ms[PLANNER_1H] == 2 * 365 * D);
    assert_int_equal(s->defaults.nreplica_labels, 3);
    assert_string_equal(s->defaults.replica_labels[0], "replica");
    assert_string_equal(s->defaults.replica_labels[1], "prometheus_replica");
    assert_string_equal(s->defaults.replica_labels[2], "rule_replica");
    assert_true(s->delete_delay_ms == 12 * H);
    assert_true(s->consistency_delay_ms == 0);
    assert_int_equal(s->tenant_layout, PLANNER_TENANTS_PREFIX);
    assert_true(s->max_index_bytes == 512ULL << 20);
    planner_settings_free(s);
}

/* The file exactly as issue 4 shows it. */
static const char ISSUE_YAML[] = "defaults:\n"
                                 "  retention: {raw: 30d, 5m: 180d, 1h: 2y}\n"
                                 "  downsampling: true\n"
                                 "  replica_labels: [replica, prometheus_replica]\n"
                                 "tenants:\n"
                                 "  acme:\n"
                                 "    retention: {raw: 7d, 1h: 5y}     # keys not given fall back "
                                 "to defaults\n"
                                 "  globex:\n"
                                 "    downsampling: false\n";

static void settings__tenant_file_overrides_key_by_key(void **state)
{
    planner_flags f = {
        .retention_raw = "90d", .downsampling_disable = 1, .tenant_config_yaml = ISSUE_YAML};
    planner_settings *s;
    st_err err;
    st_err_init(&err);
    if (planner_settings_create(&s, &f, &err))
        fail_msg("%s", err.msg);
    /* the file's defaults beat the flags */
    const planner_tenant_settings *d = planner_settings_tenant(s, "initech");
    assert_ptr_equal(d, &s->defaults);
    assert_true(d->retention_ms[PLANNER_RAW] == 30 * D);
    assert_true(d->retention_ms[PLANNER_5M] == 180 * D);
    assert_true(d->retention_ms[PLANNER_1H] == 2 * 365 * D);
    assert_int_equal(d->downsampling, 1);
    assert_int_equal(d->nreplica_labels, 2);
    const planner_tenant_settings *acme = planner_settings_tenant(s, "acme");
    assert_string_equal(acme->name, "acme");
    assert_true(acme->retention_ms[PLANNER_RAW] == 7 * D);
    assert_true(acme->retention_ms[PLANNER_5M] == 180 * D); /* not given: from defaults */
    assert_true(acme->retention_ms[PLANNER_1H] == 5 * 365 * D);
    assert_int_equal(acme->downsampling, 1);
    assert_int_equal(acme->nreplica_labels, 2);
    const planner_tenant_settings *globex = planner_settings_tenant(s, "globex");
    assert_int_equal(globex->downsampling, 0);
    assert_true(globex->retention_ms[PLANNER_RAW] == 30 * D);
    assert_int_equal(s->ntenants, 2);
    planner_settings_free(s);
}

static void settings__reads_the_tenant_file_from_disk(void **state)
{
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/tenants.yaml", dir);
    tu_write(path, ISSUE_YAML, strlen(ISSUE_YAML));
    planner_flags f = {.tenant_config_file = path};
    planner_settings *s;
    st_err err;
    st_err_init(&err);
    if (planner_settings_create(&s, &f, &err))
        fail_msg("%s", err.msg);
    assert_true(planner_settings_tenant(s, "acme")->retention_ms[PLANNER_RAW] == 7 * D);
    planner_settings_free(s);
    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    assert_int_not_equal(planner_settings_create(&s, &f, &err), 0);
    assert_non_null(strstr(err.msg, "--tenant-config"));
    tu_tmpdir_free(dir);
}

static void settings__empty_and_null_documents_are_no_overrides(void **state)
{
    static const char *const docs[] = {"", "# nothing\n", "defaults:\ntenants:\n", "tenants: {}\n",
                                       "defaults: {}\n"};
    for (size_t i = 0; i < ST_ARRAY_LEN(docs); i++) {
        planner_flags f = {.retention_raw = "3d", .tenant_config_yaml = docs[i]};
        planner_settings *s;
        st_err err;
        st_err_init(&err);
        if (planner_settings_create(&s, &f, &err))
            fail_msg("doc %zu: %s", i, err.msg);
        assert_true(s->defaults.retention_ms[PLANNER_RAW] == 3 * D);
        assert_int_equal(s->ntenants, 0);
        planner_settings_free(s);
    }
}

static void settings__errors_name_the_tenant_and_the_key(void **state)
{
    static const struct {
        const char *name;
        planner_flags f;
        const char *want[3]; /* substrings of the message */
    } cases[] = {
        {"bad duration in a tenant",
         {.tenant_config_yaml = "tenants:\n  acme:\n    retention: {raw: 7x}\n"},
         {"tenants.acme", "retention.raw", "\"7x\""}},
        {"unknown key in a tenant",
         {.tenant_config_yaml = "tenants:\n  acme:\n    retension: {raw: 7d}\n"},
         {"tenants.acme", "unknown key \"retension\"", ":3:"}},
        {"unknown retention key",
         {.tenant_config_yaml = "defaults:\n  retention: {raw: 7d, 10m: 1d}\n"},
         {"defaults", "\"10m\"", ":2:"}},
        {"unknown top-level key",
         {.tenant_config_yaml = "tenant:\n  acme: {}\n"},
         {"top-level key \"tenant\"", ":1:", NULL}},
        {"short raw retention in a tenant while downsampling is on",
         {.tenant_config_yaml = "tenants:\n  acme:\n    retention: {raw: 36h}\n"},
         {"tenant \"acme\"", "retention.raw 1d12h", "40h"}},
        {"short 5m retention in the defaults",
         {.tenant_config_yaml = "defaults:\n  retention: {5m: 9d}\n"},
         {"defaults", "retention.5m 9d", "defaults.retention.5m"}},
        {"short raw retention from the flag",
         {.retention_raw = "1d"},
         {"--retention.resolution-raw", "retention.raw 1d", NULL}},
        {"bad flag duration", {.delete_delay = "2 days"}, {"--delete-delay=2 days", NULL, NULL}},
        {"bad tenant layout", {.tenant_layout = "path"}, {"--tenant-layout=path", NULL, NULL}},
        {"bad max index size",
         {.max_index_size = "lots"},
         {"--compact.block-max-index-size=lots", NULL, NULL}},
        {"invalid tenant name",
         {.tenant_config_yaml = "tenants:\n  \"a/b\": {}\n"},
         {"\"a/b\" is not a valid tenant name", NULL, NULL}},
        {"reserved tenant name",
         {.tenant_config_yaml = "tenants:\n  _strata: {}\n"},
         {"\"_strata\"", NULL, NULL}},
        {"tenant given twice",
         {.tenant_config_yaml = "tenants:\n  acme: {}\n  globex: {}\n  acme: {}\n"},
         {"\"acme\" given twice", ":4:", NULL}},
        {"downsampling not a bool",
         {.tenant_config_yaml = "tenants:\n  acme:\n    downsampling: maybe\n"},
         {"tenants.acme", "downsampling", NULL}},
        {"broken YAML",
         {.tenant_config_yaml = "defaults:\n  retention: {raw: 7d\n"},
         {"tenant config (inline):", NULL, NULL}},
        {"replica_labels not names",
         {.tenant_config_yaml = "defaults:\n  replica_labels: [{a: b}]\n"},
         {"replica_labels", NULL, NULL}},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        planner_settings *s = (planner_settings *)1;
        st_err err;
        st_err_init(&err);
        int rc = planner_settings_create(&s, &cases[i].f, &err);
        if (rc != ST_EINVAL)
            fail_msg("%s: rc %d, want ST_EINVAL", cases[i].name, rc);
        assert_null(s);
        for (int k = 0; k < 3; k++)
            if (cases[i].want[k] && !strstr(err.msg, cases[i].want[k]))
                fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].name, err.msg,
                         cases[i].want[k]);
    }
}

static void settings__short_retention_is_fine_without_downsampling(void **state)
{
    planner_flags f = {.tenant_config_yaml = "tenants:\n"
                                             "  acme:\n"
                                             "    downsampling: false\n"
                                             "    retention: {raw: 1d, 5m: 1d}\n"};
    planner_settings *s;
    st_err err;
    st_err_init(&err);
    if (planner_settings_create(&s, &f, &err))
        fail_msg("%s", err.msg);
    assert_true(planner_settings_tenant(s, "acme")->retention_ms[PLANNER_RAW] == D);
    planner_settings_free(s);
    planner_flags g = {.retention_raw = "1d", .downsampling_disable = 1};
    assert_int_equal(planner_settings_create(&s, &g, &err), 0);
    planner_settings_free(s);
}

static void settings__validates_tenant_names_as_cortex(void **state)
{
    static const char *const good[] = {"acme", "team-a_b.c", "A1!*'()", "x"};
    static const char *const bad[] = {"", ".", "..", "a/b", "a b", "_strata", "caf\xc3\xa9", "a:b"};
    for (size_t i = 0; i < ST_ARRAY_LEN(good); i++)
        if (!planner_tenant_valid(good[i]))
            fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++)
        if (planner_tenant_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    char long_name[152];
    memset(long_name, 'a', 151);
    long_name[151] = '\0';
    assert_false(planner_tenant_valid(long_name));
    long_name[150] = '\0';
    assert_true(planner_tenant_valid(long_name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings__parses_prometheus_durations),
        cmocka_unit_test(settings__formats_durations_as_prometheus),
        cmocka_unit_test(settings__parses_and_formats_rfc3339_times),
        cmocka_unit_test(settings__defaults_are_thanos_defaults),
        cmocka_unit_test(settings__flags_set_the_defaults),
        cmocka_unit_test(settings__tenant_file_overrides_key_by_key),
        cmocka_unit_test(settings__reads_the_tenant_file_from_disk),
        cmocka_unit_test(settings__empty_and_null_documents_are_no_overrides),
        cmocka_unit_test(settings__errors_name_the_tenant_and_the_key),
        cmocka_unit_test(settings__short_retention_is_fine_without_downsampling),
        cmocka_unit_test(settings__validates_tenant_names_as_cortex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
