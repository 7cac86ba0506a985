/*
 * planner.h - the one public header of strata's planner module: what is in the bucket (sync), the
 * settings that govern it (per-tenant retention, downsampling, replica labels, delays), and the
 * plan, an ordered list of actions that a run executes and `strata plan` prints. The planner sees
 * metadata only (meta.json and the marker files); it never reads an index or a chunk, and it
 * never writes to the bucket.
 *
 *   planner_settings_create()          flags (+ tenant YAML) -> settings
 *   planner_sync()                     bucket -> blockset (metas, markers, partial uploads)
 *   planner_plan()                     blockset + settings + now -> plan   (a pure function)
 *   planner_plan_format()              plan -> text table or JSON
 *
 * Ownership follows STYLE.md: a `**out` first parameter gives the caller a handle to free with
 * the matching `_free()` (NULL on failure; `_free(NULL)` does nothing). Pointers inside a
 * blockset stay valid until planner_blockset_free(); a plan borrows its blockset's blocks, so
 * free the plan first. Nothing here keeps hidden state: two plans may be built at once.
 */
#ifndef STRATA_PLANNER_H
#define STRATA_PLANNER_H

#include "codec/codec.h"
#include "common/common.h"
#include "objstore/objstore.h"

#include <stdint.h>

/* Resolutions (thanos.downsample.resolution, ms) and Thanos' downsampling thresholds: a raw
 * block gets a 5m copy once its range is at least 40h, a 5m block a 1h copy from 10d. */
#define PLANNER_RES_RAW             0
#define PLANNER_RES_5M              300000
#define PLANNER_RES_1H              3600000
#define PLANNER_DOWNSAMPLE_RANGE_5M 144000000LL /* 40h */
#define PLANNER_DOWNSAMPLE_RANGE_1H 864000000LL /* 10d */
/* Partial uploads (no or unreadable meta.json) are removed when their newest object is older
 * than this (Thanos' PartialUploadThresholdAge, a constant there too). */
#define PLANNER_PARTIAL_MAX_AGE 172800000LL /* 48h */
/* Thanos' default compaction ranges 1h, 2h, 8h, 2d, 14d; the horizontal planner uses all but the
 * first, and the tombstone rule uses ranges[n/2] (8h). */
#define PLANNER_MAX_RANGES 8
/* Longest group key: "<int64>@<uint64>". */
#define PLANNER_GROUP_KEY_LEN 48

/* =============================================================================================
 * Durations and times.
 */
/* Prometheus' model.ParseDuration: `90m`, `36h`, `30d`, `2w`, `1y` (365d), combinations in
 * descending unit order (`1h30m`, `1d12h`), `ms`, and a bare `0`. ST_EINVAL otherwise. */
int planner_duration_parse(const char *s, int64_t *ms);
/* model.Duration.String(): "0s", "30d", "2w", "1y", "1d12h", "90m" -> "1h30m". */
void planner_duration_format(char *out, size_t n, int64_t ms);
/* RFC 3339 (`2023-11-14T00:00:00Z`, fraction and numeric offsets allowed) to Unix ms. */
int planner_time_parse(const char *s, int64_t *ms);
/* Unix ms as RFC 3339 UTC; milliseconds are printed only when not zero. */
void planner_time_format(char *out, size_t n, int64_t ms);

/* =============================================================================================
 * Settings: command-line defaults, then the tenant file's `defaults:`, then its per-tenant
 * overrides (keys not given fall back). Immutable once created; share freely between threads.
 */
typedef enum {
    PLANNER_TENANTS_NONE = 0, /* Thanos' flat bucket: <ULID>/...; tenant "" */
    PLANNER_TENANTS_PREFIX,   /* Cortex/Mimir: <tenant>/<ULID>/... */
    PLANNER_TENANTS_LABEL,    /* Thanos Receive: the external label named tenant_label */
} planner_tenant_layout;

enum { PLANNER_RAW = 0, PLANNER_5M = 1, PLANNER_1H = 2 }; /* index of retention_ms[] */

typedef struct planner_tenant_settings {
    const char *name;                  /* NULL for the defaults */
    int64_t retention_ms[3];           /* raw, 5m, 1h; 0 keeps forever */
    int downsampling;                  /* 1: raw -> 5m -> 1h copies are planned */
    const char *const *replica_labels; /* dropped from group labels; vertical merges dedup */
    size_t nreplica_labels;
} planner_tenant_settings;

