/*
 * test_downsample_block.c - downsample_block end to end on a raw block written here: one read
 * gives a 5m and a 1h block; the 1h block is byte for byte what downsampling the 5m block again
 * gives (Thanos' two steps); any thread count gives the same bytes; the meta is Thanos' (new
 * ULID, compaction, labels and range kept, resolution, source "compactor", recounted stats,
 * files); histogram chunks are skipped and counted; the outputs pass verify and their counters
 * read back to the raw totals; bad input leaves nothing behind; aggregates whose input stamps
 * disagree are encoded one by one and still read back right.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIN_T 1700000040000LL /* 2023-11-14T22:14:00Z */
#define HOURS 30
#define N_RAW (HOURS * 60) /* one sample a minute */

typedef struct sdef {
    const char *name; /* __name__ */
    const char *kind; /* a second label */
    int chunks;       /* XOR chunks; 'h' entries in pattern make histogram chunks */
    const char *pattern;
} sdef;

/* Series in label order: "a_counter" (XOR x3, a reset at the second chunk boundary), "b_mixed"
 * (XOR, histogram, XOR), "c_hist" (histogram only), "d_nan" (NaNs only). */
static const sdef series[] = {
    {"a_counter", "counter", 3, "xxx"},
    {"b_mixed", "gauge", 3, "xhx"},
    {"c_hist", "histogram", 1, "h"},
    {"d_nan", "gauge", 1, "x"},
};

