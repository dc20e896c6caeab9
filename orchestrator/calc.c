#include "calc.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "json.h"

static const char *const kind_names[] = {"measured", "bounded", "interpolated", "extrapolated",
                                         "none"};

const char *tk_calc_kind_name(enum tk_calc_kind k)
{
    return (unsigned)k <= TK_CALC_NONE ? kind_names[k] : "?";
}

const enum tk_res_fig tk_calc_loo_figs[TK_CALC_LOO_NFIGS] = {
    TK_FIG_MUTATING_P99, TK_FIG_POD_STARTUP_P99, TK_FIG_PEAK_MEMORY};

/* Figures a size is judged by: the four latencies against their SLOs, memory against the
 * host. Peak memory in bytes and CPU are reported, not judged (memory is judged as a share). */
static int judged(int f)
{
    return f < TK_FIG_NLATENCY || f == TK_FIG_MEMORY_UTIL;
}

/* ---- data ------------------------------------------------------------------------------- */

static int size_cmp(const void *a, const void *b)
{
    const struct tk_calc_size *x = a, *y = b;
    int c;
    if (x->cpu_milli != y->cpu_milli)
        return x->cpu_milli < y->cpu_milli ? -1 : 1;
    if (x->memory_bytes != y->memory_bytes)
        return x->memory_bytes < y->memory_bytes ? -1 : 1;
    c = strcmp(x->topology, y->topology);
    return c ? c : strcmp(x->size, y->size);
}

static int point_cmp(const void *a, const void *b, void *ud)
{
    const struct tk_calc_data *d = ud;
    const struct tk_calc_point *x = &d->points[*(const size_t *)a];
    const struct tk_calc_point *y = &d->points[*(const size_t *)b];
    if (x->nodes != y->nodes)
        return x->nodes < y->nodes ? -1 : 1;
    if (x->pods != y->pods)
        return x->pods < y->pods ? -1 : 1;
    if (x->churn != y->churn)
        return x->churn < y->churn ? -1 : 1;
    return 0;
}

void tk_calc_data_build(const struct tk_res_set *s, double headroom, struct tk_calc_data *d)
{
    size_t *cell_point = tk_xcalloc(s->n ? s->n : 1, sizeof(size_t));

    memset(d, 0, sizeof(*d));
    d->set = s;
    d->headroom = headroom;
    for (int f = 0; f < TK_FIG_NLATENCY; f++)
        d->slo_s[f] = NAN;
    d->points = tk_xcalloc(s->n ? s->n : 1, sizeof(*d->points));
    d->sizes = tk_xcalloc(s->n ? s->n : 1, sizeof(*d->sizes));

    for (size_t i = 0; i < s->n; i++) {
        const struct tk_res_cell *c = &s->cells[i];
        struct tk_calc_point *p;
        size_t z, k;
        cell_point[i] = SIZE_MAX;
        if (c->status != TK_CELL_COMPLETE && c->status != TK_CELL_FAILED)
            continue;
        if (c->cpu_milli <= 0)
            continue; /* no size (provider kubeconfig): a cluster TurboKube did not size */
        for (int f = 0; f < TK_FIG_NLATENCY; f++)
            if (isnan(d->slo_s[f]) || c->slo_s[f] < d->slo_s[f])
                d->slo_s[f] = c->slo_s[f];
        for (z = 0; z < d->nsizes; z++)
            if (!strcmp(d->sizes[z].topology, c->topology) && !strcmp(d->sizes[z].size, c->size))
                break;
        if (z == d->nsizes) {
            struct tk_calc_size *sz = &d->sizes[d->nsizes++];
            snprintf(sz->topology, sizeof(sz->topology), "%s", c->topology);
            snprintf(sz->size, sizeof(sz->size), "%s", c->size);
            sz->cpu_milli = c->cpu_milli;
            sz->memory_bytes = c->memory_bytes;
        }
        for (k = 0; k < d->npoints; k++) {
            p = &d->points[k];
            if (p->size == z && p->nodes == (double)c->nodes && p->pods == (double)c->pods &&
                p->churn == c->churn_per_s)
                break;
        }
        if (k == d->npoints) {
            p = &d->points[d->npoints++];
            p->size = z;
            p->nodes = (double)c->nodes;
            p->pods = (double)c->pods;
            p->churn = c->churn_per_s;
            p->g.members = tk_xcalloc(s->n, sizeof(size_t));
        }
        p = &d->points[k];
        p->g.members[p->g.n++] = i;
        cell_point[i] = k;
    }
    for (size_t k = 0; k < d->npoints; k++)
        tk_res_group_stats(s, &d->points[k].g, headroom);

    /* sizes smallest first, then each size's points by load */
    {
        struct tk_calc_size *unsorted = tk_xcalloc(d->nsizes ? d->nsizes : 1, sizeof(*unsorted));
        memcpy(unsorted, d->sizes, d->nsizes * sizeof(*unsorted));
        qsort(d->sizes, d->nsizes, sizeof(*d->sizes), size_cmp);
        for (size_t k = 0; k < d->npoints; k++) {
            const struct tk_calc_size *old = &unsorted[d->points[k].size];
            for (size_t z = 0; z < d->nsizes; z++)
                if (!strcmp(d->sizes[z].topology, old->topology) &&
                    !strcmp(d->sizes[z].size, old->size))
                    d->points[k].size = z;
        }
        free(unsorted);
    }
    for (size_t z = 0; z < d->nsizes; z++) {
        struct tk_calc_size *sz = &d->sizes[z];
        sz->points = tk_xcalloc(d->npoints ? d->npoints : 1, sizeof(size_t));
        for (size_t k = 0; k < d->npoints; k++)
            if (d->points[k].size == z)
                sz->points[sz->npoints++] = k;
        qsort_r(sz->points, sz->npoints, sizeof(size_t), point_cmp, d);
    }
    free(cell_point);
}

void tk_calc_data_release(struct tk_calc_data *d)
{
    for (size_t k = 0; k < d->npoints; k++)
        free(d->points[k].g.members);
    for (size_t z = 0; z < d->nsizes; z++)
        free(d->sizes[z].points);
    free(d->points);
    free(d->sizes);
    memset(d, 0, sizeof(*d));
}

int tk_calc_find_size(const struct tk_calc_data *d, const char *topology, const char *size)
{
    for (size_t z = 0; z < d->nsizes; z++)
        if (!strcmp(d->sizes[z].topology, topology) && !strcmp(d->sizes[z].size, size))
            return (int)z;
    return -1;
}

/* ---- the cost model --------------------------------------------------------------------- */

static double load_dim(const struct tk_calc_point *p, int k)
{
    return k == 0 ? p->nodes : k == 1 ? p->pods : p->churn;
}

static double lload_dim(const struct tk_calc_load *l, int k)
{
    return k == 0 ? l->nodes : k == 1 ? l->pods : l->churn;
}

/* Solves a x = b for m unknowns (m <= 4) by Gaussian elimination with partial pivoting.
 * Returns -1 when a is singular relative to its own scale (collinear regressors). */
