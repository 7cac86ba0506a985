/*
 * blockmeta.c - the parts of a new block's meta.json that describe its files: Thanos'
 * `files` list (chunks/NNNNNN and index with their sizes, then meta.json without one) and the
 * deprecated but still written `segment_files`.
 */
#include "compactor_int.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int file_size(const char *dir, const char *rel, int64_t *size, st_err *err)
{
    char *p = st_path_join(dir, rel);
    if (!p)
        return st_err_set(err, ST_ENOMEM, "out of memory");
    struct stat st;
    int r = stat(p, &st);
    st_free(p);
    if (r != 0)
        return st_err_set(err, ST_EIO, "block %s: stat %s failed", dir, rel);
    *size = (int64_t)st.st_size;
    return 0;
}

int meta_set_files(codec_meta *meta, const char *dir, st_err *err)
{
    char *cdir = st_path_join(dir, "chunks");
    if (!cdir)
        return st_err_set(err, ST_ENOMEM, "out of memory");
    char **segs = NULL;
    size_t nseg = 0, cap = 0;
    int rc = 0;
    DIR *d = opendir(cdir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strspn(de->d_name, "0123456789") != strlen(de->d_name) || !de->d_name[0])
            continue;
        if (nseg == cap) {
            cap = cap ? cap * 2 : 8;
            char **ns = st_reallocarray(segs, cap, sizeof(char *));
            if (!ns) {
                rc = ST_ENOMEM;
                break;
            }
            segs = ns;
        }
        if (!(segs[nseg] = st_strdup(de->d_name))) {
            rc = ST_ENOMEM;
            break;
        }
        nseg++;
    }
    if (d)
        closedir(d);
    st_free(cdir);
    if (!rc && nseg)
        qsort(segs, nseg, sizeof(char *), cmp_str);
    codec_meta_file *files = NULL;
    if (!rc)
        files = st_calloc(nseg + 2, sizeof(codec_meta_file));
    if (rc || !files) {
        rc = st_err_set(err, ST_ENOMEM, "out of memory");
        goto fail;
    }
    size_t nf = 0;
    for (size_t i = 0; i < nseg; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "chunks/%s", segs[i]);
        files[nf].rel_path = st_strdup(rel);
        if (!files[nf].rel_path) {
            rc = st_err_set(err, ST_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = file_size(dir, rel, &files[nf].size_bytes, err)))
            goto fail;
        nf++;
    }
    files[nf].rel_path = st_strdup("index");
    if (!files[nf].rel_path) {
        rc = st_err_set(err, ST_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = file_size(dir, "index", &files[nf].size_bytes, err)))
        goto fail;
    nf++;
    files[nf].rel_path = st_strdup("meta.json");
    files[nf].size_bytes = -1;
    if (!files[nf].rel_path) {
        rc = st_err_set(err, ST_ENOMEM, "out of memory");
        goto fail;
    }
    nf++;
    for (size_t i = 0; i < meta->thanos.nfiles; i++) {
        st_free(meta->thanos.files[i].rel_path);
        st_free(meta->thanos.files[i].hash_func);
        st_free(meta->thanos.files[i].hash_value);
    }
    st_free(meta->thanos.files);
    meta->thanos.files = files;
    meta->thanos.nfiles = nf;
    for (size_t i = 0; i < meta->thanos.nsegment_files; i++)
        st_free(meta->thanos.segment_files[i]);
    st_free(meta->thanos.segment_files);
    meta->thanos.segment_files = segs;
    meta->thanos.nsegment_files = nseg;
    return 0;
fail:
    for (size_t i = 0; files && i < nseg + 2; i++)
        st_free(files[i].rel_path);
    st_free(files);
    for (size_t i = 0; i < nseg; i++)
        st_free(segs[i]);
    st_free(segs);
    return rc;
}
