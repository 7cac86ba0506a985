/*
 * test_acceptance.c - one acceptance suite for every object-store backend (Thanos'
 * objtesting.ForeachStore idea): put/get/range/delete/attributes/exists, listing with and
 * without a delimiter over more than 1000 keys, get_file/put_file, a >= 64 MiB object (multipart
 * on S3), keys with spaces, '+', '%' and UTF-8, not-found classes and key validation, and
 * conditional puts: where the store takes them, "absent" and "ETag equals" exclude as they
 * should; where it refuses them (Swift's s3api), the refusal is clean, is remembered by the
 * handle, and writes nothing. Which of the two held is printed ("# conditional puts: ...") for
 * the calling script to pin.
 *
 * With STRATA_TEST_OBJSTORE_CONFIG=<objstore YAML file> it runs against that store (S3 in
 * tests/scripts/test_s3.sh); without it against a temporary FILESYSTEM store. Every key lives
 * under a fresh run prefix that is removed at the end, so a shared bucket stays clean.
 */
#include "tests/util/testutil.h"

#include "objstore/objstore.h"
#include "objstore/s3_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANY_TOP 1050 /* objects directly under many/ */
#define MANY_SUB 60   /* many/subNN/x: one more "directory" each */
#define BIG_SIZE (70u << 20)

typedef struct suite {
    objstore *s;
    char *fs_dir; /* the temporary FILESYSTEM root, or NULL */
    char *work;   /* local scratch directory */
    char run[64]; /* "acc-<hex>/" */
    int is_s3;
} suite;

static suite g;

static char *k(const char *rel)
{
    static __thread char buf[8][1024];
    static __thread int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof(buf[0]), "%s%s", g.run, rel);
    return b;
}

static void must(int rc, const st_err *err, const char *what)
{
    if (rc)
        fail_msg("%s: rc %d (%s): %s", what, rc, st_strerror(rc), err->msg);
}

static void put_str(const char *key, const char *v)
{
    st_err err;
    st_err_init(&err);
    must(objstore_put(g.s, key, v, strlen(v), &err), &err, key);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

/* ---- a tiny parallel-for: cmocka asserts stay on the main thread ---------------------------- */

typedef struct pfor {
    int n, next, threads;
    int (*fn)(int i, st_err *err);
    pthread_mutex_t mu;
    int failed;
    st_err err;
} pfor;

static void *pfor_worker(void *arg)
{
    pfor *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int i = p->failed ? p->n : p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            return NULL;
        st_err e;
        st_err_init(&e);
        if (p->fn(i, &e)) {
            pthread_mutex_lock(&p->mu);
            if (!p->failed)
                p->err = e;
            p->failed = 1;
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void parallel(int n, int threads, int (*fn)(int i, st_err *err), const char *what)
{
    pfor p = {.n = n, .fn = fn, .threads = threads};
    pthread_mutex_init(&p.mu, NULL);
    st_err_init(&p.err);
    pthread_t t[16];
    for (int i = 0; i < threads; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pfor_worker, &p), 0);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&p.mu);
    if (p.failed)
        fail_msg("%s: %s", what, p.err.msg);
}

/* ---- listing helpers ---------------------------------------------------------------------- */

typedef struct listing {
    char **keys;
    int *dirs;
    size_t n, cap;
    size_t stop_after; /* 0: never */
} listing;

static int collect(void *ctx, const char *key, int is_prefix)
{
    listing *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->keys = realloc(l->keys, l->cap * sizeof(char *));
        l->dirs = realloc(l->dirs, l->cap * sizeof(int));
    }
    l->keys[l->n] = strdup(key);
    l->dirs[l->n++] = is_prefix;
    return l->stop_after && l->n == l->stop_after ? 7 : 0;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l->dirs);
    memset(l, 0, sizeof(*l));
}

