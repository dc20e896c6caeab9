#include "duration.h"
#include "err.h"
#include "tktest.h"

#include <stdint.h>

#define NS_S INT64_C(1000000000)

TK_TEST(duration_parse_good)
{
    static const struct {
        const char *in;
        int64_t ns;
    } cases[] = {
        {"10s", 10 * NS_S},
        {"1m30s", 90 * NS_S},
        {"1.5h", 5400 * NS_S},
        {"300ms", 300000000},
        {"2us", 2000},
        {"2\xc2\xb5s", 2000}, /* U+00B5 micro sign */
        {"2\xce\xbcs", 2000}, /* U+03BC Greek mu */
        {"5ns", 5},
        {"-1s", -NS_S},
        {"+1s", NS_S},
        {"0", 0},
        {"-0", 0},
        {"+0", 0},
        {"0s", 0},
        {"1h2m3.5s", 3723 * NS_S + 500000000},
        {".5s", 500000000},
        {"1.s", NS_S},
        {"1.0000000001s", 1000000000}, /* 0.1ns truncated away, as in Go */
        {"0.1ns", 0},
        {"1.000000001s", 1000000001},
        {"2h45m", (2 * 3600 + 45 * 60) * NS_S},
        {"1m1m", 120 * NS_S}, /* Go sums repeated units */
        {"9223372036854775807ns", INT64_MAX},
        {"-9223372036854775808ns", INT64_MIN},
        {"2562047h47m16.854775807s", INT64_MAX},
        {"-2562047h47m16.854775808s", INT64_MIN},
        {"0.000000001s", 1},
        {"1.5ms", 1500000},
        {"0.123456789012345678901234567890s", 123456789}, /* Go stops at 19 digits */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        int64_t ns = -42;
        if (tk_duration_parse(cases[i].in, &ns, &err) != 0) {
            fprintf(stderr, "  input \"%s\": %s\n", cases[i].in, err.msg);
            CHECK(0);
        }
        if (ns != cases[i].ns)
            fprintf(stderr, "  input \"%s\"\n", cases[i].in);
        CHECK_INT(ns, cases[i].ns);
        CHECK_INT(err.code, 0);
    }
}

TK_TEST(duration_parse_bad)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        {"10", "missing unit"},
        {"1x", "unknown unit \"x\""},
        {"", "invalid duration"},
        {"-", "invalid duration"},
        {"s", "invalid duration"},
        {".s", "invalid duration"},
        {"-.s", "invalid duration"},
        {"1.5", "missing unit"},
        {"1s ", "unknown unit \"s \""},
        {" 1s", "invalid duration"},
        {"1e3s", "unknown unit \"e\""},
        {"1S", "unknown unit \"S\""},
        {"9223372036854775808ns", "invalid duration"}, /* 2^63 > int64 */
        {"-9223372036854775809ns", "invalid duration"},
        {"2562048h", "invalid duration"},                 /* 2562048 h > int64 ns */
        {"9223372036854775807ns1ns", "invalid duration"}, /* sum overflows */
        {"99999999999999999999s", "invalid duration"},    /* leadingInt overflow */
        {"1s-1s", "unknown unit \"s-\""},
        {"--1s", "invalid duration"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        int64_t ns = -42;
        int rc = tk_duration_parse(cases[i].in, &ns, &err);
        if (rc != TK_EINVAL)
            fprintf(stderr, "  input \"%s\" was accepted as %lld\n", cases[i].in, (long long)ns);
        CHECK_INT(rc, TK_EINVAL);
        CHECK_INT(ns, -42); /* untouched */
        CHECK_CONTAINS(err.msg, cases[i].msg);
    }
}

TK_TEST(duration_format_go_string)
{
    static const struct {
        int64_t ns;
        const char *out;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {1000, "1\xc2\xb5s"},
        {1100, "1.1\xc2\xb5s"},
        {2200000, "2.2ms"},
        {300000000, "300ms"},
        {NS_S, "1s"},
        {1500000000, "1.5s"},
        {90 * NS_S, "1m30s"},
        {60 * NS_S, "1m0s"},
        {3600 * NS_S, "1h0m0s"},
        {5400 * NS_S, "1h30m0s"},
        {3723 * NS_S + 500000000, "1h2m3.5s"},
        {-NS_S, "-1s"},
        {-1, "-1ns"},
        {1000000001, "1.000000001s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[TK_DURATION_MAX];
        size_t n = tk_duration_format(cases[i].ns, out, sizeof(out));
        CHECK_STR(out, cases[i].out);
        CHECK_INT(n, strlen(cases[i].out));
    }
}

TK_TEST(duration_format_truncates_like_snprintf)
{
    char out[4];
    CHECK_INT(tk_duration_format(90 * NS_S, out, sizeof(out)), 5);
    CHECK_STR(out, "1m3");
    CHECK_INT(tk_duration_format(90 * NS_S, NULL, 0), 5);
}

TK_TEST(duration_round_trip)
{
    static const int64_t values[] = {0,          1,         999,        1000,
                                     123456,     1000000,   1234567890, 90 * NS_S,
                                     -90 * NS_S, INT64_MAX, INT64_MIN,  86400 * NS_S + 7};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char out[TK_DURATION_MAX];
        struct tk_err err = {0};
        int64_t back = 0;
        tk_duration_format(values[i], out, sizeof(out));
        CHECK_INT(tk_duration_parse(out, &back, &err), 0);
        CHECK_INT(back, values[i]);
    }
}

TK_TEST_MAIN(duration_parse_good, duration_parse_bad, duration_format_go_string,
             duration_format_truncates_like_snprintf, duration_round_trip)