static double raw_value(int s, int i)
{
    if (s == 3)
        return NAN;
    if (s == 0)
        return i < 2 * N_RAW / 3 ? 1000.0 + 7.0 * i : 3.0 * (i - 2 * N_RAW / 3); /* reset */
    return (double)((i * 37) % 101) - 50.0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A raw block of the series above, with a Thanos section, into dir (created). */
static void write_raw_block(const char *dir)
{
    st_err err;
    st_err_init(&err);
    char p[4200];
    assert_int_equal(st_mkdir_p(dir, &err), 0);
    snprintf(p, sizeof(p), "%s/chunks", dir);
    codec_chunk_writer *cw;
    assert_int_equal(codec_chunk_writer_create(&cw, p, 0, &err), 0);
    snprintf(p, sizeof(p), "%s/index", dir);
    codec_index_writer *iw;
    assert_int_equal(codec_index_writer_create(&iw, p, &err), 0);
    const char *syms[16];
    size_t ns = 0;
    syms[ns++] = "__name__";
    syms[ns++] = "kind";
    for (size_t s = 0; s < ST_ARRAY_LEN(series); s++) {
        syms[ns++] = series[s].name;
        int dup = 0;
        for (size_t k = 0; k < ns - 1; k++)
            dup |= strcmp(syms[k], series[s].kind) == 0;
        if (!dup)
            syms[ns++] = series[s].kind;
    }
    qsort(syms, ns, sizeof(char *), cmp_str);
    for (size_t i = 0; i < ns; i++)
        assert_int_equal(codec_index_writer_add_symbol(iw, codec_str_c(syms[i]), &err), 0);
    static const uint8_t hist[] = {0x00, 0x05, 0x00, 0x12, 0x34}; /* 5 samples, opaque */
    for (size_t s = 0; s < ST_ARRAY_LEN(series); s++) {
        const sdef *d = &series[s];
        size_t nc = strlen(d->pattern), per = N_RAW / nc;
        codec_chunk chks[4];
        codec_chunk_meta metas[4];
        codec_xor_enc enc[4];
        for (size_t c = 0; c < nc; c++) {
            int64_t from = MIN_T + (int64_t)(c * per) * 60000,
                    to = from + (int64_t)(per - 1) * 60000;
            codec_xor_enc_init(&enc[c]);
            if (d->pattern[c] == 'h') {
                chks[c] = (codec_chunk){.enc = CODEC_ENC_HISTOGRAM, .data = hist, .len = 5};
            } else {
                for (size_t i = c * per; i < (c + 1) * per; i++)
                    assert_int_equal(codec_xor_enc_append(&enc[c], MIN_T + (int64_t)i * 60000,
                                                          raw_value((int)s, (int)i)),
                                     0);
                codec_chunk x = codec_xor_enc_chunk(&enc[c]);
                chks[c] = (codec_chunk){.enc = CODEC_ENC_XOR, .data = x.data, .len = x.len};
            }
            metas[c] = (codec_chunk_meta){.mint = from, .maxt = to};
        }
        uint64_t refs[4];
        assert_int_equal(codec_chunk_writer_write(cw, chks, nc, refs, &err), 0);
        for (size_t c = 0; c < nc; c++) {
            metas[c].ref = refs[c];
            codec_xor_enc_release(&enc[c]);
        }
        codec_label l[2] = {{codec_str_c("__name__"), codec_str_c(d->name)},
                            {codec_str_c("kind"), codec_str_c(d->kind)}};
        assert_int_equal(codec_index_writer_add_series(iw, l, 2, metas, (uint32_t)nc, NULL, &err),
                         0);
    }
    assert_int_equal(codec_chunk_writer_close(cw, &err), 0);
    assert_int_equal(codec_index_writer_close(iw, &err), 0);
    codec_chunk_writer_free(cw);
    codec_index_writer_free(iw);
    static const char meta[] =
        "{\n\t\"ulid\": \"01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB\",\n\t\"minTime\": 1700000040000,\n"
        "\t\"maxTime\": 1700108040000,\n\t\"stats\": {\n\t\t\"numSamples\": 5410,\n"
        "\t\t\"numSeries\": 4,\n\t\t\"numChunks\": 8\n\t},\n\t\"compaction\": {\n"
        "\t\t\"level\": 3,\n\t\t\"sources\": [\n\t\t\t\"01HQ7S5M1T7Y6X3VZ3Z1Q4K2A1\",\n"
        "\t\t\t\"01HQ7S5M1T7Y6X3VZ3Z1Q4K2A2\"\n\t\t]\n\t},\n\t\"version\": 1,\n"
        "\t\"thanos\": {\n\t\t\"labels\": {\n\t\t\t\"cluster\": \"eu1\"\n\t\t},\n"
        "\t\t\"downsample\": {\n\t\t\t\"resolution\": 0\n\t\t},\n\t\t\"source\": \"sidecar\",\n"
        "\t\t\"index_stats\": {},\n\t\t\"extensions\": {\"team\": \"x\"},\n"
        "\t\t\"upload_time\": \"2023-11-16T00:00:00Z\"\n\t}\n}\n";
    snprintf(p, sizeof(p), "%s/meta.json", dir);
    tu_write(p, meta, strlen(meta));
}

typedef struct fixture {
    char *tmp;
    char raw[4096];
    codec_block *in;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->tmp = tu_tmpdir();
    snprintf(f->raw, sizeof(f->raw), "%s/in/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB", f->tmp);
    write_raw_block(f->raw);
    st_err err;
    st_err_init(&err);
    if (codec_block_open(&f->in, f->raw, &err))
        fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    codec_block_free(f->in);
    tu_tmpdir_free(f->tmp);
    free(f);
    return 0;
}

static void run(const codec_block *in, const int64_t *res, size_t nres, const char *out,
                int threads, downsample_stats *st)
{
    downsample_opts o = {0};
    o.threads = threads;
    o.verify = 1;
    st_err err;
    st_err_init(&err);
    if (downsample_block(in, res, nres, out, &o, st, &err))
        fail_msg("downsample %s: %s", in->dir, err.msg);
    assert_int_equal(st->nout, nres);
}

static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = tu_read(a, &la), *y = tu_read(b, &lb);
    int same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void expect_same_block_data(const char *a, const char *b)
{
    char pa[4200], pb[4200];
    static const char *const files[] = {"index", "chunks/000001"};
    for (size_t i = 0; i < ST_ARRAY_LEN(files); i++) {
        snprintf(pa, sizeof(pa), "%s/%s", a, files[i]);
        snprintf(pb, sizeof(pb), "%s/%s", b, files[i]);
        if (!same_file(pa, pb))
            fail_msg("%s differs between %s and %s", files[i], a, b);
    }
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void downsample_block__makes_5m_and_1h_from_one_read_with_thanos_meta(void **state)
{
    fixture *f = *state;
    char out[4200];
    snprintf(out, sizeof(out), "%s/out", f->tmp);
    static const int64_t res[] = {300000, 3600000};
    static downsample_stats st;
    run(f->in, res, 2, out, 2, &st);
    assert_int_equal(entries(out), 2);
    assert_int_equal(st.in_series, 4);
    assert_int_equal(st.hist_series_skipped, 1);
    assert_int_equal(st.hist_chunks_skipped, 2);
    assert_string_not_equal(st.out[0].ulid.s, st.out[1].ulid.s);
    for (size_t k = 0; k < 2; k++) {
        codec_meta *m;
        st_err err;
        st_err_init(&err);
        char p[4200];
        snprintf(p, sizeof(p), "%s/meta.json", st.out[k].dir);
        assert_int_equal(codec_meta_read(&m, p, &err), 0);
        assert_string_equal(m->ulid.s, st.out[k].ulid.s);
        assert_string_not_equal(m->ulid.s, "01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB");
        assert_int_equal(m->min_time, 1700000040000LL);
        assert_int_equal(m->max_time, 1700108040000LL);
        assert_int_equal(m->level, 3);
        assert_int_equal(m->nsources, 2);
        assert_string_equal(m->sources[1].s, "01HQ7S5M1T7Y6X3VZ3Z1Q4K2A2");
        assert_int_equal(m->thanos.resolution, res[k]);
        assert_string_equal(m->thanos.source, "compactor");
        assert_int_equal(m->thanos.nlabels, 1);
        assert_string_equal(m->thanos.labels[0].value, "eu1");
        assert_null(m->thanos.upload_time);
        assert_int_equal(m->stats.num_series, 2); /* c_hist skipped, d_nan empty */
        assert_int_equal(m->stats.num_series, st.out[k].series);
        assert_int_equal(m->stats.num_chunks, st.out[k].chunks);
        assert_int_equal(m->stats.num_samples, st.out[k].samples);
        assert_int_equal(m->thanos.nfiles, 3);
        assert_string_equal(m->thanos.files[0].rel_path, "chunks/000001");
        assert_string_equal(m->thanos.files[1].rel_path, "index");
        assert_int_equal(m->thanos.nsegment_files, 1);
        codec_meta_free(m);
        /* the extension kept, no tombstones file (Thanos' compactor output has none) */
        size_t len;
        uint8_t *txt = tu_read(p, &len);
        assert_non_null(strstr((const char *)txt, "\"team\": \"x\""));
        free(txt);
        snprintf(p, sizeof(p), "%s/tombstones", st.out[k].dir);
        struct stat sb;
        assert_int_not_equal(stat(p, &sb), 0);
    }
    /* a: 30 hours of 1m samples give three 5m chunks and one 1h chunk; b: its float runs on
     * either side of the histogram chunk are downsampled apart (two 5m chunks), and the 1h
     * level reads those as one run, as it would read our 5m block. The data starts 4 minutes
     * into a 5m window: 361 windows for a, 121 for each run of b. */
    assert_int_equal(st.out[0].chunks, 3 + 2);
    assert_int_equal(st.out[1].chunks, 1 + 1);
    assert_int_equal(st.out[0].samples, 361 + 2 * 121);
}

static void downsample_block__1h_from_one_read_is_1h_from_the_5m_block(void **state)
{
    fixture *f = *state;
    char one[4200], two[4200], three[4200];
    snprintf(one, sizeof(one), "%s/one", f->tmp);
    snprintf(two, sizeof(two), "%s/two", f->tmp);
    snprintf(three, sizeof(three), "%s/three", f->tmp);
    static const int64_t both[] = {300000, 3600000}, m5[] = {300000}, h1[] = {3600000};
    static downsample_stats a, b, c;
    run(f->in, both, 2, one, 1, &a);
    run(f->in, m5, 1, two, 3, &b);
    codec_block *blk5;
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_block_open(&blk5, b.out[0].dir, &err), 0);
    run(blk5, h1, 1, three, 2, &c);
    /* the 5m block read back: its chunks count its windows; the 1h chain sees the same */
    assert_int_equal(c.in_samples, b.out[0].samples);
    codec_block_free(blk5);
    expect_same_block_data(a.out[0].dir, b.out[0].dir);
    expect_same_block_data(a.out[1].dir, c.out[0].dir);
}

/* Every sub-chunk of every chunk of dir is the bytes the plain encoder gives its samples, one
 * append at a time; returns the most windows a chunk holds. */
static size_t expect_plain_encoding(const char *dir)
{
    codec_block *b;
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_block_open(&b, dir, &err), 0);
    codec_series_iter *it;
    assert_int_equal(codec_series_iter_create(&it, b->index, &err), 0);
    codec_xor_enc enc;
    codec_xor_enc_init(&enc);
    size_t most = 0;
    static int64_t t[4096];
    static double v[4096];
    while (codec_series_iter_next(it, &err) == 0) {
        const codec_series *s = codec_series_iter_at(it);
        for (uint32_t c = 0; c < s->nchunks; c++) {
            codec_chunk ch, sub[CODEC_AGGR_N];
            assert_int_equal(codec_chunk_reader_get(b->chunks, s->chunks[c].ref, &ch, &err), 0);
            assert_int_equal(codec_aggr_parse(ch.data, ch.len, sub, NULL, "t", &err), 0);
            for (int a = 0; a < CODEC_AGGR_N; a++) {
                if (!sub[a].enc)
                    continue;
                size_t n;
                assert_int_equal(
                    codec_xor_decode(sub[a].data, sub[a].len, t, v, 4096, &n, "t", &err), 0);
                if (a == CODEC_AGGR_COUNT && n > most)
                    most = n;
                codec_xor_enc_reset(&enc);
                for (size_t i = 0; i < n; i++)
                    assert_int_equal(codec_xor_enc_append(&enc, t[i], v[i]), 0);
                codec_chunk x = codec_xor_enc_chunk(&enc);
                if (x.len != sub[a].len || memcmp(x.data, sub[a].data, x.len) != 0)
                    fail_msg("%s: chunk %u, %s sub-chunk: %u bytes, the plain encoder gives %u",
                             dir, c, codec_aggr_name(a), (unsigned)sub[a].len, (unsigned)x.len);
            }
        }
    }
    codec_xor_enc_release(&enc);
    codec_series_iter_free(it);
    codec_block_free(b);
    return most;
}

