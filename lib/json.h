#ifndef TK_JSON_H
#define TK_JSON_H

/* Small helpers over cJSON: parsing with a length and an error that says where, dotted-path
 * lookups for the few fields we read out of API objects, and printing.
 *
 * Paths are "a.b.c"; a segment that is all digits indexes an array ("items.0.metadata.name").
 * Keys that themselves contain '.' (annotations such as "kubernetes.io/x.y") cannot be
 * addressed by path: use cJSON_GetObjectItemCaseSensitive for those. Lookups are
 * case-sensitive, as Kubernetes field names are. */

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Parses len bytes of text (need not be NUL-terminated) as exactly one JSON value, optionally
 * surrounded by whitespace. what names the input in messages ("ExecCredential from 'x'").
 * On success *out is the tree (caller frees with cJSON_Delete). Errors: TK_EINVAL
 * "what: invalid JSON at byte N" or "what: trailing data at byte N" (the text itself is never
 * quoted: it may hold secrets); *out is then NULL. */
int tk_json_parse(cJSON **out, const char *text, size_t len, const char *what, struct tk_err *err);

/* The node at path under obj (path "" is obj itself), or NULL when obj is NULL or any segment
 * is missing. Borrowed from obj. */
const cJSON *tk_json_get(const cJSON *obj, const char *path);

/* The string at path, or NULL when missing or not a string. Borrowed from obj. */
const char *tk_json_get_str(const cJSON *obj, const char *path);

/* Stores the number at path in *out and returns 0; returns -1 (leaving *out) when missing or
 * not a number. */
int tk_json_get_num(const cJSON *obj, const char *path, double *out);

/* As tk_json_get_num for integers: -1 also when the number has a fraction or is beyond
 * +-2^53 (where a double no longer holds every integer). */
int tk_json_get_int64(const cJSON *obj, const char *path, int64_t *out);

/* Stores true/false at path in *out (1/0) and returns 0; -1 when missing or not a bool. */
int tk_json_get_bool(const cJSON *obj, const char *path, int *out);

/* The object (tk_json_get_arr: the array) at path, or NULL when missing or of another type.
 * Borrowed from obj. */
const cJSON *tk_json_get_obj(const cJSON *obj, const char *path);
const cJSON *tk_json_get_arr(const cJSON *obj, const char *path);

/* obj as compact JSON; caller frees with free(). Aborts on out-of-memory, never NULL. */
char *tk_json_print(const cJSON *obj);

/* ---- scratch trees ----
 * A watch event is parsed, read for a few fields and dropped: cJSON's one malloc per value
 * and string (and as many frees) was most of that work. Scratch trees come from a bump arena
 * of the calling thread instead, and are dropped all at once.
 *
 * tk_json_scratch_parse parses len bytes as cJSON_ParseWithLengthOpts does (*end set as it
 * sets it; NULL on bad JSON, with cJSON_GetErrorPtr). The tree is valid until the matching
 * tk_json_scratch_done; it must not be cJSON_Delete'd, nor any part of it kept, moved into
 * another tree or freed. Parses may nest (a callback of one may parse another); the arena is
 * reset when the outermost is done, and then shrinks back to one chunk when an event grew it.
 * cJSON allocations outside a scratch parse go to malloc as before (the hooks cJSON is given
 * forward to malloc and free, and free ignores memory of the arena). */
cJSON *tk_json_scratch_parse(const char *text, size_t len, const char **end);
void tk_json_scratch_done(void);

/* Bytes the calling thread's arena holds now (tests). */
size_t tk_json_scratch_bytes(void);

#endif
