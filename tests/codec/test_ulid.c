/*
 * test_ulid.c - ULIDs: Crockford base32 text, the 48-bit millisecond time, validity rules as
 * oklog/ulid's strict parse applies them, and time order of new ULIDs.
 */
#include "testutil.h"

#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ulid__new_encodes_the_time_and_reads_it_back(void **state)
{
    (void)state;
    const int64_t times[] = {0, 1, 5, 1469922850259, 1795326467041, 0xFFFFFFFFFFFFll};
    for (size_t i = 0; i < ST_ARRAY_LEN(times); i++) {
        codec_ulid u;
        int64_t ms = -1;
        assert_int_equal(codec_ulid_new(&u, times[i]), 0);
        assert_int_equal(strlen(u.s), CODEC_ULID_LEN);
        assert_true(codec_ulid_valid(u.s, strlen(u.s)));
        assert_int_equal(codec_ulid_time(u.s, &ms), 0);
        if (ms != times[i])
            fail_msg("ulid %s: time %lld, want %lld", u.s, (long long)ms, (long long)times[i]);
    }
}

static void ulid__known_strings_give_known_times(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"00000000050000000000000000", 5}, /* oklog ulid.MustNew(5, nil) */
        {"01ARZ3NDEKTSV4RRFFQ69G5FAV", 1469922850259},
        {"01M80WQPZ1HZXKPPTDF8F0HSDJ", 1795326467041}, /* a testdata block */
        {"01m80wqpz1hzxkpptdf8f0hsdj", 1795326467041}, /* oklog's table accepts lower case */
        {"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 0xFFFFFFFFFFFFll},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        int64_t ms = 0;
        if (codec_ulid_time(cases[i].s, &ms) != 0 || ms != cases[i].ms)
            fail_msg("%s: time %lld, want %lld", cases[i].s, (long long)ms, (long long)cases[i].ms);
    }
}

static void ulid__time_prefix_is_the_high_ten_characters(void **state)
{
    (void)state;
    codec_ulid u;
    assert_int_equal(codec_ulid_new(&u, 5), 0);
    assert_memory_equal(u.s, "0000000005", 10);
    assert_int_equal(codec_ulid_new(&u, 0xFFFFFFFFFFFFll), 0);
    assert_memory_equal(u.s, "7ZZZZZZZZZ", 10);
}

static void ulid__rejects_times_outside_48_bits(void **state)
{
    (void)state;
    codec_ulid u;
    assert_int_equal(codec_ulid_new(&u, -1), ST_EINVAL);
    assert_int_equal(codec_ulid_new(&u, 0x1000000000000ll), ST_EINVAL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(((const codec_ulid *)a)->s, ((const codec_ulid *)b)->s);
}

static void ulid__new_ulids_sort_by_time(void **state)
{
    (void)state;
    enum { N = 200 };
    codec_ulid u[N];
    /* created in a scrambled time order; sorting the text must sort the times */
    for (int i = 0; i < N; i++)
        assert_int_equal(codec_ulid_new(&u[i], 1700000000000ll + (int64_t)((i * 7919) % N) * 3), 0);
    qsort(u, N, sizeof(u[0]), cmp_str);
    int64_t prev = -1;
    for (int i = 0; i < N; i++) {
        int64_t ms;
        assert_int_equal(codec_ulid_time(u[i].s, &ms), 0);
        assert_true(ms > prev);
        prev = ms;
    }
}

static void ulid__same_millisecond_gives_different_randomness(void **state)
{
    (void)state;
    codec_ulid a, b;
    assert_int_equal(codec_ulid_new(&a, 1700000000000ll), 0);
    assert_int_equal(codec_ulid_new(&b, 1700000000000ll), 0);
    assert_memory_equal(a.s, b.s, 10);
    assert_string_not_equal(a.s, b.s);
}

static void ulid__validity_follows_oklog_strict_parse(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *s;
        size_t len; /* 0: strlen */
        int valid;
    } cases[] = {
        {"a block ULID", "01M80WQPZ1HZXKPPTDF8F0HSDJ", 0, 1},
        {"lower case", "01m80wqpz1hzxkpptdf8f0hsdj", 0, 1},
        {"all zeros", "00000000000000000000000000", 0, 1},
        {"largest", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 0, 1},
        {"first char 8 overflows 128 bits", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", 0, 0},
        {"first char lower-case letter", "a0000000000000000000000000", 0, 0},
        {"25 chars", "01M80WQPZ1HZXKPPTDF8F0HSD", 0, 0},
        {"27 chars", "01M80WQPZ1HZXKPPTDF8F0HSDJX", 0, 0},
        {"I is not in the alphabet", "01M80WQPZ1HZXKPPTDF8F0HSDI", 0, 0},
        {"L is not in the alphabet", "01M80WQPZ1HZXKPPTDF8F0HSDL", 0, 0},
        {"O is not in the alphabet", "01M80WQPZ1HZXKPPTDF8F0HSDO", 0, 0},
        {"U is not in the alphabet", "01M80WQPZ1HZXKPPTDF8F0HSDU", 0, 0},
        {"lower u is not either", "01M80WQPZ1HZXKPPTDF8F0HSDu", 0, 0},
        {"a dash", "01M80WQPZ1HZXKPPTDF8F0HSD-", 0, 0},
        {"a tmp dir name", "01M80WQPZ1HZXKPPTDF8F0HSDJ.tmp-for-creation", 0, 0},
        {"empty", "", 0, 0},
        {"NUL inside", "01M80WQPZ1HZXKPP\0DF8F0HSDJ", 26, 0},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].s);
        if (codec_ulid_valid(cases[i].s, len) != cases[i].valid)
            fail_msg("case '%s': valid=%d, want %d", cases[i].name, !cases[i].valid,
                     cases[i].valid);
    }
    int64_t ms;
    assert_int_equal(codec_ulid_time("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", &ms), ST_EINVAL);
    assert_int_equal(codec_ulid_time("01M80WQPZ1HZXKPPTDF8F0HSDJX", &ms), ST_EINVAL);
    assert_int_equal(codec_ulid_time("", &ms), ST_EINVAL);
    assert_false(codec_ulid_valid(NULL, 26));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ulid__new_encodes_the_time_and_reads_it_back),
        cmocka_unit_test(ulid__known_strings_give_known_times),
        cmocka_unit_test(ulid__time_prefix_is_the_high_ten_characters),
        cmocka_unit_test(ulid__rejects_times_outside_48_bits),
        cmocka_unit_test(ulid__new_ulids_sort_by_time),
        cmocka_unit_test(ulid__same_millisecond_gives_different_randomness),
        cmocka_unit_test(ulid__validity_follows_oklog_strict_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
