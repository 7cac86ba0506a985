/*
 * objstore.h - the one public header of strata's object-store module: one interface, two
 * backends (a local directory, and S3 or S3-compatible stores), opened from Thanos' objstore
 * YAML (`type: FILESYSTEM | S3`, `config: {...}`) or from `--bucket=DIR`.
 *
 * Keys are '/'-separated object names without a leading '/'. A handle is thread-safe: the
 * planner fetches metas from many threads through one handle. Errors are classed as Thanos
 * classes them: ST_ETRANSIENT may succeed if retried (the S3 backend has already retried within
 * its deadline), ST_ENOTFOUND is expected and handled by callers, ST_ECONFLICT (a conditional
 * write lost to another writer) is expected by the callers that ask for one, everything else is
 * fatal for that operation. Every error message names the store, the key and what failed; secrets
 * never appear in messages or logs.
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
    OBJSTORE_CLASS_CONFLICT, /* a conditional write's precondition did not hold */
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

/* ---- conditional writes -------------------------------------------------------------------- */
/* An ETag names one version of an object; callers only compare it and hand it back. S3: the
 * server's, quotes included. FILESYSTEM: the quoted hex SHA-256 of the content (a content hash,
 * not size + mtime + inode: those can repeat when a file is replaced within the clock's tick and
 * its inode number is reused; equal content under one key is the same version anyway). */
#define OBJSTORE_ETAG_MAX 256

/* The whole object (appended to out, at most max bytes; 0: no limit) and the ETag of that very
 * version, from one read. ST_ENOTFOUND if missing. */
int objstore_get_etag(objstore *s, const char *key, st_buf *out, size_t max,
                      char etag[OBJSTORE_ETAG_MAX], st_err *err);

typedef enum {
    OBJSTORE_IF_ABSENT = 1, /* the key must not exist (S3 `If-None-Match: *`) */
    OBJSTORE_IF_MATCH,      /* the key's current ETag must be `etag` (S3 `If-Match`) */
} objstore_cond_kind;

typedef struct objstore_cond {
    objstore_cond_kind kind;
    const char *etag; /* OBJSTORE_IF_MATCH: from objstore_get_etag or objstore_put_if */
} objstore_cond;

/* Put an object only if cond holds, checked and written as one step by the store: of several
 * writers with the same condition at most one succeeds. A failed condition is ST_ECONFLICT
 * (S3: 412 PreconditionFailed, 409 ConditionalRequestConflict for a racing conditional write,
 * or 404 for OBJSTORE_IF_MATCH on a missing key), and nothing is written. A store that refuses
 * conditional writes answers ST_EUNSUPP, after which objstore_supports_conditional says 0.
 * etag (may be NULL) receives the new version's ETag ("" if the store sent none). One request,
 * never multipart: at most 5 GiB on S3. A conflict after a retried request may mean that an
 * earlier attempt was written: callers that must know read the object back. */
int objstore_put_if(objstore *s, const char *key, const void *p, size_t len,
                    const objstore_cond *cond, char etag[OBJSTORE_ETAG_MAX], st_err *err);
/* 1 if objstore_put_if is worth trying. FILESYSTEM: always (link() for OBJSTORE_IF_ABSENT, a
 * directory lock around compare-and-rename for OBJSTORE_IF_MATCH; one machine, not NFS). S3:
 * until the server has refused a conditional write (Swift's s3api answers 501 NotImplemented). A
 * server that silently ignores the headers cannot be told from one that honours them: callers
 * that depend on exclusion read back what they wrote. */
int objstore_supports_conditional(const objstore *s);

#endif
