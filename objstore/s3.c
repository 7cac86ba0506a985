/*
 * s3.c - the S3 object store on libcurl: requests signed with our own SigV4 (sigv4.c), path or
 * virtual-host addressing, TLS verified by default, a bounded pool of curl easy handles (each
 * keeps its connection alive; DNS and TLS sessions are shared), retries with capped
 * exponential backoff and jitter on 5xx, 429/SlowDown, timeouts and resets within a deadline,
 * and error bodies parsed with expat into messages that name the store, the key, the HTTP
 * status and the AWS code. Operations follow the S3 REST API: ListObjectsV2 (paginated with
 * continuation tokens, streamed page by page), GetObject (whole or Range, every length
 * checked), HeadObject, PutObject (payload SHA-256 signed, or UNSIGNED-PAYLOAD over TLS),
 * multipart uploads (Create, UploadPart in parallel, Complete; Abort on any failure),
 * conditional PutObject (If-None-Match: * and If-Match; 412 and 409 ConditionalRequestConflict
 * are ST_ECONFLICT, a 501 refusal turns them off for the store) and DeleteObject. Credentials come
 * from the config, the AWS_* environment, or an STS AssumeRoleWithWebIdentity exchange that is
 * refreshed before it expires.
 */
#include "s3_int.h"

#include <curl/curl.h>
#include <expat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XML_MAX        (32u << 20) /* a listing page, a multipart or STS answer */
#define ERRBODY_MAX    (64u << 10) /* what is kept of an error body */
#define LIST_PAGE      "1000"
#define MAX_PARTS      10000
#define MAX_SINGLE_PUT (5ull << 30) /* S3's PutObject limit */
#define DEFAULT_CONNS  16
#define STS_DURATION   "3600"
#define XFER_BUFFER    (256 << 10)
#define USER_AGENT     "strata-objstore/0.1"
#define S3_XMLNS       "http://s3.amazonaws.com/doc/2006-03-01/"
#define REFRESH_WINDOW (5 * 60 * 1000) /* refresh web identity credentials this early */

/* ---- the store ----------------------------------------------------------------------------- */

enum { CRED_STATIC, CRED_WEB_IDENTITY };

typedef struct creds {
    char *access_key, *secret_key, *token;
    int64_t expires_ms; /* 0: never */
    int64_t obtained_ms;
} creds;

typedef struct s3_store {
    objstore base;
    char *bucket;
    char *base_url;    /* "http://127.0.0.1:9000", "https://b.s3.amazonaws.com" */
    char *host;        /* the Host header, signed */
    char *path_prefix; /* "/bucket" (path style) or "" */
    char *region;
    int tls;
    uint64_t part_size;
    int disable_multipart;
    long connect_timeout_ms, stall_s, expect_ms, idle_s;
    int insecure_skip_verify;
    char *ca_file, *cert_file, *key_file;
    char **meta_names, **meta_values; /* lower-case header names */
    size_t nmeta;

    pthread_mutex_t cred_mu; /* guards cur (refreshes are serialised under it) */
    int cred_kind;
    creds cur;
    char *role_arn, *token_file, *session_name, *sts_url;

    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    CURL **idle;
    int nidle, created, max_conns, in_use;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];

    s3_retry_policy retry;
    _Atomic uint64_t n_requests, n_retries, n_parts, n_multiparts, n_aborts, n_sts, max_in_use;
    atomic_int no_conditional; /* the server refused a conditional PUT */
} s3_store;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void creds_free(creds *c)
{
    if (c->secret_key)
        memset(c->secret_key, 0, strlen(c->secret_key));
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    st_free(c->access_key);
    st_free(c->secret_key);
    st_free(c->token);
    memset(c, 0, sizeof(*c));
}

static int creds_copy(creds *dst, const creds *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->access_key = src->access_key ? st_strdup(src->access_key) : NULL;
    dst->secret_key = src->secret_key ? st_strdup(src->secret_key) : NULL;
    dst->token = src->token ? st_strdup(src->token) : NULL;
    dst->expires_ms = src->expires_ms;
    dst->obtained_ms = src->obtained_ms;
    if ((src->access_key && !dst->access_key) || (src->secret_key && !dst->secret_key) ||
        (src->token && !dst->token)) {
        creds_free(dst);
        return ST_ENOMEM;
    }
    return 0;
}

/* ---- connection pool ----------------------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    pthread_mutex_lock(&((s3_store *)ud)->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    pthread_mutex_unlock(&((s3_store *)ud)->share_mu[data]);
}

/* A handle for one request; blocks while max_conns requests are in flight. */
static CURL *acquire(s3_store *s)
{
    pthread_mutex_lock(&s->pool_mu);
    while (s->nidle == 0 && s->created >= s->max_conns)
        pthread_cond_wait(&s->pool_cv, &s->pool_mu);
    CURL *h = NULL;
    if (s->nidle)
        h = s->idle[--s->nidle];
    else if ((h = curl_easy_init()) != NULL)
        s->created++;
    if (h) {
        s->in_use++;
        if ((uint64_t)s->in_use > atomic_load(&s->max_in_use))
            atomic_store(&s->max_in_use, (uint64_t)s->in_use);
    }
    pthread_mutex_unlock(&s->pool_mu);
    return h;
}

static void release(s3_store *s, CURL *h)
{
    pthread_mutex_lock(&s->pool_mu);
    s->idle[s->nidle++] = h;
    s->in_use--;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

/* ---- XML ----------------------------------------------------------------------------------- */

/* A walk over an XML document that reports each leaf element as its path from the root
 * ("ListBucketResult/Contents/Key") and its text, in document order; namespace prefixes are
 * dropped. S3-compatible servers differ in element order and empty-element style, so callers
 * match paths, never bytes. */
typedef void (*xml_leaf_fn)(void *ctx, const char *path, const char *text, size_t len);

typedef struct xml_walk {
    XML_Parser p;
    char path[512];
    size_t stack[32];
    int depth, overflow, leaf;
    st_buf text;
    xml_leaf_fn fn;
    void *ctx;
    char root[64];
} xml_walk;

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    xml_walk *w = ud;
    const char *colon = strchr(name, ':');
    if (colon)
        name = colon + 1;
    if (w->depth == 0)
        snprintf(w->root, sizeof(w->root), "%s", name);
    size_t pl = strlen(w->path), nl = strlen(name);
    if (w->depth >= (int)ST_ARRAY_LEN(w->stack) || pl + nl + 2 > sizeof(w->path)) {
        w->overflow = 1;
        XML_StopParser(w->p, XML_FALSE);
        return;
    }
    w->stack[w->depth++] = pl;
    if (pl)
        w->path[pl++] = '/';
    memcpy(w->path + pl, name, nl + 1);
    w->leaf = 1;
    st_buf_reset(&w->text);
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    (void)name;
    xml_walk *w = ud;
    if (w->leaf && w->fn)
        w->fn(w->ctx, w->path, w->text.p ? (const char *)w->text.p : "", w->text.len);
    w->leaf = 0;
    st_buf_reset(&w->text);
    if (w->depth > 0)
        w->path[w->stack[--w->depth]] = '\0';
}

static void XMLCALL xml_text(void *ud, const XML_Char *s, int len)
{
    xml_walk *w = ud;
    if (w->leaf && st_buf_append(&w->text, s, (size_t)len))
        w->overflow = 1;
    if (w->leaf && !st_buf_cstr(&w->text))
        w->overflow = 1;
}

static void XMLCALL xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                const XML_Char *pubid, int has_internal)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal;
    xml_walk *w = ud;
    w->overflow = 1; /* S3 answers have no DTD; refuse entity games */
    XML_StopParser(w->p, XML_FALSE);
}

/* 0, or ST_ECORRUPT when the bytes are not XML; root gets the root element's name. */
static int xml_parse(const void *p, size_t n, xml_leaf_fn fn, void *ctx, char root[64])
{
    xml_walk w;
    memset(&w, 0, sizeof(w));
    st_buf_init(&w.text, 1u << 20);
    w.fn = fn;
    w.ctx = ctx;
    w.p = XML_ParserCreate("UTF-8");
    if (!w.p)
        return ST_ENOMEM;
    XML_SetUserData(w.p, &w);
    XML_SetElementHandler(w.p, xml_start, xml_end);
    XML_SetCharacterDataHandler(w.p, xml_text);
    XML_SetStartDoctypeDeclHandler(w.p, xml_doctype);
    int ok = XML_Parse(w.p, p, (int)n, XML_TRUE) == XML_STATUS_OK && !w.overflow;
    XML_ParserFree(w.p);
    st_buf_release(&w.text);
    if (root)
        memcpy(root, w.root, sizeof(w.root));
    return ok && w.root[0] ? 0 : ST_ECORRUPT;
}

static int path_ends(const char *path, const char *suffix)
{
    size_t pl = strlen(path), sl = strlen(suffix);
    return pl >= sl && strcmp(path + pl - sl, suffix) == 0 &&
           (pl == sl || path[pl - sl - 1] == '/');
}

static void copy_text(char *dst, size_t cap, const char *text, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, text, n);
    dst[n] = '\0';
}

/* ---- one request --------------------------------------------------------------------------- */

/* Where a 2xx response body goes: appended to a buffer or written to a file, after dropping
 * `skip` bytes (a server that ignored Range) and keeping at most `limit`. */
typedef struct sink {
    st_buf *buf;
    size_t buf_start;
    int fd; /* >= 0: write here instead */
    const char *path;
    uint64_t skip, limit;
    size_t max;          /* 0: none; more is ST_ETOOBIG */
    uint64_t seen, kept; /* body bytes received / kept in this attempt */
    int early;           /* stopped on purpose once `limit` was kept */
    int err;
    char msg[200];
} sink;

