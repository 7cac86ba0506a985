/*
 * s3_int.h - internals of the S3 backend: the AWS Signature Version 4 signer (sigv4.c), the
 * parsed `type: S3` configuration that config.c fills in and s3.c opens, and the test hooks
 * (retry timings, request counters). Not included outside objstore/ except by its unit tests.
 */
#ifndef STRATA_S3_INT_H
#define STRATA_S3_INT_H

#include "objstore_int.h"

#include <time.h>

/* ---- SigV4 (sigv4.c) ----------------------------------------------------------------------- */

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED     "UNSIGNED-PAYLOAD"

/* A header or a query parameter, unencoded. */
typedef struct sigv4_pair {
    const char *name;
    const char *value;
} sigv4_pair;

/* AWS URI encoding of n bytes of s, appended to out: A-Za-z0-9 and -._~ are kept, every other
 * byte becomes %XX (upper-case hex); '/' is kept when keep_slash (object paths) and encoded
 * otherwise (query keys and values). */
int sigv4_uri_encode(st_buf *out, const char *s, size_t n, int keep_slash);
/* The canonical query string of n parameters appended to out: each key and value encoded,
 * sorted by encoded key then encoded value, "k=v" joined by '&' ("k=" for an empty value).
 * The result is also what goes on the wire after '?'. */
int sigv4_canonical_query(st_buf *out, const sigv4_pair *params, size_t n);

typedef struct sigv4_request {
    const char *method;          /* "GET", "PUT", ... */
    const char *canonical_uri;   /* already encoded, starts with '/' */
    const char *canonical_query; /* from sigv4_canonical_query, "" for none */
    const sigv4_pair *headers;   /* every header to sign: host, x-amz-date, ... (any case) */
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256 of the body, or SIGV4_UNSIGNED */
    const char *amz_date;     /* "YYYYMMDDTHHMMSSZ", also in the x-amz-date header */
    const char *region;
    const char *service; /* "s3", "sts" */
} sigv4_request;

/* The Authorization header value for r, signed with the secret; optionally also the canonical
 * request and the string to sign (for tests and for debugging a SignatureDoesNotMatch; neither
 * contains the secret). Returns 0 or ST_ENOMEM / ST_EINVAL. */
int sigv4_sign(const sigv4_request *r, const char *access_key, const char *secret_key,
               st_buf *authorization, st_buf *canonical_request, st_buf *string_to_sign);
/* Lower-case hex SHA-256 of n bytes. */
void sigv4_sha256_hex(const void *p, size_t n, char out[65]);
/* "YYYYMMDDTHHMMSSZ" for a Unix time. */
void sigv4_amz_date(time_t t, char out[17]);

/* ---- configuration (config.c → s3.c) ------------------------------------------------------- */

enum { S3_LOOKUP_AUTO = 0, S3_LOOKUP_VIRTUAL, S3_LOOKUP_PATH };

/* What config.c read from `type: S3`; strings are owned by the struct (s3_config_release). */
typedef struct s3_config {
    char *bucket;
    char *endpoint; /* host[:port], no scheme */
    char *region;   /* NULL: from an AWS endpoint name, else us-east-1 */
    char *access_key, *secret_key, *session_token;
    char *sts_endpoint; /* URL of STS for web identity; NULL: $AWS_STS_ENDPOINT or AWS' */
    int insecure;       /* http instead of https */
    int lookup;         /* S3_LOOKUP_* */
    uint64_t part_size; /* multipart above this many bytes */
    int disable_multipart;
    int max_retries; /* attempts after the first; <0: the default */
    /* http_config */
    int insecure_skip_verify;
    int64_t idle_conn_timeout_ms;
    int64_t response_header_timeout_ms;
    int64_t tls_handshake_timeout_ms;
    int64_t expect_continue_timeout_ms;
    int max_conns; /* concurrent requests per store; 0: the default */
    char *ca_file, *cert_file, *key_file;
    /* put_user_metadata: x-amz-meta-<name> headers (and X-Amz-Storage-Class) */
    char **meta_names, **meta_values;
    size_t nmeta;
} s3_config;

#define S3_DEFAULT_PART_SIZE (64ull << 20) /* Thanos' DefaultConfig.PartSize */

void s3_config_init(s3_config *c);
void s3_config_release(s3_config *c);
/* Open an S3 store from c (ownership of c's strings stays with the caller). */
int objstore_s3_open(objstore **out, const s3_config *c, st_err *err);

/* Go durations ("90s", "1m30s", "250ms", "2h"; also Prometheus' "d", "w", "y") to ms. */
int objstore_parse_duration(const char *s, int64_t *ms);

/* ---- test hooks ---------------------------------------------------------------------------- */

typedef struct s3_retry_policy {
    int64_t base_ms;     /* first backoff; doubles per attempt */
    int64_t cap_ms;      /* no backoff is longer */
    int64_t deadline_ms; /* no new attempt starts after this much time since the first */
    int max_attempts;    /* including the first */
    int part_threads;    /* multipart uploads in parallel */
} s3_retry_policy;

/* Replace the retry policy of an S3 store (tests shorten it). */
void s3_set_retry_policy(objstore *s, const s3_retry_policy *p);

typedef struct s3_stats {
    uint64_t requests;   /* HTTP requests sent (every attempt) */
    uint64_t retries;    /* attempts after a retryable failure */
    uint64_t parts;      /* multipart parts uploaded */
    uint64_t multiparts; /* multipart uploads completed */
    uint64_t aborts;     /* multipart uploads aborted */
    uint64_t sts_calls;  /* AssumeRoleWithWebIdentity requests */
    uint64_t max_in_use; /* the most requests in flight at once */
} s3_stats;

/* 1 if s is an S3 store, and then a snapshot of its counters. */
int s3_get_stats(objstore *s, s3_stats *out);
/* 1 if s is an S3 store, and then where its requests go: "https://b.s3.amazonaws.com" with
 * path prefix "" (virtual host) or "http://127.0.0.1:9000" with "/b" (path style), and the
 * signing region. Borrowed until objstore_free. */
int s3_get_endpoint(objstore *s, const char **base_url, const char **path_prefix,
                    const char **region);

#endif
