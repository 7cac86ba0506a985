/*
 * test_plan_sync.c - the planner's bucket sync on a filesystem bucket of synthetic metas (no chunks
 * needed): complete, partial (no meta.json, unparsable, naming another block) and marked blocks,
 * unreadable markers treated as absent, sizes from the objects when meta.json has none, the meta
 * cache in --data-dir (no second fetch, pruned when blocks go), the three tenant layouts, many
 * blocks on many threads, and a bucket left byte for byte as it was.
 */
#include "../util/testutil.h"

#include "planner/planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#define H  3600000LL
#define D  (24 * H)
#define T0 1699920000000LL

static codec_ulid mkulid(int64_t ms, unsigned n)
{
    static const char alpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    codec_ulid u;
    uint64_t t = (uint64_t)ms, r = n * 2654435761u + 11;
    for (int i = 9; i >= 0; i--, t >>= 5)
        u.s[i] = alpha[t & 31];
    for (int i = 25; i >= 10; i--, r >>= 5)
        u.s[i] = alpha[r & 31];
    u.s[26] = '\0';
    return u;
}

static void mkdirs(const char *path)
{
    st_err err;
    st_err_init(&err);
    if (st_mkdir_p(path, &err))
        fail_msg("mkdir %s: %s", path, err.msg);
}

/* root/<dir>/<file>, creating directories. */
static void put(const char *root, const char *dir, const char *file, const char *data)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, dir);
    mkdirs(path);
    snprintf(path, sizeof(path), "%s/%s/%s", root, dir, file);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdirs(path);
    *slash = '/';
    tu_write(path, data, strlen(data));
}

/* A Thanos meta.json; labels "a=b,c=d"; files: with thanos.files sizes. */
static void put_meta(const char *root, const char *prefix, const codec_ulid *id, int64_t min,
                     int64_t max, const char *labels, int files)
{
    char lab[512] = "", *l = lab;
    if (labels) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", labels);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(t, '=');
            *eq = '\0';
            l += sprintf(l, "%s\"%s\": \"%s\"", l == lab ? "" : ", ", t, eq + 1);
        }
    }
    char json[4096];
    snprintf(json, sizeof(json),
             "{\"ulid\": \"%s\", \"minTime\": %lld, \"maxTime\": %lld,"
             " \"stats\": {\"numSamples\": 480, \"numSeries\": 4, \"numChunks\": 8},"
             " \"compaction\": {\"level\": 1, \"sources\": [\"%s\"]}, \"version\": 1,"
             " \"thanos\": {\"labels\": {%s}, \"downsample\": {\"resolution\": 0},"
             " \"source\": \"sidecar\"%s, \"upload_time\": \"2023-11-14T08:00:00Z\"}}\n",
             id->s, (long long)min, (long long)max, id->s, lab,
             files ? ", \"files\": [{\"rel_path\": \"chunks/000001\", \"size_bytes\": 5000},"
                     " {\"rel_path\": \"index\", \"size_bytes\": 700}, {\"rel_path\": "
                     "\"meta.json\"}]"
                   : "");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s%s", prefix, id->s);
    put(root, dir, "meta.json", json);
}

static void put_marker(const char *root, const char *prefix, const codec_ulid *id, const char *file,
                       const char *json)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s%s", prefix, id->s);
    put(root, dir, file, json);
}

static void set_mtime(const char *root, const char *rel, int64_t ms)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    struct timeval tv[2] = {{(time_t)(ms / 1000), 0}, {(time_t)(ms / 1000), 0}};
    assert_int_equal(utimes(path, tv), 0);
}

static planner_settings *settings(const char *layout, const char *label)
{
    planner_flags f = {.tenant_layout = layout, .tenant_label = label};
    planner_settings *s;
    st_err err;
    st_err_init(&err);
    if (planner_settings_create(&s, &f, &err))
        fail_msg("%s", err.msg);
    return s;
}

