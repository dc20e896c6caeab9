#ifndef TK_CALC_H
#define TK_CALC_H

/* The control-plane sizing calculator: from measured cells to "how big must the control plane
 * be for N nodes, M pods and churn R", with how sure it is.
 *
 * Data. Finished cells (complete or failed; pending, running and aborted ones are no
 * measurement) are pooled into points: one per (topology, size, nodes, pods, churn), all repeats
 * and equal configurations together, summarised by median and spread (tk_res_group). A size is
 * a topology plus its hosts' cores and memory; sizes are ordered smallest first by total cores,
 * then total memory, then topology and size text.
 *
 * Prediction of figure f for load L = (N, M, R) at size S, from S's points that have f:
 *   U = points with nodes >= N, pods >= M and churn >= R (loads at least L), D = at most L.
 *   measured      a point has exactly L: its median.
 *   interpolated  U and D both non-empty: with hi = min over U and lo = max over D (lo capped
 *                 at hi), and d, u the points of D and U nearest L, the value is
 *                 lo + t (hi - lo), t = dist(d, L) / (dist(d, L) + dist(u, L)), where
 *                 dist(p, L) = sum over nodes, pods, churn of |p - L| / max(L, 1). Any
 *                 monotone (non-decreasing in load) figure through the points lies in [lo, hi].
 *   extrapolated  U empty (beyond the measured loads): a cost model
 *                 f = b0 + b1 nodes + b2 pods + b3 churn fitted to all of S's points by least
 *                 squares with b1..b3 >= 0 (the best of the fits over each subset of the
 *                 regressors that vary, collinear subsets skipped; ties go to fewer terms),
 *                 never below lo. Its error is the root mean square of the relative residuals
 *                 over the fitted points (unknown when the fit has as many terms as points).
 *                 None when fewer than 2 points, or when L lies beyond the points in a
 *                 dimension they never vary (churn asked, none measured). Below the smallest
 *                 measured load (D empty) the same model, capped at hi.
 *   bounded       D empty and no model: hi.
 * S meets load L when every point of D met every SLO (a failure at a smaller load is a failure
 * here) and each latency prediction is within (1 - headroom) x its SLO and the memory
 * utilisation prediction within 1 - headroom (figures S has no data for are not judged).
 * The recommendation is the first size, in order, that meets L. calculator.html carries the
 * same rule in JavaScript (tk_calc_page_js); the browser test checks both agree. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "results.h"

enum tk_calc_kind {
    TK_CALC_MEASURED = 0,
    TK_CALC_BOUNDED,
    TK_CALC_INTERPOLATED,
    TK_CALC_EXTRAPOLATED,
    TK_CALC_NONE, /* no prediction (no data, or too few points to fit) */
};

/* "measured", "bounded", "interpolated", "extrapolated", "none". */
const char *tk_calc_kind_name(enum tk_calc_kind k);

struct tk_calc_point {
    size_t size;               /* index into tk_calc_data.sizes */
    double nodes, pods, churn; /* the load */
    struct tk_res_group g;     /* its cells, medians, spreads and verdict */
};

struct tk_calc_size {
    char topology[64];
    char size[96];
    int64_t cpu_milli, memory_bytes;
    size_t *points; /* indexes into tk_calc_data.points, by load */
    size_t npoints;
};

struct tk_calc_data {
    const struct tk_res_set *set; /* borrowed */
    double headroom;
    struct tk_calc_point *points;
    size_t npoints;
    struct tk_calc_size *sizes; /* smallest first */
    size_t nsizes;
    double slo_s[TK_FIG_NLATENCY]; /* the strictest SLO of any point, per latency figure */
};

/* Builds the calculator's data from s (borrowed; must outlive d) into *d (release with
 * tk_calc_data_release). headroom is a fraction (0.2 = 20 %). */
void tk_calc_data_build(const struct tk_res_set *s, double headroom, struct tk_calc_data *d);
void tk_calc_data_release(struct tk_calc_data *d);

/* The index of the size with this topology and size text, or -1. */
int tk_calc_find_size(const struct tk_calc_data *d, const char *topology, const char *size);

struct tk_calc_load {
    double nodes, pods, churn;
};

struct tk_calc_fit {
    int ok;         /* a model was fitted */
    unsigned terms; /* bit 0 nodes, bit 1 pods, bit 2 churn */
    double coef[4]; /* intercept, nodes, pods, churn (0 for unused terms) */
    double rel_rms; /* root mean square of (y - fit) / y over the points; NaN when there
                       are no more points than terms (an exact fit says nothing) */
    size_t n;       /* points fitted */
};

/* Fits the cost model for figure f over the points pts[0..n) (indexes into d->points). */
void tk_calc_fit(const struct tk_calc_data *d, const size_t *pts, size_t n, enum tk_res_fig f,
                 struct tk_calc_fit *out);

