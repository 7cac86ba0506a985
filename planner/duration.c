/*
 * duration.c - Prometheus durations (model.ParseDuration and model.Duration.String, the syntax
 * of Thanos' retention and delay flags) and RFC 3339 times for --now and thanos.upload_time.
 */
#include "planner_int.h"

#include <stdio.h>
#include <time.h>

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define MS_W (7 * MS_D)
#define MS_Y (365 * MS_D)

static const struct {
    const char *unit;
    int64_t ms;
} units[] = {{"y", MS_Y}, {"w", MS_W}, {"d", MS_D}, {"h", MS_H},
             {"m", MS_M}, {"s", MS_S}, {"ms", 1}};

/* `^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$`,
 * or "0". Each unit at most once, in that order; the sum must fit in int64 ms. */
int planner_duration_parse(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return ST_EINVAL;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    size_t next_unit = 0;
    const char *p = s;
    while (*p) {
        if (*p < '0' || *p > '9')
            return ST_EINVAL;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > (INT64_MAX - (*p - '0')) / 10)
                return ST_EINVAL;
            v = v * 10 + (*p++ - '0');
        }
        size_t u;
        if (p[0] == 'm' && p[1] == 's')
            u = 6;
        else {
            for (u = 0; u < 6; u++)
                if (*p == units[u].unit[0])
                    break;
            if (u == 6)
                return ST_EINVAL;
        }
        if (u < next_unit)
            return ST_EINVAL;
        next_unit = u + 1;
        p += strlen(units[u].unit);
        if (v > (INT64_MAX - total) / units[u].ms)
            return ST_EINVAL;
        total += v * units[u].ms;
    }
    *ms = total;
    return 0;
}

void planner_duration_format(char *out, size_t n, int64_t ms)
{
    if (n == 0)
        return;
    out[0] = '\0';
    if (ms == 0) {
        snprintf(out, n, "0s");
        return;
    }
    size_t len = 0;
    if (ms < 0) {
        snprintf(out, n, "-");
        len = strlen(out);
        ms = ms == INT64_MIN ? INT64_MAX : -ms;
    }
    for (size_t u = 0; u < ST_ARRAY_LEN(units); u++) {
        /* years and weeks only when they divide exactly: 90d reads better than 12w6d */
        if (u < 2 && ms % units[u].ms != 0)
            continue;
        int64_t v = ms / units[u].ms;
        if (v > 0 && len < n) {
            snprintf(out + len, n - len, "%lld%s", (long long)v, units[u].unit);
            len += strlen(out + len);
            ms -= v * units[u].ms;
        }
    }
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int planner_time_parse(const char *s, int64_t *ms)
{
    size_t len = s ? strlen(s) : 0;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return ST_EINVAL;
    int y = digits(s, 4), mon = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mon < 1 || mon > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        sec < 0 || sec > 59)
        return ST_EINVAL;
    size_t i = 19;
    int64_t frac_ms = 0;
    if (s[i] == '.') {
        int k = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, k++)
            if (k < 3)
                frac_ms = frac_ms * 10 + (s[i] - '0');
        if (k == 0)
            return ST_EINVAL;
        for (; k < 3; k++)
            frac_ms *= 10;
    }
    int64_t off_s = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        off_s = 0;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int zh = digits(s + i + 1, 2), zm = digits(s + i + 4, 2);
        if (zh < 0 || zh > 23 || zm < 0 || zm > 59)
            return ST_EINVAL;
        off_s = (s[i] == '-' ? -1 : 1) * (int64_t)(zh * 3600 + zm * 60);
    } else {
        return ST_EINVAL;
    }
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d) /* 2023-02-30 normalised into March */
        return ST_EINVAL;
    *ms = ((int64_t)t - off_s) * 1000 + frac_ms;
    return 0;
}

void planner_time_format(char *out, size_t n, int64_t ms)
{
    int64_t s = ms / 1000, r = ms % 1000;
    if (r < 0) {
        r += 1000;
        s--;
    }
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, n, "%lldms", (long long)ms);
        return;
    }
    size_t l = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (r)
        snprintf(out + l, n - l, ".%03dZ", (int)r);
    else
        snprintf(out + l, n - l, "Z");
}
