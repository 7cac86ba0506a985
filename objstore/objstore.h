/*
 * objstore.h - the one public header of strata's object-store module: one interface, two
 * backends (a local directory, and S3 or S3-compatible stores), opened from Thanos' objstore
 * YAML (`type: FILESYSTEM | S3`, `config: {...}`) or from `--bucket=DIR`.
 *
 * Keys are '/'-separated object names without a leading '/'. A handle is thread-safe: the
 * planner fetches metas from many threads through one handle. Errors are classed as Thanos
 * classes them: ST_ETRANSIENT may succeed if retried (the S3 backend has already retried within
 * its deadline), ST_ENOTFOUND is expected and handled by callers, everything else is fatal for
 * that operation. Every error message names the store, the key and what failed; secrets never
 * appear in messages or logs.
 */
#ifndef STRATA_OBJSTORE_H
#define STRATA_OBJSTORE_H

#include "common/common.h"

#include <stdint.h>

typedef struct objstore objstore;

typedef enum {
    OBJSTORE_CLASS_OK = 0,
    OBJSTORE_CLASS_RETRY,    /* 5xx, 429/SlowDown, timeouts, resets */
    OBJSTORE_CLASS_NOTFOUND, /* the key (or bucket) does not exist */
    OBJSTORE_CLASS_FATAL,    /* auth, bad request, corrupt response, local I/O */
} objstore_class;

objstore_class objstore_err_class(int code);

/* ---- opening ------------------------------------------------------------------------------- */
/* Open from the command-line trio, exactly one of which must be given: a YAML file
 * (--objstore.config-file), inline YAML (--objstore.config), or a directory (--bucket). Unknown
 * YAML keys are an error naming them. */
int objstore_open_flags(objstore **out, const char *config_file, const char *config_yaml,
                        const char *bucket_dir, st_err *err);
/* Open from YAML text; `name` (file name or "--objstore.config") is used in messages. */
int objstore_open_yaml(objstore **out, const char *yaml, size_t len, const char *name, st_err *err);
/* A filesystem store rooted at dir (created if missing). */
int objstore_open_fs(objstore **out, const char *dir, st_err *err);
void objstore_free(objstore *s);
/* A printable name: "file:///abs/dir" or "s3://bucket" (never credentials). */
const char *objstore_name(const objstore *s);

/* ---- reading ------------------------------------------------------------------------------- */
/* Calls fn for each entry under prefix ("" = the root; a non-empty prefix normally ends in '/').
 * recursive == 0: direct children, objects as their key and "directories" as a key ending in
 * '/'. recursive == 1: every object key below prefix. Entries come in ascending byte order;
 * listings are streamed page by page, never held whole. fn returns 0 to go on, non-zero to stop
 * (objstore_iter then returns that value). */
typedef int (*objstore_iter_fn)(void *ctx, const char *key, int is_prefix);
int objstore_iter(objstore *s, const char *prefix, int recursive, objstore_iter_fn fn, void *ctx,
                  st_err *err);

/* The whole object into out (appended). ST_ENOTFOUND if missing. max (0: no limit) caps the
 * size: a larger object fails with ST_ETOOBIG. */
int objstore_get(objstore *s, const char *key, st_buf *out, size_t max, st_err *err);
/* Bytes [off, off+len) into out (appended); a range past the end is clamped; reading fewer bytes
 * than the object holds in that range is an error, never a silent short read. */
int objstore_get_range(objstore *s, const char *key, uint64_t off, uint64_t len, st_buf *out,
                       st_err *err);
/* Download to a local file, written atomically (tmp + fsync + rename). */
int objstore_get_file(objstore *s, const char *key, const char *path, st_err *err);

typedef struct objstore_attrs {
    uint64_t size;
    int64_t last_modified_ms;
} objstore_attrs;
int objstore_attributes(objstore *s, const char *key, objstore_attrs *out, st_err *err);
/* *exists = 1 or 0; errors other than not-found are returned. */
int objstore_exists(objstore *s, const char *key, int *exists, st_err *err);

/* ---- writing ------------------------------------------------------------------------------- */
/* Put an object; readers see either the old object or the whole new one. */
int objstore_put(objstore *s, const char *key, const void *p, size_t len, st_err *err);
/* Put a local file (multipart above the configured part size on S3). */
int objstore_put_file(objstore *s, const char *key, const char *path, st_err *err);
/* Delete one object. A missing key is not an error (as S3). */
int objstore_delete(objstore *s, const char *key, st_err *err);

#endif
