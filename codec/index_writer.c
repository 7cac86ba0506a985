/*
 * index_writer.c - streaming writer for a block's index file, format version 2, byte-identical to
 * Prometheus 2.42's tsdb/index Writer for the same symbols and series (format notes §8, §11).
 * Symbols are kept in memory as the encoded table, series entries go to the file as they come,
 * and postings are gathered per label pair as compact uint32 lists; close writes the legacy label
 * indices, the postings lists, the label offset table, the postings offset table and the TOC.
 */
#include "codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * What close writes after the last series, in file order (TOC pointers marked <-):
 *
 *   <- toc.label_indices (end of the last series entry, before any padding)
 *   per label name, ascending: pad to 4 | BE32 len | BE32 1 | BE32 n | n x BE32 value ref | CRC
 *   <- toc.postings (before the padding)
 *   pad to 4 | all-postings list ("", "") | one list per (name, value), ascending;
 *              list = BE32 len (4 + 4n) | BE32 n | n x BE32 series ref | BE32 CRC
 *   <- toc.label_offset_table
 *   BE32 len | BE32 #names | per name: uvarint 1, uvarint-string name, uvarint offset | CRC
 *   <- toc.postings_offset_table
 *   BE32 len | BE32 #lists | per list: uvarint 2, uvarint-string name, uvarint-string value,
 *                                      uvarint offset | CRC
 *   TOC: 6 x BE64 (symbols, series, label indices, label offset table, postings, postings
 *        offset table) | BE32 CRC32C of the 48 bytes
 *
 * Every section but the TOC is 4-byte aligned in size, so the per-list padding that Prometheus
 * asks for never writes a byte; we still ask for it where it does.
 */
#define HEADER_LEN    5
#define SERIES_ALIGN  16
#define SECTION_ALIGN 4
#define WBUF_SIZE     (1u << 20)
#define MAX_FILE_SIZE (16ull * UINT32_MAX) /* series refs are offset / 16 in a uint32 */

enum { TOC_SYMBOLS, TOC_SERIES, TOC_LABEL_INDICES, TOC_LABEL_OFFSETS, TOC_POSTINGS, TOC_PO, TOC_N };
enum { STAGE_SYMBOLS, STAGE_SERIES, STAGE_DONE };

/* One label pair's postings, as ordinals into all (the series' refs are mapped at close, so a
 * follower can write a leader's lists). Lists of up to two live inline (most pairs of
 * high-cardinality labels have one series). */
typedef struct pair {
    uint64_t key; /* name ref << 32 | value ref: symbol order is string order */
    uint32_t n;
    uint32_t cap; /* <= 2: inline */
    union {
        uint32_t *p;
        uint32_t inl[2];
    } u;
} pair;
_Static_assert(sizeof(pair) == 24, "pair stays compact");

typedef struct name_off {
    uint32_t name;
    uint64_t off;
} name_off;

/* The postings log, in blocks freed as build_postings reads them. Per series: its label count,
 * how many of its labels are not the previous series' label at the same place, then for each of
 * those its place, name ref and value ref. */
#define PLOG_WORDS 16384
typedef struct plog {
    struct plog *next;
    size_t n, cap;
    uint32_t d[];
} plog;

struct codec_index_writer {
    char *path;
    int fd;
    uint8_t *buf; /* output buffer */
    size_t blen;
    uint64_t pos; /* file offset of the next byte */
    int crc_on;   /* fold output into crc */
    uint32_t crc;
    int stage;
    int failed; /* sticky error code after a failed write */
    uint64_t toc[TOC_N];

    st_buf symtab;    /* the symbol table body after its count: uvarint-strings */
    uint32_t *symoff; /* start of symbol i's bytes in symtab */
    uint32_t *symlen;
    uint32_t nsyms;
    uint32_t symcap;

    uint32_t *prev; /* the last series as (name ref, value ref) pairs */
    uint32_t *cur;
    uint32_t *prevpair; /* the index in pairs of each of its labels (build_postings) */
    uint32_t *curpair;
    uint32_t nprev;
    uint32_t refcap;
    uint64_t last_chunk_ref;

    uint32_t *all; /* every series ref */
    size_t nall;
    size_t allcap;

    pair *pairs;
    size_t npairs;
    size_t paircap;
    uint32_t *slots; /* open addressing: pair index + 1, 0 = empty */
    size_t nslots;
    int pairs_sorted; /* by key, at close: no series may come after */

    plog *log_head; /* the series' labels not as before, for build_postings */
    plog *log_tail;

    codec_index_writer *leader; /* postings taken from it (codec_index_writer_follow) */
    unsigned followers;         /* writers following this one, and how many have closed */
    unsigned followers_closed;

    st_buf entry;        /* series entry body scratch */
    size_t entry_labels; /* bytes of its label part: its label count and symbol refs */
};

