/* libFuzzer harness for lib/h1's HTTP/1.1 response parser.
 *
 * Build and run (not part of the default build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib \
 *     tests/fuzz/fuzz_h1.c lib/h1.c lib/buf.c lib/err.c lib/log.c lib/loop.c \
 *     $(pkg-config --cflags --libs openssl libcurl) -o fuzz_h1
 *   ./fuzz_h1 -max_total_time=30 tests/fuzz/corpus/h1
 *
 * Besides memory errors it checks the parser's contract: the same bytes fed whole and fed in
 * chunks (sizes drawn from the input itself) give the same outcome, status, body and bytes
 * consumed; the body cap holds; every error carries its message. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
    int rc;
    long status;
    size_t used;
    struct tk_buf body;
};

static void run(const char *data, size_t size, size_t cap, int head, uint32_t seed,
                struct outcome *o)
{
    struct tk_h1_parser p;
    struct tk_err err = {0};
    size_t at = 0;

    tk_buf_init(&o->body, cap);
    tk_h1_parser_init(&p);
    tk_h1_parser_reset(&p, head);
    o->rc = TK_H1_MORE;
    while (at < size && o->rc == TK_H1_MORE) {
        size_t n = size - at, used = 0;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 17;
            if (n > size - at)
                n = size - at;
        }
        o->rc = tk_h1_parser_feed(&p, data + at, n, &used, &o->body, &err);
        if (o->rc == TK_H1_DONE && used > n)
            abort();
        at += o->rc == TK_H1_DONE ? used : n;
    }
    if (o->rc == TK_H1_MORE)
        o->rc = tk_h1_parser_eof(&p, &err);
    if (o->rc != TK_H1_DONE && (err.code != o->rc || err.msg[0] == '\0'))
        abort(); /* every failure carries its message */
    if (cap && o->body.len > cap)
        abort(); /* the cap holds */
    o->used = at;
    o->status = p.status;
    tk_h1_parser_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome a, b;
    size_t cap;
    uint32_t seed;
    int head;

    if (size < 2)
        return 0;
    /* first byte: the body cap (small, so oversized bodies are common) and HEAD; second: the
     * chunk seed */
    cap = 16 + (size_t)(data[0] >> 1) * 8;
    head = data[0] & 1;
    seed = 1u + data[1];
    data += 2;
    size -= 2;

    run((const char *)data, size, cap, head, 0, &a);
    run((const char *)data, size, cap, head, seed, &b);
    if (a.rc != b.rc || a.status != b.status ||
        (a.rc == TK_H1_DONE &&
         (a.used != b.used || a.body.len != b.body.len ||
          memcmp(a.body.data ? a.body.data : "", b.body.data ? b.body.data : "", a.body.len)))) {
        fprintf(stderr, "whole rc=%d status=%ld used=%zu, chunked rc=%d status=%ld used=%zu\n",
                a.rc, a.status, a.used, b.rc, b.status, b.used);
        abort();
    }
    tk_buf_release(&a.body);
    tk_buf_release(&b.body);
    return 0;
}
