/* libFuzzer harness for the watch-stream parser (lib/watch.c).
 *
 * Build and run (not part of the default build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib -I/usr/include/cjson \
 *     tests/fuzz/fuzz_watch.c lib/watch.c lib/buf.c lib/err.c -lcjson -o fuzz_watch
 *   ./fuzz_watch -max_total_time=30 tests/fuzz/corpus/watch
 *
 * Besides memory errors it checks the parser's contract: the same bytes fed whole and fed in
 * chunks (sizes drawn from the input itself) give the same events and the same outcome. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
    uint64_t hash;
    unsigned events;
};

static int on_event(enum tk_watch_type type, cJSON *object, void *ud)
{
    struct digest *d = ud;
    char *s = cJSON_PrintUnformatted(object);

    d->hash = (d->hash ^ (uint64_t)type) * 1099511628211ULL;
    for (const char *p = s; p && *p; p++)
        d->hash = (d->hash ^ (unsigned char)*p) * 1099511628211ULL;
    free(s);
    d->events++;
    return 0;
}

/* Feeds data in chunks; chunk sizes come from seed (0: everything at once). Returns the code. */
static int run(const char *data, size_t size, size_t cap, uint32_t seed, struct digest *d,
               size_t *pending)
{
    struct tk_watch_parser p;
    struct tk_err err = {0};
    size_t at = 0;
    int rc = 0;

    tk_watch_parser_init(&p, cap);
    while (at < size && rc == 0) {
        size_t n = size - at;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 17;
            if (n > size - at)
                n = size - at;
        }
        rc = tk_watch_parser_feed(&p, data + at, n, on_event, d, &err);
        at += n;
    }
    if (rc != 0 && (err.code != rc || err.msg[0] == '\0'))
        abort(); /* every failure carries its message */
    *pending = tk_watch_parser_pending(&p);
    if (rc == 0 && *pending > cap)
        abort(); /* the cap holds */
    tk_watch_parser_release(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest whole = {14695981039346656037ULL, 0}, chunked = whole;
    size_t cap, pend_whole = 0, pend_chunked = 0;
    uint32_t seed;
    int a, b;

    if (size < 2)
        return 0;
    /* first byte: the cap (small, so oversized events are common); second: the chunk seed */
    cap = 16 + (size_t)data[0] * 8;
    seed = 1u + data[1];
    data += 2;
    size -= 2;

    a = run((const char *)data, size, cap, 0, &whole, &pend_whole);
    b = run((const char *)data, size, cap, seed, &chunked, &pend_chunked);
    if (a != b || whole.events != chunked.events || whole.hash != chunked.hash) {
        fprintf(stderr, "whole rc=%d events=%u, chunked rc=%d events=%u\n", a, whole.events, b,
                chunked.events);
        abort();
    }
    if (a == 0 && pend_whole != pend_chunked)
        abort();
    return 0;
}
