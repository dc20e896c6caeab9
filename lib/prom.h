#ifndef TK_PROM_H
#define TK_PROM_H

/* Prometheus text exposition format 0.0.4: a streaming parser for scrapes (apiserver, etcd,
 * scheduler, agents), a histogram collector with per-scrape deltas and histogram_quantile
 * computed exactly as Prometheus computes it, and a writer for the agent's own /metrics. */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct tk_err;

/* ---- parsing ------------------------------------------------------------------------- */

enum tk_prom_type {
    TK_PROM_UNTYPED = 0,
    TK_PROM_COUNTER,
    TK_PROM_GAUGE,
    TK_PROM_HISTOGRAM,
    TK_PROM_SUMMARY,
};

/* "counter", "gauge", "histogram", "summary", "untyped". */
const char *tk_prom_type_name(enum tk_prom_type t);

struct tk_prom_label {
    const char *name;
    const char *value; /* unescaped */
};

/* One sample line. Every pointer borrows parser scratch that is reused for the next line:
 * copy what you keep. Strings are NUL-terminated (a value containing a NUL byte cannot occur:
 * NUL is rejected in the input). */
struct tk_prom_sample {
    const char *name;                   /* "apiserver_request_duration_seconds_bucket" */
    const struct tk_prom_label *labels; /* in the order written, "le" included */
    size_t nlabels;
    double value;
    int has_timestamp;
    int64_t timestamp_ms;
    /* From the most recent "# TYPE" line when this sample belongs to it (the family itself,
     * or its _bucket/_sum/_count for a histogram, _sum/_count for a summary); otherwise
     * untyped, with family == name. */
    enum tk_prom_type type;
    const char *family;
    size_t line; /* 1-based line number in the input */
};

/* Called once per sample. Return 0 to go on; anything else stops the parse, and the parser
 * returns that value (setting err to "line N: stopped by callback" unless the callback
 * already set the error it shares through ud). */
typedef int (*tk_prom_sample_fn)(void *ud, const struct tk_prom_sample *s);

/* Longest line the incremental parser buffers across feeds. */
#define TK_PROM_MAX_LINE (1u << 20)

/* Incremental parser: feed the body as it arrives (any split, even one byte at a time),
 * then finish. Complete lines are parsed in place from the fed chunk; only a line cut by
 * the end of a chunk is copied. Scratch memory is reused per line: no allocation per
 * sample once warm. */
struct tk_prom_parser {
    tk_prom_sample_fn cb;
    void *ud;
    size_t line;           /* lines completed so far */
    int failed;            /* sticky: first error code */
    struct tk_buf partial; /* an unfinished line carried between feeds */
    char *scratch;         /* unescaped name and label strings of the current line */
    size_t scratch_alloc;
    struct tk_prom_label *labels;
    size_t labels_alloc;
    char *family; /* name from the last # TYPE line (NULL before any) */
    size_t family_len, family_alloc;
    enum tk_prom_type family_type;
};

/* Prepares p; cb is called for each sample with ud. Release with tk_prom_parser_release. */
void tk_prom_parser_init(struct tk_prom_parser *p, tk_prom_sample_fn cb, void *ud);
void tk_prom_parser_release(struct tk_prom_parser *p);

/* Parses what of data[0..len) completes lines, keeps the rest for the next feed. data need
 * not be NUL-terminated and is never read past len. Returns 0, or an error code with err set
 * to "line N: ..." (TK_EINVAL for malformed input, TK_ENOMEM when one line exceeds
 * TK_PROM_MAX_LINE, or the callback's code). After an error every further feed or finish
 * returns the same code without parsing. */
int tk_prom_parser_feed(struct tk_prom_parser *p, const char *data, size_t len, struct tk_err *err);

/* Parses the last line when the input did not end with a newline. Returns as feed. */
int tk_prom_parser_finish(struct tk_prom_parser *p, struct tk_err *err);

/* Parses a whole body text[0..len) (need not be NUL-terminated; never read past len), with
 * the same results as init + feed + finish + release but parsing every line in place. Returns 0 or
 * an error code with err set, see feed. Samples before the bad line have been delivered. */