static int solve(double a[4][4], double b[4], int m, double x[4])
{
    double scale = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            if (fabs(a[i][j]) > scale)
                scale = fabs(a[i][j]);
    for (int c = 0; c < m; c++) {
        int piv = c;
        for (int r = c + 1; r < m; r++)
            if (fabs(a[r][c]) > fabs(a[piv][c]))
                piv = r;
        if (!(fabs(a[piv][c]) > 1e-9 * scale))
            return -1;
        if (piv != c) {
            for (int j = 0; j < m; j++) {
                double t = a[c][j];
                a[c][j] = a[piv][j];
                a[piv][j] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (int r = c + 1; r < m; r++) {
            double k = a[r][c] / a[c][c];
            for (int j = c; j < m; j++)
                a[r][j] -= k * a[c][j];
            b[r] -= k * b[c];
        }
    }
    for (int r = m - 1; r >= 0; r--) {
        double s = b[r];
        for (int j = r + 1; j < m; j++)
            s -= a[r][j] * x[j];
        x[r] = s / a[r][r];
    }
    return 0;
}

/* Subsets of (nodes, pods, churn) in the order they are tried: fewer terms first. */
static const unsigned masks[] = {0, 1, 2, 4, 3, 5, 6, 7};

void tk_calc_fit(const struct tk_calc_data *d, const size_t *pts, size_t n, enum tk_res_fig f,
                 struct tk_calc_fit *out)
{
    double scale[3] = {0, 0, 0}, best_sse = INFINITY;
    unsigned varying = 0;

    memset(out, 0, sizeof(*out));
    out->rel_rms = NAN;
    out->n = n;
    if (n < 2)
        return;
    for (int k = 0; k < 3; k++) {
        double first = load_dim(&d->points[pts[0]], k);
        for (size_t i = 0; i < n; i++) {
            double v = load_dim(&d->points[pts[i]], k);
            if (fabs(v) > scale[k])
                scale[k] = fabs(v);
            if (v != first)
                varying |= 1u << k;
        }
    }
    for (size_t mi = 0; mi < sizeof(masks) / sizeof(masks[0]); mi++) {
        unsigned mask = masks[mi];
        int terms[3], m = 1, feasible = 1;
        double a[4][4] = {{0}}, b[4] = {0}, x[4] = {0}, sse = 0;
        if (mask & ~varying)
            continue;
        for (int k = 0; k < 3; k++)
            if (mask & (1u << k))
                terms[m++ - 1] = k;
        if ((size_t)m > n)
            continue;
        /* normal equations over the scaled regressors (1, x_k / scale_k) */
        for (size_t i = 0; i < n; i++) {
            const struct tk_calc_point *p = &d->points[pts[i]];
            double row[4], y = p->g.median[f];
            row[0] = 1;
            for (int j = 1; j < m; j++)
                row[j] = load_dim(p, terms[j - 1]) / scale[terms[j - 1]];
            for (int r = 0; r < m; r++) {
                for (int c = 0; c < m; c++)
                    a[r][c] += row[r] * row[c];
                b[r] += row[r] * y;
            }
        }
        if (solve(a, b, m, x))
            continue;
        for (int j = 1; j < m; j++)
            if (x[j] < 0)
                feasible = 0;
        if (!feasible)
            continue;
        for (size_t i = 0; i < n; i++) {
            const struct tk_calc_point *p = &d->points[pts[i]];
            double yhat = x[0];
            for (int j = 1; j < m; j++)
                yhat += x[j] * (load_dim(p, terms[j - 1]) / scale[terms[j - 1]]);
            sse += (p->g.median[f] - yhat) * (p->g.median[f] - yhat);
        }
        if (out->ok && !(sse < best_sse - 1e-9 * best_sse))
            continue;
        best_sse = sse;
        out->ok = 1;
        out->terms = mask;
        memset(out->coef, 0, sizeof(out->coef));
        out->coef[0] = x[0];
        for (int j = 1; j < m; j++)
            out->coef[1 + terms[j - 1]] = x[j] / scale[terms[j - 1]];
    }
    if (out->ok) {
        double s = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const struct tk_calc_point *p = &d->points[pts[i]];
            double y = p->g.median[f], yhat = out->coef[0];
            for (int j = 0; j < 3; j++)
                yhat += out->coef[1 + j] * load_dim(p, j);
            if (y != 0) {
                s += ((y - yhat) / y) * ((y - yhat) / y);
                k++;
            }
        }
        out->rel_rms =
            k && n > (size_t)(1 + __builtin_popcount(out->terms)) ? sqrt(s / (double)k) : NAN;
    }
}

/* ---- prediction ------------------------------------------------------------------------- */

static double dist(const struct tk_calc_point *p, const struct tk_calc_load *l)
{
    double s = 0;
    for (int k = 0; k < 3; k++) {
        double lv = lload_dim(l, k);
        s += fabs(load_dim(p, k) - lv) / (lv > 1 ? lv : 1);
    }
    return s;
}

static int at_least(const struct tk_calc_point *p, const struct tk_calc_load *l)
{
    return p->nodes >= l->nodes && p->pods >= l->pods && p->churn >= l->churn;
}

static int at_most(const struct tk_calc_point *p, const struct tk_calc_load *l)
{
    return p->nodes <= l->nodes && p->pods <= l->pods && p->churn <= l->churn;
}

/* The dimensions in outside (beyond the points) that a model with these terms does not carry
 * in the proportion measured: k is not a term, and its ratio to the first term at l lies
 * outside the ratios the points have (pods asked at 30 per node, measured at 10). */
static unsigned unmodelled_dims(const struct tk_calc_data *d, const size_t *pts, size_t n,
                                const struct tk_calc_load *l, unsigned terms, unsigned outside)
{
    unsigned u = 0;
    int j = terms & 1u ? 0 : terms & 2u ? 1 : 2;

    for (int k = 0; k < 3; k++) {
        double r, rmin = INFINITY, rmax = -INFINITY;
        if (!(outside & (1u << k)) || (terms & (1u << k)))
            continue;
        if (!terms || lload_dim(l, j) == 0) {
            u |= 1u << k;
            continue;
        }
        r = lload_dim(l, k) / lload_dim(l, j);
        for (size_t i = 0; i < n; i++) {
            double pj = load_dim(&d->points[pts[i]], j), q;
            if (pj == 0)
                continue;
            q = load_dim(&d->points[pts[i]], k) / pj;
            if (q < rmin)
                rmin = q;
            if (q > rmax)
                rmax = q;
        }
        if (!(r >= rmin * (1 - 1e-9) && r <= rmax * (1 + 1e-9)))
            u |= 1u << k;
    }
    return u;
}

static void fmt_load(char *out, size_t n, double nodes, double pods, double churn)
{
    if (churn > 0)
        snprintf(out, n, "%.0f nodes, %.0f pods, churn %g/s", nodes, pods, churn);
    else
        snprintf(out, n, "%.0f nodes, %.0f pods", nodes, pods);
}

void tk_calc_predict(const struct tk_calc_data *d, size_t size, const struct tk_calc_load *l,
                     size_t exclude, struct tk_calc_pred *out)
{
    const struct tk_calc_size *sz = &d->sizes[size];
    size_t *pts = tk_xcalloc(sz->npoints ? sz->npoints : 1, sizeof(size_t));
    int worst = -1;

    memset(out, 0, sizeof(*out));
    out->size = size;
    out->ok = 1;
    for (int f = 0; f < TK_FIG_N; f++) {
        size_t n = 0, exact = SIZE_MAX, dn = SIZE_MAX, un = SIZE_MAX;
        double hi = NAN, lo = NAN, dd = INFINITY, du = INFINITY;
        out->kind[f] = TK_CALC_NONE;
        out->value[f] = out->spread[f] = out->fit_error[f] = NAN;
        out->lo[f] = out->hi[f] = SIZE_MAX;
        out->fit_points[f] = 0;
        out->fixed_dim[f] = -1;
        for (size_t i = 0; i < sz->npoints; i++) {
            size_t k = sz->points[i];
            const struct tk_calc_point *p = &d->points[k];
            if (k == exclude || p->g.nfig[f] == 0)
                continue;
            pts[n++] = k;
            if (p->nodes == l->nodes && p->pods == l->pods && p->churn == l->churn)
                exact = k;
            if (at_least(p, l)) {
                if (isnan(hi) || p->g.median[f] < hi)
                    hi = p->g.median[f];
                if (dist(p, l) < du) {
                    du = dist(p, l);
                    un = k;
                }
            }
            if (at_most(p, l)) {
                if (isnan(lo) || p->g.median[f] > lo)
                    lo = p->g.median[f];
                if (dist(p, l) < dd) {
                    dd = dist(p, l);
                    dn = k;
                }
            }
        }
        out->lo[f] = dn;
        out->hi[f] = un;
        if (n == 0)
            continue;
        if (exact != SIZE_MAX) {
            out->kind[f] = TK_CALC_MEASURED;
            out->value[f] = d->points[exact].g.median[f];
            out->spread[f] = d->points[exact].g.spread[f];
        } else if (un != SIZE_MAX && dn != SIZE_MAX) {
            double t = dd + du > 0 ? dd / (dd + du) : 0;
            if (lo > hi)
                lo = hi;
            out->kind[f] = TK_CALC_INTERPOLATED;
            out->value[f] = lo + t * (hi - lo);
            out->spread[f] = fmax(d->points[dn].g.spread[f], d->points[un].g.spread[f]);
        } else {
            /* beyond the measured loads (or below them): a fitted model, if the points vary in
             * every dimension where l lies outside them */
            struct tk_calc_fit fit;
            double mn[3], mx[3];
            int fixed = -1;
            unsigned outside = 0;
            for (int k = 0; k < 3; k++) {
                mn[k] = mx[k] = load_dim(&d->points[pts[0]], k);
                for (size_t i = 1; i < n; i++) {
                    double v = load_dim(&d->points[pts[i]], k);
                    if (v < mn[k])
                        mn[k] = v;
                    if (v > mx[k])
                        mx[k] = v;
                }
                if (lload_dim(l, k) < mn[k] || lload_dim(l, k) > mx[k]) {
                    outside |= 1u << k;
                    if (mn[k] == mx[k] && fixed < 0)
                        fixed = k;
                }
            }
            tk_calc_fit(d, pts, n, (enum tk_res_fig)f, &fit);
            if (fit.ok && fixed < 0) {
                double v = fit.coef[0] + fit.coef[1] * l->nodes + fit.coef[2] * l->pods +
                           fit.coef[3] * l->churn;
                if (v < 0)
                    v = 0;
                if (!isnan(lo) && v < lo)
                    v = lo;
                if (un != SIZE_MAX && v > hi)
                    v = hi;
                out->kind[f] = TK_CALC_EXTRAPOLATED;
                out->value[f] = v;
                out->fit_error[f] = fit.rel_rms;
                out->fit_points[f] = n;
                if (judged(f) && un == SIZE_MAX)
                    out->unmodelled |= unmodelled_dims(d, pts, n, l, fit.terms, outside);
            } else if (un != SIZE_MAX) {
                out->kind[f] = TK_CALC_BOUNDED;
                out->value[f] = hi;
                out->spread[f] = d->points[un].g.spread[f];
            } else {
                out->fixed_dim[f] = fixed;
            }
        }
    }
    free(pts);

    /* the verdict: a failure at a load no larger than this one first, then the limits */
    for (size_t i = 0; i < sz->npoints && out->ok; i++) {
        size_t k = sz->points[i];
        const struct tk_calc_point *p = &d->points[k];
        if (k == exclude || !at_most(p, l) || p->g.ok)
            continue;
        char at[96];
        fmt_load(at, sizeof(at), p->nodes, p->pods, p->churn);
        snprintf(out->why, sizeof(out->why), "failed at %s: %s", at, p->g.why);
        out->ok = 0;
    }
    for (int f = 0; f < TK_FIG_N && out->ok; f++) {
        int have = 0;
        if (!judged(f))
            continue;
        for (size_t i = 0; i < sz->npoints; i++)
            have |= sz->points[i] != exclude && d->points[sz->points[i]].g.nfig[f] > 0;
        if (!have)
            continue;
        if (out->kind[f] == TK_CALC_NONE && out->fixed_dim[f] >= 0) {
            static const char *const dims[] = {"nodes", "pods", "churn"};
            snprintf(out->why, sizeof(out->why),
                     "%s was never varied at this size: its cost cannot be extrapolated",
                     dims[out->fixed_dim[f]]);
            out->ok = 0;
        } else if (out->kind[f] == TK_CALC_NONE) {
            snprintf(out->why, sizeof(out->why),
                     "%s cannot be extrapolated from fewer than 2 measured loads",
                     tk_res_fig_info((enum tk_res_fig)f)->label);
            out->ok = 0;
        }
    }
    for (int f = 0; f < TK_FIG_N && out->ok; f++) {
        double limit = f < TK_FIG_NLATENCY ? d->slo_s[f] * (1 - d->headroom) : 1 - d->headroom;
        char v[32], lim[32];
        if (!judged(f) || isnan(out->value[f]) || !(out->value[f] > limit))
            continue;
        tk_res_fig_format((enum tk_res_fig)f, out->value[f], v, sizeof(v));
        tk_res_fig_format((enum tk_res_fig)f, limit, lim, sizeof(lim));
        snprintf(out->why, sizeof(out->why), "%s %s %s > %s", tk_calc_kind_name(out->kind[f]),
                 tk_res_fig_info((enum tk_res_fig)f)->label, v, lim);
        out->ok = 0;
    }
    if (sz->npoints == 0 || (sz->npoints == 1 && sz->points[0] == exclude)) {
        out->ok = 0;
        snprintf(out->why, sizeof(out->why), "no measured load");
    }
    for (int f = 0; f < TK_FIG_N; f++)
        if (judged(f) && out->kind[f] != TK_CALC_NONE && (int)out->kind[f] > worst)
            worst = (int)out->kind[f];
    out->overall = worst < 0 ? TK_CALC_NONE : (enum tk_calc_kind)worst;
}

int tk_calc_recommend(const struct tk_calc_data *d, const struct tk_calc_load *l,
                      const char *topology, struct tk_calc_rec *out, struct tk_err *err)
{
    int any = 0;

    memset(out, 0, sizeof(*out));
    out->preds = tk_xcalloc(d->nsizes ? d->nsizes : 1, sizeof(*out->preds));
    for (size_t z = 0; z < d->nsizes; z++) {
        if (topology && *topology && strcmp(d->sizes[z].topology, topology))
            continue;
        any = 1;
        tk_calc_predict(d, z, l, SIZE_MAX, &out->preds[out->npreds++]);
        if (out->preds[out->npreds - 1].ok) {
            out->found = 1;
            out->chosen = out->npreds - 1;
            break;
        }
    }
    if (!any && d->nsizes) {
        struct tk_buf b;
        tk_buf_init(&b, 0);
        for (size_t z = 0; z < d->nsizes; z++) {
            int seen = 0;
            for (size_t y = 0; y < z; y++)
                seen |= !strcmp(d->sizes[y].topology, d->sizes[z].topology);
            if (!seen)
                tk_buf_printf(&b, "%s%s", b.len ? ", " : "", d->sizes[z].topology);
        }
        tk_err_set(err, TK_ENOTFOUND, "no measurements with topology '%s' (there are: %s)",
                   topology, b.data);
        tk_buf_release(&b);
        return err->code;
    }
    if (!d->nsizes)
        return tk_err_set(err, TK_ENOTFOUND, "no finished cells to size from");
    return 0;
}

void tk_calc_rec_release(struct tk_calc_rec *r)
{
    free(r->preds);
    memset(r, 0, sizeof(*r));
}

/* ---- leave-one-out ---------------------------------------------------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void tk_calc_loo(const struct tk_calc_data *d, struct tk_calc_loo *out)
{
    double *err = tk_xcalloc(d->npoints ? d->npoints : 1, sizeof(double));

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < TK_CALC_LOO_NFIGS; i++) {
        enum tk_res_fig f = tk_calc_loo_figs[i];
        size_t n = 0;
        for (size_t k = 0; k < d->npoints; k++) {
            const struct tk_calc_point *p = &d->points[k];
            struct tk_calc_load l = {p->nodes, p->pods, p->churn};
            struct tk_calc_pred pred;
            double meas = p->g.median[f];
            if (p->g.nfig[f] == 0 || meas == 0 || isnan(meas))
                continue;
            tk_calc_predict(d, p->size, &l, k, &pred);
            if (pred.kind[f] == TK_CALC_NONE || isnan(pred.value[f]))
                continue;
            err[n++] = fabs(pred.value[f] - meas) / fabs(meas);
            if (pred.kind[f] == TK_CALC_EXTRAPOLATED)
                out->n_extrapolated[i]++;
        }
        out->n[i] = n;
        qsort(err, n, sizeof(double), dbl_cmp);
        out->median_error[i] = n ? (n % 2 ? err[n / 2] : (err[n / 2 - 1] + err[n / 2]) / 2) : NAN;
        out->max_error[i] = n ? err[n - 1] : NAN;
    }
    free(err);
}

void tk_calc_loo_format(const struct tk_calc_loo *l, char *out, size_t n)
{
    struct tk_buf b;

    tk_buf_init(&b, 0);
    tk_buf_puts(&b, "leave-one-out prediction error (each measured point predicted from the "
                    "others):");
    for (int i = 0; i < TK_CALC_LOO_NFIGS; i++) {
        const char *label = tk_res_fig_info(tk_calc_loo_figs[i])->label;
        if (!l->n[i])
            tk_buf_printf(&b, "%s %s: no point could be predicted", i ? ";" : "", label);
        else
            tk_buf_printf(&b, "%s %s median %.1f%%, max %.1f%% over %zu points (%zu extrapolated)",
                          i ? ";" : "", label, l->median_error[i] * 100, l->max_error[i] * 100,
                          l->n[i], l->n_extrapolated[i]);
    }
    snprintf(out, n, "%s", b.data);
    tk_buf_release(&b);
}

/* ---- output ----------------------------------------------------------------------------- */

/* The points behind a prediction: the bracketing points of each figure, or every point of
 * the size for a fitted figure. Marks them in used[] (d->npoints entries). */
static void evidence(const struct tk_calc_data *d, const struct tk_calc_pred *p, char *used)
{
    const struct tk_calc_size *sz = &d->sizes[p->size];
    memset(used, 0, d->npoints ? d->npoints : 1);
    for (int f = 0; f < TK_FIG_N; f++) {
        if (p->kind[f] == TK_CALC_EXTRAPOLATED) {
            for (size_t i = 0; i < sz->npoints; i++)
                used[sz->points[i]] = 1;
            continue;
        }
        if (p->kind[f] == TK_CALC_NONE)
            continue;
        if (p->lo[f] != SIZE_MAX && p->kind[f] != TK_CALC_BOUNDED)
            used[p->lo[f]] = 1;
        if (p->hi[f] != SIZE_MAX && p->kind[f] != TK_CALC_MEASURED)
            used[p->hi[f]] = 1;
        if (p->kind[f] == TK_CALC_MEASURED && p->lo[f] != SIZE_MAX)
            used[p->lo[f]] = 1;
    }
}

/* Distinct hardware and version strings of the cells of the used points. */
static void environment(const struct tk_calc_data *d, const char *used, struct tk_buf *hw,
                        struct tk_buf *ver)
{
    for (size_t k = 0; k < d->npoints; k++) {
        if (!used[k])
            continue;
        for (size_t m = 0; m < d->points[k].g.n; m++) {
            const struct tk_res_cell *c = &d->set->cells[d->points[k].g.members[m]];
            if (c->hardware && (!hw->data || !strstr(hw->data, c->hardware)))
                tk_buf_printf(hw, "%s%s", hw->len ? " | " : "", c->hardware);
            if (c->versions && (!ver->data || !strstr(ver->data, c->versions)))
                tk_buf_printf(ver, "%s%s", ver->len ? " | " : "", c->versions);
        }
    }
}

static void how_text(const struct tk_calc_pred *p, int f, char *out, size_t n)
{
    if (p->kind[f] == TK_CALC_EXTRAPOLATED && !isnan(p->fit_error[f]))
        snprintf(out, n, "extrapolated ±%.1f%% (%zu loads)", p->fit_error[f] * 100,
                 p->fit_points[f]);
    else if (p->kind[f] == TK_CALC_EXTRAPOLATED)
        snprintf(out, n, "extrapolated (exact fit, %zu loads)", p->fit_points[f]);
    else
        snprintf(out, n, "%s", tk_calc_kind_name(p->kind[f]));
}

static void largest_load(const struct tk_calc_data *d, size_t size, char *out, size_t n)
{
    const struct tk_calc_size *sz = &d->sizes[size];
    const struct tk_calc_point *p = sz->npoints ? &d->points[sz->points[sz->npoints - 1]] : NULL;
    if (p)
        fmt_load(out, n, p->nodes, p->pods, p->churn);
    else
        snprintf(out, n, "none");
}

/* The caveat for dimensions the models carry only through others, or "". */
static void unmodelled_text(const struct tk_calc_pred *p, char *out, size_t n)
{
    static const char *const dims[] = {"nodes", "pods", "churn"};
    struct tk_buf b;

    out[0] = '\0';
    if (!p->unmodelled)
        return;
    tk_buf_init(&b, 0);
    for (int k = 0; k < 3; k++)
        if (p->unmodelled & (1u << k))
            tk_buf_printf(&b, "%s%s", b.len ? " and " : "", dims[k]);
    snprintf(out, n,
             "caution: %s beyond the measurements and in a proportion to the other load "
             "dimensions never measured; the models carry %s through them, so measure at this "
             "mix to be sure",
             b.data, __builtin_popcount(p->unmodelled) > 1 ? "their cost" : "its cost");
    tk_buf_release(&b);
}

/* Writes text wrapped at width columns after used columns already on the line; every line
 * after the first is indented by indent. */
static void wrap(FILE *f, const char *text, int width, int indent, int used)
{
    const char *s = text;
    int col = used, first = 1;
    while (*s) {
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        if (!first && col + 1 + (int)(e - s) > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (!first) {
            fputc(' ', f);
            col++;
        }
        fwrite(s, 1, (size_t)(e - s), f);
        col += (int)(e - s);
        first = 0;
        s = *e ? e + 1 : e;
    }
    fputc('\n', f);
}

void tk_calc_print_text(FILE *f, const struct tk_calc_data *d, const struct tk_calc_load *l,
                        const char *topology, const struct tk_calc_rec *r)
{
    char caveat[400];
    char load[96], big[96];
    const struct tk_calc_pred *p = r->found ? &r->preds[r->chosen] : NULL;

    fmt_load(load, sizeof(load), l->nodes, l->pods, l->churn);
    fprintf(f, "for %s (%s%s, headroom %.0f%%)\n\n", load,
            topology && *topology ? "topology " : "any topology",
            topology && *topology ? topology : "", d->headroom * 100);
    if (!p) {
        fprintf(f, "no measured size meets every SLO with headroom at this load\n");
        if (r->npreds) {
            p = &r->preds[r->npreds - 1];
            fprintf(f, "the largest measured, %s (%s)%s\n", d->sizes[p->size].size,
                    d->sizes[p->size].topology,
                    p->overall == TK_CALC_NONE ? ", cannot be judged" : ", expects:");
        }
    } else {
        fprintf(f, "recommended  %s  (topology %s)\n", d->sizes[p->size].size,
                d->sizes[p->size].topology);
        largest_load(d, p->size, big, sizeof(big));
        switch (p->overall) {
        case TK_CALC_MEASURED:
            fprintf(f, "             measured at exactly this load\n");
            break;
        case TK_CALC_INTERPOLATED:
            fprintf(f, "             interpolated between measured loads\n");
            break;
        case TK_CALC_BOUNDED:
            fprintf(f, "             below the smallest measured load: its figures bound these\n");
            break;
        case TK_CALC_EXTRAPOLATED:
            fprintf(f,
                    "             EXTRAPOLATED beyond the measured loads\n"
                    "             (the largest measured: %s)\n",
                    big);
            break;
        default:
            break;
        }
    }
    if (p) {
        static const char *const heads[] = {"FIGURE", "EXPECTED", "LIMIT", "HOW"};
        struct tk_table *t = tk_table_new(4, heads, "lrrl");
        char *used = tk_xcalloc(d->npoints ? d->npoints : 1, 1);
        struct tk_buf hw, ver;
        putc('\n', f);
        for (int k = 0; k < TK_FIG_N; k++) {
            char v[32], lim[32] = "", how[64];
            if (p->kind[k] == TK_CALC_NONE)
                continue;
            tk_res_fig_format((enum tk_res_fig)k, p->value[k], v, sizeof(v));
            if (k < TK_FIG_NLATENCY)
                tk_res_fig_format((enum tk_res_fig)k, d->slo_s[k] * (1 - d->headroom), lim,
                                  sizeof(lim));
            else if (k == TK_FIG_MEMORY_UTIL)
                tk_res_fig_format((enum tk_res_fig)k, 1 - d->headroom, lim, sizeof(lim));
            how_text(p, k, how, sizeof(how));
            tk_table_addv(t, tk_res_fig_info((enum tk_res_fig)k)->label, v, lim, how);
        }
        if (p->overall != TK_CALC_NONE)
            tk_table_print(t, f, 80, 3);
        tk_table_free(t);
        if (!r->found && p->why[0]) {
            fputc('\n', f);
            wrap(f, p->why, 80, 2, fprintf(f, "it does not: "));
        }
        unmodelled_text(p, caveat, sizeof(caveat));
        if (caveat[0]) {
            fputc('\n', f);
            wrap(f, caveat, 80, 2, 0);
        }

        evidence(d, p, used);
        if (memchr(used, 1, d->npoints ? d->npoints : 1))
            fprintf(f, "\nevidence (measured points, cells by id):\n");
        for (size_t k = 0; k < d->npoints; k++) {
            const struct tk_calc_point *pt = &d->points[k];
            if (!used[k])
                continue;
            fmt_load(load, sizeof(load), pt->nodes, pt->pods, pt->churn);
            fprintf(f, "  %s, %s:", load, pt->g.ok ? "met every SLO" : "failed");
            for (size_t m = 0; m < pt->g.n; m++)
                fprintf(f, " %s", d->set->cells[pt->g.members[m]].cell_id);
            putc('\n', f);
        }
        tk_buf_init(&hw, 0);
        tk_buf_init(&ver, 0);
        environment(d, used, &hw, &ver);
        if (hw.len)
            fprintf(f, "  hardware: %s\n", hw.data);
        if (ver.len)
            fprintf(f, "  versions: %s\n", ver.data);
        tk_buf_release(&hw);
        tk_buf_release(&ver);
        free(used);
    }
    if (r->npreds > (r->found ? 1 : 0)) {
        size_t last = r->found ? r->chosen : r->npreds;
        fprintf(f, "\n%s:\n",
                r->found ? "smaller sizes that do not meet this load"
                         : "why each size falls short");
        for (size_t i = 0; i < last; i++) {
            fprintf(f, "  %s (%s):\n", d->sizes[r->preds[i].size].size,
                    d->sizes[r->preds[i].size].topology);
            wrap(f, r->preds[i].why, 80, 6, fprintf(f, "      "));
        }
    }
}

static void json_num(cJSON *o, const char *key, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static cJSON *pred_json(const struct tk_calc_data *d, const struct tk_calc_pred *p)
{
    cJSON *o = cJSON_CreateObject(), *figs = cJSON_CreateObject(), *cells = cJSON_CreateArray();
    const struct tk_calc_size *sz = &d->sizes[p->size];
    char *used = tk_xcalloc(d->npoints ? d->npoints : 1, 1);
    struct tk_buf hw, ver;

    cJSON_AddStringToObject(o, "size", sz->size);
    cJSON_AddStringToObject(o, "topology", sz->topology);
    cJSON_AddNumberToObject(o, "cpu_milli", (double)sz->cpu_milli);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)sz->memory_bytes);
    cJSON_AddStringToObject(o, "kind", tk_calc_kind_name(p->overall));
    cJSON_AddBoolToObject(o, "ok", p->ok);
    if (!p->ok)
        cJSON_AddStringToObject(o, "reason", p->why);
    for (int k = 0; k < TK_FIG_N; k++) {
        cJSON *fo = cJSON_CreateObject();
        json_num(fo, "value", p->value[k]);
        cJSON_AddStringToObject(fo, "kind", tk_calc_kind_name(p->kind[k]));
        json_num(fo, "spread", p->spread[k]);
        json_num(fo, "fit_error", p->fit_error[k]);
        cJSON_AddItemToObject(figs, tk_res_fig_info((enum tk_res_fig)k)->column, fo);
    }
    cJSON_AddItemToObject(o, "figures", figs);
    {
        char caveat[400];
        unmodelled_text(p, caveat, sizeof(caveat));
        if (caveat[0])
            cJSON_AddStringToObject(o, "caution", caveat);
    }
    evidence(d, p, used);
    for (size_t k = 0; k < d->npoints; k++)
        for (size_t m = 0; used[k] && m < d->points[k].g.n; m++)
            cJSON_AddItemToArray(
                cells, cJSON_CreateString(d->set->cells[d->points[k].g.members[m]].cell_id));
    cJSON_AddItemToObject(o, "evidence_cells", cells);
    tk_buf_init(&hw, 0);
    tk_buf_init(&ver, 0);
    environment(d, used, &hw, &ver);
    cJSON_AddStringToObject(o, "hardware", hw.len ? hw.data : "");
    cJSON_AddStringToObject(o, "versions", ver.len ? ver.data : "");
    tk_buf_release(&hw);
    tk_buf_release(&ver);
    free(used);
    return o;
}

void tk_calc_print_json(FILE *f, const struct tk_calc_data *d, const struct tk_calc_load *l,
                        const char *topology, const struct tk_calc_rec *r)
{
    cJSON *root = cJSON_CreateObject(), *in = cJSON_CreateObject(), *rej = cJSON_CreateArray();
    char *text;

    cJSON_AddNumberToObject(in, "nodes", l->nodes);
    cJSON_AddNumberToObject(in, "pods", l->pods);
    cJSON_AddNumberToObject(in, "churn", l->churn);
    cJSON_AddStringToObject(in, "topology", topology ? topology : "");
    cJSON_AddNumberToObject(in, "headroom", d->headroom);
    cJSON_AddItemToObject(root, "input", in);
    cJSON_AddBoolToObject(root, "found", r->found);
    if (r->found)
        cJSON_AddItemToObject(root, "recommendation", pred_json(d, &r->preds[r->chosen]));
    else
        cJSON_AddNullToObject(root, "recommendation");
    for (size_t i = 0; i < (r->found ? r->chosen : r->npreds); i++)
        cJSON_AddItemToArray(rej, pred_json(d, &r->preds[i]));
    cJSON_AddItemToObject(root, "rejected", rej);
    text = cJSON_Print(root);
    fprintf(f, "%s\n", text);
    free(text);
    cJSON_Delete(root);
}

/* ---- the published table ---------------------------------------------------------------- */

static const struct tk_calc_load default_classes[] = {
    {100, 1000, 0},   {500, 5000, 0},   {1000, 10000, 0},  {1000, 10000, 20},
    {2000, 20000, 0}, {3000, 90000, 0}, {5000, 150000, 0},
};

const struct tk_calc_load *tk_calc_default_classes(size_t *n)
{
    *n = sizeof(default_classes) / sizeof(default_classes[0]);
    return default_classes;
}

/* Topologies in the data: colocated first, then by name. */
static size_t topologies(const struct tk_calc_data *d, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t z = 0; z < d->nsizes && n < max; z++) {
        int seen = 0;
        for (size_t i = 0; i < n; i++)
            seen |= !strcmp(out[i], d->sizes[z].topology);
        if (!seen)
            out[n++] = d->sizes[z].topology;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            const char *a = out[j - 1], *b = out[j];
            int swap = strcmp(b, "colocated") == 0 || (strcmp(a, "colocated") && strcmp(a, b) > 0);
            if (!swap)
                break;
            out[j - 1] = b;
            out[j] = a;
        }
    return n;
}

