/*
 * test_index.c - the index reader and writer: round trips, input checks in the writer, byte
 * identity with indexes written by promtool 2.42, the legacy v1 layout, and corrupt input
 * (truncations and byte flips at every offset) that must fail cleanly or read cleanly.
 */
#include "tests/util/testutil.h"

#include "codec/codec.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * A generated data set: label sets (sorted), chunk metas, and the symbols they use.
 */
#define MAXL 8
typedef struct tseries {
    codec_label l[MAXL];
    uint32_t n;
    codec_chunk_meta c[6];
    uint32_t nc;
} tseries;

typedef struct tset {
    st_arena arena;
    tseries *s;
    size_t n;
    codec_str *syms;
    size_t nsyms;
} tset;

static codec_str astr(st_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static codec_str astr(st_arena *a, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    char *p = st_arena_strndup(a, tmp, (size_t)k);
    assert_non_null(p);
    codec_str s = {p, (uint32_t)k};
    return s;
}

static int series_cmp(const void *a, const void *b)
{
    const tseries *x = a, *y = b;
    return codec_labels_cmp(x->l, x->n, y->l, y->n);
}

static int str_cmp(const void *a, const void *b)
{
    return codec_str_cmp(*(const codec_str *)a, *(const codec_str *)b);
}

/* n series like scrape targets: a few metrics x instances, some with extra labels. */
static void tset_make(tset *t, size_t n)
{
    st_arena_init(&t->arena, 1 << 16);
    t->s = calloc(n, sizeof(*t->s));
    assert_non_null(t->s);
    t->n = n;
    uint64_t ref = 8;
    for (size_t i = 0; i < n; i++) {
        tseries *s = &t->s[i];
        s->l[s->n++] = (codec_label){codec_str_c("__name__"), astr(&t->arena, "metric_%zu", i % 7)};
        if (i % 5 == 0)
            s->l[s->n++] = (codec_label){codec_str_c("code"), astr(&t->arena, "%zu", 200 + i % 3)};
        s->l[s->n++] =
            (codec_label){codec_str_c("instance"), astr(&t->arena, "host-%zu:9100", i / 7)};
        s->l[s->n++] = (codec_label){codec_str_c("job"), astr(&t->arena, "job%zu", i % 3)};
        if (i % 11 == 0)
            s->l[s->n++] = (codec_label){codec_str_c("zone"), codec_str_c("\xc3\xa9t\xc3\xa9")};
        s->nc = (uint32_t)(i % 6);
        int64_t t0 = -5000 + (int64_t)i * 1000;
        for (uint32_t c = 0; c < s->nc; c++) {
            s->c[c].mint = t0;
            s->c[c].maxt = t0 + 7199 * (c + 1);
            s->c[c].ref = ref;
            t0 = s->c[c].maxt + 1 + c * 300;
            ref += 100 + c * 70000;
        }
    }
    qsort(t->s, n, sizeof(*t->s), series_cmp);
    /* Chunk refs must grow in series order: hand them out again after sorting. */
    ref = 8;
    for (size_t i = 0; i < n; i++)
        for (uint32_t c = 0; c < t->s[i].nc; c++, ref += 977 + c * 65536)
            t->s[i].c[c].ref = ref;
    t->syms = calloc(2 * MAXL * n + 1, sizeof(*t->syms));
    assert_non_null(t->syms);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < t->s[i].n; j++) {
            t->syms[k++] = t->s[i].l[j].name;
            t->syms[k++] = t->s[i].l[j].value;
        }
    t->syms[k++] = codec_str_c("unused-symbol"); /* symbols need not be used by any series */
    qsort(t->syms, k, sizeof(*t->syms), str_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || codec_str_cmp(t->syms[u - 1], t->syms[i]) != 0)
            t->syms[u++] = t->syms[i];
    t->nsyms = u;
}

static void tset_free(tset *t)
{
    st_arena_release(&t->arena);
    free(t->s);
    free(t->syms);
}

/* A writer for path holding t's symbols. */
static void writer_open(codec_index_writer **w, const char *path, const tset *t)
{
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_index_writer_create(w, path, &err), 0);
    for (size_t i = 0; i < t->nsyms; i++)
        assert_int_equal(codec_index_writer_add_symbol(*w, t->syms[i], &err), 0);
}

static void write_tset(const tset *t, const char *path)
{
    codec_index_writer *w;
    st_err err;
    st_err_init(&err);
    writer_open(&w, path, t);
    for (size_t i = 0; i < t->n; i++) {
        uint64_t ref = 0;
        int rc = codec_index_writer_add_series(w, t->s[i].l, t->s[i].n, t->s[i].c, t->s[i].nc, &ref,
                                               &err);
        if (rc)
            fail_msg("add series %zu: %s", i, err.msg);
        assert_true(ref > 0);
    }
    int rc = codec_index_writer_close(w, &err);
    if (rc)
        fail_msg("close: %s", err.msg);
    codec_index_writer_free(w);
}

static void assert_str_eq(codec_str a, codec_str b)
{
    if (codec_str_cmp(a, b) != 0)
        fail_msg("\"%.*s\" != \"%.*s\"", (int)a.len, a.p, (int)b.len, b.p);
}

/* ---------------------------------------------------------------------------------------------
 * Round trip.
 */
