#ifndef TK_QUANTITY_H
#define TK_QUANTITY_H

/* Kubernetes resource.Quantity ("500m", "4Gi", "1.5", "2e3") as int64 integers.
 *
 * Grammar (apimachinery's, with the exponent an integer as ParseQuantity reads it):
 *   [+-] ( digits [ "." [digits] ] | "." digits ) [ suffix ]
 *   suffix: n u m "" k M G T P E        (powers of 1000; "E" alone is exa)
 *           Ki Mi Gi Ti Pi Ei           (powers of 1024)
 *           e|E [+-] digits             (power of 10, "2e3", "5E-3")
 * Unlike apimachinery we insist on at least one digit ("-" and "." are errors, not zero) and
 * cap the text at TK_QUANTITY_MAX_LEN characters. The amount is computed exactly from the
 * digits (no float), then rounded away from zero the way Quantity.Value() and MilliValue()
 * round, so "12n" is 1m and "1.5" has value 2. Amounts whose value does not fit int64 (more
 * than 2^63-1 units, like "10E") are rejected, as Kubernetes caps them. */

#include <stddef.h>
#include <stdint.h>

struct tk_err;

#define TK_QUANTITY_MAX_LEN 256

/* How Kubernetes would spell the amount back; kept from the parsed suffix. */
enum tk_quantity_fmt {
    TK_QUANTITY_DECIMAL_SI = 0,  /* "500m", "110", "2k" (suffixes m, k, M, ...) */
    TK_QUANTITY_BINARY_SI,       /* "16Gi" (suffixes Ki, Mi, ...) */
    TK_QUANTITY_DECIMAL_EXPONENT /* "2e3" */
};

struct tk_quantity {
    int64_t value; /* amount rounded away from zero to an integer, like Quantity.Value() */
    int64_t milli; /* amount in thousandths, rounded away from zero, like MilliValue() */
    int exact;     /* 1 when milli is the amount exactly (no rounding, no saturation) */
    int saturated; /* 1 when |amount| >= ~9.2e15 and milli was clamped to INT64_MIN/MAX;
                      value is then the number to use */
    enum tk_quantity_fmt fmt;
};

/* Parses s (NUL-terminated) into *q. Negative amounts are allowed.
 * Returns 0, or TK_EINVAL with err set ("empty", "invalid quantity", "unknown suffix",
 * "out of range") and *q untouched. */
int tk_quantity_parse(const char *s, struct tk_quantity *q, struct tk_err *err);

/* As tk_quantity_parse, but a negative amount (other than -0) is an error: for capacities,
 * requests and limits, where Kubernetes validation rejects negatives. */
int tk_quantity_parse_nonneg(const char *s, struct tk_quantity *q, struct tk_err *err);

/* The amount in thousandths (q->milli). Saturates at INT64_MIN/INT64_MAX, see q->saturated. */
int64_t tk_quantity_milli(const struct tk_quantity *q);

/* Fills *q with exactly milli thousandths ("cpu: 500m" is tk_quantity_from_milli(q, 500, ...)). */
void tk_quantity_from_milli(struct tk_quantity *q, int64_t milli, enum tk_quantity_fmt fmt);

/* Fills *q with exactly value units (bytes, pods); milli saturates beyond ~9.2e15. */
void tk_quantity_from_value(struct tk_quantity *q, int64_t value, enum tk_quantity_fmt fmt);

/* Writes the canonical form Kubernetes' Quantity.String() gives this amount in format q->fmt,
 * computed from q->milli (or from q->value when saturated):
 *   DECIMAL_SI:   an integer mantissa with the largest power-of-1000 suffix that keeps it
 *                 whole: 4 -> "4", 0.5 -> "500m", 1.5 -> "1500m", 2000 -> "2k", 110 -> "110".
 *   BINARY_SI:    a whole amount of at least 1024 with the largest power-of-1024 suffix that
 *                 keeps it whole: 16Gi -> "16Gi", 1536 -> "1536"; smaller or fractional
 *                 amounts fall back to DECIMAL_SI, as in Kubernetes (1000 -> "1k").
 *   DECIMAL_EXPONENT: like DECIMAL_SI with "e<exp>" for the suffix: 2000 -> "2e3".
 * So: memory written as BINARY_SI gets "Gi"/"Mi" whenever that is exact, CPU written as
 * DECIMAL_SI gets whole cores ("4") or millicores ("500m"). Writes at most n bytes including
 * the NUL (truncating like snprintf); returns the length of the full form, which is at most
 * TK_QUANTITY_FMT_MAX - 1. */
size_t tk_quantity_format(const struct tk_quantity *q, char *out, size_t n);

#define TK_QUANTITY_FMT_MAX 32

#endif
