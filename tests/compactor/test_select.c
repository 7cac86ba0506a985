/*
 * test_select.c - series selectors for `strata dump --match`: parsing, the four operators,
 * anchoring of regexes, missing labels as empty values, and clear errors for bad input.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <locale.h>
#include <string.h>

static const codec_label series[] = {
    {{"__name__", 8}, {"http_requests_total", 19}},
    {{"code", 4}, {"200", 3}},
    {{"job", 3}, {"api", 3}},
    {{"path", 4}, {"caf\xc3\xa9", 5}},
};

static void select__matches_table_of_selectors(void **state)
{
    static const struct {
        const char *sel;
        int want;
    } cases[] = {
        {"http_requests_total", 1},
        {"up", 0},
        {"{job=\"api\"}", 1},
        {"{job='api'}", 1},
        {"{job=`api`}", 1},
        {"{code=\"200\", job!=\"api\"}", 0},
        {"{job=~\"a.*\"}", 1},
        {"{job=~\"p\"}", 0}, /* anchored: must match the whole value */
        {"{code=\"200\", job!~\"b.*\"}", 1},
        {"http_requests_total{code=~\"2..\", job=\"api\"}", 1},
        {"http_requests_total{code=~\"5..\"}", 0},
        {"{__name__=~\"http_.*\", missing=\"\"}", 1},
        {"{job=\"api\", missing!=\"\"}", 0},
        {"{path=\"caf\xc3\xa9\"}", 1},
        {"{job=\"api\",}", 1},
        {" { job = \"api\" } ", 1},
        {"{job=\"a\\x70i\"}", 1},
        {"{path=~\"caf.\"}", 1}, /* '.' is one UTF-8 character, as in RE2 */
        {"{path=~\"caf..\"}", 0},
        {"{path=\"caf\\u00e9\"}", 1}, /* Go string escapes, as PromQL */
        {"{path=\"caf\\303\\251\"}", 1},
        {"{path=~\"c|caf\\U000000e9\"}", 1},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        selector s;
        st_err err;
        st_err_init(&err);
        if (selector_parse(&s, cases[i].sel, &err))
            fail_msg("case %zu (%s): parse failed: %s", i, cases[i].sel, err.msg);
        int got = selector_matches(&s, series, 4);
        selector_release(&s);
        if (got != cases[i].want)
            fail_msg("case %zu (%s): got %d, want %d", i, cases[i].sel, got, cases[i].want);
    }
}

static void select__rejects_bad_selectors_with_a_message(void **state)
{
    static const char *bad[] = {
        "{job=\"api\"", "{job=api}",     "{=\"x\"}",
        "{job~\"x\"}",  "{job=\"x\"} z", "{a=\"\"}",
        "{a=~\".*\"}",  "{job=~\"(\"}",  "",
        "{}",           "{job=\"\\q\"}", "{job!=\"api\"}",
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(bad); i++) {
        selector s;
        st_err err;
        st_err_init(&err);
        if (selector_parse(&s, bad[i], &err) == 0) {
            selector_release(&s);
            fail_msg("case %zu (%s): parsed but should not", i, bad[i]);
        }
        assert_int_equal(err.code, ST_EINVAL);
        assert_non_null(strstr(err.msg, "selector"));
    }
}

/* RE2's '.' never matches a newline: `new.line` must not match "new\nline". */
static void select__dot_does_not_match_a_newline(void **state)
{
    static const codec_label l[] = {{{"__name__", 8}, {"m", 1}}, {{"text", 4}, {"new\nline", 8}}};
    selector s;
    st_err err;
    st_err_init(&err);
    assert_int_equal(selector_parse(&s, "{text=~\"new.line\"}", &err), 0);
    assert_int_equal(selector_matches(&s, l, 2), 0);
    selector_release(&s);
    assert_int_equal(selector_parse(&s, "{text=~\"new\\nline\"}", &err), 0);
    assert_int_equal(selector_matches(&s, l, 2), 1);
    selector_release(&s);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(select__matches_table_of_selectors),
        cmocka_unit_test(select__rejects_bad_selectors_with_a_message),
        cmocka_unit_test(select__dot_does_not_match_a_newline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