static void check_index_matches(const codec_index *idx, const tset *t)
{
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_index_version(idx), 2);
    assert_int_equal(codec_index_nsymbols(idx), t->nsyms);
    for (size_t i = 0; i < t->nsyms; i++) {
        codec_str s;
        assert_int_equal(codec_index_symbol(idx, i, &s, &err), 0);
        assert_str_eq(s, t->syms[i]);
    }
    codec_str s;
    assert_int_equal(codec_index_symbol(idx, t->nsyms, &s, &err), ST_ECORRUPT);

    uint64_t *refs = calloc(t->n + 1, sizeof(*refs));
    codec_series_iter *it;
    assert_int_equal(codec_series_iter_create(&it, idx, &err), 0);
    size_t k = 0;
    int rc;
    while ((rc = codec_series_iter_next(it, &err)) == 0) {
        const codec_series *cs = codec_series_iter_at(it);
        assert_true(k < t->n);
        const tseries *e = &t->s[k];
        assert_int_equal(cs->nlabels, e->n);
        for (uint32_t j = 0; j < e->n; j++) {
            assert_str_eq(cs->labels[j].name, e->l[j].name);
            assert_str_eq(cs->labels[j].value, e->l[j].value);
        }
        assert_int_equal(cs->nchunks, e->nc);
        for (uint32_t j = 0; j < e->nc; j++) {
            assert_int_equal(cs->chunks[j].mint, e->c[j].mint);
            assert_int_equal(cs->chunks[j].maxt, e->c[j].maxt);
            assert_int_equal(cs->chunks[j].ref, e->c[j].ref);
        }
        refs[k++] = cs->ref;
    }
    assert_int_equal(rc, ST_ITEROVER);
    assert_int_equal(k, t->n);
    codec_series_iter_free(it);

    /* Direct lookups by ref, and the postings of every label pair. */
    codec_series_buf sb;
    codec_series_buf_init(&sb);
    for (size_t i = 0; i < t->n; i++) {
        codec_series cs;
        assert_int_equal(codec_index_series(idx, refs[i], &sb, &cs, &err), 0);
        assert_int_equal(cs.ref, refs[i]);
        assert_int_equal(cs.nlabels, t->s[i].n);
        for (uint32_t j = 0; j < cs.nlabels; j++) {
            codec_postings p;
            assert_int_equal(
                codec_index_postings(idx, cs.labels[j].name, cs.labels[j].value, &p, &err), 0);
            size_t want = 0;
            uint32_t pos = 0;
            for (size_t m = 0; m < t->n; m++)
                for (uint32_t q = 0; q < t->s[m].n; q++)
                    if (codec_str_cmp(t->s[m].l[q].name, cs.labels[j].name) == 0 &&
                        codec_str_cmp(t->s[m].l[q].value, cs.labels[j].value) == 0) {
                        assert_true(pos < p.n);
                        assert_int_equal(codec_postings_at(&p, pos), refs[m]);
                        pos++;
                        want++;
                    }
            assert_int_equal(p.n, want);
        }
    }
    codec_series_buf_release(&sb);
    codec_postings all;
    assert_int_equal(codec_index_postings(idx, codec_str_c(""), codec_str_c(""), &all, &err), 0);
    assert_int_equal(all.n, t->n);
    for (size_t i = 0; i < t->n; i++)
        assert_int_equal(codec_postings_at(&all, (uint32_t)i), refs[i]);
    codec_postings none;
    assert_int_equal(
        codec_index_postings(idx, codec_str_c("job"), codec_str_c("no-such-job"), &none, &err), 0);
    assert_int_equal(none.n, 0);

    /* Label names and values: exactly those used, sorted. */
    const codec_str *names;
    size_t nn;
    assert_int_equal(codec_index_label_names(idx, &names, &nn, &err), 0);
    const char *want_names[] = {"__name__", "code", "instance", "job", "zone"};
    assert_int_equal(nn, t->n > 0 ? ST_ARRAY_LEN(want_names) : 0);
    for (size_t i = 0; i < nn; i++) {
        assert_str_eq(names[i], codec_str_c(want_names[i]));
        const codec_str *vals;
        size_t nv;
        assert_int_equal(codec_index_label_values(idx, names[i], &vals, &nv, &err), 0);
        codec_str *exp = calloc(t->n + 1, sizeof(*exp));
        size_t ne = 0;
        for (size_t m = 0; m < t->n; m++)
            for (uint32_t q = 0; q < t->s[m].n; q++)
                if (codec_str_cmp(t->s[m].l[q].name, names[i]) == 0)
                    exp[ne++] = t->s[m].l[q].value;
        qsort(exp, ne, sizeof(*exp), str_cmp);
        size_t u = 0;
        for (size_t m = 0; m < ne; m++)
            if (u == 0 || codec_str_cmp(exp[u - 1], exp[m]) != 0)
                exp[u++] = exp[m];
        assert_int_equal(nv, u);
        for (size_t m = 0; m < u; m++)
            assert_str_eq(vals[m], exp[m]);
        free(exp);
    }
    const codec_str *vals;
    size_t nv;
    assert_int_equal(codec_index_label_values(idx, codec_str_c("nope"), &vals, &nv, &err), 0);
    assert_int_equal(nv, 0);
    free(refs);
}

static void index__round_trips_series_labels_chunks_and_postings(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/index", dir);
    /* 12000 series log their labels over several blocks (the writer's postings log) */
    static const size_t sizes[] = {1, 2, 77, 3000, 12000};
    for (size_t c = 0; c < ST_ARRAY_LEN(sizes); c++) {
        tset t;
        tset_make(&t, sizes[c]);
        write_tset(&t, path);
        codec_index *idx;
        st_err err;
        st_err_init(&err);
        int rc = codec_index_open(&idx, path, &err);
        if (rc)
            fail_msg("%zu series: %s", sizes[c], err.msg);
        assert_string_equal(codec_index_name(idx), path);
        check_index_matches(idx, &t);
        codec_index_free(idx);
        tset_free(&t);
    }
    tu_tmpdir_free(dir);
}

static void index__empty_index_has_one_empty_symbol_table_and_all_postings(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/index", dir);
    st_err err;
    st_err_init(&err);
    codec_index_writer *w;
    assert_int_equal(codec_index_writer_create(&w, path, &err), 0);
    assert_int_equal(codec_index_writer_close(w, &err), 0);
    codec_index_writer_free(w);

    size_t len;
    uint8_t *b = tu_read(path, &len);
    /* header 5 | symbols 12 | pad 3 | all-postings 12 | label offsets 12 | postings offsets 16 |
     * TOC 52, as 2.42's Writer lays out no symbols and no series. */
    assert_int_equal(len, 5 + 12 + 3 + 12 + 12 + 16 + 52);
    assert_int_equal(codec_get_be64(b + len - 52 + 8), 17);  /* series */
    assert_int_equal(codec_get_be64(b + len - 52 + 16), 17); /* label indices */
    assert_int_equal(codec_get_be64(b + len - 52 + 32), 17); /* postings, before padding */
    codec_index *idx;
    assert_int_equal(codec_index_open_mem(&idx, b, len, "empty", &err), 0);
    assert_int_equal(codec_index_nsymbols(idx), 0);
    codec_series_iter *it;
    assert_int_equal(codec_series_iter_create(&it, idx, &err), 0);
    assert_int_equal(codec_series_iter_next(it, &err), ST_ITEROVER);
    assert_null(codec_series_iter_at(it));
    codec_series_iter_free(it);
    const codec_str *names;
    size_t n;
    assert_int_equal(codec_index_label_names(idx, &names, &n, &err), 0);
    assert_int_equal(n, 0);
    codec_index_free(idx);
    free(b);
    tu_tmpdir_free(dir);
}

