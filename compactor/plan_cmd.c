/*
 * plan_cmd.c - `strata plan`: sync the bucket, plan, print the plan as a table or as JSON. It
 * changes nothing in the bucket (only the optional meta cache under --data-dir is written).
 * Flags carry `thanos compact`'s names where they overlap.
 */
#include "compactor_int.h"

#include "planner/planner.h"
#include "objstore/objstore.h"

#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(
        stderr,
        "usage: strata plan (--objstore.config-file=F | --objstore.config=YAML | --bucket=DIR)\n"
        "                   [--output=text|json] [--now=RFC3339] [--data-dir=DIR]\n"
        "                   [--tenant-layout=none|prefix|label] [--tenant-label=NAME]\n"
        "                   [--tenant-config=F] [--retention.resolution-raw|5m|1h=DUR]\n"
        "                   [--deduplication.replica-label=L]... [--downsampling.disable]\n"
        "                   [--delete-delay=DUR] [--consistency-delay=DUR]\n");
}

int cmd_plan(int argc, char **argv)
{
    const char *cfg_file = NULL, *cfg_yaml = NULL, *bucket = NULL, *output = "text";
    const char *now_s = NULL, *data_dir = NULL, *log_level = "info", *log_format = "logfmt";
    int64_t concurrency = 32;
    planner_flags pf = {0};
    cli_strings replicas = {0};
    const cli_flag flags[] = {
        {"objstore.config-file", CLI_STRING, &cfg_file, "object store YAML file (Thanos format)"},
        {"objstore.config", CLI_STRING, &cfg_yaml, "object store YAML, inline"},
        {"bucket", CLI_STRING, &bucket, "a local directory used as the bucket"},
        {"output", CLI_STRING, &output, "text or json"},
        {"now", CLI_STRING, &now_s, "plan as of this RFC 3339 time (default: the clock)"},
        {"data-dir", CLI_STRING, &data_dir, "scratch dir; metas are cached in DIR/meta-syncer"},
        {"tenant-layout", CLI_STRING, &pf.tenant_layout, "none, prefix or label (default none)"},
        {"tenant-label", CLI_STRING, &pf.tenant_label, "external label naming the tenant"},
        {"tenant-config", CLI_STRING, &pf.tenant_config_file, "per-tenant settings (YAML)"},
        {"retention.resolution-raw", CLI_STRING, &pf.retention_raw, "raw retention (0d: forever)"},
        {"retention.resolution-5m", CLI_STRING, &pf.retention_5m, "5m retention (0d: forever)"},
        {"retention.resolution-1h", CLI_STRING, &pf.retention_1h, "1h retention (0d: forever)"},
        {"deduplication.replica-label", CLI_STRINGS, &replicas,
         "replica label (repeatable, comma-separated)"},
        {"downsampling.disable", CLI_BOOL, &pf.downsampling_disable, "plan no downsampling"},
        {"delete-delay", CLI_STRING, &pf.delete_delay,
         "age of a deletion mark before delete (48h)"},
        {"consistency-delay", CLI_STRING, &pf.consistency_delay,
         "uploads younger than this are left alone (30m)"},
        {"compact.block-max-index-size", CLI_STRING, &pf.max_index_size,
         "split compactions whose input indexes reach 85% of this (64GB)"},
        {"block-meta-fetch-concurrency", CLI_INT64, &concurrency, "threads reading metas (32)"},
        {"log.level", CLI_STRING, &log_level, "debug, info, warn or error"},
        {"log.format", CLI_STRING, &log_format, "logfmt or json"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("plan", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc) {
        cli_strings_free(&replicas);
        return rc;
    }
    int json = strcmp(output, "json") == 0;
    enum st_log_level lvl;
    enum st_log_format lfmt;
    int64_t now = 0;
    if (npos || (!json && strcmp(output, "text") != 0) || concurrency < 1 || concurrency > 1024 ||
        st_log_parse_level(log_level, &lvl) || st_log_parse_format(log_format, &lfmt) ||
        (!cfg_file && !cfg_yaml && !bucket)) {
        usage();
        st_free(pos);
        cli_strings_free(&replicas);
        return COMPACTOR_EXIT_USAGE;
    }
    if (now_s && planner_time_parse(now_s, &now)) {
        fprintf(stderr,
                "strata plan: --now=%s: expected an RFC 3339 time such as "
                "2023-11-14T00:00:00Z\n",
                now_s);
        st_free(pos);
        cli_strings_free(&replicas);
        return COMPACTOR_EXIT_USAGE;
    }
    if (!now_s)
        now = st_now_ms();
    st_log_setup(lvl, lfmt);
    pf.replica_labels = replicas.v;
    pf.nreplica_labels = replicas.n;

    st_err err;
    st_err_init(&err);
    planner_settings *settings = NULL;
    objstore *store = NULL;
    planner_blockset *set = NULL;
    struct planner_plan *plan = NULL;
    st_buf out;
    st_buf_init(&out, 0);
    int exit_code = COMPACTOR_EXIT_ERROR;
    if (planner_settings_create(&settings, &pf, &err)) {
        fprintf(stderr, "strata plan: %s\n", err.msg);
        exit_code = COMPACTOR_EXIT_USAGE;
        goto done;
    }
    if (objstore_open_flags(&store, cfg_file, cfg_yaml, bucket, &err))
        goto fail;
    planner_sync_opts so = {.data_dir = data_dir, .concurrency = (int)concurrency};
    planner_sync_stats ss;
    if (planner_sync(&set, store, settings, &so, &ss, &err))
        goto fail;
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
    if (planner_plan(&plan, set, settings, now, &err) ||
        planner_plan_format(plan, json ? PLANNER_FORMAT_JSON : PLANNER_FORMAT_TEXT, &out, &err))
        goto fail;
    if (fwrite(out.p, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        fprintf(stderr, "strata plan: cannot write the plan to stdout\n");
        goto done;
    }
    exit_code = COMPACTOR_EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "strata plan: %s\n", err.msg);
done:
    st_buf_release(&out);
    planner_plan_free(plan);
    planner_blockset_free(set);
    objstore_free(store);
    planner_settings_free(settings);
    st_free(pos);
    cli_strings_free(&replicas);
    return exit_code;
}