static void list(const char *prefix, int recursive, listing *l)
{
    st_err err;
    st_err_init(&err);
    memset(l, 0, sizeof(*l));
    must(objstore_iter(g.s, prefix, recursive, collect, l, &err), &err, prefix);
}

/* Compare a listing with the expected keys (relative to the run prefix; "x/" = a prefix). */
static void expect_list(const char *prefix, int recursive, const char *const *want, size_t n)
{
    listing l;
    list(k(prefix), recursive, &l);
    size_t rl = strlen(g.run);
    for (size_t i = 0; i < l.n || i < n; i++) {
        const char *got = i < l.n ? l.keys[i] + rl : "(end)";
        const char *exp = i < n ? want[i] : "(end)";
        if (i < l.n && strncmp(l.keys[i], g.run, rl) != 0)
            fail_msg("list %s: %s is outside the run prefix", prefix, l.keys[i]);
        if (strcmp(got, exp) != 0)
            fail_msg("list %s%s: entry %zu is \"%s\", wanted \"%s\"", prefix,
                     recursive ? " (recursive)" : "", i, got, exp);
        if (i < l.n) {
            size_t gl = strlen(got);
            assert_int_equal(l.dirs[i], gl > 0 && got[gl - 1] == '/');
        }
    }
    listing_free(&l);
}

/* ---- setup / teardown --------------------------------------------------------------------- */

static int del_one(int i, st_err *err);
static listing cleanup_list;

static int del_one(int i, st_err *err)
{
    return objstore_delete(g.s, cleanup_list.keys[i], err);
}

static int suite_setup(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    const char *cfg = getenv("STRATA_TEST_OBJSTORE_CONFIG");
    g.work = tu_tmpdir();
    if (cfg && *cfg) {
        if (objstore_open_flags(&g.s, cfg, NULL, NULL, &err)) {
            fprintf(stderr, "open %s: %s\n", cfg, err.msg);
            return -1;
        }
    } else {
        g.fs_dir = tu_tmpdir();
        if (objstore_open_fs(&g.s, g.fs_dir, &err)) {
            fprintf(stderr, "open %s: %s\n", g.fs_dir, err.msg);
            return -1;
        }
    }
    s3_stats st;
    g.is_s3 = s3_get_stats(g.s, &st);
    if (g.is_s3) {
        /* a failure shows up within seconds, not after two minutes of retries */
        s3_retry_policy p = {.base_ms = 100,
                             .cap_ms = 1000,
                             .deadline_ms = 20000,
                             .max_attempts = 5,
                             .part_threads = 4};
        s3_set_retry_policy(g.s, &p);
    }
    uint32_t r[2];
    st_random(r, sizeof(r));
    snprintf(g.run, sizeof(g.run), "acc-%08x%08x/", r[0], r[1]);
    printf("# store %s, run prefix %s\n", objstore_name(g.s), g.run);
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    int rc = 0;
    if (g.s) {
        st_err err;
        st_err_init(&err);
        memset(&cleanup_list, 0, sizeof(cleanup_list));
        if (objstore_iter(g.s, g.run, 1, collect, &cleanup_list, &err) == 0) {
            pfor p = {.n = (int)cleanup_list.n, .fn = del_one, .threads = 8};
            pthread_mutex_init(&p.mu, NULL);
            pthread_t t[8];
            for (int i = 0; i < 8; i++)
                pthread_create(&t[i], NULL, pfor_worker, &p);
            for (int i = 0; i < 8; i++)
                pthread_join(t[i], NULL);
            pthread_mutex_destroy(&p.mu);
            if (p.failed) {
                fprintf(stderr, "cleanup: %s\n", p.err.msg);
                rc = -1;
            }
        } else {
            fprintf(stderr, "cleanup listing: %s\n", err.msg);
            rc = -1;
        }
        listing l;
        memset(&l, 0, sizeof(l));
        st_err_init(&err);
        if (objstore_iter(g.s, g.run, 1, collect, &l, &err) == 0 && l.n) {
            fprintf(stderr, "cleanup: %zu keys left under %s\n", l.n, g.run);
            rc = -1;
        }
        listing_free(&l);
        listing_free(&cleanup_list);
        objstore_free(g.s);
    }
    tu_tmpdir_free(g.fs_dir);
    tu_tmpdir_free(g.work);
    return rc;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void objstore__put_then_get_returns_the_same_bytes(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    uint8_t data[5000];
    fill(data, sizeof(data), 1);
    must(objstore_put(g.s, k("rt/obj"), data, sizeof(data), &err), &err, "put");
    st_buf b;
    st_buf_init(&b, 0);
    st_buf_append(&b, "pre", 3); /* get appends */
    must(objstore_get(g.s, k("rt/obj"), &b, 0, &err), &err, "get");
    assert_int_equal(b.len, 3 + sizeof(data));
    assert_memory_equal(b.p, "pre", 3);
    assert_memory_equal(b.p + 3, data, sizeof(data));

    /* overwrite: readers see the whole new object */
    must(objstore_put(g.s, k("rt/obj"), "second", 6, &err), &err, "overwrite");
    st_buf_reset(&b);
    must(objstore_get(g.s, k("rt/obj"), &b, 0, &err), &err, "get");
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.p, "second", 6);

    /* max caps what get accepts */
    st_buf_reset(&b);
    st_err_init(&err);
    assert_int_equal(objstore_get(g.s, k("rt/obj"), &b, 5, &err), ST_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(err.msg, "rt/obj"));
    st_err_init(&err);
    must(objstore_get(g.s, k("rt/obj"), &b, 6, &err), &err, "get with max = size");
    st_buf_release(&b);
}

