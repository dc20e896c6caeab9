#ifndef TK_LOG_H
#define TK_LOG_H

/* logfmt logging on stderr: one line per event,
 *   t=2026-12-01T08:00:00.123Z level=info msg="node registered" node=tk-0001
 * The level is checked before anything is formatted. Storms are rate-limited with
 * tk_log_every(), which lets one line through per interval and counts the rest. */

#include <stdint.h>

enum tk_log_level { TK_LOG_DEBUG = 0, TK_LOG_INFO, TK_LOG_WARN, TK_LOG_ERROR, TK_LOG_OFF };

extern enum tk_log_level tk_log_threshold;

/* Parses "debug|info|warn|error|off"; returns -1 on anything else. */
int tk_log_parse_level(const char *s, enum tk_log_level *out);

/* msg is the human sentence; fmt/... are further logfmt pairs ("node=%s code=%d"), may be NULL.
 * Values in fmt are the caller's to quote; tk_log quotes msg. */
void tk_log_emit(enum tk_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tk_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= tk_log_threshold)                                                           \
            tk_log_emit((level), __VA_ARGS__);                                                     \
    } while (0)
#define tk_debug(...) tk_log(TK_LOG_DEBUG, __VA_ARGS__)
#define tk_info(...) tk_log(TK_LOG_INFO, __VA_ARGS__)
#define tk_warn(...) tk_log(TK_LOG_WARN, __VA_ARGS__)
#define tk_error(...) tk_log(TK_LOG_ERROR, __VA_ARGS__)

/* Rate limiter state, embedded by the caller (usually a static). */
struct tk_log_limit {
    int64_t next_ns;
    uint64_t suppressed;
};

/* Returns 1 when a line may be logged now (at most one per interval_ms), 0 otherwise.
 * *suppressed_out receives how many were dropped since the last line let through. */
int tk_log_every(struct tk_log_limit *lim, int interval_ms, uint64_t *suppressed_out);

/* Monotonic and wall clocks in nanoseconds. */
int64_t tk_now_ns(void);
int64_t tk_wall_ns(void);

#endif