typedef struct s3_req {
    /* what to send */
    const char *op;     /* "get", "put", ... for messages */
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;    /* object key, NULL for the bucket */
    const sigv4_pair *query;
    size_t nquery;
    const char *url; /* a whole URL instead (STS); not signed */
    const char *range;
    uint64_t range_off, range_len; /* what range asked for (range_len OBJSTORE_WHOLE: to end) */
    const char *if_none_match, *if_match; /* conditional PUT headers */
    const uint8_t *body;
    uint64_t body_len;
    int has_body, sign_payload, with_meta, error_in_200, ok416;
    const char *content_type;
    sink *out; /* NULL: a 2xx body goes into xml */
    /* derived once */
    st_buf path, qs;
    char payload_hash[65];
    /* the answer (of the last attempt) */
    long status;
    int64_t content_length;
    int chunked;
    int has_cr, cr_total_known;
    uint64_t cr_start, cr_end, cr_total;
    char etag[256], request_id[128], last_modified[64];
    int64_t retry_after_ms;
    st_buf xml;
    char aws_code[64], aws_msg[256], xml_root[64];
    uint64_t upload_pos;
    char curl_err[CURL_ERROR_SIZE];
} s3_req;

static void req_init(s3_req *r, const char *op, const char *method, const char *key)
{
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->method = method;
    r->key = key;
    r->range_len = OBJSTORE_WHOLE;
    st_buf_init(&r->path, 0);
    st_buf_init(&r->qs, 0);
    st_buf_init(&r->xml, XML_MAX);
}

static void req_release(s3_req *r)
{
    st_buf_release(&r->path);
    st_buf_release(&r->qs);
    st_buf_release(&r->xml);
}

static void sink_reset(sink *k)
{
    if (k->buf)
        k->buf->len = k->buf_start;
    if (k->fd >= 0) {
        if (ftruncate(k->fd, 0) != 0 || lseek(k->fd, 0, SEEK_SET) != 0) {
            k->err = ST_EIO;
            snprintf(k->msg, sizeof(k->msg), "truncate %s: %s", k->path, strerror(errno));
            return;
        }
    }
    k->seen = k->kept = 0;
    k->early = 0;
    k->err = 0;
    k->msg[0] = '\0';
}

static int sink_write(sink *k, const char *p, size_t n)
{
    k->seen += n;
    if (k->skip) {
        size_t d = k->skip < n ? (size_t)k->skip : n;
        k->skip -= d;
        p += d;
        n -= d;
    }
    size_t extra = 0;
    if (k->kept + n > k->limit) {
        extra = n - (size_t)(k->limit - k->kept);
        n -= extra;
    }
    if (k->max && k->kept + n > k->max) {
        k->err = ST_ETOOBIG;
        snprintf(k->msg, sizeof(k->msg), "more than the %zu bytes allowed", k->max);
        return -1;
    }
    if (k->fd >= 0) {
        size_t w = 0;
        while (w < n) {
            ssize_t r = write(k->fd, p + w, n - w);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                k->err = ST_EIO;
                snprintf(k->msg, sizeof(k->msg), "write %s: %s", k->path, strerror(errno));
                return -1;
            }
            w += (size_t)r;
        }
    } else if (st_buf_append(k->buf, p, n)) {
        k->err = ST_ENOMEM;
        snprintf(k->msg, sizeof(k->msg), "out of memory");
        return -1;
    }
    k->kept += n;
    if (extra) {
        k->early = 1; /* everything asked for is here; stop a server that sends more */
        return -1;
    }
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nmemb;
    if (r->status >= 200 && r->status < 300 && r->out)
        return sink_write(r->out, p, n) ? 0 : n;
    if (r->status >= 200 && r->status < 300)
        return st_buf_append(&r->xml, p, n) ? 0 : n;
    if (r->xml.len < ERRBODY_MAX)
        st_buf_append(&r->xml, p, ST_MIN(n, ERRBODY_MAX - r->xml.len));
    return n;
}