/* The aggregates go through the encoders in several passes (count alone, the counter in a lane
 * of sum, min and max's pass from its third window on): the bytes are still each sample's. */
static void downsample_block__encodes_aggregates_as_the_plain_encoder_does(void **state)
{
    fixture *f = *state;
    char out[4200];
    snprintf(out, sizeof(out), "%s/plain", f->tmp);
    static const int64_t res[] = {300000, 3600000, 14400000};
    static downsample_stats st;
    run(f->in, res, 3, out, 1, &st);
    assert_true(expect_plain_encoding(st.out[0].dir) >= 100); /* the lanes' path: long chunks */
    assert_true(expect_plain_encoding(st.out[1].dir) >= 30);
    expect_plain_encoding(st.out[2].dir); /* short chunks: one pass each */
}

static void downsample_block__counters_read_back_to_the_raw_totals(void **state)
{
    fixture *f = *state;
    char out[4200];
    snprintf(out, sizeof(out), "%s/rb", f->tmp);
    static const int64_t res[] = {300000, 3600000};
    static downsample_stats st;
    run(f->in, res, 2, out, 2, &st);
    for (size_t k = 0; k < 2; k++) {
        codec_block *b;
        st_err err;
        st_err_init(&err);
        assert_int_equal(codec_block_open(&b, st.out[k].dir, &err), 0);
        codec_series_iter *it;
        assert_int_equal(codec_series_iter_create(&it, b->index, &err), 0);
        assert_int_equal(codec_series_iter_next(it, &err), 0);
        const codec_series *s = codec_series_iter_at(it);
        assert_true(s->labels[0].value.len == 9 &&
                    memcmp(s->labels[0].value.p, "a_counter", 9) == 0);
        /* read the counter as the querier does, across the chunks */
        int started = 0;
        int64_t lt = 0;
        double lv = 0, total = 0;
        size_t checked = 0;
        for (uint32_t c = 0; c < s->nchunks; c++) {
            codec_chunk ch, sub[CODEC_AGGR_N];
            assert_int_equal(codec_chunk_reader_get(b->chunks, s->chunks[c].ref, &ch, &err), 0);
            assert_int_equal(ch.enc, CODEC_ENC_AGGR);
            assert_int_equal(codec_aggr_parse(ch.data, ch.len, sub, NULL, "t", &err), 0);
            int64_t t[2048];
            double v[2048];
            size_t n;
            assert_int_equal(codec_xor_decode(sub[4].data, sub[4].len, t, v, 2048, &n, "t", &err),
                             0);
            for (size_t i = 0; i < n; i++) {
                if (!started) {
                    started = 1;
                    total = v[i];
                } else if (t[i] > lt) {
                    total += v[i] >= lv ? v[i] - lv : v[i];
                } else {
                    if (t[i] == lt)
                        lv = v[i];
                    continue;
                }
                lt = t[i];
                lv = v[i];
                /* raw total up to t[i] */
                double want = 0, last = 0;
                for (int r = 0; r < N_RAW && MIN_T + (int64_t)r * 60000 <= t[i]; r++) {
                    double x = raw_value(0, r);
                    want = r == 0 ? x : want + (x < last ? x : x - last);
                    last = x;
                }
                if (total != want)
                    fail_msg("res %lld: counter total at %lld is %g, raw %g",
                             (long long)st.out[k].resolution, (long long)t[i], total, want);
                checked++;
            }
        }
        assert_true(checked > 20);
        codec_series_iter_free(it);
        codec_block_free(b);
    }
}

static void downsample_block__gives_the_same_bytes_on_any_number_of_threads(void **state)
{
    fixture *f = *state;
    static const int64_t res[] = {300000, 3600000};
    static downsample_stats st[3];
    static const int threads[] = {1, 2, 5};
    for (int i = 0; i < 3; i++) {
        char out[4200];
        snprintf(out, sizeof(out), "%s/thr%d", f->tmp, threads[i]);
        run(f->in, res, 2, out, threads[i], &st[i]);
    }
    for (int i = 1; i < 3; i++)
        for (int k = 0; k < 2; k++)
            expect_same_block_data(st[0].out[k].dir, st[i].out[k].dir);
}

static void downsample_block__refuses_bad_resolutions(void **state)
{
    fixture *f = *state;
    char out[4200];
    snprintf(out, sizeof(out), "%s/bad", f->tmp);
    static const int64_t down[] = {3600000, 300000}, zero[] = {0}, same[] = {300000, 300000};
    downsample_opts o = {0};
    static downsample_stats st;
    st_err err;
    st_err_init(&err);
    assert_int_equal(downsample_block(f->in, down, 2, out, &o, &st, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "must increase"));
    st_err_init(&err);
    assert_int_equal(downsample_block(f->in, zero, 1, out, &o, &st, &err), ST_EINVAL);
    st_err_init(&err);
    assert_int_equal(downsample_block(f->in, same, 2, out, &o, &st, &err), ST_EINVAL);
    st_err_init(&err);
    assert_int_equal(downsample_block(f->in, down, 0, out, &o, &st, &err), ST_EINVAL);
    assert_int_equal(entries(out), 0);
}

