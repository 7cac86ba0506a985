/*
 * block.c - a block directory opened for reading: meta.json, index, chunks/ and tombstones,
 * each checked as it is opened. The first problem found names the block and the file.
 */
#include "codec.h"

#include <stdlib.h>

void codec_block_free(codec_block *b)
{
    if (!b)
        return;
    codec_meta_free(b->meta);
    codec_index_free(b->index);
    codec_chunk_reader_free(b->chunks);
    st_free(b->tombstones);
    st_free(b->dir);
    st_free(b);
}

int codec_block_open(codec_block **out, const char *dir, st_err *err)
{
    int rc = 0;
    char *path = NULL;
    *out = NULL;
    codec_block *b = st_calloc(1, sizeof(*b));
    if (!b || !(b->dir = st_strdup(dir))) {
        st_free(b);
        return st_err_set(err, ST_ENOMEM, "open block %s: out of memory", dir);
    }

    if (!(path = st_path_join(dir, "meta.json"))) {
        rc = st_err_set(err, ST_ENOMEM, "open block %s: out of memory", dir);
        goto done;
    }
    if ((rc = codec_meta_read(&b->meta, path, err)))
        goto done;
    st_free(path);

    if (!(path = st_path_join(dir, "index"))) {
        rc = st_err_set(err, ST_ENOMEM, "open block %s: out of memory", dir);
        goto done;
    }
    if ((rc = codec_index_open(&b->index, path, err)))
        goto done;
    st_free(path);

    if (!(path = st_path_join(dir, "chunks"))) {
        rc = st_err_set(err, ST_ENOMEM, "open block %s: out of memory", dir);
        goto done;
    }
    if ((rc = codec_chunk_reader_open(&b->chunks, path, err)))
        goto done;
    st_free(path);

    if (!(path = st_path_join(dir, "tombstones"))) {
        rc = st_err_set(err, ST_ENOMEM, "open block %s: out of memory", dir);
        goto done;
    }
    rc = codec_tombstones_read(path, &b->tombstones, &b->ntombstones, err);

done:
    st_free(path);
    if (rc) {
        codec_block_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

const codec_tombstone *codec_block_series_tombstones(const codec_block *b, uint64_t series_ref,
                                                     size_t *n)
{
    size_t lo = 0, hi = b->ntombstones;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->tombstones[mid].series_ref < series_ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < b->ntombstones && b->tombstones[end].series_ref == series_ref)
        end++;
    *n = end - lo;
    return *n ? &b->tombstones[lo] : NULL;
}
