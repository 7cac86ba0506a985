/*
 * segments.c - a block's chunks/ directory: numbered segment files holding chunk records (block
 * format §3). The reader maps every segment and fetches records by ref with bounds and CRC
 * checks; the writer cuts segments exactly where Prometheus 2.42's chunks.Writer cuts them, so
 * the same chunks written series by series give the same files byte for byte.
 */
#include "codec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

/* Segment file layout:
 *   offset  size
 *        0     4  BE32 magic 0x85BD40DD
 *        4     1  version = 1
 *        5     3  zero padding
 *        8     -  records, no padding between them, no trailer
 * Record layout (a ref points at its first byte):
 *        0     v  uvarint len(data)                       (v = 1..5 in practice)
 *        v     1  encoding
 *      v+1   len  data
 *  v+1+len     4  BE32 CRC32C over encoding and data (not the length)
 */
#define SEG_VERSION    1
#define SEG_MAGIC_SIZE 4
#define REC_CRC_SIZE   4
/* The writer's worst-case estimate of a record's length field (Go's binary.MaxVarintLen32). */
#define REC_MAX_LEN_FIELD 5
#define REC_OVERHEAD      (REC_MAX_LEN_FIELD + 1 + REC_CRC_SIZE)
_Static_assert(CODEC_SEGMENT_HEADER_SIZE == SEG_MAGIC_SIZE + 1 + 3, "magic, version, padding");
_Static_assert(REC_OVERHEAD == 10, "Prometheus estimates 5 + 1 + len + 4 bytes per chunk");

#define WRITE_BUF_SIZE (4u << 20)
#define WRITE_IOV_N    256         /* pieces per writev() */
#define SYNC_EVERY     (32u << 20) /* start writeback of every 32 MiB written */

/* =============================================================================================
 * Reader.
 */
typedef struct segment {
    char *path;
    const char *name; /* points into path */
    st_map map;
    uint64_t released; /* bytes from the start already given back (release_before) */
} segment;

struct codec_chunk_reader {
    char *dir;
    segment *segs;
    uint32_t n;
};

/* Prometheus takes every entry whose name strconv.ParseUint accepts: 1..20 decimal digits that
 * fit in 64 bits (leading zeros allowed). */
static int numeric_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    while (len > 1 && *s == '0') {
        s++;
        len--;
    }
    return len < 20 || (len == 20 && strcmp(s, "18446744073709551615") <= 0);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The numeric names in dir sorted as Go's os.ReadDir sorts them (byte order), which is also the
 * segment order refs use. A missing dir is an empty list: a block without chunks may come back
 * from object storage without the directory. */
static int list_segments(const char *dir, char ***names, uint32_t *n, st_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return st_err_set(err, ST_EIO, "open chunks dir %s: %s", dir, strerror(errno));
    }
    char **v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!numeric_name(de->d_name))
            continue;
        if (len == UINT32_MAX) {
            rc = st_err_set(err, ST_ETOOBIG, "chunks dir %s: too many segment files", dir);
            break;
        }
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **nv = st_reallocarray(v, ncap, sizeof(*v));
            if (!nv) {
                rc = ST_ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (!(v[len] = st_strdup(de->d_name))) {
            rc = ST_ENOMEM;
            break;
        }
        len++;
    }
    if (!rc && errno != 0)
        rc = st_err_set(err, ST_EIO, "read chunks dir %s: %s", dir, strerror(errno));
    closedir(d);
    if (rc == ST_ENOMEM)
        st_err_set(err, rc, "list chunks dir %s: out of memory", dir);
    if (rc) {
        for (size_t i = 0; i < len; i++)
            st_free(v[i]);
        st_free(v);
        return rc;
    }
    if (len > 1)
        qsort(v, len, sizeof(*v), cmp_name);
    *names = v;
    *n = (uint32_t)len;
    return 0;
}

void codec_chunk_reader_free(codec_chunk_reader *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n; i++) {
        st_map_release(&r->segs[i].map);
        st_free(r->segs[i].path);
    }
    st_free(r->segs);
    st_free(r->dir);
    st_free(r);
}

