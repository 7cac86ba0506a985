/*
 * select.c - PromQL series selectors for `strata dump --match`:
 * `metric{a="b", c=~"re", d!="x", e!~"re"}`. Regexes match whole values as in Prometheus and run
 * on the C library's POSIX extended engine in a UTF-8 locale (so '.' is one character and never
 * a newline, as in RE2); RE2-only syntax such as (?i) is refused.
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
        case 'x':
        case 'u':
        case 'U': {
            /* \xHH is a byte; \uHHHH and \UHHHHHHHH are code points written as UTF-8 */
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < nd; k++) {
                char h = lx->s[lx->i];
                if (!isxdigit((unsigned char)h))
                    goto bad;
                cp = cp * 16 +
                     (uint32_t)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
                lx->i++;
            }
            if (e == 'x') {
                out = (char)cp;
                break;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                goto bad;
            uint8_t u[4];
            size_t ul;
            if (cp < 0x80) {
                u[0] = (uint8_t)cp;
                ul = 1;
            } else if (cp < 0x800) {
                u[0] = (uint8_t)(0xC0 | (cp >> 6));
                u[1] = (uint8_t)(0x80 | (cp & 0x3F));
                ul = 2;
            } else if (cp < 0x10000) {
                u[0] = (uint8_t)(0xE0 | (cp >> 12));
                u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (uint8_t)(0x80 | (cp & 0x3F));
                ul = 3;
            } else {
                u[0] = (uint8_t)(0xF0 | (cp >> 18));
                u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
                u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                u[3] = (uint8_t)(0x80 | (cp & 0x3F));
                ul = 4;
            }
            if (st_buf_append(&b, u, ul))
                goto bad;
            continue;
        }
        case '0':
        case '1':
        case '2':
        case '3': {
            /* \NNN: three octal digits, a byte */
            int v = e - '0';
            for (int k = 0; k < 2; k++) {
                char o = lx->s[lx->i];
                if (o < '0' || o > '7')
                    goto bad;
                v = v * 8 + (o - '0');
                lx->i++;
            }
            out = (char)v;
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
        /* RE2's '.' never matches a newline: REG_NEWLINE gives that. Anchoring is checked on the
         * match offsets (leftmost-longest: a full match, if any, starts at 0 and ends at the
         * end), since with REG_NEWLINE '^' and '$' would also match at line breaks. */
        size_t vl = strlen(value);
        char *wrapped = st_malloc(vl + 3);
        if (!wrapped) {
            st_free(name);
            st_free(value);
            return st_err_set(lx->err, ST_ENOMEM, "selector: out of memory");
        }
        snprintf(wrapped, vl + 3, "(%s)", value);
        int rc = regcomp(&m->re, wrapped, REG_EXTENDED | REG_NEWLINE);
        st_free(wrapped);
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
        regmatch_t pm[1];
        int hit = strlen(tmp) == vl && regexec(&m->re, tmp, 1, pm, 0) == 0 && pm[0].rm_so == 0 &&
                  (size_t)pm[0].rm_eo == vl;
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
