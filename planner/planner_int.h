/*
 * planner_int.h - internals shared by the files of planner/: the blockset's layout, arena string
 * helpers and small comparison functions. Not included outside planner/.
 */
#ifndef STRATA_PLANNER_INT_H
#define STRATA_PLANNER_INT_H

#include "planner.h"

#include <string.h>

struct planner_blockset {
    planner_block *blocks;
    size_t n, cap;
    st_arena arena; /* every string and array the blocks point to */
};

/* Mutable access for planner_classify(). */
static inline planner_block *blockset_at(planner_blockset *set, size_t i)
{
    return &set->blocks[i];
}

/* A copy of s (NULL gives "") in the arena; NULL when the arena is out of memory. */
static inline char *arena_str(st_arena *a, const char *s)
{
    if (!s)
        s = "";
    return st_arena_strndup(a, s, strlen(s));
}

static inline int ulid_cmp(const codec_ulid *a, const codec_ulid *b)
{
    return memcmp(a->s, b->s, CODEC_ULID_LEN);
}

/* a - b, saturated at the int64 range: bucket metadata may hold any value, and overflow is
 * undefined behaviour. */
static inline int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Unix seconds (a marker's time) as ms, saturated. */
static inline int64_t sec_to_ms(int64_t s)
{
    return s > INT64_MAX / 1000 ? INT64_MAX : s < INT64_MIN / 1000 ? INT64_MIN : s * 1000;
}

/* Index of a resolution in retention_ms[], or -1 for one Thanos does not know. */
static inline int res_index(int64_t res)
{
    return res == PLANNER_RES_RAW  ? PLANNER_RAW
           : res == PLANNER_RES_5M ? PLANNER_5M
           : res == PLANNER_RES_1H ? PLANNER_1H
                                   : -1;
}

/* Age reference of a block for the consistency delay: upload time, else the ULID's time. */
int64_t block_birth_ms(const planner_block *b);

/* Blocks in the plan's set and how many have each state bit (PLANNER_BLOCK_* order). */
#define PLAN_NSTATES 7
void plan_summary(const struct planner_plan *p, size_t by_state[PLAN_NSTATES], size_t *nblocks);

/* Format helpers (render.c), also used for reasons. "1.5 MiB" style sizes. */
void fmt_bytes(char *out, size_t n, uint64_t v);
/* Comma-separated list of label pairs `a="b", c="d"` into out (truncated with "..."). */
void fmt_labels(char *out, size_t n, const codec_kv *l, size_t nl);

#endif