/* The largest relative fit error among the extrapolated judged figures, or NaN. */
static double worst_fit_error(const struct tk_calc_pred *p)
{
    double e = NAN;
    for (int f = 0; f < TK_FIG_N; f++)
        if (judged(f) && p->kind[f] == TK_CALC_EXTRAPOLATED && !isnan(p->fit_error[f]) &&
            (isnan(e) || p->fit_error[f] > e))
            e = p->fit_error[f];
    return e;
}

static void cell_text(const struct tk_calc_data *d, const struct tk_calc_rec *r, char *out,
                      size_t n)
{
    const struct tk_calc_pred *p;
    if (!r->npreds) {
        snprintf(out, n, "-");
        return;
    }
    if (!r->found) {
        p = &r->preds[r->npreds - 1];
        snprintf(out, n, "none measured (%s falls short)", d->sizes[p->size].size);
        return;
    }
    p = &r->preds[r->chosen];
    if (p->overall == TK_CALC_EXTRAPOLATED && !isnan(worst_fit_error(p)))
        snprintf(out, n, "%s, extrapolated (fit error %.1f%%)", d->sizes[p->size].size,
                 worst_fit_error(p) * 100);
    else if (p->overall == TK_CALC_EXTRAPOLATED)
        snprintf(out, n, "%s, extrapolated (exact fit: error unknown)", d->sizes[p->size].size);
    else
        snprintf(out, n, "%s, %s", d->sizes[p->size].size, tk_calc_kind_name(p->overall));
}

