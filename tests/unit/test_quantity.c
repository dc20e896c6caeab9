#include "err.h"
#include "quantity.h"
#include "tktest.h"

#include <stdint.h>

#define D TK_QUANTITY_DECIMAL_SI
#define B TK_QUANTITY_BINARY_SI
#define X TK_QUANTITY_DECIMAL_EXPONENT

TK_TEST(quantity_parse_good)
{
    static const struct {
        const char *in;
        int64_t value, milli;
        int exact, saturated;
        enum tk_quantity_fmt fmt;
    } cases[] = {
        {"500m", 1, 500, 1, 0, D},
        {"4Gi", INT64_C(4294967296), INT64_C(4294967296000), 1, 0, B},
        {"1.5", 2, 1500, 1, 0, D},
        {"2e3", 2000, 2000000, 1, 0, X},
        {"2E3", 2000, 2000000, 1, 0, X},
        {"100Ki", 102400, 102400000, 1, 0, B},
        {"1k", 1000, 1000000, 1, 0, D},
        {"1M", 1000000, INT64_C(1000000000), 1, 0, D},
        {"0.5Ti", INT64_C(549755813888), INT64_C(549755813888000), 1, 0, B},
        /* exa: the value fits, the milli amount does not */
        {"1E", INT64_C(1000000000000000000), INT64_MAX, 0, 1, D},
        {"12n", 1, 1, 0, 0, D}, /* 0.000000012 rounds up to 1 and to 1m */
        {"3u", 1, 1, 0, 0, D},
        {"0.1m", 1, 1, 0, 0, D}, /* Kubernetes docs: "0.1m will be rounded up to 1m" */
        {"1m", 1, 1, 1, 0, D},
        {"0", 0, 0, 1, 0, D},
        {"0Gi", 0, 0, 1, 0, B},
        {"-0", 0, 0, 1, 0, D},
        {"-1.5", -2, -1500, 1, 0, D}, /* away from zero, like Value() */
        {"-500m", -1, -500, 1, 0, D},
        {"+5", 5, 5000, 1, 0, D},
        {".5", 1, 500, 1, 0, D},
        {"1.", 1, 1000, 1, 0, D},
        {"1.G", 1000000000, INT64_C(1000000000000), 1, 0, D},
        {"5E-3", 1, 5, 1, 0, X},
        {"1e-3", 1, 1, 1, 0, X},
        {"1e-4", 1, 1, 0, 0, X},
        {"110", 110, 110000, 1, 0, D},
        {"2.5Gi", INT64_C(2684354560), INT64_C(2684354560000), 1, 0, B},
        {"1.5Ki", 1536, 1536000, 1, 0, B},
        {"0.3Ki", 308, 307200, 1, 0, B}, /* 307.2 exactly */
        {"0000001.5000", 2, 1500, 1, 0, D},
        {"0.000000000000000000000000001", 1, 1, 0, 0, D},
        {"1.0000000000000000000000001", 2, 1001, 0, 0, D},
        {"0e99999999", 0, 0, 1, 0, X},
        {"1e-99999999", 1, 1, 0, 0, X},
        {"9223372036854775807", INT64_MAX, INT64_MAX, 0, 1, D},
        {"-9223372036854775808", INT64_MIN, INT64_MIN, 0, 1, D},
        {"7Ei", INT64_C(8070450532247928832), INT64_MAX, 0, 1, B},
        {"9223372036854775.807", INT64_C(9223372036854776), INT64_MAX, 1, 0, D},
        {"8Pi", INT64_C(9007199254740992), INT64_C(9007199254740992000), 1, 0, B},
        {"9Pi", INT64_C(10133099161583616), INT64_MAX, 0, 1, B},
        {"9.223372036854775806E", INT64_C(9223372036854775806), INT64_MAX, 0, 1, D},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        struct tk_quantity q;
        if (tk_quantity_parse(cases[i].in, &q, &err) != 0) {
            fprintf(stderr, "  input \"%s\": %s\n", cases[i].in, err.msg);
            CHECK(0);
        }
        if (q.value != cases[i].value || q.milli != cases[i].milli || q.exact != cases[i].exact ||
            q.saturated != cases[i].saturated || q.fmt != cases[i].fmt)
            fprintf(stderr, "  input \"%s\"\n", cases[i].in);
        CHECK_INT(q.value, cases[i].value);
        CHECK_INT(q.milli, cases[i].milli);
        CHECK_INT(tk_quantity_milli(&q), cases[i].milli);
        CHECK_INT(q.exact, cases[i].exact);
        CHECK_INT(q.saturated, cases[i].saturated);
        CHECK_INT(q.fmt, cases[i].fmt);
    }
}