static void objstore__empty_objects_round_trip(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    must(objstore_put(g.s, k("empty/e"), "", 0, &err), &err, "put empty");
    st_buf b;
    st_buf_init(&b, 0);
    must(objstore_get(g.s, k("empty/e"), &b, 0, &err), &err, "get empty");
    assert_int_equal(b.len, 0);
    must(objstore_get_range(g.s, k("empty/e"), 0, 10, &b, &err), &err, "range of empty");
    assert_int_equal(b.len, 0);
    objstore_attrs a;
    must(objstore_attributes(g.s, k("empty/e"), &a, &err), &err, "attributes");
    assert_int_equal(a.size, 0);
    st_buf_release(&b);
}

static void objstore__ranges_are_exact_and_clamped_at_the_end(void **state)
{
    (void)state;
    static uint8_t data[1000];
    fill(data, sizeof(data), 2);
    st_err err;
    st_err_init(&err);
    must(objstore_put(g.s, k("range/r"), data, sizeof(data), &err), &err, "put");
    static const struct {
        const char *name;
        uint64_t off, len, want_off, want_len;
    } cases[] = {
        {"head", 0, 10, 0, 10},
        {"middle", 123, 456, 123, 456},
        {"tail", 990, 10, 990, 10},
        {"past the end is clamped", 995, 100, 995, 5},
        {"whole", 0, 1000, 0, 1000},
        {"one byte", 999, 1, 999, 1},
        {"at the end: nothing", 1000, 10, 0, 0},
        {"far past the end: nothing", 5000, 5, 0, 0},
        {"zero length", 10, 0, 0, 0},
        {"huge length", 1, UINT64_MAX / 2, 1, 999},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_buf b;
        st_buf_init(&b, 0);
        st_err_init(&err);
        int rc = objstore_get_range(g.s, k("range/r"), cases[i].off, cases[i].len, &b, &err);
        if (rc)
            fail_msg("%s: %s", cases[i].name, err.msg);
        if (b.len != cases[i].want_len || (b.len && memcmp(b.p, data + cases[i].want_off, b.len)))
            fail_msg("%s: got %zu bytes, wanted %llu", cases[i].name, b.len,
                     (unsigned long long)cases[i].want_len);
        st_buf_release(&b);
    }
}