struct prov_text {
    struct tk_buf experiments, hardware, versions;
    size_t cells, complete, failed;
    char generated[40], loo[600], slos[256];
};

static void prov_build(const struct tk_calc_data *d, const struct tk_calc_provenance *prov,
                       struct prov_text *pt)
{
    const struct tk_res_set *s = d->set;
    time_t t = (time_t)(prov->generated_ms / 1000);
    struct tm tm;
    struct tk_calc_loo loo;
    char a[32], b[32], c[32], e[32];

    memset(pt, 0, sizeof(*pt));
    tk_buf_init(&pt->experiments, 0);
    tk_buf_init(&pt->hardware, 0);
    tk_buf_init(&pt->versions, 0);
    for (size_t i = 0; i < s->n; i++) {
        const struct tk_res_cell *cl = &s->cells[i];
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= s->cells[j].experiment_row == cl->experiment_row;
        if (!seen)
            tk_buf_printf(&pt->experiments, "%s%s", pt->experiments.len ? ", " : "",
                          cl->experiment);
        if (cl->status != TK_CELL_COMPLETE && cl->status != TK_CELL_FAILED)
            continue;
        pt->cells++;
        pt->complete += cl->status == TK_CELL_COMPLETE;
        pt->failed += cl->status == TK_CELL_FAILED;
        if (cl->hardware && (!pt->hardware.data || !strstr(pt->hardware.data, cl->hardware)))
            tk_buf_printf(&pt->hardware, "%s%s", pt->hardware.len ? " | " : "", cl->hardware);
        if (cl->versions && (!pt->versions.data || !strstr(pt->versions.data, cl->versions)))
            tk_buf_printf(&pt->versions, "%s%s", pt->versions.len ? " | " : "", cl->versions);
    }
    if (gmtime_r(&t, &tm))
        strftime(pt->generated, sizeof(pt->generated), "%Y-%m-%dT%H:%M:%SZ", &tm);
    tk_calc_loo(d, &loo);
    tk_calc_loo_format(&loo, pt->loo, sizeof(pt->loo));
    tk_res_fig_format(TK_FIG_MUTATING_P99, d->slo_s[0], a, sizeof(a));
    tk_res_fig_format(TK_FIG_RO_RESOURCE_P99, d->slo_s[1], b, sizeof(b));
    tk_res_fig_format(TK_FIG_RO_CLUSTER_P99, d->slo_s[2], c, sizeof(c));
    tk_res_fig_format(TK_FIG_POD_STARTUP_P99, d->slo_s[3], e, sizeof(e));
    snprintf(pt->slos, sizeof(pt->slos),
             "p99 mutating %s, read-only resource %s, namespace|cluster %s, pod startup %s", a, b,
             c, e);
}

