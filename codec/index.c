/*
 * index.c - reader for a block's index file, format version 2 as Prometheus 2.42 writes it and the
 * legacy version 1 (format notes §8). Opening checks the header, the TOC, the symbol table (kept
 * as sized strings pointing into the mapping, strictly ascending) and the postings offset table
 * (every entry parsed into sorted arrays); series entries and postings lists are decoded on demand
 * with their CRCs checked. Every length read from the file is checked against what remains, and
 * every corruption names the file and the offset where it was found.
 */
#include "codec.h"

#include <stdlib.h>

/*
 * File layout (all fixed-width integers big-endian):
 *
 *   offset        size  field
 *   0             4     magic 0xBAAAD700
 *   4             1     version (2; 1 = legacy, symbol refs and series refs are file offsets)
 *   toc.symbols   ...   BE32 len | BE32 count | count x uvarint-string | BE32 CRC32C
 *   toc.series    ...   per series, 16-byte aligned in v2: uvarint len | body | BE32 CRC32C(body)
 *   toc.postings  ...   per list: BE32 len (= 4 + 4n) | BE32 n | n x BE32 series ref | BE32 CRC
 *   toc.pot       ...   BE32 len | BE32 count | entries | BE32 CRC; entry = uvarint 2 |
 *                       uvarint-string name | uvarint-string value | uvarint offset of the list
 *   len - 52      52    TOC: 6 x BE64 section offsets, BE32 CRC32C of those 48 bytes
 *
 * Legacy label indices and the label offset table are not read.
 */
#define HEADER_LEN  5
#define TOC_CRC_OFF 48
_Static_assert(CODEC_INDEX_TOC_SIZE == 6 * 8 + 4, "TOC is six BE64 offsets and a CRC");

enum { TOC_SYMBOLS, TOC_SERIES, TOC_LABEL_INDICES, TOC_LABEL_OFFSETS, TOC_POSTINGS, TOC_PO, TOC_N };
static const char *const toc_names[TOC_N] = {
    "symbols", "series", "label indices", "label offset table", "postings", "postings offset table",
};

struct codec_index {
    st_map map; /* when opened from a file */
    const uint8_t *p;
    size_t len;
    char *name;
    int version;
    uint64_t toc[TOC_N];
    uint64_t toc_off;    /* where the TOC starts: every section ends before it */
    uint64_t series_end; /* the first section start after toc.series */

    codec_str *syms;
    uint32_t nsyms;

    /* Postings offset table: names[i] owns entries [first[i], first[i + 1]) of vals/offs. */
    codec_str *names;
    size_t nnames;
    size_t *first;
    codec_str *vals;
    uint64_t *offs;
    size_t nentries;
};

struct codec_series_iter {
    const codec_index *idx;
    codec_postings all;
    uint32_t next;
    int cur; /* which of sb/s holds the current series */
    int rc;  /* sticky, with its detail */
    st_err rc_err;
    codec_series_buf sb[2];
    codec_series s[2];
};

void codec_series_buf_init(codec_series_buf *b)
{
    b->labels = NULL;
    b->labels_cap = 0;
    b->symrefs = NULL;
    b->symrefs_cap = 0;
    b->chunks = NULL;
    b->chunks_cap = 0;
}

void codec_series_buf_release(codec_series_buf *b)
{
    st_free(b->labels);
    st_free(b->symrefs);
    st_free(b->chunks);
    codec_series_buf_init(b);
}

static uint64_t off_of(const codec_index *idx, const void *p)
{
    return (uint64_t)((const uint8_t *)p - idx->p);
}

/* Reads the section at off: BE32 len | body[len] | BE32 CRC32C(body), all before the TOC. */
static int read_section(const codec_index *idx, uint64_t off, const char *what,
                        const uint8_t **body, uint32_t *blen, st_err *err)
{
    if (off < HEADER_LEN || off > idx->toc_off || idx->toc_off - off < 8)
        return ST_CORRUPT(err, idx->name, off, "%s: section does not fit before the TOC at %llu",
                          what, (unsigned long long)idx->toc_off);
    uint32_t n = codec_get_be32(idx->p + off);
    if ((uint64_t)n > idx->toc_off - off - 8)
        return ST_CORRUPT(err, idx->name, off, "%s: section length %u exceeds the %llu bytes left",
                          what, n, (unsigned long long)(idx->toc_off - off - 8));
    const uint8_t *b = idx->p + off + 4;
    uint32_t want = codec_get_be32(b + n);
    uint32_t got = codec_crc32c(0, b, n);
    if (want != got)
        return ST_CHECKSUM(err, idx->name, off, "%s: CRC32C %08x, stored %08x", what, got, want);
    *body = b;
    *blen = n;
    return 0;
}

