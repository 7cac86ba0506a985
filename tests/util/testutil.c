/*
 * testutil.c - helpers shared by the unit tests (see testutil.h).
 */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/strata-test-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

void tu_tmpdir_free(char *dir)
{
    if (!dir)
        return;
    st_err err;
    st_err_init(&err);
    st_rmtree(dir, &err);
    free(dir);
}

char *tu_src_path(const char *rel)
{
    const char *src = getenv("STRATA_SRC");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s/%s", src ? src : ".", rel);
    return strdup(buf);
}

uint8_t *tu_read(const char *path, size_t *len)
{
    char *p = NULL;
    st_err err;
    st_err_init(&err);
    int rc = st_read_file(path, &p, len, 0, &err);
    if (rc)
        fail_msg("read %s: %s", path, err.msg);
    return (uint8_t *)p;
}

void tu_write(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

int tu_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st == -1 ? -1 : (st >> 8) & 0xff;
}

void tu_copy_tree(const char *from, const char *to)
{
    assert_int_equal(tu_system("cp -a '%s' '%s'", from, to), 0);
}

char *tu_testdata_block(const char *set)
{
    char *dir = tu_src_path("testdata/blocks");
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, set);
    free(dir);
    DIR *d = opendir(path);
    if (!d)
        return NULL;
    struct dirent *de;
    char *found = NULL;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == 26) {
            char full[8300];
            snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
            found = strdup(full);
            break;
        }
    }
    closedir(d);
    return found;
}
