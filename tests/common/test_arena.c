/*
 * test_arena.c - the bump arena: aligned and packed allocations side by side, pages taken and
 * kept, reset reusing them, and a failed page allocation reported.
 */
#include "tests/util/testutil.h"

#include "common/common.h"

#include <stdint.h>
#include <string.h>

/* Packed allocations follow one another with no gap while the page has room; an aligned one
 * after them starts at the next 16-byte boundary, and the packed ones after it follow it. */
static void arena__packed_runs_touch_and_aligned_ones_stay_aligned(void **state)
{
    (void)state;
    st_arena a;
    st_arena_init(&a, 4096);
    uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (size_t i = 1; i <= 40; i++) {
        uint8_t *p = st_arena_alloc_packed(&a, i);
        assert_non_null(p);
        memset(p, (int)i, i);
        if (prev)
            assert_ptr_equal(p, prev + prev_len);
        prev = p;
        prev_len = i;
    }
    /* 820 bytes so far: all in the first page */
    assert_int_equal(a.used_total, 820);
    uint8_t *q = st_arena_alloc(&a, 24);
    assert_non_null(q);
    assert_int_equal((uintptr_t)q % 16, 0);
    assert_true(q >= prev + prev_len && q < prev + prev_len + 16);
    uint8_t *r = st_arena_alloc_packed(&a, 3);
    assert_ptr_equal(r, q + 32); /* the aligned one's 24 bytes round up to 32 */
    /* the earlier bytes are untouched */
    uint8_t *p = prev - 39 * 40 / 2;
    for (size_t i = 1; i <= 40; i++) {
        for (size_t k = 0; k < i; k++)
            assert_int_equal(p[k], (uint8_t)i);
        p += i;
    }
    st_arena_release(&a);
}

/* A packed run that does not fit the rest of the page starts a new one; one larger than a page
 * gets a page of its own; reset hands the same pages out again. */
static void arena__packed_overflow_takes_a_new_page_and_reset_reuses_it(void **state)
{
    (void)state;
    st_arena a;
    st_arena_init(&a, 256);
    uint8_t *x = st_arena_alloc_packed(&a, 200);
    uint8_t *y = st_arena_alloc_packed(&a, 56);
    assert_ptr_equal(y, x + 200); /* exactly fills the page */
    uint8_t *z = st_arena_alloc_packed(&a, 1);
    assert_non_null(z);
    assert_true(z < x || z >= x + 256); /* another page */
    uint8_t *big = st_arena_alloc_packed(&a, 1000);
    assert_non_null(big);
    memset(big, 7, 1000);
    assert_int_equal(a.used_total, 200 + 56 + 1 + 1000);
    st_arena_reset(&a);
    assert_int_equal(a.used_total, 0);
    /* the 1000-byte page is the only spare that fits: it comes back */
    assert_ptr_equal(st_arena_alloc_packed(&a, 1000), big);
    st_arena_release(&a);
}

static void arena__failed_page_allocation_returns_null(void **state)
{
    (void)state;
    st_arena a;
    st_arena_init(&a, 128);
    assert_non_null(st_arena_alloc_packed(&a, 100));
    st_alloc_fail_after(1);
    assert_null(st_arena_alloc_packed(&a, 100)); /* needs a page: fails */
    assert_null(st_arena_alloc(&a, 64));
    st_alloc_fail_after(0);
    assert_non_null(st_arena_alloc_packed(&a, 28)); /* the first page still has 28 bytes */
    st_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena__packed_runs_touch_and_aligned_ones_stay_aligned),
        cmocka_unit_test(arena__packed_overflow_takes_a_new_page_and_reset_reuses_it),
        cmocka_unit_test(arena__failed_page_allocation_returns_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
