/*
 * config.c - Thanos-style objstore YAML: `type:` (FILESYSTEM or S3, case-insensitive), `config:`
 * with the backend's keys, optional `prefix:`. Loaded with libyaml's document API; unknown keys
 * are errors that name them, so a typo never silently falls back to a default. For S3 the keys
 * are Thanos' (providers/s3 Config and exthttp.HTTPConfig, with their defaults); the few Thanos
 * keys strata does not implement are accepted with a warning, except sse_config, which is
 * refused rather than silently storing unencrypted data. Values never appear in messages.
 */
#include "s3_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

yaml_node_t *objstore_yaml_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

const char *objstore_yaml_scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Every key of map must be in allowed (NULL-terminated). */
static int check_keys(yaml_document_t *doc, yaml_node_t *map, const char *const *allowed,
                      const char *where, const char *name, st_err *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = objstore_yaml_scalar(yaml_document_get_node(doc, p->key));
        int ok = 0;
        for (size_t i = 0; k && allowed[i]; i++)
            ok |= strcmp(k, allowed[i]) == 0;
        if (!ok)
            return st_err_set(err, ST_EINVAL, "%s: unknown key \"%s\" in %s", name,
                              k ? k : "(not a string)", where);
    }
    return 0;
}

static int open_filesystem(objstore **out, yaml_document_t *doc, yaml_node_t *cfg, const char *name,
                           st_err *err)
{
    static const char *const keys[] = {"directory", NULL};
    if (!cfg || cfg->type != YAML_MAPPING_NODE)
        return st_err_set(err, ST_EINVAL, "%s: FILESYSTEM needs config: {directory: DIR}", name);
    int rc = check_keys(doc, cfg, keys, "config", name, err);
    if (rc)
        return rc;
    const char *dir = objstore_yaml_scalar(objstore_yaml_get(doc, cfg, "directory"));
    if (!dir || !*dir)
        return st_err_set(err, ST_EINVAL, "%s: FILESYSTEM config has no directory", name);
    return objstore_fs_open(out, dir, err);
}

/* ---- S3 ------------------------------------------------------------------------------------ */

int objstore_parse_duration(const char *s, int64_t *ms)
{
    /* Go's time.ParseDuration units plus Prometheus' d, w, y; "0" alone is allowed */
    static const struct {
        const char *u;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1},      {"s", 1e3},
                 {"m", 6e4},   {"h", 3.6e6}, {"d", 8.64e7},       {"w", 6.048e8}, {"y", 3.1536e10}};
    if (!s || !*s)
        return ST_EINVAL;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    double total = 0;
    const char *p = s;
    while (*p) {
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return ST_EINVAL;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno)
            return ST_EINVAL;
        p = end;
        size_t best = 0, bl = 0;
        for (size_t i = 0; i < ST_ARRAY_LEN(units); i++) {
            size_t l = strlen(units[i].u);
            if (strncmp(p, units[i].u, l) == 0 && l > bl) {
                best = i;
                bl = l;
            }
        }
        if (!bl)
            return ST_EINVAL;
        total += v * units[best].ms;
        p += bl;
    }
    if (total > 9.2e15)
        return ST_EINVAL;
    *ms = (int64_t)(total + 0.5);
    return 0;
}

void s3_config_init(s3_config *c)
{
    memset(c, 0, sizeof(*c));
    c->lookup = S3_LOOKUP_AUTO;
    c->part_size = S3_DEFAULT_PART_SIZE;
    c->max_retries = -1;
    /* Thanos' exthttp.DefaultHTTPConfig */
    c->idle_conn_timeout_ms = 90 * 1000;
    c->response_header_timeout_ms = 2 * 60 * 1000;
    c->tls_handshake_timeout_ms = 10 * 1000;
    c->expect_continue_timeout_ms = 1000;
}

static void free_secret(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        st_free(s);
    }
}

