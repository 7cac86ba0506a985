/*
 * markers.c - Thanos' marker files, written byte for byte as Thanos writes them and read back:
 * `deletion-mark.json`, `no-compact-mark.json` and `no-downsample-mark.json` next to a block's
 * meta.json (thanos-compactor.md §1, Thanos pkg/block/metadata/markers.go and
 * pkg/block/block.go MarkForDeletion / MarkForNoCompact / MarkForNoDownsample / RemoveMark).
 *
 * A marker is Go's json.Marshal of a struct: compact, no indent, no trailing newline, fields in
 * struct order, `details` left out when empty:
 *
 *   deletion-mark.json       {"id":ULID,"version":1,"details":S,"deletion_time":UNIX_S}
 *   no-compact-mark.json     {"id":ULID,"version":1,"details":S,"no_compact_time":UNIX_S,
 *                             "reason":S}
 *   no-downsample-mark.json  {"id":ULID,"version":1,"details":S,"no_downsample_time":UNIX_S,
 *                             "reason":S}
 *
 * Strings are escaped as Go's encoding/json escapes them (HTML-safe: <, > and & as \u003c,
 * \u003e, \u0026; U+2028 and U+2029 as \u2028, \u2029; each byte of invalid UTF-8 as \ufffd).
 */
#include "compactor_int.h"

#include "objstore/objstore.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

/* Markers are tiny; anything bigger is not one of ours. */
#define MARKER_MAX_BYTES (1u << 20)

static const char *const file_names[MARKER_NTYPES] = {"deletion-mark.json", "no-compact-mark.json",
                                                      "no-downsample-mark.json"};
static const char *const short_names[MARKER_NTYPES] = {"deletion", "no-compact", "no-downsample"};
static const char *const time_keys[MARKER_NTYPES] = {"deletion_time", "no_compact_time",
                                                     "no_downsample_time"};

const char *marker_filename(marker_type t)
{
    return (unsigned)t < MARKER_NTYPES ? file_names[t] : "?";
}

const char *marker_type_name(marker_type t)
{
    return (unsigned)t < MARKER_NTYPES ? short_names[t] : "?";
}

int marker_type_parse(const char *s, marker_type *t)
{
    for (int i = 0; i < MARKER_NTYPES; i++) {
        if (strcmp(s, short_names[i]) == 0 || strcmp(s, file_names[i]) == 0) {
            *t = (marker_type)i;
            return 0;
        }
    }
    return ST_EINVAL;
}

