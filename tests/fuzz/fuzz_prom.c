/* libFuzzer harness for the Prometheus text parser, histogram collector, quantile and writer
 * (lib/prom.c).
 *
 * Build and run (not part of the default build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib \
 *     tests/fuzz/fuzz_prom.c lib/prom.c lib/buf.c lib/err.c lib/log.c -lm -o fuzz_prom
 *   ./fuzz_prom -max_total_time=30 tests/fuzz/corpus/prom
 *
 * Besides memory errors (the input is handed over in a buffer of exactly its size, never
 * NUL-terminated) it checks the parser's contract:
 *   - the same bytes fed whole and fed in chunks (sizes drawn from the input) give the same
 *     samples and the same outcome;
 *   - every sample, written back with the writer, parses to the same name, labels and value;
 *   - histograms of family "x" survive deltas and quantiles without faults. */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
    uint64_t hash;
    unsigned samples;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

static int same_value(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

/* The written-back sample must read as the original. */
struct echo {
    const struct tk_prom_sample *orig;
    int seen;
};

static int on_echo(void *ud, const struct tk_prom_sample *s)
{
    struct echo *e = ud;
    const struct tk_prom_sample *o = e->orig;

    e->seen++;
    if (strcmp(s->name, o->name) != 0 || s->nlabels != o->nlabels ||
        !same_value(s->value, o->value))
        abort();
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, o->labels[i].name) != 0 ||
            strcmp(s->labels[i].value, o->labels[i].value) != 0)
            abort();
    }
    return 0;
}

static void check_echo(const struct tk_prom_sample *s)
{
    struct tk_buf b;
    struct tk_prom_writer w;
    struct tk_err err = {0};
    struct echo e = {s, 0};

    tk_buf_init(&b, 0);
    tk_prom_writer_init(&w, &b);
    if (tk_prom_write_sample(&w, s->name, s->labels, s->nlabels, s->value) != 0)
        abort();
    if (tk_prom_parse(b.data, b.len, on_echo, &e, &err) != 0 || e.seen != 1)
        abort();
    tk_buf_release(&b);
}

struct ctx {
    struct digest d;
    struct tk_prom_hists *hs;
    int echo;
};

static int on_sample(void *ud, const struct tk_prom_sample *s)
{
    struct ctx *c = ud;
    uint64_t h = c->d.hash;

    h = mix(h, s->name, strlen(s->name) + 1);
    for (size_t i = 0; i < s->nlabels; i++) {
        h = mix(h, s->labels[i].name, strlen(s->labels[i].name) + 1);
        h = mix(h, s->labels[i].value, strlen(s->labels[i].value) + 1);
    }
    if (!isnan(s->value))
        h = mix(h, &s->value, sizeof(s->value));
    h = mix(h, &s->has_timestamp, sizeof(s->has_timestamp));
    h = mix(h, &s->timestamp_ms, sizeof(s->timestamp_ms));
    h = mix(h, &s->type, sizeof(s->type));
    h = mix(h, s->family, strlen(s->family) + 1);
    h = mix(h, &s->line, sizeof(s->line));
    c->d.hash = h;
    c->d.samples++;
    if (c->hs)
        tk_prom_hists_add(c->hs, s);
    if (c->echo)
        check_echo(s);
    return 0;
}

static int run_chunked(const char *text, size_t size, uint32_t seed, struct ctx *c)
{
    struct tk_prom_parser p;
    struct tk_err err = {0};
    size_t at = 0;
    int rc = 0;

    tk_prom_parser_init(&p, on_sample, c);
    while (at < size && rc == 0) {
        size_t n = size - at;
        seed = seed * 1103515245u + 12345u;
        if (n > 1)
            n = 1 + (seed >> 16) % (n < 64 ? n : 64);
        char *chunk = malloc(n); /* exactly n bytes: ASan catches a read past the chunk */
        memcpy(chunk, text + at, n);
        rc = tk_prom_parser_feed(&p, chunk, n, &err);
        free(chunk);
        at += n;
    }
    if (rc == 0)
        rc = tk_prom_parser_finish(&p, &err);
    if (rc && err.code != rc)
        abort();
    tk_prom_parser_release(&p);
    return rc;
}

static void exercise_hists(const struct tk_prom_hists *hs)
{
    static const double qs[] = {-1, 0, 0.25, 0.5, 0.9, 0.99, 1, 2, NAN};
    const struct tk_prom_hist *prev = NULL;

    for (size_t i = 0; i < tk_prom_hists_count(hs); i++) {
        const struct tk_prom_hist *h = tk_prom_hists_at(hs, i);
        struct tk_prom_hist d;
        double *le_copy = malloc((h->n ? h->n : 1) * sizeof(double));

        if (tk_prom_hists_find(hs, h->labels_key) != h)
            abort();
        if (h->n)
            memcpy(le_copy, h->le, h->n * sizeof(double));
        for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
            double v = tk_prom_hist_quantile(qs[k], h);
            if (qs[k] < 0 && v != -INFINITY)
                abort();
            if (qs[k] > 1 && v != INFINITY)
                abort();
        }
        /* the caller's arrays are not modified */
        if (h->n && memcmp(le_copy, h->le, h->n * sizeof(double)) != 0)
            abort();
        free(le_copy);
        tk_prom_hist_delta(prev, h, &d);
        if (d.n != h->n || strcmp(d.labels_key, h->labels_key) != 0)
            abort();
        tk_prom_hist_quantile(0.5, &d);
        tk_prom_hist_release(&d);
        prev = h;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    struct ctx whole = {{14695981039346656037ULL, 0}, NULL, 1};
    struct ctx chunked = {{14695981039346656037ULL, 0}, NULL, 0};
    struct tk_prom_hists hs;
    struct tk_err err = {0};
    uint32_t seed = 0;
    int rc_whole, rc_chunked;

    memcpy(text, data, size);
    for (size_t i = 0; i < size && i < 4; i++)
        seed = seed * 31 + data[i];

    tk_prom_hists_init(&hs, "x");
    whole.hs = &hs;
    rc_whole = tk_prom_parse(text, size, on_sample, &whole, &err);
    if (rc_whole && (err.code != rc_whole || strncmp(err.msg, "line ", 5) != 0))
        abort();
    rc_chunked = run_chunked(text, size, seed, &chunked);
    if (rc_whole != rc_chunked || whole.d.hash != chunked.d.hash ||
        whole.d.samples != chunked.d.samples)
        abort();

    tk_prom_hists_finish(&hs);
    exercise_hists(&hs);
    tk_prom_hists_release(&hs);

    /* values alone, bounded by the length */
    {
        double v;
        tk_prom_parse_value(text, size < 64 ? size : 64, &v);
    }
    free(text);
    return 0;
}
