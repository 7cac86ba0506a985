/*
 * test_history_object.c - the run history's pieces: object keys (format, parse, refusals), the zstd
 * round trip and its refusals (garbage, truncated, empty, over the cap), a recorded run encoded
 * and decoded line by line (run, actions, outcomes, summary with counts), bad lines skipped and
 * counted, and pruning by the time in the key on a filesystem bucket.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define T_2026 1795336644178LL /* 2026-11-22T08:37:24.178Z */

static void history__key_round_trips(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t ms;
        unsigned shard;
        const char *want;
    } cases[] = {
        {"epoch", 0, 0, HISTORY_PREFIX "19700101T000000.000Z-0.jsonl.zst"},
        {"milliseconds kept", T_2026, 0, HISTORY_PREFIX "20261122T083724.178Z-0.jsonl.zst"},
        {"shard index", T_2026, 12, HISTORY_PREFIX "20261122T083724.178Z-12.jsonl.zst"},
        {"leap day", 1709164800001LL, 3, HISTORY_PREFIX "20240229T000000.001Z-3.jsonl.zst"},
        {"last ms of a year", 1704067199999LL, 99999,
         HISTORY_PREFIX "20231231T235959.999Z-99999.jsonl.zst"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char key[HISTORY_KEY_MAX];
        history_key_format(key, cases[i].ms, cases[i].shard);
        if (strcmp(key, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].name, key, cases[i].want);
        int64_t ms = -1;
        unsigned shard = 1u << 30;
        if (history_key_parse(key, &ms, &shard) || ms != cases[i].ms || shard != cases[i].shard)
            fail_msg("%s: %s parsed as %lld/%u", cases[i].name, key, (long long)ms, shard);
    }
}