static void objstore__attributes_and_exists(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    int64_t before = st_now_ms();
    put_str(k("attr/a"), "12345");
    objstore_attrs a;
    must(objstore_attributes(g.s, k("attr/a"), &a, &err), &err, "attributes");
    assert_int_equal(a.size, 5);
    /* Last-Modified has second precision on S3; allow clock slack */
    if (a.last_modified_ms < before - 120000 || a.last_modified_ms > st_now_ms() + 120000)
        fail_msg("last_modified %lld is not near now %lld", (long long)a.last_modified_ms,
                 (long long)before);
    int ex = -1;
    must(objstore_exists(g.s, k("attr/a"), &ex, &err), &err, "exists");
    assert_int_equal(ex, 1);
    must(objstore_exists(g.s, k("attr/missing"), &ex, &err), &err, "exists missing");
    assert_int_equal(ex, 0);
    /* a prefix is not an object */
    must(objstore_exists(g.s, k("attr"), &ex, &err), &err, "exists prefix");
    assert_int_equal(ex, 0);
}

static void objstore__missing_keys_are_not_found_class(void **state)
{
    (void)state;
    st_err err;
    st_buf b;
    st_buf_init(&b, 0);
    objstore_attrs a;
    char path[4096];
    snprintf(path, sizeof(path), "%s/missing-out", g.work);

    st_err_init(&err);
    int rc = objstore_get(g.s, k("nf/none"), &b, 0, &err);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_int_equal(objstore_err_class(rc), OBJSTORE_CLASS_NOTFOUND);
    assert_non_null(strstr(err.msg, "nf/none"));
    assert_non_null(strstr(err.msg, objstore_name(g.s)));

    st_err_init(&err);
    assert_int_equal(objstore_get_range(g.s, k("nf/none"), 1, 5, &b, &err), ST_ENOTFOUND);
    st_err_init(&err);
    assert_int_equal(objstore_attributes(g.s, k("nf/none"), &a, &err), ST_ENOTFOUND);
    st_err_init(&err);
    assert_int_equal(objstore_get_file(g.s, k("nf/none"), path, &err), ST_ENOTFOUND);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    /* deleting what is not there is fine, as on S3 */
    st_err_init(&err);
    must(objstore_delete(g.s, k("nf/none"), &err), &err, "delete missing");
    assert_int_equal(b.len, 0);
    st_buf_release(&b);
}

static void objstore__delete_removes_the_object(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    put_str(k("del/x"), "x");
    put_str(k("del/y"), "y");
    must(objstore_delete(g.s, k("del/x"), &err), &err, "delete");
    int ex = 1;
    must(objstore_exists(g.s, k("del/x"), &ex, &err), &err, "exists");
    assert_int_equal(ex, 0);
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(objstore_get(g.s, k("del/x"), &b, 0, &err), ST_ENOTFOUND);
    static const char *const want[] = {"del/y"};
    expect_list("del/", 1, want, 1);
    st_buf_release(&b);
}