static int parse_toc(codec_index *idx, st_err *err)
{
    if (idx->len < HEADER_LEN + CODEC_INDEX_TOC_SIZE)
        return ST_CORRUPT(err, idx->name, 0, "file of %zu bytes is too short for an index",
                          idx->len);
    uint32_t magic = codec_get_be32(idx->p);
    if (magic != CODEC_INDEX_MAGIC)
        return ST_CORRUPT(err, idx->name, 0, "bad magic %08x", magic);
    idx->version = idx->p[4];
    if (idx->version == 3)
        return st_err_set(err, ST_EUNSUPP, "%s: index version 3 is not supported (offset 4)",
                          idx->name);
    if (idx->version != 1 && idx->version != 2)
        return ST_CORRUPT(err, idx->name, 4, "unknown index version %d", idx->version);

    idx->toc_off = idx->len - CODEC_INDEX_TOC_SIZE;
    const uint8_t *t = idx->p + idx->toc_off;
    uint32_t want = codec_get_be32(t + TOC_CRC_OFF);
    uint32_t got = codec_crc32c(0, t, TOC_CRC_OFF);
    if (want != got)
        return ST_CHECKSUM(err, idx->name, idx->toc_off, "TOC: CRC32C %08x, stored %08x", got,
                           want);
    for (int i = 0; i < TOC_N; i++) {
        idx->toc[i] = codec_get_be64(t + 8 * i);
        if (idx->toc[i] != 0 && (idx->toc[i] < HEADER_LEN || idx->toc[i] > idx->toc_off))
            return ST_CORRUPT(err, idx->name, idx->toc_off + 8 * i,
                              "TOC: %s offset %llu outside [%d, %llu]", toc_names[i],
                              (unsigned long long)idx->toc[i], HEADER_LEN,
                              (unsigned long long)idx->toc_off);
    }
    if (idx->toc[TOC_SYMBOLS] == 0 || idx->toc[TOC_PO] == 0)
        return ST_CORRUPT(err, idx->name, idx->toc_off, "TOC: no %s section",
                          idx->toc[TOC_SYMBOLS] == 0 ? "symbols" : "postings offset table");

    /* Series entries end where the next section begins (v2: TOC.label_indices). */
    idx->series_end = idx->toc_off;
    if (idx->toc[TOC_SERIES] != 0) {
        for (int i = TOC_LABEL_INDICES; i < TOC_N; i++)
            if (idx->toc[i] >= idx->toc[TOC_SERIES] && idx->toc[i] < idx->series_end)
                idx->series_end = idx->toc[i];
    } else {
        idx->series_end = 0;
    }
    return 0;
}

static int parse_symbols(codec_index *idx, st_err *err)
{
    const uint8_t *body;
    uint32_t blen;
    int rc = read_section(idx, idx->toc[TOC_SYMBOLS], "symbol table", &body, &blen, err);
    if (rc)
        return rc;
    if (blen < 4)
        return ST_CORRUPT(err, idx->name, idx->toc[TOC_SYMBOLS], "symbol table of %u bytes", blen);
    uint32_t n = codec_get_be32(body);
    if (n > blen - 4) /* every symbol takes at least its length byte */
        return ST_CORRUPT(err, idx->name, off_of(idx, body), "%u symbols cannot fit in %u bytes", n,
                          blen - 4);
    idx->syms = st_reallocarray(NULL, n ? n : 1, sizeof(*idx->syms));
    if (!idx->syms)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory for %u symbols", idx->name, n);

    codec_decbuf d;
    codec_decbuf_init(&d, idx->p, body + 4, blen - 4);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t at = codec_dec_offset(&d);
        uint64_t l = codec_dec_uvarint(&d);
        const uint8_t *s = d.err ? NULL : codec_dec_bytes(&d, (size_t)ST_MIN(l, SIZE_MAX));
        if (!s)
            return ST_CORRUPT(err, idx->name, at, "symbol %u of %u runs past the table", i, n);
        codec_str cur = {(const char *)s, (uint32_t)l};
        if (i > 0 && codec_str_cmp(idx->syms[i - 1], cur) >= 0)
            return ST_CORRUPT(err, idx->name, at, "symbol %u is not above symbol %u", i, i - 1);
        idx->syms[i] = cur;
        idx->nsyms = i + 1;
    }
    if (codec_dec_left(&d) != 0)
        return ST_CORRUPT(err, idx->name, codec_dec_offset(&d),
                          "%zu stray bytes after the last symbol", codec_dec_left(&d));
    return 0;
}

