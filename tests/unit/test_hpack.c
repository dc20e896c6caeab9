/* lib/hpack against RFC 7541 Appendix C's examples (Huffman strings both ways, a response
 * sequence with a 256-byte dynamic table and its evictions), plus what a broken peer sends. */

#include <string.h>

#include "buf.h"
#include "hpack.h"
#include "tktest.h"

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; *h; h++) {
        if (*h == ' ')
            continue;
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
        h++;
    }
    return n;
}

static const struct {
    const char *text, *hex;
} huff_vectors[] = {
    {"www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"},
    {"no-cache", "a8eb 1064 9cbf"},
    {"custom-key", "25a8 49e9 5ba9 7d7f"},
    {"custom-value", "25a8 49e9 5bb8 e8b4 bf"},
    {"302", "6402"},
    {"private", "aec3 771a 4b"},
    {"Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"},
    {"https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"},
    {"307", "640e ff"},
    {"gzip", "9bd9 ab"},
};

TK_TEST(hpack_huffman_rfc_vectors)
{
    for (size_t i = 0; i < sizeof(huff_vectors) / sizeof(huff_vectors[0]); i++) {
        uint8_t bin[128];
        size_t n = unhex(huff_vectors[i].hex, bin);
        struct tk_buf out;
        tk_buf_init(&out, 0);
        CHECK_INT(tk_hpack_huffman_decode(bin, n, &out), 0);
        CHECK_STR(out.data, huff_vectors[i].text);
        tk_buf_reset(&out);
        tk_hpack_huffman_encode(huff_vectors[i].text, strlen(huff_vectors[i].text), &out);
        CHECK_INT((long)out.len, (long)n);
        CHECK(!memcmp(out.data, bin, n));
        tk_buf_release(&out);
    }
}

TK_TEST(hpack_huffman_every_byte_round_trips)
{
    char all[256];
    struct tk_buf enc, dec;
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    tk_buf_init(&enc, 0);
    tk_buf_init(&dec, 0);
    for (size_t off = 0; off < 256; off += 37) {
        tk_buf_reset(&enc);
        tk_buf_reset(&dec);
        tk_hpack_huffman_encode(all + off, 256 - off, &enc);
        CHECK_INT(tk_hpack_huffman_decode((const uint8_t *)enc.data, enc.len, &dec), 0);
        CHECK_INT((long)dec.len, (long)(256 - off));
        CHECK(!memcmp(dec.data, all + off, 256 - off));
    }
    tk_buf_release(&enc);
    tk_buf_release(&dec);
}

TK_TEST(hpack_huffman_rejects_bad_padding)
{
    struct tk_buf out;
    uint8_t eight_ones[] = {0x1f, 0xff};      /* 'a'? no: 00011 = 'a', then 11 ones: > 7 bits pad */
    uint8_t zero_pad[] = {0x18};              /* 00011 'a' then 000: padding must be ones */
    uint8_t eos[] = {0xff, 0xff, 0xff, 0xff}; /* EOS (30 ones) inside the string */
    tk_buf_init(&out, 0);
    CHECK(tk_hpack_huffman_decode(eight_ones, sizeof(eight_ones), &out) != 0);
    CHECK(tk_hpack_huffman_decode(zero_pad, sizeof(zero_pad), &out) != 0);
    CHECK(tk_hpack_huffman_decode(eos, sizeof(eos), &out) != 0);
    tk_buf_release(&out);
}

struct fields {
    char text[1024];
};

static int collect(const char *name, size_t nlen, const char *value, size_t vlen, void *ud)
{
    struct fields *f = ud;
    size_t l = strlen(f->text);
    snprintf(f->text + l, sizeof(f->text) - l, "%.*s: %.*s\n", (int)nlen, name, (int)vlen, value);
    return 0;
}

