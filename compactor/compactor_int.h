/*
 * compactor_int.h - internals shared by the files of compactor/: command-line parsing, output
 * formatting that matches Go's, series selectors, block verification.
 */
#ifndef STRATA_COMPACTOR_INT_H
#define STRATA_COMPACTOR_INT_H

#include "compactor.h"

#include <regex.h>
#include <stdio.h>

/* ---- flags ------------------------------------------------------------------------------- */
/* A minimal GNU-style parser: --name=value, --name value, --bool; `--` ends flags. */
typedef struct cli_flag {
    const char *name;
    enum { CLI_STRING, CLI_INT64, CLI_BOOL, CLI_STRINGS } kind;
    void *dst; /* const char **, int64_t *, int *, or cli_strings * */
    const char *help;
} cli_flag;

typedef struct cli_strings {
    const char **v;
    size_t n;
} cli_strings;

/* Parse argv (after the subcommand). Positional arguments are collected in *pos (heap array of
 * borrowed pointers; free with st_free). Returns 0 or COMPACTOR_EXIT_USAGE after printing. */
int cli_parse(const char *cmd, int argc, char **argv, const cli_flag *flags, size_t nflags,
              const char ***pos, size_t *npos);
void cli_strings_free(cli_strings *s);

/* ---- Go-compatible formatting (gofmt.c) --------------------------------------------------- */
/* fmt's %g for a float64 (shortest round-trip digits, exponent form below 1e-4 or from 1e+06,
 * "+Inf", "-Inf", "NaN"). out has room for 32 bytes; returns the length. */
size_t gofmt_float(char *out, double v);
/* strconv.Quote of a byte string, appended to b. */
int gofmt_quote(st_buf *b, const char *s, size_t n);
/* Labels.String(): {a="b", c="d"} */
int gofmt_labels(st_buf *b, const codec_label *l, uint32_t n);

/* ---- selectors (select.c) ----------------------------------------------------------------- */
typedef enum { SEL_EQ, SEL_NEQ, SEL_RE, SEL_NRE } sel_op;

typedef struct sel_matcher {
    char *name;
    char *value;
    sel_op op;
    regex_t re; /* compiled for SEL_RE and SEL_NRE */
} sel_matcher;

typedef struct selector {
    sel_matcher *m;
    size_t n;
} selector;

/* Parse `metric{a="b", c=~"re", d!="x", e!~"re"}`. */
int selector_parse(selector *s, const char *text, st_err *err);
void selector_release(selector *s);
/* 1 if the label set (sorted by name) matches every matcher. */
int selector_matches(const selector *s, const codec_label *l, uint32_t n);

/* ---- verification (verify.c) --------------------------------------------------------------- */
typedef struct verify_report {
    size_t nproblems;
    uint64_t series, chunks, samples;
    FILE *out; /* problems are printed here as they are found (may be NULL) */
    size_t max_print;
} verify_report;

/* Check a block directory end to end; problems are counted in r. Returns 0 when the block
 * could be walked (even with problems), <0 when it could not be opened at all. */
int verify_block(const char *dir, verify_report *r, st_err *err);

/* ---- merge engine (merge.c) --------------------------------------------------------------- */
typedef enum { MERGE_DEDUP_NONE = 0, MERGE_DEDUP_PENALTY = 1 } merge_dedup;

typedef struct merge_opts {
    int threads; /* 0: one per core */
    merge_dedup dedup;
    const char *const *replica_labels; /* dropped from the output's external labels */
    size_t nreplica_labels;
    int verify;         /* walk the new block with verify_block before it is renamed into place */
    const char *source; /* thanos.source of the output (default "compactor") */
    /* External labels of the output (the group's), written with a thanos section whatever the
     * inputs had; when NULL they come from the inputs, replica labels removed. */
    const codec_kv *labels;
    size_t nlabels;
    int have_labels;
} merge_opts;

typedef struct merge_stats {
    codec_ulid ulid;
    char dir[4096]; /* the new block, "" when nothing was written */
    uint64_t series, chunks, samples;
    uint64_t chunks_copied, chunks_reencoded, overlap_groups, histogram_chunks_dropped;
    int empty; /* the inputs held no samples in range: no block was written */
    double seconds;
} merge_stats;

/* Merge blocks of one group into out_dir/<new ULID>, written under <ULID>.tmp-for-creation and
 * renamed into place when complete. */
int merge_blocks(codec_block *const *in, size_t nin, const char *out_dir, const merge_opts *o,
                 merge_stats *st, st_err *err);
/* Penalty dedup of two sorted sample arrays (exposed for table tests); returns the count. */
size_t merge_penalty2(const int64_t *ta, const double *va, size_t na, const int64_t *tb,
                      const double *vb, size_t nb, int64_t *to, double *vo);

/* Fill meta's thanos.files (chunks/NNNNNN, index with sizes; meta.json) and segment_files from the
 * block directory dir. */
int meta_set_files(codec_meta *meta, const char *dir, st_err *err);

/* ---- flags shared by plan and run (plan_args.c) --------------------------------------------- */
#include "objstore/objstore.h"
#include "planner/planner.h"

#define PLAN_ARGS_NFLAGS 19
typedef struct plan_args {
    const char *cfg_file, *cfg_yaml, *bucket, *now_s, *data_dir, *log_level, *log_format;
    int64_t concurrency;
    planner_flags pf;
    cli_strings replicas;
} plan_args;

void plan_args_init(plan_args *a);
/* Fill f (room for PLAN_ARGS_NFLAGS) with the shared flags; returns how many. */
size_t plan_args_flags(plan_args *a, cli_flag *f);
/* After cli_parse: check values, set up logging, parse --now. 0 or an exit code (printed). */
int plan_args_check(plan_args *a, const char *cmd, int64_t *now);
/* Sync the bucket with these settings and log one line about it. */
int plan_args_sync(plan_args *a, planner_settings *s, objstore *store, planner_blockset **set,
                   st_err *err);
void plan_args_release(plan_args *a);

/* ---- commands ------------------------------------------------------------------------------ */
int cmd_dump(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_rewrite(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif
