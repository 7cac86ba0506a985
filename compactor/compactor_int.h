/*
 * compactor_int.h - internals shared by the files of compactor/: command-line parsing, output
 * formatting that matches Go's, series selectors, block verification.
 */
#ifndef STRATA_COMPACTOR_INT_H
#define STRATA_COMPACTOR_INT_H

#include "compactor.h"
#include "objstore/objstore.h"
#include "planner/planner.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

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

/* ---- progress of long jobs (progress.c) ------------------------------------------------------
 * A reporter thread shows the jobs under way: PROGRESS_TTY redraws a status line on stderr twice
 * a second, PROGRESS_LOG logs a "progress" line per job every interval. Jobs register with
 * progress_begin (NULL, and every call a no-op, when no reporter runs). */
typedef enum { PROGRESS_OFF = 0, PROGRESS_TTY, PROGRESS_LOG } progress_mode;
typedef struct progress progress;
typedef struct progress_args {
    const char *mode;     /* --progress: auto (a terminal: tty, else log), tty, log, off */
    const char *interval; /* --progress.interval: between log lines (30s) */
} progress_args;
#define PROGRESS_ARGS_INIT                                                                         \
    {                                                                                              \
        "auto", "30s"                                                                              \
    }
/* The --progress and --progress.interval entries of a flag table. */
#define PROGRESS_FLAGS(pa)                                                                         \
    {"progress", CLI_STRING, &(pa).mode,                                                           \
     "auto (a status line on a terminal, else log lines), tty, log or off"},                       \
    {                                                                                              \
        "progress.interval", CLI_STRING, &(pa).interval, "time between progress log lines (30s)"   \
    }
/* The same into f (2 entries, a set to the defaults); returns 2. */
size_t progress_flags(progress_args *a, cli_flag *f);
/* After cli_parse: check the flags and start the reporter. 0 or COMPACTOR_EXIT_USAGE (printed). */
int progress_args_start(const progress_args *a, const char *cmd);
int progress_parse_mode(const char *s, progress_mode *out);
int progress_start(progress_mode mode, int64_t log_interval_ms);
void progress_stop(void);
progress *progress_begin(const char *what, const char *block, uint64_t total_series,
                         uint64_t total_bytes);
void progress_add(progress *p, uint64_t series, uint64_t bytes); /* thread-safe */
void progress_end(progress *p);

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

/* ---- marker files (markers.c) ---------------------------------------------------------------
 * Thanos' marker files next to a block's meta.json, written exactly as Thanos writes them
 * (compact JSON, Go's field order and escaping, no newline; details omitted when empty):
 *   deletion-mark.json       {"id","version":1,"details","deletion_time"}
 *   no-compact-mark.json     {"id","version":1,"details","no_compact_time","reason"}
 *   no-downsample-mark.json  {"id","version":1,"details","no_downsample_time","reason"}
 * A block prefix is "<ULID>", "<tenant>/<ULID>" or either with a trailing '/' (planner_block's
 * prefix works as is). What the run writes (details as Thanos writes them):
 *   compaction inputs   markers_put(s, in->prefix, MARKER_DELETION, NULL,
 *                                   "source of compacted block", now_s, NULL, &err)
 *   gc                  ... MARKER_DELETION, NULL, "outdated block" ...
 *   retention           ... MARKER_DELETION, NULL, "block exceeding retention of 30d" ...
 *   quarantine          markers_quarantine(s, b->prefix, NULL, "index", "CRC mismatch ...",
 *                                          now_s, NULL, &err)
 */
typedef enum {
    MARKER_DELETION = 0,  /* deletion-mark.json */
    MARKER_NO_COMPACT,    /* no-compact-mark.json */
    MARKER_NO_DOWNSAMPLE, /* no-downsample-mark.json */
    MARKER_NTYPES
} marker_type;

/* Reasons of no-compact / no-downsample marks: Thanos' (any string is valid to Thanos). */
#define MARKER_REASON_MANUAL              "manual"
#define MARKER_REASON_INDEX_SIZE          "index-size-exceeding"
#define MARKER_REASON_OUT_OF_ORDER        "block-index-out-of-order-chunk"
#define MARKER_REASON_DOWNSAMPLE_VERTICAL "downsample-vertical-compaction"
/* strata's: a block quarantined because it could not be read (CRC, order, range, index). */
#define MARKER_REASON_CORRUPT "block-corrupt"