struct tk_calc_pred {
    size_t size;
    enum tk_calc_kind kind[TK_FIG_N];
    double value[TK_FIG_N];
    double spread[TK_FIG_N];    /* measured: the point's; interpolated: the larger of d's and u's */
    double fit_error[TK_FIG_N]; /* extrapolated: the fit's relative RMS error, else NaN */
    size_t fit_points[TK_FIG_N];
    int fixed_dim[TK_FIG_N]; /* kind none: the load dimension (0 nodes, 1 pods, 2 churn) that
                                was never varied and lies beyond the measurements, or -1 */
    unsigned unmodelled;     /* dimensions beyond the measured range that the fitted models
                                carry only through others (collinear in the data) */
    size_t lo[TK_FIG_N], hi[TK_FIG_N]; /* the nearest D and U points (SIZE_MAX when none) */
    enum tk_calc_kind overall;         /* the least certain kind among the judged figures */
    int ok;                            /* the size meets the load */
    char why[320];                     /* when not: the first reason */
};

/* Predicts every figure at load l for size (an index into d->sizes), leaving out point
 * exclude (SIZE_MAX: none) as leave-one-out does, and judges the size. */
void tk_calc_predict(const struct tk_calc_data *d, size_t size, const struct tk_calc_load *l,
                     size_t exclude, struct tk_calc_pred *out);

struct tk_calc_rec {
    int found;                  /* a size meets the load */
    size_t chosen;              /* index into preds when found */
    struct tk_calc_pred *preds; /* one per size considered, in order, up to the chosen one */
    size_t npreds;
};

/* The recommendation for load l among the sizes of topology (NULL or "": any). *out is
 * released with tk_calc_rec_release. Returns 0, or TK_ENOTFOUND when no measured size has
 * that topology (err names the ones there are). */
int tk_calc_recommend(const struct tk_calc_data *d, const struct tk_calc_load *l,
                      const char *topology, struct tk_calc_rec *out, struct tk_err *err);
void tk_calc_rec_release(struct tk_calc_rec *r);

/* Leave-one-out accuracy: every point is predicted from the other points of its size, for
 * the figures below, and compared with its measured median. */
#define TK_CALC_LOO_NFIGS 3
extern const enum tk_res_fig tk_calc_loo_figs[TK_CALC_LOO_NFIGS]; /* mutating p99, pod startup
                                                                     p99, peak memory */
struct tk_calc_loo {
    size_t n[TK_CALC_LOO_NFIGS]; /* points predicted */
    size_t n_extrapolated[TK_CALC_LOO_NFIGS];
    double median_error[TK_CALC_LOO_NFIGS]; /* |predicted - measured| / measured; NaN if n = 0 */
    double max_error[TK_CALC_LOO_NFIGS];
};
void tk_calc_loo(const struct tk_calc_data *d, struct tk_calc_loo *out);

/* "leave-one-out over N points: mutating p99 median error 4.1 % (max 12 %), ..." into out. */
void tk_calc_loo_format(const struct tk_calc_loo *l, char *out, size_t n);

/* ---- output ------------------------------------------------------------------------------ */

/* The recommendation as text for people (fits 80 columns) or JSON (one object). */
void tk_calc_print_text(FILE *f, const struct tk_calc_data *d, const struct tk_calc_load *l,
                        const char *topology, const struct tk_calc_rec *r);
void tk_calc_print_json(FILE *f, const struct tk_calc_data *d, const struct tk_calc_load *l,
                        const char *topology, const struct tk_calc_rec *r);

enum tk_calc_table_fmt { TK_CALC_MD = 0, TK_CALC_CSV, TK_CALC_HTML };

struct tk_calc_provenance {
    const char *db;       /* the database path */
    const char *command;  /* the command that regenerates the output */
    int64_t generated_ms; /* wall clock */
};

/* The published table: one row per cluster class (classes[0..n)), one column per topology,
 * each cell the recommended size and how it was found; then the provenance (database,
 * experiments, cells, hardware, versions, command, time, headroom, SLOs) and the leave-one-out
 * accuracy. */
void tk_calc_print_table(FILE *f, const struct tk_calc_data *d, enum tk_calc_table_fmt fmt,
                         const struct tk_calc_load *classes, size_t n,
                         const struct tk_calc_provenance *prov);

/* The default cluster classes of the table (nodes, pods, churn), *n of them. */
const struct tk_calc_load *tk_calc_default_classes(size_t *n);

/* The calculator page: one self-contained HTML file with the data embedded as JSON and a
 * small script implementing the rule above; it reads ?nodes=&pods=&churn=&topology= on load. */
void tk_calc_print_page(FILE *f, const struct tk_calc_data *d,
                        const struct tk_calc_provenance *prov);

/* The data the page embeds, as a JSON text (caller frees). */
char *tk_calc_data_json(const struct tk_calc_data *d, const struct tk_calc_provenance *prov);

/* The page's script (static text). */
const char *tk_calc_page_js(void);

#endif
