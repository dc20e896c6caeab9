#ifndef TK_YAML_H
#define TK_YAML_H

/* YAML files as a small immutable tree with source marks, over libyaml.
 *
 * Every node remembers where it starts (1-based line and column), so a consumer reports
 *   experiments/x.yaml:12:3: unknown key 'nodez' (did you mean 'nodes'?)
 * The tree is built once and never changes; the document owns every node and string.
 *
 * What is accepted: one document (a second one is an error); anchors and aliases (an alias is
 * the anchored node itself, shared, not a copy; aliases may not expand to more than
 * TK_YAML_MAX_EXPANDED nodes, which stops "billion laughs"); merge keys (`<<: *base` or
 * `<<: [*a, *b]`: keys written in the map win, then earlier merged maps over later ones);
 * scalar map keys only; no duplicate keys; nesting up to TK_YAML_MAX_DEPTH; input up to
 * TK_YAML_MAX_BYTES. Tags other than !!str and !!null are ignored. */

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TK_YAML_MAX_BYTES (16u << 20)
#define TK_YAML_MAX_DEPTH 256
#define TK_YAML_MAX_EXPANDED (16u << 20)

enum tk_yaml_kind { TK_YAML_SCALAR, TK_YAML_SEQ, TK_YAML_MAP, TK_YAML_NULL };

struct tk_yaml_node {
    enum tk_yaml_kind kind;
    int line, col; /* 1-based, where the node starts */
    /* SCALAR: the value, NUL-terminated (n is its length in bytes; it may hold NUL bytes from
     * "\0" escapes, which tk_yaml_to_str refuses). NULL: the text as written ("", "~", "null").
     * Map keys are always SCALAR, even when written `null` or `~`. */
    const char *scalar;
    int quoted; /* SCALAR written quoted, as a block scalar (| >) or tagged !!str: a string,
                 * never a number, bool or null */
    size_t n;   /* SEQ: item count; MAP: pair count; SCALAR and NULL: scalar length */
    /* SEQ: items[0..n-1]; MAP: key i in items[2i], its value in items[2i+1] */
    struct tk_yaml_node **items;
};

struct tk_yaml_doc; /* owns every node and the name */

/* Loads the YAML file at path (at most TK_YAML_MAX_BYTES). The document's name, used in every
 * message, is path as given. On success *out is the document (free with tk_yaml_free).
 * Errors: TK_EIO "cannot read 'path': reason"; TK_ENOMEM when the file is too large; TK_EINVAL
 * for syntax errors "path:line:col: <libyaml problem> (<context> at line:col)" and for the
 * limits above. On failure *out is NULL. */
int tk_yaml_load_file(struct tk_yaml_doc **out, const char *path, struct tk_err *err);

/* As tk_yaml_load_file, from len bytes of text (borrowed for the call only; need not be
 * NUL-terminated). name (copied) appears in messages, e.g. "<inline>" or a flag name. */
int tk_yaml_load_string(struct tk_yaml_doc **out, const char *name, const char *text, size_t len,
                        struct tk_err *err);

/* The root node: never NULL (an empty document has a NULL-kind root at 1:1). Borrowed from doc. */
const struct tk_yaml_node *tk_yaml_root(const struct tk_yaml_doc *doc);

/* The name given at load time. Borrowed from doc. */
const char *tk_yaml_name(const struct tk_yaml_doc *doc);

/* Frees the document and every node. NULL-safe. */
void tk_yaml_free(struct tk_yaml_doc *doc);

/* The value of key in map, or NULL when map is NULL, not a MAP, or lacks key. Borrowed. */
const struct tk_yaml_node *tk_yaml_get(const struct tk_yaml_node *map, const char *key);

/* "a map", "a list", "a string", "null": for messages. */
const char *tk_yaml_kind_name(enum tk_yaml_kind kind);

/* Sets err to TK_EINVAL with "name:line:col: " + the formatted message (at NULL: "name: ").
 * Returns TK_EINVAL. Never pass secrets in fmt's arguments. */
int tk_yaml_err(struct tk_err *err, const struct tk_yaml_doc *doc, const struct tk_yaml_node *at,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Fails with TK_EINVAL "name:line:col: unknown key 'nodez' (did you mean 'nodes'?)" for the first
 * key of map that is not in allowed (a NULL-terminated list). The hint names the closest allowed
 * key within edit distance 2; without one the message lists the allowed keys. A NULL or non-MAP
 * map passes. Returns 0 or TK_EINVAL. */
int tk_yaml_check_keys(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map,
                       const char *const *allowed, struct tk_err *err);

/* Fails with TK_EINVAL "name:line:col: field 'what' must be a map, got a list" unless node has
 * kind (a NULL node passes when kind is not SCALAR: an empty `items:` is an empty list/map;
 * callers iterate n == 0). what may be NULL ("expected a map, got ..."). */
int tk_yaml_expect(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                   enum tk_yaml_kind kind, const char *what, struct tk_err *err);

/* Conversions of one node. what names the field in messages (may be NULL). All fail with
 * TK_EINVAL "name:line:col: field 'what' must be <type>, got ..." and leave *out untouched.
 *  str:    any SCALAR without NUL bytes (a plain 123 is the string "123"); *out borrows from doc.
 *  int64:  plain decimal (leading zeros stay decimal), 0x hex or 0o octal, optional sign and
 *          '_' separators, within int64_t.
 *  double: plain decimal/exponent, .inf, -.inf, .nan; finite values must not overflow.
 *  bool:   plain true/false, yes/no, on/off, y/n in YAML 1.1 casings (True, TRUE, ...).
 * Numbers and bools must be plain: a quoted "5" is a string and is refused. */
int tk_yaml_to_str(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node, const char *what,
                   const char **out, struct tk_err *err);
int tk_yaml_to_int64(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                     const char *what, int64_t *out, struct tk_err *err);
int tk_yaml_to_double(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                      const char *what, double *out, struct tk_err *err);
int tk_yaml_to_bool(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                    const char *what, int *out, struct tk_err *err);

/* Looks key up in map and converts its value as above, naming key in messages. An absent key or
 * a null value leaves *out untouched (so defaults set beforehand stay) and returns 0. */
int tk_yaml_get_str(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map, const char *key,
                    const char **out, struct tk_err *err);
int tk_yaml_get_int64(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map,
                      const char *key, int64_t *out, struct tk_err *err);
int tk_yaml_get_double(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map,
                       const char *key, double *out, struct tk_err *err);
int tk_yaml_get_bool(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map, const char *key,
                     int *out, struct tk_err *err);

#endif
