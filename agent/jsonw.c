#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tk_jsonw_esc(struct tk_buf *b, const char *s)
{
    const char *run = s;
    char esc[8];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (s > run && tk_buf_append(b, run, (size_t)(s - run)))
            return -1;
        switch (c) {
        case '"':
            memcpy(esc, "\\\"", 3);
            break;
        case '\\':
            memcpy(esc, "\\\\", 3);
            break;
        case '\n':
            memcpy(esc, "\\n", 3);
            break;
        case '\t':
            memcpy(esc, "\\t", 3);
            break;
        case '\r':
            memcpy(esc, "\\r", 3);
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        }
        if (tk_buf_puts(b, esc))
            return -1;
        run = s + 1;
    }
    if (s > run)
        return tk_buf_append(b, run, (size_t)(s - run));
    return 0;
}

int tk_jsonw_str(struct tk_buf *b, const char *s)
{
    if (!s)
        return tk_buf_append(b, "null", 4);
    if (tk_buf_append(b, "\"", 1) || tk_jsonw_esc(b, s))
        return -1;
    return tk_buf_append(b, "\"", 1);
}

void tk_jsonw_time(char *out, int64_t wall_ns)
{
    time_t sec = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(out, TK_JSONW_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void tk_jsonw_microtime(char *out, int64_t wall_ns)
{
    time_t sec = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    char tmp[96];
    gmtime_r(&sec, &tm);
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)((uint64_t)wall_ns / 1000 % 1000000));
    memcpy(out, tmp, 27);
    out[27] = '\0';
}

int tk_jsonw_parse_time(const char *s, int64_t *wall_ns_out)
{
    struct tm tm;
    const char *p;
    int64_t frac_ns = 0, off_s = 0;

    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.') {
        int64_t scale = 100000000;
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            frac_ns += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        off_s = (int64_t)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *wall_ns_out = ((int64_t)timegm(&tm) - off_s) * 1000000000 + frac_ns;
    return 0;
}