static void downsample_block__refuses_a_5m_target_for_a_5m_block(void **state)
{
    fixture *f = *state;
    char out[4200], again[4200];
    snprintf(out, sizeof(out), "%s/m5", f->tmp);
    snprintf(again, sizeof(again), "%s/m5again", f->tmp);
    static const int64_t m5[] = {300000};
    static downsample_stats st;
    run(f->in, m5, 1, out, 1, &st);
    codec_block *b;
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_block_open(&b, st.out[0].dir, &err), 0);
    downsample_opts o = {0};
    assert_int_equal(downsample_block(b, m5, 1, again, &o, &st, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "the block's resolution"));
    codec_block_free(b);
}

/* Make the first series' second chunk start at the first one's maxt, which Thanos calls
 * overlapping (our index writer refuses to write it; Prometheus 2.42's does not check): its
 * mint gap is re-encoded as a 3-byte uvarint 0 in place (Go's reader takes non-minimal
 * varints) and the series entry's CRC is recomputed. */
static void make_first_series_overlap(const char *dir)
{
    char p[4300];
    snprintf(p, sizeof(p), "%s/index", dir);
    size_t len;
    uint8_t *ix = tu_read(p, &len);
    uint64_t off = codec_get_be64(ix + len - CODEC_INDEX_TOC_SIZE + 8); /* TOC: series */
    off = (off + 15) & ~15ull;
    codec_decbuf d;
    codec_decbuf_init(&d, ix, ix + off, len - off);
    uint64_t elen = codec_dec_uvarint(&d);
    uint8_t *content = (uint8_t *)d.p;
    uint64_t nl = codec_dec_uvarint(&d);
    for (uint64_t i = 0; i < 2 * nl; i++)
        codec_dec_uvarint(&d);
    assert_int_equal(codec_dec_uvarint(&d), 3); /* chunks */
    codec_dec_varint(&d);
    codec_dec_uvarint(&d);
    codec_dec_uvarint(&d);
    uint8_t *gap = (uint8_t *)d.p;
    assert_int_equal(codec_dec_uvarint(&d), 60000);
    assert_int_equal(d.p - gap, 3);
    assert_int_equal(d.err, 0);
    gap[0] = 0x80, gap[1] = 0x80, gap[2] = 0x00;
    codec_put_be32(content + elen, codec_crc32c(0, content, elen));
    tu_write(p, ix, len);
    free(ix);
}

static void downsample_block__leaves_nothing_behind_on_overlapping_chunks(void **state)
{
    fixture *f = *state;
    char bad[4200], out[4200];
    snprintf(bad, sizeof(bad), "%s/badin/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AB", f->tmp);
    snprintf(out, sizeof(out), "%s/badout", f->tmp);
    write_raw_block(bad);
    make_first_series_overlap(bad);
    codec_block *b;
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_block_open(&b, bad, &err), 0);
    static const int64_t res[] = {300000, 3600000};
    downsample_opts o = {0};
    o.threads = 2;
    static downsample_stats st;
    assert_int_equal(downsample_block(b, res, 2, out, &o, &st, &err), ST_ECORRUPT);
    assert_non_null(strstr(err.msg, "overlapping chunks"));
    assert_non_null(strstr(err.msg, "a_counter"));
    assert_int_equal(st.nout, 0);
    assert_int_equal(entries(out), 0); /* no block, no .tmp-for-creation */
    codec_block_free(b);
}

static void downsample_block__decodes_only_when_asked_to(void **state)
{
    fixture *f = *state;
    char out[4200];
    snprintf(out, sizeof(out), "%s/dec", f->tmp);
    static const int64_t res[] = {300000};
    downsample_opts o = {0};
    o.decode_only = 1;
    static downsample_stats st;
    st_err err;
    st_err_init(&err);
    assert_int_equal(downsample_block(f->in, res, 1, out, &o, &st, &err), 0);
    assert_int_equal(st.nout, 0);
    assert_int_equal(entries(out), 0);
    assert_int_equal(st.in_chunks, 8);
    assert_int_equal(st.in_samples, 3 * N_RAW - N_RAW / 3); /* XOR samples: a, b's two, d */
}

/* Chunk k of c as AggrChunk bytes in b (XOR sub-chunks). */
static void encode_aggr(const ds_chunks *c, size_t k, st_buf *b)
{
    codec_xor_enc enc[CODEC_AGGR_N];
    codec_chunk sub[CODEC_AGGR_N];
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        codec_xor_enc_init(&enc[a]);
        size_t from = c->off[a][k], n = c->off[a][k + 1] - from;
        sub[a] = (codec_chunk){.enc = 0};
        if (!n)
            continue;
        assert_int_equal(codec_xor_enc_append_batch(&enc[a], c->t[a] + from, c->v[a] + from, n), 0);
        codec_chunk x = codec_xor_enc_chunk(&enc[a]);
        sub[a] = (codec_chunk){.enc = CODEC_ENC_XOR, .data = x.data, .len = x.len};
    }
    st_buf_reset(b);
    assert_int_equal(codec_aggr_encode(b, sub), 0);
    for (int a = 0; a < CODEC_AGGR_N; a++)
        codec_xor_enc_release(&enc[a]);
}

/* The first series of a downsampled block, decoded into out. */
static void load_first_series(const char *dir, ds_chunks *out)
{
    codec_block *b;
    st_err err;
    st_err_init(&err);
    assert_int_equal(codec_block_open(&b, dir, &err), 0);
    codec_series_iter *it;
    assert_int_equal(codec_series_iter_create(&it, b->index, &err), 0);
    assert_int_equal(codec_series_iter_next(it, &err), 0);
    const codec_series *s = codec_series_iter_at(it);
    for (uint32_t c = 0; c < s->nchunks; c++) {
        codec_chunk ch, sub[CODEC_AGGR_N];
        assert_int_equal(codec_chunk_reader_get(b->chunks, s->chunks[c].ref, &ch, &err), 0);
        assert_int_equal(codec_aggr_parse(ch.data, ch.len, sub, NULL, "t", &err), 0);
        static int64_t t[CODEC_AGGR_N][4096];
        static double v[CODEC_AGGR_N][4096];
        const int64_t *tp[CODEC_AGGR_N];
        const double *vp[CODEC_AGGR_N];
        size_t np[CODEC_AGGR_N] = {0};
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            tp[a] = t[a];
            vp[a] = v[a];
            if (sub[a].enc)
                assert_int_equal(
                    codec_xor_decode(sub[a].data, sub[a].len, t[a], v[a], 4096, &np[a], "t", &err),
                    0);
        }
        assert_int_equal(ds_chunks_add(out, tp, vp, np, s->chunks[c].mint, s->chunks[c].maxt, 0),
                         0);
    }
    codec_series_iter_free(it);
    codec_block_free(b);
}

