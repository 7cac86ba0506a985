/*
 * plan_args.c - the flags `strata plan` and `strata run` share (bucket, tenants, retention,
 * dedup, delays, logging, --now, --data-dir) and the steps both take with them: settings, the
 * store, the sync. Flag names follow `thanos compact` where they overlap.
 */
#include "compactor_int.h"

#include <string.h>

size_t plan_args_flags(plan_args *a, cli_flag *f)
{
    const cli_flag flags[] = {
        {"objstore.config-file", CLI_STRING, &a->cfg_file,
         "object store YAML file (Thanos format)"},
        {"objstore.config", CLI_STRING, &a->cfg_yaml, "object store YAML, inline"},
        {"bucket", CLI_STRING, &a->bucket, "a local directory used as the bucket"},
        {"now", CLI_STRING, &a->now_s, "act as of this RFC 3339 time (default: the clock)"},
        {"data-dir", CLI_STRING, &a->data_dir, "scratch dir; metas are cached in DIR/meta-syncer"},
        {"tenant-layout", CLI_STRING, &a->pf.tenant_layout, "none, prefix or label (default none)"},
        {"tenant-label", CLI_STRING, &a->pf.tenant_label, "external label naming the tenant"},
        {"tenant-config", CLI_STRING, &a->pf.tenant_config_file, "per-tenant settings (YAML)"},
        {"retention.resolution-raw", CLI_STRING, &a->pf.retention_raw,
         "raw retention (0d: forever)"},
        {"retention.resolution-5m", CLI_STRING, &a->pf.retention_5m, "5m retention (0d: forever)"},
        {"retention.resolution-1h", CLI_STRING, &a->pf.retention_1h, "1h retention (0d: forever)"},
        {"deduplication.replica-label", CLI_STRINGS, &a->replicas,
         "replica label (repeatable, comma-separated)"},
        {"downsampling.disable", CLI_BOOL, &a->pf.downsampling_disable, "plan no downsampling"},
        {"delete-delay", CLI_STRING, &a->pf.delete_delay,
         "age of a deletion mark before delete (48h)"},
        {"consistency-delay", CLI_STRING, &a->pf.consistency_delay,
         "uploads younger than this are left alone (30m)"},
        {"compact.block-max-index-size", CLI_STRING, &a->pf.max_index_size,
         "split compactions whose input indexes reach 85% of this (64GB)"},
        {"block-meta-fetch-concurrency", CLI_INT64, &a->concurrency, "threads reading metas (32)"},
        {"log.level", CLI_STRING, &a->log_level, "debug, info, warn or error"},
        {"log.format", CLI_STRING, &a->log_format, "logfmt or json"},
    };
    _Static_assert(ST_ARRAY_LEN(flags) == PLAN_ARGS_NFLAGS, "PLAN_ARGS_NFLAGS");
    memcpy(f, flags, sizeof(flags));
    return ST_ARRAY_LEN(flags);
}

void plan_args_init(plan_args *a)
{
    memset(a, 0, sizeof(*a));
    a->log_level = "info";
    a->log_format = "logfmt";
    a->concurrency = 32;
}

int plan_args_check(plan_args *a, const char *cmd, int64_t *now)
{
    enum st_log_level lvl;
    enum st_log_format lfmt;
    if (a->concurrency < 1 || a->concurrency > 1024) {
        fprintf(stderr, "strata %s: --block-meta-fetch-concurrency must be 1..1024\n", cmd);
        return COMPACTOR_EXIT_USAGE;
    }
    if (st_log_parse_level(a->log_level, &lvl) || st_log_parse_format(a->log_format, &lfmt)) {
        fprintf(stderr,
                "strata %s: --log.level is debug|info|warn|error, --log.format "
                "logfmt|json\n",
                cmd);
        return COMPACTOR_EXIT_USAGE;
    }
    if (!a->cfg_file && !a->cfg_yaml && !a->bucket) {
        fprintf(stderr,
                "strata %s: no bucket: give --objstore.config-file, --objstore.config "
                "or --bucket\n",
                cmd);
        return COMPACTOR_EXIT_USAGE;
    }
    *now = st_now_ms();
    if (a->now_s && planner_time_parse(a->now_s, now)) {
        fprintf(stderr,
                "strata %s: --now=%s: expected an RFC 3339 time such as "
                "2023-11-14T00:00:00Z\n",
                cmd, a->now_s);
        return COMPACTOR_EXIT_USAGE;
    }
    st_log_setup(lvl, lfmt);
    a->pf.replica_labels = a->replicas.v;
    a->pf.nreplica_labels = a->replicas.n;
    return 0;
}

int plan_args_sync(plan_args *a, planner_settings *s, objstore *store, planner_blockset **set,
                   st_err *err)
{
    planner_sync_opts so = {.data_dir = a->data_dir, .concurrency = (int)a->concurrency};
    planner_sync_stats ss;
    int rc = planner_sync(set, store, s, &so, &ss, err);
    if (rc)
        return rc;
    char num[6][24], secs[32];
    snprintf(num[0], sizeof(num[0]), "%zu", ss.blocks);
    snprintf(num[1], sizeof(num[1]), "%zu", ss.partial);
    snprintf(num[2], sizeof(num[2]), "%zu", ss.meta_fetched);
    snprintf(num[3], sizeof(num[3]), "%zu", ss.meta_cached);
    snprintf(num[4], sizeof(num[4]), "%zu", ss.requests);
    snprintf(num[5], sizeof(num[5]), "%zu", ss.tenants);
    snprintf(secs, sizeof(secs), "%.3f", ss.seconds);
    st_log(ST_LOG_INFO, "synced bucket", "bucket", objstore_name(store), "tenants", num[5],
           "blocks", num[0], "partial", num[1], "meta_fetched", num[2], "meta_cached", num[3],
           "requests", num[4], "seconds", secs, NULL);
    return 0;
}

void plan_args_release(plan_args *a)
{
    cli_strings_free(&a->replicas);
}
