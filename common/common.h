/*
 * common.h - the one public header of strata's common module: error codes and error detail,
 * the allocation wrapper, growable buffers, arenas, logging, thread pool and whole-file helpers.
 * Everything else in strata depends on this module and on nothing above it.
 */
#ifndef STRATA_COMMON_H
#define STRATA_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------
 * Errors. Functions return 0 or one of these negative codes; the detail (what, which file,
 * which offset) is written into an st_err owned by the handle or passed by the caller.
 */
#define ST_OK         0
#define ST_ENOMEM     (-1)   /* allocation failed */
#define ST_EIO        (-2)   /* read/write/open failed (errno in the detail) */
#define ST_ENOTFOUND  (-3)   /* object, file or key does not exist */
#define ST_ECORRUPT   (-4)   /* bytes on disk do not follow the format */
#define ST_ECHECKSUM  (-5)   /* a CRC did not match */
#define ST_ETRANSIENT (-6)   /* may succeed if retried (5xx, timeout, reset) */
#define ST_EAUTH      (-7)   /* credentials refused */
#define ST_EINVAL     (-8)   /* bad argument or configuration */
#define ST_ETOOBIG    (-9)   /* a hard size limit was hit */
#define ST_EUNSUPP    (-10)  /* valid but not supported (unknown chunk encoding, version) */
#define ST_ECONFLICT  (-11)  /* a write's precondition did not hold (HTTP 412): someone else won */
#define ST_ITEROVER   (-100) /* an iterator is exhausted: not an error */

/* Error detail: a code and a one-line message. Embedded in handles; init cannot fail. */
typedef struct st_err {
    int code;
    char msg[512];
} st_err;

void st_err_init(st_err *e);
/* Record code and a printf-style message; returns code so callers can `return st_err_set(..)`.
 * A NULL e is allowed (the detail is dropped). The first error recorded wins until cleared. */