static void prov_release(struct prov_text *pt)
{
    tk_buf_release(&pt->experiments);
    tk_buf_release(&pt->hardware);
    tk_buf_release(&pt->versions);
}

static void csv_out(FILE *f, double v)
{
    if (!isnan(v) && !isinf(v))
        fprintf(f, "%.10g", v);
}

void tk_calc_print_table(FILE *f, const struct tk_calc_data *d, enum tk_calc_table_fmt fmt,
                         const struct tk_calc_load *classes, size_t n,
                         const struct tk_calc_provenance *prov)
{
    const char *topo[32];
    size_t nt = topologies(d, topo, 32);
    struct prov_text pt;
    struct tk_err err = {0};
    char text[200];

    prov_build(d, prov, &pt);
    if (fmt == TK_CALC_CSV) {
        fprintf(f, "# TurboKube control-plane sizing table, generated %s\n", pt.generated);
        fprintf(f, "# command: %s\n", prov->command);
        fprintf(f,
                "# database: %s; experiments: %s; %zu finished cells (%zu complete, %zu "
                "failed), %zu measured points, %zu sizes\n",
                prov->db, pt.experiments.data ? pt.experiments.data : "", pt.cells, pt.complete,
                pt.failed, d->npoints, d->nsizes);
        fprintf(f, "# hardware: %s\n", pt.hardware.len ? pt.hardware.data : "unrecorded");
        fprintf(f, "# versions: %s\n", pt.versions.len ? pt.versions.data : "unrecorded");
        fprintf(f,
                "# rule: smallest measured size meeting every SLO with %.0f%% headroom (%s; "
                "memory below %.0f%% of each host)\n",
                d->headroom * 100, pt.slos, (1 - d->headroom) * 100);
        fprintf(f, "# %s\n", pt.loo);
        fprintf(f, "nodes,pods,churn_per_s,topology,size,cpu_milli,memory_bytes,kind,fit_error");
        for (int k = 0; k < TK_FIG_N; k++)
            fprintf(f, ",%s", tk_res_fig_info((enum tk_res_fig)k)->column);
        fprintf(f, ",evidence_cells,reason\n");
    } else if (fmt == TK_CALC_MD) {
        fprintf(f, "| nodes | pods | churn/s |");
        for (size_t t = 0; t < nt; t++)
            fprintf(f, " %s |", topo[t]);
        fprintf(f, "\n|---:|---:|---:|");
        for (size_t t = 0; t < nt; t++)
            fprintf(f, "---|");
        fputc('\n', f);
    } else {
        fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<title>TurboKube sizing table</title>\n<style>body{font:14px/1.4 "
                   "system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
                   "td,th{border:1px solid #ccc;padding:4px 8px}th{background:#f3f3f3}"
                   "td.n{text-align:right}.extrapolated{color:#a15c00}.none{color:#b00}"
                   "dt{font-weight:600;margin-top:.5em}</style></head><body>\n"
                   "<h1>Control-plane sizing</h1>\n<table id=\"sizing\"><thead><tr>"
                   "<th>nodes</th><th>pods</th><th>churn/s</th>");
        for (size_t t = 0; t < nt; t++) {
            fputs("<th>", f);
            tk_res_html_escape(f, topo[t]);
            fputs("</th>", f);
        }
        fputs("</tr></thead><tbody>\n", f);
    }
    for (size_t i = 0; i < n; i++) {
        const struct tk_calc_load *l = &classes[i];
        if (fmt == TK_CALC_MD)
            fprintf(f, "| %.0f | %.0f | %g |", l->nodes, l->pods, l->churn);
        else if (fmt == TK_CALC_HTML)
            fprintf(f,
                    "<tr><td class=\"n\">%.0f</td><td class=\"n\">%.0f</td>"
                    "<td class=\"n\">%g</td>",
                    l->nodes, l->pods, l->churn);
        for (size_t t = 0; t < nt; t++) {
            struct tk_calc_rec r;
            tk_calc_recommend(d, l, topo[t], &r, &err);
            cell_text(d, &r, text, sizeof(text));
            if (fmt == TK_CALC_MD) {
                fprintf(f, " %s |", text);
            } else if (fmt == TK_CALC_HTML) {
                const char *cls = !r.found ? "none"
                                  : r.preds[r.chosen].overall == TK_CALC_EXTRAPOLATED
                                      ? "extrapolated"
                                      : "";
                fprintf(f, "<td class=\"%s\">", cls);
                tk_res_html_escape(f, text);
                fputs("</td>", f);
            } else {
                const struct tk_calc_pred *p = r.found    ? &r.preds[r.chosen]
                                               : r.npreds ? &r.preds[r.npreds - 1]
                                                          : NULL;
                const struct tk_calc_size *sz = p ? &d->sizes[p->size] : NULL;
                fprintf(f, "%.0f,%.0f,%g,", l->nodes, l->pods, l->churn);
                tk_res_csv_field(f, topo[t]);
                fputc(',', f);
                if (r.found) {
                    tk_res_csv_field(f, sz->size);
                    fprintf(f, ",%lld,%lld,%s,", (long long)sz->cpu_milli,
                            (long long)sz->memory_bytes, tk_calc_kind_name(p->overall));
                    csv_out(f, worst_fit_error(p));
                    for (int k = 0; k < TK_FIG_N; k++) {
                        fputc(',', f);
                        csv_out(f, p->value[k]);
                    }
                    fputc(',', f);
                    {
                        char *used = tk_xcalloc(d->npoints ? d->npoints : 1, 1);
                        int first = 1;
                        evidence(d, p, used);
                        for (size_t k = 0; k < d->npoints; k++)
                            for (size_t m = 0; used[k] && m < d->points[k].g.n; m++) {
                                fprintf(f, "%s%s", first ? "" : " ",
                                        d->set->cells[d->points[k].g.members[m]].cell_id);
                                first = 0;
                            }
                        free(used);
                    }
                    fputs(",\n", f);
                } else {
                    fprintf(f, ",,,none,");
                    for (int k = 0; k < TK_FIG_N; k++)
                        fputc(',', f);
                    fputs(",", f);
                    tk_res_csv_field(f, p ? p->why : "no measurements");
                    fputc('\n', f);
                }
            }
            tk_calc_rec_release(&r);
        }
        if (fmt == TK_CALC_MD)
            fputc('\n', f);
        else if (fmt == TK_CALC_HTML)
            fputs("</tr>\n", f);
    }
    if (fmt == TK_CALC_MD) {
        fprintf(f,
                "\nEach cell: the smallest measured control-plane size (cores/memory per host) "
                "that met every SLO with %.0f%% headroom (%s; memory below %.0f%% of each "
                "host), and how: measured at that load, interpolated between measured loads, "
                "bounded by a larger measured load, or extrapolated from a fitted cost model "
                "(with the fit's error).\n\n",
                d->headroom * 100, pt.slos, (1 - d->headroom) * 100);
        fprintf(f, "Accuracy: %s.\n\n", pt.loo);
        fprintf(f, "Provenance:\n\n");
        fprintf(f, "- generated: %s\n", pt.generated);
        fprintf(f, "- command: `%s`\n", prov->command);
        fprintf(f,
                "- database: `%s`; experiments: %s; %zu finished cells (%zu complete, %zu "
                "failed) in %zu measured points over %zu sizes\n",
                prov->db, pt.experiments.data ? pt.experiments.data : "", pt.cells, pt.complete,
                pt.failed, d->npoints, d->nsizes);
        fprintf(f, "- hardware: %s\n", pt.hardware.len ? pt.hardware.data : "unrecorded");
        fprintf(f, "- versions: %s\n", pt.versions.len ? pt.versions.data : "unrecorded");
    } else if (fmt == TK_CALC_HTML) {
        fprintf(f,
                "</tbody></table>\n<p>Each cell: the smallest measured control-plane size "
                "that met every SLO with %.0f%% headroom (",
                d->headroom * 100);
        tk_res_html_escape(f, pt.slos);
        fprintf(f, "; memory below %.0f%% of each host), and how it was found.</p>\n",
                (1 - d->headroom) * 100);
        fputs("<p id=\"accuracy\">", f);
        tk_res_html_escape(f, pt.loo);
        fputs("</p>\n<h2>Provenance</h2>\n<dl id=\"provenance\"><dt>generated</dt><dd>", f);
        tk_res_html_escape(f, pt.generated);
        fputs("</dd><dt>command</dt><dd><code>", f);
        tk_res_html_escape(f, prov->command);
        fputs("</code></dd><dt>database</dt><dd>", f);
        tk_res_html_escape(f, prov->db);
        fputs("; experiments: ", f);
        tk_res_html_escape(f, pt.experiments.data ? pt.experiments.data : "");
        fprintf(f, "; %zu finished cells (%zu complete, %zu failed), %zu points, %zu sizes</dd>",
                pt.cells, pt.complete, pt.failed, d->npoints, d->nsizes);
        fputs("<dt>hardware</dt><dd>", f);
        tk_res_html_escape(f, pt.hardware.len ? pt.hardware.data : "unrecorded");
        fputs("</dd><dt>versions</dt><dd>", f);
        tk_res_html_escape(f, pt.versions.len ? pt.versions.data : "unrecorded");
        fputs("</dd></dl>\n</body></html>\n", f);
    }
    prov_release(&pt);
}

