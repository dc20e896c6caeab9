#ifndef TK_WATCH_H
#define TK_WATCH_H

/* The Kubernetes watch-stream parser: pure, no I/O.
 *
 * A watch response body (Accept: application/json) is a sequence of JSON objects
 *   {"type":"ADDED","object":{...}}\n{"type":"MODIFIED","object":{...}}\n...
 * The parser takes the body in arbitrary chunks (a boundary may fall anywhere: inside a
 * string, an escape or a UTF-8 sequence) and calls back once per complete event. Objects
 * are framed by tracking brace depth and string state, so newlines, "\r\n" or any JSON
 * whitespace between objects are accepted, and no byte is scanned twice. An event that arrives
 * whole in one chunk is parsed in place; only events split across chunks are copied.
 *
 * Every event is capped at max_bytes: a larger one is an error (TK_ENOMEM), never growth.
 * After any error the parser refuses further input until tk_watch_parser_reset(). */

#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"

enum tk_watch_type {
    TK_WATCH_ADDED,
    TK_WATCH_MODIFIED,
    TK_WATCH_DELETED,
    TK_WATCH_BOOKMARK,
    TK_WATCH_ERROR, /* object is a meta/v1 Status; see tk_watch_status_code() */
};

/* Returned by a tk_watch_parser_fn to stop the feed; tk_watch_parser_feed() then returns it. */
#define TK_WATCH_STOP (-1)

/* Called once per complete event. object is borrowed: valid only during the call (the parser
 * frees the event after the callback returns). Return 0 to go on, TK_WATCH_STOP to stop. */
typedef int (*tk_watch_parser_fn)(enum tk_watch_type type, cJSON *object, void *ud);

struct tk_watch_parser {
    struct tk_buf buf; /* bytes of the event being framed */
    size_t max_bytes;
    int depth;     /* brace/bracket nesting of the event being framed; 0 between events */
    int in_string; /* inside a JSON string */
    int escape;    /* the previous byte was a backslash inside a string */
    int failed;    /* error code of the last failure; feed refuses until reset */
    size_t offset; /* bytes fed since init/reset, for error messages */
};

/* Initialises an embedded parser whose events may be at most max_bytes long (0: 16 MiB).
 * Allocates nothing until fed. */
void tk_watch_parser_init(struct tk_watch_parser *p, size_t max_bytes);

/* Frees the parser's buffer. The parser may be initialised again afterwards. */
void tk_watch_parser_release(struct tk_watch_parser *p);

/* Forgets any partial event and any failure, keeping max_bytes (and the buffer's memory when it
 * is small), ready for a new stream. */
void tk_watch_parser_reset(struct tk_watch_parser *p);

/* Feeds len bytes of the stream, calling cb for each event completed by them (in order).
 * Returns 0 when all bytes were consumed; TK_WATCH_STOP when cb asked to stop (the rest of
 * data is not consumed, err untouched; reset before feeding a different stream);
 * TK_ENOMEM when an event exceeds max_bytes; TK_EINVAL for malformed input (bytes between
 * events that do not start an object, invalid JSON, no "type" string, an unknown type, no
 * "object" object); TK_ESTATE when a previous error has not been reset. Messages give byte
 * offsets and sizes, never stream content (a watch on Secrets carries secrets). */
int tk_watch_parser_feed(struct tk_watch_parser *p, const char *data, size_t len,
                         tk_watch_parser_fn cb, void *ud, struct tk_err *err);

/* Bytes of an incomplete event held (0 between events): non-zero at the end of a stream means
 * the last event was truncated. */
size_t tk_watch_parser_pending(const struct tk_watch_parser *p);

/* Maps "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" to the enum. Returns 0, or -1 for
 * anything else (*out untouched). */
int tk_watch_type_parse(const char *s, enum tk_watch_type *out);

/* The upper-case wire name of a type ("ADDED", ...); "UNKNOWN" for out-of-range values. */
const char *tk_watch_type_name(enum tk_watch_type type);

/* The "code" of a Status object (410 for "too old resource version"), or 0 when there is none.
 * Borrows status. */
int tk_watch_status_code(const cJSON *status);

/* metadata.resourceVersion of an object (or of a List), or NULL when absent or not a string.
 * The string is borrowed from object. */
const char *tk_watch_resource_version(const cJSON *object);

#endif