/* "deletion-mark.json", ...; "deletion", "no-compact", "no-downsample". */
const char *marker_filename(marker_type t);
const char *marker_type_name(marker_type t);
/* Short names ("no-compact") and Thanos' file names ("no-compact-mark.json"). ST_EINVAL else. */
int marker_type_parse(const char *s, marker_type *t);

/* Append the marker's bytes to out. ulid is upper-cased; reason is ignored for deletion marks
 * and defaults to "manual" for the others; details may be NULL or "" (then omitted). ST_EINVAL
 * when ulid is not a ULID. */
int marker_encode(st_buf *out, marker_type t, const char *ulid, const char *reason,
                  const char *details, int64_t time_s);
/* Go's json.Marshal of a string (HTML-safe escaping, invalid UTF-8 as \ufffd), appended. */
int marker_json_string(st_buf *b, const char *s);

typedef struct marker_info {
    marker_type type;
    codec_ulid id;
    int version;    /* always 1 once decoded */
    int64_t time_s; /* deletion_time, no_compact_time or no_downsample_time */
    char *reason;   /* "" if absent; heap, freed by marker_info_release */
    char *details;  /* "" if absent */
} marker_info;

/* Parse a marker as Thanos' ReadMarker does: a JSON object whose version is 1 (ST_ECORRUPT
 * otherwise, message naming `name`). */
int marker_decode(marker_info *out, marker_type t, const void *p, size_t len, const char *name,
                  st_err *err);
void marker_info_release(marker_info *m);

/* Write the marker unless one exists: then, as Thanos, it is left unchanged (its time is the one
 * that counts), a warning is logged and *existed (may be NULL) is set to 1. */
int markers_put(objstore *s, const char *block_prefix, marker_type t, const char *reason,
                const char *details, int64_t now_s, int *existed, st_err *err);
/* Read a marker: ST_ENOTFOUND when absent, ST_ECORRUPT when unreadable. */
int markers_get(objstore *s, const char *block_prefix, marker_type t, marker_info *out,
                st_err *err);
/* Whether the block has that marker. */
int markers_exists(objstore *s, const char *block_prefix, marker_type t, int *exists, st_err *err);
/* Delete a marker; a missing one is a warning, not an error (*existed = 0). */
int markers_remove(objstore *s, const char *block_prefix, marker_type t, int *existed, st_err *err);
/* Quarantine a block that cannot be read: a no-compact mark with reason (NULL:
 * MARKER_REASON_CORRUPT) and details "quarantined by strata: <file>: <what>". The planner then
 * leaves the block out of every compaction; an operator lifts it with
 * `strata mark --marker=no-compact --remove`. */
int markers_quarantine(objstore *s, const char *block_prefix, const char *reason, const char *file,
                       const char *what, int64_t now_s, int *existed, st_err *err);

/* ---- metrics (metrics.c) ---------------------------------------------------------------------
 * A small thread-safe registry of counters and gauges with fixed label names, rendered in the
 * Prometheus text exposition format (0.0.4), written as a node-exporter textfile and/or pushed
 * to a Pushgateway. Families with no series are left out of the output.
 */
typedef struct metrics metrics;
typedef enum { METRICS_COUNTER = 0, METRICS_GAUGE = 1 } metrics_kind;

int metrics_create(metrics **out);
void metrics_free(metrics *m);
/* Declare a family. Names follow Prometheus' rules ([a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"); ST_EINVAL otherwise or when name is taken. */
int metrics_declare(metrics *m, const char *name, metrics_kind kind, const char *help,
                    const char *const *label_names, size_t nlabels, st_err *err);
/* Add delta (>= 0 for counters) to / set the series with these label values (one per declared
 * label name, in order; NULL when the family has none). ST_EINVAL for an unknown family or a
 * negative counter delta (and a warning is logged: that is a bug in the caller). */
