/*
 * test_gofmt.c - the Go-compatible output used by `strata dump`: fmt's %g for float64 and
 * strconv.Quote, on the cases where C's printf differs from Go.
 */
#include "../util/testutil.h"

#include "compactor/compactor_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void gofmt__float_matches_go_percent_g(void **state)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0"},
        {1.0, "1"},
        {-1.0, "-1"},
        {100.0, "100"},
        {123456.0, "123456"},
        {999999.0, "999999"},
        {1e6, "1e+06"},
        {1234567.0, "1.234567e+06"},
        {2.3038748722e+10, "2.3038748722e+10"},
        {0.1, "0.1"},
        {0.3, "0.3"},
        {3.14, "3.14"},
        {1.0 / 3.0, "0.3333333333333333"},
        {2.0 / 3.0, "0.6666666666666666"},
        {0.0001, "0.0001"},
        {0.00012345, "0.00012345"},
        {0.00001, "1e-05"},
        {1.5e-7, "1.5e-07"},
        {5e-324, "5e-324"},
        {1e-300, "1e-300"},
        {1e300, "1e+300"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-1.7976931348623157e308, "-1.7976931348623157e+308"},
        {9007199254740993.0, "9.007199254740992e+15"},
        {123.456, "123.456"},
        {1e21, "1e+21"},
        {12345.678, "12345.678"},
        {-0.5, "-0.5"},
        {1e100, "1e+100"},
    };
    char out[64];
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        gofmt_float(out, cases[i].v);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: %%g of %.17g: got %s, want %s", i, cases[i].v, out, cases[i].want);
    }
    gofmt_float(out, -0.0);
    assert_string_equal(out, "-0");
    gofmt_float(out, NAN);
    assert_string_equal(out, "NaN");
    gofmt_float(out, INFINITY);
    assert_string_equal(out, "+Inf");
    gofmt_float(out, -INFINITY);
    assert_string_equal(out, "-Inf");
}

static void gofmt__float_round_trips_random_values(void **state)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char out[64];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, 8);
        if (!isfinite(v))
            continue;
        gofmt_float(out, v);
        double back = strtod(out, NULL);
        if (memcmp(&back, &v, 8) != 0)
            fail_msg("%.17g printed as %s does not round-trip", v, out);
    }
}

static void gofmt__quote_matches_strconv_quote(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"line\nbreak\ttab", 14, "\"line\\nbreak\\ttab\""},
        {"\x01\x7f", 2, "\"\\x01\\x7f\""},
        {"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""},
        {"\xe6\x97\xa5\xe6\x9c\xac", 6, "\"\xe6\x97\xa5\xe6\x9c\xac\""},
        {"\xf0\x9f\x9a\x80", 4, "\"\xf0\x9f\x9a\x80\""},
        {"\xff", 1, "\"\\xff\""},
        {"\xc2\xa0", 2, "\"\\u00a0\""},
        {"\xe2\x80\xa8", 3, "\"\\u2028\""},
        {"a\0b", 3, "\"a\\x00b\""},
    };
    for (size_t i = 0; i < ST_ARRAY_LEN(cases); i++) {
        st_buf b;
        st_buf_init(&b, 0);
        assert_int_equal(gofmt_quote(&b, cases[i].in, cases[i].len), 0);
        const char *got = st_buf_cstr(&b);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: got %s, want %s", i, got, cases[i].want);
        st_buf_release(&b);
    }
}

static void gofmt__labels_print_like_prometheus(void **state)
{
    codec_label l[] = {{codec_str_c("__name__"), codec_str_c("up")},
                       {codec_str_c("job"), codec_str_c("a\"b")}};
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(gofmt_labels(&b, l, 2), 0);
    assert_string_equal(st_buf_cstr(&b), "{__name__=\"up\", job=\"a\\\"b\"}");
    st_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gofmt__float_matches_go_percent_g),
        cmocka_unit_test(gofmt__float_round_trips_random_values),
        cmocka_unit_test(gofmt__quote_matches_strconv_quote),
        cmocka_unit_test(gofmt__labels_print_like_prometheus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
