/*
 * mark_cmd.c - `strata mark --id=ULID --marker=deletion|no-compact|no-downsample --details=TEXT
 * [--remove] [--tenant=T] BUCKET_FLAGS`: write or remove a marker file by hand, as
 * `thanos tools bucket mark` does (same file, same bytes, reason "manual"), so an operator can
 * keep a bad block out of compaction, bring it back, or have a block deleted. Unlike Thanos it
 * refuses an id that is not a block of the bucket (no meta.json under its prefix).
 */
#include "compactor_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr, "usage: strata mark --id=ULID [--id=ULID]... "
                    "--marker=deletion|no-compact|no-downsample\n"
                    "                   (--details=TEXT | --remove) [--tenant=T]\n"
                    "                   (--objstore.config-file=F | --objstore.config=YAML | "
                    "--bucket=DIR)\n");
}

/* Anything at all under prefix (a partial or half-deleted block)? */
static int any_object(void *ctx, const char *key, int is_prefix)
{
    (void)key;
    (void)is_prefix;
    *(int *)ctx = 1;
    return 1;
}

int cmd_mark(int argc, char **argv)
{
    const char *cfg_file = NULL, *cfg_yaml = NULL, *bucket = NULL, *marker_s = NULL;
    const char *details = NULL, *tenant = NULL, *log_level = "info", *log_format = "logfmt";
    int remove = 0;
    cli_strings ids = {0};
    const cli_flag flags[] = {
        {"id", CLI_STRINGS, &ids, "ULID of the block (repeatable)"},
        {"marker", CLI_STRING, &marker_s,
         "deletion, no-compact or no-downsample (or Thanos' file name, e.g. "
         "no-compact-mark.json)"},
        {"details", CLI_STRING, &details, "human-readable details put into the marker"},
        {"remove", CLI_BOOL, &remove, "remove the marker instead"},
        {"tenant", CLI_STRING, &tenant, "the block is under <tenant>/ (prefix tenant layout)"},
        {"objstore.config-file", CLI_STRING, &cfg_file, "object store YAML file (Thanos format)"},
        {"objstore.config", CLI_STRING, &cfg_yaml, "object store YAML, inline"},
        {"bucket", CLI_STRING, &bucket, "a local directory used as the bucket"},
        {"log.level", CLI_STRING, &log_level, "debug, info, warn or error"},
        {"log.format", CLI_STRING, &log_format, "logfmt or json"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("mark", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc) {
        cli_strings_free(&ids);
        return rc;
    }
    int exit_code = COMPACTOR_EXIT_USAGE;
    objstore *store = NULL;
    codec_ulid *norm = NULL;
    marker_type mt = MARKER_DELETION;
    enum st_log_level lvl;
    enum st_log_format lfmt;
    st_err err;
    st_err_init(&err);
    if (npos || !ids.n || !marker_s || (!cfg_file && !cfg_yaml && !bucket) ||
        st_log_parse_level(log_level, &lvl) || st_log_parse_format(log_format, &lfmt)) {
        usage();
        goto done;
    }
    if (marker_type_parse(marker_s, &mt)) {
        fprintf(stderr,
                "strata mark: --marker=%s: expected deletion, no-compact or no-downsample\n",
                marker_s);
        goto done;
    }
    if (!remove && (!details || !*details)) {
        fprintf(stderr, "strata mark: --details is required (say why the block is marked)\n");
        goto done;
    }
    if (tenant && !planner_tenant_valid(tenant)) {
        fprintf(stderr, "strata mark: --tenant=%s is not a valid tenant name\n", tenant);
        goto done;
    }
    if (!(norm = st_calloc(ids.n, sizeof(*norm)))) {
        fprintf(stderr, "strata mark: out of memory\n");
        exit_code = COMPACTOR_EXIT_ERROR;
        goto done;
    }
    for (size_t i = 0; i < ids.n; i++) {
        if (!codec_ulid_valid(ids.v[i], strlen(ids.v[i]))) {
            fprintf(stderr, "strata mark: --id=%s is not a ULID\n", ids.v[i]);
            goto done;
        }
        for (size_t k = 0; k <= CODEC_ULID_LEN; k++)
            norm[i].s[k] = (char)toupper((unsigned char)ids.v[i][k]);
    }
    st_log_setup(lvl, lfmt);
    exit_code = COMPACTOR_EXIT_ERROR;
    if (objstore_open_flags(&store, cfg_file, cfg_yaml, bucket, &err)) {
        fprintf(stderr, "strata mark: %s\n", err.msg);
        goto done;
    }

    /* Every id must be a block before anything is written. */
    char prefix[256], key[300];
    for (size_t i = 0; i < ids.n; i++) {
        snprintf(prefix, sizeof(prefix), "%s%s%s/", tenant ? tenant : "", tenant ? "/" : "",
                 norm[i].s);
        snprintf(key, sizeof(key), "%smeta.json", prefix);
        int exists = 0, partial = 0;
        if (objstore_exists(store, key, &exists, &err) ||
            (!exists && objstore_iter(store, prefix, 1, any_object, &partial, &err) < 0)) {
            fprintf(stderr, "strata mark: %s\n", err.msg);
            goto done;
        }
        if (!exists) {
            fprintf(stderr, "strata mark: %s is not a block in %s: %s does not exist%s\n",
                    norm[i].s, objstore_name(store), key,
                    partial  ? " (objects are there: a partial upload or a half-deleted block)"
                    : tenant ? ""
                             : " (a block of a tenant needs --tenant=T)");
            goto done;
        }
    }
    int64_t now_s = st_now_ms() / 1000;
    for (size_t i = 0; i < ids.n; i++) {
        snprintf(prefix, sizeof(prefix), "%s%s%s", tenant ? tenant : "", tenant ? "/" : "",
                 norm[i].s);
        int existed = 0;
        if (remove)
            rc = markers_remove(store, prefix, mt, &existed, &err);
        else
            rc = markers_put(store, prefix, mt, MARKER_REASON_MANUAL, details, now_s, &existed,
                             &err);
        if (rc) {
            fprintf(stderr, "strata mark: %s %s: %s\n", remove ? "remove" : "mark", norm[i].s,
                    err.msg);
            goto done;
        }
        snprintf(key, sizeof(key), "%s/%s", prefix, marker_filename(mt));
        if (remove && existed)
            st_log(ST_LOG_INFO, "marker removed", "block", norm[i].s, "file", key, NULL);
        else if (!remove && !existed)
            st_log(ST_LOG_INFO, "block marked", "block", norm[i].s, "file", key, NULL);
    }
    st_log(ST_LOG_INFO, "marking done", "marker", marker_filename(mt), "remove",
           remove ? "true" : "false", "bucket", objstore_name(store), NULL);
    exit_code = COMPACTOR_EXIT_OK;
done:
    objstore_free(store);
    st_free(norm);
    st_free(pos);
    cli_strings_free(&ids);
    return exit_code;
}
