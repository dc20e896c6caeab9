#include <stdarg.h>
#include <stdio.h>

#include "cmd.h"

void tk_cmd_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("turbokube: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
