#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tk_err_set(struct tk_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err || err->code)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void tk_err_prefix(struct tk_err *err, const char *fmt, ...)
{
    char prefix[sizeof(err->msg)], old[sizeof(err->msg)];
    va_list ap;

    if (!err || !err->code)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Truncation is intended: the message keeps as much of both parts as fits. */
    size_t n = strlen(prefix);
    if (n > sizeof(err->msg) - 3)
        n = sizeof(err->msg) - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof(err->msg) - n - 3, olen = strlen(old);
    if (olen > room)
        olen = room;
    memcpy(err->msg + n + 2, old, olen);
    err->msg[n + 2 + olen] = '\0';
}

void tk_err_clear(struct tk_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

const char *tk_err_name(int code)
{
    static const char *const names[] = {
        "ok",      "invalid",  "io",    "nomem", "net", "http",
        "timeout", "notfound", "state", "child", "tls",
    };
    if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[code];
}