/* Length of the valid UTF-8 sequence at p (Go's utf8.DecodeRune rules: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 if invalid. *cp gets the code point. */
static size_t utf8_len(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int marker_json_string(st_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    int rc = st_buf_putc(b, '"');
    for (size_t i = 0; i < n && !rc;) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            rc = st_buf_putc(b, c);
            i++;
            continue;
        }
        if (c < 0x80) {
            const char *esc = NULL;
            switch (c) {
            case '"':
                esc = "\\\"";
                break;
            case '\\':
                esc = "\\\\";
                break;
            case '\b':
                esc = "\\b";
                break;
            case '\f':
                esc = "\\f";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            }
            if (esc) {
                rc = st_buf_append(b, esc, 2);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                rc = st_buf_append(b, u, 6);
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = utf8_len(p + i, n - i, &cp);
        if (l == 0) {
            rc = st_buf_append(b, "\\ufffd", 6);
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) {
            rc = st_buf_append(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            i += l;
        } else {
            rc = st_buf_append(b, p + i, l);
            i += l;
        }
    }
    return rc ? rc : st_buf_putc(b, '"');
}

int marker_encode(st_buf *out, marker_type t, const char *ulid, const char *reason,
                  const char *details, int64_t time_s)
{
    if ((unsigned)t >= MARKER_NTYPES || !ulid || !codec_ulid_valid(ulid, strlen(ulid)))
        return ST_EINVAL;
    char id[CODEC_ULID_LEN + 1];
    for (size_t i = 0; i <= CODEC_ULID_LEN; i++)
        id[i] = (char)toupper((unsigned char)ulid[i]);
    int rc = st_buf_printf(out, "{\"id\":\"%s\",\"version\":1", id);
    if (!rc && details && *details) {
        rc = st_buf_append(out, ",\"details\":", 11);
        if (!rc)
            rc = marker_json_string(out, details);
    }
    if (!rc)
        rc = st_buf_printf(out, ",\"%s\":%" PRId64, time_keys[t], time_s);
    if (!rc && t != MARKER_DELETION) {
        rc = st_buf_append(out, ",\"reason\":", 10);
        if (!rc)
            rc = marker_json_string(out, reason && *reason ? reason : MARKER_REASON_MANUAL);
    }
    return rc ? rc : st_buf_putc(out, '}');
}

void marker_info_release(marker_info *m)
{
    st_free(m->reason);
    st_free(m->details);
    memset(m, 0, sizeof(*m));
}

int marker_decode(marker_info *out, marker_type t, const void *p, size_t len, const char *name,
                  st_err *err)
{
    memset(out, 0, sizeof(*out));
    out->type = t;
    json_error_t je;
    json_t *o = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
    int rc = ST_ECORRUPT;
    if (!o || !json_is_object(o)) {
        st_err_set(err, rc, "%s: not a JSON object: %s", name, o ? "wrong type" : je.text);
        goto done;
    }
    json_t *id = json_object_get(o, "id"), *ver = json_object_get(o, "version");
    json_t *tm = json_object_get(o, time_keys[t]), *det = json_object_get(o, "details");
    json_t *rea = json_object_get(o, "reason");
    if (!json_is_string(id) || !codec_ulid_valid(json_string_value(id), json_string_length(id))) {
        st_err_set(err, rc, "%s: \"id\" is not a ULID", name);
        goto done;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        st_err_set(err, rc, "%s: unexpected %s file version (expected 1)", name,
                   marker_type_name(t));
        goto done;
    }
    if (tm && !json_is_integer(tm)) {
        st_err_set(err, rc, "%s: \"%s\" is not an integer", name, time_keys[t]);
        goto done;
    }
    if ((det && !json_is_string(det)) || (rea && !json_is_string(rea))) {
        st_err_set(err, rc, "%s: \"details\" and \"reason\" must be strings", name);
        goto done;
    }
    memcpy(out->id.s, json_string_value(id), CODEC_ULID_LEN);
    for (size_t i = 0; i < CODEC_ULID_LEN; i++)
        out->id.s[i] = (char)toupper((unsigned char)out->id.s[i]);
    out->id.s[CODEC_ULID_LEN] = '\0';
    out->version = 1;
    out->time_s = tm ? (int64_t)json_integer_value(tm) : 0;
    out->details = st_strdup(det ? json_string_value(det) : "");
    out->reason = st_strdup(rea ? json_string_value(rea) : "");
    if (!out->details || !out->reason) {
        marker_info_release(out);
        out->type = t;
        rc = st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    rc = 0;
done:
    json_decref(o);
    return rc;
}

/* "<prefix>/<ULID>" or "<prefix>/<ULID>/" -> key "<prefix>/<ULID>/<file>" and the ULID. */
static int marker_key(const char *block_prefix, marker_type t, char *key, size_t keysz,
                      codec_ulid *id, st_err *err)
{
    size_t n = block_prefix ? strlen(block_prefix) : 0;
    while (n > 0 && block_prefix[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && block_prefix[start - 1] != '/')
        start--;
    if ((unsigned)t >= MARKER_NTYPES || n - start != CODEC_ULID_LEN ||
        !codec_ulid_valid(block_prefix + start, CODEC_ULID_LEN))
        return st_err_set(err, ST_EINVAL, "marker: '%s' is not a block prefix ([tenant/]ULID)",
                          block_prefix ? block_prefix : "(null)");
    if ((size_t)snprintf(key, keysz, "%.*s/%s", (int)n, block_prefix, file_names[t]) >= keysz)
        return st_err_set(err, ST_EINVAL, "marker: block prefix too long");
    memcpy(id->s, block_prefix + start, CODEC_ULID_LEN);
    id->s[CODEC_ULID_LEN] = '\0';
    return 0;
}

/* The marker's key (room for 1024 bytes) and block ULID, and whether it exists. */
static int marker_lookup(objstore *s, const char *block_prefix, marker_type t, char *key,
                         codec_ulid *id, int *exists, st_err *err)
{
    *exists = 0;
    int rc = marker_key(block_prefix, t, key, 1024, id, err);
    return rc ? rc : objstore_exists(s, key, exists, err);
}

int markers_exists(objstore *s, const char *block_prefix, marker_type t, int *exists, st_err *err)
{
    char key[1024];
    codec_ulid id;
    return marker_lookup(s, block_prefix, t, key, &id, exists, err);
}

int markers_put(objstore *s, const char *block_prefix, marker_type t, const char *reason,
                const char *details, int64_t now_s, int *existed, st_err *err)
{
    char key[1024];
    codec_ulid id;
    int exists = 0;
    if (existed)
        *existed = 0;
    /* As Thanos: an existing marker is left as it is (its time is the one that counts). */
    int rc = marker_lookup(s, block_prefix, t, key, &id, &exists, err);
    if (rc)
        return rc;
    if (exists) {
        if (existed)
            *existed = 1;
        st_log(ST_LOG_WARN, "marker already exists; left unchanged", "file", key, NULL);
        return 0;
    }
    st_buf b;
    st_buf_init(&b, MARKER_MAX_BYTES);
    rc = marker_encode(&b, t, id.s, reason, details, now_s);
    if (rc)
        st_err_set(err, rc, "%s: cannot encode the marker: %s", key, st_strerror(rc));
    else
        rc = objstore_put(s, key, b.p, b.len, err);
    st_buf_release(&b);
    return rc;
}

int markers_get(objstore *s, const char *block_prefix, marker_type t, marker_info *out, st_err *err)
{
    char key[1024];
    codec_ulid id;
    memset(out, 0, sizeof(*out));
    int rc = marker_key(block_prefix, t, key, sizeof(key), &id, err);
    if (rc)
        return rc;
    st_buf b;
    st_buf_init(&b, 0);
    rc = objstore_get(s, key, &b, MARKER_MAX_BYTES, err);
    if (!rc)
        rc = marker_decode(out, t, b.p, b.len, key, err);
    st_buf_release(&b);
    return rc;
}

int markers_remove(objstore *s, const char *block_prefix, marker_type t, int *existed, st_err *err)
{
    char key[1024];
    codec_ulid id;
    int exists = 0;
    if (existed)
        *existed = 0;
    int rc = marker_lookup(s, block_prefix, t, key, &id, &exists, err);
    if (rc)
        return rc;
    if (!exists) {
        st_log(ST_LOG_WARN, "marker to remove does not exist", "file", key, NULL);
        return 0;
    }
    if (existed)
        *existed = 1;
    return objstore_delete(s, key, err);
}

int markers_quarantine(objstore *s, const char *block_prefix, const char *reason, const char *file,
                       const char *what, int64_t now_s, int *existed, st_err *err)
{
    st_buf d;
    st_buf_init(&d, 64 * 1024);
    int rc = st_buf_printf(&d, "quarantined by strata: %s: %s", file && *file ? file : "block",
                           what && *what ? what : "unreadable");
    const char *details = rc ? NULL : st_buf_cstr(&d);
    if (!details)
        rc = st_err_set(err, ST_ENOMEM, "marker: out of memory");
    else
        rc = markers_put(s, block_prefix, MARKER_NO_COMPACT,
                         reason && *reason ? reason : MARKER_REASON_CORRUPT, details, now_s,
                         existed, err);
    st_buf_release(&d);
    return rc;
}
