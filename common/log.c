/*
 * log.c - structured log lines on stderr, logfmt by default or one JSON object per line.
 * Every line carries ts, level and msg, then the caller's key/value pairs in order.
 */
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum st_log_level cur_level = ST_LOG_INFO;
static enum st_log_format cur_format = ST_LOG_LOGFMT;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char status[512]; /* the terminal status line under the log, if any (st_log_status) */
static size_t status_len;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void st_log_setup(enum st_log_level level, enum st_log_format fmt)
{
    cur_level = level;
    cur_format = fmt;
}

int st_log_parse_level(const char *s, enum st_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum st_log_level)i;
            return 0;
        }
    }
    return ST_EINVAL;
}

int st_log_parse_format(const char *s, enum st_log_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = ST_LOG_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = ST_LOG_JSON;
    else
        return ST_EINVAL;
    return 0;
}

int st_log_enabled(enum st_log_level level)
{
    return level >= cur_level;
}

static void put_logfmt_value(st_buf *b, const char *v)
{
    int quote = *v == '\0';
    for (const char *c = v; *c && !quote; c++)
        quote = (unsigned char)*c <= ' ' || *c == '"' || *c == '=' || *c == '\\';
    if (!quote) {
        st_buf_append(b, v, strlen(v));
        return;
    }
    st_buf_putc(b, '"');
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\') {
            st_buf_putc(b, '\\');
            st_buf_putc(b, (uint8_t)*c);
        } else if (*c == '\n') {
            st_buf_append(b, "\\n", 2);
        } else {
            st_buf_putc(b, (uint8_t)*c);
        }
    }
    st_buf_putc(b, '"');
}

static void put_json_string(st_buf *b, const char *v)
{
    st_buf_putc(b, '"');
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (*c == '"' || *c == '\\') {
            st_buf_putc(b, '\\');
            st_buf_putc(b, *c);
        } else if (*c < 0x20) {
            st_buf_printf(b, "\\u%04x", *c);
        } else {
            st_buf_putc(b, *c);
        }
    }
    st_buf_putc(b, '"');
}

static void put_kv(st_buf *b, int first, const char *k, const char *v)
{
    if (cur_format == ST_LOG_JSON) {
        if (!first)
            st_buf_putc(b, ',');
        put_json_string(b, k);
        st_buf_putc(b, ':');
        put_json_string(b, v);
    } else {
        if (!first)
            st_buf_putc(b, ' ');
        st_buf_append(b, k, strlen(k));
        st_buf_putc(b, '=');
        put_logfmt_value(b, v);
    }
}

void st_log(enum st_log_level level, const char *msg, ...)
{
    if (level < cur_level)
        return;
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

    st_buf b;
    st_buf_init(&b, 1 << 20);
    if (cur_format == ST_LOG_JSON)
        st_buf_putc(&b, '{');
    put_kv(&b, 1, "ts", ts);
    put_kv(&b, 0, "level", level_names[level]);
    put_kv(&b, 0, "msg", msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        put_kv(&b, 0, k, v ? v : "");
    }
    va_end(ap);
    if (cur_format == ST_LOG_JSON)
        st_buf_putc(&b, '}');
    st_buf_putc(&b, '\n');
    pthread_mutex_lock(&log_mu);
    if (b.p) {
        if (status_len)
            fputs("\r\033[K", stderr); /* the line goes where the status line was */
        fwrite(b.p, 1, b.len, stderr);
        if (status_len)
            fwrite(status, 1, status_len, stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&log_mu);
    st_buf_release(&b);
}

void st_log_status(const char *line)
{
    pthread_mutex_lock(&log_mu);
    size_t n = line ? strlen(line) : 0;
    if (n >= sizeof(status))
        n = sizeof(status) - 1;
    if (n || status_len) {
        fputs("\r\033[K", stderr);
        if (n)
            fwrite(line, 1, n, stderr);
        fflush(stderr);
    }
    if (n)
        memcpy(status, line, n);
    status_len = n;
    pthread_mutex_unlock(&log_mu);
}
