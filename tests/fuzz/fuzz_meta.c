/*
 * fuzz_meta.c - libFuzzer harness for meta.json: any bytes either fail to parse or parse to a
 * meta whose Go-style output is a fixed point (format, parse again, format again: same bytes).
 * Seed it with the testdata meta.json files.
 */
#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void format_or_die(const codec_meta *m, st_buf *b, int flags)
{
    st_err err;
    st_err_init(&err);
    if (codec_meta_format(m, b, flags, &err) != 0) {
        fprintf(stderr, "format failed: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_err err;
    st_err_init(&err);
    codec_meta *m = NULL;
    if (codec_meta_parse(&m, (const char *)data, size, "fuzz/meta.json", &err) != 0) {
        if (m || err.code == 0 || err.msg[0] == '\0')
            abort(); /* failure must leave *out NULL and say why */
        return 0;
    }
    int flags = size > 0 && (data[0] & 1) ? CODEC_META_NEWLINE : 0;
    st_buf a, b;
    st_buf_init(&a, 0);
    st_buf_init(&b, 0);
    format_or_die(m, &a, flags);

    codec_meta *m2 = NULL;
    st_err_init(&err);
    if (codec_meta_parse(&m2, (const char *)a.p, a.len, "fuzz/formatted", &err) != 0) {
        fprintf(stderr, "re-parse of our own output failed: %s\n%.*s\n", err.msg, (int)a.len,
                (const char *)a.p);
        abort();
    }
    format_or_die(m2, &b, flags);
    if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
        fprintf(stderr, "not a fixed point:\n%.*s\n---\n%.*s\n", (int)a.len, (const char *)a.p,
                (int)b.len, (const char *)b.p);
        abort();
    }
    codec_meta_free(m2);
    codec_meta_free(m);
    st_buf_release(&a);
    st_buf_release(&b);
    return 0;
}