int metrics_add(metrics *m, const char *name, const char *const *label_values, double delta);
int metrics_set(metrics *m, const char *name, const char *const *label_values, double v);
/* ST_ENOTFOUND when the series has no value yet. */
int metrics_get(metrics *m, const char *name, const char *const *label_values, double *v);
/* Remove every series of a family (e.g. before re-setting gauges). */
int metrics_clear(metrics *m, const char *name);
/* Text exposition: families sorted by name with # HELP and # TYPE, series sorted by labels. */
int metrics_render(metrics *m, st_buf *out);
/* The rendering written to path atomically (path.tmp, fsync, rename): node-exporter's textfile
 * collector never sees half a file. */
int metrics_write_textfile(metrics *m, const char *path, st_err *err);

typedef enum {
    METRICS_PUSH_REPLACE = 0, /* PUT: the group's metrics become exactly these */
    METRICS_PUSH_MERGE = 1,   /* POST: families of these names are replaced, the rest kept */
} metrics_push_method;
/* Push to a Pushgateway at url (http[s]://host:port[/path-prefix]) under
 * /metrics/job/<job>[/<k>/<v>]... (grouping: k, v pairs; values with '/' or empty are sent
 * base64url-encoded as `<k>@base64`). timeout_ms 0: 10 s. Errors name the URL (without
 * credentials) and the HTTP status with the start of the response body. */
int metrics_push(metrics *m, const char *url, const char *job, const char *const *grouping,
                 size_t ngrouping, metrics_push_method method, long timeout_ms, st_err *err);

/* What became of an action in a run, as logs, metrics and the history name it (history.c). */
enum { OUT_OK = 0, OUT_FAILED, OUT_QUARANTINED, OUT_SKIPPED, OUT_N };
extern const char *const outcome_names[OUT_N]; /* "ok", "failed", "quarantined", "skipped" */

/* ---- strata's run metrics (metrics.c) ---------------------------------------------------------
 * How `strata run` uses the registry:
 *   metrics *m; metrics_strata_create(&m);               every strata_* family declared
 *   metrics_strata_todo(m, set, plan, shard, nshards);   todo gauges from this pod's share of
 *                                                        the plan (0 for tenants without work)
 *   per action: metrics_strata_action(m, a, "ok", bytes_read, bytes_written);
 *               outcomes (as run.c logs them): "ok", "failed", "quarantined", "skipped"
 *   per quarantined block: metrics_add(m, "strata_blocks_quarantined_total", NULL, 1);
 *   metrics_strata_finish(m, start_ms, end_ms, succeeded);  succeeded: the run did its work
 *                                                           (exit 0 or 3)
 *   metrics_strata_publish(m, &(metrics_publish_opts){.textfile = ..., .pushgateway_url = ...,
 *                          .grouping = (const char *[]){"shard", "2"}, .ngrouping = 2});
 * Families (names per Prometheus' conventions):
 *   strata_last_success_timestamp_seconds   gauge   end of the last run that did its work
 *   strata_last_run_timestamp_seconds       gauge   end of the last run, whatever its outcome
 *   strata_run_duration_seconds             gauge   wall time of the last run
 *   strata_actions_total{type,outcome}      counter actions of this run (types of the plan)
 *   strata_bytes_read_total                 counter bytes downloaded by this run
 *   strata_bytes_written_total              counter bytes uploaded by this run
 *   strata_blocks_quarantined_total         counter blocks quarantined by this run
 *   strata_todo_compactions{tenant}         gauge   compactions left to do
 *   strata_todo_downsamples{tenant}         gauge   downsamplings left to do
 *   strata_todo_deletions{tenant}           gauge   blocks left to mark, delete or clean up
 *   strata_metrics_push_failures_total      counter failed Pushgateway pushes (textfile only)
 */
int metrics_strata_create(metrics **out);
/* Set the todo gauges from the actions of the plan that pod `shard` of `nshards` runs
 * (nshards 0 or 1: all). Tenants of the blockset (may be NULL) without work get 0. */
void metrics_strata_todo(metrics *m, const planner_blockset *set, const struct planner_plan *p,
                         unsigned shard, unsigned nshards);
/* Count one action; on "ok" its tenant's todo gauge goes down by one (by its number of
 * blocks for deletions), so the gauges pushed at the end say what is left. */
void metrics_strata_action(metrics *m, const planner_action *a, const char *outcome,
                           uint64_t bytes_read, uint64_t bytes_written);
void metrics_strata_finish(metrics *m, int64_t start_ms, int64_t end_ms, int succeeded);