/* ---- the calculator page ---------------------------------------------------------------- */

static cJSON *num_array(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, isnan(v[i]) || isinf(v[i]) ? cJSON_CreateNull()
                                                           : cJSON_CreateNumber(v[i]));
    return a;
}

char *tk_calc_data_json(const struct tk_calc_data *d, const struct tk_calc_provenance *prov)
{
    cJSON *root = cJSON_CreateObject(), *sizes = cJSON_CreateArray(), *figs = cJSON_CreateArray();
    cJSON *pj = cJSON_CreateObject();
    struct prov_text pt;
    char *text;

    prov_build(d, prov, &pt);
    cJSON_AddNumberToObject(root, "headroom", d->headroom);
    cJSON_AddItemToObject(root, "slo_s", num_array(d->slo_s, TK_FIG_NLATENCY));
    for (int f = 0; f < TK_FIG_N; f++) {
        const struct tk_res_fig_info *fi = tk_res_fig_info((enum tk_res_fig)f);
        static const char *const units[] = {"seconds", "bytes", "fraction", "cores"};
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "column", fi->column);
        cJSON_AddStringToObject(o, "label", fi->label);
        cJSON_AddStringToObject(o, "unit", units[fi->unit]);
        cJSON_AddItemToArray(figs, o);
    }
    cJSON_AddItemToObject(root, "figures", figs);
    for (size_t z = 0; z < d->nsizes; z++) {
        const struct tk_calc_size *sz = &d->sizes[z];
        cJSON *so = cJSON_CreateObject(), *pts = cJSON_CreateArray();
        cJSON_AddStringToObject(so, "topology", sz->topology);
        cJSON_AddStringToObject(so, "size", sz->size);
        cJSON_AddNumberToObject(so, "cpu_milli", (double)sz->cpu_milli);
        cJSON_AddNumberToObject(so, "memory_bytes", (double)sz->memory_bytes);
        for (size_t i = 0; i < sz->npoints; i++) {
            const struct tk_calc_point *p = &d->points[sz->points[i]];
            cJSON *po = cJSON_CreateObject(), *cells = cJSON_CreateArray(),
                  *nfig = cJSON_CreateArray();
            struct tk_buf hw, ver;
            cJSON_AddNumberToObject(po, "nodes", p->nodes);
            cJSON_AddNumberToObject(po, "pods", p->pods);
            cJSON_AddNumberToObject(po, "churn", p->churn);
            cJSON_AddBoolToObject(po, "ok", p->g.ok);
            cJSON_AddStringToObject(po, "why", p->g.why);
            cJSON_AddItemToObject(po, "median", num_array(p->g.median, TK_FIG_N));
            cJSON_AddItemToObject(po, "spread", num_array(p->g.spread, TK_FIG_N));
            for (int f = 0; f < TK_FIG_N; f++)
                cJSON_AddItemToArray(nfig, cJSON_CreateNumber(p->g.nfig[f]));
            cJSON_AddItemToObject(po, "nfig", nfig);
            for (size_t m = 0; m < p->g.n; m++)
                cJSON_AddItemToArray(cells,
                                     cJSON_CreateString(d->set->cells[p->g.members[m]].cell_id));
            cJSON_AddItemToObject(po, "cells", cells);
            tk_buf_init(&hw, 0);
            tk_buf_init(&ver, 0);
            {
                char *used = tk_xcalloc(d->npoints, 1);
                used[sz->points[i]] = 1;
                environment(d, used, &hw, &ver);
                free(used);
            }
            cJSON_AddStringToObject(po, "hardware", hw.len ? hw.data : "");
            cJSON_AddStringToObject(po, "versions", ver.len ? ver.data : "");
            tk_buf_release(&hw);
            tk_buf_release(&ver);
            cJSON_AddItemToArray(pts, po);
        }
        cJSON_AddItemToObject(so, "points", pts);
        cJSON_AddItemToArray(sizes, so);
    }
    cJSON_AddItemToObject(root, "sizes", sizes);
    cJSON_AddStringToObject(pj, "generated", pt.generated);
    cJSON_AddStringToObject(pj, "command", prov->command);
    cJSON_AddStringToObject(pj, "database", prov->db);
    cJSON_AddStringToObject(pj, "experiments", pt.experiments.data ? pt.experiments.data : "");
    cJSON_AddNumberToObject(pj, "cells", (double)pt.cells);
    cJSON_AddStringToObject(pj, "hardware", pt.hardware.len ? pt.hardware.data : "");
    cJSON_AddStringToObject(pj, "versions", pt.versions.len ? pt.versions.data : "");
    cJSON_AddStringToObject(pj, "accuracy", pt.loo);
    cJSON_AddItemToObject(root, "provenance", pj);
    text = tk_json_print(root);
    cJSON_Delete(root);
    prov_release(&pt);
    return text;
}

