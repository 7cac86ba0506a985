/*
 * progress.c - how far long jobs are. A merge or a downsampling registers itself and adds the
 * input series and chunk bytes it has finished; one reporter thread per process shows them:
 * on a terminal a status line redrawn twice a second (or every interval, if shorter), elsewhere
 * (a pod's log) a logfmt/JSON line per job every interval (30 s by default). Nothing is shown when
 * no reporter was started.
 */
#include "compactor_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct progress {
    char what[24];  /* "compact", "downsample" */
    char block[32]; /* the new block's ULID or the input's */
    uint64_t total_series, total_bytes;
    _Atomic uint64_t series, bytes;
    uint64_t start_ns;
    struct progress *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, stopping;
    progress_mode mode;
    int64_t interval_ms;
    pthread_t thread;
    progress *active; /* jobs under way, newest first */
} R = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, PROGRESS_OFF, 0, 0, NULL};

progress *progress_begin(const char *what, const char *block, uint64_t total_series,
                         uint64_t total_bytes)
{
    pthread_mutex_lock(&R.mu);
    int on = R.running;
    pthread_mutex_unlock(&R.mu);
    if (!on)
        return NULL;
    progress *p = st_calloc(1, sizeof(*p));
    if (!p)
        return NULL; /* progress is a nicety: never a reason to fail */
    snprintf(p->what, sizeof(p->what), "%s", what);
    snprintf(p->block, sizeof(p->block), "%s", block ? block : "");
    p->total_series = total_series;
    p->total_bytes = total_bytes;
    p->start_ns = st_mono_ns();
    pthread_mutex_lock(&R.mu);
    p->next = R.active;
    R.active = p;
    pthread_mutex_unlock(&R.mu);
    return p;
}

void progress_add(progress *p, uint64_t series, uint64_t bytes)
{
    if (!p)
        return;
    atomic_fetch_add_explicit(&p->series, series, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->bytes, bytes, memory_order_relaxed);
}

void progress_end(progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&R.mu);
    for (progress **pp = &R.active; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&R.mu);
    st_free(p);
}

typedef struct snap {
    uint64_t series, total, bytes;
    double secs, mbps, pct, eta;
} snap;

static snap take(const progress *p, uint64_t now)
{
    snap s;
    s.series = atomic_load_explicit(&p->series, memory_order_relaxed);
    s.bytes = atomic_load_explicit(&p->bytes, memory_order_relaxed);
    s.total = p->total_series;
    s.secs = (double)(now - p->start_ns) / 1e9;
    s.mbps = s.secs > 0 ? (double)s.bytes / 1e6 / s.secs : 0;
    s.pct = s.total ? 100.0 * (double)ST_MIN(s.series, s.total) / (double)s.total : -1;
    s.eta = s.total && s.series && s.series < s.total
                ? s.secs * (double)(s.total - s.series) / (double)s.series
                : -1;
    return s;
}

/* Called with R.mu held. */
static void report(int final)
{
    uint64_t now = st_mono_ns();
    if (R.mode == PROGRESS_TTY) {
        char line[512];
        size_t n = 0;
        for (const progress *p = R.active; p && n < sizeof(line) - 1; p = p->next) {
            snap s = take(p, now);
            int k;
            if (s.pct >= 0)
                k = snprintf(line + n, sizeof(line) - n,
                             "%s%s %.10s: %" PRIu64 "/%" PRIu64 " series (%.0f%%) %.0f MB/s",
                             n ? " | " : "", p->what, p->block, s.series, s.total, s.pct, s.mbps);
            else
                k = snprintf(line + n, sizeof(line) - n, "%s%s %.10s: %" PRIu64 " series %.0f MB/s",
                             n ? " | " : "", p->what, p->block, s.series, s.mbps);
            if (k < 0)
                break;
            n = ST_MIN(n + (size_t)k, sizeof(line) - 1);
        }
        line[n] = '\0';
        st_log_status(final ? NULL : line);
        return;
    }
    if (final)
        return;
    for (const progress *p = R.active; p; p = p->next) {
        snap s = take(p, now);
        char f[7][32];
        snprintf(f[0], 32, "%" PRIu64, s.series);
        snprintf(f[1], 32, "%" PRIu64, s.total);
        snprintf(f[2], 32, "%.1f", s.pct);
        snprintf(f[3], 32, "%" PRIu64, s.bytes);
        snprintf(f[4], 32, "%.1f", s.mbps);
        snprintf(f[5], 32, "%.0f", s.eta);
        snprintf(f[6], 32, "%.1f", s.secs);
        st_log(ST_LOG_INFO, "progress", "job", p->what, "block", p->block, "series_done", f[0],
               "series_total", f[1], "percent", s.pct >= 0 ? f[2] : "", "bytes", f[3], "mb_per_s",
               f[4], "eta_s", s.eta >= 0 ? f[5] : "", "elapsed_s", f[6], NULL);
    }
}

