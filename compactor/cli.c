/*
 * cli.c - strata's command line: the subcommand table, a small GNU-style flag parser shared by
 * every subcommand (--name=value, --name value, repeatable flags, -- ends flags), and usage.
 * Exit codes: 0 done, 1 error, 2 usage, 3 finished with quarantined blocks.
 */
#include "compactor_int.h"

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"dump", cmd_dump, "print the samples of blocks as `promtool tsdb dump` does"},
    {"inspect", cmd_inspect, "print a block's meta and index statistics"},
    {"verify", cmd_verify, "check a block's checksums, order, alignment and every chunk"},
    {"rewrite", cmd_rewrite, "read a block and write it back through the codec"},
    {"compact", cmd_compact, "merge local blocks into one (vertical and HA dedup too)"},
    {"downsample", cmd_downsample, "downsample a local block to 5m, 1h or any resolution"},
    {"plan", cmd_plan, "show what a run would do to a bucket (text or JSON); changes nothing"},
    {"run", cmd_run, "sync, plan and execute: compactions, marks, deletions (the batch job)"},
    {"mark", cmd_mark, "write or remove a block's deletion / no-compact / no-downsample marker"},
    {"history", cmd_history, "show past runs, or every action that touched a block, and why"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: strata <command> [flags] [args]\n\ncommands:\n");
    for (size_t i = 0; i < ST_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'strata <command> --help' for the flags of a command.\n");
}

static void flag_help(FILE *f, const char *cmd, const cli_flag *flags, size_t nflags)
{
    fprintf(f, "flags of strata %s:\n", cmd);
    for (size_t i = 0; i < nflags; i++)
        fprintf(f, "  --%-22s %s\n", flags[i].name, flags[i].help);
}

void cli_strings_free(cli_strings *s)
{
    st_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int set_flag(const char *cmd, const cli_flag *f, const char *val)
{
    switch (f->kind) {
    case CLI_STRING:
        *(const char **)f->dst = val;
        return 0;
    case CLI_BOOL:
        if (!val || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
            *(int *)f->dst = 1;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            *(int *)f->dst = 0;
        else
            goto bad;
        return 0;
    case CLI_INT64: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end)
            goto bad;
        *(int64_t *)f->dst = v;
        return 0;
    }
    case CLI_STRINGS: {
        cli_strings *s = f->dst;
        const char **nv = st_reallocarray(s->v, s->n + 1, sizeof(*nv));
        if (!nv) {
            fprintf(stderr, "strata %s: out of memory\n", cmd);
            return COMPACTOR_EXIT_ERROR;
        }
        s->v = nv;
        s->v[s->n++] = val;
        return 0;
    }
    }
bad:
    fprintf(stderr, "strata %s: invalid value '%s' for --%s\n", cmd, val, f->name);
    return COMPACTOR_EXIT_USAGE;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_flag *flags, size_t nflags,
              const char ***pos, size_t *npos)
{
    *pos = st_calloc((size_t)argc + 1, sizeof(char *));
    *npos = 0;
    if (!*pos) {
        fprintf(stderr, "strata %s: out of memory\n", cmd);
        return COMPACTOR_EXIT_ERROR;
    }
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            (*pos)[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            flag_help(stdout, cmd, flags, nflags);
            st_free(*pos);
            *pos = NULL;
            exit(COMPACTOR_EXIT_OK);
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const cli_flag *f = NULL;
        for (size_t j = 0; j < nflags; j++)
            if (strlen(flags[j].name) == nl && strncmp(flags[j].name, name, nl) == 0)
                f = &flags[j];
        if (!f) {
            fprintf(stderr, "strata %s: unknown flag --%.*s (see strata %s --help)\n", cmd, (int)nl,
                    name, cmd);
            goto usage;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && f->kind != CLI_BOOL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "strata %s: flag --%s needs a value\n", cmd, f->name);
                goto usage;
            }
            val = argv[++i];
        }
        int rc = set_flag(cmd, f, val);
        if (rc) {
            st_free(*pos);
            *pos = NULL;
            return rc;
        }
    }
    return 0;
usage:
    st_free(*pos);
    *pos = NULL;
    return COMPACTOR_EXIT_USAGE;
}

int compactor_main(int argc, char **argv)
{
    /* UTF-8 character semantics for selector regexes; numbers and messages stay in C format */
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "C.utf8");
    if (argc < 2) {
        usage(stderr);
        return COMPACTOR_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return COMPACTOR_EXIT_OK;
    }
    for (size_t i = 0; i < ST_ARRAY_LEN(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "strata: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return COMPACTOR_EXIT_USAGE;
}
