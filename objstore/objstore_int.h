/*
 * objstore_int.h - internals of the object-store module: the backend table every store fills
 * in, and the constructors the config loader calls. Not included outside objstore/.
 */
#ifndef STRATA_OBJSTORE_INT_H
#define STRATA_OBJSTORE_INT_H

#include "objstore.h"

#include <yaml.h>

#define OBJSTORE_WHOLE UINT64_MAX

typedef struct objstore_ops {
    int (*iter)(objstore *s, const char *prefix, int recursive, objstore_iter_fn fn, void *ctx,
                st_err *err);
    /* len == OBJSTORE_WHOLE reads to the end; max (0: none) caps what is appended */
    int (*get_range)(objstore *s, const char *key, uint64_t off, uint64_t len, st_buf *out,
                     size_t max, st_err *err);
    int (*get_file)(objstore *s, const char *key, const char *path, st_err *err);
    int (*attributes)(objstore *s, const char *key, objstore_attrs *out, st_err *err);
    int (*put)(objstore *s, const char *key, const void *p, size_t len, st_err *err);
    int (*put_file)(objstore *s, const char *key, const char *path, st_err *err);
    int (*del)(objstore *s, const char *key, st_err *err);
    /* cond is checked (kind is one of objstore_cond_kind); etag may be NULL */
    int (*get_etag)(objstore *s, const char *key, st_buf *out, size_t max, char *etag, st_err *err);
    int (*put_if)(objstore *s, const char *key, const void *p, size_t len,
                  const objstore_cond *cond, char *etag, st_err *err);
    int (*supports_conditional)(const objstore *s);
    void (*free)(objstore *s);
} objstore_ops;

/* Every backend's handle starts with this. */
struct objstore {
    const objstore_ops *ops;
    char *name;
};

/* Keys: non-empty, no leading '/', no NUL, no "." or ".." segments, no empty segments (a
 * trailing '/' is allowed only when allow_dir). Returns 0 or ST_EINVAL with a message. */
int objstore_key_check(const objstore *s, const char *key, int allow_dir, st_err *err);

/* Backends. */
int objstore_fs_open(objstore **out, const char *dir, st_err *err);

/* YAML helpers over a loaded libyaml document (config.c). */
yaml_node_t *objstore_yaml_get(yaml_document_t *doc, yaml_node_t *map, const char *key);
/* Scalar text of a node, or NULL if it is not a scalar. */
const char *objstore_yaml_scalar(yaml_node_t *n);

#endif