typedef struct planner_settings {
    planner_tenant_settings defaults;
    const planner_tenant_settings *tenants; /* sorted by name */
    size_t ntenants;
    planner_tenant_layout tenant_layout;
    const char *tenant_label;
    int64_t delete_delay_ms;               /* marked blocks are deleted when the mark is older */
    int64_t consistency_delay_ms;          /* younger uploads are not touched yet */
    int64_t ranges_ms[PLANNER_MAX_RANGES]; /* ascending, each dividing the next */
    size_t nranges;
    uint64_t max_index_bytes; /* compactions whose inputs' indexes sum past 85% are split */
    void *priv;               /* owned storage */
} planner_settings;

/* The command line, as strings (NULL: the default named). */
typedef struct planner_flags {
    const char *retention_raw;         /* --retention.resolution-raw, "0d" */
    const char *retention_5m;          /* --retention.resolution-5m, "0d" */
    const char *retention_1h;          /* --retention.resolution-1h, "0d" */
    const char *const *replica_labels; /* --deduplication.replica-label, repeatable, a,b */
    size_t nreplica_labels;
    int downsampling_disable;       /* --downsampling.disable */
    const char *delete_delay;       /* --delete-delay, "48h" */
    const char *consistency_delay;  /* --consistency-delay, "30m" */
    const char *tenant_layout;      /* --tenant-layout, "none" | "prefix" | "label" */
    const char *tenant_label;       /* --tenant-label, "tenant_id" */
    const char *tenant_config_file; /* --tenant-config: YAML file */
    const char *tenant_config_yaml; /* the same YAML as text (tests); not with the file */
    const char *max_index_size;     /* --compact.block-max-index-size, "64GB" (base 2) */
} planner_flags;

/* Build settings from flags and the tenant file. Invalid values are ST_EINVAL with a message
 * naming the flag, or the file, the tenant and the key. With downsampling on, a non-zero raw
 * retention under 40h or 5m retention under 10d is refused, per tenant, as Thanos does. */
int planner_settings_create(planner_settings **out, const planner_flags *f, st_err *err);
void planner_settings_free(planner_settings *s);
/* The effective settings of a tenant (the defaults when it has no override). */
const planner_tenant_settings *planner_settings_tenant(const planner_settings *s,
                                                       const char *tenant);
/* Cortex' tenant id rule: 1..150 of [A-Za-z0-9!-_.*'()], not "." or "..", and not the name
 * strata keeps for itself ("_strata"). 1 if valid. */
int planner_tenant_valid(const char *name);

/* =============================================================================================
 * Blocks: one entry per block prefix found in the bucket.
 */
typedef struct planner_mark {
    int present;
    int64_t time_s;      /* deletion_time, no_compact_time or no_downsample_time (Unix s) */
    const char *reason;  /* no-compact and no-downsample marks; "" if none */
    const char *details; /* "" if none */
} planner_mark;

typedef struct planner_file {
    const char *rel_path; /* "chunks/000001", "index", "meta.json" */
    int64_t size_bytes;   /* -1: unknown */
} planner_file;

/* planner_block.state, set by planner_classify(). */
enum {
    PLANNER_BLOCK_PARTIAL = 1u << 0, /* no or unreadable meta.json */
    PLANNER_BLOCK_MARKED_DELETION = 1u << 1,
    PLANNER_BLOCK_NO_COMPACT = 1u << 2,
    PLANNER_BLOCK_NO_DOWNSAMPLE = 1u << 3,
    PLANNER_BLOCK_TOO_FRESH = 1u << 4,  /* younger than the consistency delay */
    PLANNER_BLOCK_SUPERSEDED = 1u << 5, /* its sources are all in another block */
    PLANNER_BLOCK_BAD_TENANT = 1u << 6, /* label layout: the tenant label is not valid */
};
/* planner_block.bad_markers: marker files present but unreadable (treated as absent). */
enum {
    PLANNER_MARKER_DELETION = 1u << 0,
    PLANNER_MARKER_NO_COMPACT = 1u << 1,
    PLANNER_MARKER_NO_DOWNSAMPLE = 1u << 2,
};