/* ---------------------------------------------------------------------------------------------
 * Writer input checks.
 */
typedef struct bad_case {
    const char *name;
    const char *syms[4];
    const char *first[5]; /* name, value, name, value, NULL */
    const char *second[5];
    codec_chunk_meta chunks[2];
    uint32_t nchunks;
    int fail_at; /* 0: a symbol, 1: the first series, 2: the second series */
} bad_case;

static uint32_t to_labels(const char *const *kv, codec_label *out)
{
    uint32_t n = 0;
    for (; kv[2 * n]; n++) {
        out[n].name = codec_str_c(kv[2 * n]);
        out[n].value = codec_str_c(kv[2 * n + 1]);
    }
    return n;
}

static void index__writer_rejects_bad_input_with_einval(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {.name = "unsorted symbols", .syms = {"b", "a"}, .fail_at = 0},
        {.name = "duplicate symbols", .syms = {"a", "a"}, .fail_at = 0},
        {.name = "unknown label value", .syms = {"a", "b"}, .first = {"a", "c"}, .fail_at = 1},
        {.name = "unknown label name", .syms = {"a", "b"}, .first = {"c", "a"}, .fail_at = 1},
        {.name = "empty label set", .syms = {"a", "b"}, .fail_at = 1},
        {.name = "empty label name", .syms = {"", "a"}, .first = {"", "a"}, .fail_at = 1},
        {.name = "labels not sorted by name",
         .syms = {"a", "b"},
         .first = {"b", "a", "a", "b"},
         .fail_at = 1},
        {.name = "duplicate label name",
         .syms = {"a", "b"},
         .first = {"a", "a", "a", "b"},
         .fail_at = 1},
        {.name = "series out of order",
         .syms = {"a", "b"},
         .first = {"a", "b"},
         .second = {"a", "a"},
         .fail_at = 2},
        {.name = "duplicate series",
         .syms = {"a", "b"},
         .first = {"a", "b"},
         .second = {"a", "b"},
         .fail_at = 2},
        {.name = "prefix after the longer series",
         .syms = {"a", "b"},
         .first = {"a", "b", "b", "a"},
         .second = {"a", "b"},
         .fail_at = 2},
        {.name = "chunk maxt below mint",
         .syms = {"a", "b"},
         .first = {"a", "b"},
         .chunks = {{10, 9, 8}},
         .nchunks = 1,
         .fail_at = 1},
        {.name = "chunks touching at one timestamp",
         .syms = {"a", "b"},
         .first = {"a", "b"},
         .chunks = {{0, 10, 8}, {10, 20, 9}},
         .nchunks = 2,
         .fail_at = 1},
        {.name = "unsorted chunks",
         .syms = {"a", "b"},
         .first = {"a", "b"},
         .chunks = {{20, 30, 8}, {0, 10, 9}},
         .nchunks = 2,
         .fail_at = 1},
        {.name = "decreasing chunk refs",
         .syms = {"a", "b"},
         .first = {"a", "b"},
         .chunks = {{0, 10, 90}, {20, 30, 80}},
         .nchunks = 2,
         .fail_at = 1},
    };
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/index", dir);
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        const bad_case *c = &cases[i];
        print_message("case: %s\n", c->name);
        st_err err;
        st_err_init(&err);
        codec_index_writer *w;
        assert_int_equal(codec_index_writer_create(&w, path, &err), 0);
        int rc = 0, at = -1;
        for (size_t s = 0; s < 4 && c->syms[s] && !rc; s++)
            if ((rc = codec_index_writer_add_symbol(w, codec_str_c(c->syms[s]), &err)))
                at = 0;
        codec_label first[2], second[2];
        uint32_t nfirst = to_labels(c->first, first), nsecond = to_labels(c->second, second);
        if (!rc && (rc = codec_index_writer_add_series(w, first, nfirst, c->chunks, c->nchunks,
                                                       NULL, &err)))
            at = 1;
        if (!rc && nsecond &&
            (rc = codec_index_writer_add_series(w, second, nsecond, NULL, 0, NULL, &err)))
            at = 2;
        if (rc != ST_EINVAL || at != c->fail_at)
            fail_msg("case %s: rc %d at %d (%s)", c->name, rc, at, err.msg);
        assert_non_null(strstr(err.msg, path));
        /* A rejected call writes nothing: the writer still closes into a valid index. */
        st_err_init(&err);
        rc = codec_index_writer_close(w, &err);
        if (rc)
            fail_msg("case %s: close after rejection: %s", c->name, err.msg);
        codec_index_writer_free(w);
        codec_index *idx;
        assert_int_equal(codec_index_open(&idx, path, &err), 0);
        codec_index_free(idx);
    }
    tu_tmpdir_free(dir);
}

static void index__writer_rejects_symbols_after_series_and_calls_after_close(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/index", dir);
    st_err err;
    st_err_init(&err);
    codec_index_writer *w;
    assert_int_equal(codec_index_writer_create(&w, path, &err), 0);
    assert_int_equal(codec_index_writer_add_symbol(w, codec_str_c("a"), &err), 0);
    codec_label l = {codec_str_c("a"), codec_str_c("a")};
    assert_int_equal(codec_index_writer_add_series(w, &l, 1, NULL, 0, NULL, &err), 0);
    assert_int_equal(codec_index_writer_add_symbol(w, codec_str_c("b"), &err), ST_EINVAL);
    st_err_init(&err);
    assert_int_equal(codec_index_writer_close(w, &err), 0);
    assert_int_equal(codec_index_writer_close(w, &err), ST_EINVAL);
    codec_index_writer_free(w);
    codec_index_writer_free(NULL);
    assert_int_equal(codec_index_writer_create(&w, "/nonexistent/dir/index", &err), ST_EIO);
    assert_null(w);
    tu_tmpdir_free(dir);
}