typedef struct metrics_publish_opts {
    const char *textfile;        /* --metrics.textfile; NULL: none */
    const char *pushgateway_url; /* --pushgateway.url; NULL: none */
    const char *job;             /* NULL: "strata" */
    const char *const *grouping; /* extra grouping key pairs, e.g. {"shard", "2"} when sharded */
    size_t ngrouping;            /* number of strings (2 per pair) */
    long timeout_ms;             /* per push; 0: 10 s */
} metrics_publish_opts;
/* Push, then write the textfile. A run that did its work replaces its Pushgateway group (PUT);
 * one that did not merges (POST) so the group keeps its last success time, and the textfile
 * keeps the one from the previous file. Failures are logged and counted, never fatal: returns
 * the number of sinks that failed (0 when all worked); the run's exit code must not depend on
 * it. */
int metrics_strata_publish(metrics *m, const metrics_publish_opts *o);

/* ---- downsampling (downsample.c) ------------------------------------------------------------ */
/* Thanos' downsampling (pkg/compact/downsample): raw -> 5m -> 1h, or any resolutions. */
#define DOWNSAMPLE_MAX_RES 8
#define DOWNSAMPLE_RAW_RES 60000 /* the raw resolution Thanos assumes for its chunk count */

typedef struct downsample_opts {
    int threads;     /* 0: one per core */
    int verify;      /* walk each new block with verify_block before it is renamed into place */
    int decode_only; /* benchmark floor: read and decode every chunk, aggregate and write nothing */
} downsample_opts;

typedef struct downsample_out {
    int64_t resolution;
    codec_ulid ulid;
    char dir[4096]; /* the new block */
    uint64_t series, chunks, samples;
} downsample_out;

typedef struct downsample_stats {
    size_t nout;
    downsample_out out[DOWNSAMPLE_MAX_RES];
    uint64_t in_series, in_chunks, in_chunk_bytes, in_samples;
    uint64_t hist_series_skipped, hist_chunks_skipped; /* native histograms: not downsampled */
    uint64_t empty_xor_skipped, xor_repaired;          /* XOR chunks met in a downsampled input */
    double seconds;
} downsample_stats;

/* Downsample one block to each of nres resolutions (ms, strictly increasing, each above the
 * input's): one output block per resolution, out_dir/<new ULID>, written under
 * <ULID>.tmp-for-creation and renamed into place when complete (meta.json last). The first
 * resolution is computed from the input, each later one from the one before it, in memory, from
 * the same read: exactly what Thanos would produce by downsampling the previous output block.
 * Output meta as Thanos writes it: the input's meta with a new ULID, the resolution, source
 * "compactor", recounted stats and the file list. Native-histogram chunks are skipped (counted).
 * With o->decode_only nothing is written (st->nout == 0). */
int downsample_block(const codec_block *in, const int64_t *resolutions, size_t nres,
                     const char *out_dir, const downsample_opts *o, downsample_stats *st,
                     st_err *err);

/* The per-series algorithm, exposed for table tests. A ds_chunks holds the aggregate chunks of
 * one series decoded: for each aggregate (CODEC_AGGR_*) the samples of all chunks in one array,
 * chunk c owning [off[a][c], off[a][c + 1]); an empty range is an absent aggregate. */
#define DS_GROUP_START 1 /* flags[c]: a new run of float chunks (after skipped histograms) */
/* flags[c]: count, sum, min and max of the chunk hold as many samples on the same stamps, which
 * ascend from 0, and none of their values is a stale marker. Set where that holds by construction
 * (our own windows of ascending samples), so later stages need not compare or scan for it. */
#define DS_SHARED 2
typedef struct ds_chunks {
    int64_t *t[CODEC_AGGR_N];
    double *v[CODEC_AGGR_N];
    size_t n[CODEC_AGGR_N], cap[CODEC_AGGR_N];
    size_t *off[CODEC_AGGR_N]; /* nchunks + 1 entries each */
    int64_t *mint, *maxt;      /* chunk meta (first and last window stamp) */
    uint8_t *flags;
    size_t nchunks, chunks_cap;
} ds_chunks;

/* Scratch arrays of the algorithm (grown on demand, kept across series). */
typedef struct ds_work {
    int64_t *bt;
    double *bv;
    size_t bcap;
} ds_work;

