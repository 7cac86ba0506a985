/*
 * test_verify.c - bad blocks get clear errors, never crashes: a real block from testdata/ is
 * copied, one file is damaged (bytes flipped, truncated, removed, stats or range falsified), and
 * `strata verify`'s walk must report a problem (or refuse to open the block) naming the file,
 * while `strata rewrite` must refuse to publish anything.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
    char *tmp;
    char block[4096];
} fixture;

static int setup(void **state)
{
    char *src = tu_testdata_block("realistic");
    if (!src)
        fail_msg("no testdata block under testdata/blocks/realistic");
    fixture *f = calloc(1, sizeof(*f));
    f->tmp = tu_tmpdir();
    snprintf(f->block, sizeof(f->block), "%s/block", f->tmp);
    tu_copy_tree(src, f->block);
    free(src);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_tmpdir_free(f->tmp);
    free(f);
    return 0;
}

/* Run the verify walk, capturing its problem lines. Returns the walk's rc. */
static int run_verify(const char *dir, verify_report *r, char *out, size_t outcap, st_err *err)
{
    memset(r, 0, sizeof(*r));
    FILE *mem = fmemopen(out, outcap, "w");
    r->out = mem;
    r->max_print = 50;
    st_err_init(err);
    int rc = verify_block(dir, r, err);
    fclose(mem);
    return rc;
}

static void path_of(char *out, size_t n, const fixture *f, const char *rel)
{
    snprintf(out, n, "%s/%s", f->block, rel);
}

static void flip(const fixture *f, const char *rel, long off_from_start)
{
    char p[4200];
    path_of(p, sizeof(p), f, rel);
    size_t len;
    uint8_t *d = tu_read(p, &len);
    assert_true((size_t)off_from_start < len);
    d[off_from_start] ^= 0x5A;
    tu_write(p, d, len);
    free(d);
}

static void truncate_to(const fixture *f, const char *rel, double frac)
{
    char p[4200];
    path_of(p, sizeof(p), f, rel);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, (off_t)((double)st.st_size * frac)), 0);
}

static void verify__passes_a_real_block(void **state)
{
    fixture *f = *state;
    verify_report r;
    st_err err;
    char out[8192] = {0};
    assert_int_equal(run_verify(f->block, &r, out, sizeof(out), &err), 0);
    if (r.nproblems)
        fail_msg("clean block reported problems:\n%s", out);
    assert_true(r.series > 0 && r.chunks > 0 && r.samples > 0);
}

/* Either the walk refuses the block with an error naming `file`, or it reports problems whose
 * text names `file`. */
static void expect_named_failure(fixture *f, const char *file, const char *also)
{
    verify_report r;
    st_err err;
    char out[16384] = {0};
    int rc = run_verify(f->block, &r, out, sizeof(out), &err);
    const char *text = rc ? err.msg : out;
    if (!rc && r.nproblems == 0)
        fail_msg("damaged %s went unnoticed", file);
    if (!strstr(text, file))
        fail_msg("message does not name %s: %s", file, text);
    if (also && !strstr(text, also))
        fail_msg("message does not say '%s': %s", also, text);
}

static void verify__reports_a_flipped_chunk_byte_as_checksum_mismatch(void **state)
{
    fixture *f = *state;
    flip(f, "chunks/000001", 100);
    expect_named_failure(f, "chunks", "checksum");
}

static void verify__reports_a_truncated_segment(void **state)
{
    fixture *f = *state;
    truncate_to(f, "chunks/000001", 0.5);
    expect_named_failure(f, "chunks", NULL);
}

static void verify__refuses_a_truncated_index(void **state)
{
    fixture *f = *state;
    truncate_to(f, "index", 0.7);
    expect_named_failure(f, "index", NULL);
}

static void verify__reports_flipped_index_bytes(void **state)
{
    /* a byte in the middle of the series section: a series CRC must catch it */
    fixture *f = *state;
    char p[4200];
    path_of(p, sizeof(p), f, "index");
    size_t len;
    uint8_t *d = tu_read(p, &len);
    uint64_t series_off = codec_get_be64(d + len - 52 + 8);
    free(d);
    flip(f, "index", (long)series_off + 40);
    expect_named_failure(f, "index", NULL);
}

static void verify__refuses_garbage_meta_json(void **state)
{
    fixture *f = *state;
    char p[4200];
    path_of(p, sizeof(p), f, "meta.json");
    tu_write(p, "{\"ulid\": 12", 11);
    expect_named_failure(f, "meta.json", NULL);
}

static void verify__reports_falsified_stats(void **state)
{
    fixture *f = *state;
    char p[4200];
    path_of(p, sizeof(p), f, "meta.json");
    assert_int_equal(tu_system("sed -i 's/\"numSamples\": [0-9]*/\"numSamples\": 7/' '%s'", p), 0);
    expect_named_failure(f, "meta.json", "numSamples");
}

static void verify__reports_chunks_outside_the_block_range(void **state)
{
    fixture *f = *state;
    char p[4200];
    path_of(p, sizeof(p), f, "meta.json");
    /* shrink maxTime by 10 minutes: the last chunks now lie outside [minTime, maxTime) */
    assert_int_equal(
        tu_system("python3 -c \"import json,sys; p=sys.argv[1]; m=json.load(open(p)); "
                  "m['maxTime']-=600000; open(p,'w').write(json.dumps(m, indent='\\t'))\" '%s'",
                  p),
        0);
    expect_named_failure(f, "index", "outside the block range");
}

static void verify__refuses_a_block_without_chunks(void **state)
{
    fixture *f = *state;
    char p[4200];
    path_of(p, sizeof(p), f, "chunks");
    assert_int_equal(tu_system("rm -rf '%s'", p), 0);
    expect_named_failure(f, "chunks", NULL);
}

static void rewrite__publishes_nothing_from_a_corrupt_block(void **state)
{
    fixture *f = *state;
    flip(f, "chunks/000001", 100);
    const char *bin = getenv("STRATA_BIN");
    assert_non_null(bin);
    char out[4200];
    snprintf(out, sizeof(out), "%s/out", f->tmp);
    int st =
        tu_system("'%s' rewrite --output='%s' '%s' 2>'%s/err.txt'", bin, out, f->block, f->tmp);
    assert_int_equal(st, COMPACTOR_EXIT_ERROR);
    char errp[4200];
    snprintf(errp, sizeof(errp), "%s/err.txt", f->tmp);
    size_t n;
    char *msg = (char *)tu_read(errp, &n);
    if (!strstr(msg, "checksum") || !strstr(msg, "chunks"))
        fail_msg("unclear error: %s", msg);
    free(msg);
    /* the output directory holds no block and no temporary leftovers */
    assert_int_equal(tu_system("test -z \"$(ls -A '%s')\"", out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(verify__passes_a_real_block, setup, teardown),
        cmocka_unit_test_setup_teardown(verify__reports_a_flipped_chunk_byte_as_checksum_mismatch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(verify__reports_a_truncated_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(verify__refuses_a_truncated_index, setup, teardown),
        cmocka_unit_test_setup_teardown(verify__reports_flipped_index_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(verify__refuses_garbage_meta_json, setup, teardown),
        cmocka_unit_test_setup_teardown(verify__reports_falsified_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(verify__reports_chunks_outside_the_block_range, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(verify__refuses_a_block_without_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(rewrite__publishes_nothing_from_a_corrupt_block, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