static void objstore__listing_with_delimiter_recursive_and_prefixes(void **state)
{
    (void)state;
    static const char *const keys[] = {"ls/z",  "ls/a",     "ls/b/c", "ls/b/d",
                                       "ls/ba", "ls/c/e/f", "ls/b.x", "ls/b-y"};
    for (size_t i = 0; i < ST_ARRAY_LEN(keys); i++)
        put_str(k(keys[i]), keys[i]);
    /* ascending byte order: '-' < '.' < '/' < 'a' */
    static const char *const top[] = {"ls/a",  "ls/b-y", "ls/b.x", "ls/b/",
                                      "ls/ba", "ls/c/",  "ls/z"};
    expect_list("ls/", 0, top, ST_ARRAY_LEN(top));
    static const char *const all[] = {"ls/a",   "ls/b-y", "ls/b.x",   "ls/b/c",
                                      "ls/b/d", "ls/ba",  "ls/c/e/f", "ls/z"};
    expect_list("ls/", 1, all, ST_ARRAY_LEN(all));
    /* a prefix that is not a whole segment matches by bytes */
    static const char *const b_top[] = {"ls/b-y", "ls/b.x", "ls/b/", "ls/ba"};
    expect_list("ls/b", 0, b_top, ST_ARRAY_LEN(b_top));
    static const char *const b_all[] = {"ls/b-y", "ls/b.x", "ls/b/c", "ls/b/d", "ls/ba"};
    expect_list("ls/b", 1, b_all, ST_ARRAY_LEN(b_all));
    static const char *const c_top[] = {"ls/c/e/"};
    expect_list("ls/c/", 0, c_top, 1);
    expect_list("ls/none/", 0, NULL, 0);
    expect_list("ls/none/", 1, NULL, 0);

    /* the callback stops the walk and its value comes back */
    listing l;
    memset(&l, 0, sizeof(l));
    l.stop_after = 2;
    st_err err;
    st_err_init(&err);
    assert_int_equal(objstore_iter(g.s, k("ls/"), 1, collect, &l, &err), 7);
    assert_int_equal(l.n, 2);
    listing_free(&l);
}

static int many_put(int i, st_err *err)
{
    char key[128], v[32];
    if (i < MANY_TOP)
        snprintf(key, sizeof(key), "%smany/k%05d", g.run, i);
    else
        snprintf(key, sizeof(key), "%smany/sub%02d/x", g.run, i - MANY_TOP);
    int n = snprintf(v, sizeof(v), "%d", i);
    return objstore_put(g.s, key, v, (size_t)n, err);
}

static void check_sorted(const listing *l, const char *what)
{
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(l->keys[i - 1], l->keys[i]) >= 0)
            fail_msg("%s: not ascending at %zu: %s then %s", what, i, l->keys[i - 1], l->keys[i]);
}

static void objstore__listing_pages_through_more_than_1000_keys(void **state)
{
    (void)state;
    parallel(MANY_TOP + MANY_SUB, 8, many_put, "put many");
    listing l;
    list(k("many/"), 1, &l);
    assert_int_equal(l.n, MANY_TOP + MANY_SUB);
    check_sorted(&l, "recursive");
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.dirs[i], 0);
    listing_free(&l);

    list(k("many/"), 0, &l);
    assert_int_equal(l.n, MANY_TOP + MANY_SUB); /* the subNN/ prefixes count once each */
    check_sorted(&l, "with delimiter");
    size_t dirs = 0;
    for (size_t i = 0; i < l.n; i++)
        dirs += (size_t)l.dirs[i];
    assert_int_equal(dirs, MANY_SUB);
    char want[128];
    snprintf(want, sizeof(want), "%smany/k00000", g.run);
    assert_string_equal(l.keys[0], want);
    snprintf(want, sizeof(want), "%smany/sub%02d/", g.run, MANY_SUB - 1);
    assert_string_equal(l.keys[l.n - 1], want);
    listing_free(&l);
}

