#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "turbokube: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tk_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *tk_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *tk_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *tk_xstrdup(const char *s)
{
    return tk_xstrndup(s, strlen(s));
}

char *tk_xstrndup(const char *s, size_t n)
{
    char *p = tk_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *tk_xasprintf(const char *fmt, ...)
{
    struct tk_buf b;
    va_list ap;

    tk_buf_init(&b, 0);
    va_start(ap, fmt);
    tk_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return tk_buf_detach(&b);
}

void tk_buf_init(struct tk_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void tk_buf_release(struct tk_buf *b)
{
    free(b->data);
    tk_buf_init(b, b->cap);
}

static int grow(struct tk_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1, n;

    if (b->cap && b->len + extra > b->cap)
        return -1;
    if (need <= b->alloc)
        return 0;
    n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    b->data = tk_xrealloc(b->data, n);
    b->alloc = n;
    return 0;
}

int tk_buf_append(struct tk_buf *b, const void *p, size_t n)
{
    if (grow(b, n))
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tk_buf_puts(struct tk_buf *b, const char *s)
{
    return tk_buf_append(b, s, strlen(s));
}

int tk_buf_vprintf(struct tk_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || grow(b, (size_t)n))
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int tk_buf_printf(struct tk_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = tk_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void tk_buf_consume(struct tk_buf *b, size_t n)
{
    if (n >= b->len) {
        tk_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void tk_buf_reset(struct tk_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *tk_buf_detach(struct tk_buf *b)
{
    char *p = b->data ? b->data : tk_xstrdup("");
    tk_buf_init(b, b->cap);
    return p;
}