static void index__writer_and_reader_survive_every_allocation_failure(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/index", dir);
    tset t;
    tset_make(&t, 40);
    long n;
    for (n = 1; n < 10000; n++) {
        st_err err;
        st_err_init(&err);
        st_alloc_fail_after(n);
        codec_index_writer *w = NULL;
        int rc = codec_index_writer_create(&w, path, &err);
        for (size_t i = 0; i < t.nsyms && !rc; i++)
            rc = codec_index_writer_add_symbol(w, t.syms[i], &err);
        for (size_t i = 0; i < t.n && !rc; i++)
            rc = codec_index_writer_add_series(w, t.s[i].l, t.s[i].n, t.s[i].c, t.s[i].nc, NULL,
                                               &err);
        if (!rc)
            rc = codec_index_writer_close(w, &err);
        codec_index_writer_free(w);
        st_alloc_fail_after(0);
        assert_true(rc == 0 || rc == ST_ENOMEM);
        if (rc == 0)
            break;
    }
    assert_true(n > 1 && n < 10000);
    write_tset(&t, path);
    for (n = 1; n < 10000; n++) {
        st_err err;
        st_err_init(&err);
        st_alloc_fail_after(n);
        codec_index *idx = NULL;
        codec_series_iter *it = NULL;
        int rc = codec_index_open(&idx, path, &err);
        if (!rc)
            rc = codec_series_iter_create(&it, idx, &err);
        while (!rc && (rc = codec_series_iter_next(it, &err)) == 0)
            ;
        codec_series_iter_free(it);
        codec_index_free(idx);
        st_alloc_fail_after(0);
        assert_true(rc == ST_ITEROVER || rc == ST_ENOMEM);
        if (rc == ST_ITEROVER)
            break;
    }
    assert_true(n > 1 && n < 10000);
    tset_free(&t);
    tu_tmpdir_free(dir);
}

/* ---------------------------------------------------------------------------------------------
 * Byte identity with promtool.
 */

/* Read every symbol and series of src and write them again; returns the rewritten bytes. */
/* Series i's chunks for the follower: another count and other refs than the leader's, so its
 * series entries (and refs) differ from the leader's. */
static uint32_t follower_chunks(const tseries *s, size_t i, codec_chunk_meta *c, uint64_t *ref)
{
    uint32_t n = (uint32_t)((i * 7 + 3) % 5);
    int64_t t0 = s->nc ? s->c[0].mint : (int64_t)i;
    for (uint32_t k = 0; k < n; k++) {
        c[k] = (codec_chunk_meta){.mint = t0 + 100000 * (int64_t)k,
                                  .maxt = t0 + 100000 * (int64_t)k + 99999,
                                  .ref = *ref};
        *ref += 300 + 40000 * k;
    }
    return n;
}

static void files_identical(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = tu_read(a, &la), *y = tu_read(b, &lb);
    size_t i = 0;
    while (i < la && i < lb && x[i] == y[i])
        i++;
    if (la != lb || i != la)
        fail_msg("%s and %s differ at byte %zu (sizes %zu, %zu)", a, b, i, la, lb);
    free(x);
    free(y);
}

