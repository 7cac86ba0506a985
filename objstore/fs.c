/*
 * fs.c - the FILESYSTEM object store: a local directory whose files are the objects and whose
 * subdirectories act as prefixes (the layout `thanos` uses for `type: FILESYSTEM`). Puts are
 * atomic (hidden temp file in the target directory, fsync, rename, fsync of the directory);
 * conditional puts add link() or a directory flock around compare-and-rename; deletes remove
 * directories left empty; keys are checked so nothing escapes the root.
 */
#include "s3_int.h" /* sigv4_sha256_hex: the ETag of a file is its SHA-256 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".strata-tmp-"

typedef struct fs_store {
    objstore base;
    char *root; /* absolute, no trailing '/' */
} fs_store;

static char *full_path(const fs_store *fs, const char *key)
{
    return st_path_join(fs->root, key);
}

static int io_err(const fs_store *fs, const char *op, const char *key, int e, st_err *err)
{
    if (e == ENOENT || e == ENOTDIR || e == EISDIR)
        return st_err_set(err, ST_ENOTFOUND, "%s: %s %s: not found", fs->base.name, op, key);
    return st_err_set(err, ST_EIO, "%s: %s %s: %s", fs->base.name, op, key, strerror(e));
}

/* ---- listing ------------------------------------------------------------------------------- */

typedef struct entry {
    char *name;
    int is_dir;
} entry;

/* Order entries as their keys order: a directory sorts as "name/". */
static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    const unsigned char *p = (const unsigned char *)x->name, *q = (const unsigned char *)y->name;
    for (;;) {
        int c1 = *p ? *p : (x->is_dir ? '/' : 0);
        int c2 = *q ? *q : (y->is_dir ? '/' : 0);
        if (c1 != c2)
            return c1 - c2;
        if (!*p || !*q)
            return (*p == 0 && *q == 0) ? 0 : (*p ? 1 : -1);
        p++;
        q++;
    }
}

static void free_entries(entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        st_free(e[i].name);
    st_free(e);
}

/* Entries of dir whose names start with name_prefix, sorted; a missing dir is empty. */
static int read_dir(const fs_store *fs, const char *dir, const char *name_prefix, entry **out,
                    size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return st_err_set(err, ST_EIO, "%s: list %s: %s", fs->base.name, dir, strerror(errno));
    }
    size_t cap = 0, pl = strlen(name_prefix);
    entry *e = NULL;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
            strncmp(de->d_name, name_prefix, pl) != 0)
            continue;
        int is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            struct stat st;
            char *p = st_path_join(dir, de->d_name);
            is_dir = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
            st_free(p);
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            entry *ne = st_reallocarray(e, cap, sizeof(*e));
            if (!ne) {
                rc = ST_ENOMEM;
                break;
            }
            e = ne;
        }
        if (!(e[*n].name = st_strdup(de->d_name))) {
            rc = ST_ENOMEM;
            break;
        }
        e[(*n)++].is_dir = is_dir;
    }
    closedir(d);
    if (rc) {
        free_entries(e, *n);
        *n = 0;
        return st_err_set(err, rc, "%s: list %s: out of memory", fs->base.name, dir);
    }
    if (*n)
        qsort(e, *n, sizeof(*e), cmp_entry);
    *out = e;
    return 0;
}

/* List `dir` (the directory of key prefix `key_dir`, which is "" or ends in '/'). */
static int walk(const fs_store *fs, const char *key_dir, const char *name_prefix, int recursive,
                objstore_iter_fn fn, void *ctx, st_err *err)
{
    char *dir = key_dir[0] ? full_path(fs, key_dir) : st_strdup(fs->root);
    if (!dir)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", fs->base.name);
    entry *e;
    size_t n;
    int rc = read_dir(fs, dir, name_prefix, &e, &n, err);
    st_free(dir);
    if (rc)
        return rc;
    st_buf key;
    st_buf_init(&key, 0);
    for (size_t i = 0; i < n && !rc; i++) {
        st_buf_reset(&key);
        if (st_buf_printf(&key, "%s%s%s", key_dir, e[i].name, e[i].is_dir ? "/" : "") ||
            !st_buf_cstr(&key)) {
            rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", fs->base.name);
            break;
        }
        if (e[i].is_dir && recursive)
            rc = walk(fs, (const char *)key.p, "", 1, fn, ctx, err);
        else
            rc = fn(ctx, (const char *)key.p, e[i].is_dir);
    }
    st_buf_release(&key);
    free_entries(e, n);
    return rc;
}

