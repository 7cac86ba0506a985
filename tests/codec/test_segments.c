/*
 * test_segments.c - chunk segment files: write/read round trips, where the writer cuts segments
 * (Prometheus 2.42's per-series batching, worked out by hand for small segment sizes), corrupt
 * and truncated files, refs that point nowhere, and byte identity with the chunks/000001 files
 * promtool wrote (every block under testdata/blocks, plus a fresh one when promtool is there).
 */
#include "testutil.h"

#include "codec/codec.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *join(const char *a, const char *b)
{
    char *p = st_path_join(a, b);
    assert_non_null(p);
    return p;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* A chunk of `len` bytes whose content depends on `seed`. */
static codec_chunk make_chunk(uint8_t *buf, uint32_t len, unsigned seed)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 31 + i * 7);
    codec_chunk c = {.enc = CODEC_ENC_XOR, .data = buf, .len = len};
    return c;
}

/* Record size on disk: uvarint length + encoding + data + CRC. */
static uint64_t rec_size(uint32_t len)
{
    return codec_uvarint_len(len) + 1 + len + 4;
}

#define REF(seg, off) (((uint64_t)(seg) << 32) | (uint64_t)(off))

static void segments__round_trip_write_then_read(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *cdir = join(dir, "chunks");
    st_err err;
    st_err_init(&err);
    codec_chunk_writer *w;
    assert_int_equal(codec_chunk_writer_create(&w, cdir, 0, &err), 0);

    enum { NSERIES = 50, PER = 4 };
    static uint8_t data[NSERIES][PER][300];
    uint64_t refs[NSERIES][PER];
    uint64_t off = CODEC_SEGMENT_HEADER_SIZE;
    for (unsigned s = 0; s < NSERIES; s++) {
        codec_chunk c[PER];
        for (unsigned k = 0; k < PER; k++) {
            c[k] = make_chunk(data[s][k], (s * 37 + k * 101) % 300, s * PER + k);
            c[k].enc = (uint8_t)(k % 3 + 1);
        }
        assert_int_equal(codec_chunk_writer_write(w, c, PER, refs[s], &err), 0);
        for (unsigned k = 0; k < PER; k++) {
            assert_int_equal(refs[s][k], REF(0, off));
            off += rec_size(c[k].len);
        }
    }
    assert_int_equal(codec_chunk_writer_close(w, &err), 0);
    assert_int_equal(codec_chunk_writer_nsegments(w), 1);
    codec_chunk_writer_free(w);

    char *seg = join(cdir, "000001");
    assert_int_equal(file_size(seg), off); /* nothing preallocated, nothing missing */

    codec_chunk_reader *r;
    assert_int_equal(codec_chunk_reader_open(&r, cdir, &err), 0);
    assert_int_equal(codec_chunk_reader_nsegments(r), 1);
    assert_string_equal(codec_chunk_reader_segment_name(r, 0), "000001");
    assert_int_equal(codec_chunk_reader_segment_size(r, 0), off);
    for (unsigned s = 0; s < NSERIES; s++) {
        for (unsigned k = 0; k < PER; k++) {
            codec_chunk c;
            const uint8_t *rec;
            size_t rec_len;
            uint32_t len = (s * 37 + k * 101) % 300;
            assert_int_equal(codec_chunk_reader_record(r, refs[s][k], &c, &rec, &rec_len, &err), 0);
            assert_int_equal(c.enc, k % 3 + 1);
            assert_int_equal(c.len, len);
            if (len)
                assert_memory_equal(c.data, data[s][k], len);
            assert_int_equal(rec_len, rec_size(len));
            assert_ptr_equal(rec + codec_uvarint_len(len) + 1, c.data);
            codec_chunk g;
            assert_int_equal(codec_chunk_reader_get(r, refs[s][k], &g, &err), 0);
            assert_ptr_equal(g.data, c.data);
        }
    }
    codec_chunk_reader_free(r);
    st_free(seg);
    st_free(cdir);
    tu_tmpdir_free(dir);
}

