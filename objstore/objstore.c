/*
 * objstore.c - the object-store interface: argument checks shared by every backend, error
 * classes, and the dispatch from the public calls to the backend table.
 */
#include "objstore_int.h"

#include <string.h>

objstore_class objstore_err_class(int code)
{
    switch (code) {
    case 0:
        return OBJSTORE_CLASS_OK;
    case ST_ETRANSIENT:
        return OBJSTORE_CLASS_RETRY;
    case ST_ENOTFOUND:
        return OBJSTORE_CLASS_NOTFOUND;
    case ST_ECONFLICT:
        return OBJSTORE_CLASS_CONFLICT;
    default:
        return OBJSTORE_CLASS_FATAL;
    }
}

int objstore_key_check(const objstore *s, const char *key, int allow_dir, st_err *err)
{
    size_t n = strlen(key);
    if (n == 0)
        return st_err_set(err, ST_EINVAL, "%s: empty object key", s->name);
    if (key[0] == '/')
        return st_err_set(err, ST_EINVAL, "%s: object key \"%s\" starts with '/'", s->name, key);
    if (key[n - 1] == '/' && !allow_dir)
        return st_err_set(err, ST_EINVAL, "%s: object key \"%s\" ends with '/'", s->name, key);
    const char *seg = key;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);
        if (sl == 0 && slash)
            return st_err_set(err, ST_EINVAL, "%s: object key \"%s\" has an empty segment", s->name,
                              key);
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return st_err_set(err, ST_EINVAL, "%s: object key \"%s\" has a '.' or '..' segment",
                              s->name, key);
        if (!slash)
            break;
        seg = slash + 1;
        if (*seg == '\0')
            break; /* trailing '/' (allowed above) */
    }
    return 0;
}

const char *objstore_name(const objstore *s)
{
    return s->name;
}

void objstore_free(objstore *s)
{
    if (s)
        s->ops->free(s);
}

int objstore_open_fs(objstore **out, const char *dir, st_err *err)
{
    return objstore_fs_open(out, dir, err);
}

int objstore_open_flags(objstore **out, const char *config_file, const char *config_yaml,
                        const char *bucket_dir, st_err *err)
{
    *out = NULL;
    int given = !!config_file + !!config_yaml + !!bucket_dir;
    if (given != 1)
        return st_err_set(err, ST_EINVAL,
                          given ? "give only one of --objstore.config-file, --objstore.config "
                                  "and --bucket"
                                : "no bucket: give --objstore.config-file, --objstore.config or "
                                  "--bucket");
    if (bucket_dir)
        return objstore_fs_open(out, bucket_dir, err);
    if (config_yaml)
        return objstore_open_yaml(out, config_yaml, strlen(config_yaml), "--objstore.config", err);
    char *text = NULL;
    size_t len = 0;
    int rc = st_read_file(config_file, &text, &len, 1 << 20, err);
    if (rc)
        return rc;
    rc = objstore_open_yaml(out, text, len, config_file, err);
    st_free(text);
    return rc;
}

int objstore_iter(objstore *s, const char *prefix, int recursive, objstore_iter_fn fn, void *ctx,
                  st_err *err)
{
    if (prefix[0] != '\0') {
        int rc = objstore_key_check(s, prefix, 1, err);
        if (rc)
            return rc;
    }
    return s->ops->iter(s, prefix, recursive, fn, ctx, err);
}

int objstore_get(objstore *s, const char *key, st_buf *out, size_t max, st_err *err)
{
    int rc = objstore_key_check(s, key, 0, err);
    return rc ? rc : s->ops->get_range(s, key, 0, OBJSTORE_WHOLE, out, max, err);
}

int objstore_get_range(objstore *s, const char *key, uint64_t off, uint64_t len, st_buf *out,
                       st_err *err)
{
    int rc = objstore_key_check(s, key, 0, err);
    if (rc)
        return rc;
    if (len == 0)
        return 0;
    return s->ops->get_range(s, key, off, len, out, 0, err);
}

int objstore_get_file(objstore *s, const char *key, const char *path, st_err *err)
{
    int rc = objstore_key_check(s, key, 0, err);
    return rc ? rc : s->ops->get_file(s, key, path, err);
}

int objstore_attributes(objstore *s, const char *key, objstore_attrs *out, st_err *err)
{
    int rc = objstore_key_check(s, key, 0, err);
    return rc ? rc : s->ops->attributes(s, key, out, err);
}

int objstore_exists(objstore *s, const char *key, int *exists, st_err *err)
{
    objstore_attrs a;
    st_err mine;
    st_err_init(&mine);
    *exists = 0;
    int rc = objstore_attributes(s, key, &a, &mine);
    if (rc == 0) {
        *exists = 1;
        return 0;
    }
    if (rc == ST_ENOTFOUND)
        return 0;
    return st_err_copy(err, &mine);
}

int objstore_put(objstore *s, const char *key, const void *p, size_t len, st_err *err)
{
    int rc = objstore_key_check(s, key, 0, err);
    return rc ? rc : s->ops->put(s, key, p, len, err);
}

int objstore_put_file(objstore *s, const char *key, const char *path, st_err *err)
{
    int rc = objstore_key_check(s, key, 0, err);
    return rc ? rc : s->ops->put_file(s, key, path, err);
}

int objstore_delete(objstore *s, const char *key, st_err *err)
{
    int rc = objstore_key_check(s, key, 0, err);
    return rc ? rc : s->ops->del(s, key, err);
}

int objstore_get_etag(objstore *s, const char *key, st_buf *out, size_t max,
                      char etag[OBJSTORE_ETAG_MAX], st_err *err)
{
    etag[0] = '\0';
    int rc = objstore_key_check(s, key, 0, err);
    return rc ? rc : s->ops->get_etag(s, key, out, max, etag, err);
}

int objstore_put_if(objstore *s, const char *key, const void *p, size_t len,
                    const objstore_cond *cond, char etag[OBJSTORE_ETAG_MAX], st_err *err)
{
    if (etag)
        etag[0] = '\0';
    int rc = objstore_key_check(s, key, 0, err);
    if (rc)
        return rc;
    if (!cond || (cond->kind != OBJSTORE_IF_ABSENT && cond->kind != OBJSTORE_IF_MATCH) ||
        (cond->kind == OBJSTORE_IF_MATCH &&
         (!cond->etag || !cond->etag[0] || strlen(cond->etag) >= OBJSTORE_ETAG_MAX)))
        return st_err_set(err, ST_EINVAL, "%s: put %s: no usable condition", s->name, key);
    return s->ops->put_if(s, key, p, len, cond, etag, err);
}

int objstore_supports_conditional(const objstore *s)
{
    return s->ops->supports_conditional(s);
}