static int hdr_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t nl = strlen(name);
    if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return 0;
    const char *v = line + nl + 1;
    const char *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *val = v;
    *vlen = (size_t)(e - v);
    return 1;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nmemb;
    const char *v;
    size_t vl;
    char tmp[128];
    if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue, the final one): forget the previous */
        const char *sp = memchr(p, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->content_length = -1;
        r->chunked = 0;
        r->has_cr = r->cr_total_known = 0;
        r->etag[0] = r->request_id[0] = r->last_modified[0] = '\0';
        r->retry_after_ms = -1;
        if (r->out)
            r->out->skip = (r->status == 200 && r->range) ? r->range_off : 0;
        return n;
    }
    if (hdr_is(p, n, "content-length", &v, &vl)) {
        copy_text(tmp, sizeof(tmp), v, vl);
        char *end;
        long long cl = strtoll(tmp, &end, 10);
        r->content_length = (*tmp && !*end && cl >= 0) ? cl : -1;
        if (r->out && r->status >= 200 && r->status < 300 && r->content_length >= 0 &&
            strcmp(r->method, "HEAD") != 0) {
            sink *k = r->out;
            uint64_t cl_u = (uint64_t)r->content_length;
            uint64_t body = cl_u > k->skip ? cl_u - k->skip : 0;
            uint64_t keep = body < k->limit ? body : k->limit;
            if (k->max && keep > k->max) {
                k->err = ST_ETOOBIG;
                snprintf(k->msg, sizeof(k->msg), "%llu bytes, more than the %zu allowed",
                         (unsigned long long)keep, k->max);
                return 0;
            }
            if (k->buf && keep < ((uint64_t)1 << 40) && st_buf_reserve(k->buf, (size_t)keep)) {
                k->err = ST_ENOMEM;
                snprintf(k->msg, sizeof(k->msg), "out of memory for %llu bytes",
                         (unsigned long long)keep);
                return 0;
            }
        }
    } else if (hdr_is(p, n, "content-range", &v, &vl)) {
        copy_text(tmp, sizeof(tmp), v, vl);
        unsigned long long a, b, t;
        if (sscanf(tmp, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
            r->has_cr = r->cr_total_known = 1;
            r->cr_start = a;
            r->cr_end = b;
            r->cr_total = t;
        } else if (sscanf(tmp, "bytes %llu-%llu/*", &a, &b) == 2) {
            r->has_cr = 1;
            r->cr_start = a;
            r->cr_end = b;
        } else if (sscanf(tmp, "bytes */%llu", &t) == 1) {
            r->cr_total_known = 1;
            r->cr_total = t;
        }
    } else if (hdr_is(p, n, "transfer-encoding", &v, &vl)) {
        r->chunked = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
    } else if (hdr_is(p, n, "etag", &v, &vl)) {
        copy_text(r->etag, sizeof(r->etag), v, vl);
    } else if (hdr_is(p, n, "x-amz-request-id", &v, &vl)) {
        copy_text(r->request_id, sizeof(r->request_id), v, vl);
    } else if (hdr_is(p, n, "last-modified", &v, &vl)) {
        copy_text(r->last_modified, sizeof(r->last_modified), v, vl);
    } else if (hdr_is(p, n, "retry-after", &v, &vl)) {
        copy_text(tmp, sizeof(tmp), v, vl);
        char *end;
        long secs = strtol(tmp, &end, 10);
        if (*tmp && !*end && secs >= 0)
            r->retry_after_ms = secs * 1000;
    }
    return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud)
{
    s3_req *r = ud;
    uint64_t left = r->body_len - r->upload_pos;
    size_t n = size * nmemb;
    if (n > left)
        n = (size_t)left;
    if (n)
        memcpy(p, r->body + r->upload_pos, n);
    r->upload_pos += n;
    return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    s3_req *r = ud;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->upload_pos = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static void on_error_leaf(void *ctx, const char *path, const char *text, size_t len)
{
    s3_req *r = ctx;
    if (path_ends(path, "Error/Code"))
        copy_text(r->aws_code, sizeof(r->aws_code), text, len);
    else if (path_ends(path, "Error/Message"))
        copy_text(r->aws_msg, sizeof(r->aws_msg), text, len);
    else if (path_ends(path, "RequestId") && !r->request_id[0])
        copy_text(r->request_id, sizeof(r->request_id), text, len);
}

/* Sign and send r once on handle h. Returns 0 (cc says how the transfer went) or a local
 * error (ST_ENOMEM). */
static int perform(s3_store *s, s3_req *r, const creds *c, CURL *h, CURLcode *cc)
{
    st_buf url, auth, hv;
    st_buf_init(&url, 0);
    st_buf_init(&auth, 0);
    st_buf_init(&hv, 0);
    struct curl_slist *hl = NULL;
    int rc = 0;
    char date[17];
    sigv4_amz_date(time(NULL), date);

    if (r->url)
        rc = st_buf_printf(&url, "%s", r->url);
    else
        rc = st_buf_printf(&url, "%s%s%s%s", s->base_url, (char *)r->path.p, r->qs.len ? "?" : "",
                           r->qs.len ? (char *)r->qs.p : "");
    if (rc)
        goto done;

    sigv4_pair hdr[8 + 16];
    size_t nh = 0;
    const char *hash =
        r->has_body ? (r->sign_payload ? r->payload_hash : SIGV4_UNSIGNED) : SIGV4_EMPTY_SHA256;
    if (!r->url) {
        hdr[nh++] = (sigv4_pair){"Host", s->host};
        hdr[nh++] = (sigv4_pair){"x-amz-date", date};
        hdr[nh++] = (sigv4_pair){"x-amz-content-sha256", hash};
        if (c->token)
            hdr[nh++] = (sigv4_pair){"x-amz-security-token", c->token};
    }
    if (r->range)
        hdr[nh++] = (sigv4_pair){"Range", r->range};
    if (r->content_type)
        hdr[nh++] = (sigv4_pair){"Content-Type", r->content_type};
    if (r->if_none_match)
        hdr[nh++] = (sigv4_pair){"If-None-Match", r->if_none_match};
    if (r->if_match)
        hdr[nh++] = (sigv4_pair){"If-Match", r->if_match};
    for (size_t i = 0; r->with_meta && i < s->nmeta && nh < ST_ARRAY_LEN(hdr); i++)
        hdr[nh++] = (sigv4_pair){s->meta_names[i], s->meta_values[i]};

    if (!r->url) {
        sigv4_request sr = {
            .method = r->method,
            .canonical_uri = (const char *)r->path.p,
            .canonical_query = r->qs.len ? (const char *)r->qs.p : "",
            .headers = hdr,
            .nheaders = nh,
            .payload_hash = hash,
            .amz_date = date,
            .region = s->region,
            .service = "s3",
        };
        if ((rc = sigv4_sign(&sr, c->access_key, c->secret_key, &auth, NULL, NULL)) ||
            !st_buf_cstr(&auth))
            goto nomem;
    }
    for (size_t i = 0; i < nh; i++) {
        st_buf_reset(&hv);
        if (st_buf_printf(&hv, "%s: %s", hdr[i].name, hdr[i].value) || !st_buf_cstr(&hv))
            goto nomem;
        struct curl_slist *n = curl_slist_append(hl, (const char *)hv.p);
        if (!n)
            goto nomem;
        hl = n;
    }
    if (!r->url) {
        st_buf_reset(&hv);
        if (st_buf_printf(&hv, "Authorization: %s", (const char *)auth.p) || !st_buf_cstr(&hv))
            goto nomem;
        struct curl_slist *n = curl_slist_append(hl, (const char *)hv.p);
        memset(hv.p, 0, hv.len);
        if (!n)
            goto nomem;
        hl = n;
    }
    if (r->has_body && r->body_len < (1u << 20)) {
        struct curl_slist *n = curl_slist_append(hl, "Expect:");
        if (!n)
            goto nomem;
        hl = n;
    }

    curl_easy_reset(h);
    r->curl_err[0] = '\0';
    r->upload_pos = 0;
    curl_easy_setopt(h, CURLOPT_URL, (const char *)url.p);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_SHARE, s->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)XFER_BUFFER);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    /* response_header_timeout: a server that sends nothing for that long has stalled */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->stall_s);
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, s->expect_ms);
    if (s->idle_s > 0)
        curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, s->idle_s);
    if (s->tls && !r->url) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, s->insecure_skip_verify ? 0L : 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, s->insecure_skip_verify ? 0L : 2L);
        if (s->ca_file)
            curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
        if (s->cert_file) {
            curl_easy_setopt(h, CURLOPT_SSLCERT, s->cert_file);
            curl_easy_setopt(h, CURLOPT_SSLKEY, s->key_file);
        }
    }
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (r->has_body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, (long)XFER_BUFFER);
        if (strcmp(r->method, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    atomic_fetch_add(&s->n_requests, 1);
    *cc = curl_easy_perform(h);
    /* the handle keeps no pointer to our header list or buffers past this point */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    goto done;
nomem:
    rc = ST_ENOMEM;
done:
    curl_slist_free_all(hl);
    if (auth.p)
        memset(auth.p, 0, auth.len);
    st_buf_release(&url);
    st_buf_release(&auth);
    st_buf_release(&hv);
    return rc;
}

static int transient_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

static int code_in(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return 1;
    return 0;
}

static const char *code_hint(const char *code)
{
    static const struct {
        const char *code, *hint;
    } hints[] = {
        {"SignatureDoesNotMatch",
         "signature does not match: check secret_key (and region, and the clock)"},
        {"InvalidAccessKeyId", "unknown access key"},
        {"AccessDenied", "access denied"},
        {"RequestTimeTooSkewed", "the local clock is too far off"},
        {"AuthorizationHeaderMalformed", "the region is probably wrong"},
        {"ExpiredToken", "the session token has expired"},
        {"InvalidToken", "the session token is not valid"},
        {"NoSuchBucket", "the bucket does not exist"},
        {"NoSuchKey", "not found"},
        {"SlowDown", "the server asks to slow down"},
        {"PreconditionFailed", "another writer changed or created the object first"},
        {"ConditionalRequestConflict", "another conditional write to the object was under way"},
        {"InvalidIdentityToken", "the web identity token was refused"},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(hints); i++)
        if (strcmp(code, hints[i].code) == 0)
            return hints[i].hint;
    return NULL;
}

/* Class of a failed HTTP answer. */
static int http_class(const s3_req *r, int *retry)
{
    static const char *const transient[] = {
        "SlowDown",   "RequestTimeout",      "InternalError",        "ServiceUnavailable",
        "Throttling", "ThrottlingException", "RequestLimitExceeded", "IDPCommunicationError",
        NULL};
    static const char *const auth[] = {"AccessDenied",
                                       "SignatureDoesNotMatch",
                                       "InvalidAccessKeyId",
                                       "AuthorizationHeaderMalformed",
                                       "ExpiredToken",
                                       "InvalidToken",
                                       "TokenRefreshRequired",
                                       "RequestTimeTooSkewed",
                                       "InvalidIdentityToken",
                                       "AccountProblem",
                                       NULL};
    static const char *const notfound[] = {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", NULL};
    static const char *const conflict[] = {"PreconditionFailed", "ConditionalRequestConflict",
                                           NULL};
    long st = r->status;
    *retry = 0;
    if (code_in(r->aws_code, transient) || st == 429 || st == 408 || (st >= 500 && st != 501)) {
        *retry = 1;
        return ST_ETRANSIENT;
    }
    if (code_in(r->aws_code, notfound) || st == 404)
        return ST_ENOTFOUND;
    /* 409 ConditionalRequestConflict: AWS' answer to the loser of racing conditional writes */
    if (code_in(r->aws_code, conflict) || st == 412)
        return ST_ECONFLICT;
    if (code_in(r->aws_code, auth) || st == 401 || st == 403)
        return ST_EAUTH;
    if (strcmp(r->aws_code, "EntityTooLarge") == 0 || st == 413)
        return ST_ETOOBIG;
    if (st == 501)
        return ST_EUNSUPP;
    if (st == 400)
        return ST_EINVAL;
    return ST_EIO;
}

/* A printable excerpt of a non-XML error body. */
static void excerpt(char *dst, size_t cap, const st_buf *b)
{
    size_t j = 0;
    for (size_t i = 0; i < b->len && j + 1 < cap && i < 160; i++) {
        unsigned char c = b->p[i];
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
    }
    dst[j] = '\0';
}

/* After an attempt: 0 when the answer is good, else the error class with a message in msg and
 * *retry set when another attempt may succeed. Every body length is checked here so a short
 * body is retried, never returned. */
static int classify(s3_store *s, s3_req *r, CURLcode cc, int *retry, char *msg, size_t cap)
{
    (void)s;
    *retry = 0;
    sink *k = r->out;
    if (cc == CURLE_WRITE_ERROR && k && k->early)
        cc = CURLE_OK;
    if (cc == CURLE_WRITE_ERROR && k && k->err) {
        snprintf(msg, cap, "%s", k->msg);
        return k->err;
    }
    if (cc != CURLE_OK) {
        *retry = transient_curl(cc);
        snprintf(msg, cap, "%s%s%s", curl_easy_strerror(cc), r->curl_err[0] ? ": " : "",
                 r->curl_err);
        return *retry ? ST_ETRANSIENT : ST_EIO;
    }
    r->aws_code[0] = r->aws_msg[0] = r->xml_root[0] = '\0';
    int ok = (r->status >= 200 && r->status < 300) || (r->status == 416 && r->ok416);
    if (ok && r->error_in_200 && r->xml.len) {
        /* CompleteMultipartUpload may answer 200 and then report an error in the body */
        if (xml_parse(r->xml.p, r->xml.len, on_error_leaf, r, r->xml_root) == 0 &&
            strcmp(r->xml_root, "Error") == 0)
            ok = 0;
    }
    if (!ok) {
        if (r->xml.len && !r->aws_code[0])
            xml_parse(r->xml.p, r->xml.len, on_error_leaf, r, r->xml_root);
        int rc = http_class(r, retry);
        const char *hint = r->aws_code[0] ? code_hint(r->aws_code) : NULL;
        char other[200] = "";
        if (!r->aws_code[0] && r->xml.len)
            excerpt(other, sizeof(other), &r->xml);
        else if (!r->aws_code[0] && strcmp(r->method, "HEAD") == 0)
            snprintf(other, sizeof(other), "%s",
                     r->status == 404 ? "not found"
                     : r->status == 403
                         ? "HEAD answers carry no error body: access denied, or the signature "
                           "does not match"
                         : "");
        st_buf m;
        st_buf_init(&m, 0);
        if (st_buf_printf(&m, "HTTP %ld%s%s%s%s%s%s%s%s%s%s", r->status, r->aws_code[0] ? " " : "",
                          r->aws_code, hint ? " (" : "", hint ? hint : "", hint ? ")" : "",
                          r->aws_msg[0] || other[0] ? ": " : "", r->aws_msg, other,
                          r->request_id[0] ? ", request id " : "", r->request_id) == 0)
            copy_text(msg, cap, (const char *)m.p, m.len);
        else
            snprintf(msg, cap, "HTTP %ld", r->status);
        st_buf_release(&m);
        return rc;
    }
    /* 2xx: is the body whole? */
    uint64_t got = k ? k->seen : r->xml.len;
    int early = k && k->early;
    if (strcmp(r->method, "HEAD") != 0 && r->status != 416 && !early && r->content_length >= 0 &&
        got != (uint64_t)r->content_length) {
        *retry = 1;
        snprintf(msg, cap, "truncated body: %llu of %lld bytes", (unsigned long long)got,
                 (long long)r->content_length);
        return ST_ETRANSIENT;
    }
    if (r->status == 206) {
        if (!r->has_cr) {
            snprintf(msg, cap, "HTTP 206 without a usable Content-Range");
            return ST_EIO;
        }
        if (r->cr_start != r->range_off || r->cr_end < r->cr_start) {
            snprintf(msg, cap, "HTTP 206 for bytes %llu-%llu, asked from %llu",
                     (unsigned long long)r->cr_start, (unsigned long long)r->cr_end,
                     (unsigned long long)r->range_off);
            return ST_EIO;
        }
        uint64_t span = r->cr_end - r->cr_start + 1;
        if (!early && got != span) {
            *retry = 1;
            snprintf(msg, cap, "truncated body: %llu of the %llu bytes in Content-Range",
                     (unsigned long long)got, (unsigned long long)span);
            return ST_ETRANSIENT;
        }
        uint64_t want_end =
            r->range_len == OBJSTORE_WHOLE ? UINT64_MAX : r->range_off + r->range_len - 1;
        int at_eof = r->cr_total_known && r->cr_end + 1 >= r->cr_total;
        if (r->cr_end < want_end && !at_eof && !early) {
            *retry = 1;
            snprintf(msg, cap, "short range: bytes %llu-%llu of %s%llu, asked %llu bytes",
                     (unsigned long long)r->cr_start, (unsigned long long)r->cr_end,
                     r->cr_total_known ? "" : "~", (unsigned long long)r->cr_total,
                     (unsigned long long)r->range_len);
            return ST_ETRANSIENT;
        }
    }
    if (k && r->status != 416 && r->content_length < 0 && !r->chunked && !early) {
        /* the body ended when the connection did: nothing proves it is whole */
        *retry = 1;
        snprintf(msg, cap,
                 "HTTP %ld with neither Content-Length nor chunked encoding: the "
                 "body may be cut short",
                 r->status);
        return ST_ETRANSIENT;
    }
    return 0;
}

static int64_t backoff_ms(const s3_store *s, int attempt, int64_t retry_after)
{
    int64_t d = s->retry.base_ms;
    for (int i = 1; i < attempt && d < s->retry.cap_ms; i++)
        d *= 2;
    if (d > s->retry.cap_ms)
        d = s->retry.cap_ms;
    uint32_t rnd = 0;
    st_random(&rnd, sizeof(rnd));
    d = d / 2 + (d > 1 ? (int64_t)(rnd % (uint64_t)(d / 2 + 1)) : 0); /* equal jitter */
    if (retry_after > d)
        d = ST_MIN(retry_after, s->retry.cap_ms);
    return d;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int get_creds(s3_store *s, int force, creds *out, st_err *err);

/* "get a/b" or "list": what failed, for messages */
static const char *what(const s3_req *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", r->op, r->key ? " " : "", r->key ? r->key : "");
    return buf;
}

/* Send r with retries: the request is re-signed for each attempt; a retryable failure waits
 * (capped exponential backoff with jitter, or the server's Retry-After) and tries again until
 * max_attempts or the deadline; the error is then ST_ETRANSIENT naming the last failure. */
static int s3_call(s3_store *s, s3_req *r, st_err *err)
{
    const char *name = s->base.name;
    char wb[300];
    const char *w = what(r, wb, sizeof(wb));
    int rc = 0;
    if (!r->url && !r->path.p) {
        if (r->key) {
            rc = st_buf_printf(&r->path, "%s/", s->path_prefix);
            if (!rc)
                rc = sigv4_uri_encode(&r->path, r->key, strlen(r->key), 1);
        } else {
            rc = st_buf_printf(&r->path, "%s", s->path_prefix[0] ? s->path_prefix : "/");
        }
        if (!rc && !st_buf_cstr(&r->path))
            rc = ST_ENOMEM;
        if (!rc)
            rc = sigv4_canonical_query(&r->qs, r->query, r->nquery);
        if (rc)
            return st_err_set(err, rc, "%s: %s: out of memory", name, w);
    }
    if (r->has_body && r->sign_payload && !r->payload_hash[0])
        sigv4_sha256_hex(r->body, (size_t)r->body_len, r->payload_hash);

    uint64_t t0 = st_mono_ns();
    int force_creds = 0;
    char msg[400];
    for (int attempt = 1;; attempt++) {
        creds c;
        memset(&c, 0, sizeof(c));
        if (!r->url && (rc = get_creds(s, force_creds, &c, err)))
            return rc;
        force_creds = 0;
        if (r->out)
            sink_reset(r->out);
        if (r->out && r->out->err) {
            creds_free(&c);
            return st_err_set(err, r->out->err, "%s: %s: %s", name, w, r->out->msg);
        }
        st_buf_reset(&r->xml);
        r->status = 0;
        r->content_length = -1;
        CURL *h = acquire(s);
        CURLcode cc = CURLE_OK;
        rc = h ? perform(s, r, &c, h, &cc) : ST_ENOMEM;
        if (h)
            release(s, h);
        creds_free(&c);
        if (rc)
            return st_err_set(err, rc, "%s: %s: out of memory", name, w);
        int retry = 0;
        rc = classify(s, r, cc, &retry, msg, sizeof(msg));
        if (rc == 0)
            return 0;
        if (!r->url && s->cred_kind == CRED_WEB_IDENTITY && attempt == 1 &&
            (strcmp(r->aws_code, "ExpiredToken") == 0 ||
             strcmp(r->aws_code, "InvalidToken") == 0)) {
            force_creds = 1; /* the session ended early: fetch new credentials once */
            continue;
        }
        if (!retry)
            return st_err_set(err, rc, "%s: %s: %s", name, w, msg);
        int64_t elapsed = (int64_t)((st_mono_ns() - t0) / 1000000u);
        int64_t wait = backoff_ms(s, attempt, r->retry_after_ms);
        if (attempt >= s->retry.max_attempts || elapsed + wait > s->retry.deadline_ms)
            return st_err_set(err, ST_ETRANSIENT,
                              "%s: %s: %s (gave up after %d attempts in %.1f s)", name, w, msg,
                              attempt, (double)elapsed / 1000.0);
        atomic_fetch_add(&s->n_retries, 1);
        char a[16], ms[24];
        snprintf(a, sizeof(a), "%d", attempt);
        snprintf(ms, sizeof(ms), "%lld", (long long)wait);
        st_log(ST_LOG_WARN, "object store request failed; retrying", "store", name, "op", r->op,
               "key", r->key ? r->key : "", "err", msg, "attempt", a, "backoff_ms", ms, NULL);
        sleep_ms(wait);
    }
}

/* ---- credentials --------------------------------------------------------------------------- */

typedef struct sts_answer {
    char ak[256], expiration[64];
    st_buf sk, token;
} sts_answer;

static void on_sts_leaf(void *ctx, const char *path, const char *text, size_t len)
{
    sts_answer *a = ctx;
    if (path_ends(path, "Credentials/AccessKeyId"))
        copy_text(a->ak, sizeof(a->ak), text, len);
    else if (path_ends(path, "Credentials/Expiration"))
        copy_text(a->expiration, sizeof(a->expiration), text, len);
    else if (path_ends(path, "Credentials/SecretAccessKey")) {
        st_buf_reset(&a->sk);
        st_buf_append(&a->sk, text, len);
        st_buf_cstr(&a->sk);
    } else if (path_ends(path, "Credentials/SessionToken")) {
        st_buf_reset(&a->token);
        st_buf_append(&a->token, text, len);
        st_buf_cstr(&a->token);
    }
}

/* "2024-05-01T12:00:00Z" or with fractional seconds, to ms since the epoch. */
static int parse_iso8601(const char *s, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return ST_EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return ST_EINVAL;
    *ms = (int64_t)t * 1000;
    return 0;
}

static int form_add(st_buf *b, const char *k, const char *v)
{
    int rc = st_buf_printf(b, "%s%s=", b->len ? "&" : "", k);
    return rc ? rc : sigv4_uri_encode(b, v, strlen(v), 0);
}

/* AssumeRoleWithWebIdentity: the token file is read afresh each time (it is rotated). */
static int sts_assume(s3_store *s, creds *out, st_err *err)
{
    const char *name = s->base.name;
    char *tok = NULL;
    size_t tl = 0;
    st_err mine;
    st_err_init(&mine);
    int rc = st_read_file(s->token_file, &tok, &tl, 1 << 20, &mine);
    if (rc)
        return st_err_set(err, ST_EAUTH, "%s: web identity token (AWS_WEB_IDENTITY_TOKEN_FILE): %s",
                          name, mine.msg);
    while (tl && (tok[tl - 1] == '\n' || tok[tl - 1] == '\r' || tok[tl - 1] == ' '))
        tok[--tl] = '\0';
    st_buf form;
    st_buf_init(&form, 0);
    rc = form_add(&form, "Action", "AssumeRoleWithWebIdentity");
    if (!rc)
        rc = form_add(&form, "DurationSeconds", STS_DURATION);
    if (!rc)
        rc = form_add(&form, "RoleArn", s->role_arn);
    if (!rc)
        rc = form_add(&form, "RoleSessionName", s->session_name);
    if (!rc)
        rc = form_add(&form, "Version", "2011-06-15");
    if (!rc)
        rc = form_add(&form, "WebIdentityToken", tok);
    memset(tok, 0, tl);
    st_free(tok);
    if (rc) {
        st_buf_release(&form);
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
    }
    s3_req r;
    req_init(&r, "assume role with web identity", "POST", NULL);
    r.url = s->sts_url;
    r.body = form.p;
    r.body_len = form.len;
    r.has_body = 1;
    r.content_type = "application/x-www-form-urlencoded";
    atomic_fetch_add(&s->n_sts, 1);
    rc = s3_call(s, &r, err);
    memset(form.p, 0, form.len);
    st_buf_release(&form);
    sts_answer a;
    memset(&a, 0, sizeof(a));
    st_buf_init(&a.sk, 4096);
    st_buf_init(&a.token, 1 << 16);
    char root[64];
    if (!rc && xml_parse(r.xml.p, r.xml.len, on_sts_leaf, &a, root))
        rc = st_err_set(err, ST_EAUTH, "%s: STS answer at %s is not XML", name, s->sts_url);
    int64_t exp = 0;
    if (!rc && (!a.ak[0] || !a.sk.len || parse_iso8601(a.expiration, &exp)))
        rc = st_err_set(err, ST_EAUTH, "%s: STS answer at %s has no usable credentials", name,
                        s->sts_url);
    if (!rc) {
        memset(out, 0, sizeof(*out));
        out->access_key = st_strdup(a.ak);
        out->secret_key = st_strdup((const char *)a.sk.p);
        out->token = a.token.len ? st_strdup((const char *)a.token.p) : NULL;
        out->expires_ms = exp;
        out->obtained_ms = st_now_ms();
        if (!out->access_key || !out->secret_key || (a.token.len && !out->token)) {
            creds_free(out);
            rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
        }
    }
    if (a.sk.p)
        memset(a.sk.p, 0, a.sk.cap);
    if (a.token.p)
        memset(a.token.p, 0, a.token.cap);
    st_buf_release(&a.sk);
    st_buf_release(&a.token);
    req_release(&r);
    return rc;
}

/* A copy of the credentials to sign with; web identity ones are refreshed when they are within
 * min(5 min, half their lifetime) of expiring (or when force), one refresh at a time. A failed
 * refresh keeps the old credentials while they are still valid. */
static int get_creds(s3_store *s, int force, creds *out, st_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&s->cred_mu);
    if (s->cred_kind == CRED_WEB_IDENTITY) {
        int64_t now = st_now_ms();
        int need = force || !s->cur.access_key;
        if (!need) {
            int64_t life = s->cur.expires_ms - s->cur.obtained_ms;
            int64_t window = ST_MIN((int64_t)REFRESH_WINDOW, life / 2);
            need = now >= s->cur.expires_ms - window;
        }
        if (need) {
            st_err mine;
            st_err_init(&mine);
            creds fresh;
            rc = sts_assume(s, &fresh, &mine);
            if (!rc) {
                creds_free(&s->cur);
                s->cur = fresh;
            } else if (s->cur.access_key && now < s->cur.expires_ms && !force) {
                st_log(ST_LOG_WARN,
                       "web identity credentials not refreshed; using the current "
                       "ones until they expire",
                       "store", s->base.name, "err", mine.msg, NULL);
                rc = 0;
            } else {
                st_err_copy(err, &mine);
            }
        }
    }
    if (!rc && creds_copy(out, &s->cur))
        rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", s->base.name);
    pthread_mutex_unlock(&s->cred_mu);
    return rc;
}

/* ---- listing ------------------------------------------------------------------------------- */

typedef struct list_entry {
    char *key;
    int is_prefix;
} list_entry;

typedef struct list_page {
    st_arena arena;
    list_entry *e;
    size_t n, cap;
    int truncated, url_encoded, nomem;
    char token[1024];
} list_page;

static void add_entry(list_page *pg, const char *text, size_t len, int is_prefix)
{
    if (pg->n == pg->cap) {
        size_t nc = pg->cap ? pg->cap * 2 : 256;
        list_entry *ne = st_reallocarray(pg->e, nc, sizeof(*ne));
        if (!ne) {
            pg->nomem = 1;
            return;
        }
        pg->e = ne;
        pg->cap = nc;
    }
    char *k = st_arena_strndup(&pg->arena, text, len);
    if (!k) {
        pg->nomem = 1;
        return;
    }
    pg->e[pg->n].key = k;
    pg->e[pg->n++].is_prefix = is_prefix;
}

static void on_list_leaf(void *ctx, const char *path, const char *text, size_t len)
{
    list_page *pg = ctx;
    if (strcmp(path, "ListBucketResult/Contents/Key") == 0)
        add_entry(pg, text, len, 0);
    else if (strcmp(path, "ListBucketResult/CommonPrefixes/Prefix") == 0)
        add_entry(pg, text, len, 1);
    else if (strcmp(path, "ListBucketResult/IsTruncated") == 0)
        pg->truncated = len == 4 && strncmp(text, "true", 4) == 0;
    else if (strcmp(path, "ListBucketResult/NextContinuationToken") == 0)
        copy_text(pg->token, sizeof(pg->token), text, len);
    else if (strcmp(path, "ListBucketResult/EncodingType") == 0)
        pg->url_encoded = len == 3 && strncmp(text, "url", 3) == 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* encoding-type=url: %XX and '+' (a space) decoded in place; 0 or -1 for bad escapes. */
static int url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%') {
            int a = hexval((unsigned char)s[1]), b = a < 0 ? -1 : hexval((unsigned char)s[2]);
            if (a < 0 || b < 0)
                return -1;
            *o++ = (char)(a * 16 + b);
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const list_entry *)a)->key, ((const list_entry *)b)->key);
}

