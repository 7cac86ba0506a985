/*
 * test_s3_faults.c - the S3 backend against an in-process fake S3 (and STS) on 127.0.0.1 that
 * keeps objects in memory, counts requests and follows a fault script: 503 SlowDown, 429, 500,
 * connection resets (before the answer and in the middle of an upload), stalls past the
 * response timeout, truncated bodies, short 206 ranges, ignored Range headers, bodies without
 * any length, errors inside a 200 CompleteMultipartUpload, ExpiredToken. Each case checks that
 * the operation retried and succeeded with exact bytes, or failed with a clear error of the
 * right class; never a silent short read. Also the credential chain: environment keys and STS
 * AssumeRoleWithWebIdentity with refresh before expiry, from many threads. Conditional puts:
 * the fake honours If-None-Match: * and If-Match as S3 does (412, 404 for a missing key), with
 * ETags that follow the content; 409 ConditionalRequestConflict and a 501 refusal are scripted.
 */
#include "tests/util/testutil.h"

#include "objstore/objstore.h"
#include "objstore/s3_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the fake server ---------------------------------------------------------------------- */

enum act {
    A_STATUS = 1,     /* answer status/code with an XML error */
    A_RESET,          /* read the request, then reset the connection */
    A_RESET_MID_BODY, /* read half the request body, then reset */
    A_STALL,          /* read the request, say nothing for `status` ms, close */
    A_TRUNCATE,       /* announce the whole body, send half, close */
    A_SHORT_RANGE,    /* 206 with a Content-Range (and body) shorter than asked */
    A_IGNORE_RANGE,   /* 200 with the whole object to a Range request */
    A_NO_LENGTH,      /* the body without Content-Length, cut in half, close */
    A_ERROR_IN_200,   /* CompleteMultipartUpload: 200 whose body is an <Error> */
    A_DELAY,          /* answer normally after `status` ms */
};

typedef struct rule {
    const char *method; /* "GET", ... or "*" */
    const char *match;  /* substring of the raw request target */
    int times;          /* how many matching requests it fires on; -1: all */
    int act;
    int status;
    const char *code;
} rule;

typedef struct fobj {
    char *key;
    uint8_t *data;
    size_t len;
} fobj;

typedef struct fpart {
    int num;
    uint8_t *data;
    size_t len;
} fpart;

typedef struct fupload {
    char id[32];
    char *key;
    fpart parts[64];
    int nparts;
} fupload;

typedef struct fake {
    int lfd, port;
    pthread_t thr;
    volatile int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int live_conns;
    int conn_fds[256];
    int nconn_fds;
    fobj *objs;
    int nobj, capobj;
    fupload ups[8];
    int nups, upload_seq;
    rule rules[8];
    int nrules;
    /* counters */
    int requests, gets, puts, heads, lists, aborts, completes, part_puts, sts_calls;
    int accepts, in_flight, max_in_flight;
    char last_ak[64], last_token[128], last_meta[128], last_class[128];
    char last_if_none_match[64], last_if_match[128]; /* of the last PUT */
    int token_mismatch;
    /* STS */
    char sts_token[128];
    int sts_lifetime_s, sts_fail;
} fake;

static fake F;

static void fake_rule(const char *method, const char *match, int times, int act, int status,
                      const char *code)
{
    pthread_mutex_lock(&F.mu);
    F.rules[F.nrules++] = (rule){method, match, times, act, status, code};
    pthread_mutex_unlock(&F.mu);
}

static void fake_reset_counters(void)
{
    pthread_mutex_lock(&F.mu);
    F.nrules = 0;
    F.requests = F.gets = F.puts = F.heads = F.lists = F.aborts = F.completes = F.part_puts = 0;
    F.sts_calls = F.accepts = F.max_in_flight = 0;
    F.last_ak[0] = F.last_token[0] = '\0';
    F.token_mismatch = 0;
    pthread_mutex_unlock(&F.mu);
}

/* The counters, copied under the lock (a failing assert must not leave it held). */
typedef struct counts {
    int requests, gets, puts, lists, aborts, completes, nups, sts_calls, token_mismatch;
    int accepts, max_in_flight, part_puts;
    char last_ak[64], last_token[128], last_meta[128], last_class[128];
} counts;

static counts fake_counts(void)
{
    counts c;
    pthread_mutex_lock(&F.mu);
    c = (counts){.requests = F.requests,
                 .gets = F.gets,
                 .puts = F.puts,
                 .lists = F.lists,
                 .aborts = F.aborts,
                 .completes = F.completes,
                 .nups = F.nups,
                 .sts_calls = F.sts_calls,
                 .token_mismatch = F.token_mismatch,
                 .accepts = F.accepts,
                 .max_in_flight = F.max_in_flight,
                 .part_puts = F.part_puts};
    memcpy(c.last_meta, F.last_meta, sizeof(c.last_meta));
    memcpy(c.last_class, F.last_class, sizeof(c.last_class));
    memcpy(c.last_ak, F.last_ak, sizeof(c.last_ak));
    memcpy(c.last_token, F.last_token, sizeof(c.last_token));
    pthread_mutex_unlock(&F.mu);
    return c;
}

/* The fake's ETag: a quoted FNV-1a of the content, so it changes with the content. */
static void fake_etag(const uint8_t *p, size_t n, char out[24])
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    snprintf(out, 24, "\"%016llx\"", (unsigned long long)h);
}

