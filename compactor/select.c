/*
 * select.c - PromQL series selectors for `strata dump --match`:
 * `metric{a="b", c=~"re", d!="x", e!~"re"}`. Regexes are anchored as in Prometheus and run by
 * the C library's POSIX extended regex engine (RE2-only syntax such as (?i) is refused).
 * A missing label matches as the empty value, as in Prometheus.
 */
#include "compactor_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    const char *s;
    size_t i;
    const char *text;
    st_err *err;
} lexer;

static int fail(lexer *lx, const char *what)
{
    return st_err_set(lx->err, ST_EINVAL, "bad selector %s: %s at position %zu", lx->text, what,
                      lx->i + 1);
}

static void skip_ws(lexer *lx)
{
    while (lx->s[lx->i] && isspace((unsigned char)lx->s[lx->i]))
        lx->i++;
}

static int is_name_start(char c, int metric)
{
    return isalpha((unsigned char)c) || c == '_' || (metric && c == ':');
}

static int is_name_char(char c, int metric)
{
    return is_name_start(c, metric) || isdigit((unsigned char)c);
}

static char *read_name(lexer *lx, int metric)
{
    size_t start = lx->i;
    if (!is_name_start(lx->s[lx->i], metric))
        return NULL;
    while (is_name_char(lx->s[lx->i], metric))
        lx->i++;
    return st_strndup(lx->s + start, lx->i - start);
}

/* A quoted string: "..." or '...' with Go escapes, or `...` raw. */
static char *read_string(lexer *lx)
{
    char q = lx->s[lx->i];
    if (q != '"' && q != '\'' && q != '`')
        return NULL;
    lx->i++;
    st_buf b;
    st_buf_init(&b, 0);
    for (;;) {
        char c = lx->s[lx->i];
        if (c == '\0')
            goto bad;
        lx->i++;
        if (c == q)
            break;
        if (c != '\\' || q == '`') {
            if (st_buf_putc(&b, (uint8_t)c))
                goto bad;
            continue;
        }
        char e = lx->s[lx->i++];
        char out;
        switch (e) {
        case 'n':
            out = '\n';
            break;
        case 't':
            out = '\t';
            break;
        case 'r':
            out = '\r';
            break;
        case 'a':
            out = '\a';
            break;
        case 'b':
            out = '\b';
            break;
        case 'f':
            out = '\f';
            break;
        case 'v':
            out = '\v';
            break;
        case '\\':
        case '"':
        case '\'':
            out = e;
            break;
        case 'x': {
            char h[3] = {lx->s[lx->i], lx->s[lx->i] ? lx->s[lx->i + 1] : 0, 0};
            if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1]))
                goto bad;
            lx->i += 2;
            out = (char)strtol(h, NULL, 16);
            break;
        }
        default:
            goto bad;
        }
        if (st_buf_putc(&b, (uint8_t)out))
            goto bad;
    }
    if (!st_buf_cstr(&b))
        goto bad;
    return (char *)b.p;
bad:
    st_buf_release(&b);
    return NULL;
}

static int add_matcher(selector *s, char *name, char *value, sel_op op, lexer *lx)
{
    sel_matcher *nm = st_reallocarray(s->m, s->n + 1, sizeof(*nm));
    if (!nm) {
        st_free(name);
        st_free(value);
        return st_err_set(lx->err, ST_ENOMEM, "selector: out of memory");
    }
    s->m = nm;
    sel_matcher *m = &s->m[s->n];
    m->name = name;
    m->value = value;
    m->op = op;
    if (op == SEL_RE || op == SEL_NRE) {
        size_t vl = strlen(value);
        char *anchored = st_malloc(vl + 5);
        if (!anchored) {
            st_free(name);
            st_free(value);
            return st_err_set(lx->err, ST_ENOMEM, "selector: out of memory");
        }
        snprintf(anchored, vl + 5, "^(%s)$", value);
        int rc = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
        st_free(anchored);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &m->re, msg, sizeof(msg));
            st_err_set(lx->err, ST_EINVAL, "bad selector %s: regex \"%s\": %s", lx->text, value,
                       msg);
            st_free(name);
            st_free(value);
            return ST_EINVAL;
        }
    }
    s->n++;
    return 0;
}