int tk_prom_parse(const char *text, size_t len, tk_prom_sample_fn cb, void *ud, struct tk_err *err);

/* Parses a sample value as the format allows ("1", "-2.5e-3", "NaN", "+Inf", "-Inf", "Inf").
 * s[0..len) need not be NUL-terminated. Returns 0, or -1 when it is not a number. */
int tk_prom_parse_value(const char *s, size_t len, double *out);

/* ---- histograms from scrapes ----------------------------------------------------------- */

/* One series of a classic histogram: the buckets of one label set. */
struct tk_prom_hist {
    char *labels_key; /* canonical labels minus le, sorted by name: a="1",b="x\"y" ("" if none);
                         values escaped as in the exposition format */
    size_t n;         /* buckets */
    double *le;       /* upper bounds, ascending (as parsed; duplicates kept) */
    double *count;    /* cumulative counts, parallel to le */
    double sum;       /* <name>_sum, 0 if absent */
    double total;     /* <name>_count, 0 if absent */
    size_t alloc;
};

/* Releases what h owns and zeroes it (for outputs of tk_prom_hist_delta / _copy). */
void tk_prom_hist_release(struct tk_prom_hist *h);

/* Deep copy of src into *dst (dst is overwritten, not released first). */
void tk_prom_hist_copy(struct tk_prom_hist *dst, const struct tk_prom_hist *src);

/* The histograms of one metric family, keyed by labels_key. */
struct tk_prom_hists {
    char *name;                 /* family name, without _bucket */
    struct tk_prom_hist *items; /* items[0..n), in order of first appearance */
    size_t n, alloc;
    size_t *index; /* open-addressing hash of items by labels_key, (i + 1) or 0 */
    size_t index_alloc;
    struct tk_buf key; /* scratch for building keys */
};

/* Prepares hs to collect the histogram family metric_name (copied). */
void tk_prom_hists_init(struct tk_prom_hists *hs, const char *metric_name);
void tk_prom_hists_release(struct tk_prom_hists *hs);

/* Takes s into hs when it is <name>_bucket (with an le label that parses as a value; others
 * are ignored, as Prometheus ignores them), <name>_sum or <name>_count. Returns 1 when
 * taken, 0 when s is not part of this family. Usable from your own parse callback to collect
 * several families from one pass. */
int tk_prom_hists_add(struct tk_prom_hists *hs, const struct tk_prom_sample *s);

/* Sorts every histogram's buckets by le (stable). tk_prom_hists_from_text does this; call it
 * yourself after feeding tk_prom_hists_add. */
void tk_prom_hists_finish(struct tk_prom_hists *hs);

/* Parses text[0..len) and collects metric_name's histograms into *out (initialized here;
 * caller releases it, also on error). Returns 0 or the parse error with err set. */
int tk_prom_hists_from_text(const char *text, size_t len, const char *metric_name,
                            struct tk_prom_hists *out, struct tk_err *err);

/* The histogram with this labels_key, or NULL. Borrowed from hs. */
const struct tk_prom_hist *tk_prom_hists_find(const struct tk_prom_hists *hs,
                                              const char *labels_key);

/* Iteration: for (size_t i = 0; i < tk_prom_hists_count(hs); i++) tk_prom_hists_at(hs, i). */
size_t tk_prom_hists_count(const struct tk_prom_hists *hs);
const struct tk_prom_hist *tk_prom_hists_at(const struct tk_prom_hists *hs, size_t i);

/* Builds the canonical labels_key of labels minus "le" into b (reset first). */
void tk_prom_labels_key(const struct tk_prom_label *labels, size_t n, struct tk_buf *b);

/* The increase from before to after, into *out (overwritten; caller releases it). out has
 * after's buckets; each count is after minus before's bucket with the same le (0 when before
 * lacks it; buckets only in before are dropped); sum and total likewise. If any bucket count
 * or the total decreased, the counters were reset between the scrapes (a restart): out is
 * after as it is. before may be NULL (everything is new). Returns 1 on a reset, else 0. */
int tk_prom_hist_delta(const struct tk_prom_hist *before, const struct tk_prom_hist *after,
                       struct tk_prom_hist *out);

