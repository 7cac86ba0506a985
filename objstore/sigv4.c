/*
 * sigv4.c - AWS Signature Version 4 (docs.aws.amazon.com, "Signature Version 4 signing
 * process" and the S3 "Authenticating Requests: Using the Authorization Header" pages) on
 * OpenSSL: URI encoding, the canonical query string, the canonical request (method, URI,
 * query, canonical headers, signed headers, payload hash), the string to sign, the signing key
 * HMAC chain ("AWS4"+secret → date → region → service → "aws4_request") and the Authorization
 * header. The S3 flavour: the path is encoded once (never twice) and '/' stays as is.
 */
#include "s3_int.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdlib.h>
#include <string.h>

static const char hexdig[] = "0123456789ABCDEF";
static const char hexlow[] = "0123456789abcdef";

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int sigv4_uri_encode(st_buf *out, const char *s, size_t n, int keep_slash)
{
    int rc = st_buf_reserve(out, n * 3);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (c == '/' && keep_slash)) {
            out->p[out->len++] = c;
        } else {
            out->p[out->len++] = '%';
            out->p[out->len++] = (uint8_t)hexdig[c >> 4];
            out->p[out->len++] = (uint8_t)hexdig[c & 15];
        }
    }
    return rc;
}

typedef struct enc_pair {
    char *k, *v;
} enc_pair;

static int cmp_pair(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static char *encode_dup(const char *s)
{
    st_buf b;
    st_buf_init(&b, 0);
    if (sigv4_uri_encode(&b, s, strlen(s), 0) || !st_buf_cstr(&b)) {
        st_buf_release(&b);
        return NULL;
    }
    return (char *)b.p;
}

int sigv4_canonical_query(st_buf *out, const sigv4_pair *params, size_t n)
{
    if (n == 0)
        return st_buf_cstr(out) ? 0 : ST_ENOMEM;
    enc_pair *e = st_calloc(n, sizeof(*e));
    if (!e)
        return ST_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        e[i].k = encode_dup(params[i].name);
        e[i].v = encode_dup(params[i].value ? params[i].value : "");
        if (!e[i].k || !e[i].v)
            rc = ST_ENOMEM;
    }
    if (!rc) {
        qsort(e, n, sizeof(*e), cmp_pair);
        for (size_t i = 0; i < n && !rc; i++)
            rc = st_buf_printf(out, "%s%s=%s", i ? "&" : "", e[i].k, e[i].v);
    }
    for (size_t i = 0; i < n; i++) {
        st_free(e[i].k);
        st_free(e[i].v);
    }
    st_free(e);
    return rc;
}

void sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hexlow[md[i] >> 4];
        out[2 * i + 1] = hexlow[md[i] & 15];
    }
    out[64] = '\0';
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* A header reduced to its canonical form: lower-case name, value trimmed with inner runs of
 * spaces collapsed to one. */
typedef struct canon_header {
    char *name;
    char *value;
} canon_header;

static int cmp_header(const void *a, const void *b)
{
    return strcmp(((const canon_header *)a)->name, ((const canon_header *)b)->name);
}

static char *canon_value(const char *v)
{
    size_t n = strlen(v);
    char *o = st_malloc(n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    int space = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space && j)
            o[j++] = ' ';
        space = 0;
        o[j++] = *v;
    }
    o[j] = '\0';
    return o;
}

static void hmac(const void *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &len);
}

int sigv4_sign(const sigv4_request *r, const char *access_key, const char *secret_key,
               st_buf *authorization, st_buf *canonical_request, st_buf *string_to_sign)
{
    if (!r->amz_date || strlen(r->amz_date) != 16 || !r->region || !r->service)
        return ST_EINVAL;
    canon_header *h = st_calloc(r->nheaders ? r->nheaders : 1, sizeof(*h));
    if (!h)
        return ST_ENOMEM;
    st_buf creq, sts, signed_hdrs, secret;
    st_buf_init(&creq, 0);
    st_buf_init(&sts, 0);
    st_buf_init(&signed_hdrs, 0);
    st_buf_init(&secret, 0);
    int rc = 0;
    for (size_t i = 0; i < r->nheaders && !rc; i++) {
        h[i].name = st_strdup(r->headers[i].name);
        h[i].value = canon_value(r->headers[i].value ? r->headers[i].value : "");
        if (!h[i].name || !h[i].value) {
            rc = ST_ENOMEM;
            break;
        }
        for (char *c = h[i].name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    }
    if (rc)
        goto done;
    qsort(h, r->nheaders, sizeof(*h), cmp_header);

    /* the canonical request; a header given twice is one line with its values comma-joined */
    rc = st_buf_printf(&creq, "%s\n%s\n%s\n", r->method, r->canonical_uri, r->canonical_query);
    for (size_t i = 0; i < r->nheaders && !rc; i++) {
        int same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same) {
            creq.len--; /* drop the previous '\n' */
            rc = st_buf_printf(&creq, ",%s\n", h[i].value);
        } else {
            rc = st_buf_printf(&creq, "%s:%s\n", h[i].name, h[i].value);
            if (!rc)
                rc = st_buf_printf(&signed_hdrs, "%s%s", signed_hdrs.len ? ";" : "", h[i].name);
        }
    }
    if (!rc && !st_buf_cstr(&signed_hdrs))
        rc = ST_ENOMEM;
    if (!rc)
        rc = st_buf_printf(&creq, "\n%s\n%s", signed_hdrs.p ? (char *)signed_hdrs.p : "",
                           r->payload_hash);
    if (rc)
        goto done;

    char creq_hash[65];
    sigv4_sha256_hex(creq.p, creq.len, creq_hash);
    char date[9];
    memcpy(date, r->amz_date, 8);
    date[8] = '\0';
    rc = st_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, date,
                       r->region, r->service, creq_hash);
    if (rc)
        goto done;

    unsigned char k[32], sig[32];
    if ((rc = st_buf_printf(&secret, "AWS4%s", secret_key)))
        goto done;
    hmac(secret.p, secret.len, date, 8, k);
    hmac(k, 32, r->region, strlen(r->region), k);
    hmac(k, 32, r->service, strlen(r->service), k);
    hmac(k, 32, "aws4_request", 12, k);
    hmac(k, 32, (const char *)sts.p, sts.len, sig);
    char sighex[65];
    for (int i = 0; i < 32; i++) {
        sighex[2 * i] = hexlow[sig[i] >> 4];
        sighex[2 * i + 1] = hexlow[sig[i] & 15];
    }
    sighex[64] = '\0';
    memset(k, 0, sizeof(k));

    rc = st_buf_printf(authorization,
                       "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request,SignedHeaders=%s,"
                       "Signature=%s",
                       access_key, date, r->region, r->service, (char *)signed_hdrs.p, sighex);
    if (!rc && canonical_request)
        rc = st_buf_append(canonical_request, creq.p, creq.len);
    if (!rc && string_to_sign)
        rc = st_buf_append(string_to_sign, sts.p, sts.len);
done:
    for (size_t i = 0; i < r->nheaders; i++) {
        st_free(h[i].name);
        st_free(h[i].value);
    }
    st_free(h);
    if (secret.p)
        memset(secret.p, 0, secret.cap);
    st_buf_release(&secret);
    st_buf_release(&creq);
    st_buf_release(&sts);
    st_buf_release(&signed_hdrs);
    return rc;
}