static int fs_iter(objstore *s, const char *prefix, int recursive, objstore_iter_fn fn, void *ctx,
                   st_err *err)
{
    fs_store *fs = (fs_store *)s;
    /* split "a/b/c" into the directory "a/b/" and the name prefix "c" */
    const char *slash = strrchr(prefix, '/');
    size_t dl = slash ? (size_t)(slash - prefix) + 1 : 0;
    char *key_dir = st_strndup(prefix, dl);
    if (!key_dir)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", s->name);
    int rc = walk(fs, key_dir, prefix + dl, recursive, fn, ctx, err);
    st_free(key_dir);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------- */

static int open_object(const fs_store *fs, const char *key, const char *op, int *fd,
                       struct stat *st, st_err *err)
{
    char *p = full_path(fs, key);
    if (!p)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", fs->base.name);
    *fd = open(p, O_RDONLY | O_CLOEXEC);
    int e = errno;
    st_free(p);
    if (*fd < 0)
        return io_err(fs, op, key, e, err);
    if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
        e = S_ISDIR(st->st_mode) ? EISDIR : errno;
        close(*fd);
        *fd = -1;
        return io_err(fs, op, key, e, err);
    }
    return 0;
}

static int fs_get_range(objstore *s, const char *key, uint64_t off, uint64_t len, st_buf *out,
                        size_t max, st_err *err)
{
    fs_store *fs = (fs_store *)s;
    int fd = -1;
    struct stat st;
    int rc = open_object(fs, key, "get", &fd, &st, err);
    if (rc)
        return rc;
    uint64_t size = (uint64_t)st.st_size;
    uint64_t end = (len == OBJSTORE_WHOLE || off + len > size) ? size : off + len;
    uint64_t want = off < end ? end - off : 0;
    if (max && want > max) {
        close(fd);
        return st_err_set(err, ST_ETOOBIG, "%s: get %s: %llu bytes, more than the %zu allowed",
                          s->name, key, (unsigned long long)want, max);
    }
    if ((rc = st_buf_reserve(out, (size_t)want))) {
        close(fd);
        return st_err_set(err, rc, "%s: get %s: out of memory", s->name, key);
    }
    uint64_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, out->p + out->len, (size_t)(want - got), (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0
                     ? st_err_set(err, ST_EIO, "%s: get %s: %s", s->name, key, strerror(errno))
                     : st_err_set(err, ST_EIO,
                                  "%s: get %s: short read (%llu of %llu bytes): the file shrank",
                                  s->name, key, (unsigned long long)got, (unsigned long long)want);
            break;
        }
        out->len += (size_t)r;
        got += (uint64_t)r;
    }
    close(fd);
    return rc;
}

/* A new hidden temp file in dir holding fd_in's bytes (from its current offset), fsynced and
 * closed; its path goes into tmp. On failure nothing is left behind. */
