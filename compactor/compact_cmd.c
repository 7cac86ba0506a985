/*
 * compact_cmd.c - `strata compact --output=DIR BLOCK_DIR...`: merge local blocks of one group
 * into one, with the deduplication flags of `thanos compact`.
 */
#include "compactor_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Split repeatable, comma-separated flag values into one list of names (heap copies). */
static int split_labels(const cli_strings *in, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->v[i];
        while (*s) {
            size_t l = strcspn(s, ",");
            if (l > 0) {
                char **nv = st_reallocarray(*out, *n + 1, sizeof(char *));
                if (!nv)
                    return ST_ENOMEM;
                *out = nv;
                if (!((*out)[*n] = st_strndup(s, l)))
                    return ST_ENOMEM;
                (*n)++;
            }
            s += l;
            if (*s == ',')
                s++;
        }
    }
    return 0;
}

int cmd_compact(int argc, char **argv)
{
    const char *output = NULL, *func = "", *log_level = "info", *log_format = "logfmt";
    int64_t threads = 0;
    int verify = 0;
    cli_strings replica = {0};
    progress_args pa = PROGRESS_ARGS_INIT;
    const cli_flag flags[] = {
        {"output", CLI_STRING, &output, "directory to write the new block into"},
        {"deduplication.replica-label", CLI_STRINGS, &replica,
         "external label naming a replica; repeatable or comma-separated"},
        {"deduplication.func", CLI_STRING, &func,
         "\"\" keeps one sample per timestamp; penalty dedups HA replicas"},
        {"threads", CLI_INT64, &threads, "worker threads (default: one per core)"},
        {"verify", CLI_BOOL, &verify, "verify the new block before it is renamed into place"},
        {"log.level", CLI_STRING, &log_level, "debug, info, warn or error"},
        {"log.format", CLI_STRING, &log_format, "logfmt or json"},
        PROGRESS_FLAGS(pa),
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("compact", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc) {
        cli_strings_free(&replica);
        return rc;
    }
    int exit_code = COMPACTOR_EXIT_OK;
    char **labels = NULL;
    size_t nlabels = 0;
    codec_block **blocks = NULL;
    size_t nblocks = 0;
    st_err err;
    st_err_init(&err);
    enum st_log_level lvl;
    enum st_log_format lfmt;
    if (npos == 0 || !output || threads < 0 || st_log_parse_level(log_level, &lvl) ||
        st_log_parse_format(log_format, &lfmt) ||
        (strcmp(func, "") != 0 && strcmp(func, "penalty") != 0)) {
        fprintf(stderr, "usage: strata compact --output=DIR [--deduplication.replica-label=L]... "
                        "[--deduplication.func=|penalty] [--threads=N] [--verify] BLOCK_DIR...\n");
        exit_code = COMPACTOR_EXIT_USAGE;
        goto done;
    }
    st_log_setup(lvl, lfmt);
    if ((rc = progress_args_start(&pa, "compact"))) {
        exit_code = rc;
        goto done;
    }
    if (split_labels(&replica, &labels, &nlabels)) {
        st_err_set(&err, ST_ENOMEM, "out of memory");
        goto fail;
    }
    if (strcmp(func, "penalty") == 0 && nlabels == 0) {
        fprintf(stderr, "strata compact: --deduplication.func=penalty needs at least one "
                        "--deduplication.replica-label\n");
        exit_code = COMPACTOR_EXIT_USAGE;
        goto done;
    }
    blocks = st_calloc(npos, sizeof(*blocks));
    if (!blocks) {
        st_err_set(&err, ST_ENOMEM, "out of memory");
        goto fail;
    }
    for (; nblocks < npos; nblocks++)
        if ((rc = codec_block_open(&blocks[nblocks], pos[nblocks], &err)))
            goto fail;
    if ((rc = st_mkdir_p(output, &err)))
        goto fail;
    merge_opts o = {0};
    o.threads = (int)threads;
    o.dedup = strcmp(func, "penalty") == 0 ? MERGE_DEDUP_PENALTY : MERGE_DEDUP_NONE;
    o.replica_labels = (const char *const *)labels;
    o.nreplica_labels = nlabels;
    o.verify = verify;
    merge_stats st;
    rc = merge_blocks(blocks, nblocks, output, &o, &st, &err);
    progress_stop(); /* before the result is logged */
    if (rc)
        goto fail;
    char num[7][32];
    snprintf(num[0], 32, "%zu", nblocks);
    snprintf(num[1], 32, "%" PRIu64, st.series);
    snprintf(num[2], 32, "%" PRIu64, st.chunks);
    snprintf(num[3], 32, "%" PRIu64, st.samples);
    snprintf(num[4], 32, "%" PRIu64, st.chunks_copied);
    snprintf(num[5], 32, "%" PRIu64, st.chunks_reencoded);
    snprintf(num[6], 32, "%.3fs", st.seconds);
    if (st.histogram_chunks_dropped) {
        char h[32];
        snprintf(h, sizeof(h), "%" PRIu64, st.histogram_chunks_dropped);
        st_log(ST_LOG_WARN, "overlapping histogram chunks were not merged: the first was kept",
               "dropped_chunks", h, NULL);
    }
    if (st.empty) {
        st_log(ST_LOG_INFO, "compact blocks: no samples in range, nothing written", "count", num[0],
               NULL);
    } else {
        st_log(ST_LOG_INFO, "compact blocks", "count", num[0], "ulid", st.ulid.s, "series", num[1],
               "chunks", num[2], "samples", num[3], "chunks_copied", num[4], "chunks_reencoded",
               num[5], "duration", num[6], NULL);
        printf("%s\n", st.dir);
    }
    goto done;
fail:
    fprintf(stderr, "strata compact: %s\n", err.msg);
    exit_code = COMPACTOR_EXIT_ERROR;
done:
    progress_stop();
    for (size_t i = 0; i < nblocks; i++)
        codec_block_free(blocks[i]);
    st_free(blocks);
    for (size_t i = 0; i < nlabels; i++)
        st_free(labels[i]);
    st_free(labels);
    cli_strings_free(&replica);
    st_free(pos);
    return exit_code;
}