static void objstore__keys_with_spaces_plus_percent_and_utf8_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {
        "odd/a b",
        "odd/a+b",
        "odd/100%",
        "odd/%2F",
        "odd/caf\xc3\xa9",
        "odd/\xe2\x82\xac",
        "odd/!*'()",
        "odd/~tilde",
        "odd/q?&=#",
        "odd/semi;colon,",
        "odd/two  spaces",
        "odd/dir with space/x",
        "odd/\xe6\x97\xa5\xe6\x9c\xac/\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87",
    };
    size_t n = ST_ARRAY_LEN(names);
    st_err err;
    st_err_init(&err);
    for (size_t i = 0; i < n; i++)
        put_str(k(names[i]), names[i]);
    for (size_t i = 0; i < n; i++) {
        st_buf b;
        st_buf_init(&b, 0);
        st_err_init(&err);
        if (objstore_get(g.s, k(names[i]), &b, 0, &err))
            fail_msg("get \"%s\": %s", names[i], err.msg);
        assert_int_equal(b.len, strlen(names[i]));
        assert_memory_equal(b.p, names[i], b.len);
        objstore_attrs a;
        must(objstore_attributes(g.s, k(names[i]), &a, &err), &err, names[i]);
        assert_int_equal(a.size, strlen(names[i]));
        st_buf_release(&b);
    }
    /* the listing gives the exact names back, in byte order */
    listing l;
    list(k("odd/"), 1, &l);
    assert_int_equal(l.n, n);
    check_sorted(&l, "odd keys");
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < l.n; j++)
            found |= strcmp(l.keys[j], k(names[i])) == 0;
        if (!found)
            fail_msg("\"%s\" is missing from the listing", names[i]);
    }
    listing_free(&l);
    static const char *const top[] = {"odd/!*'()",
                                      "odd/%2F",
                                      "odd/100%",
                                      "odd/a b",
                                      "odd/a+b",
                                      "odd/caf\xc3\xa9",
                                      "odd/dir with space/",
                                      "odd/q?&=#",
                                      "odd/semi;colon,",
                                      "odd/two  spaces",
                                      "odd/~tilde",
                                      "odd/\xe2\x82\xac",
                                      "odd/\xe6\x97\xa5\xe6\x9c\xac/"};
    expect_list("odd/", 0, top, ST_ARRAY_LEN(top));
    for (size_t i = 0; i < n; i++)
        must(objstore_delete(g.s, k(names[i]), &err), &err, names[i]);
    expect_list("odd/", 1, NULL, 0);
}

static void objstore__bad_keys_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"",     "/lead", "a//b",  "a/../b", "..",
                                      "a/..", "./a",   "a/./b", "dir/",   "."};
    st_buf b;
    st_buf_init(&b, 0);
    objstore_attrs a;
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        st_err err;
        st_err_init(&err);
        if (objstore_put(g.s, bad[i], "x", 1, &err) != ST_EINVAL)
            fail_msg("put \"%s\" was not refused", bad[i]);
        st_err_init(&err);
        assert_int_equal(objstore_get(g.s, bad[i], &b, 0, &err), ST_EINVAL);
        st_err_init(&err);
        assert_int_equal(objstore_attributes(g.s, bad[i], &a, &err), ST_EINVAL);
        st_err_init(&err);
        assert_int_equal(objstore_delete(g.s, bad[i], &err), ST_EINVAL);
    }
    st_err err;
    st_err_init(&err);
    listing l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(objstore_iter(g.s, "/abs", 0, collect, &l, &err), ST_EINVAL);
    st_err_init(&err);
    assert_int_equal(objstore_iter(g.s, "a/../", 0, collect, &l, &err), ST_EINVAL);
    assert_int_equal(l.n, 0);
    st_buf_release(&b);
}

static void objstore__files_go_up_and_come_down_atomically(void **state)
{
    (void)state;
    size_t n = (3u << 20) + 17;
    uint8_t *data = malloc(n);
    fill(data, n, 3);
    char src[4096], dst[8192], dir[4096];
    snprintf(src, sizeof(src), "%s/up.bin", g.work);
    snprintf(dir, sizeof(dir), "%s/down/nested", g.work);
    snprintf(dst, sizeof(dst), "%s/file.bin", dir);
    tu_write(src, data, n);
    st_err err;
    st_err_init(&err);
    must(objstore_put_file(g.s, k("files/f"), src, &err), &err, "put_file");
    must(objstore_get_file(g.s, k("files/f"), dst, &err), &err, "get_file");
    size_t got = 0;
    uint8_t *back = tu_read(dst, &got);
    assert_int_equal(got, n);
    assert_memory_equal(back, data, n);
    free(back);
    /* get_file replaces an existing file, and leaves no temporary files behind */
    put_str(k("files/small"), "small");
    must(objstore_get_file(g.s, k("files/small"), dst, &err), &err, "get_file over");
    back = tu_read(dst, &got);
    assert_int_equal(got, 5);
    free(back);
    assert_int_equal(tu_system("test \"$(ls -A '%s' | wc -l)\" = 1", dir), 0);
    /* a missing local file is an error, not a not-found object */
    st_err_init(&err);
    snprintf(src, sizeof(src), "%s/does-not-exist", g.work);
    int rc = objstore_put_file(g.s, k("files/g"), src, &err);
    assert_int_not_equal(rc, 0);
    assert_int_not_equal(rc, ST_ENOTFOUND);
    free(data);
}