static int value_matches(const sel_matcher *m, const char *v, size_t vl)
{
    switch (m->op) {
    case SEL_EQ:
        return strlen(m->value) == vl && memcmp(m->value, v, vl) == 0;
    case SEL_NEQ:
        return !(strlen(m->value) == vl && memcmp(m->value, v, vl) == 0);
    case SEL_RE:
    case SEL_NRE: {
        char stackbuf[256];
        char *tmp = vl < sizeof(stackbuf) ? stackbuf : st_malloc(vl + 1);
        if (!tmp)
            return 0;
        memcpy(tmp, v, vl);
        tmp[vl] = '\0';
        int hit = regexec(&m->re, tmp, 0, NULL, 0) == 0 && strlen(tmp) == vl;
        if (tmp != stackbuf)
            st_free(tmp);
        return m->op == SEL_RE ? hit : !hit;
    }
    }
    return 0;
}

int selector_parse(selector *s, const char *text, st_err *err)
{
    lexer lx = {text, 0, text, err};
    s->m = NULL;
    s->n = 0;
    int rc = 0;
    skip_ws(&lx);
    if (is_name_start(text[lx.i], 1)) {
        char *metric = read_name(&lx, 1);
        char *name = st_strdup("__name__");
        if (!metric || !name) {
            st_free(metric);
            st_free(name);
            return st_err_set(err, ST_ENOMEM, "selector: out of memory");
        }
        if ((rc = add_matcher(s, name, metric, SEL_EQ, &lx)))
            goto done;
        skip_ws(&lx);
    }
    if (text[lx.i] == '{') {
        lx.i++;
        for (;;) {
            skip_ws(&lx);
            if (text[lx.i] == '}') {
                lx.i++;
                break;
            }
            char *name = read_name(&lx, 0);
            if (!name) {
                rc = fail(&lx, "expected a label name");
                goto done;
            }
            skip_ws(&lx);
            sel_op op;
            if (strncmp(text + lx.i, "=~", 2) == 0)
                op = SEL_RE, lx.i += 2;
            else if (strncmp(text + lx.i, "!~", 2) == 0)
                op = SEL_NRE, lx.i += 2;
            else if (strncmp(text + lx.i, "!=", 2) == 0)
                op = SEL_NEQ, lx.i += 2;
            else if (text[lx.i] == '=')
                op = SEL_EQ, lx.i += 1;
            else {
                st_free(name);
                rc = fail(&lx, "expected one of = != =~ !~");
                goto done;
            }
            skip_ws(&lx);
            char *value = read_string(&lx);
            if (!value) {
                st_free(name);
                rc = fail(&lx, "expected a quoted string");
                goto done;
            }
            if ((rc = add_matcher(s, name, value, op, &lx)))
                goto done;
            skip_ws(&lx);
            if (text[lx.i] == ',') {
                lx.i++;
                continue;
            }
            if (text[lx.i] != '}') {
                rc = fail(&lx, "expected , or }");
                goto done;
            }
        }
    }
    skip_ws(&lx);
    if (text[lx.i] != '\0') {
        rc = fail(&lx, "unexpected text");
        goto done;
    }
    /* as Prometheus: at least one matcher must not match the empty value */
    int nonempty = 0;
    for (size_t i = 0; i < s->n; i++)
        nonempty |= !value_matches(&s->m[i], "", 0);
    if (!nonempty)
        rc = st_err_set(err, ST_EINVAL,
                        "bad selector %s: it must contain at least one matcher that does not "
                        "match the empty value",
                        text);
done:
    if (rc)
        selector_release(s);
    return rc;
}

void selector_release(selector *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->m[i].op == SEL_RE || s->m[i].op == SEL_NRE)
            regfree(&s->m[i].re);
        st_free(s->m[i].name);
        st_free(s->m[i].value);
    }
    st_free(s->m);
    s->m = NULL;
    s->n = 0;
}

int selector_matches(const selector *s, const codec_label *l, uint32_t n)
{
    for (size_t i = 0; i < s->n; i++) {
        const sel_matcher *m = &s->m[i];
        codec_str name = codec_str_c(m->name);
        const char *v = "";
        size_t vl = 0;
        for (uint32_t j = 0; j < n; j++) {
            if (codec_str_cmp(l[j].name, name) == 0) {
                v = l[j].value.p;
                vl = l[j].value.len;
                break;
            }
        }
        if (!value_matches(m, v, vl))
            return 0;
    }
    return 1;
}