static int write_tmp(const char *name, int fd_in, const char *dir, const char *what, st_buf *tmp,
                     st_err *err)
{
    uint32_t rnd = 0;
    st_random(&rnd, sizeof(rnd));
    if (st_buf_printf(tmp, "%s/" TMP_PREFIX "%08x", dir, rnd) || !st_buf_cstr(tmp))
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
    const char *tp = (const char *)tmp->p;
    int fd = open(tp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    for (int i = 0; i < 3 && fd < 0 && errno == ENOENT; i++) {
        /* a delete removed the directory once it was empty: make it again */
        if (st_mkdir_p(dir, NULL) == 0)
            fd = open(tp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return st_err_set(err, ST_EIO, "%s: put %s: create %s: %s", name, what, tp,
                          strerror(errno));
    int rc = 0;
    for (;;) {
        ssize_t n = copy_file_range(fd_in, NULL, fd, NULL, 1 << 30, 0);
        if (n == 0)
            break;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
            /* fall back to read/write */
            char buf[1 << 16];
            ssize_t r;
            while ((r = read(fd_in, buf, sizeof(buf))) > 0) {
                ssize_t w = 0;
                while (w < r) {
                    ssize_t k = write(fd, buf + w, (size_t)(r - w));
                    if (k < 0) {
                        rc = st_err_set(err, ST_EIO, "%s: put %s: %s", name, what, strerror(errno));
                        break;
                    }
                    w += k;
                }
                if (rc)
                    break;
            }
            if (!rc && r < 0)
                rc = st_err_set(err, ST_EIO, "%s: put %s: read: %s", name, what, strerror(errno));
            break;
        }
        rc = st_err_set(err, ST_EIO, "%s: put %s: %s", name, what, strerror(errno));
        break;
    }
    if (!rc && fsync(fd) != 0)
        rc = st_err_set(err, ST_EIO, "%s: put %s: fsync: %s", name, what, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = st_err_set(err, ST_EIO, "%s: put %s: close: %s", name, what, strerror(errno));
    if (rc)
        unlink(tp);
    return rc;
}

/* The directory part of a path, created if missing. */
static int parent_dir(const char *name, const char *path, char **dir, st_err *err)
{
    if (!(*dir = st_strdup(path)))
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
    char *slash = strrchr(*dir, '/');
    if (slash)
        *slash = '\0';
    return st_mkdir_p(*dir, err);
}

/* Copy fd_in (from its start) into a new hidden temp file in dir of `dst`, then rename. */
static int copy_atomic(const char *name, int fd_in, const char *dst, const char *what, st_err *err)
{
    char *dir = NULL;
    st_buf tmp;
    st_buf_init(&tmp, 0);
    int rc = parent_dir(name, dst, &dir, err);
    if (!rc)
        rc = write_tmp(name, fd_in, dir, what, &tmp, err);
    if (!rc && rename((const char *)tmp.p, dst) != 0) {
        rc = st_err_set(err, ST_EIO, "%s: put %s: rename: %s", name, what, strerror(errno));
        unlink((const char *)tmp.p);
    }
    if (!rc)
        rc = st_fsync_dir(dir, err);
    st_free(dir);
    st_buf_release(&tmp);
    return rc;
}

static int fs_get_file(objstore *s, const char *key, const char *path, st_err *err)
{
    fs_store *fs = (fs_store *)s;
    int fd = -1;
    struct stat st;
    int rc = open_object(fs, key, "get", &fd, &st, err);
    if (rc)
        return rc;
    rc = copy_atomic(s->name, fd, path, key, err);
    close(fd);
    return rc;
}

static int fs_attributes(objstore *s, const char *key, objstore_attrs *out, st_err *err)
{
    fs_store *fs = (fs_store *)s;
    char *p = full_path(fs, key);
    if (!p)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", s->name);
    struct stat st;
    int r = stat(p, &st);
    int e = errno;
    st_free(p);
    if (r != 0)
        return io_err(fs, "attributes", key, e, err);
    if (!S_ISREG(st.st_mode))
        return io_err(fs, "attributes", key, EISDIR, err);
    out->size = (uint64_t)st.st_size;
    out->last_modified_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    return 0;
}

/* ---- writing ------------------------------------------------------------------------------- */

static int fs_put_file(objstore *s, const char *key, const char *path, st_err *err)
{
    fs_store *fs = (fs_store *)s;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_set(err, ST_EIO, "%s: put %s: open %s: %s", s->name, key, path,
                          strerror(errno));
    char *dst = full_path(fs, key);
    int rc = dst ? copy_atomic(s->name, fd, dst, key, err)
                 : st_err_set(err, ST_ENOMEM, "%s: out of memory", s->name);
    st_free(dst);
    close(fd);
    return rc;
}

/* A memfd holding the buffer, at offset 0, so puts from memory share the file path. */
static int buffer_fd(objstore *s, const char *key, const void *p, size_t len, int *fd, st_err *err)
{
    *fd = memfd_create("strata-put", MFD_CLOEXEC);
    if (*fd < 0)
        return st_err_set(err, ST_EIO, "%s: put %s: memfd: %s", s->name, key, strerror(errno));
    const uint8_t *c = p;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(*fd, c, left);
        if (w < 0) {
            int e = errno;
            close(*fd);
            *fd = -1;
            return st_err_set(err, ST_EIO, "%s: put %s: %s", s->name, key, strerror(e));
        }
        c += w;
        left -= (size_t)w;
    }
    lseek(*fd, 0, SEEK_SET);
    return 0;
}

static int fs_put(objstore *s, const char *key, const void *p, size_t len, st_err *err)
{
    int fd;
    int rc = buffer_fd(s, key, p, len, &fd, err);
    if (rc)
        return rc;
    fs_store *fs = (fs_store *)s;
    char *dst = full_path(fs, key);
    rc = dst ? copy_atomic(s->name, fd, dst, key, err)
             : st_err_set(err, ST_ENOMEM, "%s: out of memory", s->name);
    st_free(dst);
    close(fd);
    return rc;
}

/* ---- conditional writes ----------------------------------------------------------------------
 * The new content first goes to a hidden temp file in the key's directory (which also keeps the
 * directory from being removed by a delete meanwhile). Then, under an exclusive flock on that
 * directory (no lock file to leave behind), "absent" is link(temp, key), which fails with EEXIST
 * if the key exists, and "ETag equals" compares the SHA-256 of the current file and renames the
 * temp file over it. Both kinds take the lock so a check and its rename are never split by
 * another conditional writer. Plain puts and deletes do not lock: a delete between the check and
 * the rename leaves the object written, which is what that writer asked for. Local disks only:
 * flock and link are not atomic across NFS clients. */

static void content_etag(const void *p, size_t n, char *etag)
{
    char hex[65];
    sigv4_sha256_hex(p, n, hex);
    snprintf(etag, OBJSTORE_ETAG_MAX, "\"%s\"", hex);
}

static int fs_get_etag(objstore *s, const char *key, st_buf *out, size_t max, char *etag,
                       st_err *err)
{
    size_t start = out->len;
    int rc = fs_get_range(s, key, 0, OBJSTORE_WHOLE, out, max, err);
    if (!rc)
        content_etag(out->p + start, out->len - start, etag);
    return rc;
}

/* Under the directory lock: does the condition hold for the object at key? */
static int cond_holds(objstore *s, const char *key, const objstore_cond *cond, st_err *err)
{
    st_buf cur;
    st_buf_init(&cur, 0);
    char etag[OBJSTORE_ETAG_MAX];
    st_err mine;
    st_err_init(&mine);
    int rc = fs_get_etag(s, key, &cur, 0, etag, &mine);
    st_buf_release(&cur);
    if (rc == ST_ENOTFOUND)
        return st_err_set(err, ST_ECONFLICT, "%s: put %s: precondition failed: the object is gone",
                          s->name, key);
    if (rc)
        return st_err_copy(err, &mine);
    if (strcmp(etag, cond->etag) != 0)
        rc = st_err_set(err, ST_ECONFLICT, "%s: put %s: precondition failed: ETag %s, expected %s",
                        s->name, key, etag, cond->etag);
    return rc;
}

static int fs_put_if(objstore *s, const char *key, const void *p, size_t len,
                     const objstore_cond *cond, char *etag, st_err *err)
{
    fs_store *fs = (fs_store *)s;
    char *dst = full_path(fs, key), *dir = NULL;
    int fd = -1, dfd = -1, renamed = 0;
    st_buf tmp;
    st_buf_init(&tmp, 0);
    int rc = dst ? buffer_fd(s, key, p, len, &fd, err)
                 : st_err_set(err, ST_ENOMEM, "%s: out of memory", s->name);
    if (!rc)
        rc = parent_dir(s->name, dst, &dir, err);
    if (!rc)
        rc = write_tmp(s->name, fd, dir, key, &tmp, err);
    if (rc)
        goto done;
    const char *tp = (const char *)tmp.p;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = dfd < 0 ? -1 : 0;
    while (r == 0 && (r = flock(dfd, LOCK_EX)) != 0 && errno == EINTR)
        r = 0;
    if (r != 0) {
        rc = st_err_set(err, ST_EIO, "%s: put %s: lock %s: %s", s->name, key, dir, strerror(errno));
    } else if (cond->kind == OBJSTORE_IF_ABSENT) {
        if (link(tp, dst) != 0)
            rc = errno == EEXIST ? st_err_set(err, ST_ECONFLICT,
                                              "%s: put %s: precondition failed: the object exists",
                                              s->name, key)
                                 : st_err_set(err, ST_EIO, "%s: put %s: link: %s", s->name, key,
                                              strerror(errno));
    } else if (!(rc = cond_holds(s, key, cond, err))) {
        if (rename(tp, dst) == 0)
            renamed = 1;
        else
            rc = st_err_set(err, ST_EIO, "%s: put %s: rename: %s", s->name, key, strerror(errno));
    }
    if (!renamed)
        unlink(tp); /* the link's other name, or the unused temp file */
    if (!rc)
        rc = st_fsync_dir(dir, err);
    if (dfd >= 0)
        close(dfd); /* drops the lock */
    if (!rc && etag)
        content_etag(p, len, etag);
done:
    if (fd >= 0)
        close(fd);
    st_free(dst);
    st_free(dir);
    st_buf_release(&tmp);
    return rc;
}

static int fs_supports_conditional(const objstore *s)
{
    (void)s;
    return 1;
}

static int fs_del(objstore *s, const char *key, st_err *err)
{
    fs_store *fs = (fs_store *)s;
    char *p = full_path(fs, key);
    if (!p)
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", s->name);
    int rc = 0;
    if (unlink(p) != 0 && errno != ENOENT) {
        rc = errno == EISDIR || errno == EPERM
                 ? 0 /* a prefix, not an object: nothing to delete */
                 : st_err_set(err, ST_EIO, "%s: delete %s: %s", s->name, key, strerror(errno));
    }
    /* remove parent directories that became empty, up to the root */
    size_t rl = strlen(fs->root);
    while (!rc) {
        char *slash = strrchr(p, '/');
        if (!slash || (size_t)(slash - p) <= rl)
            break;
        *slash = '\0';
        if (rmdir(p) != 0)
            break;
    }
    st_free(p);
    return rc;
}

static void fs_free(objstore *s)
{
    fs_store *fs = (fs_store *)s;
    st_free(fs->root);
    st_free(fs->base.name);
    st_free(fs);
}

static const objstore_ops fs_ops = {
    .iter = fs_iter,
    .get_range = fs_get_range,
    .get_file = fs_get_file,
    .attributes = fs_attributes,
    .put = fs_put,
    .put_file = fs_put_file,
    .del = fs_del,
    .get_etag = fs_get_etag,
    .put_if = fs_put_if,
    .supports_conditional = fs_supports_conditional,
    .free = fs_free,
};

int objstore_fs_open(objstore **out, const char *dir, st_err *err)
{
    *out = NULL;
    if (!dir || !*dir)
        return st_err_set(err, ST_EINVAL, "filesystem bucket: empty directory");
    int rc = st_mkdir_p(dir, err);
    if (rc)
        return rc;
    char abs[PATH_MAX];
    if (!realpath(dir, abs))
        return st_err_set(err, ST_EIO, "filesystem bucket %s: %s", dir, strerror(errno));
    fs_store *fs = st_calloc(1, sizeof(*fs));
    if (!fs)
        return st_err_set(err, ST_ENOMEM, "filesystem bucket: out of memory");
    fs->base.ops = &fs_ops;
    fs->root = st_strdup(abs);
    size_t nl = strlen(abs) + 8;
    fs->base.name = st_malloc(nl);
    if (!fs->root || !fs->base.name) {
        fs_free(&fs->base);
        return st_err_set(err, ST_ENOMEM, "filesystem bucket: out of memory");
    }
    snprintf(fs->base.name, nl, "file://%s", abs);
    *out = &fs->base;
    return 0;
}