/* under mu */
static fobj *find_obj(const char *key, int *pos)
{
    int lo = 0, hi = F.nobj;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(F.objs[mid].key, key);
        if (c == 0) {
            if (pos)
                *pos = mid;
            return &F.objs[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return NULL;
}

static void store_obj(const char *key, uint8_t *data, size_t len)
{
    int pos;
    fobj *o = find_obj(key, &pos);
    if (o) {
        free(o->data);
        o->data = data;
        o->len = len;
        return;
    }
    if (F.nobj == F.capobj) {
        F.capobj = F.capobj ? F.capobj * 2 : 256;
        F.objs = realloc(F.objs, (size_t)F.capobj * sizeof(*F.objs));
    }
    memmove(&F.objs[pos + 1], &F.objs[pos], (size_t)(F.nobj - pos) * sizeof(*F.objs));
    F.objs[pos] = (fobj){strdup(key), data, len};
    F.nobj++;
}

static void del_obj(const char *key)
{
    int pos;
    fobj *o = find_obj(key, &pos);
    if (!o)
        return;
    free(o->key);
    free(o->data);
    memmove(&F.objs[pos], &F.objs[pos + 1], (size_t)(F.nobj - pos - 1) * sizeof(*F.objs));
    F.nobj--;
}

static void clear_objs(void)
{
    pthread_mutex_lock(&F.mu);
    for (int i = 0; i < F.nobj; i++) {
        free(F.objs[i].key);
        free(F.objs[i].data);
    }
    F.nobj = 0;
    pthread_mutex_unlock(&F.mu);
}

typedef struct conn {
    int fd;
    char buf[1 << 16];
    size_t len;
} conn;

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Fill until the header end; returns its length or -1. */
static ssize_t read_head(conn *c)
{
    for (;;) {
        char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (e)
            return e - c->buf + 4;
        if (c->len == sizeof(c->buf))
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
}

static int read_body(conn *c, size_t head, uint8_t *out, size_t n)
{
    size_t have = c->len - head < n ? c->len - head : n;
    memcpy(out, c->buf + head, have);
    memmove(c->buf, c->buf + head + have, c->len - head - have);
    c->len -= head + have;
    while (have < n) {
        ssize_t r = recv(c->fd, out + have, n - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    return 0;
}

static const char *header(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

static void pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char h[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(h, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* value of a query parameter, decoded, or NULL */
static char *qparam(const char *q, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && (p[nl] == '=' || p[nl] == '&' || !p[nl])) {
            const char *v = p[nl] == '=' ? p + nl + 1 : p + nl;
            size_t n = strcspn(v, "&");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            pct_decode(out);
            return out;
        }
    }
    return NULL;
}

static void reply(int fd, int status, const char *extra, const void *body, size_t len)
{
    char h[1024];
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nx-amz-request-id: fake-%d\r\n%s\r\n",
                     status, len, F.requests, extra ? extra : "");
    send_all(fd, h, (size_t)n);
    if (len)
        send_all(fd, body, len);
}

static void reply_error(int fd, int status, const char *code, int head_only)
{
    char b[512];
    int n = snprintf(b, sizeof(b),
                     "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>%s</Code><Message>fake "
                     "%s</Message><RequestId>fake-%d</RequestId></Error>",
                     code, code, F.requests);
    reply(fd, status, "Content-Type: application/xml\r\n", b, head_only ? 0 : (size_t)n);
}

static void hard_reset(int fd)
{
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static void xml_key(st_buf *b, const char *k, int url)
{
    for (const unsigned char *c = (const unsigned char *)k; *c; c++) {
        if (url && !(isalnum(*c) || strchr("-._~/", *c)))
            st_buf_printf(b, "%%%02X", *c);
        else if (*c == '&')
            st_buf_printf(b, "&amp;");
        else if (*c == '<')
            st_buf_printf(b, "&lt;");
        else
            st_buf_putc(b, *c);
    }
}

/* ListObjectsV2 shaped like Swift's answer: continuation token before KeyCount, Contents and
 * CommonPrefixes interleaved in key order, self-closing empty elements. */
static void do_list(int fd, const char *q, int truncate)
{
    char prefix[1024] = "", delim[8] = "", token[1024] = "", mk[16] = "1000", enc[8] = "";
    qparam(q, "prefix", prefix, sizeof(prefix));
    qparam(q, "delimiter", delim, sizeof(delim));
    qparam(q, "continuation-token", token, sizeof(token));
    qparam(q, "max-keys", mk, sizeof(mk));
    qparam(q, "encoding-type", enc, sizeof(enc));
    int max = atoi(mk), url = strcmp(enc, "url") == 0;
    st_buf items, out;
    st_buf_init(&items, 0);
    st_buf_init(&out, 0);
    int n = 0, truncated = 0;
    char last[1024] = "", lastp[1024] = "";
    size_t pl = strlen(prefix);
    for (int i = 0; i < F.nobj; i++) {
        const char *key = F.objs[i].key;
        if (strncmp(key, prefix, pl) != 0)
            continue;
        char entry[1024];
        int is_prefix = 0;
        const char *slash = delim[0] ? strchr(key + pl, delim[0]) : NULL;
        if (slash) {
            snprintf(entry, sizeof(entry), "%.*s", (int)(slash - key + 1), key);
            is_prefix = 1;
            if (strcmp(entry, lastp) == 0)
                continue;
            snprintf(lastp, sizeof(lastp), "%s", entry);
        } else {
            snprintf(entry, sizeof(entry), "%s", key);
        }
        if (token[0] && strcmp(entry, token) <= 0)
            continue;
        if (n == max) {
            truncated = 1;
            break;
        }
        n++;
        snprintf(last, sizeof(last), "%s", entry);
        if (is_prefix) {
            st_buf_printf(&items, "<CommonPrefixes><Prefix>");
            xml_key(&items, entry, url);
            st_buf_printf(&items, "</Prefix></CommonPrefixes>");
        } else {
            st_buf_printf(&items, "<Contents><Key>");
            xml_key(&items, entry, url);
            st_buf_printf(&items,
                          "</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"
                          "\"x\"</ETag><Size>%zu</Size><StorageClass>STANDARD</StorageClass>"
                          "</Contents>",
                          F.objs[i].len);
        }
    }
    st_buf_printf(&out,
                  "<?xml version='1.0' encoding='UTF-8'?>\n<ListBucketResult "
                  "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bkt</Name><Prefix>");
    xml_key(&out, prefix, url);
    st_buf_printf(&out, "</Prefix>");
    if (truncated)
        st_buf_printf(&out, "<NextContinuationToken>%s</NextContinuationToken>", last);
    st_buf_printf(&out, "<KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>", n, max);
    if (delim[0])
        st_buf_printf(&out, "<Delimiter>%s</Delimiter>", delim);
    st_buf_printf(&out, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
    if (items.len)
        st_buf_append(&out, items.p, items.len);
    if (url)
        st_buf_printf(&out, "<EncodingType>url</EncodingType>");
    st_buf_printf(&out, "</ListBucketResult>");
    if (truncate) {
        char hh[256];
        int hn =
            snprintf(hh, sizeof(hh), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", out.len);
        send_all(fd, hh, (size_t)hn);
        send_all(fd, out.p, out.len / 2);
    } else {
        reply(fd, 200, "Content-Type: application/xml\r\n", out.p, out.len);
    }
    st_buf_release(&items);
    st_buf_release(&out);
}

static void do_sts(int fd, const uint8_t *body, size_t len)
{
    char *form = strndup((const char *)body, len), tok[512] = "", act[64] = "";
    qparam(form, "WebIdentityToken", tok, sizeof(tok));
    qparam(form, "Action", act, sizeof(act));
    free(form);
    F.sts_calls++;
    if (F.sts_fail || strcmp(tok, F.sts_token) != 0 ||
        strcmp(act, "AssumeRoleWithWebIdentity") != 0) {
        const char *e = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                        "<Message>Not authorized to perform sts:AssumeRoleWithWebIdentity"
                        "</Message></Error><RequestId>sts-1</RequestId></ErrorResponse>";
        reply(fd, 403, "Content-Type: text/xml\r\n", e, strlen(e));
        return;
    }
    time_t exp = time(NULL) + F.sts_lifetime_s;
    struct tm tm;
    gmtime_r(&exp, &tm);
    char iso[32], b[1024];
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(b, sizeof(b),
                     "<AssumeRoleWithWebIdentityResponse "
                     "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                     "<AssumeRoleWithWebIdentityResult><Credentials>"
                     "<AccessKeyId>ASIAFAKE%d</AccessKeyId><SecretAccessKey>secret%d"
                     "</SecretAccessKey><SessionToken>token%d</SessionToken>"
                     "<Expiration>%s</Expiration></Credentials>"
                     "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
                     F.sts_calls, F.sts_calls, F.sts_calls, iso);
    reply(fd, 200, "Content-Type: text/xml\r\n", b, (size_t)n);
}

/* One request on c; returns 0 to keep the connection, -1 to close it. */
static int serve_one(conn *c)
{
    ssize_t head = read_head(c);
    if (head < 0)
        return -2;
    char *h = strndup(c->buf, (size_t)head);
    char method[16], target[4096];
    if (sscanf(h, "%15s %4095s", method, target) != 2) {
        free(h);
        return -2;
    }
    char v[512];
    size_t clen = header(h, "content-length", v, sizeof(v)) ? strtoul(v, NULL, 10) : 0;
    int expect = header(h, "expect", v, sizeof(v)) != NULL;
    char range[128] = "";
    header(h, "range", range, sizeof(range));

    pthread_mutex_lock(&F.mu);
    F.requests++;
    if (++F.in_flight > F.max_in_flight)
        F.max_in_flight = F.in_flight;
    rule ru = {0};
    for (int i = 0; i < F.nrules; i++) {
        rule *r = &F.rules[i];
        if (r->times == 0 || (strcmp(r->method, "*") != 0 && strcmp(r->method, method) != 0) ||
            !strstr(target, r->match))
            continue;
        if (r->times > 0)
            r->times--;
        ru = *r;
        break;
    }
    const char *auth = header(h, "authorization", v, sizeof(v));
    if (auth) {
        const char *cr = strstr(auth, "Credential=");
        if (cr) {
            size_t n = strcspn(cr + 11, "/");
            snprintf(F.last_ak, sizeof(F.last_ak), "%.*s", (int)n, cr + 11);
        }
    }
    if (strcmp(method, "PUT") == 0) {
        if (!header(h, "if-none-match", F.last_if_none_match, sizeof(F.last_if_none_match)))
            F.last_if_none_match[0] = '\0';
        if (!header(h, "if-match", F.last_if_match, sizeof(F.last_if_match)))
            F.last_if_match[0] = '\0';
    }
    if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        char mb[128];
        snprintf(F.last_meta, sizeof(F.last_meta), "%s",
                 header(h, "x-amz-meta-team", mb, sizeof(mb)) ? mb : "");
        snprintf(F.last_class, sizeof(F.last_class), "%s",
                 header(h, "x-amz-storage-class", mb, sizeof(mb)) ? mb : "");
    }
    char tokbuf[128];
    const char *tok = header(h, "x-amz-security-token", tokbuf, sizeof(tokbuf));
    snprintf(F.last_token, sizeof(F.last_token), "%s", tok ? tok : "");
    /* a session token must belong to the access key it came with (ASIAFAKEn / tokenn) */
    if (tok && strncmp(F.last_ak, "ASIAFAKE", 8) == 0 && strcmp(tok + 5, F.last_ak + 8) != 0)
        F.token_mismatch++;
    pthread_mutex_unlock(&F.mu);
    free(h);

    if (ru.act == A_STATUS && expect) {
        /* refuse before the body, as S3 does with Expect: 100-continue */
        pthread_mutex_lock(&F.mu);
        reply_error(c->fd, ru.status, ru.code, strcmp(method, "HEAD") == 0);
        pthread_mutex_unlock(&F.mu);
        return -1;
    }
    if (expect)
        send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    uint8_t *body = malloc(clen + 1);
    if (ru.act == A_RESET_MID_BODY) {
        read_body(c, (size_t)head, body, clen / 2);
        free(body);
        hard_reset(c->fd);
        return -1;
    }
    if (read_body(c, (size_t)head, body, clen)) {
        free(body);
        return -1;
    }
    if (ru.act == A_RESET) {
        free(body);
        hard_reset(c->fd);
        return -1;
    }
    if (ru.act == A_DELAY)
        usleep((useconds_t)ru.status * 1000);
    if (ru.act == A_STALL) {
        free(body);
        for (int i = 0; i < ru.status / 10 && !F.stop; i++)
            usleep(10000);
        return -1;
    }

    char path[4096], *q = strchr(target, '?');
    snprintf(path, sizeof(path), "%.*s", (int)(q ? q - target : (long)strlen(target)), target);
    pct_decode(path);
    const char *query = q ? q + 1 : "";
    int keep = 0;
    pthread_mutex_lock(&F.mu);
    if (ru.act == A_STATUS) {
        reply_error(c->fd, ru.status, ru.code, strcmp(method, "HEAD") == 0);
        keep = 0;
        free(body);
        goto out;
    }
    if (strcmp(path, "/sts") == 0) {
        do_sts(c->fd, body, clen);
        free(body);
        goto out;
    }
    if (strncmp(path, "/bkt", 4) != 0) {
        reply_error(c->fd, 404, "NoSuchBucket", 0);
        free(body);
        goto out;
    }
    const char *key = path[4] == '/' ? path + 5 : "";
    char qv[1024];
    if (!*key && strcmp(method, "GET") == 0) {
        F.lists++;
        do_list(c->fd, query, ru.act == A_TRUNCATE);
        keep = ru.act == A_TRUNCATE ? -1 : 0;
        free(body);
    } else if (strcmp(method, "PUT") == 0 && qparam(query, "partNumber", qv, sizeof(qv))) {
        int num = atoi(qv);
        qparam(query, "uploadId", qv, sizeof(qv));
        fupload *u = NULL;
        for (int i = 0; i < F.nups; i++)
            if (strcmp(F.ups[i].id, qv) == 0)
                u = &F.ups[i];
        F.part_puts++;
        if (!u) {
            reply_error(c->fd, 404, "NoSuchUpload", 0);
            free(body);
        } else {
            u->parts[u->nparts++] = (fpart){num, body, clen};
            char et[64];
            snprintf(et, sizeof(et), "ETag: \"etag-%d-%zu\"\r\n", num, clen);
            reply(c->fd, 200, et, NULL, 0);
        }
    } else if (strcmp(method, "PUT") == 0) {
        fobj *o = find_obj(key, NULL);
        char cur[24] = "", et[64];
        if (o)
            fake_etag(o->data, o->len, cur);
        if ((F.last_if_none_match[0] && o) ||
            (F.last_if_match[0] && o && strcmp(F.last_if_match, cur) != 0)) {
            reply_error(c->fd, 412, "PreconditionFailed", 0);
            free(body);
        } else if (F.last_if_match[0] && !o) {
            reply_error(c->fd, 404, "NoSuchKey", 0);
            free(body);
        } else {
            F.puts++;
            fake_etag(body, clen, cur);
            store_obj(key, body, clen);
            snprintf(et, sizeof(et), "ETag: %s\r\n", cur);
            reply(c->fd, 200, et, NULL, 0);
        }
    } else if (strcmp(method, "POST") == 0 && qparam(query, "uploads", qv, sizeof(qv))) {
        fupload *u = &F.ups[F.nups++];
        memset(u, 0, sizeof(*u));
        snprintf(u->id, sizeof(u->id), "up/%d+=", ++F.upload_seq);
        u->key = strdup(key);
        char b[512];
        int n = snprintf(b, sizeof(b),
                         "<?xml version='1.0' encoding='UTF-8'?>\n<InitiateMultipartUploadResult "
                         "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>bkt</Bucket>"
                         "<Key>k</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>",
                         u->id);
        reply(c->fd, 200, NULL, b, (size_t)n);
        free(body);
    } else if ((strcmp(method, "POST") == 0 || strcmp(method, "DELETE") == 0) &&
               qparam(query, "uploadId", qv, sizeof(qv))) {
        int ui = -1;
        for (int i = 0; i < F.nups; i++)
            if (strcmp(F.ups[i].id, qv) == 0)
                ui = i;
        if (ui < 0) {
            reply_error(c->fd, 404, "NoSuchUpload", 0);
        } else if (strcmp(method, "POST") == 0 && ru.act == A_ERROR_IN_200) {
            const char *e = "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>InternalError"
                            "</Code><Message>We encountered an internal error.</Message></Error>";
            reply(c->fd, 200, NULL, e, strlen(e));
        } else {
            fupload *u = &F.ups[ui];
            int done = strcmp(method, "DELETE") == 0;
            if (strcmp(method, "POST") == 0) {
                /* assemble the parts in the order the body lists them */
                size_t total = 0;
                for (int i = 0; i < u->nparts; i++)
                    total += u->parts[i].len;
                uint8_t *all = malloc(total + 1);
                size_t off = 0;
                body[clen] = 0;
                int ok = 1;
                for (const char *p = strstr((char *)body, "<PartNumber>"); p;
                     p = strstr(p + 1, "<PartNumber>")) {
                    int num = atoi(p + 12);
                    fpart *fp = NULL;
                    for (int i = 0; i < u->nparts; i++)
                        if (u->parts[i].num == num)
                            fp = &u->parts[i];
                    if (!fp) {
                        ok = 0;
                        break;
                    }
                    memcpy(all + off, fp->data, fp->len);
                    off += fp->len;
                }
                if (ok) {
                    store_obj(u->key, all, off);
                    F.completes++;
                    done = 1;
                    const char *r = "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
                                    "</CompleteMultipartUploadResult>";
                    reply(c->fd, 200, NULL, r, strlen(r));
                } else {
                    free(all);
                    reply_error(c->fd, 400, "InvalidPart", 0);
                }
            } else {
                F.aborts++;
                reply(c->fd, 204, NULL, NULL, 0);
            }
            if (done) {
                for (int i = 0; i < u->nparts; i++)
                    free(u->parts[i].data);
                free(u->key);
                F.ups[ui] = F.ups[--F.nups];
            }
        }
        free(body);
    } else if (strcmp(method, "DELETE") == 0) {
        del_obj(key);
        reply(c->fd, 204, NULL, NULL, 0);
        free(body);
    } else if (strcmp(method, "HEAD") == 0 || strcmp(method, "GET") == 0) {
        int head_only = strcmp(method, "HEAD") == 0;
        head_only ? F.heads++ : F.gets++;
        fobj *o = find_obj(key, NULL);
        free(body);
        if (!o) {
            if (head_only)
                reply(c->fd, 404, NULL, NULL, 0);
            else
                reply_error(c->fd, 404, "NoSuchKey", 0);
            goto out;
        }
        unsigned long long a = 0, b = o->len ? o->len - 1 : 0;
        int ranged = 0;
        if (range[0] && ru.act != A_IGNORE_RANGE) {
            if (sscanf(range, "bytes=%llu-%llu", &a, &b) == 2 ||
                sscanf(range, "bytes=%llu-", &a) == 1)
                ranged = 1;
            if (b >= o->len)
                b = o->len - 1;
            if (a >= o->len) {
                char cr[64];
                snprintf(cr, sizeof(cr), "Content-Range: bytes */%zu\r\n", o->len);
                reply(c->fd, 416, cr, NULL, 0);
                goto out;
            }
        }
        if (ru.act == A_SHORT_RANGE && b > a)
            b = a + (b - a) / 2;
        size_t n = (size_t)(b - a + 1);
        if (o->len == 0)
            n = 0;
        char extra[256], et[24];
        fake_etag(o->data, o->len, et);
        snprintf(extra, sizeof(extra),
                 "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nETag: %s\r\n", et);
        if (ranged)
            snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
                     "Content-Range: bytes %llu-%llu/%zu\r\n", a, b, o->len);
        if (head_only) {
            char hh[512];
            int hn = snprintf(hh, sizeof(hh), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n",
                              o->len, extra);
            send_all(c->fd, hh, (size_t)hn);
        } else if (ru.act == A_TRUNCATE || ru.act == A_NO_LENGTH) {
            char hh[512];
            int hn =
                ru.act == A_TRUNCATE
                    ? snprintf(hh, sizeof(hh), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n",
                               ranged ? 206 : 200, n, extra)
                    : snprintf(hh, sizeof(hh), "HTTP/1.1 %d X\r\nConnection: close\r\n%s\r\n",
                               ranged ? 206 : 200, extra);
            send_all(c->fd, hh, (size_t)hn);
            send_all(c->fd, o->data + a, n / 2);
            keep = -1;
            goto out;
        } else {
            reply(c->fd, ranged ? 206 : 200, extra, o->data + a, n);
        }
    } else {
        reply_error(c->fd, 400, "NotImplementedInFake", 0);
        free(body);
    }
out:
    pthread_mutex_unlock(&F.mu);
    return keep;
}

static void *conn_thread(void *arg)
{
    conn *c = arg;
    for (;;) {
        if (F.stop)
            break;
        int rc = serve_one(c);
        pthread_mutex_lock(&F.mu);
        if (rc != -2)
            F.in_flight--;
        pthread_mutex_unlock(&F.mu);
        if (rc)
            break;
    }
    pthread_mutex_lock(&F.mu);
    for (int i = 0; i < F.nconn_fds; i++)
        if (F.conn_fds[i] == c->fd)
            F.conn_fds[i] = F.conn_fds[--F.nconn_fds];
    close(c->fd);
    free(c);
    F.live_conns--;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
    return NULL;
}

static void *accept_thread(void *arg)
{
    (void)arg;
    while (!F.stop) {
        struct pollfd p = {F.lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(F.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        conn *c = calloc(1, sizeof(*c));
        c->fd = fd;
        pthread_mutex_lock(&F.mu);
        F.live_conns++;
        F.accepts++;
        if (F.nconn_fds < 256)
            F.conn_fds[F.nconn_fds++] = fd;
        pthread_mutex_unlock(&F.mu);
        pthread_t t;
        pthread_create(&t, NULL, conn_thread, c);
        pthread_detach(t);
    }
    return NULL;
}

static int fake_start(void **state)
{
    (void)state;
    pthread_mutex_init(&F.mu, NULL);
    pthread_cond_init(&F.cv, NULL);
    F.lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(F.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(F.lfd, (struct sockaddr *)&a, sizeof(a)) || listen(F.lfd, 64))
        return -1;
    socklen_t al = sizeof(a);
    getsockname(F.lfd, (struct sockaddr *)&a, &al);
    F.port = ntohs(a.sin_port);
    F.sts_lifetime_s = 3600;
    snprintf(F.sts_token, sizeof(F.sts_token), "eyJ.fake-jwt.sig");
    return pthread_create(&F.thr, NULL, accept_thread, NULL);
}

static int fake_stop(void **state)
{
    (void)state;
    F.stop = 1;
    pthread_join(F.thr, NULL);
    pthread_mutex_lock(&F.mu);
    for (int i = 0; i < F.nconn_fds; i++)
        shutdown(F.conn_fds[i], SHUT_RDWR);
    while (F.live_conns > 0)
        pthread_cond_wait(&F.cv, &F.mu);
    pthread_mutex_unlock(&F.mu);
    close(F.lfd);
    clear_objs();
    free(F.objs);
    for (int i = 0; i < F.nups; i++) {
        for (int j = 0; j < F.ups[i].nparts; j++)
            free(F.ups[i].parts[j].data);
        free(F.ups[i].key);
    }
    return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static objstore *open_yaml(const char *extra, st_err *err)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "type: S3\nconfig:\n  bucket: bkt\n  endpoint: 127.0.0.1:%d\n  insecure: true\n"
             "  bucket_lookup_type: path\n  http_config:\n    response_header_timeout: 1s\n%s",
             F.port, extra ? extra : "  access_key: AKFAKE\n  secret_key: SKFAKE\n");
    objstore *s = NULL;
    if (objstore_open_yaml(&s, y, strlen(y), "test.yml", err))
        return NULL;
    s3_retry_policy p = {
        .base_ms = 5, .cap_ms = 40, .deadline_ms = 10000, .max_attempts = 4, .part_threads = 3};
    s3_set_retry_policy(s, &p);
    return s;
}

static objstore *open_default(void)
{
    st_err err;
    st_err_init(&err);
    objstore *s = open_yaml(NULL, &err);
    if (!s)
        fail_msg("open: %s", err.msg);
    return s;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

static void seed_object(objstore *s, const char *key, const uint8_t *data, size_t n)
{
    st_err err;
    st_err_init(&err);
    if (objstore_put(s, key, data, n, &err))
        fail_msg("seed %s: %s", key, err.msg);
}

static s3_stats stats(objstore *s)
{
    s3_stats st;
    memset(&st, 0, sizeof(st));
    assert_true(s3_get_stats(s, &st));
    return st;
}

static double now_s(void)
{
    return (double)st_mono_ns() / 1e9;
}

/* ---- reads ---------------------------------------------------------------------------------- */

/* A GET whose first attempts fail in the given way succeeds with exact bytes after retries. */
static void faults__reads_retry_through_transient_failures(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int act, status, times;
        const char *code;
    } cases[] = {
        {"503 SlowDown", A_STATUS, 503, 1, "SlowDown"},
        {"429 Too Many Requests", A_STATUS, 429, 2, "TooManyRequests"},
        {"500 InternalError", A_STATUS, 500, 1, "InternalError"},
        {"400 RequestTimeout", A_STATUS, 400, 1, "RequestTimeout"},
        {"connection reset before the answer", A_RESET, 0, 2, NULL},
        {"truncated body", A_TRUNCATE, 0, 2, NULL},
        {"body without a length, cut short", A_NO_LENGTH, 0, 1, NULL},
        {"stall past the response timeout", A_STALL, 2500, 1, NULL},
    };
    static uint8_t data[100000];
    fill(data, sizeof(data), 1);
    objstore *s = open_default();
    seed_object(s, "r/obj", data, sizeof(data));
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        fake_reset_counters();
        fake_rule("GET", "/bkt/r/obj", cases[i].times, cases[i].act, cases[i].status,
                  cases[i].code);
        s3_stats before = stats(s);
        st_buf b;
        st_buf_init(&b, 0);
        st_err err;
        st_err_init(&err);
        double t0 = now_s();
        int rc = objstore_get(s, "r/obj", &b, 0, &err);
        if (rc)
            fail_msg("%s: %s", cases[i].name, err.msg);
        if (b.len != sizeof(data) || memcmp(b.p, data, b.len) != 0)
            fail_msg("%s: wrong bytes (%zu)", cases[i].name, b.len);
        s3_stats after = stats(s);
        /* every fault reached the server; libcurl itself may resend a request once when a
         * reused connection dies before the answer, so count at the server */
        pthread_mutex_lock(&F.mu);
        int reqs = F.requests;
        pthread_mutex_unlock(&F.mu);
        if (reqs != cases[i].times + 1 || after.retries - before.retries > (uint64_t)cases[i].times)
            fail_msg("%s: %d requests and %llu retries for %d faults", cases[i].name, reqs,
                     (unsigned long long)(after.retries - before.retries), cases[i].times);
        if (cases[i].act == A_STALL && now_s() - t0 > 4.0)
            fail_msg("%s: took %.1f s", cases[i].name, now_s() - t0);
        st_buf_release(&b);
    }
    objstore_free(s);
}

static void faults__ranges_retry_and_survive_odd_servers(void **state)
{
    (void)state;
    static uint8_t data[50000];
    fill(data, sizeof(data), 2);
    objstore *s = open_default();
    seed_object(s, "r/range", data, sizeof(data));
    static const struct {
        const char *name;
        int act, times;
        uint64_t off, len;
    } cases[] = {
        {"truncated 206", A_TRUNCATE, 1, 1000, 20000},
        {"206 shorter than asked", A_SHORT_RANGE, 1, 100, 30000},
        {"server ignores Range", A_IGNORE_RANGE, 1, 777, 1234},
        {"server ignores Range near the end", A_IGNORE_RANGE, 1, 49990, 100},
        {"reset", A_RESET, 1, 5, 5},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        fake_reset_counters();
        fake_rule("GET", "/bkt/r/range", cases[i].times, cases[i].act, 0, NULL);
        st_buf b;
        st_buf_init(&b, 0);
        st_err err;
        st_err_init(&err);
        if (objstore_get_range(s, "r/range", cases[i].off, cases[i].len, &b, &err))
            fail_msg("%s: %s", cases[i].name, err.msg);
        uint64_t want = ST_MIN(cases[i].len, sizeof(data) - cases[i].off);
        if (b.len != want || memcmp(b.p, data + cases[i].off, b.len) != 0)
            fail_msg("%s: got %zu bytes, wanted %llu", cases[i].name, b.len,
                     (unsigned long long)want);
        st_buf_release(&b);
    }
    objstore_free(s);
}

/* A server that keeps failing: a clear ST_ETRANSIENT after the attempts run out, the buffer
 * untouched, never a short read. */
static void faults__persistent_read_failures_are_clear_errors_never_short_reads(void **state)
{
    (void)state;
    static uint8_t data[40000];
    fill(data, sizeof(data), 3);
    objstore *s = open_default();
    seed_object(s, "r/bad", data, sizeof(data));
    static const struct {
        const char *name;
        int act, status;
        const char *code, *in_msg;
        int range;
    } cases[] = {
        {"always truncated", A_TRUNCATE, 0, NULL, "partial", 0},
        {"always truncated range", A_TRUNCATE, 0, NULL, "partial", 1},
        {"always a short 206", A_SHORT_RANGE, 0, NULL, "short range", 1},
        {"always without length", A_NO_LENGTH, 0, NULL, "Content-Length", 0},
        {"always 503", A_STATUS, 503, "SlowDown", "HTTP 503 SlowDown", 0},
        {"always reset", A_RESET, 0, NULL, "gave up after 4 attempts", 0},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        fake_reset_counters();
        fake_rule("GET", "/bkt/r/bad", -1, cases[i].act, cases[i].status, cases[i].code);
        st_buf b;
        st_buf_init(&b, 0);
        st_buf_append(&b, "keep", 4);
        st_err err;
        st_err_init(&err);
        int rc = cases[i].range ? objstore_get_range(s, "r/bad", 100, 30000, &b, &err)
                                : objstore_get(s, "r/bad", &b, 0, &err);
        if (rc != ST_ETRANSIENT)
            fail_msg("%s: rc %d (%s)", cases[i].name, rc, err.msg);
        assert_int_equal(objstore_err_class(rc), OBJSTORE_CLASS_RETRY);
        if (!strstr(err.msg, cases[i].in_msg) || !strstr(err.msg, "s3://bkt") ||
            !strstr(err.msg, "r/bad") || !strstr(err.msg, "gave up after 4 attempts"))
            fail_msg("%s: unclear message: %s", cases[i].name, err.msg);
        assert_int_equal(b.len, 4); /* nothing half-read left behind */
        /* max_attempts (4), then a clear error; libcurl may resend once on a dead reused
         * connection */
        pthread_mutex_lock(&F.mu);
        int reqs = F.requests;
        pthread_mutex_unlock(&F.mu);
        if (reqs < 4 || reqs > 8)
            fail_msg("%s: %d requests", cases[i].name, reqs);
        st_buf_release(&b);
    }
    objstore_free(s);
}

static void faults__get_file_retries_and_leaves_nothing_on_failure(void **state)
{
    (void)state;
    static uint8_t data[300000];
    fill(data, sizeof(data), 4);
    objstore *s = open_default();
    seed_object(s, "f/obj", data, sizeof(data));
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/sub/out.bin", dir);
    fake_reset_counters();
    fake_rule("GET", "/bkt/f/obj", 1, A_TRUNCATE, 0, NULL);
    st_err err;
    st_err_init(&err);
    if (objstore_get_file(s, "f/obj", path, &err))
        fail_msg("get_file: %s", err.msg);
    size_t n;
    uint8_t *back = tu_read(path, &n);
    assert_int_equal(n, sizeof(data));
    assert_memory_equal(back, data, n);
    free(back);
    /* persistent failure: the old file stays as it was and no temp file is left */
    fake_rule("GET", "/bkt/f/obj", -1, A_TRUNCATE, 0, NULL);
    st_err_init(&err);
    assert_int_equal(objstore_get_file(s, "f/obj", path, &err), ST_ETRANSIENT);
    back = tu_read(path, &n);
    assert_int_equal(n, sizeof(data));
    free(back);
    assert_int_equal(tu_system("test \"$(ls -A '%s/sub' | wc -l)\" = 1", dir), 0);
    tu_tmpdir_free(dir);
    objstore_free(s);
}

/* ---- writes --------------------------------------------------------------------------------- */

static void faults__puts_retry_and_rewind_their_body(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int act, status, times;
        const char *code;
        size_t size;
    } cases[] = {
        {"503 SlowDown", A_STATUS, 503, 2, "SlowDown", 1000},
        {"500 before a 2 MiB body (Expect: 100-continue)", A_STATUS, 500, 1, "InternalError",
         2u << 20},
        {"reset in the middle of the body", A_RESET_MID_BODY, 0, 1, NULL, 3u << 20},
        {"reset after the body", A_RESET, 0, 1, NULL, 5000},
        {"stall after the body", A_STALL, 2500, 1, NULL, 5000},
    };
    objstore *s = open_default();
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        uint8_t *data = malloc(cases[i].size);
        fill(data, cases[i].size, (unsigned)i + 10);
        fake_reset_counters();
        fake_rule("PUT", "/bkt/w/obj", cases[i].times, cases[i].act, cases[i].status,
                  cases[i].code);
        st_err err;
        st_err_init(&err);
        if (objstore_put(s, "w/obj", data, cases[i].size, &err))
            fail_msg("%s: %s", cases[i].name, err.msg);
        pthread_mutex_lock(&F.mu);
        fobj *o = find_obj("w/obj", NULL);
        int ok = o && o->len == cases[i].size && memcmp(o->data, data, o->len) == 0;
        int puts = F.puts;
        pthread_mutex_unlock(&F.mu);
        if (!ok)
            fail_msg("%s: stored object differs", cases[i].name);
        assert_int_equal(puts, 1); /* only the good attempt stored anything */
        free(data);
    }
    objstore_free(s);
}

static void faults__auth_and_missing_bucket_fail_at_once(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int status;
        const char *code;
        int rc;
        const char *in_msg;
    } cases[] = {
        {"wrong secret", 403, "SignatureDoesNotMatch", ST_EAUTH, "signature does not match"},
        {"access denied", 403, "AccessDenied", ST_EAUTH, "access denied"},
        {"unknown key", 403, "InvalidAccessKeyId", ST_EAUTH, "InvalidAccessKeyId"},
        {"wrong region", 400, "AuthorizationHeaderMalformed", ST_EAUTH, "region"},
        {"no bucket", 404, "NoSuchBucket", ST_ENOTFOUND, "bucket does not exist"},
        {"bad request", 400, "InvalidArgument", ST_EINVAL, "HTTP 400 InvalidArgument"},
    };
    objstore *s = open_default();
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        fake_reset_counters();
        fake_rule("*", "/bkt", -1, A_STATUS, cases[i].status, cases[i].code);
        s3_stats before = stats(s);
        st_buf b;
        st_buf_init(&b, 0);
        st_err err;
        st_err_init(&err);
        double t0 = now_s();
        int rc = objstore_get(s, "a/b", &b, 0, &err);
        if (rc != cases[i].rc || !strstr(err.msg, cases[i].in_msg) || !strstr(err.msg, "a/b") ||
            !strstr(err.msg, cases[i].code))
            fail_msg("%s: rc %d: %s", cases[i].name, rc, err.msg);
        s3_stats after = stats(s);
        assert_int_equal(after.requests - before.requests, 1);
        assert_true(now_s() - t0 < 1.0);
        assert_null(strstr(err.msg, "SKFAKE"));
        /* listing and putting fail the same way */
        st_err_init(&err);
        assert_int_equal(objstore_put(s, "a/b", "x", 1, &err), cases[i].rc);
        st_buf_release(&b);
    }
    /* HEAD answers have no body: a 403 still names the likely causes */
    fake_reset_counters();
    fake_rule("HEAD", "/bkt", -1, A_STATUS, 403, "SignatureDoesNotMatch");
    objstore_attrs a;
    st_err err;
    st_err_init(&err);
    assert_int_equal(objstore_attributes(s, "a/b", &a, &err), ST_EAUTH);
    fake_reset_counters();
    objstore_free(s);
}

static void faults__deadline_stops_retrying(void **state)
{
    (void)state;
    objstore *s = open_default();
    s3_retry_policy p = {
        .base_ms = 100, .cap_ms = 400, .deadline_ms = 500, .max_attempts = 50, .part_threads = 2};
    s3_set_retry_policy(s, &p);
    fake_reset_counters();
    fake_rule("*", "/bkt", -1, A_STATUS, 503, "SlowDown");
    st_err err;
    st_err_init(&err);
    double t0 = now_s();
    assert_int_equal(objstore_put(s, "d/x", "x", 1, &err), ST_ETRANSIENT);
    double took = now_s() - t0;
    if (took > 1.0 || !strstr(err.msg, "gave up after"))
        fail_msg("took %.2f s: %s", took, err.msg);
    pthread_mutex_lock(&F.mu);
    int reqs = F.requests;
    pthread_mutex_unlock(&F.mu);
    assert_true(reqs >= 2 && reqs < 10);
    fake_reset_counters();
    objstore_free(s);
}

/* ---- multipart ------------------------------------------------------------------------------ */

static objstore *open_multipart(void)
{
    st_err err;
    st_err_init(&err);
    objstore *s =
        open_yaml("  access_key: AKFAKE\n  secret_key: SKFAKE\n  part_size: 1048576\n", &err);
    if (!s)
        fail_msg("open: %s", err.msg);
    return s;
}

static void faults__multipart_retries_a_failed_part(void **state)
{
    (void)state;
    size_t n = (5u << 20) + 12345; /* 6 parts of 1 MiB */
    uint8_t *data = malloc(n);
    fill(data, n, 20);
    objstore *s = open_multipart();
    fake_reset_counters();
    fake_rule("PUT", "partNumber=2&", 1, A_STATUS, 503, "SlowDown");
    fake_rule("PUT", "partNumber=4&", 1, A_RESET_MID_BODY, 0, NULL);
    fake_rule("POST", "uploadId=", 1, A_ERROR_IN_200, 0, NULL);
    st_err err;
    st_err_init(&err);
    s3_stats before = stats(s);
    if (objstore_put(s, "m/obj", data, n, &err))
        fail_msg("multipart put: %s", err.msg);
    s3_stats after = stats(s);
    assert_int_equal(after.parts - before.parts, 6);
    assert_int_equal(after.multiparts - before.multiparts, 1);
    assert_int_equal(after.retries - before.retries, 3);
    assert_true(after.max_in_use >= 2); /* parts went up in parallel */
    st_buf b;
    st_buf_init(&b, 0);
    if (objstore_get(s, "m/obj", &b, 0, &err))
        fail_msg("get: %s", err.msg);
    assert_int_equal(b.len, n);
    assert_true(memcmp(b.p, data, n) == 0);
    {
        counts c = fake_counts();
        assert_int_equal(c.completes, 1);
        assert_int_equal(c.aborts, 0);
        assert_int_equal(c.nups, 0);
    }
    st_buf_release(&b);
    free(data);
    objstore_free(s);
}

static void faults__multipart_failure_aborts_the_upload(void **state)
{
    (void)state;
    size_t n = (4u << 20) + 1;
    uint8_t *data = malloc(n);
    fill(data, n, 21);
    objstore *s = open_multipart();
    static const struct {
        const char *name, *method, *match, *in_msg;
        int status;
        const char *code;
    } cases[] = {
        {"a part keeps failing", "PUT", "partNumber=3&", "upload part 3 of 5", 500,
         "InternalError"},
        {"a part is refused", "PUT", "partNumber=5&", "upload part 5 of 5", 400, "InvalidArgument"},
        {"complete is refused", "POST", "uploadId=", "complete multipart upload", 400,
         "EntityTooSmall"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        fake_reset_counters();
        fake_rule(cases[i].method, cases[i].match, -1, A_STATUS, cases[i].status, cases[i].code);
        st_err err;
        st_err_init(&err);
        s3_stats before = stats(s);
        int rc = objstore_put(s, "m/fail", data, n, &err);
        if (!rc || !strstr(err.msg, cases[i].in_msg) || !strstr(err.msg, "m/fail") ||
            !strstr(err.msg, cases[i].code))
            fail_msg("%s: rc %d: %s", cases[i].name, rc, err.msg);
        if (!strstr(err.msg, "multipart upload aborted"))
            fail_msg("%s: %s", cases[i].name, err.msg);
        s3_stats after = stats(s);
        assert_int_equal(after.aborts - before.aborts, 1);
        assert_int_equal(after.multiparts - before.multiparts, 0);
        {
            counts c = fake_counts();
            assert_int_equal(c.aborts, 1);
            assert_int_equal(c.nups, 0); /* nothing left on the server */
            assert_null(find_obj("m/fail", NULL));
        }
    }
    fake_reset_counters();
    free(data);
    objstore_free(s);
}

static void config__max_retries_disable_multipart_and_metadata_take_effect(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    /* max_retries: 1 means two attempts (no test override of the policy here) */
    char y[1024];
    snprintf(y, sizeof(y),
             "type: S3\nconfig:\n  bucket: bkt\n  endpoint: 127.0.0.1:%d\n  insecure: true\n"
             "  access_key: AKFAKE\n  secret_key: SKFAKE\n  max_retries: 1\n"
             "  part_size: 1048576\n  disable_multipart: true\n"
             "  put_user_metadata:\n    team: observability\n"
             "    X-Amz-Storage-Class: STANDARD_IA\n",
             F.port);
    objstore *s = NULL;
    if (objstore_open_yaml(&s, y, strlen(y), "cfg.yml", &err))
        fail_msg("open: %s", err.msg);
    fake_reset_counters();
    fake_rule("PUT", "/bkt/cfg/x", -1, A_STATUS, 503, "SlowDown");
    assert_int_equal(objstore_put(s, "cfg/x", "x", 1, &err), ST_ETRANSIENT);
    assert_non_null(strstr(err.msg, "gave up after 2 attempts"));
    counts c = fake_counts();
    assert_int_equal(c.requests, 2);
    /* 3 MiB over a 1 MiB part size, but multipart is disabled: one PUT, with the metadata */
    fake_reset_counters();
    size_t n = 3u << 20;
    uint8_t *data = calloc(1, n);
    st_err_init(&err);
    if (objstore_put(s, "cfg/big", data, n, &err))
        fail_msg("put: %s", err.msg);
    c = fake_counts();
    assert_int_equal(c.puts, 1);
    assert_int_equal(c.part_puts, 0);
    assert_string_equal(c.last_meta, "observability");
    assert_string_equal(c.last_class, "STANDARD_IA");
    free(data);
    objstore_free(s);
    fake_reset_counters();
}

/* ---- listing -------------------------------------------------------------------------------- */

typedef struct names {
    char **v;
    size_t n;
} names;

static int collect(void *ctx, const char *key, int is_prefix)
{
    names *l = ctx;
    (void)is_prefix;
    l->v = realloc(l->v, (l->n + 1) * sizeof(char *));
    l->v[l->n++] = strdup(key);
    return 0;
}

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void faults__listing_pages_retry_and_stay_in_order(void **state)
{
    (void)state;
    objstore *s = open_default();
    pthread_mutex_lock(&F.mu);
    for (int i = 0; i < 2500; i++) {
        char k[64];
        snprintf(k, sizeof(k), "l/%s%04d", i % 3 ? "k" : "d/", i);
        if (i % 3 == 0)
            snprintf(k, sizeof(k), "l/d%04d/x", i);
        store_obj(k, (uint8_t *)strdup("v"), 1);
    }
    store_obj("l/with space+plus%", (uint8_t *)strdup("v"), 1);
    pthread_mutex_unlock(&F.mu);
    fake_reset_counters();
    fake_rule("GET", "continuation-token=", 1, A_STATUS, 503, "SlowDown");
    fake_rule("GET", "list-type=2", 1, A_TRUNCATE, 0, NULL);
    names l = {0};
    st_err err;
    st_err_init(&err);
    if (objstore_iter(s, "l/", 0, collect, &l, &err))
        fail_msg("iter: %s", err.msg);
    assert_int_equal(l.n, 2501);
    for (size_t i = 1; i < l.n; i++)
        if (strcmp(l.v[i - 1], l.v[i]) >= 0)
            fail_msg("order: %s then %s", l.v[i - 1], l.v[i]);
    int found = 0;
    for (size_t i = 0; i < l.n; i++)
        found |= strcmp(l.v[i], "l/with space+plus%") == 0;
    assert_true(found);
    {
        counts c = fake_counts();
        assert_int_equal(c.lists, 3 + 1); /* three pages, one 503 (the truncated one counts too) */
    }
    names_free(&l);
    /* a listing that keeps failing is an error, and no entry is invented */
    fake_reset_counters();
    fake_rule("GET", "list-type=2", -1, A_TRUNCATE, 0, NULL);
    st_err_init(&err);
    assert_int_equal(objstore_iter(s, "l/", 1, collect, &l, &err), ST_ETRANSIENT);
    assert_int_equal(l.n, 0);
    names_free(&l);
    fake_reset_counters();
    clear_objs();
    objstore_free(s);
}

/* ---- connections ---------------------------------------------------------------------------- */

typedef struct worker {
    objstore *s;
    int id, fails;
    st_err err;
} worker;

static void *get_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 20; i++) {
        st_buf b;
        st_buf_init(&b, 0);
        st_err e;
        st_err_init(&e);
        if (objstore_get(w->s, "c/shared", &b, 0, &e) || b.len != 3000) {
            w->fails++;
            w->err = e;
        }
        st_buf_release(&b);
    }
    return NULL;
}

static void conn__requests_reuse_connections_within_the_concurrency_bound(void **state)
{
    (void)state;
    st_err err;
    st_err_init(&err);
    objstore *s = open_yaml("  access_key: AKFAKE\n  secret_key: SKFAKE\n"
                            "  http_config:\n    max_conns_per_host: 3\n",
                            &err);
    assert_non_null(s);
    uint8_t data[3000];
    fill(data, sizeof(data), 9);
    seed_object(s, "c/shared", data, sizeof(data));
    /* one after the other: one connection, kept alive */
    fake_reset_counters();
    for (int i = 0; i < 20; i++) {
        st_buf b;
        st_buf_init(&b, 0);
        if (objstore_get(s, "c/shared", &b, 0, &err))
            fail_msg("get: %s", err.msg);
        st_buf_release(&b);
        objstore_attrs a;
        if (objstore_attributes(s, "c/shared", &a, &err))
            fail_msg("attributes: %s", err.msg);
    }
    counts c = fake_counts();
    assert_int_equal(c.requests, 40);
    assert_int_equal(c.accepts, 0); /* the connection of the seeding put was reused */
    /* eight threads, at most three requests in flight, connections reused. The bound is never
     * passed in any round; that it is reached depends on the scheduler (on a loaded machine two
     * of the three can finish before the third arrives), so up to three rounds may try. */
    int reached = 0;
    for (int round = 0; round < 3 && !reached; round++) {
        fake_reset_counters(); /* and the rules */
        fake_rule("GET", "/bkt/c/shared", -1, A_DELAY, 10, NULL);
        worker w[8];
        pthread_t t[8];
        for (int i = 0; i < 8; i++) {
            w[i] = (worker){.s = s, .id = i};
            pthread_create(&t[i], NULL, get_worker, &w[i]);
        }
        for (int i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            if (w[i].fails)
                fail_msg("thread %d: %s", i, w[i].err.msg);
        }
        c = fake_counts();
        assert_int_equal(c.requests, 160);
        assert_true(c.max_in_flight <= 3);
        assert_true(c.accepts <= 3);
        reached = c.max_in_flight == 3;
    }
    assert_true(reached);
    s3_stats st = stats(s);
    assert_true(st.max_in_use <= 3);
    printf("# 160 GETs from 8 threads: %d new connections, %d in flight at most\n", c.accepts,
           c.max_in_flight);
    objstore_free(s);
    clear_objs();
}

/* ---- credentials ---------------------------------------------------------------------------- */

static void clear_aws_env(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_STS_ENDPOINT");
    unsetenv("AWS_ROLE_SESSION_NAME");
}

static void creds__config_then_environment(void **state)
{
    (void)state;
    clear_aws_env();
    st_err err;
    st_err_init(&err);
    /* nothing anywhere: a clear error at open */
    assert_null(open_yaml("", &err));
    assert_int_equal(err.code, ST_EAUTH);
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));

    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    st_err_init(&err);
    objstore *s = open_yaml("", &err);
    assert_non_null(s);
    fake_reset_counters();
    assert_int_equal(objstore_put(s, "c/x", "x", 1, &err), 0);
    {
        counts c = fake_counts();
        assert_string_equal(c.last_ak, "AKENV");
        assert_string_equal(c.last_token, "envtoken");
    }
    objstore_free(s);

    /* the config wins over the environment */
    st_err_init(&err);
    s = open_yaml("  access_key: AKCFG\n  secret_key: SKCFG\n", &err);
    assert_non_null(s);
    assert_int_equal(objstore_put(s, "c/x", "x", 1, &err), 0);
    {
        counts c = fake_counts();
        assert_string_equal(c.last_ak, "AKCFG");
        assert_string_equal(c.last_token, "");
    }
    objstore_free(s);

    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    st_err_init(&err);
    assert_null(open_yaml("", &err));
    assert_int_equal(err.code, ST_EAUTH);
    clear_aws_env();
}