TK_TEST(quantity_parse_bad)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        {"", "empty"},
        {"abc", "invalid quantity"},
        {"1x", "unknown suffix \"x\""},
        {"1 ", "unknown suffix"},
        {" 1", "invalid quantity"},
        {"1Ki5", "unknown suffix"},
        {"1K", "unknown suffix"}, /* kilo is lower-case k */
        {"1ki", "unknown suffix"},
        {"1mi", "unknown suffix"},
        {"1Gb", "unknown suffix"},
        {"1e", "invalid quantity"},
        {"1e+", "invalid quantity"},
        {"1e1.5", "invalid quantity"}, /* ParseQuantity wants an integer exponent */
        {"1e3k", "invalid quantity"},
        {"--1", "invalid quantity"},
        {"-", "invalid quantity"},
        {".", "invalid quantity"},
        {"+", "invalid quantity"},
        {"1.2.3", "unknown suffix"},
        {"10E", "out of range"},
        {"1e19", "out of range"},
        {"8Ei", "out of range"},                 /* 2^63 */
        {"9223372036854775808", "out of range"}, /* 2^63 */
        {"-9223372036854775809", "out of range"},
        {"1e99999999", "out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        struct tk_quantity q = {.value = 42};
        int rc = tk_quantity_parse(cases[i].in, &q, &err);
        if (rc != TK_EINVAL)
            fprintf(stderr, "  input \"%s\" was accepted as %lld\n", cases[i].in,
                    (long long)q.value);
        CHECK_INT(rc, TK_EINVAL);
        CHECK_INT(q.value, 42); /* untouched */
        CHECK_CONTAINS(err.msg, cases[i].msg);
    }
}

