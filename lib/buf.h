#ifndef TK_BUF_H
#define TK_BUF_H

/* Growable byte buffers with a cap, and allocation helpers that abort on out-of-memory.
 * Anything the network can grow goes through a capped buffer: tk_buf_append() refuses to
 * grow past cap and returns -1, so a huge watch event becomes an error, not an OOM. */

#include <stdarg.h>
#include <stddef.h>

void *tk_xmalloc(size_t n);
void *tk_xcalloc(size_t nmemb, size_t size);
void *tk_xrealloc(void *p, size_t n);
char *tk_xstrdup(const char *s);
char *tk_xstrndup(const char *s, size_t n);
/* Formats into a new heap string; caller frees. */
char *tk_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct tk_buf {
    char *data; /* always NUL-terminated when non-NULL (the NUL is not counted in len) */
    size_t len;
    size_t alloc;
    size_t cap; /* 0: no cap */
};

/* An embedded buffer; cap in bytes (0 = unbounded, only for data we produce ourselves). */
void tk_buf_init(struct tk_buf *b, size_t cap);
void tk_buf_release(struct tk_buf *b);
/* Appends n bytes. Returns 0, or -1 when the cap would be exceeded (b is unchanged). */
int tk_buf_append(struct tk_buf *b, const void *p, size_t n);
int tk_buf_puts(struct tk_buf *b, const char *s);
int tk_buf_printf(struct tk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tk_buf_vprintf(struct tk_buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes (n <= len). */
void tk_buf_consume(struct tk_buf *b, size_t n);
void tk_buf_reset(struct tk_buf *b);
/* Hands the data to the caller (caller frees; never NULL) and leaves b empty. */
char *tk_buf_detach(struct tk_buf *b);

#endif