void ds_chunks_init(ds_chunks *c);
void ds_chunks_reset(ds_chunks *c);
void ds_chunks_release(ds_chunks *c);
void ds_work_init(ds_work *w);
void ds_work_release(ds_work *w);
/* Append one chunk to dst: n[a] samples t[a]/v[a] of each aggregate, and its meta. */
int ds_chunks_add(ds_chunks *dst, const int64_t *const t[CODEC_AGGR_N],
                  const double *const v[CODEC_AGGR_N], const size_t n[CODEC_AGGR_N], int64_t mint,
                  int64_t maxt, uint8_t flags);

/* targetChunkCount: chunks for a series of count samples over [mint, maxt] at in_res, output
 * at out_res: the smallest x >= 1 giving at most 140 expected output samples per chunk. */
int64_t ds_target_chunk_count(int64_t mint, int64_t maxt, int64_t in_res, int64_t out_res,
                              int64_t count);
/* expandChunkIterator on one chunk's samples: drops stale NaNs and samples going back in time
 * (and so negative timestamps: the check starts at 0). Writes to ot/ov (may alias t/v). */
size_t ds_expand(const int64_t *t, const double *v, size_t n, int64_t *ot, double *ov);
/* DownsampleRaw: one run of expanded raw float samples (stale NaNs gone, t ascending) into
 * AggrChunks appended to out. t and v may be rewritten (other NaNs are removed in place).
 * nchunks 0 applies Thanos' chunk count rule; tests force others, as Thanos' tests do. */
int ds_downsample_raw(int64_t *t, double *v, size_t n, int64_t res, int64_t nchunks,
                      int group_start, ds_chunks *out, ds_work *w, st_err *err);
/* downsampleAggr: chunks [c0, c1) of in (one run of float AggrChunks at in_res) into AggrChunks
 * at out_res appended to out; nchunks as above. */
int ds_downsample_aggr(const ds_chunks *in, size_t c0, size_t c1, int64_t in_res, int64_t out_res,
                       int64_t nchunks, ds_chunks *out, ds_work *w, st_err *err);

/* ---- the windowing kernels (ds_window.c) ----------------------------------------------------- */

#define DS_STALE_NAN 0x7ff0000000000002ull /* Prometheus' value.StaleNaN */

static inline int ds_is_stale(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u == DS_STALE_NAN;
}

/* currentWindow: the last millisecond of t's window, t - t%r + r - 1, wrapping as Go's does. */
static inline int64_t ds_window_end(int64_t t, int64_t r)
{
    return (int64_t)((uint64_t)t - (uint64_t)(t % r) + (uint64_t)r - 1u);
}

/* downsampleBatch's loop state over one batch, so that one kernel can stop at a window and the
 * other go on from it. */
typedef struct ds_wstate {
    size_t i, k;    /* the next sample; windows written */
    size_t len;     /* the samples of the last window (where the next is looked for) */
    int sorted;     /* t is known to ascend (else windows end at the first t past them) */
    double counter; /* the running counter after sample i - 1 */
    int64_t wend;   /* the previous window's end, not cut short; -1 before the first */
} ds_wstate;

/* Where windows go: entry k of each array is window k's. */
typedef struct ds_wout {
    int64_t *t;
    double *count, *sum, *min, *max, *counter;
} ds_wout;

/* A fresh state for a batch of values v (n >= 1); sorted: its t ascend (not required). */
void ds_windows_begin(ds_wstate *s, const double *v, int sorted);
/* downsampleBatch with a fresh floatAggregator over t/v[0, n) (n >= 1), from state
 * s to the end: per window (aligned to res, stamped min(window end, t[n - 1])) its count, sum,
 * min, max and the running counter of the whole batch (the first sample sets it; each later one
 * adds its increase, or itself when below the previous one). A window ends before the first
 * sample past its end: with t not ascending, later samples of the window start another. */
void ds_windows(const int64_t *t, const double *v, size_t n, int64_t res, const ds_wout *o,
                ds_wstate *s);
/* The portable build of it (ds_windows takes a VEX-encoded one where the CPU has AVX2). */
void ds_windows_base(const int64_t *t, const double *v, size_t n, int64_t res, const ds_wout *o,
                     ds_wstate *s);