static void objstore__a_70_mib_object_round_trips_by_buffer_and_by_file(void **state)
{
    (void)state;
    uint8_t *data = malloc(BIG_SIZE);
    fill(data, BIG_SIZE, 4);
    s3_stats before, after;
    memset(&before, 0, sizeof(before));
    memset(&after, 0, sizeof(after));
    s3_get_stats(g.s, &before);
    st_err err;
    st_err_init(&err);
    must(objstore_put(g.s, k("big/buf"), data, BIG_SIZE, &err), &err, "put big");
    s3_get_stats(g.s, &after);
    if (g.is_s3) {
        /* above part_size (64 MiB unless the config says less): a multipart upload */
        assert_int_equal(after.multiparts - before.multiparts, 1);
        assert_true(after.parts - before.parts >= 2);
        printf("# 70 MiB put: %llu parts\n", (unsigned long long)(after.parts - before.parts));
    }
    st_buf b;
    st_buf_init(&b, 0);
    must(objstore_get(g.s, k("big/buf"), &b, 0, &err), &err, "get big");
    assert_int_equal(b.len, BIG_SIZE);
    assert_true(memcmp(b.p, data, BIG_SIZE) == 0);
    /* a range across the 64 MiB mark (a part boundary with the default part size) */
    st_buf_reset(&b);
    uint64_t off = (64u << 20) - 1000;
    must(objstore_get_range(g.s, k("big/buf"), off, 3000, &b, &err), &err, "range big");
    assert_int_equal(b.len, 3000);
    assert_memory_equal(b.p, data + off, 3000);
    objstore_attrs a;
    must(objstore_attributes(g.s, k("big/buf"), &a, &err), &err, "attributes big");
    assert_int_equal(a.size, BIG_SIZE);
    st_buf_release(&b);

    /* the same from a file, with a different tail */
    fill(data + BIG_SIZE - 4096, 4096, 5);
    char src[4096], dst[4096];
    snprintf(src, sizeof(src), "%s/big.bin", g.work);
    snprintf(dst, sizeof(dst), "%s/big-back.bin", g.work);
    tu_write(src, data, BIG_SIZE);
    must(objstore_put_file(g.s, k("big/file"), src, &err), &err, "put_file big");
    must(objstore_get_file(g.s, k("big/file"), dst, &err), &err, "get_file big");
    size_t got = 0;
    uint8_t *back = tu_read(dst, &got);
    assert_int_equal(got, BIG_SIZE);
    assert_true(memcmp(back, data, BIG_SIZE) == 0);
    free(back);
    unlink(src);
    unlink(dst);
    free(data);
}

static int conc_op(int i, st_err *err)
{
    char key[128], v[64];
    snprintf(key, sizeof(key), "%sconc/%d", g.run, i % 16);
    int n = snprintf(v, sizeof(v), "value-%d", i % 16);
    int rc = objstore_put(g.s, key, v, (size_t)n, err);
    st_buf b;
    st_buf_init(&b, 0);
    if (!rc)
        rc = objstore_get(g.s, key, &b, 0, err);
    if (!rc && (b.len != (size_t)n || memcmp(b.p, v, (size_t)n) != 0))
        rc = st_err_set(err, ST_ECORRUPT, "%s: read back something else", key);
    st_buf_release(&b);
    return rc;
}