static planner_blockset *sync_dir(const char *root, const planner_settings *s, const char *data,
                                  planner_sync_stats *st)
{
    objstore *store;
    st_err err;
    st_err_init(&err);
    if (objstore_open_fs(&store, root, &err))
        fail_msg("open: %s", err.msg);
    planner_blockset *set = NULL;
    planner_sync_opts o = {.data_dir = data, .concurrency = 4};
    if (planner_sync(&set, store, s, &o, st, &err))
        fail_msg("sync: %s", err.msg);
    objstore_free(store);
    return set;
}

static const planner_block *find(const planner_blockset *set, const codec_ulid *id)
{
    for (size_t i = 0; i < planner_blockset_count(set); i++)
        if (!strcmp(planner_blockset_block(set, i)->ulid.s, id->s))
            return planner_blockset_block(set, i);
    return NULL;
}

/* The fixture bucket: five blocks and some things that are not blocks. */
typedef struct bucket {
    char *root;
    codec_ulid a, b, c, d, e;
} bucket;

static void make_bucket(bucket *k, const char *prefix)
{
    k->root = tu_tmpdir();
    k->a = mkulid(T0 + 3 * H, 1);
    k->b = mkulid(T0 + 5 * H, 2);
    k->c = mkulid(T0 + 7 * H, 3);
    k->d = mkulid(T0 + 9 * H, 4);
    k->e = mkulid(T0 + 11 * H, 5);
    char dir[512];
    /* a: complete with sizes and all three markers */
    put_meta(k->root, prefix, &k->a, T0, T0 + 2 * H, "cluster=eu,replica=r1", 1);
    snprintf(dir, sizeof(dir), "%s%s", prefix, k->a.s);
    put(k->root, dir, "index", "0123456789");
    put(k->root, dir, "chunks/000001", "abcdef");
    char m[512];
    snprintf(m, sizeof(m),
             "{\"id\":\"%s\",\"version\":1,\"details\":\"old\",\"deletion_time\":%lld}", k->a.s,
             (long long)(T0 / 1000 + 3600));
    put_marker(k->root, prefix, &k->a, "deletion-mark.json", m);
    snprintf(m, sizeof(m),
             "{\"id\":\"%s\",\"version\":1,\"details\":\"x\",\"no_compact_time\":1700000000,"
             "\"reason\":\"manual\"}",
             k->a.s);
    put_marker(k->root, prefix, &k->a, "no-compact-mark.json", m);
    snprintf(m, sizeof(m),
             "{\"id\":\"%s\",\"version\":1,\"details\":\"\",\"no_downsample_time\":1700000001,"
             "\"reason\":\"manual\"}",
             k->a.s);
    put_marker(k->root, prefix, &k->a, "no-downsample-mark.json", m);
    /* b: promtool-like meta.json without sizes; a deletion mark of version 2 and a broken
     * no-compact mark: both treated as absent */
    put_meta(k->root, prefix, &k->b, T0 + 2 * H, T0 + 4 * H, "cluster=eu,replica=r1", 0);
    snprintf(dir, sizeof(dir), "%s%s", prefix, k->b.s);
    put(k->root, dir, "index", "0123456789012345678901234567890123456789");
    put(k->root, dir, "chunks/000001", "0123456789");
    put(k->root, dir, "chunks/000002", "01234");
    put(k->root, dir, "tombstones", "012345678");
    snprintf(m, sizeof(m), "{\"id\":\"%s\",\"version\":2,\"deletion_time\":1}", k->b.s);
    put_marker(k->root, prefix, &k->b, "deletion-mark.json", m);
    put_marker(k->root, prefix, &k->b, "no-compact-mark.json", "{\"id\":");
    /* c: an upload without meta.json, last written 3 days ago */
    snprintf(dir, sizeof(dir), "%s%s", prefix, k->c.s);
    put(k->root, dir, "chunks/000001", "abc");
    put(k->root, dir, "index", "abc");
    char rel[600];
    snprintf(rel, sizeof(rel), "%s/chunks/000001", dir);
    set_mtime(k->root, rel, T0 - 4 * D);
    snprintf(rel, sizeof(rel), "%s/index", dir);
    set_mtime(k->root, rel, T0 - 3 * D);
    /* d: meta.json that does not parse */
    snprintf(dir, sizeof(dir), "%s%s", prefix, k->d.s);
    put(k->root, dir, "meta.json", "{\"ulid\": ");
    /* e: meta.json naming another block */
    put_meta(k->root, prefix, &k->a, T0, T0 + 2 * H, NULL, 1);
    snprintf(dir, sizeof(dir), "%s%s", prefix, k->a.s);
    char from[4096], to[4096];
    snprintf(from, sizeof(from), "%s/%s/meta.json", k->root, dir);
    snprintf(dir, sizeof(dir), "%s%s", prefix, k->e.s);
    snprintf(to, sizeof(to), "%s/%s", k->root, dir);
    mkdirs(to);
    assert_int_equal(tu_system("cp '%s' '%s/meta.json'", from, to), 0);
    /* restore a's own meta.json (with labels) */
    put_meta(k->root, prefix, &k->a, T0, T0 + 2 * H, "cluster=eu,replica=r1", 1);
    /* not blocks */
    snprintf(dir, sizeof(dir), "%sdebug", prefix);
    put(k->root, dir, "x", "y");
    snprintf(dir, sizeof(dir), "%s01ABC", prefix);
    put(k->root, dir, "meta.json", "{}");
    snprintf(dir, sizeof(dir), "%s%s", prefix, "markers");
    put(k->root, dir, "x-deletion-mark.json", "{}");
}

static void check_blocks(const bucket *k, const planner_blockset *set, const char *tenant,
                         const char *prefix)
{
    assert_int_equal(planner_blockset_count(set), 5);
    const planner_block *a = find(set, &k->a), *b = find(set, &k->b), *c = find(set, &k->c),
                        *d = find(set, &k->d), *e = find(set, &k->e);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    assert_non_null(e);
    char want[600];
    snprintf(want, sizeof(want), "%s%s/", prefix, k->a.s);
    assert_string_equal(a->prefix, want);
    assert_string_equal(a->tenant, tenant);
    assert_null(a->partial_reason);
    assert_true(a->min_time == T0 && a->max_time == T0 + 2 * H);
    assert_int_equal(a->nlabels, 2);
    assert_string_equal(a->labels[1].name, "replica");
    assert_int_equal(a->nsources, 1);
    assert_true(a->stats.samples == 480 && a->stats.series == 4);
    assert_true(a->size_bytes == 5700 && a->index_bytes == 700);
    assert_string_equal(a->source, "sidecar");
    int64_t up;
    assert_int_equal(planner_time_parse("2023-11-14T08:00:00Z", &up), 0);
    assert_true(a->upload_time_ms == up);
    assert_true(a->deletion.present && a->deletion.time_s == T0 / 1000 + 3600);
    assert_string_equal(a->deletion.details, "old");
    assert_true(a->no_compact.present);
    assert_string_equal(a->no_compact.reason, "manual");
    assert_true(a->no_downsample.present && a->no_downsample.time_s == 1700000001);
    assert_int_equal(a->bad_markers, 0);
    /* sizes from the objects: chunks and index, not tombstones, meta.json or markers */
    assert_null(b->partial_reason);
    assert_true(b->size_bytes == 55 && b->index_bytes == 40);
    assert_false(b->deletion.present);
    assert_false(b->no_compact.present);
    assert_int_equal(b->bad_markers, PLANNER_MARKER_DELETION | PLANNER_MARKER_NO_COMPACT);
    assert_string_equal(c->partial_reason, "no meta.json");
    assert_true(c->last_modified_ms == T0 - 3 * D);
    assert_true(c->size_bytes == 6 && c->index_bytes == 3); /* what a cleanup frees */
    assert_non_null(d->partial_reason);
    assert_non_null(strstr(d->partial_reason, "meta.json"));
    assert_non_null(e->partial_reason);
    assert_non_null(strstr(e->partial_reason, k->a.s));
    /* sorted by tenant, then ULID */
    for (size_t i = 1; i < planner_blockset_count(set); i++)
        assert_true(strcmp(planner_blockset_block(set, i - 1)->ulid.s,
                           planner_blockset_block(set, i)->ulid.s) < 0);
}