static int check_header(const segment *s, st_err *err)
{
    const uint8_t *p = s->map.p;
    if (s->map.len < CODEC_SEGMENT_HEADER_SIZE)
        return ST_CORRUPT(err, s->path, 0, "segment of %zu bytes is shorter than its 8-byte header",
                          s->map.len);
    uint32_t magic = codec_get_be32(p);
    if (magic != CODEC_SEGMENT_MAGIC)
        return ST_CORRUPT(err, s->path, 0, "bad segment magic 0x%08x", magic);
    if (p[SEG_MAGIC_SIZE] != SEG_VERSION)
        return ST_CORRUPT(err, s->path, SEG_MAGIC_SIZE, "unsupported segment version %u",
                          p[SEG_MAGIC_SIZE]);
    return 0;
}

int codec_chunk_reader_open(codec_chunk_reader **out, const char *chunks_dir, st_err *err)
{
    *out = NULL;
    char **names = NULL;
    uint32_t n = 0;
    int rc = list_segments(chunks_dir, &names, &n, err);
    if (rc)
        return rc;
    codec_chunk_reader *r = st_calloc(1, sizeof(*r));
    if (!r || !(r->dir = st_strdup(chunks_dir)) ||
        (n && !(r->segs = st_calloc(n, sizeof(*r->segs))))) {
        rc = st_err_set(err, ST_ENOMEM, "open chunks dir %s: out of memory", chunks_dir);
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) {
        segment *s = &r->segs[i];
        if (!(s->path = st_path_join(chunks_dir, names[i]))) {
            rc = st_err_set(err, ST_ENOMEM, "open chunks dir %s: out of memory", chunks_dir);
            goto done;
        }
        s->name = s->path + strlen(s->path) - strlen(names[i]);
        r->n = i + 1;
        if ((rc = st_map_file(&s->map, s->path, err)) || (rc = check_header(s, err)))
            goto done;
    }
done:
    for (uint32_t i = 0; i < n; i++)
        st_free(names[i]);
    st_free(names);
    if (rc) {
        codec_chunk_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

uint32_t codec_chunk_reader_nsegments(const codec_chunk_reader *r)
{
    return r->n;
}

uint64_t codec_chunk_reader_segment_size(const codec_chunk_reader *r, uint32_t i)
{
    return i < r->n ? (uint64_t)r->segs[i].map.len : 0;
}

const char *codec_chunk_reader_segment_name(const codec_chunk_reader *r, uint32_t i)
{
    return i < r->n ? r->segs[i].name : NULL;
}

int codec_chunk_reader_record(const codec_chunk_reader *r, uint64_t ref, codec_chunk *c,
                              const uint8_t **rec, size_t *rec_len, st_err *err)
{
    uint64_t si = ref >> 32;
    uint64_t off = ref & 0xFFFFFFFFu;
    if (si >= r->n)
        return ST_CORRUPT(err, r->dir, off,
                          "chunk ref 0x%llx: segment index %llu out of range "
                          "(%u segments)",
                          (unsigned long long)ref, (unsigned long long)si, r->n);
    const segment *s = &r->segs[si];
    if (off < CODEC_SEGMENT_HEADER_SIZE || off >= s->map.len)
        return ST_CORRUPT(err, s->path, off,
                          "chunk ref 0x%llx outside the records (file is %zu bytes)",
                          (unsigned long long)ref, s->map.len);
    codec_decbuf d;
    codec_decbuf_init(&d, s->map.p, s->map.p + off, s->map.len - off);
    uint64_t len = codec_dec_uvarint(&d);
    if (d.err)
        return ST_CORRUPT(err, s->path, off, "chunk length varint malformed or truncated");
    const uint8_t *encp = d.p;
    if (len > UINT32_MAX || codec_dec_left(&d) < 1 + REC_CRC_SIZE ||
        len > codec_dec_left(&d) - 1 - REC_CRC_SIZE)
        return ST_CORRUPT(err, s->path, off,
                          "chunk of %llu bytes runs past the end of the file (%zu left)",
                          (unsigned long long)len, codec_dec_left(&d));
    uint32_t want = codec_get_be32(encp + 1 + len);
    uint32_t got = codec_crc32c(0, encp, 1 + (size_t)len);
    if (want != got)
        return ST_CHECKSUM(err, s->path, off, "chunk CRC32C 0x%08x, computed 0x%08x", want, got);
    c->enc = encp[0];
    c->data = encp + 1;
    c->len = (uint32_t)len;
    c->crc = got;
    /* the writer writes the record from here: only when it would encode the length the same
     * way (a non-minimal varint is legal but rewritten) */
    uint8_t tmp[CODEC_MAX_VARINT_LEN];
    c->has_crc = codec_put_uvarint(tmp, len) == (size_t)(encp - (s->map.p + off));
    if (rec) {
        *rec = s->map.p + off;
        *rec_len = (size_t)(encp - (s->map.p + off)) + 1 + (size_t)len + REC_CRC_SIZE;
    }
    return 0;
}

int codec_chunk_reader_get(const codec_chunk_reader *r, uint64_t ref, codec_chunk *c, st_err *err)
{
    return codec_chunk_reader_record(r, ref, c, NULL, NULL, err);
}

/* =============================================================================================
 * Writer.
 */
struct codec_chunk_writer {
    char *dir;
    uint64_t segment_size;
    uint32_t nfiles; /* segments created; the tail is number nfiles (1-based) */
    int fd;          /* the tail, or -1 */
    char path[4096]; /* the tail's path, for messages */
    uint64_t n;      /* bytes in the tail so far, header included (Go's w.n) */
    uint8_t *buf;    /* bytes not yet written to fd */
    size_t buf_len;
    /* What the next writev() writes, in order: pieces of buf and, in zero-copy mode, records
     * of the inputs' mappings. */
    struct iovec iov[WRITE_IOV_N];
    int niov;
    int zero_copy;    /* records of checked input chunks are written from where they are */
    uint64_t written; /* bytes of the tail handed to the kernel */
    uint64_t synced;  /* of which writeback was started */
    int failed;       /* an earlier error left the files in an unknown state */
    int closed;
};

void codec_chunk_writer_free(codec_chunk_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    st_free(w->buf);
    st_free(w->dir);
    st_free(w);
}

int codec_chunk_writer_create(codec_chunk_writer **out, const char *chunks_dir,
                              uint64_t segment_size, st_err *err)
{
    *out = NULL;
    codec_chunk_writer *w = st_calloc(1, sizeof(*w));
    if (!w || !(w->dir = st_strdup(chunks_dir)) || !(w->buf = st_malloc(WRITE_BUF_SIZE))) {
        codec_chunk_writer_free(w);
        return st_err_set(err, ST_ENOMEM, "create chunk writer %s: out of memory", chunks_dir);
    }
    w->fd = -1;
    w->segment_size = segment_size ? segment_size : CODEC_SEGMENT_MAX_SIZE;
    /* Refs count segments from the first file in the directory, so leftovers from an earlier
     * attempt would shift them: insist on a directory without segment files. */
    char **names = NULL;
    uint32_t n = 0;
    int rc = st_mkdir_p(chunks_dir, err);
    if (!rc)
        rc = list_segments(chunks_dir, &names, &n, err);
    if (!rc && n > 0)
        rc = st_err_set(err, ST_EINVAL, "create chunk writer: %s already holds segment %s",
                        chunks_dir, names[0]);
    for (uint32_t i = 0; i < n; i++)
        st_free(names[i]);
    st_free(names);
    if (rc) {
        codec_chunk_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

uint32_t codec_chunk_writer_nsegments(const codec_chunk_writer *w)
{
    return w->nfiles;
}

void codec_chunk_writer_zero_copy(codec_chunk_writer *w, int on)
{
    w->zero_copy = on;
}

/* Write the pending pieces; start writeback of what came before (sync_file_range), so the
 * fsync at the end has little left to do. */
static int flush(codec_chunk_writer *w, st_err *err)
{
    struct iovec *v = w->iov;
    int n = w->niov;
    int rc = 0;
    while (n > 0) {
        ssize_t k = writev(w->fd, v, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            rc = st_err_set(err, ST_EIO, "write %s: %s", w->path, strerror(errno));
            break;
        }
        w->written += (uint64_t)k;
        while (n > 0 && (size_t)k >= v->iov_len) {
            k -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (uint8_t *)v->iov_base + k;
            v->iov_len -= (size_t)k;
        }
    }
    w->niov = 0;
    w->buf_len = 0;
    if (!rc && w->written - w->synced >= SYNC_EVERY) {
#ifdef SYNC_FILE_RANGE_WRITE
        sync_file_range(w->fd, (off_t)w->synced, (off_t)(w->written - w->synced),
                        SYNC_FILE_RANGE_WRITE); /* a hint: errors show at fsync */
#endif
        w->synced = w->written;
    }
    return rc;
}

/* Append a piece to the pending list, joining it to the last when they touch. */
static void add_piece(codec_chunk_writer *w, const uint8_t *p, size_t len)
{
    if (w->niov > 0) {
        struct iovec *last = &w->iov[w->niov - 1];
        if ((const uint8_t *)last->iov_base + last->iov_len == p) {
            last->iov_len += len;
            return;
        }
    }
    w->iov[w->niov++] = (struct iovec){(void *)p, len};
}

/* Append to the tail; w->n counts every byte. ext: p stays valid until the next flush (an input
 * mapping), so it is not copied. */
static int put_piece(codec_chunk_writer *w, const void *p, size_t len, int ext, st_err *err)
{
    int rc = 0;
    if (len == 0)
        return 0;
    if (w->niov == WRITE_IOV_N || (!ext && w->buf_len + len > WRITE_BUF_SIZE)) {
        if ((rc = flush(w, err)))
            return rc;
    }
    w->n += len;
    if (ext || len >= WRITE_BUF_SIZE) {
        add_piece(w, p, len);
        return ext ? 0 : flush(w, err); /* a huge piece goes out before p can change */
    }
    memcpy(w->buf + w->buf_len, p, len);
    add_piece(w, w->buf + w->buf_len, len);
    w->buf_len += len;
    return 0;
}

static int put(codec_chunk_writer *w, const void *p, size_t len, st_err *err)
{
    return put_piece(w, p, len, 0, err);
}

/* Flush, fsync and close the tail. The file is never preallocated, so its size is what was
 * written. */
static int finish_tail(codec_chunk_writer *w, st_err *err)
{
    if (w->fd < 0)
        return 0;
    int rc = flush(w, err);
    if (!rc && fsync(w->fd) != 0)
        rc = st_err_set(err, ST_EIO, "fsync %s: %s", w->path, strerror(errno));
    if (close(w->fd) != 0 && !rc)
        rc = st_err_set(err, ST_EIO, "close %s: %s", w->path, strerror(errno));
    w->fd = -1;
    return rc;
}

/* Finish the tail and start segment nfiles + 1 with its header. */
static int cut(codec_chunk_writer *w, st_err *err)
{
    int rc = finish_tail(w, err);
    if (rc)
        return rc;
    if (w->nfiles == UINT32_MAX)
        return st_err_set(err, ST_ETOOBIG, "chunks dir %s: too many segments", w->dir);
    snprintf(w->path, sizeof(w->path), "%s/%06u", w->dir, w->nfiles + 1);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return st_err_set(err, ST_EIO, "create %s: %s", w->path, strerror(errno));
    w->nfiles++;
    if ((rc = st_fsync_dir(w->dir, err)))
        return rc;
    uint8_t hdr[CODEC_SEGMENT_HEADER_SIZE] = {0};
    codec_put_be32(hdr, CODEC_SEGMENT_MAGIC);
    hdr[SEG_MAGIC_SIZE] = SEG_VERSION;
    w->n = 0;
    w->written = w->synced = 0;
    return put(w, hdr, sizeof(hdr), err);
}

static int write_record(codec_chunk_writer *w, const codec_chunk *c, uint64_t *ref, st_err *err)
{
    if (w->n > UINT32_MAX)
        return st_err_set(err, ST_ETOOBIG, "%s: chunk offset %llu does not fit a 32-bit ref",
                          w->path, (unsigned long long)w->n);
    *ref = (uint64_t)(w->nfiles - 1) << 32 | w->n;
    uint8_t head[CODEC_MAX_VARINT_LEN + 1];
    size_t k = codec_put_uvarint(head, c->len);
    head[k++] = c->enc;
    /* A chunk the reader returned sits in its checked record, which is what we write: in
     * zero-copy mode the record goes out from the input's mapping, untouched here (reading it
     * would only cost a cache miss per chunk). */
    if (w->zero_copy && c->has_crc)
        return put_piece(w, c->data - k, k + (size_t)c->len + REC_CRC_SIZE, 1, err);
    uint8_t crc[REC_CRC_SIZE];
    codec_put_be32(crc, c->has_crc ? c->crc
                                   : codec_crc32c(codec_crc32c(0, &c->enc, 1), c->data, c->len));
    int rc = put(w, head, k, err);
    if (!rc && c->len)
        rc = put(w, c->data, c->len, err);
    if (!rc)
        rc = put(w, crc, sizeof(crc), err);
    return rc;
}

/* Where Prometheus' WriteChunks puts its batch boundaries: it sums 5 + 1 + len + 4 per chunk
 * and starts a new batch (and so a new segment) before chunk i when
 *   - the tail already holds records (n0 > header) and, until the first such cut, the running
 *     sum plus n0 would exceed the segment size (this may cut before chunk 0), or
 *   - otherwise, i > 0 and the running sum of the current batch plus the header would exceed it.
 * n0 is the tail size when the call started: Go plans every batch before writing any. A batch
 * is never empty except possibly the first, so a new segment is never left empty, and a chunk
 * larger than the limit is written alone. */
int codec_chunk_writer_write(codec_chunk_writer *w, const codec_chunk *chks, size_t n,
                             uint64_t *refs, st_err *err)
{
    if (w->failed)
        return st_err_set(err, ST_EIO, "chunk writer %s: an earlier write failed", w->dir);
    if (w->closed)
        return st_err_set(err, ST_EINVAL, "chunk writer %s: write after close", w->dir);
    const uint64_t n0 = w->n;
    const uint64_t limit = w->segment_size;
    uint64_t batch = 0;
    int first_batch = 1;
    int rc = 0;
    if (n0 == 0)
        rc = cut(w, err);
    for (size_t i = 0; i < n && !rc; i++) {
        uint64_t size = REC_OVERHEAD + (uint64_t)chks[i].len;
        batch += size;
        int cut_here = i != 0 && batch + CODEC_SEGMENT_HEADER_SIZE > limit;
        if (first_batch && n0 > CODEC_SEGMENT_HEADER_SIZE) {
            cut_here = batch + n0 > limit;
            if (cut_here)
                first_batch = 0;
        }
        if (cut_here) {
            batch = size;
            rc = cut(w, err);
        }
        if (!rc)
            rc = write_record(w, &chks[i], &refs[i], err);
    }
    if (rc)
        w->failed = 1;
    return rc;
}

size_t codec_chunk_record_size(uint32_t len)
{
    return codec_uvarint_len(len) + 1 + (size_t)len + REC_CRC_SIZE;
}

uint8_t *codec_chunk_record_data(uint8_t *rec, uint32_t len)
{
    return rec + codec_uvarint_len(len) + 1;
}

codec_chunk codec_chunk_record_seal(uint8_t *rec, uint8_t enc, uint32_t len)
{
    uint8_t *p = rec + codec_put_uvarint(rec, len);
    *p = enc;
    uint32_t crc = codec_crc32c(0, p, (size_t)len + 1);
    codec_put_be32(p + 1 + len, crc);
    return (codec_chunk){.enc = enc, .data = p + 1, .len = len, .crc = crc, .has_crc = 1};
}

int codec_chunk_writer_flush(codec_chunk_writer *w, st_err *err)
{
    if (w->failed)
        return st_err_set(err, ST_EIO, "chunk writer %s: an earlier write failed", w->dir);
    int rc = w->fd >= 0 ? flush(w, err) : 0;
    if (rc)
        w->failed = 1;
    return rc;
}

int codec_chunk_writer_close(codec_chunk_writer *w, st_err *err)
{
    if (w->failed)
        return st_err_set(err, ST_EIO, "chunk writer %s: an earlier write failed", w->dir);
    int had_tail = w->fd >= 0;
    w->closed = 1;
    int rc = finish_tail(w, err);
    if (!rc && had_tail)
        rc = st_fsync_dir(w->dir, err);
    if (rc)
        w->failed = 1;
    return rc;
}

void codec_chunk_reader_release_before(codec_chunk_reader *r, uint64_t ref)
{
    uint32_t seg = (uint32_t)(ref >> 32);
    uint64_t off = ref & 0xffffffffu;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    for (uint32_t i = 0; i < r->n && i <= seg; i++) {
        segment *s = &r->segs[i];
        if (!s->map.p)
            continue;
        uint64_t upto = i < seg ? s->map.len : ST_MIN(off, (uint64_t)s->map.len);
        upto -= upto % page;
        /* only what the calls before did not give back: zapping a range walks its page
         * tables, empty or not */
        if (upto > s->released) {
            madvise((uint8_t *)(uintptr_t)s->map.p + s->released, upto - s->released,
                    MADV_DONTNEED);
            s->released = upto;
        }
    }
}