/* The same from a fresh state, in vector lanes, for as many windows as it can prove give
 * ds_windows' result to the bit (integer values: exact in any order); stops at the first it
 * cannot (a float, a NaN, a huge value), with s at that window's start for ds_windows. */
void ds_windows_exact(const int64_t *t, const double *v, size_t n, int64_t res, const ds_wout *o,
                      ds_wstate *s);
/* The portable build of it (ds_windows_exact picks an AVX2 one where the CPU has AVX2). */
void ds_windows_exact_base(const int64_t *t, const double *v, size_t n, int64_t res,
                           const ds_wout *o, ds_wstate *s);
/* ds_windows for one of its outputs, over n >= 1 samples: the window sums (of sums, or of
 * counts), mins, maxes, or the running counter, with the same stamps and arithmetic. Returns
 * the number of windows. */
enum { DS_REDUCE_SUM, DS_REDUCE_MIN, DS_REDUCE_MAX, DS_REDUCE_COUNTER };
size_t ds_window_reduce(const int64_t *t, const double *v, size_t n, int64_t res, int op,
                        int sorted, int64_t *wt, double *out);
/* ds_window_reduce's SUM, SUM, MIN and MAX of v[0..3] on the same ascending stamps t, in one
 * pass: wt gets the shared stamps. */
size_t ds_window_reduce4(const int64_t *t, const double *const v[4], size_t n, int64_t res,
                         int64_t *wt, double *const out[4]);

/* Over the counter samples t/v[0, n) of aggregate chunks, in one pass: Thanos'
 * ApplyCounterResetsSeriesIterator (a running total: a sample at the previous one's stamp only
 * sets the last value, one going back in time is skipped, NaNs are skipped), and over the totals
 * ds_window_reduce's DS_REDUCE_COUNTER at res. ot/ov (room for n + 2) get the first total, each
 * window's counter, and the last window's stamp again with the last value read: the counter
 * aggregate as downsampleAggrBatch writes it. Returns the samples written (windows + 2), 0 when
 * every value is NaN, or SIZE_MAX when the first kept stamp is negative (such samples are for
 * expandChunkIterator to drop first: take the two passes then). */
size_t ds_counter_windows(const int64_t *t, const double *v, size_t n, int64_t res, int64_t *ot,
                          double *ov);
/* The same in the three passes Thanos makes (the totals into w's arrays, expandChunkIterator
 * over them, then the windows), for any stamps: *m gets the samples written (0 for none).
 * 0 or ST_ENOMEM. */
int ds_counter_windows_passes(const int64_t *t, const double *v, size_t n, int64_t res, ds_work *w,
                              int64_t *ot, double *ov, size_t *m);
/* ds_counter_windows' short way, which it takes first: for counters that only count (stamps
 * ascending from 0, integer values of magnitude at most 2^51 that never go down; see
 * ds_window.c), the same samples to the bit; SIZE_MAX for any other
 * samples, and for fewer than two. */
size_t ds_counter_windows_rising(const int64_t *t, const double *v, size_t n, int64_t res,
                                 int64_t *ot, double *ov);
/* The portable build of it (ds_counter_windows_rising checks in AVX2 where the CPU has it). */
size_t ds_counter_windows_rising_base(const int64_t *t, const double *v, size_t n, int64_t res,
                                      int64_t *ot, double *ov);

/* ---- run history (history.c) -----------------------------------------------------------------
 * Each `strata run` (each shard) keeps what it planned and what became of every action in one
 * object of zstd-compressed JSON lines (the format is in history.c and README.md):
 *   _strata/runs/<UTC start as YYYYMMDDTHHMMSS.mmmZ>-<shard index>.jsonl.zst
 * How the run uses it:
 *   history_create(&h, &info);                      after planning: the "run" line
 *   history_add_action(h, n, a);                    each action of this shard, n 1-based
 *   history_save(h, store, &err);                   status "started": a crash leaves the plan
 *   history_add_outcome(h, n, a, &o);               after each action (any thread)
 *   history_finish(h, end_ms, exit_code, error, pruned);
 *   history_save(h, store, &err);                   the same key, overwritten, "finished"
 * A NULL history is allowed everywhere (nothing is recorded). Running out of memory while
 * recording is sticky and reported by history_encode / history_save; history never fails a run.
 */