static void sync__reads_metas_markers_and_partial_uploads(void **state)
{
    bucket k;
    make_bucket(&k, "");
    planner_settings *s = settings(NULL, NULL);
    planner_sync_stats st;
    planner_blockset *set = sync_dir(k.root, s, NULL, &st);
    check_blocks(&k, set, "", "");
    assert_int_equal(st.blocks, 5);
    assert_int_equal(st.partial, 3);
    assert_int_equal(st.tenants, 1);
    assert_int_equal(st.meta_fetched, 4); /* a, b, d, e have a meta.json */
    assert_int_equal(st.meta_cached, 0);
    assert_int_equal(st.bad_markers, 2);
    assert_true(st.requests > 10);
    planner_blockset_free(set);
    planner_settings_free(s);
    tu_tmpdir_free(k.root);
}

static void sync__caches_metas_and_prunes_the_cache(void **state)
{
    bucket k;
    make_bucket(&k, "");
    char *data = tu_tmpdir();
    planner_settings *s = settings(NULL, NULL);
    planner_sync_stats st;
    planner_blockset *set = sync_dir(k.root, s, data, &st);
    assert_int_equal(st.meta_fetched, 4);
    planner_blockset_free(set);
    /* cached byte for byte; unparsable and foreign metas are not cached */
    char p1[4096], p2[4096];
    snprintf(p1, sizeof(p1), "%s/meta-syncer/%s/meta.json", data, k.a.s);
    snprintf(p2, sizeof(p2), "%s/%s/meta.json", k.root, k.a.s);
    assert_int_equal(tu_system("cmp -s '%s' '%s'", p1, p2), 0);
    snprintf(p1, sizeof(p1), "%s/meta-syncer/%s", data, k.d.s);
    struct stat sb;
    assert_int_not_equal(stat(p1, &sb), 0);
    /* the second run reads the cache */
    set = sync_dir(k.root, s, data, &st);
    assert_int_equal(st.meta_cached, 2);
    assert_int_equal(st.meta_fetched, 2);
    check_blocks(&k, set, "", "");
    planner_blockset_free(set);
    /* a damaged cache entry is fetched again; blocks gone from the bucket leave the cache; other
     * directories in meta-syncer are left alone */
    snprintf(p1, sizeof(p1), "%s/meta-syncer/%s/meta.json", data, k.b.s);
    tu_write(p1, "{", 1);
    snprintf(p1, sizeof(p1), "%s/meta-syncer/keep-me", data);
    mkdirs(p1);
    assert_int_equal(tu_system("rm -r '%s/%s'", k.root, k.a.s), 0);
    set = sync_dir(k.root, s, data, &st);
    assert_int_equal(st.blocks, 4);
    assert_int_equal(st.meta_cached, 0);
    assert_int_equal(st.meta_fetched, 3);
    snprintf(p1, sizeof(p1), "%s/meta-syncer/%s", data, k.a.s);
    assert_int_not_equal(stat(p1, &sb), 0);
    snprintf(p1, sizeof(p1), "%s/meta-syncer/%s/meta.json", data, k.b.s);
    assert_int_equal(stat(p1, &sb), 0);
    snprintf(p1, sizeof(p1), "%s/meta-syncer/keep-me", data);
    assert_int_equal(stat(p1, &sb), 0);
    planner_blockset_free(set);
    planner_settings_free(s);
    tu_tmpdir_free(data);
    tu_tmpdir_free(k.root);
}