static int wfail(codec_index_writer *w, st_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A failed write leaves the file useless: every later call fails too. */
static int wfail(codec_index_writer *w, st_err *err, int code, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    w->failed = code;
    return st_err_set(err, code, "write index %s: %s", w->path, what);
}

static int flush(codec_index_writer *w, st_err *err)
{
    const uint8_t *p = w->buf;
    size_t left = w->blen;
    while (left > 0) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return wfail(w, err, ST_EIO, "%s", strerror(errno));
        }
        p += n;
        left -= (size_t)n;
    }
    w->blen = 0;
    return 0;
}

static int out(codec_index_writer *w, const void *p, size_t n, st_err *err)
{
    if (n == 0)
        return 0;
    if (n > MAX_FILE_SIZE - w->pos)
        return wfail(w, err, ST_ETOOBIG, "file would exceed 64 GiB");
    if (w->crc_on)
        w->crc = codec_crc32c(w->crc, p, n);
    w->pos += n;
    const uint8_t *c = p;
    while (n > 0) {
        if (w->blen == WBUF_SIZE) {
            int rc = flush(w, err);
            if (rc)
                return rc;
        }
        size_t k = ST_MIN(n, WBUF_SIZE - w->blen);
        memcpy(w->buf + w->blen, c, k);
        w->blen += k;
        c += k;
        n -= k;
    }
    return 0;
}

static int out_be32(codec_index_writer *w, uint32_t v, st_err *err)
{
    uint8_t b[4];
    codec_put_be32(b, v);
    return out(w, b, 4, err);
}

static int out_uvarint(codec_index_writer *w, uint64_t v, st_err *err)
{
    uint8_t b[CODEC_MAX_VARINT_LEN];
    return out(w, b, codec_put_uvarint(b, v), err);
}

static int out_str(codec_index_writer *w, const char *s, uint32_t len, st_err *err)
{
    int rc = out_uvarint(w, len, err);
    return rc ? rc : out(w, s, len, err);
}

static int pad(codec_index_writer *w, unsigned align, st_err *err)
{
    static const uint8_t zeros[SERIES_ALIGN];
    unsigned r = (unsigned)(w->pos % align);
    return r ? out(w, zeros, align - r, err) : 0;
}

/* Starts a CRC'd section body; end_section writes the CRC. */
static void begin_crc(codec_index_writer *w)
{
    w->crc_on = 1;
    w->crc = 0;
}

static int end_crc(codec_index_writer *w, st_err *err)
{
    w->crc_on = 0;
    return out_be32(w, w->crc, err);
}

static codec_str sym(const codec_index_writer *w, uint32_t ref)
{
    codec_str s = {(const char *)w->symtab.p + w->symoff[ref], w->symlen[ref]};
    return s;
}