#define HISTORY_PREFIX  "_strata/runs/"
#define HISTORY_KEY_MAX 80
/* Reading history back refuses objects larger than these (compressed, decompressed). */
#define HISTORY_MAX_OBJECT  (64u << 20)
#define HISTORY_MAX_DECODED (256u << 20)
#define HISTORY_MAX_PLANNED (1u << 22) /* actions in one plan, as `strata history` reads it */

typedef struct history history;

typedef struct history_info {
    int64_t start_ms; /* wall clock at the start of the run: names the object */
    int64_t now_ms;   /* the plan's now (--now) */
    unsigned shard, nshards;
    const char *owner; /* host/pid/random, as in lease objects */
    const char *host;
    const char *bucket; /* objstore_name() */
    const planner_settings *settings;
    const char *dedup_func; /* --deduplication.func: "" or "penalty" */
    int64_t history_retention_ms;
    size_t planned; /* actions of the whole plan, every shard's */
} history_info;

typedef struct history_outcome {
    const char *outcome; /* "ok", "failed", "quarantined" or "skipped" */
    int64_t duration_ms;
    uint64_t bytes_read, bytes_written;
    const char *error;         /* "" or NULL when none */
    const codec_ulid *created; /* blocks this action published */
    size_t ncreated;
    const codec_ulid *quarantined; /* inputs it marked no-compact */
    size_t nquarantined;
} history_outcome;

/* "_strata/runs/20261122T081530.123Z-0.jsonl.zst". */
void history_key_format(char out[HISTORY_KEY_MAX], int64_t start_ms, unsigned shard);
/* The start time and shard of a key of that form (with the prefix); ST_EINVAL for anything
 * else (other files, impossible dates). */
int history_key_parse(const char *key, int64_t *start_ms, unsigned *shard);

int history_create(history **out, const history_info *info);
void history_free(history *h);
/* The object key, borrowed until history_free ("" for NULL). */
const char *history_key(const history *h);
void history_add_action(history *h, size_t n, const planner_action *a);
void history_add_outcome(history *h, size_t n, const planner_action *a, const history_outcome *o);
/* The "summary" line; counts come from the outcome lines. error: "" or NULL when none. */
void history_finish(history *h, int64_t end_ms, int exit_code, const char *error, size_t pruned);
/* The object's bytes (zstd frame of the JSON lines), appended to out. */
int history_encode(history *h, st_buf *out, st_err *err);
/* history_encode, then put it under history_key(). */
int history_save(history *h, objstore *s, st_err *err);
/* The keys of the history objects whose start (read from the key) is in [from_ms, before_ms), in
 * key order (heap strings in out, appended; free with history_keys_release). Other names under
 * the prefix are left out. */
typedef struct history_keys {
    char **v;
    size_t n, cap;
} history_keys;
int history_list(objstore *s, int64_t from_ms, int64_t before_ms, history_keys *out, st_err *err);
void history_keys_release(history_keys *k);
/* Delete every history object whose start (from its key) is before cutoff_ms, except keep (may
 * be NULL). *deleted counts them. Keys that do not parse are left alone. */
int history_prune(objstore *s, int64_t cutoff_ms, const char *keep, size_t *deleted, st_err *err);

/* zstd, one frame; decompression accepts concatenated frames and refuses a truncated one or
 * more than max bytes (ST_ETOOBIG). Messages name `name`. */
int history_compress(const void *p, size_t n, st_buf *out, st_err *err);
int history_decompress(const void *p, size_t n, st_buf *out, size_t max, const char *name,
                       st_err *err);

/* A history object read back: its JSON objects in order. Lines that are not a JSON object with a
 * string "kind" are counted in nbad and left out; bad holds the first one's description. */
struct json_t;
typedef struct history_lines {
    struct json_t **v;
    size_t n, cap;
    size_t nbad;
    char bad[256];
} history_lines;

/* Decompress and split; ST_ECORRUPT (naming key) when the bytes are not a zstd stream, a
 * truncated one, or hold no line at all. Lines already read are kept in out either way. */
int history_decode(const void *p, size_t n, const char *key, history_lines *out, st_err *err);
void history_lines_release(history_lines *l);

/* ---- commands ------------------------------------------------------------------------------ */
int cmd_dump(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_rewrite(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_mark(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_downsample(int argc, char **argv);
int cmd_history(int argc, char **argv);

#endif