int st_err_set(st_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int st_err_vset(st_err *e, int code, const char *fmt, va_list ap);
/* Copy src into dst (used when a handle's error becomes the caller's). Returns src->code. */
int st_err_copy(st_err *dst, const st_err *src);
/* Static name of a code: "corrupt", "checksum mismatch", ... */
const char *st_strerror(int code);

/* Report corruption with the file, the offset and the source line that caught it
 * (SQLite's SQLITE_CORRUPT_BKPT). */
#define ST_CORRUPT(err, file, off, ...)                                                            \
    st_err_corrupt((err), ST_ECORRUPT, (file), (uint64_t)(off), __FILE__, __LINE__, __VA_ARGS__)
#define ST_CHECKSUM(err, file, off, ...)                                                           \
    st_err_corrupt((err), ST_ECHECKSUM, (file), (uint64_t)(off), __FILE__, __LINE__, __VA_ARGS__)
int st_err_corrupt(st_err *e, int code, const char *file, uint64_t off, const char *src, int line,
                   const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* ---------------------------------------------------------------------------------------------
 * Allocation. Everything goes through these so tests can fail the Nth allocation.
 */
void *st_malloc(size_t n);
void *st_calloc(size_t n, size_t size);
void *st_realloc(void *p, size_t n);
/* Realloc an array of nmemb elements of size bytes; NULL on overflow or failure. */
void *st_reallocarray(void *p, size_t nmemb, size_t size);
char *st_strdup(const char *s);
char *st_strndup(const char *s, size_t n);
void st_free(void *p);
/* Test hook: the nth allocation from now (1-based) and all later ones fail; 0 disables. */
void st_alloc_fail_after(long n);

/* ---------------------------------------------------------------------------------------------
 * Growable byte buffer with a hard cap (curl dynbuf). init cannot fail; release frees.
 */
typedef struct st_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; appends past it fail with ST_ETOOBIG */
} st_buf;

void st_buf_init(st_buf *b, size_t max);
void st_buf_release(st_buf *b);
void st_buf_reset(st_buf *b); /* len = 0, keeps memory */
int st_buf_reserve(st_buf *b, size_t extra);
int st_buf_append(st_buf *b, const void *p, size_t n);
int st_buf_putc(st_buf *b, uint8_t c);
int st_buf_printf(st_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensure p[len] == 0 without counting it; returns the string or NULL on failure. */
const char *st_buf_cstr(st_buf *b);

/* ---------------------------------------------------------------------------------------------
 * Arena: bump allocation in pages; reset keeps the pages for reuse (zstd cwksp, git_pool).
 */
typedef struct st_arena_page st_arena_page;
typedef struct st_arena {
    st_arena_page *head;  /* page being filled */
    st_arena_page *spare; /* pages kept by reset */
    size_t page_size;
    size_t used_total; /* bytes handed out since the last reset */
} st_arena;

void st_arena_init(st_arena *a, size_t page_size);
void st_arena_release(st_arena *a);
void st_arena_reset(st_arena *a);
/* 16-byte aligned; NULL on allocation failure. */
void *st_arena_alloc(st_arena *a, size_t n);
/* Unaligned, right after the previous allocation when the page has room: runs of packed
 * allocations are contiguous bytes (records to be written out in one piece). */
void *st_arena_alloc_packed(st_arena *a, size_t n);
char *st_arena_strndup(st_arena *a, const char *s, size_t n);

/* ---------------------------------------------------------------------------------------------
 * Logging: logfmt (default) or JSON lines on stderr. Values are quoted as needed.
 */
enum st_log_level { ST_LOG_DEBUG = 0, ST_LOG_INFO = 1, ST_LOG_WARN = 2, ST_LOG_ERROR = 3 };
enum st_log_format { ST_LOG_LOGFMT = 0, ST_LOG_JSON = 1 };

void st_log_setup(enum st_log_level level, enum st_log_format fmt);
/* A status line at the bottom of a terminal (stderr), redrawn under every log line until it is
 * replaced, or removed with NULL or "". Only for a terminal: it writes \r and ANSI erase codes. */
void st_log_status(const char *line);
int st_log_parse_level(const char *s, enum st_log_level *out);
int st_log_parse_format(const char *s, enum st_log_format *out);
int st_log_enabled(enum st_log_level level);
/* msg, then key/value string pairs, NULL-terminated:
 *   st_log(ST_LOG_INFO, "compact blocks", "count", "3", "ulid", id, NULL); */
void st_log(enum st_log_level level, const char *msg, ...);

/* ---------------------------------------------------------------------------------------------
 * Threads: a fixed pool running void(*)(void*) tasks; st_pool_wait waits for all submitted.
 */
typedef struct st_pool st_pool;
int st_pool_create(st_pool **out, int nthreads);
int st_pool_submit(st_pool *p, void (*fn)(void *), void *arg);
void st_pool_wait(st_pool *p);
void st_pool_free(st_pool *p);
int st_ncpu(void);

/* ---------------------------------------------------------------------------------------------
 * Files.
 */
/* A read-only view of a whole file (mmap; an empty file gives p == NULL, len == 0). */
typedef struct st_map {
    const uint8_t *p;
    size_t len;
} st_map;
int st_map_file(st_map *m, const char *path, st_err *err);
void st_map_release(st_map *m);

/* Read a whole file into a NUL-terminated heap buffer (caller frees with st_free). */
int st_read_file(const char *path, char **out, size_t *len, size_t max, st_err *err);
/* Write a file atomically: path.tmp, fsync, rename, fsync of the directory. */
int st_write_file_atomic(const char *path, const void *p, size_t len, st_err *err);
int st_mkdir_p(const char *path, st_err *err);
/* Remove a directory tree (like rm -rf); a missing path is not an error. */
int st_rmtree(const char *path, st_err *err);
int st_fsync_dir(const char *path, st_err *err);
/* Join a and b with one '/', into a heap string. NULL on allocation failure. */
char *st_path_join(const char *a, const char *b);

/* Wall clock in milliseconds since the Unix epoch; monotonic clock in nanoseconds. */
int64_t st_now_ms(void);
uint64_t st_mono_ns(void);
/* Fill p with n bytes from the OS random source. */
int st_random(void *p, size_t n);

#define ST_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define ST_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define ST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
