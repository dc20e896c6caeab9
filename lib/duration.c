#include "duration.h"

#include "err.h"

#include <string.h>

/* This file follows Go's src/time/format.go step by step (including where Go checks for
 * overflow and where it goes through float64), so that a duration read here means what
 * kube-burner and the Kubernetes components read from the same text. */

#define NS_US UINT64_C(1000)
#define NS_MS UINT64_C(1000000)
#define NS_S UINT64_C(1000000000)
#define NS_MIN (60 * NS_S)
#define NS_H (60 * NS_MIN)
#define TWO63 (UINT64_C(1) << 63)

struct unit {
    const char *name;
    uint64_t ns;
};

static const struct unit units[] = {
    {"ns", 1},
    {"us", NS_US},
    {"\xc2\xb5s", NS_US}, /* U+00B5 micro sign */
    {"\xce\xbcs", NS_US}, /* U+03BC Greek small letter mu */
    {"ms", NS_MS},
    {"s", NS_S},
    {"m", NS_MIN},
    {"h", NS_H},
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Go's leadingInt: consumes [0-9]*, fails on overflow past 1<<63. */
static int leading_int(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t x = 0;

    for (; is_digit(*s); s++) {
        if (x > TWO63 / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
        if (x > TWO63)
            return -1;
    }
    *sp = s;
    *out = x;
    return 0;
}

/* Go's leadingFraction: consumes [0-9]*, stops accumulating precision on overflow. */
static uint64_t leading_fraction(const char **sp, double *scale)
{
    const char *s = *sp;
    uint64_t x = 0;
    int overflow = 0;

    *scale = 1;
    for (; is_digit(*s); s++) {
        if (overflow)
            continue;
        if (x > (TWO63 - 1) / 10) {
            overflow = 1;
            continue;
        }
        uint64_t y = x * 10 + (uint64_t)(*s - '0');
        if (y > TWO63) {
            overflow = 1;
            continue;
        }
        x = y;
        *scale *= 10;
    }
    *sp = s;
    return x;
}

int tk_duration_parse(const char *orig, int64_t *ns, struct tk_err *err)
{
    const char *s = orig;
    uint64_t d = 0;
    int neg = 0;

    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*s == '\0')
        goto invalid;
    while (*s) {
        uint64_t v = 0, f = 0, unit = 0;
        double scale = 1;
        const char *start, *u;
        int pre, post = 0;
        size_t ulen, i;

        if (!(*s == '.' || is_digit(*s)))
            goto invalid;
        start = s;
        if (leading_int(&s, &v))
            goto invalid;
        pre = s != start;
        if (*s == '.') {
            s++;
            start = s;
            f = leading_fraction(&s, &scale);
            post = s != start;
        }
        if (!pre && !post)
            goto invalid;
        u = s;
        while (*s && *s != '.' && !is_digit(*s))
            s++;
        ulen = (size_t)(s - u);
        if (ulen == 0)
            return tk_err_set(err, TK_EINVAL, "missing unit in duration \"%.64s\"", orig);
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0) {
                unit = units[i].ns;
                break;
            }
        }
        if (!unit)
            return tk_err_set(err, TK_EINVAL, "unknown unit \"%.*s\" in duration \"%.64s\"",
                              (int)(ulen > 16 ? 16 : ulen), u, orig);
        if (v > TWO63 / unit)
            goto invalid;
        v *= unit;
        if (f > 0) {
            /* float64, as Go: exact enough to the nanosecond for fractions of hours */
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > TWO63)
                goto invalid;
        }
        d += v;
        if (d > TWO63)
            goto invalid;
    }
    if (neg) {
        *ns = (int64_t)(0 - d); /* -(1<<63) included, as in Go */
        return 0;
    }
    if (d > TWO63 - 1)
        goto invalid;
    *ns = (int64_t)d;
    return 0;
invalid:
    return tk_err_set(err, TK_EINVAL, "invalid duration \"%.64s\"", orig);
}

/* Go's fmtFrac: writes ".ddd" of v/10^prec before *w, omitting trailing zeros (and the
 * point when the fraction is zero); returns v/10^prec. */
static uint64_t fmt_frac(char *buf, size_t *w, uint64_t v, int prec)
{
    int print = 0;

    for (int i = 0; i < prec; i++) {
        char digit = (char)(v % 10);
        print = print || digit != 0;
        if (print)
            buf[--*w] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--*w] = '.';
    return v;
}

static void fmt_int(char *buf, size_t *w, uint64_t v)
{
    if (v == 0) {
        buf[--*w] = '0';
        return;
    }
    while (v > 0) {
        buf[--*w] = (char)('0' + v % 10);
        v /= 10;
    }
}

size_t tk_duration_format(int64_t ns, char *out, size_t n)
{
    char buf[TK_DURATION_MAX];
    size_t w = sizeof(buf), len;
    uint64_t u = (uint64_t)ns;
    int neg = ns < 0;

    if (neg)
        u = 0 - u;
    if (u < NS_S) {
        int prec = 0;
        buf[--w] = 's';
        if (u == 0) {
            buf[--w] = '0';
            goto done;
        } else if (u < NS_US) {
            buf[--w] = 'n';
        } else if (u < NS_MS) {
            prec = 3;
            buf[--w] = '\xb5';
            buf[--w] = '\xc2';
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        u = fmt_frac(buf, &w, u, prec);
        fmt_int(buf, &w, u);
    } else {
        buf[--w] = 's';
        u = fmt_frac(buf, &w, u, 9);
        fmt_int(buf, &w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            fmt_int(buf, &w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                fmt_int(buf, &w, u);
            }
        }
    }
done:
    if (neg)
        buf[--w] = '-';
    len = sizeof(buf) - w;
    if (n > 0) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(out, buf + w, c);
        out[c] = '\0';
    }
    return len;
}