/* Writes s for a <script> element: "</" would end it early, so it is written "<\/" (the same
 * string to JSON and JavaScript). */
static void script_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (s[0] == '<' && s[1] == '/') {
            fputs("<\\/", f);
            s++;
        } else {
            fputc(*s, f);
        }
    }
}

void tk_calc_print_page(FILE *f, const struct tk_calc_data *d,
                        const struct tk_calc_provenance *prov)
{
    char *json = tk_calc_data_json(d, prov);

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>TurboKube control-plane calculator</title>\n<style>\n"
          "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;"
          "padding:0 1em}\n"
          "label{display:inline-block;margin-right:1.2em}input,select{font:inherit;width:8em}\n"
          "#result{margin-top:1.5em;padding:1em;border:1px solid #ccc;border-radius:6px}\n"
          "#rec-size{font-size:1.6em;font-weight:700}.kind{padding:1px 6px;border-radius:4px;"
          "background:#e8f0fe}.kind.extrapolated{background:#fdebd0}.kind.none{background:#f8d7da}"
          "\ntable{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;"
          "padding:3px 8px;text-align:left}td.n{text-align:right}\n"
          "small,.muted{color:#666}code{font-size:.9em}\n</style></head><body>\n"
          "<h1>Control-plane sizing calculator</h1>\n"
          "<p class=\"muted\">Backed by measurements: every answer names the cells it comes "
          "from. Between measured loads it interpolates; beyond them it extrapolates from a "
          "fitted cost model and says so.</p>\n"
          "<form id=\"inputs\" onsubmit=\"return false\">\n"
          "<label>nodes <input id=\"nodes\" type=\"number\" min=\"1\" value=\"1000\"></label>\n"
          "<label>pods <input id=\"pods\" type=\"number\" min=\"0\" value=\"10000\"></label>\n"
          "<label>churn/s <input id=\"churn\" type=\"number\" min=\"0\" step=\"any\" "
          "value=\"0\"></label>\n"
          "<label>topology <select id=\"topology\"><option value=\"\">any</option></select>"
          "</label>\n</form>\n"
          "<div id=\"result\" data-found=\"\" data-size=\"\" data-topology=\"\" data-kind=\"\">"
          "<noscript>This calculator needs JavaScript; `turbokube calculator` answers the same "
          "on the command line.</noscript></div>\n"
          "<h2>Provenance</h2>\n<dl id=\"provenance\"></dl>\n"
          "<script type=\"application/json\" id=\"tk-data\">",
          f);
    script_text(f, json);
    fputs("</script>\n<script>\n", f);
    script_text(f, tk_calc_page_js());
    fputs("</script>\n</body></html>\n", f);
    free(json);
}