static int s3_iter(objstore *o, const char *prefix, int recursive, objstore_iter_fn fn, void *ctx,
                   st_err *err)
{
    s3_store *s = (s3_store *)o;
    list_page pg;
    memset(&pg, 0, sizeof(pg));
    st_arena_init(&pg.arena, 64 << 10);
    char token[1024] = "";
    size_t plen = strlen(prefix);
    int rc = 0;
    for (int page = 0;; page++) {
        sigv4_pair q[6];
        size_t nq = 0;
        q[nq++] = (sigv4_pair){"list-type", "2"};
        q[nq++] = (sigv4_pair){"max-keys", LIST_PAGE};
        q[nq++] = (sigv4_pair){"encoding-type", "url"};
        if (plen)
            q[nq++] = (sigv4_pair){"prefix", prefix};
        if (!recursive)
            q[nq++] = (sigv4_pair){"delimiter", "/"};
        if (token[0])
            q[nq++] = (sigv4_pair){"continuation-token", token};
        s3_req r;
        req_init(&r, "list", "GET", NULL);
        r.query = q;
        r.nquery = nq;
        rc = s3_call(s, &r, err);
        st_arena_reset(&pg.arena);
        pg.n = 0;
        pg.truncated = pg.url_encoded = pg.nomem = 0;
        pg.token[0] = '\0';
        char root[64];
        if (!rc && xml_parse(r.xml.p, r.xml.len, on_list_leaf, &pg, root))
            rc = st_err_set(err, ST_EIO, "%s: list \"%s\": the answer is not XML", o->name, prefix);
        if (!rc && strcmp(root, "ListBucketResult") != 0)
            rc = st_err_set(err, ST_EIO, "%s: list \"%s\": unexpected answer <%s>", o->name, prefix,
                            root);
        if (!rc && pg.nomem)
            rc = st_err_set(err, ST_ENOMEM, "%s: list \"%s\": out of memory", o->name, prefix);
        req_release(&r);
        if (rc)
            break;
        size_t keep = 0;
        for (size_t i = 0; i < pg.n; i++) {
            list_entry *e = &pg.e[i];
            if (pg.url_encoded && url_decode(e->key)) {
                rc = st_err_set(err, ST_EIO, "%s: list \"%s\": bad url-encoded key", o->name,
                                prefix);
                break;
            }
            size_t kl = strlen(e->key);
            /* directory markers ("dir/" objects) are not keys; nor is anything off-prefix */
            if (strncmp(e->key, prefix, plen) != 0 || kl == 0 ||
                (!e->is_prefix && e->key[kl - 1] == '/'))
                continue;
            pg.e[keep++] = *e;
        }
        if (rc)
            break;
        /* AWS sends Contents then CommonPrefixes, Swift interleaves them: pages are ranges of
         * the key space, so sorting within a page gives the global order */
        if (keep > 1)
            qsort(pg.e, keep, sizeof(*pg.e), cmp_entry);
        for (size_t i = 0; i < keep && !rc; i++)
            rc = fn(ctx, pg.e[i].key, pg.e[i].is_prefix);
        if (rc || !pg.truncated)
            break;
        if (!pg.token[0] || strcmp(pg.token, token) == 0) {
            rc = st_err_set(err, ST_EIO,
                            "%s: list \"%s\": page %d is truncated but has no new continuation "
                            "token",
                            o->name, prefix, page + 1);
            break;
        }
        memcpy(token, pg.token, sizeof(token));
    }
    st_free(pg.e);
    st_arena_release(&pg.arena);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------- */

/* etag (may be NULL) receives the ETag of the version read. */
static int get_into(s3_store *s, const char *key, uint64_t off, uint64_t len, sink *k, char *etag,
                    st_err *err)
{
    char range[64];
    if (len != OBJSTORE_WHOLE && len > UINT64_MAX - off)
        len = OBJSTORE_WHOLE; /* to the end, however far that is */
    s3_req r;
    req_init(&r, off || len != OBJSTORE_WHOLE ? "get range" : "get", "GET", key);
    r.out = k;
    r.ok416 = 1;
    r.range_off = off;
    r.range_len = len;
    if (off || len != OBJSTORE_WHOLE) {
        if (len == OBJSTORE_WHOLE)
            snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)off);
        else
            snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
                     (unsigned long long)(off + len - 1));
        r.range = range;
    }
    k->limit = len;
    int rc = s3_call(s, &r, err);
    if (!rc && r.status == 416) {
        /* the range starts at or past the end: nothing to read (objstore.h clamps ranges) */
        if (r.cr_total_known && off < r.cr_total)
            rc = st_err_set(err, ST_EIO, "%s: get range %s: HTTP 416 for offset %llu of %llu",
                            s->base.name, key, (unsigned long long)off,
                            (unsigned long long)r.cr_total);
        else
            sink_reset(k);
    }
    if (!rc && etag) {
        if (r.etag[0])
            copy_text(etag, OBJSTORE_ETAG_MAX, r.etag, strlen(r.etag));
        else
            rc = st_err_set(err, ST_EIO, "%s: get %s: no ETag in the answer", s->base.name, key);
    }
    req_release(&r);
    return rc;
}

