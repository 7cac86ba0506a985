/*
 * downsample_cmd.c - `strata downsample --resolution=5m,1h --output=DIR BLOCK_DIR`: Thanos'
 * downsampling of one local block, one output block per resolution, every resolution from one
 * read of the input (downsample.c). Any resolution is accepted (Prometheus durations, or plain
 * milliseconds), as long as each is above the previous one and the block's own.
 */
#include "compactor_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* "5m", "1h30m", "300000" (ms), or a comma list of them, appended to res. */
static int parse_resolutions(const cli_strings *in, int64_t *res, size_t *n)
{
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->v[i];
        while (*s) {
            size_t l = strcspn(s, ",");
            char item[64];
            if (l == 0 || l >= sizeof(item) || *n == DOWNSAMPLE_MAX_RES)
                return ST_EINVAL;
            memcpy(item, s, l);
            item[l] = '\0';
            int64_t ms;
            char *end;
            errno = 0;
            long long v = strtoll(item, &end, 10);
            if (!errno && end != item && *end == '\0')
                ms = v;
            else if (planner_duration_parse(item, &ms) != 0)
                return ST_EINVAL;
            if (ms <= 0)
                return ST_EINVAL;
            res[(*n)++] = ms;
            s += l;
            if (*s == ',')
                s++;
        }
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int cmd_downsample(int argc, char **argv)
{
    const char *output = NULL, *log_level = "info", *log_format = "logfmt";
    int64_t threads = 0;
    int verify = 0, decode_only = 0;
    cli_strings resolution = {0};
    progress_args pa = PROGRESS_ARGS_INIT;
    const cli_flag flags[] = {
        {"resolution", CLI_STRINGS, &resolution,
         "target resolution: 5m, 1h or any duration (or ms); repeatable or comma-separated: "
         "5m,1h makes both from one read (1h from the 5m aggregates)"},
        {"output", CLI_STRING, &output, "directory to write the new blocks into"},
        {"threads", CLI_INT64, &threads, "worker threads (default: one per core)"},
        {"verify", CLI_BOOL, &verify, "verify each new block before it is renamed into place"},
        {"decode-only", CLI_BOOL, &decode_only,
         "benchmark floor: read and decode every chunk, write nothing"},
        {"log.level", CLI_STRING, &log_level, "debug, info, warn or error"},
        {"log.format", CLI_STRING, &log_format, "logfmt or json"},
        PROGRESS_FLAGS(pa),
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("downsample", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc) {
        cli_strings_free(&resolution);
        return rc;
    }
    int exit_code = COMPACTOR_EXIT_OK;
    codec_block *blk = NULL;
    int64_t res[DOWNSAMPLE_MAX_RES];
    size_t nres = 0;
    st_err err;
    st_err_init(&err);
    enum st_log_level lvl;
    enum st_log_format lfmt;
    if (parse_resolutions(&resolution, res, &nres)) {
        fprintf(stderr,
                "strata downsample: --resolution takes durations (5m, 1h, 90s, 1h30m) or "
                "milliseconds, above zero, at most %d of them\n",
                DOWNSAMPLE_MAX_RES);
        exit_code = COMPACTOR_EXIT_USAGE;
        goto done;
    }
    if (npos != 1 || (!output && !decode_only) || (!resolution.n && !decode_only) || threads < 0 ||
        st_log_parse_level(log_level, &lvl) || st_log_parse_format(log_format, &lfmt)) {
        fprintf(stderr,
                "usage: strata downsample --resolution=5m|1h|DURATION[,...]... --output=DIR "
                "[--threads=N] [--verify] [--decode-only] BLOCK_DIR\n");
        exit_code = COMPACTOR_EXIT_USAGE;
        goto done;
    }
    st_log_setup(lvl, lfmt);
    if ((rc = progress_args_start(&pa, "downsample"))) {
        exit_code = rc;
        goto done;
    }
    qsort(res, nres, sizeof(int64_t), cmp_i64);
    if ((rc = codec_block_open(&blk, pos[0], &err)))
        goto fail;
    if (decode_only && nres == 0) {
        res[0] = (blk->meta->has_thanos ? blk->meta->thanos.resolution : 0) + 1;
        nres = 1;
    }
    if (output && (rc = st_mkdir_p(output, &err)))
        goto fail;
    downsample_opts o = {0};
    o.threads = (int)threads;
    o.verify = verify;
    o.decode_only = decode_only;
    static downsample_stats st;
    rc = downsample_block(blk, res, nres, output ? output : ".", &o, &st, &err);
    progress_stop(); /* before the result is logged */
    if (rc)
        goto fail;
    char a[6][48];
    snprintf(a[0], sizeof(a[0]), "%" PRIu64, st.in_series);
    snprintf(a[1], sizeof(a[1]), "%" PRIu64, st.in_chunks);
    snprintf(a[2], sizeof(a[2]), "%.1f", (double)st.in_chunk_bytes / 1e6);
    snprintf(a[3], sizeof(a[3]), "%" PRIu64, st.in_samples);
    snprintf(a[4], sizeof(a[4]), "%.3fs", st.seconds);
    snprintf(a[5], sizeof(a[5]), "%.1f",
             st.seconds > 0 ? (double)st.in_chunk_bytes / 1e6 / st.seconds : 0.0);
    st_log(ST_LOG_INFO, decode_only ? "decoded block (--decode-only)" : "downsampled block",
           "block", blk->meta->ulid.s, "series", a[0], "chunks", a[1], "chunk_mb", a[2], "samples",
           a[3], "duration", a[4], "chunk_mb_per_s", a[5], NULL);
    for (size_t k = 0; k < st.nout; k++) {
        char r[32], s[32], c[32], n[32];
        planner_duration_format(r, sizeof(r), st.out[k].resolution);
        snprintf(s, sizeof(s), "%" PRIu64, st.out[k].series);
        snprintf(c, sizeof(c), "%" PRIu64, st.out[k].chunks);
        snprintf(n, sizeof(n), "%" PRIu64, st.out[k].samples);
        st_log(ST_LOG_INFO, "new downsampled block", "resolution", r, "ulid", st.out[k].ulid.s,
               "series", s, "chunks", c, "samples", n, NULL);
        printf("%s\n", st.out[k].dir);
    }
    goto done;
fail:
    fprintf(stderr, "strata downsample: %s\n", err.msg);
    exit_code = COMPACTOR_EXIT_ERROR;
done:
    progress_stop();
    codec_block_free(blk);
    cli_strings_free(&resolution);
    st_free(pos);
    return exit_code;
}
