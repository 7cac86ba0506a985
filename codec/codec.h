/*
 * codec.h - the one public header of strata's codec module: the bytes of Prometheus TSDB blocks
 * (index v2, chunk segments, XOR chunks, tombstones, meta.json with Thanos' section) and the
 * primitives under them. The codec never touches the object store: it reads memory views
 * (usually mmapped files) and writes local files.
 *
 * Conventions: every fallible function returns 0 or a negative ST_* code and takes a caller-owned
 * `st_err *err` as its last argument for the detail (curl's error buffer: no hidden state, so
 * read-only handles can be shared by threads). Corruption errors name the file and the offset.
 * Strings read from files are sized (codec_str), never assumed NUL-terminated.
 */
#ifndef STRATA_CODEC_H
#define STRATA_CODEC_H

#include "common/common.h"

#include <stdint.h>
#include <string.h>

/* =============================================================================================
 * Encoding primitives (encoding.c). Go's binary.PutUvarint / PutVarint (zig-zag) and big-endian
 * fixed-width integers.
 */
#define CODEC_MAX_VARINT_LEN 10

/* p has room for 10 bytes; returns bytes. Inline: series entries and chunk heads write several
 * a record, most of one or two bytes. */
static inline size_t codec_put_uvarint(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}
static inline size_t codec_put_varint(uint8_t *p, int64_t v)
{
    return codec_put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
size_t codec_uvarint_len(uint64_t v);
int codec_buf_uvarint(st_buf *b, uint64_t v);
int codec_buf_varint(st_buf *b, int64_t v);
int codec_buf_be32(st_buf *b, uint32_t v);
int codec_buf_be64(st_buf *b, uint64_t v);

static inline uint16_t codec_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t codec_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t codec_get_be64(const uint8_t *p)
{
    return ((uint64_t)codec_get_be32(p) << 32) | codec_get_be32(p + 4);
}
static inline void codec_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void codec_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void codec_put_be64(uint8_t *p, uint64_t v)
{
    codec_put_be32(p, (uint32_t)(v >> 32));
    codec_put_be32(p + 4, (uint32_t)v);
}

/* A decoding cursor with a sticky error (Prometheus encoding.Decbuf). Reads past `end` or
 * malformed varints set `err` to ST_ECORRUPT and return 0; callers check `err` once per record.
 * `base` is the start of the file (or region) so errors can report an absolute offset. */
typedef struct codec_decbuf {
    const uint8_t *base;
    const uint8_t *p;
    const uint8_t *end;
    int err;
} codec_decbuf;

void codec_decbuf_init(codec_decbuf *d, const uint8_t *base, const uint8_t *p, size_t len);
uint64_t codec_dec_uvarint(codec_decbuf *d);
int64_t codec_dec_varint(codec_decbuf *d);
uint8_t codec_dec_byte(codec_decbuf *d);
uint32_t codec_dec_be32(codec_decbuf *d);
uint64_t codec_dec_be64(codec_decbuf *d);
/* n raw bytes; NULL (and err set) if fewer remain. */
const uint8_t *codec_dec_bytes(codec_decbuf *d, size_t n);
static inline size_t codec_dec_left(const codec_decbuf *d)
{
    return (size_t)(d->end - d->p);
}
static inline uint64_t codec_dec_offset(const codec_decbuf *d)
{
    return (uint64_t)(d->p - d->base);
}

/* =============================================================================================
 * CRC32C (crc32c.c): Castagnoli, the standard init/final xor, chainable like zlib's crc32:
 * codec_crc32c(codec_crc32c(0, a, n), b, m) == crc of a||b. Uses SSE4.2 when the CPU has it.
 */
uint32_t codec_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t codec_crc32c_sw(uint32_t crc, const void *p, size_t n); /* table version */
uint32_t codec_crc32c_hw(uint32_t crc, const void *p, size_t n); /* only if _hw_available() */
int codec_crc32c_hw_available(void);

/* =============================================================================================
 * Strings, labels, chunks.
 */
typedef struct codec_str {
    const char *p;
    uint32_t len;
} codec_str;

static inline int codec_str_cmp(codec_str a, codec_str b)
{
    if (a.p == b.p && a.len == b.len)
        return 0; /* the same symbol of one mapped index */
    uint32_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}
static inline codec_str codec_str_c(const char *s)
{
    codec_str r = {s, (uint32_t)strlen(s)};
    return r;
}

typedef struct codec_label {
    codec_str name;
    codec_str value;
} codec_label;

/* Prometheus label-set order: label by label, name then value, a prefix sorts first. */
int codec_labels_cmp(const codec_label *a, uint32_t na, const codec_label *b, uint32_t nb);

/* Chunk encodings (the byte in a chunk record). */
#define CODEC_ENC_XOR             1
#define CODEC_ENC_HISTOGRAM       2
#define CODEC_ENC_FLOAT_HISTOGRAM 3
#define CODEC_ENC_AGGR            0xFF /* Thanos downsampled AggrChunk */

/* One chunk meta from the index: closed [mint, maxt] and a ref = segment << 32 | offset. */
typedef struct codec_chunk_meta {
    int64_t mint;
    int64_t maxt;
    uint64_t ref;
} codec_chunk_meta;

/* A chunk's bytes, borrowed from a chunk reader (valid while it is open) or from an encoder. */
typedef struct codec_chunk {
    uint8_t enc;
    const uint8_t *data;
    uint32_t len;
    /* CRC32C of enc + data, when has_crc; the writer then reuses it instead of computing it
     * again. has_crc also says that data sits in its whole record (uvarint len, enc, data,
     * CRC): set by the chunk reader, which checked it in a mapped segment, and by
     * codec_chunk_record_seal. */
    uint32_t crc;
    uint8_t has_crc;
} codec_chunk;

/* Number of samples in a chunk of any known encoding (XOR, histogram, float histogram: the
 * leading BE16). ST_EUNSUPP for an unknown encoding, ST_ECORRUPT when too short. `where` names
 * the chunk in messages (e.g. "01H.../chunks/000001 ref 0x8"). */
int codec_chunk_num_samples(const codec_chunk *c, uint32_t *n, const char *where, st_err *err);

/* =============================================================================================
 * XOR chunk (xor.c), bit-exact with Prometheus' chunkenc.XORChunk (see the format notes:
 * asymmetric dod buckets, leading-zero clamp at 31, 64 significant bits stored as 0, the spare
 * trailing byte). Values are carried as doubles but copied as bits: NaN payloads survive.
 */
#define CODEC_XOR_MAX_SAMPLES      65535
#define CODEC_CHUNK_TARGET_SAMPLES 120

typedef struct codec_xor_enc {
    st_buf b;          /* the chunk bytes so far, starting with the BE16 sample count */
    uint8_t free_bits; /* unused low bits in the last byte of b (bstream "count") */
    uint16_t n;
    int64_t t;
    int64_t tdelta;
    uint64_t v;
    uint8_t leading; /* 0xFF: no window yet */
    uint8_t trailing;
} codec_xor_enc;

void codec_xor_enc_init(codec_xor_enc *e);
void codec_xor_enc_reset(codec_xor_enc *e); /* empty chunk again, keeps memory */
void codec_xor_enc_release(codec_xor_enc *e);
/* Append one sample. Timestamps must increase (not checked). ST_ETOOBIG past 65535 samples. */
int codec_xor_enc_append(codec_xor_enc *e, int64_t t, double v);
/* Append n samples: the bytes of n codec_xor_enc_append calls. A failed allocation appends
 * none of them; past 65535 samples the chunk is filled up to the cap and ST_ETOOBIG returned. */
int codec_xor_enc_append_batch(codec_xor_enc *e, const int64_t *t, const double *v, size_t n);
/* codec_xor_enc_append_batch for samples that mostly repeat one value on one delta (a count
 * aggregate): the same bytes, each run of them written at once. Other data encodes faster
 * through codec_xor_enc_append_batch. */
int codec_xor_enc_append_batch_repeats(codec_xor_enc *e, const int64_t *t, const double *v,
                                       size_t n);
/* Append n samples with the same timestamps t to k encoders (1 <= k <= CODEC_XOR_SHARED_MAX),
 * encoder j getting the values v[j]: the bytes k separate codec_xor_enc_append_batch calls give,
 * in one interleaved pass when the encoders have the same last timestamp and delta and hold the
 * same number of samples (say all freshly reset) or at least two each, one encoder after another
 * otherwise. Each encoder fails as codec_xor_enc_append_batch does (the first error is returned);
 * in the interleaved pass a failed allocation appends to none of them. ST_EINVAL for a bad k. */
#define CODEC_XOR_SHARED_MAX 4
/* Whether a pass of four encoders may use the machine's vector unit (AVX2), where it has one:
 * on by default. The bytes are the same either way; tests turn it off to check the scalar pass
 * on machines that would never take it. Not thread-safe against running encoders. */
void codec_xor_enc_vector(int on);
int codec_xor_enc_append_batch_shared(codec_xor_enc *const *e, size_t k, const int64_t *t,
                                      const double *const *v, size_t n);
/* The chunk as it stands (valid until the next append/reset). */
codec_chunk codec_xor_enc_chunk(const codec_xor_enc *e);

/* Decode every sample of an XOR chunk into caller arrays with room for `cap` samples (the count
 * is the chunk's first BE16: use codec_chunk_num_samples to size them). Sets *n. */
int codec_xor_decode(const uint8_t *data, size_t len, int64_t *t, double *v, size_t cap, size_t *n,
                     const char *where, st_err *err);
/* codec_xor_decode that also tells, at no extra pass, whether the timestamps ascend (none
 * below the one before) and none is negative: *ascending is 1 then, 0 otherwise or on error
 * (ascending NULL: codec_xor_decode). */
int codec_xor_decode_ordered(const uint8_t *data, size_t len, int64_t *t, double *v, size_t cap,
                             size_t *n, int *ascending, const char *where, st_err *err);
/* Whether t[0..n) ascend (none below the one before) and none is negative: what
 * codec_xor_decode_ordered says, as a scan. */
int codec_times_ascend(const int64_t *t, size_t n);

/* =============================================================================================
 * Thanos' aggregate chunk (aggr.c), encoding 0xFF, the chunk of downsampled blocks: five
 * sub-chunks in fixed order count, sum, min, max, counter. Each present one is
 * `uvarint L | encoding byte | L bytes` (L excludes the encoding byte); an absent one is the
 * single byte 0x00. Float aggregates are XOR chunks; native-histogram aggregates have an XOR
 * count and float-histogram sum and counter. The counter sub-chunk opens with the batch's first
 * raw sample and closes with the last window's timestamp repeated, carrying the last raw value.
 */
#define CODEC_AGGR_COUNT   0
#define CODEC_AGGR_SUM     1
#define CODEC_AGGR_MIN     2
#define CODEC_AGGR_MAX     3
#define CODEC_AGGR_COUNTER 4
#define CODEC_AGGR_N       5

/* "count", "sum", "min", "max", "counter"; NULL out of range. */
const char *codec_aggr_name(int aggr);
/* The index of a name above, or -1. */
int codec_aggr_from_name(const char *name);

/* Split AggrChunk data into its sub-chunks, borrowed from data. An absent aggregate gives
 * {enc 0, data NULL, len 0}. Every length is checked against the bytes that remain; a present
 * sub-chunk must carry encoding 1, 2 or 3. *used (optional) gets the bytes the five entries
 * take (Thanos ignores anything after them). ST_ECORRUPT with the offset otherwise. */
int codec_aggr_parse(const uint8_t *data, size_t len, codec_chunk sub[CODEC_AGGR_N], size_t *used,
                     const char *where, st_err *err);
/* Bytes codec_aggr_write needs for these sub-chunks (enc 0 = absent; a present one must have
 * len >= 1, as every real chunk does, since L == 0 reads back as absent). */
size_t codec_aggr_size(const codec_chunk sub[CODEC_AGGR_N]);
/* Write the AggrChunk data into out (room for codec_aggr_size bytes); returns the length. */
size_t codec_aggr_write(const codec_chunk sub[CODEC_AGGR_N], uint8_t *out);
/* Append the AggrChunk data to b. ST_EINVAL for a present sub-chunk of length 0. */
int codec_aggr_encode(st_buf *b, const codec_chunk sub[CODEC_AGGR_N]);

/* =============================================================================================
 * Chunk segment files chunks/000001... (segments.c).
 * Header: BE32 magic 0x85BD40DD, byte version 1, 3 zero bytes. Record: uvarint len, byte enc,
 * data, BE32 CRC32C(enc + data). A ref is (0-based segment index) << 32 | record offset.
 */
#define CODEC_SEGMENT_MAGIC       0x85BD40DDu
#define CODEC_SEGMENT_HEADER_SIZE 8
#define CODEC_SEGMENT_MAX_SIZE    (512ull * 1024 * 1024)

typedef struct codec_chunk_reader codec_chunk_reader;

/* Map every numbered file in dir (a block's chunks/ directory), check magic and version. */
int codec_chunk_reader_open(codec_chunk_reader **out, const char *chunks_dir, st_err *err);
/* Fetch one chunk by ref: bounds checked and CRC verified. Thread-safe. */
int codec_chunk_reader_get(const codec_chunk_reader *r, uint64_t ref, codec_chunk *c, st_err *err);
/* Like get, but also returns the whole record (len varint .. CRC) for byte-for-byte copies. */
int codec_chunk_reader_record(const codec_chunk_reader *r, uint64_t ref, codec_chunk *c,
                              const uint8_t **rec, size_t *rec_len, st_err *err);
uint32_t codec_chunk_reader_nsegments(const codec_chunk_reader *r);
/* Tell the kernel the mapped pages before `ref` (earlier segments, and the part of ref's segment
 * before its offset) will not be read again, so they leave this process' RSS (they stay in the
 * page cache). For streaming readers whose refs only grow. Not thread-safe against get() on the
 * released range. */
void codec_chunk_reader_release_before(codec_chunk_reader *r, uint64_t ref);
/* Size of segment i and its file name (e.g. "000001"). */
uint64_t codec_chunk_reader_segment_size(const codec_chunk_reader *r, uint32_t i);
const char *codec_chunk_reader_segment_name(const codec_chunk_reader *r, uint32_t i);
void codec_chunk_reader_free(codec_chunk_reader *r);

typedef struct codec_chunk_writer codec_chunk_writer;

/* Create chunks_dir and write segments into it, cut as Prometheus 2.42's chunks.Writer cuts them
 * (per-series batches, 5+1+len+4 estimate per chunk). segment_size 0 means 512 MiB. */
int codec_chunk_writer_create(codec_chunk_writer **out, const char *chunks_dir,
                              uint64_t segment_size, st_err *err);
/* Write all chunks of one series, in order; refs[i] receives each chunk's ref. */
int codec_chunk_writer_write(codec_chunk_writer *w, const codec_chunk *chks, size_t n,
                             uint64_t *refs, st_err *err);
/* Zero-copy mode: a chunk with has_crc (the reader's, data inside its mapped record, or one
 * made by codec_chunk_record_seal) is written from where its record is instead of being copied
 * first. The caller keeps those bytes in place until the next codec_chunk_writer_flush() or
 * codec_chunk_writer_close(). */
void codec_chunk_writer_zero_copy(codec_chunk_writer *w, int on);
/* A record built in place, for zero-copy mode: codec_chunk_record_size(len) bytes at rec, the
 * len bytes of data at codec_chunk_record_data(rec, len); once they are there,
 * codec_chunk_record_seal writes the head and the CRC around them and returns the chunk. */
size_t codec_chunk_record_size(uint32_t len);
uint8_t *codec_chunk_record_data(uint8_t *rec, uint32_t len);
codec_chunk codec_chunk_record_seal(uint8_t *rec, uint8_t enc, uint32_t len);
/* Hand what is buffered to the kernel (before the caller releases input pages, or the bytes
 * of records written in zero-copy mode). */
int codec_chunk_writer_flush(codec_chunk_writer *w, st_err *err);
/* Flush, fsync and close the last segment. */
int codec_chunk_writer_close(codec_chunk_writer *w, st_err *err);
uint32_t codec_chunk_writer_nsegments(const codec_chunk_writer *w);
void codec_chunk_writer_free(codec_chunk_writer *w);

/* =============================================================================================
 * Index v2 (index.c reader, index_writer.c writer).
 */
#define CODEC_INDEX_MAGIC    0xBAAAD700u
#define CODEC_INDEX_TOC_SIZE 52

typedef struct codec_index codec_index;

/* A series as read from the index: labels and chunk metas, borrowed from a codec_series_buf. */
typedef struct codec_series {
    uint64_t ref; /* byte offset / 16 */
    uint32_t nlabels;
    const codec_label *labels;
    /* index v2: the labels' symbol refs as stored, 2 per label (name, value), which sort like
     * the strings; NULL for v1 */
    const uint32_t *symrefs;
    uint32_t nchunks;
    const codec_chunk_meta *chunks;
} codec_series;

/* Caller-owned scratch for decoding series (grows as needed; reuse it across calls). */
typedef struct codec_series_buf {
    codec_label *labels;
    uint32_t labels_cap;
    uint32_t *symrefs;
    uint32_t symrefs_cap;
    codec_chunk_meta *chunks;
    uint32_t chunks_cap;
} codec_series_buf;
void codec_series_buf_init(codec_series_buf *b);
void codec_series_buf_release(codec_series_buf *b);

/* Open an index file (mmapped) or a memory view (borrowed, must outlive the handle). Checks
 * magic, version (1 or 2), TOC CRC, the symbol table and the postings offset table. */
int codec_index_open(codec_index **out, const char *path, st_err *err);
int codec_index_open_mem(codec_index **out, const uint8_t *p, size_t len, const char *name,
                         st_err *err);
void codec_index_free(codec_index *idx);

int codec_index_version(const codec_index *idx);
uint64_t codec_index_size(const codec_index *idx);
const char *codec_index_name(const codec_index *idx);
uint32_t codec_index_nsymbols(const codec_index *idx);
/* Symbol by position (v2 symbol ref); ST_ECORRUPT if out of range. */
int codec_index_symbol(const codec_index *idx, uint64_t ref, codec_str *out, st_err *err);

/* Decode the series entry with this ref into sb; *s borrows from sb. Checks its CRC. */
int codec_index_series(const codec_index *idx, uint64_t ref, codec_series_buf *sb, codec_series *s,
                       st_err *err);

/* A postings list: n BE32 series refs, borrowed from the mapping. */
typedef struct codec_postings {
    const uint8_t *p;
    uint32_t n;
} codec_postings;
static inline uint32_t codec_postings_at(const codec_postings *l, uint32_t i)
{
    return codec_get_be32(l->p + 4 * (size_t)i);
}
/* Postings for name=value; an absent pair gives n == 0. The all-postings list is ("", ""). */
int codec_index_postings(const codec_index *idx, codec_str name, codec_str value,
                         codec_postings *out, st_err *err);

/* Label names, and the values of one name, from the postings offset table, sorted. The returned
 * arrays are borrowed from the index (valid while it is open). */
int codec_index_label_names(const codec_index *idx, const codec_str **names, size_t *n,
                            st_err *err);
int codec_index_label_values(const codec_index *idx, codec_str name, const codec_str **values,
                             size_t *n, st_err *err);

/* Every series in order (the all-postings list). */
typedef struct codec_series_iter codec_series_iter;
int codec_series_iter_create(codec_series_iter **out, const codec_index *idx, st_err *err);
int codec_series_iter_next(codec_series_iter *it, st_err *err);        /* 0, ST_ITEROVER, <0 */
const codec_series *codec_series_iter_at(const codec_series_iter *it); /* valid until next */
void codec_series_iter_free(codec_series_iter *it);

/* Streaming writer, byte-identical to Prometheus 2.42's index.Writer for the same input:
 * symbols (strictly ascending), then series (strictly ascending label sets, each written as it
 * comes), then close writes label indices, postings, label offset table, postings offset table
 * and TOC. Memory holds symbols, postings and, until close builds the postings from it, a log
 * of each series' labels that are not the previous series' (index-sized), never all series
 * entries. */
typedef struct codec_index_writer codec_index_writer;
int codec_index_writer_create(codec_index_writer **out, const char *path, st_err *err);
int codec_index_writer_add_symbol(codec_index_writer *w, codec_str sym, st_err *err);
/* Labels sorted by name; every name and value must be a symbol added before. Chunk metas
 * sorted by time with increasing refs. *ref (optional) gets the series ref. */
int codec_index_writer_add_series(codec_index_writer *w, const codec_label *labels,
                                  uint32_t nlabels, const codec_chunk_meta *chunks,
                                  uint32_t nchunks, uint64_t *ref, st_err *err);
/* codec_index_writer_add_series with the labels' symbol refs in this index already known (2 per
 * label, name and value, as codec_series.symrefs holds them); refs NULL looks them up. */
int codec_index_writer_add_series_refs(codec_index_writer *w, const codec_label *labels,
                                       uint32_t nlabels, const uint32_t *refs,
                                       const codec_chunk_meta *chunks, uint32_t nchunks,
                                       uint64_t *ref, st_err *err);
/* Make w (before its first series) a follower of leader: w then takes exactly leader's series,
 * each right after leader took it (the same labels and symbol refs: checked), and writes
 * leader's postings with its own series refs instead of building its own. Followers are closed
 * before their leader, which takes no series after the first of them closes. For outputs of one
 * pass that hold the same series (a block downsampled to several resolutions at once). */
int codec_index_writer_follow(codec_index_writer *w, codec_index_writer *leader, st_err *err);
int codec_index_writer_close(codec_index_writer *w, st_err *err);
void codec_index_writer_free(codec_index_writer *w);

/* =============================================================================================
 * Tombstones (tombstones.c): BE32 magic 0x0130BA30, byte version 1, entries (uvarint series ref,
 * varint mint, varint maxt: closed interval), BE32 CRC32C of the entries only.
 */
#define CODEC_TOMBSTONES_MAGIC 0x0130BA30u

typedef struct codec_tombstone {
    uint64_t series_ref;
    int64_t mint;
    int64_t maxt;
} codec_tombstone;

/* Parse a tombstones file. The array is sorted by (series_ref, mint); caller frees with st_free. */
int codec_tombstones_parse(const uint8_t *p, size_t len, const char *name, codec_tombstone **out,
                           size_t *n, st_err *err);
/* Read dir's tombstones file; a missing file is no tombstones (n == 0). */
int codec_tombstones_read(const char *path, codec_tombstone **out, size_t *n, st_err *err);
/* Write atomically, entries in the given order. n == 0 writes the 9-byte empty file. */
int codec_tombstones_write(const char *path, const codec_tombstone *t, size_t n, st_err *err);

/* =============================================================================================
 * ULIDs (ulid.c): 26 Crockford base32 characters, 48-bit ms timestamp + 80 random bits.
 */
#define CODEC_ULID_LEN 26
typedef struct codec_ulid {
    char s[CODEC_ULID_LEN + 1];
} codec_ulid;

int codec_ulid_new(codec_ulid *out, int64_t ms);
/* 1 if s (exactly 26 chars, NUL-terminated or not followed by more) is a valid ULID. */
int codec_ulid_valid(const char *s, size_t len);
/* Timestamp part in ms; ST_EINVAL if s is not a ULID. */
int codec_ulid_time(const char *s, int64_t *ms);

/* =============================================================================================
 * meta.json (meta.c), with Thanos' `thanos` section. Written like Go's json.MarshalIndent with a
 * tab: fields in struct order, zero stats omitted, sources sorted. Fields this struct does not
 * know are kept from the parsed input and written back on rewrite.
 */
typedef struct codec_block_desc {
    codec_ulid ulid;
    int64_t min_time;
    int64_t max_time;
} codec_block_desc;

typedef struct codec_meta_file {
    char *rel_path;
    int64_t size_bytes; /* -1: absent (meta.json itself) */
    char *hash_func;    /* NULL if absent */
    char *hash_value;
} codec_meta_file;

typedef struct codec_kv {
    char *name;
    char *value;
} codec_kv;

typedef struct codec_meta {
    codec_ulid ulid;
    int64_t min_time;
    int64_t max_time;
    struct {
        uint64_t num_samples;
        uint64_t num_float_samples;
        uint64_t num_histogram_samples;
        uint64_t num_series;
        uint64_t num_chunks;
        uint64_t num_tombstones;
    } stats;
    int level;
    codec_ulid *sources;
    size_t nsources;
    codec_block_desc *parents;
    size_t nparents;
    int deletable;
    int failed;
    char **hints;
    size_t nhints;
    int version;

    int has_thanos; /* the section exists */
    struct {
        int version;      /* 0 = absent */
        codec_kv *labels; /* sorted by name */
        size_t nlabels;
        int labels_null;    /* written as null */
        int64_t resolution; /* downsample.resolution, ms */
        char *source;       /* "" if absent */
        char **segment_files;
        size_t nsegment_files;
        codec_meta_file *files;
        size_t nfiles;
        int64_t series_max_size;
        int64_t chunk_max_size;
        char *upload_time; /* RFC3339Nano as read; NULL = zero time */
    } thanos;

    void *unknown; /* opaque: fields kept for rewrite (json_t *) */
} codec_meta;

/* Parse meta.json text; `name` (the file) is used in error messages. Checks version == 1. */
int codec_meta_parse(codec_meta **out, const char *json, size_t len, const char *name, st_err *err);
int codec_meta_read(codec_meta **out, const char *path, st_err *err);
/* Serialise like Go. flags: CODEC_META_NEWLINE adds the trailing newline Thanos writes. */
#define CODEC_META_NEWLINE 1
int codec_meta_format(const codec_meta *m, st_buf *out, int flags, st_err *err);
int codec_meta_write(const codec_meta *m, const char *path, int flags, st_err *err);
/* A new, empty meta (version 1, level 1) owned by the caller. */
int codec_meta_new(codec_meta **out, st_err *err);
void codec_meta_free(codec_meta *m);

/* =============================================================================================
 * A block directory opened for reading (block.c): meta.json, index, chunks/, tombstones.
 */
typedef struct codec_block {
    char *dir;
    codec_meta *meta;
    codec_index *index;
    codec_chunk_reader *chunks;
    codec_tombstone *tombstones; /* sorted by (series_ref, mint) */
    size_t ntombstones;
} codec_block;

int codec_block_open(codec_block **out, const char *dir, st_err *err);
void codec_block_free(codec_block *b);
/* The tombstone intervals of one series (a run inside b->tombstones), or n == 0. */
const codec_tombstone *codec_block_series_tombstones(const codec_block *b, uint64_t series_ref,
                                                     size_t *n);

#endif