static int get_buf(objstore *o, const char *key, uint64_t off, uint64_t len, st_buf *out,
                   size_t max, char *etag, st_err *err)
{
    sink k;
    memset(&k, 0, sizeof(k));
    k.buf = out;
    k.buf_start = out->len;
    k.fd = -1;
    k.max = max;
    int rc = get_into((s3_store *)o, key, off, len, &k, etag, err);
    if (rc)
        out->len = k.buf_start;
    return rc;
}

static int s3_get_range(objstore *o, const char *key, uint64_t off, uint64_t len, st_buf *out,
                        size_t max, st_err *err)
{
    return get_buf(o, key, off, len, out, max, NULL, err);
}

static int s3_get_etag(objstore *o, const char *key, st_buf *out, size_t max, char *etag,
                       st_err *err)
{
    return get_buf(o, key, 0, OBJSTORE_WHOLE, out, max, etag, err);
}

static int s3_get_file(objstore *o, const char *key, const char *path, st_err *err)
{
    s3_store *s = (s3_store *)o;
    char *dir = st_strdup(path);
    st_buf tmp;
    st_buf_init(&tmp, 0);
    if (!dir || st_buf_printf(&tmp, "%s.strata-tmp-XXXXXX", path) || !st_buf_cstr(&tmp)) {
        st_free(dir);
        st_buf_release(&tmp);
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", o->name);
    }
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = st_mkdir_p(dir, err);
    } else {
        strcpy(dir, slash ? "/" : ".");
    }
    int fd = -1;
    if (!rc && (fd = mkstemp((char *)tmp.p)) < 0)
        rc = st_err_set(err, ST_EIO, "%s: get %s: create %s: %s", o->name, key, (char *)tmp.p,
                        strerror(errno));
    if (!rc) {
        sink k;
        memset(&k, 0, sizeof(k));
        k.fd = fd;
        k.path = (const char *)tmp.p;
        rc = get_into(s, key, 0, OBJSTORE_WHOLE, &k, NULL, err);
        if (!rc && fsync(fd) != 0)
            rc = st_err_set(err, ST_EIO, "%s: get %s: fsync %s: %s", o->name, key, k.path,
                            strerror(errno));
        if (close(fd) != 0 && !rc)
            rc = st_err_set(err, ST_EIO, "%s: get %s: close %s: %s", o->name, key, k.path,
                            strerror(errno));
        if (!rc && rename(k.path, path) != 0)
            rc = st_err_set(err, ST_EIO, "%s: get %s: rename to %s: %s", o->name, key, path,
                            strerror(errno));
        if (rc)
            unlink(k.path);
        else
            rc = st_fsync_dir(dir, err);
    }
    st_free(dir);
    st_buf_release(&tmp);
    return rc;
}