/* RFC 7541 C.6: three responses with Huffman coding and a 256-byte table. */
TK_TEST(hpack_rfc_response_sequence)
{
    struct tk_hpack_dec d;
    struct tk_err err = {0};
    uint8_t bin[256];
    size_t n;
    struct fields f;

    tk_hpack_dec_init(&d, 256);
    n = unhex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
              " 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
              bin);
    memset(&f, 0, sizeof(f));
    CHECK_INT(tk_hpack_decode(&d, bin, n, collect, &f, &err), 0);
    CHECK_STR(f.text, ":status: 302\ncache-control: private\n"
                      "date: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n");
    CHECK_INT((long)d.size, 222);

    n = unhex("4883 640e ffc1 c0bf", bin);
    memset(&f, 0, sizeof(f));
    CHECK_INT(tk_hpack_decode(&d, bin, n, collect, &f, &err), 0);
    CHECK_STR(f.text, ":status: 307\ncache-control: private\n"
                      "date: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n");
    CHECK_INT((long)d.size, 222);

    n = unhex("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
              " 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
              " 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
              bin);
    memset(&f, 0, sizeof(f));
    CHECK_INT(tk_hpack_decode(&d, bin, n, collect, &f, &err), 0);
    CHECK_STR(f.text, ":status: 200\ncache-control: private\n"
                      "date: Mon, 21 Oct 2013 20:13:22 GMT\nlocation: https://www.example.com\n"
                      "content-encoding: gzip\n"
                      "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n");
    CHECK_INT((long)d.size, 215);
    tk_hpack_dec_release(&d);
}

TK_TEST(hpack_encoder_round_trips_through_decoder)
{
    struct tk_buf b;
    struct tk_hpack_dec d;
    struct tk_err err = {0};
    struct fields f;

    tk_buf_init(&b, 0);
    tk_hpack_put_indexed(&b, 2); /* :method GET */
    tk_hpack_put_field(&b, ":path", 5, "/api/v1/nodes?watch=1", 21);
    tk_hpack_put_field(&b, "x-long", 6, "", 0);
    char big[300];
    memset(big, 'v', sizeof(big));
    tk_hpack_put_field(&b, "authorization", 13, big, sizeof(big)); /* multi-byte length */
    tk_hpack_dec_init(&d, 0);
    memset(&f, 0, sizeof(f));
    CHECK_INT(tk_hpack_decode(&d, (const uint8_t *)b.data, b.len, collect, &f, &err), 0);
    const char *want = ":method: GET\n:path: /api/v1/nodes?watch=1\nx-long: \nauthorization: vvv";
    CHECK(!strncmp(f.text, want, strlen(want)));
    CHECK_INT((long)strlen(f.text), (long)(strlen(want) - 3 + sizeof(big) + 1));
    CHECK_INT((long)d.size, 0); /* nothing entered the table */
    tk_hpack_dec_release(&d);
    tk_buf_release(&b);
}

TK_TEST(hpack_rejects_malformed_blocks)
{
    struct tk_hpack_dec d;
    struct tk_err err = {0};
    struct fields f;
    static const char *bad[] = {
        "80",                            /* index 0 */
        "be",                            /* dynamic index 62 in an empty table */
        "ff",                            /* truncated integer */
        "0f",                            /* literal, name index 15 + truncated continuation */
        "4005 6162",                     /* new name literal whose string runs past the end */
        "3fe1 1f",                       /* size update to 4096 + ... above a 256 limit */
        "8820",                          /* size update after a field */
        "4087 ffff ffff ffff ffff 0161", /* Huffman name holding EOS */
    };
    tk_hpack_dec_init(&d, 256);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t bin[64];
        size_t n = unhex(bad[i], bin);
        memset(&f, 0, sizeof(f));
        err.code = 0;
        CHECK_INT(tk_hpack_decode(&d, bin, n, collect, &f, &err), TK_ENET);
        CHECK_CONTAINS(err.msg, "HPACK");
    }
    /* a size update at the start is fine, down to 0 */
    uint8_t ok[] = {0x20, 0x88};
    memset(&f, 0, sizeof(f));
    CHECK_INT(tk_hpack_decode(&d, ok, sizeof(ok), collect, &f, &err), 0);
    CHECK_STR(f.text, ":status: 200\n");
    tk_hpack_dec_release(&d);
}

TK_TEST_MAIN(hpack_huffman_rfc_vectors, hpack_huffman_every_byte_round_trips,
             hpack_huffman_rejects_bad_padding, hpack_rfc_response_sequence,
             hpack_encoder_round_trips_through_decoder, hpack_rejects_malformed_blocks)
