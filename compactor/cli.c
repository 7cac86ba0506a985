/*
 * cli.c - strata's subcommands and their flags.
 */
#include "compactor.h"

#include <stdio.h>
#include <string.h>

int compactor_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: strata <dump|inspect|verify> [flags] BLOCK_DIR...\n");
        return COMPACTOR_EXIT_USAGE;
    }
    fprintf(stderr, "strata: unknown command '%s'\n", argv[1]);
    return COMPACTOR_EXIT_USAGE;
}