static int s3_attributes(objstore *o, const char *key, objstore_attrs *out, st_err *err)
{
    s3_store *s = (s3_store *)o;
    s3_req r;
    req_init(&r, "attributes", "HEAD", key);
    int rc = s3_call(s, &r, err);
    if (!rc && r.content_length < 0)
        rc = st_err_set(err, ST_EIO, "%s: attributes %s: no Content-Length in the answer", o->name,
                        key);
    if (!rc) {
        time_t t = r.last_modified[0] ? curl_getdate(r.last_modified, NULL) : (time_t)-1;
        if (t == (time_t)-1)
            rc =
                st_err_set(err, ST_EIO, "%s: attributes %s: no usable Last-Modified", o->name, key);
        out->size = (uint64_t)r.content_length;
        out->last_modified_ms = (int64_t)t * 1000;
    }
    req_release(&r);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* One PutObject, conditional when cond is given (then etag, if not NULL, gets the new ETag). */
static int put_single(s3_store *s, const char *key, const void *p, size_t len,
                      const objstore_cond *cond, char *etag, st_err *err)
{
    if (len > MAX_SINGLE_PUT)
        return st_err_set(
            err, ST_ETOOBIG, "%s: put %s: %zu bytes is above S3's 5 GiB single PUT limit%s",
            s->base.name, key, len,
            cond ? " (conditional puts are never multipart)" : " and disable_multipart is set");
    s3_req r;
    req_init(&r, cond ? "conditional put" : "put", "PUT", key);
    r.body = p;
    r.body_len = len;
    r.has_body = 1;
    r.sign_payload = !s->tls;
    r.with_meta = 1;
    if (cond && cond->kind == OBJSTORE_IF_ABSENT)
        r.if_none_match = "*";
    else if (cond)
        r.if_match = cond->etag;
    st_err mine;
    st_err_init(&mine);
    int rc = s3_call(s, &r, &mine);
    if (cond && (rc == ST_EUNSUPP || strcmp(r.aws_code, "NotImplemented") == 0)) {
        atomic_store(&s->no_conditional, 1);
        rc = st_err_set(err, ST_EUNSUPP, "%s (the store does not support conditional writes)",
                        mine.msg);
    } else if (cond && rc == ST_ENOTFOUND && cond->kind == OBJSTORE_IF_MATCH &&
               strcmp(r.aws_code, "NoSuchBucket") != 0) {
        rc =
            st_err_set(err, ST_ECONFLICT, "%s (precondition failed: the object is gone)", mine.msg);
    } else if (rc) {
        st_err_copy(err, &mine);
    } else if (etag) {
        copy_text(etag, OBJSTORE_ETAG_MAX, r.etag, strlen(r.etag));
    }
    req_release(&r);
    return rc;
}

typedef struct mp_upload mp_upload;
typedef struct mp_part {
    mp_upload *m;
    int num;
    uint64_t off, len;
    int rc;
    st_err err;
    char etag[256];
} mp_part;

struct mp_upload {
    s3_store *s;
    const char *key;
    char upload_id[1024];
    const uint8_t *p;
    mp_part *parts;
    int nparts;
    atomic_int failed;
};

static void on_init_leaf(void *ctx, const char *path, const char *text, size_t len)
{
    mp_upload *m = ctx;
    if (strcmp(path, "InitiateMultipartUploadResult/UploadId") == 0)
        copy_text(m->upload_id, sizeof(m->upload_id), text, len);
}

static void part_task(void *arg)
{
    mp_part *pt = arg;
    mp_upload *m = pt->m;
    st_err_init(&pt->err);
    if (atomic_load(&m->failed))
        return; /* another part failed: the upload is being aborted */
    char num[16], op[64];
    snprintf(num, sizeof(num), "%d", pt->num);
    snprintf(op, sizeof(op), "upload part %d of %d of", pt->num, m->nparts);
    sigv4_pair q[2] = {{"partNumber", num}, {"uploadId", m->upload_id}};
    s3_req r;
    req_init(&r, op, "PUT", m->key);
    r.query = q;
    r.nquery = 2;
    r.body = m->p + pt->off;
    r.body_len = pt->len;
    r.has_body = 1;
    r.sign_payload = !m->s->tls;
    pt->rc = s3_call(m->s, &r, &pt->err);
    if (!pt->rc && !r.etag[0])
        pt->rc = st_err_set(&pt->err, ST_EIO, "%s: %s %s: no ETag in the answer", m->s->base.name,
                            op, m->key);
    if (pt->rc)
        atomic_store(&m->failed, 1);
    else {
        memcpy(pt->etag, r.etag, sizeof(pt->etag));
        atomic_fetch_add(&m->s->n_parts, 1);
    }
    req_release(&r);
}

static void mp_abort(mp_upload *m)
{
    sigv4_pair q[1] = {{"uploadId", m->upload_id}};
    s3_req r;
    req_init(&r, "abort multipart upload", "DELETE", m->key);
    r.query = q;
    r.nquery = 1;
    st_err e;
    st_err_init(&e);
    if (s3_call(m->s, &r, &e) && e.code != ST_ENOTFOUND)
        st_log(ST_LOG_WARN,
               "multipart upload not aborted; its parts stay until a lifecycle rule "
               "removes them",
               "store", m->s->base.name, "key", m->key, "err", e.msg, NULL);
    else
        atomic_fetch_add(&m->s->n_aborts, 1);
    req_release(&r);
}

static int xml_escape(st_buf *b, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        switch (*s) {
        case '&':
            rc = st_buf_append(b, "&amp;", 5);
            break;
        case '<':
            rc = st_buf_append(b, "&lt;", 4);
            break;
        case '>':
            rc = st_buf_append(b, "&gt;", 4);
            break;
        case '"':
            rc = st_buf_append(b, "&quot;", 6);
            break;
        default:
            rc = st_buf_putc(b, (uint8_t)*s);
        }
    }
    return rc;
}