typedef struct planner_block {
    codec_ulid ulid;
    const char *tenant; /* "" without tenants */
    const char *prefix; /* object key prefix: "<ULID>/" or "<tenant>/<ULID>/" */

    /* meta.json; zero for a partial block */
    int64_t min_time, max_time;
    struct {
        uint64_t samples, series, chunks, tombstones;
    } stats;
    int level;
    int compaction_failed;
    const codec_ulid *sources; /* compaction.sources, sorted */
    size_t nsources;
    const codec_kv *labels; /* thanos.labels (external labels), sorted by name */
    size_t nlabels;
    int64_t resolution;
    const char *source; /* thanos.source, "" if absent */
    const planner_file *files;
    size_t nfiles;
    uint64_t index_bytes;   /* size of `index`, 0 unknown */
    uint64_t size_bytes;    /* every file but meta.json, 0 unknown */
    int64_t upload_time_ms; /* thanos.upload_time; INT64_MIN when absent or zero */

    /* the bucket */
    const char *partial_reason; /* non-NULL: a partial upload, and why */
    int64_t last_modified_ms;   /* newest object of a partial block; INT64_MIN unknown */
    planner_mark deletion, no_compact, no_downsample;
    unsigned bad_markers;

    /* derived by planner_classify() */
    unsigned state;
    char group[PLANNER_GROUP_KEY_LEN]; /* "<resolution>@<hash>", "" for partial blocks */
    const codec_kv *group_labels;      /* labels without replica labels */
    size_t ngroup_labels;
    codec_ulid superseded_by; /* with PLANNER_BLOCK_SUPERSEDED */
} planner_block;

typedef struct planner_blockset planner_blockset;

int planner_blockset_create(planner_blockset **out);
void planner_blockset_free(planner_blockset *set);
/* Add a deep copy of b (every string and array is copied; derived fields are ignored).
 * tenant, prefix and source may be NULL ("" and "<ULID>/" are used). */
int planner_blockset_add(planner_blockset *set, const planner_block *b, st_err *err);
size_t planner_blockset_count(const planner_blockset *set);
/* Borrowed until planner_blockset_free(); planner_classify() rewrites the derived fields. */
const planner_block *planner_blockset_block(const planner_blockset *set, size_t i);

/* =============================================================================================
 * Sync: list the bucket (per tenant) and read meta.json and markers concurrently through the
 * thread-safe store handle. With a data dir, metas are cached as
 * <data_dir>/meta-syncer/<ULID>/meta.json (as Thanos) and not fetched again; cache entries of
 * blocks gone from the bucket are removed. A marker that cannot be parsed is treated as absent
 * (logged, and flagged in bad_markers). Blocks come out sorted by tenant, then ULID.
 */
typedef struct planner_sync_opts {
    const char *data_dir; /* NULL: no cache */
    int concurrency;      /* threads; 0: 32 (Thanos' --block-meta-fetch-concurrency) */
} planner_sync_opts;

typedef struct planner_sync_stats {
    size_t tenants, blocks, partial;
    size_t meta_fetched, meta_cached; /* GETs of meta.json; metas read from the cache */
    size_t markers_fetched, bad_markers;
    size_t requests; /* every list, get and attributes call */
    double seconds;
} planner_sync_stats;

int planner_sync(planner_blockset **out, objstore *store, const planner_settings *s,
                 const planner_sync_opts *o, planner_sync_stats *stats, st_err *err);

/* =============================================================================================
 * Classification and groups (Thanos §2). A group is a tenant, the external labels without the
 * tenant's replica labels (`<first replica label>="deduped"` when nothing is left, as Thanos),
 * and a resolution; its key is Thanos' `<resolution>@<xxHash64 of the labels>`.
 */
/* xxHash64 (seed 0) over the labels sorted by name, each `name 0xFF value 0xFF`: Prometheus'
 * labels.Hash(). */
uint64_t planner_labels_hash(const codec_kv *labels, size_t n);
/* "<resolution>@<hash as unsigned decimal>", e.g. "0@17241709254077376921" for no labels. */
void planner_group_key(char out[PLANNER_GROUP_KEY_LEN], int64_t resolution, const codec_kv *labels,
                       size_t n);
/* Fill every block's state, group and group labels for these settings and this time. Idempotent;
 * planner_plan() calls it. Not safe while another thread reads the set. */
int planner_classify(planner_blockset *set, const planner_settings *s, int64_t now_ms, st_err *err);

/* =============================================================================================
 * The plan. Actions come in execution order: first the cheap metadata-only ones (so a long
 * compaction backlog or a killed run never delays retention or deletion), then the heavy ones:
 *   delete, cleanup_partial, gc, retention, compact, downsample;
 * within a type by tenant, group key, min_time, max_time and first input ULID. A block is the
 * input of at most one action. Same blockset, settings and now give the same plan, byte for byte.
 */
typedef enum {
    PLANNER_ACT_DELETE = 0,      /* delete a block whose deletion mark is older than the delay */
    PLANNER_ACT_CLEANUP_PARTIAL, /* delete an aborted upload older than 48h */
    PLANNER_ACT_GC,              /* mark a superseded block for deletion ("outdated block") */
    PLANNER_ACT_RETENTION,       /* mark a block past its tenant's retention for deletion */
    PLANNER_ACT_COMPACT,         /* merge blocks of one group into one */
    PLANNER_ACT_DOWNSAMPLE,      /* write the 5m (and 1h) copy of one block */
    PLANNER_ACT_NTYPES
} planner_action_type;

