/*
 * file.c - whole-file helpers: read-only mappings, bounded reads, atomic writes (temp file,
 * fsync, rename, fsync of the directory), mkdir -p, rm -rf, clocks and OS randomness.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int st_map_file(st_map *m, const char *path, st_err *err)
{
    m->p = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_set(err, errno == ENOENT ? ST_ENOTFOUND : ST_EIO, "open %s: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return st_err_set(err, ST_EIO, "stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return st_err_set(err, ST_EIO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return st_err_set(err, ST_EIO, "mmap %s: %s", path, strerror(e));
        }
        m->p = p;
        m->len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void st_map_release(st_map *m)
{
    if (m->p)
        munmap((void *)m->p, m->len);
    m->p = NULL;
    m->len = 0;
}

int st_read_file(const char *path, char **out, size_t *len, size_t max, st_err *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return st_err_set(err, errno == ENOENT ? ST_ENOTFOUND : ST_EIO, "open %s: %s", path,
                          strerror(errno));
    st_buf b;
    st_buf_init(&b, max);
    char tmp[16384];
    int rc = 0;
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        rc = st_buf_append(&b, tmp, n);
        if (rc) {
            st_err_set(err, rc, "read %s: %s", path,
                       rc == ST_ETOOBIG ? "file larger than allowed" : "out of memory");
            break;
        }
    }
    if (!rc && ferror(f))
        rc = st_err_set(err, ST_EIO, "read %s: %s", path, strerror(errno));
    fclose(f);
    if (!rc && !st_buf_cstr(&b))
        rc = st_err_set(err, ST_ENOMEM, "read %s: out of memory", path);
    if (rc) {
        st_buf_release(&b);
        return rc;
    }
    *out = (char *)b.p;
    if (len)
        *len = b.len;
    return 0;
}

int st_fsync_dir(const char *path, st_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return st_err_set(err, ST_EIO, "open dir %s: %s", path, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0)
        rc = st_err_set(err, ST_EIO, "fsync dir %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

int st_write_file_atomic(const char *path, const void *p, size_t len, st_err *err)
{
    size_t pl = strlen(path);
    char *tmp = st_malloc(pl + 5);
    if (!tmp)
        return st_err_set(err, ST_ENOMEM, "write %s: out of memory", path);
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = st_err_set(err, ST_EIO, "create %s: %s", tmp, strerror(errno));
        goto done;
    }
    const uint8_t *c = p;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, c, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = st_err_set(err, ST_EIO, "write %s: %s", tmp, strerror(errno));
            break;
        }
        c += w;
        left -= (size_t)w;
    }
    if (!rc && fsync(fd) != 0)
        rc = st_err_set(err, ST_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = st_err_set(err, ST_EIO, "close %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = st_err_set(err, ST_EIO, "rename %s: %s", tmp, strerror(errno));
    if (rc) {
        unlink(tmp);
        goto done;
    }
    {
        char *dir = st_strdup(path);
        if (!dir) {
            rc = st_err_set(err, ST_ENOMEM, "write %s: out of memory", path);
            goto done;
        }
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            strcpy(dir, ".");
        rc = st_fsync_dir(dir, err);
        st_free(dir);
    }
done:
    st_free(tmp);
    return rc;
}

int st_mkdir_p(const char *path, st_err *err)
{
    char *p = st_strdup(path);
    if (!p)
        return st_err_set(err, ST_ENOMEM, "mkdir %s: out of memory", path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                rc = st_err_set(err, ST_EIO, "mkdir %s: %s", p, strerror(errno));
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    st_free(p);
    return rc;
}

int st_rmtree(const char *path, st_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : st_err_set(err, ST_EIO, "stat %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return st_err_set(err, ST_EIO, "unlink %s: %s", path, strerror(errno));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return st_err_set(err, ST_EIO, "opendir %s: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *sub = st_path_join(path, de->d_name);
        if (!sub) {
            rc = st_err_set(err, ST_ENOMEM, "rmtree %s: out of memory", path);
            break;
        }
        rc = st_rmtree(sub, err);
        st_free(sub);
    }
    closedir(d);
    if (!rc && rmdir(path) != 0 && errno != ENOENT)
        rc = st_err_set(err, ST_EIO, "rmdir %s: %s", path, strerror(errno));
    return rc;
}

char *st_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    char *r = st_malloc(la + 1 + lb + 1);
    if (!r)
        return NULL;
    memcpy(r, a, la);
    r[la] = '/';
    memcpy(r + la + 1, b, lb + 1);
    return r;
}

int64_t st_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t st_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int st_random(void *p, size_t n)
{
    uint8_t *c = p;
    while (n > 0) {
        ssize_t r = getrandom(c, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ST_EIO;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}