TK_TEST(quantity_rounding_to_the_int64_limit)
{
    struct tk_err err = {0};
    struct tk_quantity q;
    /* INT64_MAX - 0.5 rounds up to INT64_MAX itself: in range */
    CHECK_INT(tk_quantity_parse("9223372036854775806.5", &q, &err), 0);
    CHECK_INT(q.value, INT64_MAX);
    /* INT64_MAX + a fraction rounds past it */
    CHECK_INT(tk_quantity_parse("9223372036854775807.1", &q, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "out of range");
}

TK_TEST(quantity_too_long)
{
    char s[TK_QUANTITY_MAX_LEN + 2];
    struct tk_err err = {0};
    struct tk_quantity q;

    memset(s, '0', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    CHECK_INT(tk_quantity_parse(s, &q, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "longer than");
    s[TK_QUANTITY_MAX_LEN] = '\0'; /* exactly at the limit: fine */
    s[TK_QUANTITY_MAX_LEN - 1] = '7';
    tk_err_clear(&err);
    CHECK_INT(tk_quantity_parse(s, &q, &err), 0);
    CHECK_INT(q.value, 7);
}

TK_TEST(quantity_nonneg)
{
    struct tk_err err = {0};
    struct tk_quantity q = {.value = 42};

    CHECK_INT(tk_quantity_parse_nonneg("-1", &q, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "must not be negative");
    CHECK_INT(q.value, 42);
    tk_err_clear(&err);
    CHECK_INT(tk_quantity_parse_nonneg("-0.000", &q, &err), 0);
    CHECK_INT(q.value, 0);
    CHECK_INT(tk_quantity_parse_nonneg("4Gi", &q, &err), 0);
    CHECK_INT(q.value, INT64_C(4294967296));
    CHECK_INT(tk_quantity_parse("-1", &q, &err), 0);
    CHECK_INT(q.value, -1);
}

static const char *fmt_q(const struct tk_quantity *q, char *out)
{
    tk_quantity_format(q, out, TK_QUANTITY_FMT_MAX);
    return out;
}

TK_TEST(quantity_format_canonical)
{
    struct tk_quantity q;
    char out[TK_QUANTITY_FMT_MAX];

    /* CPU, decimal: whole cores or millicores */
    tk_quantity_from_milli(&q, 4000, D);
    CHECK_STR(fmt_q(&q, out), "4");
    CHECK_INT(q.value, 4);
    tk_quantity_from_milli(&q, 500, D);
    CHECK_STR(fmt_q(&q, out), "500m");
    CHECK_INT(q.value, 1);
    tk_quantity_from_milli(&q, 1500, D);
    CHECK_STR(fmt_q(&q, out), "1500m");
    tk_quantity_from_milli(&q, -500, D);
    CHECK_STR(fmt_q(&q, out), "-500m");
    CHECK_INT(q.value, -1);
    tk_quantity_from_milli(&q, 0, D);
    CHECK_STR(fmt_q(&q, out), "0");
    /* pods and other counts */
    tk_quantity_from_value(&q, 110, D);
    CHECK_STR(fmt_q(&q, out), "110");
    tk_quantity_from_value(&q, 2000, D);
    CHECK_STR(fmt_q(&q, out), "2k");
    tk_quantity_from_value(&q, 1500, D);
    CHECK_STR(fmt_q(&q, out), "1500");
    /* memory, binary: the largest exact power of 1024 */
    tk_quantity_from_value(&q, INT64_C(17179869184), B);
    CHECK_STR(fmt_q(&q, out), "16Gi");
    tk_quantity_from_value(&q, 1536, B);
    CHECK_STR(fmt_q(&q, out), "1536");
    tk_quantity_from_value(&q, 2048, B);
    CHECK_STR(fmt_q(&q, out), "2Ki");
    tk_quantity_from_value(&q, INT64_C(8070450532247928832), B); /* saturated milli */
    CHECK_INT(q.saturated, 1);
    CHECK_STR(fmt_q(&q, out), "7Ei");
    tk_quantity_from_value(&q, -2048, B);
    CHECK_STR(fmt_q(&q, out), "-2Ki");
    /* below 1024 or fractional: decimal, as Kubernetes does */
    tk_quantity_from_value(&q, 1000, B);
    CHECK_STR(fmt_q(&q, out), "1k");
    tk_quantity_from_value(&q, 0, B);
    CHECK_STR(fmt_q(&q, out), "0");
    tk_quantity_from_milli(&q, 1024500, B);
    CHECK_STR(fmt_q(&q, out), "1024500m");
    /* exponent form */
    tk_quantity_from_value(&q, 2000, X);
    CHECK_STR(fmt_q(&q, out), "2e3");
    tk_quantity_from_milli(&q, 1500, X);
    CHECK_STR(fmt_q(&q, out), "1500e-3");
    tk_quantity_from_value(&q, 110, X);
    CHECK_STR(fmt_q(&q, out), "110");
    /* extremes */
    tk_quantity_from_value(&q, INT64_MIN, D);
    CHECK_STR(fmt_q(&q, out), "-9223372036854775808");
    tk_quantity_from_milli(&q, INT64_MAX, D);
    CHECK_STR(fmt_q(&q, out), "9223372036854775807m");
}

TK_TEST(quantity_format_after_parse)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"4", "4"},           {"16Gi", "16Gi"},  {"110", "110"},     {"500m", "500m"},
        {"0.5", "500m"},      {"1000m", "1"},    {"0.5Ti", "512Gi"}, {"1024Mi", "1Gi"},
        {"1E", "1E"},         {"2e3", "2e3"},    {"12n", "1m"},      {"1.5Gi", "1536Mi"},
        {"1000Ki", "1000Ki"}, {"3000000", "3M"}, {"-1.5", "-1500m"}, {"100Ki", "100Ki"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        struct tk_quantity q, back;
        char out[TK_QUANTITY_FMT_MAX];
        CHECK_INT(tk_quantity_parse(cases[i].in, &q, &err), 0);
        CHECK_STR(fmt_q(&q, out), cases[i].out);
        /* what we write reads back as the same amount */
        CHECK_INT(tk_quantity_parse(out, &back, &err), 0);
        CHECK_INT(back.value, q.value);
        if (q.exact)
            CHECK_INT(back.milli, q.milli);
    }
}

TK_TEST(quantity_format_truncates_like_snprintf)
{
    struct tk_quantity q;
    char out[3];
    tk_quantity_from_value(&q, INT64_C(17179869184), B);
    CHECK_INT(tk_quantity_format(&q, out, sizeof(out)), 4);
    CHECK_STR(out, "16");
    CHECK_INT(tk_quantity_format(&q, NULL, 0), 4);
}

TK_TEST_MAIN(quantity_parse_good, quantity_parse_bad, quantity_rounding_to_the_int64_limit,
             quantity_too_long, quantity_nonneg, quantity_format_canonical,
             quantity_format_after_parse, quantity_format_truncates_like_snprintf)