/* "delete", "cleanup_partial", "gc", "retention", "compact", "downsample" */
const char *planner_action_type_name(planner_action_type t);

/* Executing an action (what issue 5's run loop does with each one, in plan order, skipping those
 * planner_action_shard() gives to other pods):
 *  - delete: remove every object under blocks[0]->prefix, meta.json first and
 *    deletion-mark.json last (Thanos' order: a half-deleted block becomes partial).
 *  - cleanup_partial: remove every object under blocks[0]->prefix.
 *  - gc, retention: write `deletion-mark.json` into blocks[0]->prefix (details "outdated block"
 *    or "block exceeding retention of <dur>"), unless one exists.
 *  - compact: download blocks[*] (block->prefix, block->files), merge (dedup with
 *    replica_labels when vertical), write a block whose meta has labels, resolution, level,
 *    sources = union of the inputs' sources, parents = the inputs, source "compactor"; upload it
 *    under tenant_prefix + its new ULID (meta.json last), then mark every input for deletion.
 *  - downsample: write one block per targets[i] from blocks[0] (same labels, sources and level),
 *    upload it as above; the input is kept. */

typedef struct planner_action {
    planner_action_type type;
    const char *tenant;
    const char *tenant_prefix; /* "" or "<tenant>/": where a new block is uploaded */
    const char *group;         /* group key of the inputs; "" for partial blocks */
    int64_t resolution;        /* of the inputs */
    int64_t targets[2];        /* downsample: output resolutions, 5m before 1h */
    size_t ntargets;
    const planner_block *const *blocks; /* inputs, by (min_time, max_time, ULID) */
    size_t nblocks;
    int64_t min_time, max_time; /* the output's range (the block's for per-block actions) */
    int vertical;               /* compact: some inputs overlap (merge with dedup) */
    int level;                  /* compact: max input level + 1; downsample: the input's */
    const codec_kv *labels;     /* group labels: the output's external labels */
    size_t nlabels;
    const char *const *replica_labels; /* the tenant's, for dedup and the output labels */
    size_t nreplica_labels;
    const char *reason; /* one line: the rule and the setting that caused the action */
    struct {
        uint64_t input_bytes; /* the inputs' files (read, or freed by marks and deletes) */
        uint64_t series, samples, chunks; /* summed over the inputs' meta.json stats */
        uint64_t output_bytes;            /* expected size of the new block(s); 0 for the others */
    } est;
    /* Sharding: compact and downsample hash tenant and group (a group's jobs stay on one
     * pod), the per-block actions hash tenant and ULID. See planner_action_shard(). */
    uint64_t shard_hash;
} planner_action;

/* A fact the operator should see that is not an action (skipped work, unreadable markers). */
typedef struct planner_note {
    const char *tenant;
    const char *group; /* "" if not about a group */
    const char *ulid;  /* "" if not about one block */
    const char *text;
} planner_note;

struct planner_plan; /* opaque; a struct tag because planner_plan() names the function */

int planner_plan(struct planner_plan **out, planner_blockset *set, const planner_settings *s,
                 int64_t now_ms, st_err *err);
void planner_plan_free(struct planner_plan *p);
int64_t planner_plan_now(const struct planner_plan *p);
size_t planner_plan_count(const struct planner_plan *p);
const planner_action *planner_plan_action(const struct planner_plan *p, size_t i);
size_t planner_plan_nnotes(const struct planner_plan *p);
const planner_note *planner_plan_note(const struct planner_plan *p, size_t i);
/* The pod (0..nshards-1) that runs action a when the plan is split over nshards pods. */
unsigned planner_action_shard(const planner_action *a, unsigned nshards);

/* One action as the object `strata plan --output=json` prints in its "actions" array (schema in
 * README.md); the run history reuses it. The caller owns the result (json_decref); NULL when out
 * of memory. */
struct json_t;
struct json_t *planner_action_json(const planner_action *a);

/* Append the plan as a text table per tenant and group, or as one JSON object
 * {"now", "summary", "actions", "notes"} (schema in README.md). */
typedef enum { PLANNER_FORMAT_TEXT = 0, PLANNER_FORMAT_JSON = 1 } planner_format;
int planner_plan_format(const struct planner_plan *p, planner_format f, st_buf *out, st_err *err);

#endif
