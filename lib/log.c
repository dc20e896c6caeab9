#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum tk_log_level tk_log_threshold = TK_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int tk_log_parse_level(const char *s, enum tk_log_level *out)
{
    for (int i = 0; i <= TK_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum tk_log_level)i;
            return 0;
        }
    }
    return -1;
}

int64_t tk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tk_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

void tk_log_emit(enum tk_log_level level, const char *msg, const char *fmt, ...)
{
    char line[2048], ts[32];
    int64_t now = tk_wall_ns();
    time_t sec = (time_t)(now / 1000000000);
    struct tm tm;
    va_list ap;

    gmtime_r(&sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    line[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
    }
    flockfile(stderr);
    fprintf(stderr, "t=%s.%03dZ level=%s msg=", ts, (int)(now / 1000000 % 1000),
            level_names[level]);
    put_quoted(stderr, msg);
    if (line[0])
        fprintf(stderr, " %s", line);
    fputc('\n', stderr);
    funlockfile(stderr);
}

int tk_log_every(struct tk_log_limit *lim, int interval_ms, uint64_t *suppressed_out)
{
    int64_t now = tk_now_ns();

    if (now < lim->next_ns) {
        lim->suppressed++;
        return 0;
    }
    lim->next_ns = now + (int64_t)interval_ms * 1000000;
    if (suppressed_out)
        *suppressed_out = lim->suppressed;
    lim->suppressed = 0;
    return 1;
}
