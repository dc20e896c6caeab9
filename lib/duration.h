#ifndef TK_DURATION_H
#define TK_DURATION_H

/* Go-style durations (time.ParseDuration / Duration.String), in int64 nanoseconds.
 * Experiment files and kube-burner configs spell timeouts this way ("10s", "1m30s", "1.5h"),
 * and the values we write back must read the same in Go. */

#include <stddef.h>
#include <stdint.h>

struct tk_err;

/* Parses s exactly as Go's time.ParseDuration: an optional sign, then one or more
 * <decimal number><unit> pairs ("1h2m3.5s"), units ns, us, µs (U+00B5), μs (U+03BC), ms, s,
 * m, h. A bare "0" (optionally signed) is zero; every other number needs a unit. Fractions
 * are converted the way Go does (through float64, truncated), so results match Go to the
 * nanosecond.
 * Stores the result in *ns and returns 0, or returns TK_EINVAL (empty, missing or unknown
 * unit, stray characters, overflow beyond int64) with err set and *ns untouched. */
int tk_duration_parse(const char *s, int64_t *ns, struct tk_err *err);

/* Formats ns as Go's Duration.String(): "1h2m3.5s", "1m30s", "1.5s", "300ms", "2µs" (UTF-8
 * micro sign), "5ns", "0s", "-1s". Writes at most n bytes including the NUL (truncating like
 * snprintf) and returns the length of the full form; TK_DURATION_MAX bytes always suffice. */
size_t tk_duration_format(int64_t ns, char *out, size_t n);

/* Enough room for any formatted duration ("-2562047h47m16.854775808s" plus the NUL). */
#define TK_DURATION_MAX 32

#endif
