/*
 * plan_cmd.c - `strata plan`: sync the bucket, plan, print the plan as a table or as JSON. It
 * changes nothing in the bucket (only the optional meta cache under --data-dir is written).
 * Flags carry `thanos compact`'s names where they overlap (plan_args.c).
 */
#include "compactor_int.h"

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
    plan_args a;
    plan_args_init(&a);
    const char *output = "text";
    cli_flag flags[PLAN_ARGS_NFLAGS + 1];
    size_t nflags = plan_args_flags(&a, flags);
    flags[nflags++] = (cli_flag){"output", CLI_STRING, &output, "text or json"};
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("plan", argc, argv, flags, nflags, &pos, &npos);
    if (rc) {
        plan_args_release(&a);
        return rc;
    }
    int json = strcmp(output, "json") == 0;
    int64_t now = 0;
    if (npos || (!json && strcmp(output, "text") != 0)) {
        usage();
        st_free(pos);
        plan_args_release(&a);
        return COMPACTOR_EXIT_USAGE;
    }
    if ((rc = plan_args_check(&a, "plan", &now))) {
        usage();
        st_free(pos);
        plan_args_release(&a);
        return rc;
    }

    st_err err;
    st_err_init(&err);
    planner_settings *settings = NULL;
    objstore *store = NULL;
    planner_blockset *set = NULL;
    struct planner_plan *plan = NULL;
    st_buf out;
    st_buf_init(&out, 0);
    int exit_code = COMPACTOR_EXIT_ERROR;
    if (planner_settings_create(&settings, &a.pf, &err)) {
        fprintf(stderr, "strata plan: %s\n", err.msg);
        exit_code = COMPACTOR_EXIT_USAGE;
        goto done;
    }
    if (objstore_open_flags(&store, a.cfg_file, a.cfg_yaml, a.bucket, &err) ||
        plan_args_sync(&a, settings, store, &set, &err))
        goto fail;
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
    plan_args_release(&a);
    return exit_code;
}