static void expect_same_chunks(const ds_chunks *a, const ds_chunks *b)
{
    assert_int_equal(a->nchunks, b->nchunks);
    for (size_t c = 0; c < a->nchunks; c++) {
        assert_true(a->mint[c] == b->mint[c] && a->maxt[c] == b->maxt[c]);
        for (int g = 0; g < CODEC_AGGR_N; g++) {
            size_t na = a->off[g][c + 1] - a->off[g][c], nb = b->off[g][c + 1] - b->off[g][c];
            assert_int_equal(na, nb);
            for (size_t i = 0; i < na; i++) /* to the bit: NaN payloads and signed zeros */
                assert_true(a->t[g][a->off[g][c] + i] == b->t[g][b->off[g][c] + i] &&
                            memcmp(&a->v[g][a->off[g][c] + i], &b->v[g][b->off[g][c] + i],
                                   sizeof(double)) == 0);
        }
    }
}

/* A 5m block as Thanos may have left it: aggregate chunk A, an empty XOR chunk (#5272), a raw XOR
 * chunk X, a native-histogram aggregate chunk H, aggregate chunk B. Thanos skips the empty chunk,
 * downsamples X to 5m first, and cuts the run at H: 1h is (A + X at 5m) then (B). */
static void downsample_block__repairs_a_5m_block_as_thanos_does(void **state)
{
    fixture *f = *state;
    char dir[4200], p[4300], out[4200];
    snprintf(dir, sizeof(dir), "%s/repair/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AC", f->tmp);
    snprintf(out, sizeof(out), "%s/repair-out", f->tmp);
    st_err err;
    st_err_init(&err);
    assert_int_equal(st_mkdir_p(dir, &err), 0);
    ds_chunks in5, xs, want, got;
    ds_work w;
    ds_chunks_init(&in5);
    ds_chunks_init(&xs);
    ds_chunks_init(&want);
    ds_chunks_init(&got);
    ds_work_init(&w);
    /* A: 0..10h, X: raw 12h..14h, B: 20h..30h (1-minute samples) */
    static int64_t t[2000];
    static double v[2000];
    const int64_t h = 3600000, t0 = 1700006400000LL; /* aligned to 1h */
    size_t n = 0;
    for (int i = 0; i < 600; i++, n++)
        t[n] = t0 + i * 60000, v[n] = i;
    assert_int_equal(ds_downsample_raw(t, v, n, 300000, 0, 1, &in5, &w, &err), 0); /* A */
    int64_t xt[120];
    double xv[120];
    for (int i = 0; i < 120; i++)
        xt[i] = t0 + 12 * h + i * 60000, xv[i] = 600 + i;
    n = 0;
    for (int i = 0; i < 600; i++, n++)
        t[n] = t0 + 20 * h + i * 60000, v[n] = 5 + i;
    assert_int_equal(ds_downsample_raw(t, v, n, 300000, 0, 1, &in5, &w, &err), 0); /* B */
    assert_int_equal(in5.nchunks, 2);

    snprintf(p, sizeof(p), "%s/chunks", dir);
    codec_chunk_writer *cw;
    assert_int_equal(codec_chunk_writer_create(&cw, p, 0, &err), 0);
    st_buf ba, bb;
    st_buf_init(&ba, 0);
    st_buf_init(&bb, 0);
    encode_aggr(&in5, 0, &ba);
    encode_aggr(&in5, 1, &bb);
    codec_xor_enc ex, ee;
    codec_xor_enc_init(&ex);
    codec_xor_enc_init(&ee);
    assert_int_equal(codec_xor_enc_append_batch(&ex, xt, xv, 120), 0);
    codec_chunk xc = codec_xor_enc_chunk(&ex), ec = codec_xor_enc_chunk(&ee);
    /* H: count XOR, sum and counter float histogram (opaque bytes), no min/max */
    static const uint8_t fh[] = {0x00, 0x01, 0x00, 0x55};
    codec_chunk hsub[CODEC_AGGR_N] = {
        {.enc = CODEC_ENC_XOR, .data = ec.data, .len = ec.len},
        {.enc = CODEC_ENC_FLOAT_HISTOGRAM, .data = fh, .len = 4},
        {.enc = 0},
        {.enc = 0},
        {.enc = CODEC_ENC_FLOAT_HISTOGRAM, .data = fh, .len = 4},
    };
    st_buf bh;
    st_buf_init(&bh, 0);
    assert_int_equal(codec_aggr_encode(&bh, hsub), 0);
    codec_chunk chks[5] = {
        {.enc = CODEC_ENC_AGGR, .data = ba.p, .len = (uint32_t)ba.len},
        {.enc = CODEC_ENC_XOR, .data = ec.data, .len = ec.len},
        {.enc = CODEC_ENC_XOR, .data = xc.data, .len = xc.len},
        {.enc = CODEC_ENC_AGGR, .data = bh.p, .len = (uint32_t)bh.len},
        {.enc = CODEC_ENC_AGGR, .data = bb.p, .len = (uint32_t)bb.len},
    };
    codec_chunk_meta metas[5] = {
        {.mint = in5.mint[0], .maxt = in5.maxt[0]}, {.mint = t0 + 11 * h, .maxt = t0 + 11 * h},
        {.mint = xt[0], .maxt = xt[119]},           {.mint = t0 + 16 * h, .maxt = t0 + 17 * h},
        {.mint = in5.mint[1], .maxt = in5.maxt[1]},
    };
    uint64_t refs[5];
    assert_int_equal(codec_chunk_writer_write(cw, chks, 5, refs, &err), 0);
    for (int i = 0; i < 5; i++)
        metas[i].ref = refs[i];
    assert_int_equal(codec_chunk_writer_close(cw, &err), 0);
    codec_chunk_writer_free(cw);
    snprintf(p, sizeof(p), "%s/index", dir);
    codec_index_writer *iw;
    assert_int_equal(codec_index_writer_create(&iw, p, &err), 0);
    assert_int_equal(codec_index_writer_add_symbol(iw, codec_str_c("__name__"), &err), 0);
    assert_int_equal(codec_index_writer_add_symbol(iw, codec_str_c("x"), &err), 0);
    codec_label l = {codec_str_c("__name__"), codec_str_c("x")};
    assert_int_equal(codec_index_writer_add_series(iw, &l, 1, metas, 5, NULL, &err), 0);
    assert_int_equal(codec_index_writer_close(iw, &err), 0);
    codec_index_writer_free(iw);
    char meta[512];
    snprintf(
        meta, sizeof(meta),
        "{\"ulid\": \"01HQ7S5M1T7Y6X3VZ3Z1Q4K2AC\", \"minTime\": %lld, \"maxTime\": %lld, "
        "\"stats\": {}, \"compaction\": {\"level\": 1, \"sources\": "
        "[\"01HQ7S5M1T7Y6X3VZ3Z1Q4K2AC\"]}, \"version\": 1, \"thanos\": {\"labels\": "
        "{\"a\": \"b\"}, \"downsample\": {\"resolution\": 300000}, \"source\": \"compactor\"}}",
        (long long)t0, (long long)(t0 + 31 * h));
    snprintf(p, sizeof(p), "%s/meta.json", dir);
    tu_write(p, meta, strlen(meta));

    codec_block *blk;
    assert_int_equal(codec_block_open(&blk, dir, &err), 0);
    static const int64_t res[] = {3600000};
    static downsample_stats st;
    run(blk, res, 1, out, 2, &st);
    assert_int_equal(st.empty_xor_skipped, 1);
    assert_int_equal(st.xor_repaired, 1);
    assert_int_equal(st.hist_chunks_skipped, 1);
    codec_block_free(blk);

    /* what Thanos computes: (A, X at 5m) as one run, then B */
    ds_chunks run1;
    ds_chunks_init(&run1);
    const int64_t *tp[CODEC_AGGR_N];
    const double *vp[CODEC_AGGR_N];
    size_t np[CODEC_AGGR_N];
    for (int a = 0; a < CODEC_AGGR_N; a++) {
        tp[a] = in5.t[a] + in5.off[a][0];
        vp[a] = in5.v[a] + in5.off[a][0];
        np[a] = in5.off[a][1] - in5.off[a][0];
    }
    assert_int_equal(ds_chunks_add(&run1, tp, vp, np, in5.mint[0], in5.maxt[0], 0), 0);
    assert_int_equal(ds_downsample_raw(xt, xv, 120, 300000, 0, 0, &run1, &w, &err), 0);
    assert_int_equal(run1.nchunks, 2);
    assert_int_equal(ds_downsample_aggr(&run1, 0, 2, 300000, 3600000, 0, &want, &w, &err), 0);
    assert_int_equal(ds_downsample_aggr(&in5, 1, 2, 300000, 3600000, 0, &want, &w, &err), 0);
    load_first_series(st.out[0].dir, &got);
    assert_int_equal(got.nchunks, 2);
    expect_same_chunks(&want, &got);

    ds_chunks_release(&run1);
    ds_chunks_release(&in5);
    ds_chunks_release(&xs);
    ds_chunks_release(&want);
    ds_chunks_release(&got);
    ds_work_release(&w);
    st_buf_release(&ba);
    st_buf_release(&bb);
    st_buf_release(&bh);
    codec_xor_enc_release(&ex);
    codec_xor_enc_release(&ee);
}