/* CreateMultipartUpload, the parts in parallel on a few threads, CompleteMultipartUpload; any
 * failure aborts the upload so no parts are left behind. */
static int put_multipart(s3_store *s, const char *key, const uint8_t *p, size_t len, st_err *err)
{
    const char *name = s->base.name;
    uint64_t part = s->part_size;
    if ((len + part - 1) / part > MAX_PARTS) {
        part = (len + MAX_PARTS - 1) / MAX_PARTS;
        part = (part + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    }
    mp_upload m;
    memset(&m, 0, sizeof(m));
    m.s = s;
    m.key = key;
    m.p = p;
    m.nparts = (int)((len + part - 1) / part);

    sigv4_pair q1[1] = {{"uploads", ""}};
    s3_req r;
    req_init(&r, "create multipart upload", "POST", key);
    r.query = q1;
    r.nquery = 1;
    r.has_body = 1;
    r.sign_payload = 1;
    r.with_meta = 1;
    int rc = s3_call(s, &r, err);
    char root[64];
    if (!rc && (xml_parse(r.xml.p, r.xml.len, on_init_leaf, &m, root) || !m.upload_id[0]))
        rc = st_err_set(err, ST_EIO, "%s: create multipart upload %s: no UploadId in the answer",
                        name, key);
    req_release(&r);
    if (rc)
        return rc;

    /* from here on a failure aborts the upload, and the message says so */
    st_err mine;
    st_err_init(&mine);
    m.parts = st_calloc((size_t)m.nparts, sizeof(*m.parts));
    st_pool *pool = NULL;
    int threads = ST_MIN(m.nparts, ST_MAX(1, s->retry.part_threads));
    if (!m.parts || st_pool_create(&pool, threads)) {
        rc = st_err_set(&mine, ST_ENOMEM, "%s: put %s: out of memory", name, key);
        goto abort;
    }
    for (int i = 0; i < m.nparts; i++) {
        mp_part *pt = &m.parts[i];
        pt->m = &m;
        pt->num = i + 1;
        pt->off = (uint64_t)i * part;
        pt->len = ST_MIN(part, len - pt->off);
        if (st_pool_submit(pool, part_task, pt)) {
            atomic_store(&m.failed, 1);
            pt->rc = st_err_set(&pt->err, ST_ENOMEM, "%s: put %s: out of memory", name, key);
            break;
        }
    }
    st_pool_wait(pool);
    st_pool_free(pool);
    for (int i = 0; i < m.nparts; i++) {
        if (m.parts[i].rc) {
            rc = st_err_copy(&mine, &m.parts[i].err);
            goto abort;
        }
    }

    st_buf body;
    st_buf_init(&body, 0);
    rc = st_buf_printf(&body, "<CompleteMultipartUpload xmlns=\"" S3_XMLNS "\">");
    for (int i = 0; i < m.nparts && !rc; i++) {
        rc = st_buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", m.parts[i].num);
        if (!rc)
            rc = xml_escape(&body, m.parts[i].etag);
        if (!rc)
            rc = st_buf_printf(&body, "</ETag></Part>");
    }
    if (!rc)
        rc = st_buf_printf(&body, "</CompleteMultipartUpload>");
    if (rc) {
        st_buf_release(&body);
        rc = st_err_set(&mine, ST_ENOMEM, "%s: put %s: out of memory", name, key);
        goto abort;
    }
    sigv4_pair q2[1] = {{"uploadId", m.upload_id}};
    req_init(&r, "complete multipart upload", "POST", key);
    r.query = q2;
    r.nquery = 1;
    r.body = body.p;
    r.body_len = body.len;
    r.has_body = 1;
    r.sign_payload = 1;
    r.content_type = "application/xml";
    r.error_in_200 = 1;
    rc = s3_call(s, &r, &mine);
    req_release(&r);
    st_buf_release(&body);
    if (rc)
        goto abort;
    atomic_fetch_add(&s->n_multiparts, 1);
    st_free(m.parts);
    return 0;
abort:
    mp_abort(&m);
    st_free(m.parts);
    return st_err_set(err, rc, "%s (multipart upload aborted)", mine.msg);
}

static int s3_put(objstore *o, const char *key, const void *p, size_t len, st_err *err)
{
    s3_store *s = (s3_store *)o;
    if (!s->disable_multipart && len > s->part_size)
        return put_multipart(s, key, p, len, err);
    return put_single(s, key, p, len, NULL, NULL, err);
}

static int s3_put_if(objstore *o, const char *key, const void *p, size_t len,
                     const objstore_cond *cond, char *etag, st_err *err)
{
    return put_single((s3_store *)o, key, p, len, cond, etag, err);
}

static int s3_supports_conditional(const objstore *o)
{
    return !atomic_load(&((s3_store *)o)->no_conditional);
}

static int s3_put_file(objstore *o, const char *key, const char *path, st_err *err)
{
    st_map m;
    st_err mine;
    st_err_init(&mine);
    if (st_map_file(&m, path, &mine))
        return st_err_set(err, ST_EIO, "%s: put %s: %s", o->name, key, mine.msg);
    int rc = s3_put(o, key, m.p, m.len, err);
    st_map_release(&m);
    return rc;
}

static int s3_del(objstore *o, const char *key, st_err *err)
{
    s3_req r;
    req_init(&r, "delete", "DELETE", key);
    st_err mine;
    st_err_init(&mine);
    int rc = s3_call((s3_store *)o, &r, &mine);
    /* a missing key is not an error (some S3-compatible servers answer 404 NoSuchKey) */
    if (rc == ST_ENOTFOUND && strcmp(r.aws_code, "NoSuchBucket") != 0)
        rc = 0;
    req_release(&r);
    return rc ? st_err_copy(err, &mine) : 0;
}

/* ---- opening ------------------------------------------------------------------------------- */

static void s3_free(objstore *o)
{
    s3_store *s = (s3_store *)o;
    for (int i = 0; i < s->nidle; i++)
        curl_easy_cleanup(s->idle[i]);
    if (s->share)
        curl_share_cleanup(s->share);
    st_free(s->idle);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->share_mu[i]);
    pthread_mutex_destroy(&s->cred_mu);
    creds_free(&s->cur);
    st_free(s->role_arn);
    st_free(s->token_file);
    st_free(s->session_name);
    st_free(s->sts_url);
    st_free(s->bucket);
    st_free(s->base_url);
    st_free(s->host);
    st_free(s->path_prefix);
    st_free(s->region);
    st_free(s->ca_file);
    st_free(s->cert_file);
    st_free(s->key_file);
    for (size_t i = 0; i < s->nmeta; i++) {
        st_free(s->meta_names[i]);
        st_free(s->meta_values[i]);
    }
    st_free(s->meta_names);
    st_free(s->meta_values);
    st_free(s->base.name);
    st_free(s);
}

static const objstore_ops s3_ops = {
    .iter = s3_iter,
    .get_range = s3_get_range,
    .get_file = s3_get_file,
    .attributes = s3_attributes,
    .put = s3_put,
    .put_file = s3_put_file,
    .del = s3_del,
    .get_etag = s3_get_etag,
    .put_if = s3_put_if,
    .supports_conditional = s3_supports_conditional,
    .free = s3_free,
};

/* Host name without the port. */
static void host_only(const char *endpoint, char *out, size_t cap)
{
    snprintf(out, cap, "%s", endpoint);
    if (out[0] == '[') { /* [v6]:port */
        char *e = strchr(out, ']');
        if (e)
            e[1] = '\0';
        return;
    }
    char *colon = strrchr(out, ':');
    if (colon)
        *colon = '\0';
}

static int is_aws(const char *host)
{
    size_t n = strlen(host);
    return (n >= 14 && strcmp(host + n - 14, ".amazonaws.com") == 0) ||
           (n >= 17 && strcmp(host + n - 17, ".amazonaws.com.cn") == 0);
}

/* A bucket name that can be a DNS label (and so a virtual host). */
static int dns_safe(const char *b, int tls)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63 || b[0] == '-' || b[0] == '.' || b[n - 1] == '-' || b[n - 1] == '.')
        return 0;
    for (const char *c = b; *c; c++) {
        if (*c == '.' && tls)
            return 0; /* a dotted name breaks the *.s3 wildcard certificate */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
            return 0;
    }
    return 1;
}

/* The region of an AWS endpoint ("s3.eu-west-1.amazonaws.com", "s3-eu-west-1...",
 * "s3.dualstack.eu-west-1..."), or NULL. */
static char *aws_region(const char *host)
{
    if (!is_aws(host))
        return NULL;
    const char *p = strncmp(host, "s3.", 3) == 0   ? host + 3
                    : strncmp(host, "s3-", 3) == 0 ? host + 3
                                                   : NULL;
    if (!p)
        return NULL;
    if (strncmp(p, "dualstack.", 10) == 0)
        p += 10;
    const char *dot = strchr(p, '.');
    if (!dot || strncmp(p, "amazonaws", 9) == 0)
        return NULL;
    return st_strndup(p, (size_t)(dot - p));
}

static int url_with_scheme(const char *u, char **out)
{
    st_buf b;
    st_buf_init(&b, 0);
    if (st_buf_printf(&b, "%s%s", strstr(u, "://") ? "" : "https://", u) || !st_buf_cstr(&b)) {
        st_buf_release(&b);
        return ST_ENOMEM;
    }
    *out = (char *)b.p;
    return 0;
}