static void sync__prefix_layout_finds_blocks_per_tenant(void **state)
{
    bucket k;
    make_bucket(&k, "acme/");
    /* another tenant, a reserved prefix, an invalid tenant name, a block at the top */
    codec_ulid g = mkulid(T0 + 20 * H, 9), top = mkulid(T0 + 21 * H, 10);
    put_meta(k.root, "globex/", &g, T0, T0 + 2 * H, "cluster=us", 1);
    put_meta(k.root, "_strata/", &g, T0, T0 + 2 * H, NULL, 1);
    put_meta(k.root, "bad%tenant/", &g, T0, T0 + 2 * H, NULL, 1);
    put_meta(k.root, "", &top, T0, T0 + 2 * H, NULL, 1);
    planner_settings *s = settings("prefix", NULL);
    planner_sync_stats st;
    planner_blockset *set = sync_dir(k.root, s, NULL, &st);
    assert_int_equal(planner_blockset_count(set), 6);
    assert_int_equal(st.tenants, 2);
    /* sorted by tenant: acme's five, then globex */
    const planner_block *last = planner_blockset_block(set, 5);
    assert_string_equal(last->tenant, "globex");
    assert_string_equal(last->ulid.s, g.s);
    char want[64];
    snprintf(want, sizeof(want), "globex/%s/", g.s);
    assert_string_equal(last->prefix, want);
    /* acme's blocks, checked as in the flat layout (on a five-block view) */
    planner_blockset *acme;
    assert_int_equal(planner_blockset_create(&acme), 0);
    st_err err;
    st_err_init(&err);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(planner_blockset_add(acme, planner_blockset_block(set, i), &err), 0);
    check_blocks(&k, acme, "acme", "acme/");
    planner_blockset_free(acme);
    planner_blockset_free(set);
    planner_settings_free(s);
    tu_tmpdir_free(k.root);
}

static void sync__label_layout_takes_the_tenant_from_a_label(void **state)
{
    char *root = tu_tmpdir();
    codec_ulid x = mkulid(T0, 1), y = mkulid(T0, 2), z = mkulid(T0, 3);
    put_meta(root, "", &x, T0, T0 + 2 * H, "cluster=eu,tenant_id=acme", 1);
    put_meta(root, "", &y, T0, T0 + 2 * H, "cluster=eu,team=globex,tenant_id=acme", 1);
    put_meta(root, "", &z, T0, T0 + 2 * H, "cluster=eu", 1);
    planner_settings *s = settings("label", NULL);
    planner_blockset *set = sync_dir(root, s, NULL, NULL);
    assert_int_equal(planner_blockset_count(set), 3);
    /* sorted by tenant: "" first */
    assert_string_equal(planner_blockset_block(set, 0)->ulid.s, z.s);
    assert_string_equal(planner_blockset_block(set, 0)->tenant, "");
    assert_string_equal(planner_blockset_block(set, 1)->tenant, "acme");
    assert_string_equal(planner_blockset_block(set, 2)->tenant, "acme");
    assert_string_equal(planner_blockset_block(set, 1)->prefix + CODEC_ULID_LEN, "/");
    planner_blockset_free(set);
    planner_settings_free(s);
    s = settings("label", "team");
    set = sync_dir(root, s, NULL, NULL);
    assert_string_equal(find(set, &y)->tenant, "globex");
    assert_string_equal(find(set, &x)->tenant, "");
    planner_blockset_free(set);
    planner_settings_free(s);
    tu_tmpdir_free(root);
}