/* histogram_quantile(q, ...) over cumulative buckets (le[i], cumcount[i]), i < n, exactly as
 * Prometheus' promql/quantile.go bucketQuantile: q NaN -> NaN, q < 0 -> -Inf, q > 1 -> +Inf;
 * buckets sorted by le; the highest le must be +Inf, else NaN; buckets with equal le merged
 * (counts added, as coalesceBuckets does); counts within 1e-12 relative of the previous one
 * snapped to it (correctPrecisionErrors); counts forced monotonic (ensureMonotonic); fewer than
 * 2 buckets or a total of 0 -> NaN; rank = q * total; b = first bucket with count >= rank
 * (Go's sort.Search); b the +Inf bucket -> the le before it; b == 0 with le <= 0 -> le[0];
 * else linear interpolation inside bucket b, from 0 for the first bucket.
 * The inputs may be in any order and are not modified (a copy is sorted). */
double tk_prom_histogram_quantile(double q, const double *le, const double *cumcount, size_t n);

/* tk_prom_histogram_quantile over h's buckets. */
double tk_prom_hist_quantile(double q, const struct tk_prom_hist *h);

/* ---- writing the agent's /metrics -------------------------------------------------------- */

struct tk_prom_writer {
    struct tk_buf *buf; /* borrowed */
    int failed;         /* sticky: the buffer's cap was reached */
};

/* Writes into buf (borrowed, appended to). */
void tk_prom_writer_init(struct tk_prom_writer *w, struct tk_buf *buf);

/* "# HELP name help" (help escaped: \\ and \n) and "# TYPE name type". Write it once per
 * family, before its samples. Names must be valid metric names (they come from our code).
 * Every writer function returns 0, or -1 once the buffer's cap has been hit (w->failed). */
int tk_prom_write_family(struct tk_prom_writer *w, const char *name, const char *help,
                         enum tk_prom_type type);

/* "name{l1="v1",...} value": label values escaped (\\, \", \n), value in the shortest form
 * that reads back as the same double (NaN, +Inf, -Inf spelled as the format wants). */
int tk_prom_write_sample(struct tk_prom_writer *w, const char *name,
                         const struct tk_prom_label *labels, size_t nlabels, double value);

/* A counter or gauge series with an integer value (exact beyond 2^53). */
int tk_prom_write_sample_u64(struct tk_prom_writer *w, const char *name,
                             const struct tk_prom_label *labels, size_t nlabels, uint64_t value);

/* A fixed-bucket histogram. The caller owns bounds (ascending, finite, without +Inf) and
 * counts, which has nbounds + 1 slots (the last is the +Inf bucket); counts are per bucket,
 * not cumulative. */
struct tk_prom_histogram {
    const double *bounds;
    size_t nbounds;
    uint64_t *counts;
    double sum;
    uint64_t count;
};

/* Sets h over bounds[0..nbounds) and counts[0..nbounds] (zeroed here); both borrowed. */
void tk_prom_histogram_init(struct tk_prom_histogram *h, const double *bounds, size_t nbounds,
                            uint64_t *counts);

/* Records v in the first bucket whose bound is >= v (le semantics; NaN goes to +Inf, as the
 * Go client does). O(log nbounds), no allocation. */
void tk_prom_histogram_observe(struct tk_prom_histogram *h, double v);

/* Writes h as one series: cumulative name_bucket{labels...,le="b"} lines for every bound and
 * +Inf, then name_sum and name_count. With help non-NULL the HELP/TYPE header comes first
 * (pass NULL for the second and later label sets of a family). */
int tk_prom_write_histogram(struct tk_prom_writer *w, const char *name, const char *help,
                            const struct tk_prom_label *labels, size_t nlabels,
                            const struct tk_prom_histogram *h);

/* Formats v as the writer does: the shortest %g form that reads back as the same double
 * ("0.005", "1000000", "0.1"), or "+Inf", "-Inf", "NaN". Writes at most n bytes including the
 * NUL; TK_PROM_VALUE_MAX always suffices. Returns the length of the full form. */
size_t tk_prom_format_value(double v, char *out, size_t n);

#define TK_PROM_VALUE_MAX 32

#endif