static void *reporter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&R.mu);
    while (!R.stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (R.interval_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(R.interval_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!R.stopping && pthread_cond_timedwait(&R.cv, &R.mu, &ts) == 0)
            ;
        if (!R.stopping)
            report(0);
    }
    report(1);
    pthread_mutex_unlock(&R.mu);
    return NULL;
}

int progress_parse_mode(const char *s, progress_mode *out)
{
    if (strcmp(s, "auto") == 0)
        *out = isatty(STDERR_FILENO) ? PROGRESS_TTY : PROGRESS_LOG;
    else if (strcmp(s, "tty") == 0)
        *out = PROGRESS_TTY;
    else if (strcmp(s, "log") == 0)
        *out = PROGRESS_LOG;
    else if (strcmp(s, "off") == 0)
        *out = PROGRESS_OFF;
    else
        return -1;
    return 0;
}

int progress_start(progress_mode mode, int64_t log_interval_ms)
{
    if (mode == PROGRESS_OFF)
        return 0;
    pthread_mutex_lock(&R.mu);
    if (R.running) {
        pthread_mutex_unlock(&R.mu);
        return 0;
    }
    R.mode = mode;
    R.interval_ms =
        ST_MAX(mode == PROGRESS_TTY ? ST_MIN(log_interval_ms, 500) : log_interval_ms, 10);
    R.stopping = 0;
    int rc = pthread_create(&R.thread, NULL, reporter, NULL);
    R.running = rc == 0;
    pthread_mutex_unlock(&R.mu);
    return rc == 0 ? 0 : ST_EIO;
}

void progress_stop(void)
{
    pthread_mutex_lock(&R.mu);
    if (!R.running) {
        pthread_mutex_unlock(&R.mu);
        return;
    }
    R.stopping = 1;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
    pthread_join(R.thread, NULL);
    pthread_mutex_lock(&R.mu);
    R.running = 0;
    pthread_mutex_unlock(&R.mu);
}

size_t progress_flags(progress_args *a, cli_flag *f)
{
    *a = (progress_args)PROGRESS_ARGS_INIT;
    const cli_flag t[] = {PROGRESS_FLAGS(*a)};
    memcpy(f, t, sizeof(t));
    return ST_ARRAY_LEN(t);
}

int progress_args_start(const progress_args *a, const char *cmd)
{
    progress_mode mode;
    int64_t ms = 0;
    if (progress_parse_mode(a->mode, &mode)) {
        fprintf(stderr, "strata %s: --progress=%s: expected auto, tty, log or off\n", cmd, a->mode);
        return COMPACTOR_EXIT_USAGE;
    }
    if (planner_duration_parse(a->interval, &ms) || ms <= 0) {
        fprintf(stderr, "strata %s: --progress.interval=%s: expected a duration such as 30s\n", cmd,
                a->interval);
        return COMPACTOR_EXIT_USAGE;
    }
    if (progress_start(mode, ms))
        st_log(ST_LOG_WARN, "cannot start the progress reporter; going on without it", NULL);
    return 0;
}