/* A one-series block at res in dir holding these chunks (meta stats left for verify to count). */
static void write_one_series(const char *dir, const codec_chunk *chks, codec_chunk_meta *metas,
                             size_t n, uint64_t samples, int64_t res)
{
    char p[4300];
    st_err err;
    st_err_init(&err);
    assert_int_equal(st_mkdir_p(dir, &err), 0);
    snprintf(p, sizeof(p), "%s/chunks", dir);
    codec_chunk_writer *cw;
    assert_int_equal(codec_chunk_writer_create(&cw, p, 0, &err), 0);
    uint64_t refs[8];
    assert_int_equal(codec_chunk_writer_write(cw, chks, n, refs, &err), 0);
    for (size_t i = 0; i < n; i++)
        metas[i].ref = refs[i];
    assert_int_equal(codec_chunk_writer_close(cw, &err), 0);
    codec_chunk_writer_free(cw);
    snprintf(p, sizeof(p), "%s/index", dir);
    codec_index_writer *iw;
    assert_int_equal(codec_index_writer_create(&iw, p, &err), 0);
    assert_int_equal(codec_index_writer_add_symbol(iw, codec_str_c("__name__"), &err), 0);
    assert_int_equal(codec_index_writer_add_symbol(iw, codec_str_c("x"), &err), 0);
    codec_label l = {codec_str_c("__name__"), codec_str_c("x")};
    assert_int_equal(codec_index_writer_add_series(iw, &l, 1, metas, (uint32_t)n, NULL, &err), 0);
    assert_int_equal(codec_index_writer_close(iw, &err), 0);
    codec_index_writer_free(iw);
    char meta[512];
    snprintf(meta, sizeof(meta),
             "{\"ulid\": \"01HQ7S5M1T7Y6X3VZ3Z1Q4K2AD\", \"minTime\": 0, \"maxTime\": 100000000, "
             "\"stats\": {\"numSamples\": %llu, \"numSeries\": 1, \"numChunks\": %zu}, "
             "\"compaction\": {\"level\": 1}, \"version\": 1, \"thanos\": {\"labels\": {}, "
             "\"downsample\": {\"resolution\": %lld}, \"source\": \"compactor\"}}",
             (unsigned long long)samples, n, (long long)res);
    snprintf(p, sizeof(p), "%s/meta.json", dir);
    tu_write(p, meta, strlen(meta));
}

/* Count, sum, min and max of a 5m chunk downsampled to 1h share their stamps when they share
 * them in the input, and go through one shared encode; when the input's disagree (a sum that
 * stops early, a min whose last stamp differs), each is encoded on its own and every aggregate
 * still reads back as ds_downsample_aggr computes it. */
