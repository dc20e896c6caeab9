/* libFuzzer harness for lib/h2's frame reader and lib/hpack's decoder.
 *
 * Build and run (not part of the default build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib \
 *     tests/fuzz/fuzz_h2.c lib/h2.c lib/hpack.c lib/tls.c lib/buf.c lib/err.c lib/log.c \
 *     lib/loop.c $(pkg-config --cflags --libs openssl libcurl) -o fuzz_h2
 *   ./fuzz_h2 -max_total_time=60 tests/fuzz/corpus/h2
 * The seeds in tests/fuzz/corpus/h2 come from tests/fuzz/corpus_h2.py.
 *
 * Input: one byte that seeds the chunk sizes, then a server's byte stream. Besides memory errors
 * it checks the reader's contract: the stream fed whole and fed in chunks (sizes drawn from the
 * seed) gives the same frames, DATA bytes and outcome; DATA arrives with padding removed, its
 * last piece flagged exactly once, never inside another frame; every error carries its message.
 * Each HEADERS block (padding and priority removed, CONTINUATIONs appended) goes through one
 * HPACK decoder with a 4096-byte table limit, as on a connection: errors carry a message, the
 * table stays within its limit, and after an error the decoder starts over. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"
#include "hpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct tk_buf out;  /* frame headers, payloads, DATA bytes, end marks */
    uint32_t data_left; /* bytes a DATA frame may still hand over */
    int in_data, hpack;
    struct tk_hpack_dec dec;
    struct tk_buf block; /* a header block being assembled */
    int in_block;
    unsigned sum; /* keeps the decoded bytes' reads from being optimised away */
};

static void put_head(struct run *r, const struct tk_h2_frame *f)
{
    tk_buf_printf(&r->out, "\n%u/%u/%u/%u:", f->type, f->flags, f->stream, f->len);
}

static int on_data(const struct tk_h2_frame *f, const char *p, size_t n, int last, void *ud)
{
    struct run *r = ud;

    if (!r->in_data) {
        put_head(r, f);
        r->in_data = 1;
        r->data_left = f->len - ((f->flags & 0x8) ? 1 : 0);
    }
    if (f->type != TK_H2_DATA || n > r->data_left || (n == 0 && !last))
        abort();
    r->data_left -= (uint32_t)n;
    tk_buf_append(&r->out, p, n);
    if (last) {
        tk_buf_append(&r->out, "|", 1);
        r->in_data = 0;
    }
    return 0;
}

static int on_field(const char *name, size_t nlen, const char *value, size_t vlen, void *ud)
{
    struct run *r = ud;
    for (size_t i = 0; i < nlen; i++)
        r->sum += (unsigned char)name[i];
    for (size_t i = 0; i < vlen; i++)
        r->sum += (unsigned char)value[i];
    return 0;
}

static void decode_block(struct run *r)
{
    struct tk_err err = {0};
    int rc =
        tk_hpack_decode(&r->dec, (const uint8_t *)r->block.data, r->block.len, on_field, r, &err);

    if (rc && (rc != TK_ENET || err.code != TK_ENET || err.msg[0] == '\0'))
        abort();
    if (r->dec.size > r->dec.max_size || r->dec.max_size > TK_HPACK_DEFAULT_TABLE)
        abort();
    if (rc) { /* the state is undefined now: a connection would be gone */
        tk_hpack_dec_release(&r->dec);
        tk_hpack_dec_init(&r->dec, TK_HPACK_DEFAULT_TABLE);
    }
    tk_buf_reset(&r->block);
    r->in_block = 0;
}

/* HEADERS and CONTINUATION payloads into header blocks, as lib/h2 assembles them. */
static void hpack_frame(struct run *r, const struct tk_h2_frame *f, const uint8_t *p)
{
    uint32_t n = f->len, pad = 0;

    if (f->type == TK_H2_HEADERS) {
        tk_buf_reset(&r->block);
        r->in_block = 1;
        if (f->flags & 0x8) {
            if (n < 1 || (pad = p[0]) > n - 1)
                return;
            p++, n -= 1 + pad;
        }
        if (f->flags & 0x20) {
            if (n < 5)
                return;
            p += 5, n -= 5;
        }
    } else if (f->type != TK_H2_CONTINUATION || !r->in_block) {
        return;
    }
    tk_buf_append(&r->block, p, n);
    if (f->flags & 0x4)
        decode_block(r);
}

static int on_frame(const struct tk_h2_frame *f, const uint8_t *p, void *ud)
{
    struct run *r = ud;

    if (r->in_data || f->type == TK_H2_DATA || f->len > 16384)
        abort();
    put_head(r, f);
    tk_buf_append(&r->out, p, f->len);
    if (r->hpack)
        hpack_frame(r, f, p);
    return 0;
}

static const struct tk_h2_reader_cb cb = {on_data, on_frame};

/* Feeds data whole (seed 0) or in chunks of 1..64 bytes drawn from seed; returns the result. */
static int feed(const char *data, size_t size, uint32_t seed, struct run *r)
{
    struct tk_h2_reader rd;
    struct tk_err err = {0};
    size_t at = 0;
    int rc = 0;

    tk_h2_reader_init(&rd);
    while (at < size && rc == 0) {
        size_t n = size - at;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 64;
            if (n > size - at)
                n = size - at;
        }
        rc = tk_h2_reader_feed(&rd, data + at, n, &cb, r, &err);
        at += n;
    }
    if (rc && (rc != TK_ENET || err.code != TK_ENET || err.msg[0] == '\0'))
        abort(); /* every failure carries its message */
    tk_h2_reader_release(&rd);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run a, b;
    int ra, rb;

    if (size < 1)
        return 0;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    tk_buf_init(&a.out, 0);
    tk_buf_init(&b.out, 0);
    tk_buf_init(&a.block, 1 << 20);
    tk_hpack_dec_init(&a.dec, TK_HPACK_DEFAULT_TABLE);
    a.hpack = 1;
    ra = feed((const char *)data + 1, size - 1, 0, &a);
    rb = feed((const char *)data + 1, size - 1, 1u + data[0], &b);
    if (ra != rb || a.in_data != b.in_data || a.out.len != b.out.len ||
        (a.out.len && memcmp(a.out.data, b.out.data, a.out.len))) {
        fprintf(stderr, "whole rc=%d out=%zu, chunked rc=%d out=%zu\n", ra, a.out.len, rb,
                b.out.len);
        abort();
    }
    tk_buf_release(&a.out);
    tk_buf_release(&b.out);
    tk_buf_release(&a.block);
    tk_hpack_dec_release(&a.dec);
    return 0;
}
