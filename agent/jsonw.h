#ifndef TK_JSONW_H
#define TK_JSONW_H

/* Small JSON writing helpers over struct tk_buf, for the request bodies the agent builds on
 * hot paths (pod status, events, leases): appending preformatted text is several times cheaper
 * than building a cJSON tree and printing it. Strings are escaped per RFC 8259. */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Appends s as a JSON string literal (quotes included). s == NULL appends null. Returns 0 or
 * -1 when b's cap is reached. */
int tk_jsonw_str(struct tk_buf *b, const char *s);

/* Appends s escaped for use inside a JSON string literal (no quotes). */
int tk_jsonw_esc(struct tk_buf *b, const char *s);

/* Formats wall-clock nanoseconds as RFC 3339 UTC with second resolution,
 * "2026-01-02T03:04:05Z", into out (at least 21 bytes; TK_JSONW_TIME_LEN + 1). */
#define TK_JSONW_TIME_LEN 20
void tk_jsonw_time(char *out, int64_t wall_ns);

/* As tk_jsonw_time with microsecond resolution, "2026-01-02T03:04:05.123456Z" (at least 28
 * bytes), the MicroTime form Leases use for renewTime. */
void tk_jsonw_microtime(char *out, int64_t wall_ns);

/* Parses an RFC 3339 timestamp ("...Z" or with a numeric offset, optional fraction) into wall
 * nanoseconds. Returns 0 or -1. */
int tk_jsonw_parse_time(const char *s, int64_t *wall_ns_out);

#endif