static void downsample_block__encodes_aggregates_whose_stamps_disagree(void **state)
{
    fixture *f = *state;
    enum { N = 600 }; /* a sample a minute for 10 h */
    static const char *const names[] = {"stamps agree", "sum stops early", "min's last stamp"};
    static int64_t t[N], mt[N];
    static double v[N];
    st_err err;
    st_err_init(&err);
    ds_work w;
    ds_work_init(&w);
    for (size_t c = 0; c < ST_ARRAY_LEN(names); c++) {
        for (int i = 0; i < N; i++) {
            t[i] = 3600000 + 60000 * (int64_t)i;
            v[i] = (double)((i * 37) % 101) * 0.25;
        }
        ds_chunks in5, mod, want, got;
        ds_chunks_init(&in5);
        ds_chunks_init(&mod);
        ds_chunks_init(&want);
        ds_chunks_init(&got);
        assert_int_equal(ds_downsample_raw(t, v, N, 300000, 0, 1, &in5, &w, &err), 0);
        assert_int_equal(in5.nchunks, 1);
        const int64_t *tp[CODEC_AGGR_N];
        const double *vp[CODEC_AGGR_N];
        size_t np[CODEC_AGGR_N];
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            tp[a] = in5.t[a];
            vp[a] = in5.v[a];
            np[a] = in5.n[a];
        }
        if (c == 1)
            np[CODEC_AGGR_SUM] /= 2;
        if (c == 2) {
            memcpy(mt, in5.t[CODEC_AGGR_MIN], in5.n[CODEC_AGGR_MIN] * sizeof(int64_t));
            mt[in5.n[CODEC_AGGR_MIN] - 1]--; /* the same windows, another last stamp */
            tp[CODEC_AGGR_MIN] = mt;
        }
        assert_int_equal(ds_chunks_add(&mod, tp, vp, np, in5.mint[0], in5.maxt[0], DS_GROUP_START),
                         0);
        st_buf b;
        st_buf_init(&b, 0);
        encode_aggr(&mod, 0, &b);
        codec_chunk ch = {.enc = CODEC_ENC_AGGR, .data = b.p, .len = (uint32_t)b.len};
        codec_chunk_meta m = {.mint = mod.mint[0], .maxt = mod.maxt[0]};
        char dir[4200], out[4200];
        snprintf(dir, sizeof(dir), "%s/disagree%zu/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AD", f->tmp, c);
        snprintf(out, sizeof(out), "%s/disagree%zu-out", f->tmp, c);
        write_one_series(dir, &ch, &m, 1, np[CODEC_AGGR_COUNT], 300000);

        codec_block *blk;
        assert_int_equal(codec_block_open(&blk, dir, &err), 0);
        static const int64_t res[] = {3600000};
        static downsample_stats st;
        downsample_opts o = {0}; /* no verify: it refuses such chunks, rightly */
        o.threads = 1;
        if (downsample_block(blk, res, 1, out, &o, &st, &err))
            fail_msg("%s: %s", names[c], err.msg);
        codec_block_free(blk);
        assert_int_equal(ds_downsample_aggr(&mod, 0, 1, 300000, 3600000, 0, &want, &w, &err), 0);
        load_first_series(st.out[0].dir, &got);
        print_message("%s\n", names[c]);
        expect_same_chunks(&want, &got);
        st_buf_release(&b);
        ds_chunks_release(&in5);
        ds_chunks_release(&mod);
        ds_chunks_release(&want);
        ds_chunks_release(&got);
    }
    ds_work_release(&w);
}

/* Raw series that need expandChunkIterator's filters or the batch NaN filter (a stale marker,
 * another NaN, infinities, samples going back in time within a chunk and across chunks, a
 * negative timestamp), signed zeros and a clean series: each comes out of a block exactly as
 * ds_expand per chunk and ds_downsample_raw compute it from the decoded samples. The block path
 * sends clean series past the filters; this is what keeps it honest about which are clean. */
static void downsample_block__filters_raw_series_as_thanos_does(void **state)
{
    fixture *f = *state;
    enum { PER = 240, NC = 2 }; /* two chunks of an hour at 15 s */
    static const char *const names[] = {"clean",          "stale marker", "NaN",
                                        "infinities",     "back in time", "back across chunks",
                                        "negative start", "signed zeros"};
    static int64_t t[NC][PER], all_t[NC * PER];
    static double v[NC][PER], all_v[NC * PER];
    const uint64_t stale = 0x7ff0000000000002ull;
    st_err err;
    st_err_init(&err);
    ds_work w;
    ds_work_init(&w);
    for (size_t k = 0; k < ST_ARRAY_LEN(names); k++) {
        for (int c = 0; c < NC; c++)
            for (int i = 0; i < PER; i++) {
                t[c][i] = 3600000 + (int64_t)(c * PER + i) * 15000 + i % 3;
                v[c][i] = 1000.0 + (double)((i * 37) % 101) * 0.5;
            }
        switch (k) {
        case 1:
            memcpy(&v[0][100], &stale, sizeof(double));
            break;
        case 2:
            v[1][50] = NAN;
            break;
        case 3:
            v[0][10] = INFINITY;
            v[0][11] = -INFINITY;
            v[1][5] = INFINITY;
            break;
        case 4:
            t[0][120] = t[0][119] - 1000;
            break;
        case 5:
            for (int i = 0; i < 10; i++)
                t[1][i] = t[0][PER - 1] - 40000 + i;
            break;
        case 6:
            t[0][0] = -15000;
            break;
        case 7:
            for (int i = 0; i < 40; i++)
                v[0][i] = i % 2 ? 0.0 : -0.0;
            break;
        }
        codec_xor_enc enc[NC];
        codec_chunk chks[NC];
        codec_chunk_meta metas[NC];
        size_t n = 0;
        for (int c = 0; c < NC; c++) {
            codec_xor_enc_init(&enc[c]);
            for (int i = 0; i < PER; i++)
                assert_int_equal(codec_xor_enc_append(&enc[c], t[c][i], v[c][i]), 0);
            chks[c] = codec_xor_enc_chunk(&enc[c]);
            /* the index keeps chunks apart even where the samples do not */
            metas[c] = (codec_chunk_meta){.mint = c ? metas[c - 1].maxt + 1 : t[c][0],
                                          .maxt = t[c][PER - 1]};
            memcpy(all_t + n, t[c], sizeof(t[c]));
            memcpy(all_v + n, v[c], sizeof(v[c]));
            n += ds_expand(all_t + n, all_v + n, PER, all_t + n, all_v + n);
        }
        char dir[4200], out[4200];
        snprintf(dir, sizeof(dir), "%s/filters%zu/01HQ7S5M1T7Y6X3VZ3Z1Q4K2AD", f->tmp, k);
        snprintf(out, sizeof(out), "%s/filters%zu-out", f->tmp, k);
        write_one_series(dir, chks, metas, NC, NC * PER, 0);
        for (int c = 0; c < NC; c++)
            codec_xor_enc_release(&enc[c]);

        codec_block *blk;
        assert_int_equal(codec_block_open(&blk, dir, &err), 0);
        static const int64_t res[] = {300000};
        static downsample_stats st;
        run(blk, res, 1, out, 1, &st);
        codec_block_free(blk);
        ds_chunks want, got;
        ds_chunks_init(&want);
        ds_chunks_init(&got);
        assert_int_equal(ds_downsample_raw(all_t, all_v, n, 300000, 0, 1, &want, &w, &err), 0);
        load_first_series(st.out[0].dir, &got);
        print_message("%s\n", names[k]);
        expect_same_chunks(&want, &got);
        ds_chunks_release(&want);
        ds_chunks_release(&got);
    }
    ds_work_release(&w);
}