static void objstore__one_handle_serves_many_threads(void **state)
{
    (void)state;
    parallel(64, 8, conc_op, "concurrent put/get");
}

static void objstore__conditional_puts_exclude_or_are_refused_cleanly(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    char e1[OBJSTORE_ETAG_MAX], e2[OBJSTORE_ETAG_MAX], got[OBJSTORE_ETAG_MAX];
    objstore_cond absent = {OBJSTORE_IF_ABSENT, NULL};
    int rc = objstore_put_if(g.s, k("cond/lease"), "one", 3, &absent, e1, &err);
    int ex = 1;
    if (rc == ST_EUNSUPP) {
        printf("# conditional puts: refused by the store: %s\n", err.msg);
        assert_false(objstore_supports_conditional(g.s));
        st_err_init(&err);
        must(objstore_exists(g.s, k("cond/lease"), &ex, &err), &err, "exists");
        assert_int_equal(ex, 0); /* nothing written */
        /* the ETag of a read is still there, for callers that compare versions themselves */
        put_str(k("cond/lease"), "one");
        st_buf b;
        st_buf_init(&b, 0);
        must(objstore_get_etag(g.s, k("cond/lease"), &b, 0, got, &err), &err, "get_etag");
        assert_true(got[0] != '\0');
        st_buf_release(&b);
        return;
    }
    must(rc, &err, "absent on a new key");
    assert_true(objstore_supports_conditional(g.s));
    rc = objstore_put_if(g.s, k("cond/lease"), "two", 3, &absent, NULL, &err);
    if (rc == 0)
        fail_msg("the store ignored If-None-Match: * (a second create succeeded)");
    assert_int_equal(rc, ST_ECONFLICT);

    st_buf b;
    st_buf_init(&b, 0);
    st_err_init(&err);
    must(objstore_get_etag(g.s, k("cond/lease"), &b, 0, got, &err), &err, "get_etag");
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "one", 3);
    if (e1[0])
        assert_string_equal(got, e1);

    objstore_cond match = {OBJSTORE_IF_MATCH, got};
    must(objstore_put_if(g.s, k("cond/lease"), "three", 5, &match, e2, &err), &err, "match");
    rc = objstore_put_if(g.s, k("cond/lease"), "four", 4, &match, NULL, &err);
    if (rc == 0)
        fail_msg("the store ignored If-Match (a stale version was replaced)");
    assert_int_equal(rc, ST_ECONFLICT);
    b.len = 0;
    st_err_init(&err);
    must(objstore_get(g.s, k("cond/lease"), &b, 0, &err), &err, "get");
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.p, "three", 5);
    st_buf_release(&b);
    printf("# conditional puts: honoured\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(objstore__put_then_get_returns_the_same_bytes),
        cmocka_unit_test(objstore__empty_objects_round_trip),
        cmocka_unit_test(objstore__ranges_are_exact_and_clamped_at_the_end),
        cmocka_unit_test(objstore__attributes_and_exists),
        cmocka_unit_test(objstore__missing_keys_are_not_found_class),
        cmocka_unit_test(objstore__delete_removes_the_object),
        cmocka_unit_test(objstore__listing_with_delimiter_recursive_and_prefixes),
        cmocka_unit_test(objstore__listing_pages_through_more_than_1000_keys),
        cmocka_unit_test(objstore__keys_with_spaces_plus_percent_and_utf8_round_trip),
        cmocka_unit_test(objstore__bad_keys_are_refused),
        cmocka_unit_test(objstore__files_go_up_and_come_down_atomically),
        cmocka_unit_test(objstore__a_70_mib_object_round_trips_by_buffer_and_by_file),
        cmocka_unit_test(objstore__one_handle_serves_many_threads),
        cmocka_unit_test(objstore__conditional_puts_exclude_or_are_refused_cleanly),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