/* Series s's symbol refs in an index of t's symbols (sorted, each once). */
static void tseries_refs(const tset *t, const tseries *s, uint32_t *refs)
{
    for (uint32_t i = 0; i < 2 * s->n; i++) {
        codec_str x = i % 2 ? s->l[i / 2].value : s->l[i / 2].name;
        size_t lo = 0, hi = t->nsyms;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (codec_str_cmp(t->syms[mid], x) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        assert_true(lo < t->nsyms && codec_str_cmp(t->syms[lo], x) == 0);
        refs[i] = (uint32_t)lo;
    }
}

/* Series s into w, by its labels or (refs) its symbol refs. */
static int add_tseries(codec_index_writer *w, const tset *t, const tseries *s,
                       const codec_chunk_meta *c, uint32_t nc, int refs, st_err *err)
{
    uint32_t r[2 * MAXL];
    if (!refs)
        return codec_index_writer_add_series(w, s->l, s->n, c, nc, NULL, err);
    tseries_refs(t, s, r);
    return codec_index_writer_add_series_refs(w, s->l, s->n, r, c, nc, NULL, err);
}

/* A follower (and two at once) writes the index it would have written alone, its own series
 * refs in the leader's postings, and the leader is unchanged by being followed; with symbol refs
 * given too (the follower then copies its leader's label bytes). */
static void index__followers_write_the_index_they_would_alone(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char lp[4096], fp[2][4096], la[4096], fa[4096];
    snprintf(lp, sizeof(lp), "%s/leader", dir);
    snprintf(fp[0], sizeof(fp[0]), "%s/follower0", dir);
    snprintf(fp[1], sizeof(fp[1]), "%s/follower1", dir);
    snprintf(la, sizeof(la), "%s/leader-alone", dir);
    snprintf(fa, sizeof(fa), "%s/follower-alone", dir);
    static const size_t sizes[] = {1, 77, 3000};
    for (size_t sz = 0; sz < ST_ARRAY_LEN(sizes); sz++) {
        tset t;
        tset_make(&t, sizes[sz]);
        st_err err;
        st_err_init(&err);
        for (int round = 0; round < 4; round++) {
            int nf = 1 + round % 2, refs = round >= 2; /* followers; by symbol refs */
            codec_index_writer *l, *f[2], *alone;
            writer_open(&l, lp, &t);
            writer_open(&alone, fa, &t);
            for (int k = 0; k < nf; k++) {
                writer_open(&f[k], fp[k], &t);
                assert_int_equal(codec_index_writer_follow(f[k], l, &err), 0);
            }
            uint64_t ref = 8;
            for (size_t i = 0; i < t.n; i++) {
                const tseries *s = &t.s[i];
                codec_chunk_meta c[8];
                uint32_t nc = follower_chunks(s, i, c, &ref);
                if (add_tseries(l, &t, s, s->c, s->nc, refs, &err))
                    fail_msg("leader, series %zu: %s", i, err.msg);
                for (int k = 0; k < nf; k++)
                    if (add_tseries(f[k], &t, s, c, nc, refs, &err))
                        fail_msg("follower %d, series %zu: %s", k, i, err.msg);
                if (codec_index_writer_add_series(alone, s->l, s->n, c, nc, NULL, &err))
                    fail_msg("alone, series %zu: %s", i, err.msg);
            }
            /* the leader cannot close first */
            assert_int_equal(codec_index_writer_close(l, &err), ST_EINVAL);
            assert_non_null(strstr(err.msg, "before its followers"));
            for (int k = 0; k < nf; k++)
                if (codec_index_writer_close(f[k], &err))
                    fail_msg("follower %d: %s", k, err.msg);
            if (codec_index_writer_close(l, &err) || codec_index_writer_close(alone, &err))
                fail_msg("%s", err.msg);
            codec_index_writer_free(l);
            codec_index_writer_free(alone);
            for (int k = 0; k < nf; k++) {
                codec_index_writer_free(f[k]);
                files_identical(fp[k], fa);
            }
            write_tset(&t, la);
            files_identical(lp, la);
        }
        tset_free(&t);
    }
    tu_tmpdir_free(dir);
}

/* A follower that takes another series than its leader's last, or one too few, fails with
 * both indexes named; so do following after the first series and a leader taking series after
 * a follower closed. */
static void index__followers_that_diverge_from_their_leader_fail(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char lp[4096], fp[4096];
    snprintf(lp, sizeof(lp), "%s/leader", dir);
    snprintf(fp, sizeof(fp), "%s/follower", dir);
    tset t;
    tset_make(&t, 20);
    st_err err;
    st_err_init(&err);
    codec_index_writer *l, *f;

    /* another series */
    writer_open(&l, lp, &t);
    writer_open(&f, fp, &t);
    assert_int_equal(codec_index_writer_follow(f, l, &err), 0);
    st_err_init(&err);
    assert_int_equal(codec_index_writer_follow(l, f, &err), ST_EINVAL); /* no cycles */
    assert_int_equal(
        codec_index_writer_add_series(l, t.s[0].l, t.s[0].n, t.s[0].c, t.s[0].nc, NULL, &err), 0);
    assert_int_equal(
        codec_index_writer_add_series(f, t.s[0].l, t.s[0].n, t.s[0].c, t.s[0].nc, NULL, &err), 0);
    assert_int_equal(
        codec_index_writer_add_series(l, t.s[1].l, t.s[1].n, t.s[1].c, t.s[1].nc, NULL, &err), 0);
    st_err_init(&err);
    assert_int_equal(
        codec_index_writer_add_series(f, t.s[2].l, t.s[2].n, t.s[2].c, t.s[2].nc, NULL, &err),
        ST_EINVAL);
    assert_non_null(strstr(err.msg, fp));
    assert_non_null(strstr(err.msg, lp));
    /* a series ahead of the leader */
    assert_int_equal(
        codec_index_writer_add_series(f, t.s[1].l, t.s[1].n, t.s[1].c, t.s[1].nc, NULL, &err), 0);
    st_err_init(&err);
    assert_int_equal(
        codec_index_writer_add_series(f, t.s[2].l, t.s[2].n, t.s[2].c, t.s[2].nc, NULL, &err),
        ST_EINVAL);
    /* one series short at close */
    assert_int_equal(
        codec_index_writer_add_series(l, t.s[2].l, t.s[2].n, t.s[2].c, t.s[2].nc, NULL, &err), 0);
    st_err_init(&err);
    assert_int_equal(codec_index_writer_close(f, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "holds other series"));
    assert_int_equal(
        codec_index_writer_add_series(f, t.s[2].l, t.s[2].n, t.s[2].c, t.s[2].nc, NULL, &err), 0);
    assert_int_equal(codec_index_writer_close(f, &err), 0);
    /* the leader takes nothing after its follower closed */
    st_err_init(&err);
    assert_int_equal(
        codec_index_writer_add_series(l, t.s[3].l, t.s[3].n, t.s[3].c, t.s[3].nc, NULL, &err),
        ST_EINVAL);
    assert_int_equal(codec_index_writer_close(l, &err), 0);
    codec_index_writer_free(l);
    codec_index_writer_free(f);

    /* by symbol refs: another series fails, so does the right one with chunks out of order */
    writer_open(&l, lp, &t);
    writer_open(&f, fp, &t);
    assert_int_equal(codec_index_writer_follow(f, l, &err), 0);
    assert_int_equal(add_tseries(l, &t, &t.s[0], t.s[0].c, t.s[0].nc, 1, &err), 0);
    st_err_init(&err);
    assert_int_equal(add_tseries(f, &t, &t.s[1], t.s[1].c, t.s[1].nc, 1, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, fp));
    assert_non_null(strstr(err.msg, lp));
    codec_chunk_meta c[2] = {{.mint = 100, .maxt = 200, .ref = 8},
                             {.mint = 150, .maxt = 300, .ref = 16}};
    st_err_init(&err);
    assert_int_equal(add_tseries(f, &t, &t.s[0], c, 2, 1, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "mint not above"));
    assert_int_equal(add_tseries(f, &t, &t.s[0], c, 1, 1, &err), 0);
    assert_int_equal(codec_index_writer_close(f, &err), 0);
    assert_int_equal(codec_index_writer_close(l, &err), 0);
    codec_index_writer_free(l);
    codec_index_writer_free(f);

    /* following after the first series */
    writer_open(&l, lp, &t);
    writer_open(&f, fp, &t);
    assert_int_equal(
        codec_index_writer_add_series(l, t.s[0].l, t.s[0].n, t.s[0].c, t.s[0].nc, NULL, &err), 0);
    st_err_init(&err);
    assert_int_equal(codec_index_writer_follow(f, l, &err), ST_EINVAL);
    codec_index_writer_free(l);
    codec_index_writer_free(f);
    tset_free(&t);
    tu_tmpdir_free(dir);
}

static uint8_t *rewrite(const char *src, const char *dst, size_t *len)
{
    st_err err;
    st_err_init(&err);
    codec_index *idx;
    int rc = codec_index_open(&idx, src, &err);
    if (rc)
        fail_msg("open %s: %s", src, err.msg);
    codec_index_writer *w;
    assert_int_equal(codec_index_writer_create(&w, dst, &err), 0);
    for (uint32_t i = 0; i < codec_index_nsymbols(idx); i++) {
        codec_str s;
        assert_int_equal(codec_index_symbol(idx, i, &s, &err), 0);
        assert_int_equal(codec_index_writer_add_symbol(w, s, &err), 0);
    }
    codec_series_iter *it;
    assert_int_equal(codec_series_iter_create(&it, idx, &err), 0);
    /* the symbol table is the input's: every other series goes through add_series_refs with
     * the refs the reader gave */
    size_t n = 0;
    while ((rc = codec_series_iter_next(it, &err)) == 0) {
        const codec_series *s = codec_series_iter_at(it);
        uint64_t ref;
        if (n++ % 2) {
            assert_non_null(s->symrefs); /* promtool writes v2 */
            rc = codec_index_writer_add_series_refs(w, s->labels, s->nlabels, s->symrefs, s->chunks,
                                                    s->nchunks, &ref, &err);
        } else {
            rc = codec_index_writer_add_series(w, s->labels, s->nlabels, s->chunks, s->nchunks,
                                               &ref, &err);
        }
        if (rc)
            fail_msg("%s: add series %llu: %s", src, (unsigned long long)s->ref, err.msg);
        assert_int_equal(ref, s->ref);
    }
    if (rc != ST_ITEROVER)
        fail_msg("%s: %s", src, err.msg);
    codec_series_iter_free(it);
    assert_int_equal(codec_index_writer_close(w, &err), 0);
    codec_index_writer_free(w);
    codec_index_free(idx);
    return tu_read(dst, len);
}

static void assert_identical(const char *src, const char *dst)
{
    size_t len;
    free(rewrite(src, dst, &len));
    files_identical(src, dst);
}

/* An OpenMetrics file with awkward cases: many values per name (more than 32, the reader's
 * sampling factor in Prometheus), multi-byte UTF-8, long values, several chunks per series. */
static void write_openmetrics(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const int64_t base = 1699920000;
    fprintf(f, "# TYPE node_cpu_seconds counter\n");
    for (int cpu = 0; cpu < 40; cpu++)
        for (int mode = 0; mode < 3; mode++)
            for (int64_t t = 0; t < 3 * 3600; t += 30)
                fprintf(f,
                        "node_cpu_seconds_total{cpu=\"%d\",instance=\"node-%d.example:9100\","
                        "mode=\"%s\"} %lld.%d %lld\n",
                        cpu, cpu % 4,
                        mode == 0   ? "idle"
                        : mode == 1 ? "user"
                                    : "syst\xc3\xa8me",
                        (long long)(t / 7), cpu, (long long)(base + t));
    fprintf(f, "# TYPE long gauge\n");
    for (int i = 0; i < 5; i++)
        fprintf(f, "long{path=\"/%0200d/%d\"} 1 %lld\n", 0, i, (long long)(base + 100 * i));
    fprintf(f, "# EOF\n");
    fclose(f);
}

static void index__rewrite_of_promtool_indexes_is_byte_identical(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char dst[4096];
    snprintf(dst, sizeof(dst), "%s/rewritten", dir);
    int checked = 0;

    char *pattern = tu_src_path("testdata/blocks/*/*/index");
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++, checked++)
            assert_identical(g.gl_pathv[i], dst);
        globfree(&g);
    }
    free(pattern);

    if (access("/usr/bin/promtool", X_OK) == 0) {
        char om[8192], out[4096];
        snprintf(om, sizeof(om), "%s/data.om", dir);
        snprintf(out, sizeof(out), "%s/blocks", dir);
        write_openmetrics(om);
        assert_int_equal(tu_system("/usr/bin/promtool tsdb create-blocks-from openmetrics '%s' "
                                   "'%s' >/dev/null 2>&1",
                                   om, out),
                         0);
        snprintf(om, sizeof(om), "%s/*/index", out);
        assert_int_equal(glob(om, 0, NULL, &g), 0);
        for (size_t i = 0; i < g.gl_pathc; i++, checked++)
            assert_identical(g.gl_pathv[i], dst);
        globfree(&g);
    }
    print_message("byte-identical indexes: %d\n", checked);
    if (checked == 0)
        skip();
    tu_tmpdir_free(dir);
}

