/*
 * test_merge.c - the sample-level rules of the merge engine, pinned by tables: penalty
 * deduplication of HA replicas (stick to one replica, switch only after a gap of more than twice
 * the last interval, Thanos' rule without its fixed 5 s first penalty).
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <string.h>

#define MAXS 32

typedef struct replica {
    size_t n;
    int64_t t[MAXS];
} replica;

typedef struct penalty_case {
    const char *name;
    replica a, b;
    size_t nwant;
    int64_t want[MAXS];
    char from[MAXS]; /* 'a' or 'b' per output sample */
} penalty_case;

static const penalty_case cases[] = {
    {"same timestamps keep replica a", {3, {0, 10, 20}}, {3, {0, 10, 20}}, 3, {0, 10, 20}, "aaa"},
    {"offset replicas stick to the first",
     {4, {0, 15000, 30000, 45000}},
     {4, {5000, 20000, 35000, 50000}},
     4,
     {0, 15000, 30000, 45000},
     "aaaa"},
    {"b starting first is followed",
     {3, {5000, 20000, 35000}},
     {3, {0, 15000, 30000}},
     3,
     {0, 15000, 30000},
     "bbb"},
    {"a gap longer than twice the interval switches to b, and b is kept",
     {5, {0, 15000, 30000, 120000, 135000}},
     {10, {5000, 20000, 35000, 50000, 65000, 80000, 95000, 110000, 125000, 140000}},
     9,
     {0, 15000, 30000, 65000, 80000, 95000, 110000, 125000, 140000},
     "aaabbbbbb"},
    {"a gap of exactly twice the interval does not switch",
     {4, {0, 15000, 30000, 60000}},
     {4, {5000, 20000, 35000, 50000}},
     4,
     {0, 15000, 30000, 60000},
     "aaaa"},
    {"millisecond spacing loses only the penalty window, not 5 s",
     {3, {0, 1, 2}},
     {3, {3, 4, 5}},
     4,
     {0, 1, 2, 5},
     "aaab"},
    {"one replica empty", {0, {0}}, {3, {1, 2, 3}}, 3, {1, 2, 3}, "bbb"},
    {"both empty", {0, {0}}, {0, {0}}, 0, {0}, ""},
    {"single samples: no interval, no penalty, nothing lost",
     {1, {100}},
     {1, {50}},
     2,
     {50, 100},
     "ba"},
};

static void merge__penalty_dedup_follows_the_table(void **state)
{
    for (size_t c = 0; c < ST_ARRAY_LEN(cases); c++) {
        const penalty_case *pc = &cases[c];
        double va[MAXS], vb[MAXS], vo[2 * MAXS];
        int64_t to[2 * MAXS];
        for (size_t i = 0; i < pc->a.n; i++)
            va[i] = 1.0; /* a's values are 1, b's are 2: the output says where it came from */
        for (size_t i = 0; i < pc->b.n; i++)
            vb[i] = 2.0;
        size_t n = merge_penalty2(pc->a.t, va, pc->a.n, pc->b.t, vb, pc->b.n, to, vo);
        if (n != pc->nwant)
            fail_msg("%s: %zu samples, want %zu", pc->name, n, pc->nwant);
        for (size_t i = 0; i < n; i++) {
            char from = vo[i] == 1.0 ? 'a' : 'b';
            if (to[i] != pc->want[i] || from != pc->from[i])
                fail_msg("%s: sample %zu is %lld from %c, want %lld from %c", pc->name, i,
                         (long long)to[i], from, (long long)pc->want[i], pc->from[i]);
        }
    }
}

static void merge__penalty_output_is_sorted_and_from_the_inputs(void **state)
{
    /* random replicas: every output sample is an input sample, timestamps strictly increase */
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 2000; round++) {
        int64_t ta[64], tb[64], to[128];
        double va[64], vb[64], vo[128];
        size_t na = 0, nb = 0;
        int64_t t = 0;
        for (int i = 0; i < 64; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            t += 1 + (int64_t)(x % 30000);
            if (x & 1)
                ta[na] = t, va[na] = (double)t, na++;
            if (x & 2)
                tb[nb] = t + (int64_t)(x >> 60), vb[nb] = (double)tb[nb], nb++;
        }
        size_t n = merge_penalty2(ta, va, na, tb, vb, nb, to, vo);
        assert_true(n <= na + nb);
        for (size_t i = 0; i < n; i++) {
            assert_true(vo[i] == (double)to[i]);
            if (i > 0)
                assert_true(to[i] > to[i - 1]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merge__penalty_dedup_follows_the_table),
        cmocka_unit_test(merge__penalty_output_is_sorted_and_from_the_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