void s3_config_release(s3_config *c)
{
    st_free(c->bucket);
    st_free(c->endpoint);
    st_free(c->region);
    st_free(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    st_free(c->sts_endpoint);
    st_free(c->ca_file);
    st_free(c->cert_file);
    st_free(c->key_file);
    for (size_t i = 0; i < c->nmeta; i++) {
        st_free(c->meta_names[i]);
        st_free(c->meta_values[i]);
    }
    st_free(c->meta_names);
    st_free(c->meta_values);
    s3_config_init(c);
}

typedef struct cfg_ctx {
    yaml_document_t *doc;
    const char *name; /* file name for messages */
    st_err *err;
} cfg_ctx;

/* Values are never quoted in messages: a secret must not leak through a typo report. */
static const char *scalar_of(cfg_ctx *x, yaml_node_t *n, const char *key, int *rc)
{
    const char *v = objstore_yaml_scalar(n);
    if (!v)
        *rc = st_err_set(x->err, ST_EINVAL, "%s: S3 config key %s must be a plain value", x->name,
                         key);
    return v;
}

static int get_str(cfg_ctx *x, yaml_node_t *n, const char *key, char **out)
{
    int rc = 0;
    const char *v = scalar_of(x, n, key, &rc);
    if (rc)
        return rc;
    st_free(*out);
    *out = *v ? st_strdup(v) : NULL;
    if (*v && !*out)
        return st_err_set(x->err, ST_ENOMEM, "%s: out of memory", x->name);
    return 0;
}

static int get_bool(cfg_ctx *x, yaml_node_t *n, const char *key, int *out)
{
    int rc = 0;
    const char *v = scalar_of(x, n, key, &rc);
    if (rc)
        return rc;
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return st_err_set(x->err, ST_EINVAL, "%s: S3 config key %s must be true or false", x->name,
                      key);
}

static int get_u64(cfg_ctx *x, yaml_node_t *n, const char *key, uint64_t *out)
{
    int rc = 0;
    const char *v = scalar_of(x, n, key, &rc);
    if (rc)
        return rc;
    char *end;
    errno = 0;
    unsigned long long u = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-')
        return st_err_set(x->err, ST_EINVAL, "%s: S3 config key %s must be a whole number", x->name,
                          key);
    *out = u;
    return 0;
}

static int get_int(cfg_ctx *x, yaml_node_t *n, const char *key, int *out)
{
    uint64_t u = 0;
    int rc = get_u64(x, n, key, &u);
    if (!rc && u > 1000000)
        rc = st_err_set(x->err, ST_EINVAL, "%s: S3 config key %s is too large", x->name, key);
    if (!rc)
        *out = (int)u;
    return rc;
}

static int get_duration(cfg_ctx *x, yaml_node_t *n, const char *key, int64_t *out)
{
    int rc = 0;
    const char *v = scalar_of(x, n, key, &rc);
    if (rc)
        return rc;
    if (objstore_parse_duration(v, out))
        return st_err_set(x->err, ST_EINVAL,
                          "%s: S3 config key %s: \"%s\" is not a duration (like 90s or 1m30s)",
                          x->name, key, v);
    return 0;
}

static void warn_ignored(cfg_ctx *x, const char *key, const char *why)
{
    st_log(ST_LOG_WARN, "objstore config key ignored", "config", x->name, "key", key, "reason", why,
           NULL);
}

static int is_false_or_empty(yaml_node_t *n)
{
    const char *v = objstore_yaml_scalar(n);
    if (v)
        return !*v || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
               strcasecmp(v, "off") == 0;
    if (n->type == YAML_MAPPING_NODE)
        return n->data.mapping.pairs.top == n->data.mapping.pairs.start;
    return 0;
}

static int parse_meta(cfg_ctx *x, yaml_node_t *map, s3_config *c)
{
    if (is_false_or_empty(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return st_err_set(x->err, ST_EINVAL, "%s: put_user_metadata must be a mapping", x->name);
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n == 0)
        return 0;
    if (n > 16)
        return st_err_set(x->err, ST_EINVAL, "%s: put_user_metadata has more than 16 entries",
                          x->name);
    c->meta_names = st_calloc(n, sizeof(char *));
    c->meta_values = st_calloc(n, sizeof(char *));
    if (!c->meta_names || !c->meta_values)
        return st_err_set(x->err, ST_ENOMEM, "%s: out of memory", x->name);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = objstore_yaml_scalar(yaml_document_get_node(x->doc, p->key));
        const char *v = objstore_yaml_scalar(yaml_document_get_node(x->doc, p->value));
        if (!k || !v || !*k)
            return st_err_set(x->err, ST_EINVAL,
                              "%s: put_user_metadata must map names to plain values", x->name);
        for (const char *q = k; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '-' || *q == '_'))
                return st_err_set(x->err, ST_EINVAL,
                                  "%s: put_user_metadata name \"%s\" is not a header name", x->name,
                                  k);
        for (const char *q = v; *q; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                return st_err_set(x->err, ST_EINVAL,
                                  "%s: put_user_metadata value of \"%s\" has control characters",
                                  x->name, k);
        size_t i = c->nmeta++;
        c->meta_names[i] = st_strdup(k);
        c->meta_values[i] = st_strdup(v);
        if (!c->meta_names[i] || !c->meta_values[i])
            return st_err_set(x->err, ST_ENOMEM, "%s: out of memory", x->name);
    }
    return 0;
}

static int parse_tls(cfg_ctx *x, yaml_node_t *map, s3_config *c)
{
    static const char *const keys[] = {
        "ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", NULL};
    if (is_false_or_empty(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return st_err_set(x->err, ST_EINVAL, "%s: http_config.tls_config must be a mapping",
                          x->name);
    int rc = check_keys(x->doc, map, keys, "config.http_config.tls_config", x->name, x->err);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         !rc && p < map->data.mapping.pairs.top; p++) {
        const char *k = objstore_yaml_scalar(yaml_document_get_node(x->doc, p->key));
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (strcmp(k, "ca_file") == 0)
            rc = get_str(x, v, "http_config.tls_config.ca_file", &c->ca_file);
        else if (strcmp(k, "cert_file") == 0)
            rc = get_str(x, v, "http_config.tls_config.cert_file", &c->cert_file);
        else if (strcmp(k, "key_file") == 0)
            rc = get_str(x, v, "http_config.tls_config.key_file", &c->key_file);
        else if (strcmp(k, "insecure_skip_verify") == 0) {
            int b = 0;
            rc = get_bool(x, v, "http_config.tls_config.insecure_skip_verify", &b);
            c->insecure_skip_verify |= b;
        } else if (!is_false_or_empty(v))
            warn_ignored(x, "http_config.tls_config.server_name",
                         "SNI and certificate checks use the endpoint's host name");
    }
    if (!rc && !c->cert_file != !c->key_file)
        rc = st_err_set(x->err, ST_EINVAL,
                        "%s: http_config.tls_config needs both cert_file and key_file", x->name);
    return rc;
}

static int parse_http(cfg_ctx *x, yaml_node_t *map, s3_config *c)
{
    static const char *const keys[] = {
        "idle_conn_timeout",       "response_header_timeout", "insecure_skip_verify",
        "tls_handshake_timeout",   "expect_continue_timeout", "max_idle_conns",
        "max_idle_conns_per_host", "max_conns_per_host",      "tls_config",
        "force_attempt_http2",     "disable_compression",     NULL};
    if (is_false_or_empty(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return st_err_set(x->err, ST_EINVAL, "%s: http_config must be a mapping", x->name);
    int rc = check_keys(x->doc, map, keys, "config.http_config", x->name, x->err);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         !rc && p < map->data.mapping.pairs.top; p++) {
        const char *k = objstore_yaml_scalar(yaml_document_get_node(x->doc, p->key));
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (strcmp(k, "idle_conn_timeout") == 0)
            rc = get_duration(x, v, "http_config.idle_conn_timeout", &c->idle_conn_timeout_ms);
        else if (strcmp(k, "response_header_timeout") == 0)
            rc = get_duration(x, v, "http_config.response_header_timeout",
                              &c->response_header_timeout_ms);
        else if (strcmp(k, "tls_handshake_timeout") == 0)
            rc = get_duration(x, v, "http_config.tls_handshake_timeout",
                              &c->tls_handshake_timeout_ms);
        else if (strcmp(k, "expect_continue_timeout") == 0)
            rc = get_duration(x, v, "http_config.expect_continue_timeout",
                              &c->expect_continue_timeout_ms);
        else if (strcmp(k, "insecure_skip_verify") == 0) {
            int b = 0;
            rc = get_bool(x, v, "http_config.insecure_skip_verify", &b);
            c->insecure_skip_verify |= b;
        } else if (strcmp(k, "max_conns_per_host") == 0)
            rc = get_int(x, v, "http_config.max_conns_per_host", &c->max_conns);
        else if (strcmp(k, "tls_config") == 0)
            rc = parse_tls(x, v, c);
        else if (strcmp(k, "max_idle_conns") == 0 || strcmp(k, "max_idle_conns_per_host") == 0)
            warn_ignored(x, k, "one connection is kept per concurrent request slot");
        else if (!is_false_or_empty(v))
            warn_ignored(x, k, "not implemented (HTTP/1.1, no compression requested)");
    }
    return rc;
}

/* Thanos providers/s3 Config keys: the ones strata implements, then the ones it accepts with
 * a warning. */
static int parse_s3(cfg_ctx *x, yaml_node_t *cfg, s3_config *c)
{
    static const char *const keys[] = {
        "bucket", "endpoint", "region", "access_key", "secret_key", "session_token", "insecure",
        "bucket_lookup_type", "part_size", "disable_multipart", "http_config", "sts_endpoint",
        "max_retries", "put_user_metadata", "list_objects_version", "sse_config",
        /* accepted, ignored */
        "signature_version2", "send_content_md5", "trace", "aws_sdk_auth", "disable_dualstack",
        NULL};
    int rc = check_keys(x->doc, cfg, keys, "config", x->name, x->err);
    for (yaml_node_pair_t *p = cfg->data.mapping.pairs.start;
         !rc && p < cfg->data.mapping.pairs.top; p++) {
        const char *k = objstore_yaml_scalar(yaml_document_get_node(x->doc, p->key));
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (strcmp(k, "bucket") == 0)
            rc = get_str(x, v, k, &c->bucket);
        else if (strcmp(k, "endpoint") == 0)
            rc = get_str(x, v, k, &c->endpoint);
        else if (strcmp(k, "region") == 0)
            rc = get_str(x, v, k, &c->region);
        else if (strcmp(k, "access_key") == 0)
            rc = get_str(x, v, k, &c->access_key);
        else if (strcmp(k, "secret_key") == 0)
            rc = get_str(x, v, k, &c->secret_key);
        else if (strcmp(k, "session_token") == 0)
            rc = get_str(x, v, k, &c->session_token);
        else if (strcmp(k, "sts_endpoint") == 0)
            rc = get_str(x, v, k, &c->sts_endpoint);
        else if (strcmp(k, "insecure") == 0)
            rc = get_bool(x, v, k, &c->insecure);
        else if (strcmp(k, "disable_multipart") == 0)
            rc = get_bool(x, v, k, &c->disable_multipart);
        else if (strcmp(k, "max_retries") == 0)
            rc = get_int(x, v, k, &c->max_retries);
        else if (strcmp(k, "part_size") == 0) {
            rc = get_u64(x, v, k, &c->part_size);
            if (!rc && c->part_size == 0)
                c->part_size = S3_DEFAULT_PART_SIZE;
            if (!rc && c->part_size > (5ull << 30))
                rc = st_err_set(x->err, ST_EINVAL, "%s: part_size above S3's 5 GiB part limit",
                                x->name);
            if (!rc && c->part_size < (5ull << 20))
                st_log(ST_LOG_WARN, "part_size below 5 MiB: AWS S3 refuses such parts", "config",
                       x->name, NULL);
        } else if (strcmp(k, "bucket_lookup_type") == 0) {
            const char *t = scalar_of(x, v, k, &rc);
            if (rc)
                break;
            if (strcmp(t, "auto") == 0)
                c->lookup = S3_LOOKUP_AUTO;
            else if (strcmp(t, "virtual-hosted") == 0)
                c->lookup = S3_LOOKUP_VIRTUAL;
            else if (strcmp(t, "path") == 0)
                c->lookup = S3_LOOKUP_PATH;
            else
                rc = st_err_set(x->err, ST_EINVAL,
                                "%s: bucket_lookup_type \"%s\": use auto, virtual-hosted or path",
                                x->name, t);
        } else if (strcmp(k, "http_config") == 0)
            rc = parse_http(x, v, c);
        else if (strcmp(k, "put_user_metadata") == 0)
            rc = parse_meta(x, v, c);
        else if (strcmp(k, "list_objects_version") == 0) {
            const char *t = scalar_of(x, v, k, &rc);
            if (rc)
                break;
            if (strcmp(t, "v1") == 0)
                warn_ignored(x, k, "listings always use ListObjectsV2");
            else if (*t && strcmp(t, "v2") != 0)
                rc = st_err_set(x->err, ST_EINVAL, "%s: list_objects_version \"%s\": use v1 or v2",
                                x->name, t);
        } else if (strcmp(k, "sse_config") == 0) {
            /* never silently store data unencrypted that the user asked to encrypt */
            const char *t = objstore_yaml_scalar(objstore_yaml_get(x->doc, v, "type"));
            if (v->type != YAML_MAPPING_NODE && !is_false_or_empty(v))
                rc = st_err_set(x->err, ST_EINVAL, "%s: sse_config must be a mapping", x->name);
            else if (t && *t)
                rc = st_err_set(x->err, ST_EUNSUPP,
                                "%s: sse_config type %s is not supported by strata yet; use the "
                                "bucket's default encryption instead",
                                x->name, t);
        } else if (strcmp(k, "trace") == 0) {
            yaml_node_t *en = objstore_yaml_get(x->doc, v, "enable");
            if (en && !is_false_or_empty(en))
                warn_ignored(x, "trace.enable", "request tracing is not implemented");
        } else if (!is_false_or_empty(v))
            warn_ignored(x, k,
                         strcmp(k, "signature_version2") == 0
                             ? "strata signs with AWS Signature Version 4 only"
                         : strcmp(k, "send_content_md5") == 0
                             ? "payloads are protected by their signed SHA-256 (or TLS)"
                             : "not implemented");
    }
    if (rc)
        return rc;
    if (!c->bucket)
        return st_err_set(x->err, ST_EINVAL, "%s: S3 config has no bucket", x->name);
    if (!c->endpoint)
        return st_err_set(x->err, ST_EINVAL, "%s: S3 config has no endpoint", x->name);
    if (strstr(c->endpoint, "://") || strchr(c->endpoint, '/'))
        return st_err_set(x->err, ST_EINVAL,
                          "%s: S3 endpoint must be host[:port] without a scheme or path "
                          "(insecure: true selects http)",
                          x->name);
    if (!c->access_key != !c->secret_key)
        return st_err_set(x->err, ST_EINVAL,
                          "%s: S3 config has %s but no %s; give both, or neither to use the "
                          "environment",
                          x->name, c->access_key ? "access_key" : "secret_key",
                          c->access_key ? "secret_key" : "access_key");
    return 0;
}

static int open_s3(objstore **out, yaml_document_t *doc, yaml_node_t *cfg, const char *name,
                   st_err *err)
{
    if (!cfg || cfg->type != YAML_MAPPING_NODE)
        return st_err_set(err, ST_EINVAL, "%s: S3 needs config: {bucket: ..., endpoint: ...}",
                          name);
    cfg_ctx x = {doc, name, err};
    s3_config c;
    s3_config_init(&c);
    int rc = parse_s3(&x, cfg, &c);
    if (!rc) {
        st_err mine;
        st_err_init(&mine);
        if ((rc = objstore_s3_open(out, &c, &mine)))
            st_err_set(err, rc, "%s: %s", name, mine.msg);
    }
    s3_config_release(&c);
    return rc;
}

int objstore_open_yaml(objstore **out, const char *yaml, size_t len, const char *name, st_err *err)
{
    static const char *const top_keys[] = {"type", "config", "prefix", NULL};
    *out = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = st_err_set(err, ST_EINVAL, "%s: bad YAML at line %zu, column %zu: %s", name,
                            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = st_err_set(err, ST_EINVAL, "%s: expected a mapping with type: and config:", name);
        goto done;
    }
    if ((rc = check_keys(&doc, root, top_keys, "the top level", name, err)))
        goto done;
    const char *type = objstore_yaml_scalar(objstore_yaml_get(&doc, root, "type"));
    const char *prefix = objstore_yaml_scalar(objstore_yaml_get(&doc, root, "prefix"));
    yaml_node_t *cfg = objstore_yaml_get(&doc, root, "config");
    if (prefix && *prefix) {
        rc = st_err_set(err, ST_EUNSUPP, "%s: prefix: is not supported yet", name);
        goto done;
    }
    if (!type) {
        rc = st_err_set(err, ST_EINVAL, "%s: no type: (FILESYSTEM or S3)", name);
        goto done;
    }
    if (strcasecmp(type, "FILESYSTEM") == 0)
        rc = open_filesystem(out, &doc, cfg, name, err);
    else if (strcasecmp(type, "S3") == 0)
        rc = open_s3(out, &doc, cfg, name, err);
    else
        rc = st_err_set(err, ST_EINVAL, "%s: unknown type \"%s\" (FILESYSTEM or S3)", name, type);
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}
