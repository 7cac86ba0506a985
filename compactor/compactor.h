/*
 * compactor.h - the one public header of strata's compactor module: the command line and,
 * later, merge, dedup, downsampling, retention and the run.
 */
#ifndef STRATA_COMPACTOR_H
#define STRATA_COMPACTOR_H

#include "codec/codec.h"

/* Exit codes of the strata command. */
#define COMPACTOR_EXIT_OK          0
#define COMPACTOR_EXIT_ERROR       1
#define COMPACTOR_EXIT_USAGE       2
#define COMPACTOR_EXIT_QUARANTINED 3

int compactor_main(int argc, char **argv);

#endif
