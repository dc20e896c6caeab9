#ifndef TK_HPACK_H
#define TK_HPACK_H

/* HPACK (RFC 7541), as much as an HTTP/2 client needs: a decoder for the server's header blocks
 * (static and dynamic tables, Huffman strings, table size updates) and an encoder that writes
 * literals without indexing (so the server's decoder keeps no state for us, and we keep no
 * encoder table). lib/h2 advertises a header table size of 0, so the dynamic table normally
 * stays empty; it is implemented anyway for the window before the server applies our SETTINGS. */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define TK_HPACK_DEFAULT_TABLE 4096

struct hpack_entry;

struct tk_hpack_dec {
    struct hpack_entry **ring; /* dynamic table, newest at ring[(head + n - 1) % cap]... */
    size_t cap, head, n;
    size_t size;      /* RFC 7541 4.1: sum of name + value + 32 */
    size_t max_size;  /* current limit (size updates) */
    size_t max_limit; /* the most a size update may set (what we advertised, or the default) */
    struct tk_buf scratch;
};

void tk_hpack_dec_init(struct tk_hpack_dec *d, size_t max_limit);
void tk_hpack_dec_release(struct tk_hpack_dec *d);

/* Called for each decoded field, in order. name and value are not NUL-terminated and live only
 * for the call. Returns 0 to go on, or a positive value to stop decoding (tk_hpack_decode then
 * returns it; negative values are reserved for malformed blocks). */
typedef int (*tk_hpack_field_fn)(const char *name, size_t nlen, const char *value, size_t vlen,
                                 void *ud);

/* Decodes one complete header block. Returns 0, the callback's non-zero value, or TK_ENET with
 * err for a malformed block (bad index, bad Huffman code or padding, truncated integer or string,
 * size update above the limit or after the first field). The decoder's state is then undefined:
 * the connection must go (a COMPRESSION_ERROR). */
int tk_hpack_decode(struct tk_hpack_dec *d, const uint8_t *p, size_t n, tk_hpack_field_fn cb,
                    void *ud, struct tk_err *err);

/* Appends a "literal header field without indexing" (RFC 7541 6.2.2): the static table's index
 * for name when it has one, else the name as a literal; value as a literal; no Huffman. */
void tk_hpack_put_field(struct tk_buf *b, const char *name, size_t nlen, const char *value,
                        size_t vlen);

/* Appends an indexed field from the static table (e.g. 2 for ":method: GET"). */
void tk_hpack_put_indexed(struct tk_buf *b, unsigned idx);

/* Decodes a Huffman string (RFC 7541 5.2) onto out. Returns 0, or -1 for an invalid code, EOS,
 * or padding longer than 7 bits or not all ones. Exposed for tests. */
int tk_hpack_huffman_decode(const uint8_t *p, size_t n, struct tk_buf *out);

/* Encodes s with the Huffman code (for tests: RFC 7541 Appendix C's vectors go both ways). */
void tk_hpack_huffman_encode(const char *s, size_t n, struct tk_buf *out);

#endif