typedef struct vcase {
    const char *name;
    int64_t t[CODEC_AGGR_N][6]; /* -1 ends a list; a list starting with -2 is absent */
    int64_t mint, maxt;
    int trailing;
    const char *problem; /* NULL: clean */
} vcase;

static void verify__checks_every_sub_chunk_of_aggregate_chunks(void **state)
{
    fixture *f = *state;
    static const vcase cases[] = {
        {"a good chunk",
         {{10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {5, 10, 20, 20, -1}},
         10,
         20,
         0,
         NULL},
        {"counter sharing the first stamp",
         {{10, -1}, {10, -1}, {10, -1}, {10, -1}, {10, 10, 10, -1}},
         10,
         10,
         0,
         NULL},
        {"absent min and max",
         {{10, 20, -1}, {10, 20, -1}, {-2}, {-2}, {5, 10, 20, 20, -1}},
         10,
         20,
         0,
         NULL},
        {"sum short of count",
         {{10, 20, -1}, {10, -1}, {10, 20, -1}, {10, 20, -1}, {5, 10, 20, 20, -1}},
         10,
         20,
         0,
         "1 sum samples but 2 count"},
        {"max stamps repeat",
         {{10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {10, 10, -1}, {5, 10, 20, 20, -1}},
         10,
         20,
         0,
         "max timestamps out of order"},
        {"counter without its repeated last",
         {{10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {5, 10, 20, -1}},
         10,
         20,
         0,
         "does not end with its last window repeated"},
        {"counter going back",
         {{10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {5, 10, 9, 20, 20, -1}},
         10,
         20,
         0,
         "counter timestamps out"},
        {"index range wider than the windows",
         {{10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {5, 10, 20, 20, -1}},
         5,
         20,
         0,
         "has windows [10, 20] but the index says [5, 20]"},
        {"bytes after the entries",
         {{10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {10, 20, -1}, {5, 10, 20, 20, -1}},
         10,
         20,
         3,
         "3 bytes after its five"},
        {"no count samples",
         {{-2}, {10, -1}, {10, -1}, {10, -1}, {5, 10, 10, -1}},
         10,
         10,
         0,
         "has no count samples"},
    };
    for (size_t k = 0; k < ST_ARRAY_LEN(cases); k++) {
        const vcase *vc = &cases[k];
        codec_xor_enc enc[CODEC_AGGR_N];
        codec_chunk sub[CODEC_AGGR_N];
        uint64_t count = 0;
        for (int a = 0; a < CODEC_AGGR_N; a++) {
            codec_xor_enc_init(&enc[a]);
            sub[a] = (codec_chunk){.enc = 0};
            if (vc->t[a][0] == -2)
                continue;
            for (int i = 0; vc->t[a][i] != -1; i++)
                assert_int_equal(codec_xor_enc_append(&enc[a], vc->t[a][i], 1.0 + i), 0);
            codec_chunk x = codec_xor_enc_chunk(&enc[a]);
            sub[a] = (codec_chunk){.enc = CODEC_ENC_XOR, .data = x.data, .len = x.len};
            if (a == CODEC_AGGR_COUNT)
                count = codec_get_be16(x.data);
        }
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(codec_aggr_encode(&b, sub), 0);
        for (int i = 0; i < vc->trailing; i++)
            st_buf_putc(&b, 0xEE);
        codec_chunk c = {.enc = CODEC_ENC_AGGR, .data = b.p, .len = (uint32_t)b.len};
        codec_chunk_meta m = {.mint = vc->mint, .maxt = vc->maxt};
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/verify%zu", f->tmp, k);
        write_one_series(dir, &c, &m, 1, count, 300000);
        char out[8192] = {0};
        FILE *mem = fmemopen(out, sizeof(out), "w");
        verify_report r = {0};
        r.out = mem;
        r.max_print = 20;
        st_err err;
        st_err_init(&err);
        int rc = verify_block(dir, &r, &err);
        fclose(mem);
        assert_int_equal(rc, 0);
        if (!vc->problem && r.nproblems)
            fail_msg("%s: problems reported:\n%s", vc->name, out);
        if (vc->problem && (r.nproblems == 0 || !strstr(out, vc->problem)))
            fail_msg("%s: want a problem saying '%s', got:\n%s", vc->name, vc->problem, out);
        st_buf_release(&b);
        for (int a = 0; a < CODEC_AGGR_N; a++)
            codec_xor_enc_release(&enc[a]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(downsample_block__makes_5m_and_1h_from_one_read_with_thanos_meta),
        cmocka_unit_test(downsample_block__1h_from_one_read_is_1h_from_the_5m_block),
        cmocka_unit_test(downsample_block__encodes_aggregates_as_the_plain_encoder_does),
        cmocka_unit_test(downsample_block__counters_read_back_to_the_raw_totals),
        cmocka_unit_test(downsample_block__gives_the_same_bytes_on_any_number_of_threads),
        cmocka_unit_test(downsample_block__refuses_bad_resolutions),
        cmocka_unit_test(downsample_block__refuses_a_5m_target_for_a_5m_block),
        cmocka_unit_test(downsample_block__leaves_nothing_behind_on_overlapping_chunks),
        cmocka_unit_test(downsample_block__decodes_only_when_asked_to),
        cmocka_unit_test(downsample_block__repairs_a_5m_block_as_thanos_does),
        cmocka_unit_test(downsample_block__encodes_aggregates_whose_stamps_disagree),
        cmocka_unit_test(downsample_block__filters_raw_series_as_thanos_does),
        cmocka_unit_test(verify__checks_every_sub_chunk_of_aggregate_chunks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
