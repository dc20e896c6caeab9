#include "quantity.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

/* The amount is kept as a decimal digit string D and an exponent, amount = D * 10^dexp,
 * so "0.1", "12n" and "0.5Ti" are exact before we round. Binary suffixes multiply D by 1024
 * digit by digit. Only the final rounding to an integer (value) or to thousandths (milli)
 * loses anything, and it rounds away from zero like apimachinery's Value()/MilliValue(). */

/* Longest digit string: the text's digits plus up to 6 * log10(1024) < 19 for "Ei". */
#define MAX_DIGITS (TK_QUANTITY_MAX_LEN + 24)
/* |exponent| beyond this gives the same result (overflow, or the smallest nonzero unit). */
#define EXP_CLAMP 10000

struct decimal {
    unsigned char d[MAX_DIGITS]; /* most significant first, no leading zeros */
    int nd;
    int dexp;
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void strip_trailing_zeros(struct decimal *x)
{
    while (x->nd > 0 && x->d[x->nd - 1] == 0) {
        x->nd--;
        x->dexp++;
    }
    if (x->nd == 0)
        x->dexp = 0;
}

static void mul_small(struct decimal *x, unsigned m)
{
    unsigned char tmp[MAX_DIGITS];
    unsigned carry = 0;
    int n = 0;

    /* least significant first into tmp, then reverse back */
    for (int i = x->nd - 1; i >= 0; i--) {
        unsigned v = x->d[i] * m + carry;
        tmp[n++] = (unsigned char)(v % 10);
        carry = v / 10;
    }
    while (carry) {
        tmp[n++] = (unsigned char)(carry % 10);
        carry /= 10;
    }
    for (int i = 0; i < n; i++)
        x->d[i] = tmp[n - 1 - i];
    x->nd = n;
}

/* |amount| * 10^scale rounded away from zero, as a magnitude <= limit. Returns 0 and sets
 * *exact, or -1 when it does not fit. */
static int scaled_magnitude(const struct decimal *x, int scale, uint64_t limit, uint64_t *out,
                            int *exact)
{
    long t = (long)x->dexp + scale;
    long nint = x->nd + t; /* digits left of the decimal point */
    uint64_t v = 0;

    *exact = 1;
    if (x->nd == 0) {
        *out = 0;
        return 0;
    }
    if (nint > 19)
        return -1;
    for (long i = 0; i < nint; i++) {
        unsigned digit = i < x->nd ? x->d[i] : 0;
        v = v * 10 + digit; /* at most 19 digits: fits in uint64 */
    }
    if (t < 0) {
        /* the digits right of the point end in a nonzero digit (trailing zeros stripped) */
        *exact = 0;
        if (v >= limit)
            return -1;
        v++;
    }
    if (v > limit)
        return -1;
    *out = v;
    return 0;
}

static int parse(const char *s, struct tk_quantity *q, int allow_neg, struct tk_err *err)
{
    const char *p = s;
    struct decimal x = {.nd = 0, .dexp = 0};
    int neg = 0, ndigits = 0, bpow = 0;
    size_t len = strlen(s);
    uint64_t limit, vmag, mmag;
    int vexact, mexact, saturated = 0;
    enum tk_quantity_fmt fmt = TK_QUANTITY_DECIMAL_SI;

    if (len == 0)
        return tk_err_set(err, TK_EINVAL, "empty quantity");
    if (len > TK_QUANTITY_MAX_LEN)
        return tk_err_set(err, TK_EINVAL, "quantity longer than %d characters",
                          TK_QUANTITY_MAX_LEN);
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    for (; is_digit(*p); p++, ndigits++) {
        if (x.nd == 0 && *p == '0')
            continue;
        x.d[x.nd++] = (unsigned char)(*p - '0');
    }
    if (*p == '.') {
        for (p++; is_digit(*p); p++, ndigits++) {
            x.dexp--;
            if (x.nd == 0 && *p == '0')
                continue;
            x.d[x.nd++] = (unsigned char)(*p - '0');
        }
    }
    if (ndigits == 0)
        goto invalid;

    if (p[0] == '\0') {
        /* no suffix */
    } else if (p[1] == '\0' && strchr("numkMGTPE", p[0])) {
        static const char sfx[] = "numkMGTPE";
        static const int pow10[] = {-9, -6, -3, 3, 6, 9, 12, 15, 18};
        x.dexp += pow10[strchr(sfx, p[0]) - sfx];
    } else if (p[1] == 'i' && p[2] == '\0' && p[0] != '\0' && strchr("KMGTPE", p[0])) {
        static const char sfx[] = "KMGTPE";
        bpow = (int)(strchr(sfx, p[0]) - sfx) + 1;
        fmt = TK_QUANTITY_BINARY_SI;
    } else if (p[0] == 'e' || p[0] == 'E') {
        int eneg = 0;
        long e = 0;
        p++;
        if (*p == '+' || *p == '-') {
            eneg = *p == '-';
            p++;
        }
        if (!is_digit(*p))
            goto invalid;
        for (; is_digit(*p); p++) {
            if (e < EXP_CLAMP)
                e = e * 10 + (*p - '0');
        }
        if (*p != '\0')
            goto invalid;
        x.dexp += (int)(eneg ? -e : e);
        fmt = TK_QUANTITY_DECIMAL_EXPONENT;
    } else {
        return tk_err_set(err, TK_EINVAL, "quantity \"%.64s\": unknown suffix \"%.16s\"", s, p);
    }

    strip_trailing_zeros(&x);
    for (int i = 0; i < bpow; i++)
        mul_small(&x, 1024);
    strip_trailing_zeros(&x);

    if (neg && x.nd > 0 && !allow_neg)
        return tk_err_set(err, TK_EINVAL, "quantity \"%.64s\" must not be negative", s);
    limit = neg ? (UINT64_C(1) << 63) : (uint64_t)INT64_MAX;
    if (scaled_magnitude(&x, 0, limit, &vmag, &vexact))
        return tk_err_set(err, TK_EINVAL, "quantity \"%.64s\" out of range", s);
    if (scaled_magnitude(&x, 3, limit, &mmag, &mexact)) {
        saturated = 1;
        mexact = 0;
        mmag = limit;
    }
    q->value = neg ? (int64_t)(0 - vmag) : (int64_t)vmag;
    q->milli = neg ? (int64_t)(0 - mmag) : (int64_t)mmag;
    q->exact = mexact;
    q->saturated = saturated;
    q->fmt = fmt;
    return 0;
invalid:
    return tk_err_set(err, TK_EINVAL, "invalid quantity \"%.64s\"", s);
}

int tk_quantity_parse(const char *s, struct tk_quantity *q, struct tk_err *err)
{
    return parse(s, q, 1, err);
}

int tk_quantity_parse_nonneg(const char *s, struct tk_quantity *q, struct tk_err *err)
{
    return parse(s, q, 0, err);
}

int64_t tk_quantity_milli(const struct tk_quantity *q)
{
    return q->milli;
}

void tk_quantity_from_milli(struct tk_quantity *q, int64_t milli, enum tk_quantity_fmt fmt)
{
    /* value = milli / 1000 rounded away from zero */
    int64_t v = milli / 1000;
    if (milli % 1000 > 0)
        v++;
    else if (milli % 1000 < 0)
        v--;
    q->value = v;
    q->milli = milli;
    q->exact = 1;
    q->saturated = 0;
    q->fmt = fmt;
}

void tk_quantity_from_value(struct tk_quantity *q, int64_t value, enum tk_quantity_fmt fmt)
{
    q->value = value;
    q->fmt = fmt;
    if (value > INT64_MAX / 1000 || value < INT64_MIN / 1000) {
        q->milli = value > 0 ? INT64_MAX : INT64_MIN;
        q->exact = 0;
        q->saturated = 1;
    } else {
        q->milli = value * 1000;
        q->exact = 1;
        q->saturated = 0;
    }
}

static const char *decimal_suffix(int exp3)
{
    static const char *const sfx[] = {"m", "", "k", "M", "G", "T", "P", "E"};
    return sfx[exp3 / 3 + 1];
}

size_t tk_quantity_format(const struct tk_quantity *q, char *out, size_t n)
{
    char buf[TK_QUANTITY_FMT_MAX];
    int64_t sv = q->saturated ? q->value : q->milli;
    int exp = q->saturated ? 0 : -3; /* amount = mag * 10^exp */
    uint64_t mag = sv < 0 ? 0 - (uint64_t)sv : (uint64_t)sv;
    const char *sign = sv < 0 ? "-" : "";
    int len;

    if (q->fmt == TK_QUANTITY_BINARY_SI) {
        /* whole amount as an integer, when it is one */
        uint64_t whole = mag;
        int whole_ok = 1;
        if (exp == -3) {
            whole_ok = mag % 1000 == 0;
            whole = mag / 1000;
        }
        if (whole_ok && whole >= 1024) {
            static const char *const bsfx[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
            int k = 0;
            while (k < 6 && whole % 1024 == 0) {
                whole /= 1024;
                k++;
            }
            len = snprintf(buf, sizeof(buf), "%s%llu%s", sign, (unsigned long long)whole, bsfx[k]);
            goto done;
        }
    }
    if (mag == 0) {
        len = snprintf(buf, sizeof(buf), "0");
        goto done;
    }
    while (mag % 1000 == 0 && exp < 18) {
        mag /= 1000;
        exp += 3;
    }
    if (q->fmt == TK_QUANTITY_DECIMAL_EXPONENT) {
        if (exp == 0)
            len = snprintf(buf, sizeof(buf), "%s%llu", sign, (unsigned long long)mag);
        else
            len = snprintf(buf, sizeof(buf), "%s%llue%d", sign, (unsigned long long)mag, exp);
    } else {
        len = snprintf(buf, sizeof(buf), "%s%llu%s", sign, (unsigned long long)mag,
                       decimal_suffix(exp));
    }
done:
    if (n > 0) {
        size_t c = (size_t)len < n - 1 ? (size_t)len : n - 1;
        memcpy(out, buf, c);
        out[c] = '\0';
    }
    return (size_t)len;
}