/* Sizes of the segment files in cdir, in order; returns how many. */
static size_t segment_sizes(const char *cdir, uint64_t *sizes, size_t cap)
{
    size_t n = 0;
    for (unsigned i = 1; n < cap; i++) {
        char name[16];
        snprintf(name, sizeof(name), "%06u", i);
        char *p = join(cdir, name);
        struct stat st;
        int ok = stat(p, &st) == 0;
        st_free(p);
        if (!ok)
            break;
        sizes[n++] = (uint64_t)st.st_size;
    }
    return n;
}

/* segment_size 100, data lengths chosen so Prometheus' estimate (5 + 1 + len + 4) is easy:
 *   len 20 -> estimate 30, record 26 bytes;  len 200 -> estimate 210, record 207 bytes.
 *
 * A: two 20s. Fresh writer: batch 30, then 60 + 8 <= 100: one batch. Segment 0 = 8 + 52 = 60.
 * B: three 20s. Tail holds 60 > 8: first-batch rule: 30 + 60 = 90 <= 100 stays; 60 + 60 > 100
 *    cuts before B1; then 30 + 30 = 60, 60 + 8 <= 100 stays. B straddles: B0 in segment 0
 *    (now 86), B1 and B2 in segment 1 (8 + 52 = 60).
 * C: one 200, larger than the segment alone. Tail holds 60: 210 + 60 > 100 cuts before C0, so
 *    C0 sits alone in segment 2 (8 + 207 = 215).
 * D: one 20. Tail holds 215: 30 + 215 > 100 cuts: segment 3 (8 + 26 = 34).
 * E: four 20s into a tail of 34: 30 + 34 <= 100, 60 + 34 <= 100, 90 + 34 > 100 cuts before E2
 *    (first-batch rule ends); E2: 30, E3: 60 + 8 <= 100. Segment 3 = 34 + 52 = 86, segment 4 =
 *    8 + 52 = 60.
 * F: a fresh-writer rule check inside one call: five 20s into a tail of 60: 30 + 60 <= 100,
 *    60 + 60 > 100 cuts before F1; F1..F3: 30, 60, 90 with 90 + 8 <= 100; F4: 120 + 8 > 100
 *    cuts. Segment 4 = 86, segment 5 = 8 + 78 = 86, segment 6 = 8 + 26 = 34.
 * Close leaves no empty trailing segment: 7 files. */
static void segments__cuts_like_prometheus_with_a_small_segment_size(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *cdir = join(dir, "chunks");
    st_err err;
    st_err_init(&err);
    codec_chunk_writer *w;
    assert_int_equal(codec_chunk_writer_create(&w, cdir, 100, &err), 0);
    static uint8_t small[8][20], big[200];
    codec_chunk s[5], b;
    for (int i = 0; i < 5; i++)
        s[i] = make_chunk(small[i], 20, (unsigned)i);
    b = make_chunk(big, 200, 99);

    const struct {
        const char *name;
        int nchunks;
        int big;
        uint64_t want[5];
    } series[] = {
        {"A", 2, 0, {REF(0, 8), REF(0, 34)}},
        {"B", 3, 0, {REF(0, 60), REF(1, 8), REF(1, 34)}},
        {"C", 1, 1, {REF(2, 8)}},
        {"D", 1, 0, {REF(3, 8)}},
        {"E", 4, 0, {REF(3, 34), REF(3, 60), REF(4, 8), REF(4, 34)}},
        {"F", 5, 0, {REF(4, 60), REF(5, 8), REF(5, 34), REF(5, 60), REF(6, 8)}},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(series); i++) {
        uint64_t refs[5];
        int n = series[i].nchunks;
        assert_int_equal(codec_chunk_writer_write(w, series[i].big ? &b : s, (size_t)n, refs, &err),
                         0);
        for (int k = 0; k < n; k++)
            if (refs[k] != series[i].want[k])
                fail_msg("series %s chunk %d: ref %u:%u, want %u:%u", series[i].name, k,
                         (unsigned)(refs[k] >> 32), (unsigned)refs[k],
                         (unsigned)(series[i].want[k] >> 32), (unsigned)series[i].want[k]);
    }
    assert_int_equal(codec_chunk_writer_close(w, &err), 0);
    assert_int_equal(codec_chunk_writer_nsegments(w), 7);
    codec_chunk_writer_free(w);

    uint64_t sizes[16];
    const uint64_t want[] = {86, 60, 215, 86, 86, 86, 34};
    assert_int_equal(segment_sizes(cdir, sizes, 16), ST_ARRAY_LEN(want));
    for (size_t i = 0; i < ST_ARRAY_LEN(want); i++)
        if (sizes[i] != want[i])
            fail_msg("segment %zu: %llu bytes, want %llu", i + 1, (unsigned long long)sizes[i],
                     (unsigned long long)want[i]);

    /* and everything reads back through the reader */
    codec_chunk_reader *r;
    assert_int_equal(codec_chunk_reader_open(&r, cdir, &err), 0);
    assert_int_equal(codec_chunk_reader_nsegments(r), 7);
    for (size_t i = 0; i < ST_ARRAY_LEN(series); i++) {
        for (int k = 0; k < series[i].nchunks; k++) {
            codec_chunk c;
            assert_int_equal(codec_chunk_reader_get(r, series[i].want[k], &c, &err), 0);
            assert_int_equal(c.len, series[i].big ? 200 : 20);
            assert_memory_equal(c.data, series[i].big ? big : small[k], c.len);
        }
    }
    codec_chunk_reader_free(r);
    st_free(cdir);
    tu_tmpdir_free(dir);
}