/* v1 symbol refs are file offsets of the symbol's length varint. */
static int sym_by_offset(const codec_index *idx, uint64_t ref, codec_str *out)
{
    uint32_t lo = 0, hi = idx->nsyms;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t at = off_of(idx, idx->syms[mid].p) - codec_uvarint_len(idx->syms[mid].len);
        if (at == ref) {
            *out = idx->syms[mid];
            return 0;
        }
        if (at < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int sym_lookup(const codec_index *idx, uint64_t ref, codec_str *out)
{
    if (idx->version == 1)
        return sym_by_offset(idx, ref, out);
    if (ref >= idx->nsyms)
        return -1;
    *out = idx->syms[ref];
    return 0;
}

typedef struct pentry {
    codec_str name;
    codec_str value;
    uint64_t off;
    uint64_t at; /* where the entry is, for messages */
} pentry;

static int pentry_cmp(const void *a, const void *b)
{
    const pentry *x = a, *y = b;
    int c = codec_str_cmp(x->name, y->name);
    return c ? c : codec_str_cmp(x->value, y->value);
}

/* Appends one entry to the sorted arrays; entries must come strictly ascending. */
static int pt_add(codec_index *idx, const pentry *e, size_t *names_cap, st_err *err)
{
    size_t i = idx->nentries;
    if (idx->nnames > 0) {
        codec_str last = idx->names[idx->nnames - 1];
        int c = codec_str_cmp(last, e->name);
        if (c > 0 || (c == 0 && codec_str_cmp(idx->vals[i - 1], e->value) >= 0))
            return ST_CORRUPT(err, idx->name, e->at,
                              "postings offset table entry %zu is not above the one before", i);
        if (c == 0)
            goto add_value;
    }
    if (idx->nnames + 1 >= *names_cap) {
        size_t ncap = *names_cap ? 2 * *names_cap : 16;
        codec_str *nn = st_reallocarray(idx->names, ncap, sizeof(*nn));
        if (nn)
            idx->names = nn;
        size_t *nf = nn ? st_reallocarray(idx->first, ncap, sizeof(*nf)) : NULL;
        if (!nf)
            return st_err_set(err, ST_ENOMEM, "%s: out of memory for label names", idx->name);
        idx->first = nf;
        *names_cap = ncap;
    }
    idx->names[idx->nnames] = e->name;
    idx->first[idx->nnames] = i;
    idx->nnames++;
add_value:
    idx->vals[i] = e->value;
    idx->offs[i] = e->off;
    idx->nentries = i + 1;
    idx->first[idx->nnames] = i + 1;
    return 0;
}

static int parse_postings_table(codec_index *idx, st_err *err)
{
    const uint8_t *body;
    uint32_t blen;
    pentry *tmp = NULL;
    size_t names_cap = 0;
    int rc = read_section(idx, idx->toc[TOC_PO], "postings offset table", &body, &blen, err);
    if (rc)
        return rc;
    if (blen < 4)
        return ST_CORRUPT(err, idx->name, idx->toc[TOC_PO], "postings offset table of %u bytes",
                          blen);
    uint32_t n = codec_get_be32(body);
    if (n > (blen - 4) / 4) /* an entry takes at least 4 bytes */
        return ST_CORRUPT(err, idx->name, off_of(idx, body),
                          "%u postings offset entries cannot fit in %u bytes", n, blen - 4);
    idx->vals = st_reallocarray(NULL, n ? n : 1, sizeof(*idx->vals));
    idx->offs = st_reallocarray(NULL, n ? n : 1, sizeof(*idx->offs));
    if (idx->version == 1)
        tmp = st_reallocarray(NULL, n ? n : 1, sizeof(*tmp));
    if (!idx->vals || !idx->offs || (idx->version == 1 && !tmp)) {
        rc = st_err_set(err, ST_ENOMEM, "%s: out of memory for %u postings entries", idx->name, n);
        goto done;
    }

    codec_decbuf d;
    codec_decbuf_init(&d, idx->p, body + 4, blen - 4);
    for (uint32_t i = 0; i < n; i++) {
        pentry e;
        e.at = codec_dec_offset(&d);
        uint64_t keys = codec_dec_uvarint(&d);
        if (!d.err && keys != 2) {
            rc = ST_CORRUPT(err, idx->name, e.at, "postings offset entry %u has %llu keys, not 2",
                            i, (unsigned long long)keys);
            goto done;
        }
        uint64_t l = codec_dec_uvarint(&d);
        const uint8_t *s = d.err ? NULL : codec_dec_bytes(&d, (size_t)ST_MIN(l, SIZE_MAX));
        e.name = (codec_str){(const char *)s, (uint32_t)l};
        l = codec_dec_uvarint(&d);
        s = d.err ? NULL : codec_dec_bytes(&d, (size_t)ST_MIN(l, SIZE_MAX));
        e.value = (codec_str){(const char *)s, (uint32_t)l};
        e.off = codec_dec_uvarint(&d);
        if (d.err) {
            rc = ST_CORRUPT(err, idx->name, e.at,
                            "postings offset entry %u of %u runs past the "
                            "table",
                            i, n);
            goto done;
        }
        if (tmp)
            tmp[i] = e;
        else if ((rc = pt_add(idx, &e, &names_cap, err)))
            goto done;
    }
    if (codec_dec_left(&d) != 0) {
        rc = ST_CORRUPT(err, idx->name, codec_dec_offset(&d),
                        "%zu stray bytes after the last postings offset entry", codec_dec_left(&d));
        goto done;
    }
    if (tmp) {
        /* v1 writers did not sort this table. */
        qsort(tmp, n, sizeof(*tmp), pentry_cmp);
        for (uint32_t i = 0; i < n && !rc; i++)
            rc = pt_add(idx, &tmp[i], &names_cap, err);
    }
done:
    st_free(tmp);
    return rc;
}

void codec_index_free(codec_index *idx)
{
    if (!idx)
        return;
    st_map_release(&idx->map);
    st_free(idx->name);
    st_free(idx->syms);
    st_free(idx->names);
    st_free(idx->first);
    st_free(idx->vals);
    st_free(idx->offs);
    st_free(idx);
}

/* Takes ownership of *map (released on failure too). */
static int open_view(codec_index **out, const uint8_t *p, size_t len, const char *name, st_map *map,
                     st_err *err)
{
    *out = NULL;
    int rc = 0;
    codec_index *idx = st_calloc(1, sizeof(*idx));
    if (!idx || !(idx->name = st_strdup(name ? name : "index"))) {
        st_free(idx);
        if (map)
            st_map_release(map);
        return st_err_set(err, ST_ENOMEM, "open index %s: out of memory", name ? name : "");
    }
    if (map) {
        idx->map = *map;
        map->p = NULL;
        map->len = 0;
    }
    idx->p = p;
    idx->len = len;
    if (!(rc = parse_toc(idx, err)) && !(rc = parse_symbols(idx, err)))
        rc = parse_postings_table(idx, err);
    if (rc) {
        codec_index_free(idx);
        return rc;
    }
    *out = idx;
    return 0;
}

int codec_index_open(codec_index **out, const char *path, st_err *err)
{
    st_map m;
    *out = NULL;
    int rc = st_map_file(&m, path, err);
    if (rc)
        return rc;
    return open_view(out, m.p, m.len, path, &m, err);
}

int codec_index_open_mem(codec_index **out, const uint8_t *p, size_t len, const char *name,
                         st_err *err)
{
    return open_view(out, p, len, name, NULL, err);
}

int codec_index_version(const codec_index *idx)
{
    return idx->version;
}

uint64_t codec_index_size(const codec_index *idx)
{
    return idx->len;
}

const char *codec_index_name(const codec_index *idx)
{
    return idx->name;
}

uint32_t codec_index_nsymbols(const codec_index *idx)
{
    return idx->nsyms;
}

int codec_index_symbol(const codec_index *idx, uint64_t ref, codec_str *out, st_err *err)
{
    if (sym_lookup(idx, ref, out) != 0)
        return ST_CORRUPT(err, idx->name, idx->toc[TOC_SYMBOLS], "no symbol with ref %llu",
                          (unsigned long long)ref);
    return 0;
}

static int grow(void **p, uint32_t *cap, uint64_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint64_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    void *np = st_reallocarray(*p, (size_t)ncap, size);
    if (!np)
        return ST_ENOMEM;
    *p = np;
    *cap = (uint32_t)ncap;
    return 0;
}

/* a + d as int64, or -1 if that overflows. */
static int add_time(int64_t a, uint64_t d, int64_t *out)
{
    if (d > (uint64_t)INT64_MAX - (uint64_t)a)
        return -1;
    *out = (int64_t)((uint64_t)a + d);
    return 0;
}

/*
 * Series entry body (after the uvarint length):
 *   uvarint nlabels, nlabels x (uvarint name ref, uvarint value ref), uvarint nchunks,
 *   chunk 0:  varint mint, uvarint maxt - mint, uvarint ref
 *   chunk i:  uvarint mint - maxt(i-1), uvarint maxt - mint, varint ref - ref(i-1)
 */
int codec_index_series(const codec_index *idx, uint64_t ref, codec_series_buf *sb, codec_series *s,
                       st_err *err)
{
    uint64_t off = ref;
    if (idx->version == 2) {
        if (ref > UINT32_MAX)
            return ST_CORRUPT(err, idx->name, idx->toc[TOC_SERIES],
                              "series ref %llu exceeds 32 "
                              "bits",
                              (unsigned long long)ref);
        off = ref * 16;
    }
    if (off < idx->toc[TOC_SERIES] || off >= idx->series_end)
        return ST_CORRUPT(err, idx->name, off,
                          "series ref %llu is outside the series section "
                          "[%llu, %llu)",
                          (unsigned long long)ref, (unsigned long long)idx->toc[TOC_SERIES],
                          (unsigned long long)idx->series_end);

    codec_decbuf d;
    codec_decbuf_init(&d, idx->p, idx->p + off, (size_t)(idx->series_end - off));
    uint64_t blen = codec_dec_uvarint(&d);
    if (d.err || blen > codec_dec_left(&d) || codec_dec_left(&d) - blen < 4)
        return ST_CORRUPT(err, idx->name, off,
                          "series entry length %llu runs past the series "
                          "section end %llu",
                          (unsigned long long)blen, (unsigned long long)idx->series_end);
    const uint8_t *body = d.p;
    uint32_t want = codec_get_be32(body + blen);
    uint32_t got = codec_crc32c(0, body, (size_t)blen);
    if (want != got)
        return ST_CHECKSUM(err, idx->name, off, "series ref %llu: CRC32C %08x, stored %08x",
                           (unsigned long long)ref, got, want);

    codec_decbuf_init(&d, idx->p, body, (size_t)blen);
    uint64_t nl = codec_dec_uvarint(&d);
    if (d.err || nl > codec_dec_left(&d) / 2)
        return ST_CORRUPT(err, idx->name, off,
                          "series ref %llu: %llu labels cannot fit in %llu "
                          "bytes",
                          (unsigned long long)ref, (unsigned long long)nl,
                          (unsigned long long)blen);
    int v2 = idx->version != 1;
    if (grow((void **)&sb->labels, &sb->labels_cap, nl, sizeof(*sb->labels)) ||
        (v2 && grow((void **)&sb->symrefs, &sb->symrefs_cap, 2 * nl, sizeof(*sb->symrefs))))
        return st_err_set(err, ST_ENOMEM, "%s: out of memory for %llu labels", idx->name,
                          (unsigned long long)nl);
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t at = codec_dec_offset(&d);
        uint64_t nref = codec_dec_uvarint(&d);
        uint64_t vref = codec_dec_uvarint(&d);
        codec_label *l = &sb->labels[i];
        if (d.err)
            return ST_CORRUPT(err, idx->name, at, "series ref %llu: label %llu runs past the entry",
                              (unsigned long long)ref, (unsigned long long)i);
        if (sym_lookup(idx, nref, &l->name) || sym_lookup(idx, vref, &l->value))
            return ST_CORRUPT(err, idx->name, at,
                              "series ref %llu: label %llu refers to unknown "
                              "symbol %llu or %llu",
                              (unsigned long long)ref, (unsigned long long)i,
                              (unsigned long long)nref, (unsigned long long)vref);
        if (v2) { /* sym_lookup checked both refs: they fit 32 bits */
            sb->symrefs[2 * i] = (uint32_t)nref;
            sb->symrefs[2 * i + 1] = (uint32_t)vref;
        }
        /* v2 symbol refs sort like the strings */
        if (i > 0 && (v2 ? sb->symrefs[2 * i - 2] >= sb->symrefs[2 * i]
                         : codec_str_cmp(sb->labels[i - 1].name, l->name) >= 0))
            return ST_CORRUPT(err, idx->name, at,
                              "series ref %llu: label names not strictly "
                              "ascending at label %llu",
                              (unsigned long long)ref, (unsigned long long)i);
    }

    uint64_t at = codec_dec_offset(&d);
    uint64_t nc = codec_dec_uvarint(&d);
    if (d.err || nc > codec_dec_left(&d) / 3) /* a chunk meta takes at least 3 bytes */
        return ST_CORRUPT(err, idx->name, at,
                          "series ref %llu: %llu chunks cannot fit in the "
                          "entry",
                          (unsigned long long)ref, (unsigned long long)nc);
    if (grow((void **)&sb->chunks, &sb->chunks_cap, nc, sizeof(*sb->chunks)))
        return st_err_set(err, ST_ENOMEM, "%s: out of memory for %llu chunk metas", idx->name,
                          (unsigned long long)nc);
    int64_t maxt = 0;
    uint64_t cref = 0;
    for (uint64_t i = 0; i < nc; i++) {
        codec_chunk_meta *c = &sb->chunks[i];
        at = codec_dec_offset(&d);
        int bad;
        if (i == 0) {
            c->mint = codec_dec_varint(&d);
            bad = add_time(c->mint, codec_dec_uvarint(&d), &c->maxt);
            cref = codec_dec_uvarint(&d);
        } else {
            bad = add_time(maxt, codec_dec_uvarint(&d), &c->mint);
            bad |= add_time(c->mint, codec_dec_uvarint(&d), &c->maxt);
            cref += (uint64_t)codec_dec_varint(&d);
        }
        if (d.err || bad)
            return ST_CORRUPT(err, idx->name, at, "series ref %llu: chunk meta %llu %s",
                              (unsigned long long)ref, (unsigned long long)i,
                              d.err ? "runs past the entry" : "overflows int64 time");
        c->ref = cref;
        maxt = c->maxt;
    }
    if (codec_dec_left(&d) != 0)
        return ST_CORRUPT(err, idx->name, codec_dec_offset(&d),
                          "series ref %llu: %zu stray "
                          "bytes after the chunk metas",
                          (unsigned long long)ref, codec_dec_left(&d));

    s->ref = ref;
    s->nlabels = (uint32_t)nl;
    s->labels = sb->labels;
    s->symrefs = v2 ? sb->symrefs : NULL;
    s->nchunks = (uint32_t)nc;
    s->chunks = sb->chunks;
    return 0;
}

/* Index of the entry for name=value in the postings offset table, or -1. */
static long find_entry(const codec_index *idx, codec_str name, codec_str value)
{
    size_t lo = 0, hi = idx->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = codec_str_cmp(idx->names[mid], name);
        if (c == 0) {
            size_t vlo = idx->first[mid], vhi = idx->first[mid + 1];
            while (vlo < vhi) {
                size_t v = vlo + (vhi - vlo) / 2;
                int cv = codec_str_cmp(idx->vals[v], value);
                if (cv == 0)
                    return (long)v;
                if (cv < 0)
                    vlo = v + 1;
                else
                    vhi = v;
            }
            return -1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int codec_index_postings(const codec_index *idx, codec_str name, codec_str value,
                         codec_postings *out, st_err *err)
{
    out->p = NULL;
    out->n = 0;
    long e = find_entry(idx, name, value);
    if (e < 0)
        return 0;
    uint64_t off = idx->offs[e];
    const uint8_t *body;
    uint32_t blen;
    int rc = read_section(idx, off, "postings list", &body, &blen, err);
    if (rc)
        return rc;
    uint32_t n = blen >= 4 ? codec_get_be32(body) : 0;
    if (blen < 4 || (uint64_t)blen != 4 + 4 * (uint64_t)n)
        return ST_CORRUPT(err, idx->name, off, "postings list of %u bytes for %u series", blen, n);
    const uint8_t *refs = body + 4;
    for (uint32_t i = 1; i < n; i++)
        if (codec_get_be32(refs + 4 * (size_t)i) <= codec_get_be32(refs + 4 * (size_t)(i - 1)))
            return ST_CORRUPT(err, idx->name, off_of(idx, refs + 4 * (size_t)i),
                              "postings list not strictly ascending at entry %u", i);
    out->p = refs;
    out->n = n;
    return 0;
}

int codec_index_label_names(const codec_index *idx, const codec_str **names, size_t *n, st_err *err)
{
    (void)err;
    if (idx->nnames == 0) {
        *names = NULL;
        *n = 0;
        return 0;
    }
    size_t skip = idx->names[0].len == 0; /* the all-postings key */
    *names = idx->names + skip;
    *n = idx->nnames - skip;
    return 0;
}

int codec_index_label_values(const codec_index *idx, codec_str name, const codec_str **values,
                             size_t *n, st_err *err)
{
    (void)err;
    *values = NULL;
    *n = 0;
    size_t lo = 0, hi = idx->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = codec_str_cmp(idx->names[mid], name);
        if (c == 0) {
            *values = idx->vals + idx->first[mid];
            *n = idx->first[mid + 1] - idx->first[mid];
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int codec_series_iter_create(codec_series_iter **out, const codec_index *idx, st_err *err)
{
    *out = NULL;
    codec_str empty = {"", 0};
    if (find_entry(idx, empty, empty) < 0)
        return ST_CORRUPT(err, idx->name, idx->toc[TOC_PO],
                          "no all-postings list in the "
                          "postings offset table");
    codec_series_iter *it = st_calloc(1, sizeof(*it));
    if (!it)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory for a series iterator", idx->name);
    int rc = codec_index_postings(idx, empty, empty, &it->all, err);
    if (rc) {
        st_free(it);
        return rc;
    }
    it->idx = idx;
    st_err_init(&it->rc_err);
    codec_series_buf_init(&it->sb[0]);
    codec_series_buf_init(&it->sb[1]);
    it->cur = -1;
    *out = it;
    return 0;
}

/* Series must come in strictly ascending label order: the k-way merge depends on it. */
int codec_series_iter_next(codec_series_iter *it, st_err *err)
{
    if (it->rc)
        return st_err_copy(err, &it->rc_err);
    if (it->next >= it->all.n)
        return ST_ITEROVER;
    int nxt = it->cur == 0 ? 1 : 0;
    uint32_t ref = codec_postings_at(&it->all, it->next);
    int rc = codec_index_series(it->idx, ref, &it->sb[nxt], &it->s[nxt], err);
    if (!rc && it->cur >= 0) {
        const codec_series *a = &it->s[it->cur], *b = &it->s[nxt];
        if (codec_labels_cmp(a->labels, a->nlabels, b->labels, b->nlabels) >= 0)
            rc = ST_CORRUPT(err, it->idx->name,
                            it->idx->version == 2 ? (uint64_t)ref * 16 : (uint64_t)ref,
                            "series ref %u does not sort after series ref %llu", ref,
                            (unsigned long long)a->ref);
    }
    if (rc) {
        it->rc = rc;
        if (err)
            it->rc_err = *err;
        else
            st_err_set(&it->rc_err, rc, "%s: series iteration failed", it->idx->name);
        return rc;
    }
    it->cur = nxt;
    it->next++;
    return 0;
}

const codec_series *codec_series_iter_at(const codec_series_iter *it)
{
    return it->cur >= 0 ? &it->s[it->cur] : NULL;
}

void codec_series_iter_free(codec_series_iter *it)
{
    if (!it)
        return;
    codec_series_buf_release(&it->sb[0]);
    codec_series_buf_release(&it->sb[1]);
    st_free(it);
}
