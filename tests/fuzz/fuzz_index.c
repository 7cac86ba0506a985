/*
 * fuzz_index.c - libFuzzer harness for the index reader. Each input is read twice: as it is, and
 * with every CRC the reader would check recomputed first (TOC, symbol table, postings offset
 * table, series entries and postings lists found by walking the sections), so mutations get past
 * the checksums into the parsers behind them. Both runs open the index, iterate every series,
 * read every symbol, every label's values, every postings list and every series it names.
 */
#include "codec/codec.h"

#include <stdlib.h>
#include <string.h>

static void exercise(const uint8_t *p, size_t len)
{
    st_err err;
    st_err_init(&err);
    codec_index *idx;
    if (codec_index_open_mem(&idx, p, len, "fuzz", &err))
        return;
    codec_series_iter *it;
    if (codec_series_iter_create(&it, idx, &err) == 0) {
        while (codec_series_iter_next(it, &err) == 0) {
            const codec_series *s = codec_series_iter_at(it);
            for (uint32_t i = 0; i < s->nlabels; i++)
                if (s->labels[i].name.len && !s->labels[i].name.p)
                    abort();
        }
        codec_series_iter_free(it);
    }
    for (uint32_t i = 0; i < codec_index_nsymbols(idx); i++) {
        codec_str s;
        if (codec_index_symbol(idx, i, &s, &err) && codec_index_version(idx) == 2)
            abort(); /* in v2 every position below nsymbols is a ref */
    }
    codec_series_buf sb;
    codec_series_buf_init(&sb);
    const codec_str *names;
    size_t nn;
    codec_index_label_names(idx, &names, &nn, &err);
    for (size_t i = 0; i < nn; i++) {
        const codec_str *vals;
        size_t nv;
        codec_index_label_values(idx, names[i], &vals, &nv, &err);
        for (size_t v = 0; v < nv; v++) {
            codec_postings pl;
            if (codec_index_postings(idx, names[i], vals[v], &pl, &err))
                continue;
            for (uint32_t k = 0; k < pl.n; k++) {
                codec_series s;
                st_err e2;
                st_err_init(&e2);
                codec_index_series(idx, codec_postings_at(&pl, k), &sb, &s, &e2);
            }
        }
    }
    /* Arbitrary refs too, taken from the input itself. */
    for (size_t i = 0; i + 4 <= len && i < 64; i += 4) {
        codec_series s;
        st_err e2;
        st_err_init(&e2);
        codec_index_series(idx, codec_get_be32(p + i) & 0xffff, &sb, &s, &e2);
    }
    codec_series_buf_release(&sb);
    codec_index_free(idx);
}

/* Recompute the CRC of a BE32-length section at off, if it fits before end. */
static void fix_section(uint8_t *p, uint64_t off, uint64_t end)
{
    if (off < 5 || off > end || end - off < 8)
        return;
    uint32_t n = codec_get_be32(p + off);
    if (n > end - off - 8)
        return;
    codec_put_be32(p + off + 4 + n, codec_crc32c(0, p + off + 4, n));
}

static void fix_crcs(uint8_t *p, size_t len)
{
    if (len < 5 + CODEC_INDEX_TOC_SIZE)
        return;
    uint64_t end = len - CODEC_INDEX_TOC_SIZE;
    uint8_t *toc = p + end;
    codec_put_be32(toc + 48, codec_crc32c(0, toc, 48));
    uint64_t symbols = codec_get_be64(toc), series = codec_get_be64(toc + 8);
    uint64_t label_indices = codec_get_be64(toc + 16), postings = codec_get_be64(toc + 32);
    uint64_t lot = codec_get_be64(toc + 24), pot = codec_get_be64(toc + 40);
    fix_section(p, symbols, end);
    fix_section(p, pot, end);

    /* Series entries: 16-byte aligned, uvarint length, body, CRC. */
    if (series >= 5 && label_indices <= end && series < label_indices) {
        uint64_t off = (series + 15) / 16 * 16;
        while (off < label_indices) {
            codec_decbuf d;
            codec_decbuf_init(&d, p, p + off, (size_t)(label_indices - off));
            uint64_t n = codec_dec_uvarint(&d);
            if (d.err || n > codec_dec_left(&d) || codec_dec_left(&d) - n < 4)
                break;
            uint8_t *body = (uint8_t *)d.p;
            codec_put_be32(body + n, codec_crc32c(0, body, (size_t)n));
            off = (uint64_t)(body + n + 4 - p);
            off = (off + 15) / 16 * 16;
        }
    }
    /* Postings lists: 4-byte aligned sections up to the label offset table. */
    if (postings >= 5 && lot <= end && postings < lot) {
        uint64_t off = (postings + 3) / 4 * 4;
        while (off + 8 <= lot) {
            uint32_t n = codec_get_be32(p + off);
            if (n > lot - off - 8)
                break;
            fix_section(p, off, end);
            off = (off + 8 + n + 3) / 4 * 4;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size copies so reads past the end are caught. */
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    exercise(p, size);
    fix_crcs(p, size);
    exercise(p, size);
    free(p);
    return 0;
}