static void history__key_parse_refuses_other_names(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "_strata/runs/x.jsonl",
        "20261122T083724.178Z-0.jsonl.zst", /* no prefix */
        "_strata/leases/20261122T083724.178Z-0.jsonl.zst",
        HISTORY_PREFIX "20261122T083724.178Z-0.jsonl",
        HISTORY_PREFIX "20261122T083724.178Z-0.jsonl.zst.tmp",
        HISTORY_PREFIX "20261122T083724.178z-0.jsonl.zst",
        HISTORY_PREFIX "20261122T083724Z-0.jsonl.zst",
        HISTORY_PREFIX "20261322T083724.178Z-0.jsonl.zst", /* month 13 */
        HISTORY_PREFIX "20230230T083724.178Z-0.jsonl.zst", /* 30 February */
        HISTORY_PREFIX "20261122T243724.178Z-0.jsonl.zst", /* hour 24 */
        HISTORY_PREFIX "20261122T083724.178Z-.jsonl.zst",
        HISTORY_PREFIX "20261122T083724.178Z-01.jsonl.zst", /* leading zero */
        HISTORY_PREFIX "20261122T083724.178Z-123456.jsonl.zst",
        HISTORY_PREFIX "20261122T083724.178Z-1a.jsonl.zst",
        HISTORY_PREFIX "2026112T083724.178Z-0.jsonl.zst",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        int64_t ms;
        unsigned shard;
        if (history_key_parse(bad[i], &ms, &shard) != ST_EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
}

static void history__zstd_round_trips_and_refuses_bad_frames(void **state)
{
    (void)state;
    st_buf z, out;
    st_buf_init(&z, 0);
    st_buf_init(&out, 0);
    st_err err;
    st_err_init(&err);
    char text[5000];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('a' + i % 7);
    assert_int_equal(history_compress(text, sizeof(text), &z, &err), 0);
    assert_true(z.len < sizeof(text));
    assert_int_equal(history_decompress(z.p, z.len, &out, 1 << 20, "k", &err), 0);
    assert_int_equal(out.len, sizeof(text));
    assert_memory_equal(out.p, text, sizeof(text));

    static const struct {
        const char *name;
        size_t len; /* of the frame given; 0: garbage */
        size_t max;
        int code;
        const char *msg;
    } cases[] = {
        {"empty", 1, 1 << 20, ST_ECORRUPT, "k: empty object"},
        {"truncated", 10, 1 << 20, ST_ECORRUPT, "k: truncated zstd frame"},
        {"over the cap", 2, 100, ST_ETOOBIG, "k: more than 100 bytes"},
        {"garbage", 0, 1 << 20, ST_ECORRUPT, "k: not a valid zstd stream"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        const void *p = z.p;
        size_t n = cases[i].len == 1 ? 0 : cases[i].len == 2 ? z.len : cases[i].len;
        if (cases[i].len == 0) {
            p = "this is not zstd at all";
            n = 23;
        }
        st_buf_reset(&out);
        st_err_init(&err);
        int rc = history_decompress(p, n, &out, cases[i].max, "k", &err);
        if (rc != cases[i].code || !strstr(err.msg, cases[i].msg))
            fail_msg("%s: rc %d, message \"%s\"", cases[i].name, rc, err.msg);
    }
    st_buf_release(&z);
    st_buf_release(&out);
}

/* ---- a recorded run ---------------------------------------------------------------------------
 */

static planner_block blocks[3];
static const planner_block *const inputs[2] = {&blocks[0], &blocks[1]};
static const planner_block *const last_block[1] = {&blocks[2]};

static void fake_action(planner_action *a, planner_action_type t, const planner_block *const *b,
                        size_t n, const char *reason)
{
    memset(a, 0, sizeof(*a));
    a->type = t;
    a->tenant = "acme";
    a->tenant_prefix = "acme/";
    a->group = "0@123";
    a->blocks = b;
    a->nblocks = n;
    a->reason = reason;
    a->min_time = 1000;
    a->max_time = 7201000;
}

static json_t *line(const history_lines *l, size_t i)
{
    assert_true(i < l->n);
    return l->v[i];
}

static const char *s(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(missing)";
}

static void history__run_encodes_and_decodes(void **state)
{
    (void)state;
    const char *ids[3] = {"01HQ7S5M1T7Y6X3VZ3Z1Q4K2AA", "01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB",
                          "01HQ7S5M1T7Y6X3VZ3Z1Q4K2AC"};
    for (int i = 0; i < 3; i++) {
        memset(&blocks[i], 0, sizeof(blocks[i]));
        memcpy(blocks[i].ulid.s, ids[i], CODEC_ULID_LEN + 1);
        blocks[i].tenant = "acme";
        blocks[i].prefix = i == 0   ? "acme/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AA/"
                           : i == 1 ? "acme/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB/"
                                    : "acme/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AC/";
    }
    planner_settings *set = NULL;
    st_err err;
    st_err_init(&err);
    planner_flags f = {.retention_raw = "30d",
                       .tenant_config_yaml = "tenants:\n  acme: {retention: {raw: 8d}}\n"};
    assert_int_equal(planner_settings_create(&set, &f, &err), 0);
    history_info in = {.start_ms = T_2026,
                       .now_ms = 1700000000000LL,
                       .shard = 1,
                       .nshards = 3,
                       .owner = "host/1/abc",
                       .host = "host",
                       .bucket = "file:///b",
                       .settings = set,
                       .dedup_func = "penalty",
                       .history_retention_ms = 30 * 86400000LL,
                       .planned = 9};
    history *h = NULL;
    assert_int_equal(history_create(&h, &in), 0);
    assert_string_equal(history_key(h), HISTORY_PREFIX "20261122T083724.178Z-1.jsonl.zst");
    planner_action ret, comp;
    fake_action(&ret, PLANNER_ACT_RETENTION, last_block, 1,
                "maxTime is older than the raw retention 7d");
    fake_action(&comp, PLANNER_ACT_COMPACT, inputs, 2, "2h range complete");
    history_add_action(h, 4, &ret);
    history_add_action(h, 7, &comp);

    /* the "started" object: run line and actions only */
    st_buf z;
    st_buf_init(&z, 0);
    history_lines l = {0};
    assert_int_equal(history_encode(h, &z, &err), 0);
    assert_int_equal(history_decode(z.p, z.len, "k", &l, &err), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.nbad, 0);
    json_t *run = line(&l, 0);
    assert_string_equal(s(run, "kind"), "run");
    assert_string_equal(s(run, "status"), "started");
    assert_string_equal(s(run, "start"), "2026-11-22T08:37:24.178Z");
    assert_string_equal(s(run, "now"), "2023-11-14T22:13:20Z");
    assert_string_equal(s(run, "shard"), "1/3");
    assert_int_equal(json_integer_value(json_object_get(run, "planned")), 9);
    assert_int_equal(json_integer_value(json_object_get(run, "actions")), 2);
    json_t *st = json_object_get(run, "settings");
    assert_string_equal(s(st, "deduplication_func"), "penalty");
    assert_string_equal(s(st, "history_retention"), "30d");
    assert_string_equal(s(json_object_get(json_object_get(st, "defaults"), "retention"), "raw"),
                        "30d");
    assert_string_equal(
        s(json_object_get(json_object_get(json_object_get(st, "tenants"), "acme"), "retention"),
          "raw"),
        "8d");
    json_t *a = line(&l, 2);
    assert_string_equal(s(a, "kind"), "action");
    assert_int_equal(json_integer_value(json_object_get(a, "n")), 7);
    assert_string_equal(s(a, "type"), "compact");
    assert_string_equal(s(a, "reason"), "2h range complete");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "blocks"), 1)), ids[1]);
    history_lines_release(&l);

    /* outcomes (an error that is not UTF-8 included), the summary, the "finished" object */
    codec_ulid created;
    memcpy(created.s, "01HQ7S5M1T7Y6X3VZ3Z1Q4K2AD", CODEC_ULID_LEN + 1);
    history_outcome o1 = {.outcome = "ok", .duration_ms = 12};
    history_outcome o2 = {.outcome = "failed",
                          .duration_ms = 800,
                          .bytes_read = 1000,
                          .error = "upload /tmp/\xff: no space",
                          .created = &created,
                          .ncreated = 1};
    history_add_outcome(h, 4, &ret, &o1);
    history_add_outcome(h, 7, &comp, &o2);
    history_finish(h, T_2026 + 1500, 1, "", 0);
    st_buf_reset(&z);
    assert_int_equal(history_encode(h, &z, &err), 0);
    assert_int_equal(history_decode(z.p, z.len, "k", &l, &err), 0);
    assert_int_equal(l.n, 6);
    assert_string_equal(s(line(&l, 0), "status"), "finished");
    json_t *o = line(&l, 4);
    assert_string_equal(s(o, "kind"), "outcome");
    assert_string_equal(s(o, "outcome"), "failed");
    assert_string_equal(s(o, "error"), "upload /tmp/?: no space");
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "created"), 0)),
                        created.s);
    json_t *sum = line(&l, 5);
    assert_string_equal(s(sum, "kind"), "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "exit_code")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "duration_ms")), 1500);
    assert_int_equal(json_integer_value(json_object_get(sum, "executed")), 2);
    assert_int_equal(json_integer_value(json_object_get(sum, "bytes_read")), 1000);
    json_t *oc = json_object_get(sum, "outcomes");
    assert_int_equal(json_integer_value(json_object_get(oc, "ok")), 1);
    assert_int_equal(json_integer_value(json_object_get(oc, "failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(oc, "skipped")), 0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(sum, "by_type"), "compact"), "failed")),
                     1);
    history_lines_release(&l);
    st_buf_release(&z);
    history_free(h);
    planner_settings_free(set);
}

static void history__decode_skips_bad_lines(void **state)
{
    (void)state;
    static const struct {
        const char *name, *text;
        int rc;
        size_t n, nbad;
        const char *bad;
    } cases[] = {
        {"good", "{\"kind\":\"run\"}\n{\"kind\":\"summary\"}\n", 0, 2, 0, ""},
        {"no final newline", "{\"kind\":\"run\"}", 0, 1, 0, ""},
        {"not JSON", "{\"kind\":\"run\"}\nnope\n", 0, 1, 1, "k: line 2: "},
        {"no kind", "[1]\n{\"kind\":\"run\"}\n", 0, 1, 1, "k: line 1: not a JSON object"},
        {"empty line", "{\"kind\":\"run\"}\n\n{\"kind\":\"x\"}\n", 0, 2, 1, "k: line 2: empty"},
        {"nothing usable", "nope\n", ST_ECORRUPT, 0, 1, "k: line 1: "},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_buf z;
        st_buf_init(&z, 0);
        st_err err;
        st_err_init(&err);
        assert_int_equal(history_compress(cases[i].text, strlen(cases[i].text), &z, &err), 0);
        history_lines l = {0};
        int rc = history_decode(z.p, z.len, "k", &l, &err);
        if (rc != cases[i].rc || l.n != cases[i].n || l.nbad != cases[i].nbad ||
            strncmp(l.bad, cases[i].bad, strlen(cases[i].bad)) != 0)
            fail_msg("%s: rc %d, %zu lines, %zu bad (\"%s\"), err \"%s\"", cases[i].name, rc, l.n,
                     l.nbad, l.bad, err.msg);
        history_lines_release(&l);
        st_buf_release(&z);
    }
}

static void history__prune_deletes_by_key_time(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    objstore *s = NULL;
    st_err err;
    st_err_init(&err);
    assert_int_equal(objstore_open_fs(&s, dir, &err), 0);
    static const struct {
        const char *key;
        int kept;
    } objs[] = {
        {HISTORY_PREFIX "20230901T000000.000Z-0.jsonl.zst", 0},
        {HISTORY_PREFIX "20230901T000000.000Z-1.jsonl.zst", 0},
        {HISTORY_PREFIX "20231001T000000.000Z-0.jsonl.zst", 1}, /* exactly the cutoff */
        {HISTORY_PREFIX "20231101T000000.000Z-0.jsonl.zst", 1},
        {HISTORY_PREFIX "20230801T000000.000Z-0.jsonl.zst", 1}, /* keep: this run's */
        {HISTORY_PREFIX "notes.txt", 1},
        {"_strata/leases/_/0@1.json", 1},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(objs); i++)
        assert_int_equal(objstore_put(s, objs[i].key, "x", 1, &err), 0);
    int64_t cutoff;
    unsigned shard;
    assert_int_equal(history_key_parse(objs[2].key, &cutoff, &shard), 0);
    size_t deleted = 0;
    assert_int_equal(history_prune(s, cutoff, objs[4].key, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    for (size_t i = 0; i < ST_ARRAY_LEN(objs); i++) {
        int exists = -1;
        assert_int_equal(objstore_exists(s, objs[i].key, &exists, &err), 0);
        if (exists != objs[i].kept)
            fail_msg("%s: exists %d, want %d", objs[i].key, exists, objs[i].kept);
    }
    /* nothing under _strata/runs/ at all */
    assert_int_equal(history_prune(s, cutoff, NULL, &deleted, &err), 0);
    objstore_free(s);
    s = NULL;
    char *empty = st_path_join(dir, "empty");
    assert_int_equal(objstore_open_fs(&s, empty, &err), 0);
    assert_int_equal(history_prune(s, cutoff, NULL, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    objstore_free(s);
    st_free(empty);
    tu_tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(history__key_round_trips),
        cmocka_unit_test(history__key_parse_refuses_other_names),
        cmocka_unit_test(history__zstd_round_trips_and_refuses_bad_frames),
        cmocka_unit_test(history__run_encodes_and_decodes),
        cmocka_unit_test(history__decode_skips_bad_lines),
        cmocka_unit_test(history__prune_deletes_by_key_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