static void segments__fresh_writer_splits_one_long_series(void **state)
{
    (void)state;
    /* Ten 20-byte chunks, segment size 100, empty writer: the (i != 0) rule alone. Batches of
     * three (30, 60, 90; 90 + 8 <= 100; 120 + 8 > 100), so 3 + 3 + 3 + 1. */
    char *dir = tu_tmpdir();
    char *cdir = join(dir, "chunks");
    st_err err;
    st_err_init(&err);
    codec_chunk_writer *w;
    assert_int_equal(codec_chunk_writer_create(&w, cdir, 100, &err), 0);
    static uint8_t buf[10][20];
    codec_chunk c[10];
    uint64_t refs[10];
    for (int i = 0; i < 10; i++)
        c[i] = make_chunk(buf[i], 20, (unsigned)i);
    assert_int_equal(codec_chunk_writer_write(w, c, 10, refs, &err), 0);
    assert_int_equal(codec_chunk_writer_close(w, &err), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(refs[i], REF(i / 3, 8 + 26 * (i % 3)));
    uint64_t sizes[8];
    assert_int_equal(segment_sizes(cdir, sizes, 8), 4);
    assert_int_equal(sizes[3], 8 + 26);
    codec_chunk_writer_free(w);
    st_free(cdir);
    tu_tmpdir_free(dir);
}

static void segments__chunk_larger_than_the_segment_size_is_written_alone(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *cdir = join(dir, "chunks");
    st_err err;
    st_err_init(&err);
    codec_chunk_writer *w;
    assert_int_equal(codec_chunk_writer_create(&w, cdir, 64, &err), 0);
    static uint8_t big[1000], small[10];
    codec_chunk c[3] = {make_chunk(big, 1000, 1), make_chunk(small, 10, 2),
                        make_chunk(big, 1000, 3)};
    uint64_t refs[3];
    assert_int_equal(codec_chunk_writer_write(w, c, 3, refs, &err), 0);
    assert_int_equal(codec_chunk_writer_close(w, &err), 0);
    assert_int_equal(refs[0], REF(0, 8));
    assert_int_equal(refs[1], REF(1, 8));
    assert_int_equal(refs[2], REF(2, 8));
    uint64_t sizes[8];
    assert_int_equal(segment_sizes(cdir, sizes, 8), 3);
    assert_int_equal(sizes[0], 8 + rec_size(1000));
    assert_int_equal(sizes[1], 8 + rec_size(10));
    codec_chunk_writer_free(w);
    st_free(cdir);
    tu_tmpdir_free(dir);
}

static void segments__writer_refuses_a_directory_with_segments(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *seg = join(dir, "000001");
    tu_write(seg, "x", 1);
    st_err err;
    st_err_init(&err);
    codec_chunk_writer *w = (codec_chunk_writer *)1;
    assert_int_equal(codec_chunk_writer_create(&w, dir, 0, &err), ST_EINVAL);
    assert_null(w);
    assert_non_null(strstr(err.msg, "000001"));
    st_free(seg);
    tu_tmpdir_free(dir);
}

/* Write one series of three chunks into dir/chunks; return the refs. */
static char *write_sample(char *dir, uint64_t refs[3])
{
    char *cdir = join(dir, "chunks");
    st_err err;
    st_err_init(&err);
    codec_chunk_writer *w;
    static uint8_t buf[3][40];
    codec_chunk c[3];
    for (int i = 0; i < 3; i++)
        c[i] = make_chunk(buf[i], 40, (unsigned)i);
    assert_int_equal(codec_chunk_writer_create(&w, cdir, 0, &err), 0);
    assert_int_equal(codec_chunk_writer_write(w, c, 3, refs, &err), 0);
    assert_int_equal(codec_chunk_writer_close(w, &err), 0);
    codec_chunk_writer_free(w);
    return cdir;
}

static void patch(const char *path, long off, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void segments__crc_mismatch_names_file_and_offset(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    uint64_t refs[3];
    char *cdir = write_sample(dir, refs);
    char *seg = join(cdir, "000001");
    /* flip a data byte of the second chunk (record at 8 + 46: len, enc, data...) */
    uint8_t x = 0xEE;
    patch(seg, (long)(uint32_t)refs[1] + 10, &x, 1);
    st_err err;
    st_err_init(&err);
    codec_chunk_reader *r;
    assert_int_equal(codec_chunk_reader_open(&r, cdir, &err), 0);
    codec_chunk c;
    assert_int_equal(codec_chunk_reader_get(r, refs[0], &c, &err), 0);
    assert_int_equal(codec_chunk_reader_get(r, refs[1], &c, &err), ST_ECHECKSUM);
    assert_non_null(strstr(err.msg, seg));
    char want[32];
    snprintf(want, sizeof(want), "offset %u", (unsigned)refs[1]);
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
    /* the encoding byte is covered too */
    st_err_init(&err);
    x = 7;
    patch(seg, (long)(uint32_t)refs[2] + 1, &x, 1);
    codec_chunk_reader_free(r);
    assert_int_equal(codec_chunk_reader_open(&r, cdir, &err), 0);
    assert_int_equal(codec_chunk_reader_get(r, refs[2], &c, &err), ST_ECHECKSUM);
    codec_chunk_reader_free(r);
    st_free(seg);
    st_free(cdir);
    tu_tmpdir_free(dir);
}

static void segments__bad_header_is_rejected_at_open(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        long off;
        uint8_t bytes[4];
        size_t n;
        long truncate_to; /* -1: keep */
        const char *want_in_msg;
    } cases[] = {
        {"bad magic", 0, {0x85, 0xBD, 0x40, 0xDE}, 4, -1, "magic"},
        {"version 2", 4, {2}, 1, -1, "version"},
        {"version 0", 4, {0}, 1, -1, "version"},
        {"shorter than the header", 0, {0}, 0, 7, "header"},
        {"empty file", 0, {0}, 0, 0, "header"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        char *dir = tu_tmpdir();
        uint64_t refs[3];
        char *cdir = write_sample(dir, refs);
        char *seg = join(cdir, "000001");
        if (cases[i].n)
            patch(seg, cases[i].off, cases[i].bytes, cases[i].n);
        if (cases[i].truncate_to >= 0)
            assert_int_equal(truncate(seg, cases[i].truncate_to), 0);
        st_err err;
        st_err_init(&err);
        codec_chunk_reader *r = (codec_chunk_reader *)1;
        int rc = codec_chunk_reader_open(&r, cdir, &err);
        if (rc != ST_ECORRUPT || !strstr(err.msg, seg) || !strstr(err.msg, cases[i].want_in_msg))
            fail_msg("case '%s': rc %d, message '%s'", cases[i].name, rc, err.msg);
        assert_null(r);
        st_free(seg);
        st_free(cdir);
        tu_tmpdir_free(dir);
    }
}

static void segments__truncated_records_are_corrupt(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    uint64_t refs[3];
    char *cdir = write_sample(dir, refs);
    char *seg = join(cdir, "000001");
    uint64_t size = file_size(seg);
    /* cut the last record at every length short of complete */
    for (uint64_t cut = (uint32_t)refs[2] + 1; cut < size; cut++) {
        assert_int_equal(truncate(seg, (off_t)cut), 0);
        st_err err;
        st_err_init(&err);
        codec_chunk_reader *r;
        assert_int_equal(codec_chunk_reader_open(&r, cdir, &err), 0);
        codec_chunk c;
        assert_int_equal(codec_chunk_reader_get(r, refs[1], &c, &err), 0);
        int rc = codec_chunk_reader_get(r, refs[2], &c, &err);
        if (rc != ST_ECORRUPT || !strstr(err.msg, seg))
            fail_msg("cut at %llu: rc %d, message '%s'", (unsigned long long)cut, rc, err.msg);
        codec_chunk_reader_free(r);
    }
    st_free(seg);
    st_free(cdir);
    tu_tmpdir_free(dir);
}

static void segments__refs_that_point_nowhere_are_corrupt(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    uint64_t refs[3];
    char *cdir = write_sample(dir, refs);
    char *seg = join(cdir, "000001");
    uint64_t size = file_size(seg);
    st_err err;
    codec_chunk_reader *r;
    st_err_init(&err);
    assert_int_equal(codec_chunk_reader_open(&r, cdir, &err), 0);
    const struct {
        const char *name;
        uint64_t ref;
    } cases[] = {
        {"offset at the end of the file", REF(0, size)},
        {"offset past the end", REF(0, size + 100)},
        {"offset 0xFFFFFFFF", REF(0, 0xFFFFFFFFu)},
        {"offset inside the header", REF(0, 4)},
        {"second segment does not exist", REF(1, 8)},
        {"huge segment index", REF(0xFFFFFFFFu, 8)},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        codec_chunk c;
        st_err_init(&err);
        int rc = codec_chunk_reader_get(r, cases[i].ref, &c, &err);
        if (rc != ST_ECORRUPT || !strstr(err.msg, cdir))
            fail_msg("case '%s': rc %d, message '%s'", cases[i].name, rc, err.msg);
    }
    codec_chunk_reader_free(r);

    /* a length varint that claims more than the file holds, and one that never ends */
    uint8_t huge[5] = {0xFF, 0xFF, 0xFF, 0xFF, 0x0F};
    patch(seg, (long)(uint32_t)refs[1], huge, 5);
    uint8_t endless[10];
    memset(endless, 0xFF, sizeof(endless));
    patch(seg, (long)(uint32_t)refs[2], endless, sizeof(endless));
    st_err_init(&err);
    assert_int_equal(codec_chunk_reader_open(&r, cdir, &err), 0);
    codec_chunk c;
    assert_int_equal(codec_chunk_reader_get(r, refs[1], &c, &err), ST_ECORRUPT);
    assert_non_null(strstr(err.msg, "past the end"));
    st_err_init(&err);
    assert_int_equal(codec_chunk_reader_get(r, refs[2], &c, &err), ST_ECORRUPT);
    assert_non_null(strstr(err.msg, "varint"));
    codec_chunk_reader_free(r);
    st_free(seg);
    st_free(cdir);
    tu_tmpdir_free(dir);
}

static void segments__reader_lists_numeric_names_in_byte_order(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    uint8_t hdr[8] = {0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0};
    const char *names[] = {
        "000002", "000001", "1000000", "200000", "x00003", "000004.tmp", "99999999999999999999999"};
    for (size_t i = 0; i < ST_ARRAY_LEN(names); i++) {
        char *p = join(dir, names[i]);
        tu_write(p, hdr, sizeof(hdr));
        st_free(p);
    }
    st_err err;
    st_err_init(&err);
    codec_chunk_reader *r;
    assert_int_equal(codec_chunk_reader_open(&r, dir, &err), 0);
    /* Go's os.ReadDir order; non-numbers and numbers past uint64 are not segments */
    const char *want[] = {"000001", "000002", "1000000", "200000"};
    assert_int_equal(codec_chunk_reader_nsegments(r), ST_ARRAY_LEN(want));
    for (uint32_t i = 0; i < ST_ARRAY_LEN(want); i++) {
        assert_string_equal(codec_chunk_reader_segment_name(r, i), want[i]);
        assert_int_equal(codec_chunk_reader_segment_size(r, i), 8);
    }
    assert_null(codec_chunk_reader_segment_name(r, 4));
    codec_chunk_reader_free(r);

    /* a block without a chunks directory reads as no segments */
    char *none = join(dir, "chunks");
    assert_int_equal(codec_chunk_reader_open(&r, none, &err), 0);
    assert_int_equal(codec_chunk_reader_nsegments(r), 0);
    codec_chunk c;
    assert_int_equal(codec_chunk_reader_get(r, REF(0, 8), &c, &err), ST_ECORRUPT);
    codec_chunk_reader_free(r);
    st_free(none);
    tu_tmpdir_free(dir);
}

static void segments__every_allocation_failure_is_reported(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    uint64_t refs[3];
    char *cdir = write_sample(dir, refs);
    for (long k = 1; k < 40; k++) {
        st_err err;
        st_err_init(&err);
        codec_chunk_reader *r = NULL;
        st_alloc_fail_after(k);
        int rc = codec_chunk_reader_open(&r, cdir, &err);
        st_alloc_fail_after(0);
        assert_true(rc == 0 || rc == ST_ENOMEM);
        codec_chunk_reader_free(r);

        char *sub = join(dir, "w");
        codec_chunk_writer *w = NULL;
        st_err_init(&err);
        st_alloc_fail_after(k);
        rc = codec_chunk_writer_create(&w, sub, 0, &err);
        st_alloc_fail_after(0);
        assert_true(rc == 0 || rc == ST_ENOMEM);
        codec_chunk_writer_free(w);
        st_rmtree(sub, &err);
        st_free(sub);
    }
    st_free(cdir);
    tu_tmpdir_free(dir);
}

/* ---------------------------------------------------------------------------------------------
 * Byte identity with promtool's chunks/000001. The index is read here with a minimal walker of
 * the series section (TOC, 16-byte aligned entries) so this test depends on nothing but the
 * segment code.
 */
typedef struct series_refs {
    uint64_t *refs;
    size_t n;
} series_refs;

static size_t walk_index(const uint8_t *p, size_t len, series_refs **out)
{
    assert_true(len > CODEC_INDEX_TOC_SIZE + 5);
    const uint8_t *toc = p + len - CODEC_INDEX_TOC_SIZE;
    uint64_t series = codec_get_be64(toc + 8), end = codec_get_be64(toc + 16);
    assert_true(series <= end && end <= len);
    size_t cap = 16, n = 0;
    series_refs *v = calloc(cap, sizeof(*v));
    uint64_t off = series;
    for (;;) {
        off = (off + 15) & ~(uint64_t)15;
        if (off >= end)
            break;
        codec_decbuf d;
        codec_decbuf_init(&d, p, p + off, end - off);
        uint64_t blen = codec_dec_uvarint(&d);
        const uint8_t *body = codec_dec_bytes(&d, blen);
        codec_dec_be32(&d);
        assert_int_equal(d.err, 0);
        off = codec_dec_offset(&d);
        codec_decbuf b;
        codec_decbuf_init(&b, p, body, blen);
        uint64_t nl = codec_dec_uvarint(&b);
        for (uint64_t i = 0; i < 2 * nl; i++)
            codec_dec_uvarint(&b);
        uint64_t nc = codec_dec_uvarint(&b);
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        v[n].refs = calloc(nc ? nc : 1, sizeof(uint64_t));
        v[n].n = nc;
        uint64_t ref = 0;
        for (uint64_t i = 0; i < nc; i++) {
            if (i == 0) {
                codec_dec_varint(&b);
                codec_dec_uvarint(&b);
                ref = codec_dec_uvarint(&b);
            } else {
                codec_dec_uvarint(&b);
                codec_dec_uvarint(&b);
                ref += (uint64_t)codec_dec_varint(&b);
            }
            v[n].refs[i] = ref;
        }
        assert_int_equal(b.err, 0);
        n++;
    }
    *out = v;
    return n;
}

/* Copy every chunk of blk through the writer; compare refs and every segment file. Returns the
 * number of chunks. zero_copy: the writer's zero-copy mode, with every third series' chunks
 * copied out of the mapping first and every third one's rebuilt as records of their own with
 * codec_chunk_record_seal (so records from the mapping, from the buffer and from the caller's
 * memory mix; the last are flushed before that memory goes). */
static size_t rewrite_block(const char *blk, int zero_copy)
{
    char *ipath = join(blk, "index");
    char *cdir = join(blk, "chunks");
    size_t ilen;
    uint8_t *idx = tu_read(ipath, &ilen);
    series_refs *sr;
    size_t ns = walk_index(idx, ilen, &sr);

    st_err err;
    st_err_init(&err);
    codec_chunk_reader *r;
    if (codec_chunk_reader_open(&r, cdir, &err) != 0)
        fail_msg("%s", err.msg);
    char *tmp = tu_tmpdir();
    char *out = join(tmp, "chunks");
    codec_chunk_writer *w;
    assert_int_equal(codec_chunk_writer_create(&w, out, 0, &err), 0);
    codec_chunk_writer_zero_copy(w, zero_copy);
    size_t total = 0;
    for (size_t s = 0; s < ns; s++) {
        codec_chunk *c = calloc(sr[s].n + 1, sizeof(*c));
        uint64_t *refs = calloc(sr[s].n + 1, sizeof(*refs));
        uint8_t **copies = calloc(sr[s].n + 1, sizeof(*copies));
        for (size_t k = 0; k < sr[s].n; k++) {
            if (codec_chunk_reader_get(r, sr[s].refs[k], &c[k], &err) != 0)
                fail_msg("%s", err.msg);
            if (zero_copy && s % 3 == 2) {
                copies[k] = malloc(c[k].len + 1);
                memcpy(copies[k], c[k].data, c[k].len);
                c[k].data = copies[k];
                c[k].has_crc = 0;
            } else if (zero_copy && s % 3 == 1) {
                /* the record sealed around the data is the one read, byte for byte */
                size_t size = codec_chunk_record_size(c[k].len);
                const uint8_t *orig = c[k].data - (size - c[k].len - 4);
                copies[k] = malloc(size);
                memset(copies[k], 0xA5, size);
                memcpy(codec_chunk_record_data(copies[k], c[k].len), c[k].data, c[k].len);
                codec_chunk x = codec_chunk_record_seal(copies[k], c[k].enc, c[k].len);
                assert_true(x.has_crc && x.crc == c[k].crc && x.len == c[k].len &&
                            x.enc == c[k].enc);
                assert_ptr_equal(x.data, codec_chunk_record_data(copies[k], c[k].len));
                assert_memory_equal(copies[k], orig, size);
                c[k] = x;
            }
        }
        assert_int_equal(codec_chunk_writer_write(w, c, sr[s].n, refs, &err), 0);
        if (zero_copy && s % 3 == 1)
            assert_int_equal(codec_chunk_writer_flush(w, &err), 0);
        for (size_t k = 0; k < sr[s].n; k++)
            free(copies[k]);
        free(copies);
        for (size_t k = 0; k < sr[s].n; k++)
            if (refs[k] != sr[s].refs[k])
                fail_msg("%s series %zu chunk %zu: ref 0x%llx, promtool wrote 0x%llx", blk, s, k,
                         (unsigned long long)refs[k], (unsigned long long)sr[s].refs[k]);
        total += sr[s].n;
        free(c);
        free(refs);
        free(sr[s].refs);
    }
    assert_int_equal(codec_chunk_writer_close(w, &err), 0);
    assert_int_equal(codec_chunk_writer_nsegments(w), codec_chunk_reader_nsegments(r));
    for (uint32_t i = 0; i < codec_chunk_reader_nsegments(r); i++) {
        const char *name = codec_chunk_reader_segment_name(r, i);
        char *a = join(cdir, name), *b = join(out, name);
        size_t la, lb;
        uint8_t *pa = tu_read(a, &la), *pb = tu_read(b, &lb);
        if (la != lb || memcmp(pa, pb, la) != 0)
            fail_msg("%s: rewritten %s differs (%zu vs %zu bytes)", blk, name, lb, la);
        free(pa);
        free(pb);
        st_free(a);
        st_free(b);
    }
    codec_chunk_writer_free(w);
    codec_chunk_reader_free(r);
    free(sr);
    free(idx);
    st_free(out);
    tu_tmpdir_free(tmp);
    st_free(cdir);
    st_free(ipath);
    return total;
}

static void segments__rewrites_testdata_blocks_byte_for_byte(void **state)
{
    (void)state;
    char *root = tu_src_path("testdata/blocks");
    DIR *sets = opendir(root);
    if (!sets) {
        free(root);
        skip();
    }
    struct dirent *se;
    size_t blocks = 0, chunks = 0;
    while ((se = readdir(sets)) != NULL) {
        if (se->d_name[0] == '.')
            continue;
        char *set = join(root, se->d_name);
        DIR *d = opendir(set);
        struct dirent *be;
        while (d && (be = readdir(d)) != NULL) {
            if (!codec_ulid_valid(be->d_name, strlen(be->d_name)))
                continue;
            char *blk = join(set, be->d_name);
            char *idx = join(blk, "index");
            if (access(idx, R_OK) == 0) {
                chunks += rewrite_block(blk, 0);
                rewrite_block(blk, 1);
                blocks++;
            }
            st_free(idx);
            st_free(blk);
        }
        if (d)
            closedir(d);
        st_free(set);
    }
    closedir(sets);
    free(root);
    print_message("rewrote %zu testdata blocks, %zu chunks, byte-identical\n", blocks, chunks);
    if (blocks == 0)
        skip();
}

static void segments__rewrites_a_fresh_promtool_block_byte_for_byte(void **state)
{
    (void)state;
    if (access("/usr/bin/promtool", X_OK) != 0)
        skip();
    char *dir = tu_tmpdir();
    char *om = join(dir, "in.om");
    /* 40 series, irregular values and steps, 3 hours: several chunks per series, one block */
    FILE *f = fopen(om, "w");
    assert_non_null(f);
    for (int s = 0; s < 40; s++) {
        fprintf(f, "# TYPE m%d gauge\n", s);
        double t = 1699920000.0 + s * 0.013;
        for (int i = 0; i < 700; i++) {
            fprintf(f, "m%d{job=\"j%d\",inst=\"i%d\"} %.6g %.3f\n", s, s % 3, s, i * 1.5 + s * 0.25,
                    t);
            t += 15 + (i % 7) * 0.001;
        }
    }
    fprintf(f, "# EOF\n");
    fclose(f);
    char *out = join(dir, "out");
    if (tu_system("/usr/bin/promtool tsdb create-blocks-from openmetrics '%s' '%s' >/dev/null "
                  "2>&1",
                  om, out) != 0)
        fail_msg("promtool failed");
    DIR *d = opendir(out);
    assert_non_null(d);
    struct dirent *be;
    size_t blocks = 0;
    while ((be = readdir(d)) != NULL) {
        if (!codec_ulid_valid(be->d_name, strlen(be->d_name)))
            continue;
        char *blk = join(out, be->d_name);
        assert_true(rewrite_block(blk, 0) > 0);
        assert_true(rewrite_block(blk, 1) > 0);
        blocks++;
        st_free(blk);
    }
    closedir(d);
    assert_true(blocks > 0);
    st_free(out);
    st_free(om);
    tu_tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(segments__round_trip_write_then_read),
        cmocka_unit_test(segments__cuts_like_prometheus_with_a_small_segment_size),
        cmocka_unit_test(segments__fresh_writer_splits_one_long_series),
        cmocka_unit_test(segments__chunk_larger_than_the_segment_size_is_written_alone),
        cmocka_unit_test(segments__writer_refuses_a_directory_with_segments),
        cmocka_unit_test(segments__crc_mismatch_names_file_and_offset),
        cmocka_unit_test(segments__bad_header_is_rejected_at_open),
        cmocka_unit_test(segments__truncated_records_are_corrupt),
        cmocka_unit_test(segments__refs_that_point_nowhere_are_corrupt),
        cmocka_unit_test(segments__reader_lists_numeric_names_in_byte_order),
        cmocka_unit_test(segments__every_allocation_failure_is_reported),
        cmocka_unit_test(segments__rewrites_testdata_blocks_byte_for_byte),
        cmocka_unit_test(segments__rewrites_a_fresh_promtool_block_byte_for_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