static int sym_find(const codec_index_writer *w, codec_str s, uint32_t *ref)
{
    uint32_t lo = 0, hi = w->nsyms;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = codec_str_cmp(sym(w, mid), s);
        if (c == 0) {
            *ref = mid;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Resolve s, trying the ref the previous series had at this position first. */
static int sym_ref(const codec_index_writer *w, codec_str s, uint32_t hint, int has_hint,
                   uint32_t *ref)
{
    if (has_hint && codec_str_cmp(sym(w, hint), s) == 0) {
        *ref = hint;
        return 0;
    }
    return sym_find(w, s, ref);
}

void codec_index_writer_free(codec_index_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (size_t i = 0; i < w->npairs; i++)
        if (w->pairs[i].cap > 2)
            st_free(w->pairs[i].u.p);
    st_free(w->pairs);
    st_free(w->slots);
    while (w->log_head) {
        plog *n = w->log_head->next;
        st_free(w->log_head);
        w->log_head = n;
    }
    st_free(w->all);
    st_free(w->prev);
    st_free(w->cur);
    st_free(w->prevpair);
    st_free(w->curpair);
    st_free(w->symoff);
    st_free(w->symlen);
    st_buf_release(&w->symtab);
    st_buf_release(&w->entry);
    st_free(w->buf);
    st_free(w->path);
    st_free(w);
}

int codec_index_writer_create(codec_index_writer **out_w, const char *path, st_err *err)
{
    *out_w = NULL;
    codec_index_writer *w = st_calloc(1, sizeof(*w));
    if (!w)
        return st_err_set(err, ST_ENOMEM, "write index %s: out of memory", path);
    w->fd = -1;
    st_buf_init(&w->symtab, UINT32_MAX - 4); /* the table's BE32 length covers the count too */
    st_buf_init(&w->entry, 0);
    if (!(w->path = st_strdup(path)) || !(w->buf = st_malloc(WBUF_SIZE))) {
        codec_index_writer_free(w);
        return st_err_set(err, ST_ENOMEM, "write index %s: out of memory", path);
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        int rc = st_err_set(err, ST_EIO, "create index %s: %s", path, strerror(errno));
        codec_index_writer_free(w);
        return rc;
    }
    uint8_t hdr[HEADER_LEN];
    codec_put_be32(hdr, CODEC_INDEX_MAGIC);
    hdr[4] = 2;
    int rc = out(w, hdr, sizeof(hdr), err);
    if (rc) {
        codec_index_writer_free(w);
        return rc;
    }
    w->toc[TOC_SYMBOLS] = w->pos;
    w->stage = STAGE_SYMBOLS;
    *out_w = w;
    return 0;
}

static int check_usable(codec_index_writer *w, st_err *err)
{
    if (w->failed)
        return st_err_set(err, w->failed, "write index %s: an earlier write failed", w->path);
    if (w->stage == STAGE_DONE)
        return st_err_set(err, ST_EINVAL, "write index %s: already closed", w->path);
    return 0;
}

int codec_index_writer_add_symbol(codec_index_writer *w, codec_str s, st_err *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (w->stage != STAGE_SYMBOLS)
        return st_err_set(err, ST_EINVAL, "write index %s: symbol \"%.*s\" added after series",
                          w->path, (int)ST_MIN(s.len, 100), s.p);
    if (w->nsyms > 0 && codec_str_cmp(sym(w, w->nsyms - 1), s) >= 0)
        return st_err_set(err, ST_EINVAL,
                          "write index %s: symbol \"%.*s\" out of order (after "
                          "\"%.*s\")",
                          w->path, (int)ST_MIN(s.len, 100), s.p,
                          (int)ST_MIN(sym(w, w->nsyms - 1).len, 100), sym(w, w->nsyms - 1).p);
    if (w->nsyms == UINT32_MAX)
        return st_err_set(err, ST_ETOOBIG, "write index %s: too many symbols", w->path);
    if (w->nsyms == w->symcap) {
        uint32_t ncap =
            w->symcap ? (w->symcap > UINT32_MAX / 2 ? UINT32_MAX : 2 * w->symcap) : 1024;
        uint32_t *no = st_reallocarray(w->symoff, ncap, sizeof(*no));
        if (no)
            w->symoff = no;
        uint32_t *nl = no ? st_reallocarray(w->symlen, ncap, sizeof(*nl)) : NULL;
        if (!nl)
            return st_err_set(err, ST_ENOMEM, "write index %s: out of memory for symbols", w->path);
        w->symlen = nl;
        w->symcap = ncap;
    }
    uint8_t v[CODEC_MAX_VARINT_LEN];
    size_t vl = codec_put_uvarint(v, s.len);
    size_t before = w->symtab.len;
    if ((rc = st_buf_append(&w->symtab, v, vl)) || (rc = st_buf_append(&w->symtab, s.p, s.len))) {
        w->symtab.len = before;
        return st_err_set(err, rc, "write index %s: %s", w->path,
                          rc == ST_ETOOBIG ? "symbol table exceeds 4 GiB" : "out of memory");
    }
    w->symoff[w->nsyms] = (uint32_t)(before + vl);
    w->symlen[w->nsyms] = s.len;
    w->nsyms++;
    return 0;
}

/* Symbol table: BE32 len | BE32 count | uvarint-strings | BE32 CRC32C(count + strings). */
static int finish_symbols(codec_index_writer *w, st_err *err)
{
    int rc = out_be32(w, (uint32_t)(4 + w->symtab.len), err);
    begin_crc(w);
    if (!rc)
        rc = out_be32(w, w->nsyms, err);
    if (!rc)
        rc = out(w, w->symtab.p, w->symtab.len, err);
    if (!rc)
        rc = end_crc(w, err);
    w->toc[TOC_SERIES] = w->pos;
    w->stage = STAGE_SERIES;
    return rc;
}

static uint32_t *pair_refs(pair *p)
{
    return p->cap <= 2 ? p->u.inl : p->u.p;
}

static size_t slot_of(uint64_t key, size_t nslots)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (nslots - 1);
}

static int rehash(codec_index_writer *w)
{
    size_t n = w->nslots ? 2 * w->nslots : 4096;
    uint32_t *s = st_calloc(n, sizeof(*s));
    if (!s)
        return ST_ENOMEM;
    for (size_t i = 0; i < w->npairs; i++) {
        size_t h = slot_of(w->pairs[i].key, n);
        while (s[h])
            h = (h + 1) & (n - 1);
        s[h] = (uint32_t)(i + 1);
    }
    st_free(w->slots);
    w->slots = s;
    w->nslots = n;
    return 0;
}

/* The index in pairs of the pair key, added if new. */
static int pair_find(codec_index_writer *w, uint64_t key, uint32_t *idx)
{
    if (2 * (w->npairs + 1) > w->nslots && rehash(w))
        return ST_ENOMEM;
    size_t h = slot_of(key, w->nslots);
    while (w->slots[h] && w->pairs[w->slots[h] - 1].key != key)
        h = (h + 1) & (w->nslots - 1);
    if (!w->slots[h]) {
        if (w->npairs >= UINT32_MAX - 1)
            return ST_ETOOBIG;
        if (w->npairs == w->paircap) {
            size_t ncap = w->paircap ? 2 * w->paircap : 4096;
            pair *np = st_reallocarray(w->pairs, ncap, sizeof(*np));
            if (!np)
                return ST_ENOMEM;
            w->pairs = np;
            w->paircap = ncap;
        }
        pair *p = &w->pairs[w->npairs];
        p->key = key;
        p->n = 0;
        p->cap = 2;
        w->slots[h] = (uint32_t)++w->npairs;
    }
    *idx = w->slots[h] - 1;
    return 0;
}

/* Whether label i of the series being added is the previous series' label i (its pair is
 * known then). */
static int pair_as_before(const codec_index_writer *w, uint32_t i)
{
    return i < w->nprev && w->cur[2 * i] == w->prev[2 * i] &&
           w->cur[2 * i + 1] == w->prev[2 * i + 1];
}

/* Room for n more words at the log's tail: a new block (larger if need be) when it is full. */
static int log_room(codec_index_writer *w, size_t n)
{
    if (w->log_tail && w->log_tail->cap - w->log_tail->n >= n)
        return 0;
    size_t cap = n > PLOG_WORDS ? n : PLOG_WORDS;
    plog *b = st_malloc(sizeof(*b) + cap * sizeof(uint32_t));
    if (!b)
        return ST_ENOMEM;
    b->next = NULL;
    b->n = 0;
    b->cap = cap;
    if (w->log_tail)
        w->log_tail->next = b;
    else
        w->log_head = b;
    w->log_tail = b;
    return 0;
}

/* w->cur's series into the log: its labels that are not the previous series' (pair_as_before).
 * Its postings are built at close (build_postings): looking pairs up here, in a table the
 * caller's own work keeps evicting, cost a cache miss or three a series. */
static int log_series(codec_index_writer *w, uint32_t nl)
{
    if (log_room(w, 2 + 3 * (size_t)nl))
        return ST_ENOMEM;
    uint32_t *d = w->log_tail->d + w->log_tail->n, nc = 0;
    d[0] = nl;
    for (uint32_t i = 0; i < nl; i++) {
        if (pair_as_before(w, i))
            continue;
        d[2 + 3 * nc] = i;
        d[3 + 3 * nc] = w->cur[2 * i];
        d[4 + 3 * nc] = w->cur[2 * i + 1];
        nc++;
    }
    d[1] = nc;
    w->log_tail->n += 2 + 3 * (size_t)nc;
    return 0;
}

/* Series ref onto the postings of pair idx. */
static int pair_push(codec_index_writer *w, uint32_t idx, uint32_t ref)
{
    pair *p = &w->pairs[idx];
    if (p->n == p->cap) {
        uint32_t ncap = p->cap <= 2 ? 8 : p->cap * 2;
        uint32_t *np = p->cap <= 2 ? st_reallocarray(NULL, ncap, sizeof(*np))
                                   : st_reallocarray(p->u.p, ncap, sizeof(*np));
        if (!np)
            return ST_ENOMEM;
        if (p->cap <= 2)
            memcpy(np, p->u.inl, sizeof(p->u.inl));
        p->u.p = np;
        p->cap = ncap;
    }
    pair_refs(p)[p->n++] = ref;
    return 0;
}

/* The postings of every series logged (log_series), in order: series k is ordinal k. The log's
 * blocks are freed as they are read. */
static int build_postings(codec_index_writer *w)
{
    uint32_t ord = 0, nprev = 0;
    int rc = 0;
    while (w->log_head) {
        plog *b = w->log_head;
        for (size_t at = 0; at < b->n && !rc;) {
            const uint32_t *d = b->d + at;
            uint32_t nl = d[0], nc = d[1];
            for (uint32_t i = 0; i < nl; i++)
                w->curpair[i] = i < nprev ? w->prevpair[i] : UINT32_MAX;
            for (uint32_t c = 0; c < nc && !rc; c++) {
                const uint32_t *x = d + 2 + 3 * c;
                rc = pair_find(w, (uint64_t)x[1] << 32 | x[2], &w->curpair[x[0]]);
            }
            for (uint32_t i = 0; i < nl && !rc; i++)
                rc = pair_push(w, w->curpair[i], ord);
            uint32_t *t = w->prevpair;
            w->prevpair = w->curpair;
            w->curpair = t;
            nprev = nl;
            ord++;
            at += 2 + 3 * (size_t)nc;
        }
        if (rc)
            return rc;
        w->log_head = b->next;
        st_free(b);
    }
    w->log_tail = NULL;
    return 0;
}

/* {a="b", c="d"} for messages, cut to fit. */
static void fmt_labels(char *buf, size_t size, const codec_label *l, uint32_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < n && used + 1 < size; i++) {
        int k = snprintf(buf + used, size - used, "%s%.*s=\"%.*s\"", i ? ", " : "{",
                         (int)ST_MIN(l[i].name.len, 64), l[i].name.p,
                         (int)ST_MIN(l[i].value.len, 64), l[i].value.p);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (used + 1 < size)
        snprintf(buf + used, size - used, "}");
}

static int check_chunks(const codec_index_writer *w, const codec_chunk_meta *chunks, uint32_t nc,
                        st_err *err);

/* Resolves and checks a series' labels into w->cur; nothing is written. */
static int check_series(codec_index_writer *w, const codec_label *labels, uint32_t nl,
                        const uint32_t *refs, const codec_chunk_meta *chunks, uint32_t nc,
                        st_err *err)
{
    if (nl == 0)
        return st_err_set(err, ST_EINVAL, "write index %s: series without labels", w->path);
    if (nl > w->refcap) {
        uint32_t *a = st_reallocarray(w->cur, 2 * (size_t)nl, sizeof(*a));
        if (a)
            w->cur = a;
        uint32_t *b = a ? st_reallocarray(w->prev, 2 * (size_t)nl, sizeof(*b)) : NULL;
        if (b)
            w->prev = b;
        uint32_t *c = b ? st_reallocarray(w->curpair, nl, sizeof(*c)) : NULL;
        if (c)
            w->curpair = c;
        uint32_t *d = c ? st_reallocarray(w->prevpair, nl, sizeof(*d)) : NULL;
        if (!d)
            return st_err_set(err, ST_ENOMEM, "write index %s: out of memory", w->path);
        w->prevpair = d;
        w->refcap = nl;
    }
    for (uint32_t i = 0; i < nl; i++) {
        const codec_label *l = &labels[i];
        if (l->name.len == 0)
            return st_err_set(err, ST_EINVAL, "write index %s: series has an empty label name",
                              w->path);
        /* symbol refs sort like the strings */
        if (i > 0 && (refs ? refs[2 * i - 2] >= refs[2 * i]
                           : codec_str_cmp(labels[i - 1].name, l->name) >= 0))
            return st_err_set(err, ST_EINVAL,
                              "write index %s: label \"%.*s\" not sorted by name "
                              "or duplicated",
                              w->path, (int)ST_MIN(l->name.len, 100), l->name.p);
        if (refs) {
            if (refs[2 * i] >= w->nsyms || refs[2 * i + 1] >= w->nsyms)
                return st_err_set(err, ST_EINVAL, "write index %s: symbol ref out of range",
                                  w->path);
            w->cur[2 * i] = refs[2 * i];
            w->cur[2 * i + 1] = refs[2 * i + 1];
            continue;
        }
        int hint = i < w->nprev;
        const char *missing = NULL;
        codec_str m = l->name;
        if (sym_ref(w, l->name, hint ? w->prev[2 * i] : 0, hint, &w->cur[2 * i]))
            missing = "name";
        else if (sym_ref(w, l->value, hint ? w->prev[2 * i + 1] : 0, hint, &w->cur[2 * i + 1]))
            missing = "value", m = l->value;
        if (missing)
            return st_err_set(err, ST_EINVAL, "write index %s: label %s \"%.*s\" is not a symbol",
                              w->path, missing, (int)ST_MIN(m.len, 100), m.p);
    }
    if (w->nall > 0) {
        /* Symbol refs sort like the strings, so refs compare like codec_labels_cmp. */
        int c = 0;
        uint32_t n = 2 * ST_MIN(nl, w->nprev);
        for (uint32_t i = 0; i < n && !c; i++)
            c = w->cur[i] < w->prev[i] ? -1 : w->cur[i] > w->prev[i];
        if (!c)
            c = nl < w->nprev ? -1 : nl > w->nprev;
        if (c <= 0) {
            char desc[200];
            fmt_labels(desc, sizeof(desc), labels, nl);
            return st_err_set(err, ST_EINVAL, "write index %s: series %s %s the one before",
                              w->path, desc, c ? "sorts before" : "duplicates");
        }
    }
    return check_chunks(w, chunks, nc, err);
}

/* A series' chunk metas: each in order after the one before, refs ascending. */
static int check_chunks(const codec_index_writer *w, const codec_chunk_meta *chunks, uint32_t nc,
                        st_err *err)
{
    uint64_t last = w->last_chunk_ref;
    for (uint32_t i = 0; i < nc; i++) {
        const codec_chunk_meta *c = &chunks[i];
        const char *why = NULL;
        if (c->maxt < c->mint)
            why = "maxt below mint";
        else if (i > 0 && c->mint <= chunks[i - 1].maxt)
            why = "mint not above the previous chunk's maxt";
        else if (c->ref < last)
            why = "ref below the previous chunk's ref";
        if (why)
            return st_err_set(err, ST_EINVAL, "write index %s: chunk %u [%lld, %lld] ref %llu: %s",
                              w->path, i, (long long)c->mint, (long long)c->maxt,
                              (unsigned long long)c->ref, why);
        last = c->ref;
    }
    return 0;
}

/* Whether refs (nl labels) are the series w's leader took last, with as many series before it. */
static int leaders_last(const codec_index_writer *w, const uint32_t *refs, uint32_t nl)
{
    const codec_index_writer *l = w->leader;
    return l->nall == w->nall + 1 && l->nprev == nl &&
           memcmp(l->prev, refs, 2 * (size_t)nl * sizeof(*refs)) == 0;
}

/* A follower's series must be the one its leader took last. */
static int check_follows(const codec_index_writer *w, uint32_t nl, st_err *err)
{
    const codec_index_writer *l = w->leader;
    if (!leaders_last(w, w->cur, nl))
        return st_err_set(err, ST_EINVAL,
                          "write index %s: series %zu is not the one index %s took last", w->path,
                          w->nall + 1, l->path);
    return 0;
}

int codec_index_writer_follow(codec_index_writer *w, codec_index_writer *leader, st_err *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (leader == w || leader->leader || w->followers || w->leader || w->nall || leader->nall)
        return st_err_set(err, ST_EINVAL,
                          "write index %s: cannot follow %s (a leader follows none, and both "
                          "are before their first series)",
                          w->path, leader->path);
    w->leader = leader;
    leader->followers++;
    return 0;
}

int codec_index_writer_add_series(codec_index_writer *w, const codec_label *labels,
                                  uint32_t nlabels, const codec_chunk_meta *chunks,
                                  uint32_t nchunks, uint64_t *ref, st_err *err)
{
    return codec_index_writer_add_series_refs(w, labels, nlabels, NULL, chunks, nchunks, ref, err);
}

int codec_index_writer_add_series_refs(codec_index_writer *w, const codec_label *labels,
                                       uint32_t nlabels, const uint32_t *refs,
                                       const codec_chunk_meta *chunks, uint32_t nchunks,
                                       uint64_t *ref, st_err *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    /* A follower given the refs of its leader's last series: the leader has checked those
     * labels, and its entry starts with their bytes. */
    const codec_index_writer *l = w->leader;
    int same = l && refs && nlabels > 0 && nlabels <= w->refcap && l->nsyms == w->nsyms &&
               l->entry_labels > 0 && leaders_last(w, refs, nlabels);
    if (same) {
        if ((rc = check_chunks(w, chunks, nchunks, err)))
            return rc;
        memcpy(w->cur, refs, 2 * (size_t)nlabels * sizeof(*refs));
    } else if ((rc = check_series(w, labels, nlabels, refs, chunks, nchunks, err))) {
        return rc;
    }
    if (w->pairs_sorted)
        return st_err_set(err, ST_EINVAL, "write index %s: a series after its follower closed",
                          w->path);
    if (l && !same && (rc = check_follows(w, nlabels, err)))
        return rc;
    if (w->stage == STAGE_SYMBOLS && (rc = finish_symbols(w, err)))
        return rc;
    if ((rc = pad(w, SERIES_ALIGN, err)))
        return rc;
    if (w->pos / SERIES_ALIGN > UINT32_MAX)
        return wfail(w, err, ST_ETOOBIG, "series ref exceeds 32 bits");
    uint32_t sref = (uint32_t)(w->pos / SERIES_ALIGN);

    /* the entry into room for its longest form: no bounds check per varint */
    st_buf *b = &w->entry;
    st_buf_reset(b);
    size_t most = CODEC_MAX_VARINT_LEN * (2 + 2 * (size_t)nlabels + 3 * (size_t)nchunks);
    if ((rc = st_buf_reserve(b, most)))
        return wfail(w, err, rc, "out of memory for a series entry");
    uint8_t *e = b->p;
    if (same) {
        memcpy(e, l->entry.p, l->entry_labels);
        e += l->entry_labels;
    } else {
        e += codec_put_uvarint(e, nlabels);
        for (uint32_t i = 0; i < 2 * nlabels; i++)
            e += codec_put_uvarint(e, w->cur[i]);
    }
    w->entry_labels = (size_t)(e - b->p);
    e += codec_put_uvarint(e, nchunks);
    for (uint32_t i = 0; i < nchunks; i++) {
        const codec_chunk_meta *c = &chunks[i];
        if (i == 0) {
            e += codec_put_varint(e, c->mint);
            e += codec_put_uvarint(e, (uint64_t)c->maxt - (uint64_t)c->mint);
            e += codec_put_uvarint(e, c->ref);
        } else {
            const codec_chunk_meta *p = &chunks[i - 1];
            e += codec_put_uvarint(e, (uint64_t)c->mint - (uint64_t)p->maxt);
            e += codec_put_uvarint(e, (uint64_t)c->maxt - (uint64_t)c->mint);
            e += codec_put_varint(e, (int64_t)(c->ref - p->ref));
        }
    }
    b->len = (size_t)(e - b->p);
    if ((rc = out_uvarint(w, b->len, err)) || (rc = out(w, b->p, b->len, err)) ||
        (rc = out_be32(w, codec_crc32c(0, b->p, b->len), err)))
        return rc;

    if (w->nall == w->allcap) {
        size_t ncap = w->allcap ? 2 * w->allcap : 4096;
        uint32_t *na = st_reallocarray(w->all, ncap, sizeof(*na));
        if (!na)
            return wfail(w, err, ST_ENOMEM, "out of memory for postings");
        w->all = na;
        w->allcap = ncap;
    }
    w->all[w->nall++] = sref;
    /* A follower's series is its leader's last one (checked before anything was written). */
    if (!w->leader && (rc = log_series(w, nlabels)))
        return wfail(w, err, rc, "out of memory for postings");
    uint32_t *t = w->prev;
    w->prev = w->cur;
    w->cur = t;
    w->nprev = nlabels;
    if (nchunks > 0)
        w->last_chunk_ref = chunks[nchunks - 1].ref;
    if (ref)
        *ref = sref;
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    uint64_t x = ((const pair *)a)->key, y = ((const pair *)b)->key;
    return x < y ? -1 : x > y;
}

/* Writes one postings list, of series ordinals (map: all, their refs) or of refs (map NULL);
 * refs go through a stack buffer in batches. */
static int write_postings(codec_index_writer *w, const uint32_t *list, const uint32_t *map,
                          size_t n, st_err *err)
{
    if (n > (UINT32_MAX - 4) / 4)
        return wfail(w, err, ST_ETOOBIG, "postings list of %zu series exceeds 4 GiB", n);
    int rc = pad(w, SECTION_ALIGN, err);
    if (!rc)
        rc = out_be32(w, (uint32_t)(4 + 4 * n), err);
    begin_crc(w);
    if (!rc)
        rc = out_be32(w, (uint32_t)n, err);
    uint8_t tmp[4096];
    for (size_t i = 0; i < n && !rc;) {
        size_t k = ST_MIN(n - i, sizeof(tmp) / 4);
        for (size_t j = 0; j < k; j++)
            codec_put_be32(tmp + 4 * j, map ? map[list[i + j]] : list[i + j]);
        rc = out(w, tmp, 4 * k, err);
        i += k;
    }
    if (!rc)
        rc = end_crc(w, err);
    return rc;
}

static size_t po_entry_len(codec_str name, codec_str value, uint64_t off)
{
    return 1 + codec_uvarint_len(name.len) + name.len + codec_uvarint_len(value.len) + value.len +
           codec_uvarint_len(off);
}

/* Size of a postings list section with its length and CRC. */
static uint64_t postings_size(size_t n)
{
    return 4 + 4 + 4 * (uint64_t)n + 4;
}

static int write_tail(codec_index_writer *w, st_err *err)
{
    int rc = 0;
    name_off *names = NULL;
    size_t nnames = 0;

    /* a follower writes its leader's pairs (the same series in the same order: the same
     * ordinals) */
    codec_index_writer *src = w->leader ? w->leader : w;
    w->toc[TOC_LABEL_INDICES] = w->pos;
    if (!src->pairs_sorted && (rc = build_postings(src))) {
        src->failed = rc; /* its log is half read */
        return wfail(w, err, rc, "%s for postings",
                     rc == ST_ETOOBIG ? "too many label pairs" : "out of memory");
    }
    if (!src->pairs_sorted && src->npairs > 0)
        qsort(src->pairs, src->npairs, sizeof(*src->pairs), pair_cmp);
    src->pairs_sorted = 1;
    st_free(src->slots);
    src->slots = NULL;
    src->nslots = 0;
    pair *pairs = src->pairs;
    size_t npairs = src->npairs;
    for (size_t i = 0; i < npairs; i++)
        if (i == 0 || (pairs[i].key >> 32) != (pairs[i - 1].key >> 32))
            nnames++;
    names = st_reallocarray(NULL, nnames ? nnames : 1, sizeof(*names));
    if (!names)
        return wfail(w, err, ST_ENOMEM, "out of memory for label names");

    /* Legacy label indices: one per name, its values' symbol refs ascending. */
    for (size_t i = 0, k = 0; i < npairs && !rc; k++) {
        uint32_t name = (uint32_t)(pairs[i].key >> 32);
        size_t j = i;
        while (j < npairs && (uint32_t)(pairs[j].key >> 32) == name)
            j++;
        if (j - i > (UINT32_MAX - 8) / 4) {
            rc = wfail(w, err, ST_ETOOBIG, "label index exceeds 4 GiB");
            break;
        }
        rc = pad(w, SECTION_ALIGN, err);
        names[k].name = name;
        names[k].off = w->pos;
        if (!rc)
            rc = out_be32(w, (uint32_t)(8 + 4 * (j - i)), err);
        begin_crc(w);
        if (!rc)
            rc = out_be32(w, 1, err);
        if (!rc)
            rc = out_be32(w, (uint32_t)(j - i), err);
        for (size_t v = i; v < j && !rc; v++)
            rc = out_be32(w, (uint32_t)pairs[v].key, err);
        if (!rc)
            rc = end_crc(w, err);
        i = j;
    }
    if (rc)
        goto done;

    /* Postings: the all-postings list, then every pair in (name, value) order. */
    w->toc[TOC_POSTINGS] = w->pos;
    if ((rc = pad(w, SECTION_ALIGN, err)))
        goto done;
    uint64_t postings_start = w->pos;
    if ((rc = write_postings(w, w->all, NULL, w->nall, err)))
        goto done;
    for (size_t i = 0; i < npairs && !rc; i++)
        rc = write_postings(w, pair_refs(&pairs[i]), w->all, pairs[i].n, err);
    if (rc)
        goto done;

    /* Label offset table. */
    w->toc[TOC_LABEL_OFFSETS] = w->pos;
    uint64_t len = 4;
    for (size_t k = 0; k < nnames; k++)
        len += 1 + codec_uvarint_len(sym(w, names[k].name).len) + sym(w, names[k].name).len +
               codec_uvarint_len(names[k].off);
    if (len > UINT32_MAX) {
        rc = wfail(w, err, ST_ETOOBIG, "label offset table exceeds 4 GiB");
        goto done;
    }
    rc = out_be32(w, (uint32_t)len, err);
    begin_crc(w);
    if (!rc)
        rc = out_be32(w, (uint32_t)nnames, err);
    for (size_t k = 0; k < nnames && !rc; k++) {
        codec_str s = sym(w, names[k].name);
        rc = out_uvarint(w, 1, err);
        if (!rc)
            rc = out_str(w, s.p, s.len, err);
        if (!rc)
            rc = out_uvarint(w, names[k].off, err);
    }
    if (!rc)
        rc = end_crc(w, err);
    if (rc)
        goto done;

    /* Postings offset table; list offsets follow from the list sizes. */
    w->toc[TOC_PO] = w->pos;
    codec_str empty = {"", 0};
    len = 4 + po_entry_len(empty, empty, postings_start);
    uint64_t off = postings_start + postings_size(w->nall);
    for (size_t i = 0; i < npairs; i++) {
        len += po_entry_len(sym(w, (uint32_t)(pairs[i].key >> 32)), sym(w, (uint32_t)pairs[i].key),
                            off);
        off += postings_size(pairs[i].n);
    }
    if (len > UINT32_MAX) {
        rc = wfail(w, err, ST_ETOOBIG, "postings offset table exceeds 4 GiB");
        goto done;
    }
    rc = out_be32(w, (uint32_t)len, err);
    begin_crc(w);
    if (!rc)
        rc = out_be32(w, (uint32_t)(npairs + 1), err);
    if (!rc)
        rc = out_uvarint(w, 2, err);
    if (!rc)
        rc = out_str(w, "", 0, err);
    if (!rc)
        rc = out_str(w, "", 0, err);
    if (!rc)
        rc = out_uvarint(w, postings_start, err);
    off = postings_start + postings_size(w->nall);
    for (size_t i = 0; i < npairs && !rc; i++) {
        codec_str n = sym(w, (uint32_t)(pairs[i].key >> 32));
        codec_str v = sym(w, (uint32_t)pairs[i].key);
        rc = out_uvarint(w, 2, err);
        if (!rc)
            rc = out_str(w, n.p, n.len, err);
        if (!rc)
            rc = out_str(w, v.p, v.len, err);
        if (!rc)
            rc = out_uvarint(w, off, err);
        off += postings_size(pairs[i].n);
    }
    if (!rc)
        rc = end_crc(w, err);
    if (rc)
        goto done;

    /* TOC. */
    uint8_t toc[CODEC_INDEX_TOC_SIZE];
    for (int i = 0; i < TOC_N; i++)
        codec_put_be64(toc + 8 * i, w->toc[i]);
    codec_put_be32(toc + 48, codec_crc32c(0, toc, 48));
    rc = out(w, toc, sizeof(toc), err);
done:
    st_free(names);
    return rc;
}

int codec_index_writer_close(codec_index_writer *w, st_err *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (w->followers_closed < w->followers)
        return st_err_set(err, ST_EINVAL, "write index %s: closed before its followers", w->path);
    codec_index_writer *l = w->leader;
    if (l && (l->stage == STAGE_DONE || l->failed || l->nall != w->nall ||
              l->symtab.len != w->symtab.len ||
              (l->symtab.len && memcmp(l->symtab.p, w->symtab.p, l->symtab.len) != 0)))
        return st_err_set(err, ST_EINVAL, "write index %s: its leader %s %s", w->path, l->path,
                          l->stage == STAGE_DONE || l->failed ? "is closed or failed"
                          : l->nall != w->nall                ? "holds other series"
                                                              : "has other symbols");
    if (w->stage == STAGE_SYMBOLS && (rc = finish_symbols(w, err)))
        return rc;
    if ((rc = write_tail(w, err)) || (rc = flush(w, err)))
        return rc;
    if (fsync(w->fd) != 0)
        return wfail(w, err, ST_EIO, "fsync: %s", strerror(errno));
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0)
        return wfail(w, err, ST_EIO, "close: %s", strerror(errno));
    w->stage = STAGE_DONE;
    if (l)
        l->followers_closed++;
    return 0;
}