typedef struct hammer {
    objstore *s;
    int fails;
    st_err err;
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < 10; i++) {
        st_err e;
        st_err_init(&e);
        if (objstore_put(h->s, "wi/t", "x", 1, &e)) {
            h->fails++;
            h->err = e;
        }
    }
    return NULL;
}

static void creds__web_identity_is_fetched_refreshed_before_expiry_and_shared(void **state)
{
    (void)state;
    clear_aws_env();
    char *dir = tu_tmpdir();
    char tok[4096], sts[128];
    snprintf(tok, sizeof(tok), "%s/token", dir);
    tu_write(tok, "eyJ.fake-jwt.sig\n", 17); /* kubelet writes a trailing newline */
    snprintf(sts, sizeof(sts), "http://127.0.0.1:%d/sts", F.port);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/strata", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok, 1);
    setenv("AWS_STS_ENDPOINT", sts, 1);

    /* long-lived credentials: one STS call for many requests */
    F.sts_lifetime_s = 3600;
    fake_reset_counters();
    st_err err;
    st_err_init(&err);
    objstore *s = open_yaml("", &err);
    if (!s)
        fail_msg("open: %s", err.msg);
    for (int i = 0; i < 5; i++)
        if (objstore_put(s, "wi/a", "x", 1, &err))
            fail_msg("put: %s", err.msg);
    {
        counts c = fake_counts();
        assert_int_equal(c.sts_calls, 1);
        assert_string_equal(c.last_ak, "ASIAFAKE1");
        assert_string_equal(c.last_token, "token1");
    }
    objstore_free(s);

    /* 4 s credentials are refreshed once half their life is gone, before they expire */
    F.sts_lifetime_s = 4;
    fake_reset_counters();
    s = open_yaml("", &err);
    assert_non_null(s);
    assert_int_equal(objstore_put(s, "wi/b", "x", 1, &err), 0);
    assert_int_equal(objstore_put(s, "wi/b", "x", 1, &err), 0);
    {
        counts c = fake_counts();
        assert_int_equal(c.sts_calls, 1);
    }
    usleep(2300 * 1000);
    /* eight threads at once after the half-life: exactly one refresh */
    hammer h[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        h[i].s = s;
        pthread_create(&t[i], NULL, hammer_thread, &h[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (h[i].fails)
            fail_msg("thread %d: %s", i, h[i].err.msg);
    }
    {
        counts c = fake_counts();
        assert_int_equal(c.sts_calls, 2);
        assert_string_equal(c.last_ak, "ASIAFAKE2");
        assert_int_equal(c.token_mismatch, 0);
    }

    /* the server says the session ended early: new credentials at once, one retry */
    F.sts_lifetime_s = 3600;
    fake_reset_counters();
    fake_rule("PUT", "/bkt/wi/c", 1, A_STATUS, 400, "ExpiredToken");
    st_err_init(&err);
    if (objstore_put(s, "wi/c", "x", 1, &err))
        fail_msg("put after ExpiredToken: %s", err.msg);
    {
        counts c = fake_counts();
        assert_int_equal(c.sts_calls, 1);
        assert_string_equal(c.last_ak, "ASIAFAKE1");
    }
    objstore_free(s);

    /* STS refuses: a clear auth error naming STS's answer; the token never shows */
    F.sts_fail = 1;
    fake_reset_counters();
    s = open_yaml("", &err);
    assert_non_null(s);
    st_err_init(&err);
    int rc = objstore_put(s, "wi/d", "x", 1, &err);
    if (rc != ST_EAUTH || !strstr(err.msg, "AccessDenied") ||
        !strstr(err.msg, "assume role with web identity"))
        fail_msg("rc %d: %s", rc, err.msg);
    assert_null(strstr(err.msg, "fake-jwt"));
    objstore_free(s);
    F.sts_fail = 0;

    /* sts_endpoint in the config wins over AWS_STS_ENDPOINT */
    setenv("AWS_STS_ENDPOINT", "http://127.0.0.1:1/nowhere", 1);
    char y[256];
    snprintf(y, sizeof(y), "  sts_endpoint: %s\n", sts);
    fake_reset_counters();
    st_err_init(&err);
    s = open_yaml(y, &err);
    assert_non_null(s);
    if (objstore_put(s, "wi/e", "x", 1, &err))
        fail_msg("put with sts_endpoint: %s", err.msg);
    objstore_free(s);

    /* a missing token file is an auth error naming the variable */
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
    st_err_init(&err);
    s = open_yaml(y, &err);
    assert_non_null(s);
    assert_int_equal(objstore_put(s, "wi/f", "x", 1, &err), ST_EAUTH);
    assert_non_null(strstr(err.msg, "AWS_WEB_IDENTITY_TOKEN_FILE"));
    objstore_free(s);
    fake_reset_counters();
    clear_aws_env();
    tu_tmpdir_free(dir);
}

/* ---- conditional puts ----------------------------------------------------------------------- */

static void last_conditions(char *inm, char *im)
{
    pthread_mutex_lock(&F.mu);
    strcpy(inm, F.last_if_none_match);
    strcpy(im, F.last_if_match);
    pthread_mutex_unlock(&F.mu);
}

static void conditional__headers_go_out_and_412_409_404_are_conflicts(void **state)
{
    (void)state;
    objstore *s = open_default();
    st_err err;
    st_err_init(&err);
    char e1[OBJSTORE_ETAG_MAX], e2[OBJSTORE_ETAG_MAX], got[OBJSTORE_ETAG_MAX], inm[64], im[128];
    objstore_cond absent = {OBJSTORE_IF_ABSENT, NULL};
    fake_reset_counters();
    assert_true(objstore_supports_conditional(s));

    if (objstore_put_if(s, "c/lease", "one", 3, &absent, e1, &err))
        fail_msg("absent on a new key: %s", err.msg);
    last_conditions(inm, im);
    assert_string_equal(inm, "*");
    assert_string_equal(im, "");
    assert_true(e1[0] == '"');

    int rc = objstore_put_if(s, "c/lease", "two", 3, &absent, NULL, &err);
    if (rc != ST_ECONFLICT || !strstr(err.msg, "412 PreconditionFailed"))
        fail_msg("absent on an existing key: rc %d: %s", rc, err.msg);
    assert_int_equal(objstore_err_class(rc), OBJSTORE_CLASS_CONFLICT);

    st_buf b;
    st_buf_init(&b, 0);
    st_err_init(&err);
    if (objstore_get_etag(s, "c/lease", &b, 0, got, &err))
        fail_msg("get_etag: %s", err.msg);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "one", 3); /* the conflict wrote nothing */
    assert_string_equal(got, e1);

    objstore_cond match = {OBJSTORE_IF_MATCH, e1};
    if (objstore_put_if(s, "c/lease", "three", 5, &match, e2, &err))
        fail_msg("match on the current version: %s", err.msg);
    last_conditions(inm, im);
    assert_string_equal(inm, "");
    assert_string_equal(im, e1);
    assert_string_not_equal(e2, e1);
    assert_int_equal(objstore_put_if(s, "c/lease", "four", 4, &match, NULL, &err), ST_ECONFLICT);
    st_err_init(&err);
    assert_int_equal(objstore_put_if(s, "c/gone", "x", 1, &match, NULL, &err), ST_ECONFLICT);

    /* AWS' answer to the loser of two racing conditional writes: a conflict, not retried */
    fake_reset_counters();
    fake_rule("PUT", "/bkt/c/lease", 1, A_STATUS, 409, "ConditionalRequestConflict");
    match.etag = e2;
    st_err_init(&err);
    rc = objstore_put_if(s, "c/lease", "five", 4, &match, NULL, &err);
    if (rc != ST_ECONFLICT || fake_counts().requests != 1)
        fail_msg("409: rc %d after %d requests: %s", rc, fake_counts().requests, err.msg);
    /* a transient failure is retried, with its condition */
    fake_reset_counters();
    fake_rule("PUT", "/bkt/c/lease", 1, A_STATUS, 503, "SlowDown");
    st_err_init(&err);
    if (objstore_put_if(s, "c/lease", "six", 3, &match, NULL, &err))
        fail_msg("retried conditional put: %s", err.msg);
    assert_int_equal(fake_counts().requests, 2);
    b.len = 0;
    st_err_init(&err);
    assert_int_equal(objstore_get(s, "c/lease", &b, 0, &err), 0);
    assert_memory_equal(b.p, "six", 3);
    st_buf_release(&b);
    objstore_free(s);
}

static void conditional__a_501_refusal_turns_them_off_and_plain_puts_go_on(void **state)
{
    (void)state;
    objstore *s = open_default();
    st_err err;
    st_err_init(&err);
    objstore_cond absent = {OBJSTORE_IF_ABSENT, NULL};
    fake_reset_counters();
    fake_rule("PUT", "/bkt/c/refused", 1, A_STATUS, 501, "NotImplemented");
    int rc = objstore_put_if(s, "c/refused", "x", 1, &absent, NULL, &err);
    if (rc != ST_EUNSUPP || !strstr(err.msg, "does not support conditional writes"))
        fail_msg("rc %d: %s", rc, err.msg);
    assert_int_equal(fake_counts().requests, 1); /* 501 is not retried */
    assert_false(objstore_supports_conditional(s));
    st_err_init(&err);
    if (objstore_put(s, "c/refused", "x", 1, &err))
        fail_msg("plain put: %s", err.msg);
    objstore_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(faults__reads_retry_through_transient_failures),
        cmocka_unit_test(faults__ranges_retry_and_survive_odd_servers),
        cmocka_unit_test(faults__persistent_read_failures_are_clear_errors_never_short_reads),
        cmocka_unit_test(faults__get_file_retries_and_leaves_nothing_on_failure),
        cmocka_unit_test(faults__puts_retry_and_rewind_their_body),
        cmocka_unit_test(faults__auth_and_missing_bucket_fail_at_once),
        cmocka_unit_test(faults__deadline_stops_retrying),
        cmocka_unit_test(faults__multipart_retries_a_failed_part),
        cmocka_unit_test(faults__multipart_failure_aborts_the_upload),
        cmocka_unit_test(faults__listing_pages_retry_and_stay_in_order),
        cmocka_unit_test(config__max_retries_disable_multipart_and_metadata_take_effect),
        cmocka_unit_test(conn__requests_reuse_connections_within_the_concurrency_bound),
        cmocka_unit_test(creds__config_then_environment),
        cmocka_unit_test(creds__web_identity_is_fetched_refreshed_before_expiry_and_shared),
        cmocka_unit_test(conditional__headers_go_out_and_412_409_404_are_conflicts),
        cmocka_unit_test(conditional__a_501_refusal_turns_them_off_and_plain_puts_go_on),
    };
    return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
