/*
 * testutil.h - shared helpers for strata's cmocka tests: temporary directories, paths to the
 * source tree and the built binary, file reads and byte flips for corrupt-input tests.
 */
#ifndef STRATA_TESTUTIL_H
#define STRATA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/common.h"

/* A fresh directory under $TMPDIR; removed by tu_tmpdir_free. */
char *tu_tmpdir(void);
void tu_tmpdir_free(char *dir);
/* $STRATA_SRC/<rel>, heap string. */
char *tu_src_path(const char *rel);
/* Whole file into memory (fails the test on error). */
uint8_t *tu_read(const char *path, size_t *len);
void tu_write(const char *path, const void *p, size_t len);
/* Copy a directory tree (cp -a). */
void tu_copy_tree(const char *from, const char *to);
/* Run a shell command, return its exit status. */
int tu_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The first block directory under testdata/blocks/<set>, or NULL. */
char *tu_testdata_block(const char *set);

#endif