static void sync__many_blocks_on_many_threads(void **state)
{
    char *root = tu_tmpdir();
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        codec_ulid id = mkulid(T0 + i * 2 * H + 3 * H, (unsigned)i);
        put_meta(root, "", &id, T0 + i * 2 * H, T0 + (i + 1) * 2 * H, "cluster=eu", 1);
    }
    planner_settings *s = settings(NULL, NULL);
    planner_sync_stats st;
    planner_blockset *set = sync_dir(root, s, NULL, &st);
    assert_int_equal(planner_blockset_count(set), N);
    assert_int_equal(st.meta_fetched, N);
    assert_int_equal(st.partial, 0);
    for (size_t i = 1; i < N; i++)
        assert_true(strcmp(planner_blockset_block(set, i - 1)->ulid.s,
                           planner_blockset_block(set, i)->ulid.s) < 0);
    planner_blockset_free(set);
    planner_settings_free(s);
    tu_tmpdir_free(root);
}

static void sync__and_plan_leave_the_bucket_unchanged(void **state)
{
    bucket k;
    make_bucket(&k, "");
    char *data = tu_tmpdir(), *out = tu_tmpdir();
    assert_int_equal(
        tu_system("cd '%s' && find . -printf '%%p %%s %%T@ %%m\\n' | sort > '%s/before' "
                  "&& find . -type f -exec sha256sum {} + | sort >> '%s/before'",
                  k.root, out, out),
        0);
    planner_settings *s = settings(NULL, NULL);
    planner_blockset *set = sync_dir(k.root, s, data, NULL);
    struct planner_plan *p;
    st_err err;
    st_err_init(&err);
    assert_int_equal(planner_plan(&p, set, s, T0 + 10 * D, &err), 0);
    /* a's deletion mark is old: delete; c was written 3 days ago: cleanup; d and e are partial
     * uploads whose files were written just now (by this test): left alone */
    size_t ndel = 0, nclean = 0;
    for (size_t i = 0; i < planner_plan_count(p); i++) {
        const planner_action *a = planner_plan_action(p, i);
        if (a->type == PLANNER_ACT_DELETE) {
            ndel++;
            assert_string_equal(a->blocks[0]->ulid.s, k.a.s);
        }
        if (a->type == PLANNER_ACT_CLEANUP_PARTIAL) {
            nclean++;
            assert_string_equal(a->blocks[0]->ulid.s, k.c.s);
        }
    }
    assert_int_equal(ndel, 1);
    assert_int_equal(nclean, 1);
    planner_plan_free(p);
    planner_blockset_free(set);
    planner_settings_free(s);
    assert_int_equal(
        tu_system("cd '%s' && find . -printf '%%p %%s %%T@ %%m\\n' | sort > '%s/after' "
                  "&& find . -type f -exec sha256sum {} + | sort >> '%s/after'",
                  k.root, out, out),
        0);
    assert_int_equal(tu_system("cmp -s '%s/before' '%s/after'", out, out), 0);
    tu_tmpdir_free(out);
    tu_tmpdir_free(data);
    tu_tmpdir_free(k.root);
}

static void sync__an_empty_or_missing_bucket_has_no_blocks(void **state)
{
    char *root = tu_tmpdir();
    planner_settings *s = settings("prefix", NULL);
    planner_blockset *set = sync_dir(root, s, NULL, NULL);
    assert_int_equal(planner_blockset_count(set), 0);
    struct planner_plan *p;
    st_err err;
    st_err_init(&err);
    assert_int_equal(planner_plan(&p, set, s, T0, &err), 0);
    assert_int_equal(planner_plan_count(p), 0);
    planner_plan_free(p);
    planner_blockset_free(set);
    planner_settings_free(s);
    tu_tmpdir_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sync__reads_metas_markers_and_partial_uploads),
        cmocka_unit_test(sync__caches_metas_and_prunes_the_cache),
        cmocka_unit_test(sync__prefix_layout_finds_blocks_per_tenant),
        cmocka_unit_test(sync__label_layout_takes_the_tenant_from_a_label),
        cmocka_unit_test(sync__many_blocks_on_many_threads),
        cmocka_unit_test(sync__and_plan_leave_the_bucket_unchanged),
        cmocka_unit_test(sync__an_empty_or_missing_bucket_has_no_blocks),
    };
    st_log_setup(ST_LOG_ERROR, ST_LOG_LOGFMT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