/* ---------------------------------------------------------------------------------------------
 * Legacy version 1: symbol refs and series refs are file offsets, postings table unsorted.
 */
static void put_section_start(st_buf *b, size_t *at)
{
    *at = b->len;
    assert_int_equal(codec_buf_be32(b, 0), 0);
}

static void put_section_end(st_buf *b, size_t at)
{
    uint32_t n = (uint32_t)(b->len - at - 4);
    codec_put_be32(b->p + at, n);
    assert_int_equal(codec_buf_be32(b, codec_crc32c(0, b->p + at + 4, n)), 0);
}

static void index__reads_version_1_with_offset_symbol_refs(void **state)
{
    (void)state;
    static const char *const syms[] = {"__name__", "a", "b", "job", "up"};
    uint64_t symref[5];
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(codec_buf_be32(&b, CODEC_INDEX_MAGIC), 0);
    assert_int_equal(st_buf_putc(&b, 1), 0);
    uint64_t toc[6] = {0};
    size_t at;
    toc[0] = b.len;
    put_section_start(&b, &at);
    assert_int_equal(codec_buf_be32(&b, 5), 0);
    for (int i = 0; i < 5; i++) {
        symref[i] = b.len;
        assert_int_equal(codec_buf_uvarint(&b, strlen(syms[i])), 0);
        assert_int_equal(st_buf_append(&b, syms[i], strlen(syms[i])), 0);
    }
    put_section_end(&b, at);

    /* Series up{job="a"} and up{job="b"}, unaligned, refs are offsets. */
    toc[1] = b.len;
    uint64_t sref[2];
    for (int s = 0; s < 2; s++) {
        sref[s] = b.len;
        st_buf e;
        st_buf_init(&e, 0);
        assert_int_equal(codec_buf_uvarint(&e, 2), 0);
        assert_int_equal(codec_buf_uvarint(&e, symref[0]), 0);
        assert_int_equal(codec_buf_uvarint(&e, symref[4]), 0);
        assert_int_equal(codec_buf_uvarint(&e, symref[3]), 0);
        assert_int_equal(codec_buf_uvarint(&e, symref[1 + s]), 0);
        assert_int_equal(codec_buf_uvarint(&e, 2), 0);
        assert_int_equal(codec_buf_varint(&e, 1000 * s), 0);
        assert_int_equal(codec_buf_uvarint(&e, 99), 0);
        assert_int_equal(codec_buf_uvarint(&e, 8 + 100 * s), 0);
        assert_int_equal(codec_buf_uvarint(&e, 1), 0);
        assert_int_equal(codec_buf_uvarint(&e, 10), 0);
        assert_int_equal(codec_buf_varint(&e, 30), 0);
        assert_int_equal(codec_buf_uvarint(&b, e.len), 0);
        assert_int_equal(st_buf_append(&b, e.p, e.len), 0);
        assert_int_equal(codec_buf_be32(&b, codec_crc32c(0, e.p, e.len)), 0);
        st_buf_release(&e);
    }
    toc[2] = b.len;
    /* Postings: all, job=a, job=b, __name__=up. */
    static const uint32_t which[4][3] = {{2, 0, 1}, {1, 0, 0}, {1, 1, 0}, {2, 0, 1}};
    uint64_t poff[4];
    toc[4] = b.len;
    for (int p = 0; p < 4; p++) {
        poff[p] = b.len;
        put_section_start(&b, &at);
        assert_int_equal(codec_buf_be32(&b, which[p][0]), 0);
        for (uint32_t k = 0; k < which[p][0]; k++)
            assert_int_equal(codec_buf_be32(&b, (uint32_t)sref[which[p][1 + k]]), 0);
        put_section_end(&b, at);
    }
    toc[3] = b.len;
    /* Postings offset table in an order v1 writers could leave it: not sorted. */
    toc[5] = b.len;
    static const char *const keys[4][2] = {
        {"", ""}, {"job", "a"}, {"job", "b"}, {"__name__", "up"}};
    static const int order[4] = {2, 0, 3, 1};
    put_section_start(&b, &at);
    assert_int_equal(codec_buf_be32(&b, 4), 0);
    for (int k = 0; k < 4; k++) {
        int p = order[k];
        assert_int_equal(codec_buf_uvarint(&b, 2), 0);
        for (int j = 0; j < 2; j++) {
            assert_int_equal(codec_buf_uvarint(&b, strlen(keys[p][j])), 0);
            assert_int_equal(st_buf_append(&b, keys[p][j], strlen(keys[p][j])), 0);
        }
        assert_int_equal(codec_buf_uvarint(&b, poff[p]), 0);
    }
    put_section_end(&b, at);
    size_t tocat = b.len;
    for (int i = 0; i < 6; i++)
        assert_int_equal(codec_buf_be64(&b, toc[i]), 0);
    assert_int_equal(codec_buf_be32(&b, codec_crc32c(0, b.p + tocat, 48)), 0);

    st_err err;
    st_err_init(&err);
    codec_index *idx;
    int rc = codec_index_open_mem(&idx, b.p, b.len, "v1-index", &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(codec_index_version(idx), 1);
    codec_str s;
    assert_int_equal(codec_index_symbol(idx, symref[3], &s, &err), 0);
    assert_str_eq(s, codec_str_c("job"));
    assert_int_equal(codec_index_symbol(idx, 3, &s, &err), ST_ECORRUPT);

    codec_series_iter *it;
    assert_int_equal(codec_series_iter_create(&it, idx, &err), 0);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(codec_series_iter_next(it, &err), 0);
        const codec_series *cs = codec_series_iter_at(it);
        assert_int_equal(cs->ref, sref[k]);
        assert_int_equal(cs->nlabels, 2);
        assert_str_eq(cs->labels[0].name, codec_str_c("__name__"));
        assert_str_eq(cs->labels[0].value, codec_str_c("up"));
        assert_str_eq(cs->labels[1].name, codec_str_c("job"));
        assert_str_eq(cs->labels[1].value, codec_str_c(k ? "b" : "a"));
        assert_int_equal(cs->nchunks, 2);
        assert_int_equal(cs->chunks[0].mint, 1000 * k);
        assert_int_equal(cs->chunks[0].maxt, 1000 * k + 99);
        assert_int_equal(cs->chunks[1].mint, 1000 * k + 100);
        assert_int_equal(cs->chunks[1].maxt, 1000 * k + 110);
        assert_int_equal(cs->chunks[1].ref, 8 + 100 * k + 30);
    }
    assert_int_equal(codec_series_iter_next(it, &err), ST_ITEROVER);
    codec_series_iter_free(it);
    codec_postings p;
    assert_int_equal(codec_index_postings(idx, codec_str_c("job"), codec_str_c("b"), &p, &err), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(codec_postings_at(&p, 0), sref[1]);
    const codec_str *names;
    size_t n;
    assert_int_equal(codec_index_label_names(idx, &names, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_str_eq(names[0], codec_str_c("__name__"));
    assert_str_eq(names[1], codec_str_c("job"));
    codec_index_free(idx);
    st_buf_release(&b);
}

/* ---------------------------------------------------------------------------------------------
 * Corrupt input.
 */

/* Open and read everything; returns the first error (0 if all of it reads). */
static int read_all(const uint8_t *p, size_t len, const char *name, st_err *err)
{
    codec_index *idx;
    int rc = codec_index_open_mem(&idx, p, len, name, err);
    if (rc)
        return rc;
    int first = 0;
    codec_series_iter *it;
    rc = codec_series_iter_create(&it, idx, err);
    if (!rc) {
        while ((rc = codec_series_iter_next(it, err)) == 0) {
            const codec_series *s = codec_series_iter_at(it);
            assert_non_null(s);
        }
        if (rc == ST_ITEROVER)
            rc = 0;
        /* A failed iterator stays failed. */
        if (rc) {
            st_err again;
            st_err_init(&again);
            assert_int_equal(codec_series_iter_next(it, &again), rc);
        }
        codec_series_iter_free(it);
    }
    first = rc;
    for (uint32_t i = 0; i < codec_index_nsymbols(idx) && codec_index_version(idx) == 2; i++) {
        codec_str s;
        assert_int_equal(codec_index_symbol(idx, i, &s, err), 0);
    }
    const codec_str *names;
    size_t nn;
    assert_int_equal(codec_index_label_names(idx, &names, &nn, err), 0);
    for (size_t i = 0; i < nn; i++) {
        const codec_str *vals;
        size_t nv;
        assert_int_equal(codec_index_label_values(idx, names[i], &vals, &nv, err), 0);
        for (size_t v = 0; v < nv; v++) {
            codec_postings pl;
            rc = codec_index_postings(idx, names[i], vals[v], &pl, err);
            if (rc && !first)
                first = rc;
            codec_series_buf sb;
            codec_series_buf_init(&sb);
            for (uint32_t k = 0; !rc && k < pl.n; k++) {
                codec_series s;
                rc = codec_index_series(idx, codec_postings_at(&pl, k), &sb, &s, err);
                if (rc && !first)
                    first = rc;
            }
            codec_series_buf_release(&sb);
        }
    }
    codec_index_free(idx);
    return first;
}

static void check_corrupt_result(int rc, const st_err *err, const char *name, const char *what,
                                 size_t at)
{
    if (rc == 0)
        return;
    if (rc != ST_ECORRUPT && rc != ST_ECHECKSUM && !(rc == ST_EUNSUPP && at == 4))
        fail_msg("%s at %zu: rc %d (%s)", what, at, rc, err->msg);
    if (!strstr(err->msg, name) || !strstr(err->msg, "offset"))
        fail_msg("%s at %zu: message lacks file or offset: %s", what, at, err->msg);
}

static void corrupt_all_ways(const char *path, const char *name)
{
    size_t len;
    uint8_t *orig = tu_read(path, &len);
    int ok = 0, failed = 0;
    /* Exact-size copies, so ASan sees any read past the end. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, orig, cut);
        st_err err;
        st_err_init(&err);
        int rc = read_all(p, cut, name, &err);
        assert_int_not_equal(rc, 0); /* the TOC is the last 52 bytes: any cut loses it */
        check_corrupt_result(rc, &err, name, "truncation", cut);
        free(p);
    }
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t at = 0; at < len; at++)
        for (size_t f = 0; f < ST_ARRAY_LEN(flips); f++) {
            uint8_t *p = malloc(len);
            memcpy(p, orig, len);
            p[at] ^= flips[f];
            st_err err;
            st_err_init(&err);
            int rc = read_all(p, len, name, &err);
            check_corrupt_result(rc, &err, name, "flip", at);
            rc ? failed++ : ok++;
            free(p);
        }
    print_message("%s: %zu bytes, %zu truncations failed, flips: %d failed, %d read (legacy "
                  "sections and padding are not read)\n",
                  path, len, len, failed, ok);
    free(orig);
}

static void index__corrupt_indexes_fail_with_file_and_offset_or_read_cleanly(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/index", dir);
    tset t;
    tset_make(&t, 30);
    write_tset(&t, path);
    corrupt_all_ways(path, "gen-index");
    tset_free(&t);

    char *pattern = tu_src_path("testdata/blocks/*/*/index");
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0) {
        /* The smallest real index: every offset of it. */
        size_t best = 0, best_len = SIZE_MAX;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            size_t len;
            uint8_t *b = tu_read(g.gl_pathv[i], &len);
            free(b);
            if (len < best_len)
                best = i, best_len = len;
        }
        corrupt_all_ways(g.gl_pathv[best], "real-index");
        globfree(&g);
    }
    free(pattern);
    tu_tmpdir_free(dir);
}

