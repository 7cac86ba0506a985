/*
 * tombstones.c - a block's `tombstones` file: deleted intervals per series (block format §9).
 * Parsing checks magic, CRC and version the way Prometheus 2.42's ReadTombstones does and returns
 * the entries sorted by (series ref, mint), unmerged; writing produces the same bytes as
 * Prometheus for the same entry order (the empty file is the 9 bytes 01 30 BA 30 01 00 00 00 00).
 */
#include "codec.h"

#include <stdlib.h>

/* File layout:
 *   offset  size
 *        0     4  BE32 magic 0x0130BA30
 *        4     1  version = 1
 *        5     n  entries: uvarint series ref, varint mint, varint maxt (closed interval)
 *      5+n     4  BE32 CRC32C of the n entry bytes (not of magic or version)
 */
#define TOMB_VERSION     1
#define TOMB_HEADER_SIZE 5
#define TOMB_CRC_SIZE    4
_Static_assert(TOMB_HEADER_SIZE + TOMB_CRC_SIZE == 9, "the empty file is 9 bytes");

static int cmp_stone(const void *a, const void *b)
{
    const codec_tombstone *x = a, *y = b;
    if (x->series_ref != y->series_ref)
        return x->series_ref < y->series_ref ? -1 : 1;
    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    if (x->maxt != y->maxt)
        return x->maxt < y->maxt ? -1 : 1;
    return 0;
}

int codec_tombstones_parse(const uint8_t *p, size_t len, const char *name, codec_tombstone **out,
                           size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    if (len < TOMB_HEADER_SIZE + TOMB_CRC_SIZE)
        return ST_CORRUPT(err, name, 0, "tombstones file of %zu bytes is shorter than 9", len);
    uint32_t magic = codec_get_be32(p);
    if (magic != CODEC_TOMBSTONES_MAGIC)
        return ST_CORRUPT(err, name, 0, "bad tombstones magic 0x%08x", magic);
    const uint8_t *ents = p + TOMB_HEADER_SIZE;
    size_t elen = len - TOMB_HEADER_SIZE - TOMB_CRC_SIZE;
    uint32_t want = codec_get_be32(p + len - TOMB_CRC_SIZE);
    uint32_t got = codec_crc32c(0, ents, elen);
    if (want != got)
        return ST_CHECKSUM(err, name, len - TOMB_CRC_SIZE,
                           "tombstones CRC32C 0x%08x, computed 0x%08x", want, got);
    if (p[4] != TOMB_VERSION)
        return ST_CORRUPT(err, name, 4, "unsupported tombstones version %u", p[4]);

    /* Every entry takes at least 3 bytes, which bounds the allocation. */
    size_t cap = elen / 3;
    codec_tombstone *t = NULL;
    if (cap > 0 && !(t = st_reallocarray(NULL, cap, sizeof(*t))))
        return st_err_set(err, ST_ENOMEM, "read %s: out of memory", name);
    codec_decbuf d;
    codec_decbuf_init(&d, p, ents, elen);
    size_t k = 0;
    while (codec_dec_left(&d) > 0) {
        uint64_t off = codec_dec_offset(&d);
        codec_tombstone s;
        s.series_ref = codec_dec_uvarint(&d);
        s.mint = codec_dec_varint(&d);
        s.maxt = codec_dec_varint(&d);
        if (d.err) {
            st_free(t);
            return ST_CORRUPT(err, name, off, "truncated or malformed tombstone entry");
        }
        if (k == cap) { /* unreachable: every entry consumed at least 3 bytes */
            st_free(t);
            return ST_CORRUPT(err, name, off, "more tombstone entries than bytes");
        }
        t[k++] = s;
    }
    if (k > 1)
        qsort(t, k, sizeof(*t), cmp_stone);
    *out = t;
    *n = k;
    return 0;
}

int codec_tombstones_read(const char *path, codec_tombstone **out, size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    st_map m;
    st_err e;
    st_err_init(&e);
    int rc = st_map_file(&m, path, &e);
    if (rc == ST_ENOTFOUND)
        return 0;
    if (rc)
        return st_err_copy(err, &e);
    rc = codec_tombstones_parse(m.p, m.len, path, out, n, err);
    st_map_release(&m);
    return rc;
}

int codec_tombstones_write(const char *path, const codec_tombstone *t, size_t n, st_err *err)
{
    st_buf b;
    st_buf_init(&b, 0);
    int rc = codec_buf_be32(&b, CODEC_TOMBSTONES_MAGIC);
    if (!rc)
        rc = st_buf_putc(&b, TOMB_VERSION);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = codec_buf_uvarint(&b, t[i].series_ref);
        if (!rc)
            rc = codec_buf_varint(&b, t[i].mint);
        if (!rc)
            rc = codec_buf_varint(&b, t[i].maxt);
    }
    if (!rc)
        rc = codec_buf_be32(&b, codec_crc32c(0, b.p + TOMB_HEADER_SIZE, b.len - TOMB_HEADER_SIZE));
    if (rc)
        rc = st_err_set(err, rc, "write %s: out of memory", path);
    else
        rc = st_write_file_atomic(path, b.p, b.len, err);
    st_buf_release(&b);
    return rc;
}