static int setup_creds(s3_store *s, const s3_config *c, st_err *err)
{
    const char *name = s->base.name;
    s->cred_kind = CRED_STATIC;
    const char *ak = c->access_key, *sk = c->secret_key, *tok = c->session_token;
    if (!ak) {
        ak = getenv("AWS_ACCESS_KEY_ID");
        sk = getenv("AWS_SECRET_ACCESS_KEY");
        tok = getenv("AWS_SESSION_TOKEN");
        if (ak && !*ak)
            ak = NULL;
        if (ak && (!sk || !*sk))
            return st_err_set(err, ST_EAUTH,
                              "%s: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                              name);
    }
    if (tok && !*tok)
        tok = NULL;
    if (ak) {
        s->cur.access_key = st_strdup(ak);
        s->cur.secret_key = st_strdup(sk);
        s->cur.token = tok ? st_strdup(tok) : NULL;
        if (!s->cur.access_key || !s->cur.secret_key || (tok && !s->cur.token))
            return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
        return 0;
    }
    const char *role = getenv("AWS_ROLE_ARN"), *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    if (!role || !*role || !file || !*file)
        return st_err_set(err, ST_EAUTH,
                          "%s: no credentials: set access_key and secret_key, or "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN and "
                          "AWS_WEB_IDENTITY_TOKEN_FILE",
                          name);
    s->cred_kind = CRED_WEB_IDENTITY;
    const char *sn = getenv("AWS_ROLE_SESSION_NAME");
    char gen[64];
    if (!sn || !*sn) {
        snprintf(gen, sizeof(gen), "strata-%ld-%lld", (long)getpid(), (long long)st_now_ms());
        sn = gen;
    }
    const char *sts = c->sts_endpoint ? c->sts_endpoint : getenv("AWS_STS_ENDPOINT");
    char def[128];
    if (!sts || !*sts) {
        const char *reg = c->region ? c->region : getenv("AWS_REGION");
        if (reg && *reg && strcmp(reg, "us-east-1") != 0)
            snprintf(def, sizeof(def), "https://sts.%s.amazonaws.com", reg);
        else
            snprintf(def, sizeof(def), "https://sts.amazonaws.com");
        sts = def;
    }
    s->role_arn = st_strdup(role);
    s->token_file = st_strdup(file);
    s->session_name = st_strdup(sn);
    if (!s->role_arn || !s->token_file || !s->session_name || url_with_scheme(sts, &s->sts_url))
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
    return 0;
}

static long ceil_s(int64_t ms)
{
    return ms <= 0 ? 0 : (long)((ms + 999) / 1000);
}

int objstore_s3_open(objstore **out, const s3_config *c, st_err *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return st_err_set(err, ST_EIO, "s3: libcurl initialisation failed: %s",
                          curl_easy_strerror(curl_init_rc));
    if (!c->bucket || !*c->bucket || !c->endpoint || !*c->endpoint)
        return st_err_set(err, ST_EINVAL, "s3: bucket and endpoint are required");
    s3_store *s = st_calloc(1, sizeof(*s));
    if (!s)
        return st_err_set(err, ST_ENOMEM, "s3: out of memory");
    s->base.ops = &s3_ops;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->cred_mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->share_mu[i], NULL);
    int rc = 0;
    st_buf b;
    st_buf_init(&b, 0);
    if (st_buf_printf(&b, "s3://%s", c->bucket) || !st_buf_cstr(&b)) {
        st_buf_release(&b);
        rc = st_err_set(err, ST_ENOMEM, "s3: out of memory");
        goto fail;
    }
    s->base.name = (char *)b.p;
    const char *name = s->base.name;

    char host[256];
    host_only(c->endpoint, host, sizeof(host));
    s->tls = !c->insecure;
    int virt = c->lookup == S3_LOOKUP_VIRTUAL ||
               (c->lookup == S3_LOOKUP_AUTO && is_aws(host) && dns_safe(c->bucket, s->tls));
    if (virt && !dns_safe(c->bucket, 0)) {
        rc = st_err_set(err, ST_EINVAL,
                        "%s: bucket name is not DNS-safe, so it cannot be a virtual host; use "
                        "bucket_lookup_type: path",
                        name);
        goto fail;
    }
    /* Host: the endpoint as written, minus a port that is the scheme's default */
    const char *ep = c->endpoint;
    char ephost[300];
    size_t el = strlen(ep);
    if ((s->tls && el > 4 && strcmp(ep + el - 4, ":443") == 0) ||
        (!s->tls && el > 3 && strcmp(ep + el - 3, ":80") == 0)) {
        snprintf(ephost, sizeof(ephost), "%.*s", (int)(el - (s->tls ? 4 : 3)), ep);
        ep = ephost;
    }
    st_buf hb, ub, pb;
    st_buf_init(&hb, 0);
    st_buf_init(&ub, 0);
    st_buf_init(&pb, 0);
    int e = st_buf_printf(&hb, "%s%s%s", virt ? c->bucket : "", virt ? "." : "", ep);
    if (!e)
        e = !st_buf_cstr(&hb);
    if (!e)
        e = st_buf_printf(&ub, "%s://%s", s->tls ? "https" : "http", (char *)hb.p);
    if (!e && !virt) {
        e = st_buf_putc(&pb, '/');
        if (!e)
            e = sigv4_uri_encode(&pb, c->bucket, strlen(c->bucket), 0);
    }
    if (!e)
        e = !st_buf_cstr(&ub) || !st_buf_cstr(&pb);
    s->host = (char *)hb.p;
    s->base_url = (char *)ub.p;
    s->path_prefix = (char *)pb.p;
    if (e) {
        rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    s->bucket = st_strdup(c->bucket);
    if (c->region && *c->region)
        s->region = st_strdup(c->region);
    else if (!(s->region = aws_region(host)))
        s->region = st_strdup("us-east-1");
    s->part_size = c->part_size ? c->part_size : S3_DEFAULT_PART_SIZE;
    s->disable_multipart = c->disable_multipart;
    s->connect_timeout_ms = 30000 + (long)ST_MAX(c->tls_handshake_timeout_ms, 0);
    s->stall_s =
        ST_MAX(1L, ceil_s(c->response_header_timeout_ms ? c->response_header_timeout_ms : 120000));
    s->expect_ms = (long)ST_MAX(c->expect_continue_timeout_ms, 0);
    s->idle_s = ceil_s(c->idle_conn_timeout_ms);
    s->insecure_skip_verify = c->insecure_skip_verify;
    s->ca_file = c->ca_file ? st_strdup(c->ca_file) : NULL;
    s->cert_file = c->cert_file ? st_strdup(c->cert_file) : NULL;
    s->key_file = c->key_file ? st_strdup(c->key_file) : NULL;
    if (!s->bucket || !s->region || (c->ca_file && !s->ca_file) ||
        (c->cert_file && !s->cert_file) || (c->key_file && !s->key_file)) {
        rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (c->nmeta) {
        s->meta_names = st_calloc(c->nmeta, sizeof(char *));
        s->meta_values = st_calloc(c->nmeta, sizeof(char *));
        if (!s->meta_names || !s->meta_values) {
            rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
            goto fail;
        }
        for (size_t i = 0; i < c->nmeta; i++) {
            st_buf mb;
            st_buf_init(&mb, 0);
            int sc = strcasecmp(c->meta_names[i], "x-amz-storage-class") == 0;
            if (st_buf_printf(&mb, "%s%s", sc ? "" : "x-amz-meta-", c->meta_names[i]) ||
                !st_buf_cstr(&mb)) {
                st_buf_release(&mb);
                rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
                goto fail;
            }
            for (char *q = (char *)mb.p; *q; q++)
                if (*q >= 'A' && *q <= 'Z')
                    *q = (char)(*q - 'A' + 'a');
            s->meta_names[i] = (char *)mb.p;
            s->meta_values[s->nmeta++] = st_strdup(c->meta_values[i]);
            if (!s->meta_values[i]) {
                rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
                goto fail;
            }
        }
    }
    s->max_conns = c->max_conns > 0 ? c->max_conns : DEFAULT_CONNS;
    s->idle = st_calloc((size_t)s->max_conns, sizeof(CURL *));
    s->share = curl_share_init();
    if (!s->idle || !s->share) {
        rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    s->retry = (s3_retry_policy){
        .base_ms = 200,
        .cap_ms = 10000,
        .deadline_ms = 120000,
        .max_attempts = (c->max_retries >= 0 ? c->max_retries : 9) + 1,
        .part_threads = 4,
    };
    if ((rc = setup_creds(s, c, err)))
        goto fail;
    *out = &s->base;
    return 0;
fail:
    s3_free(&s->base);
    return rc;
}

void s3_set_retry_policy(objstore *o, const s3_retry_policy *p)
{
    if (o->ops == &s3_ops)
        ((s3_store *)o)->retry = *p;
}

int s3_get_stats(objstore *o, s3_stats *out)
{
    if (o->ops != &s3_ops)
        return 0;
    s3_store *s = (s3_store *)o;
    out->requests = atomic_load(&s->n_requests);
    out->retries = atomic_load(&s->n_retries);
    out->parts = atomic_load(&s->n_parts);
    out->multiparts = atomic_load(&s->n_multiparts);
    out->aborts = atomic_load(&s->n_aborts);
    out->sts_calls = atomic_load(&s->n_sts);
    out->max_in_use = atomic_load(&s->max_in_use);
    return 1;
}

int s3_get_endpoint(objstore *o, const char **base_url, const char **path_prefix,
                    const char **region)
{
    if (o->ops != &s3_ops)
        return 0;
    s3_store *s = (s3_store *)o;
    *base_url = s->base_url;
    *path_prefix = s->path_prefix;
    *region = s->region;
    return 1;
}