static void index__corruption_messages_name_file_and_offset(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/index", dir);
    tset t;
    tset_make(&t, 3);
    write_tset(&t, path);
    size_t len;
    uint8_t *b = tu_read(path, &len);
    uint64_t series = codec_get_be64(b + len - 52 + 8);
    uint64_t first = (series + 15) / 16 * 16;
    b[first + 2] ^= 0x40; /* inside the first series body */
    tu_write(path, b, len);
    st_err err;
    st_err_init(&err);
    codec_index *idx;
    assert_int_equal(codec_index_open(&idx, path, &err), 0);
    codec_series_iter *it;
    assert_int_equal(codec_series_iter_create(&it, idx, &err), 0);
    assert_int_equal(codec_series_iter_next(it, &err), ST_ECHECKSUM);
    char want[64];
    snprintf(want, sizeof(want), "offset %llu", (unsigned long long)first);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, want));
    codec_series_iter_free(it);
    codec_index_free(idx);

    st_err_init(&err);
    assert_int_equal(codec_index_open(&idx, "/nonexistent/index", &err), ST_ENOTFOUND);
    assert_null(idx);
    free(b);
    tset_free(&t);
    tu_tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(index__round_trips_series_labels_chunks_and_postings),
        cmocka_unit_test(index__empty_index_has_one_empty_symbol_table_and_all_postings),
        cmocka_unit_test(index__writer_rejects_bad_input_with_einval),
        cmocka_unit_test(index__writer_rejects_symbols_after_series_and_calls_after_close),
        cmocka_unit_test(index__writer_and_reader_survive_every_allocation_failure),
        cmocka_unit_test(index__followers_write_the_index_they_would_alone),
        cmocka_unit_test(index__followers_that_diverge_from_their_leader_fail),
        cmocka_unit_test(index__rewrite_of_promtool_indexes_is_byte_identical),
        cmocka_unit_test(index__reads_version_1_with_offset_symbol_refs),
        cmocka_unit_test(index__corrupt_indexes_fail_with_file_and_offset_or_read_cleanly),
        cmocka_unit_test(index__corruption_messages_name_file_and_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
