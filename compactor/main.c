/*
 * main.c - the strata command line: parses the subcommand and hands over to compactor/.
 */
#include "compactor/compactor.h"

int main(int argc, char **argv)
{
    return compactor_main(argc, argv);
}
