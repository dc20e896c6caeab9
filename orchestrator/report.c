#include "report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "calc.h"
#include "prom.h"

#define MAX_LATENCY_SERIES 8
#define T_AXIS "seconds since the cell started"

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

/* ---- small pieces ----------------------------------------------------------------------- */

int tk_report_label(const char *labels, const char *name, char *out, size_t n)
{
    const char *p = labels;
    size_t nl = strlen(name);

    out[0] = '\0';
    while (p && *p) {
        const char *eq = strchr(p, '=');
        int match;
        size_t k = 0;
        if (!eq || eq[1] != '"')
            return -1;
        match = (size_t)(eq - p) == nl && !strncmp(p, name, nl);
        p = eq + 2;
        while (*p && *p != '"') {
            char ch = *p;
            if (ch == '\\' && p[1]) {
                p++;
                ch = *p == 'n' ? '\n' : *p;
            }
            if (match && k + 1 < n)
                out[k++] = ch;
            p++;
        }
        if (match) {
            out[k] = '\0';
            return 0;
        }
        if (*p == '"')
            p++;
        if (*p == ',')
            p++;
    }
    return -1;
}

void tk_report_series_add(struct tk_report_series *s, double x, double y)
{
    if (isnan(y) || isnan(x) || isinf(y))
        return;
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? 2 * s->alloc : 32;
        s->x = tk_xrealloc(s->x, s->alloc * sizeof(double));
        s->y = tk_xrealloc(s->y, s->alloc * sizeof(double));
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

void tk_report_series_release(struct tk_report_series *s)
{
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof(*s));
}

static void esc(FILE *f, const char *s)
{
    tk_res_html_escape(f, s);
}

static double nice_step(double range)
{
    double raw = range / 4, mag, r;
    if (!(raw > 0))
        return 1;
    mag = pow(10, floor(log10(raw)));
    r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10) * mag;
}

static void axis_label(const char *unit, double v, char *out, size_t n)
{
    if (!strcmp(unit, "s")) {
        tk_res_fig_format(TK_FIG_MUTATING_P99, v, out, n);
    } else if (!strcmp(unit, "bytes")) {
        tk_res_bytes_format(v, out, n);
    } else if (!strcmp(unit, "%")) {
        snprintf(out, n, "%.0f%%", v * 100);
    } else {
        snprintf(out, n, "%g", v);
    }
}

/* ---- the line chart --------------------------------------------------------------------- */

void tk_report_svg_lines(FILE *f, const char *id, const char *title, const char *xlabel,
                         const char *yunit, const struct tk_report_series *s, size_t ns,
                         const struct tk_report_mark *marks, size_t nmarks)
{
    const double W = 760, H = 280, L = 64, R = 190, T = 30, B = 40;
    const double pw = W - L - R, ph = H - T - B;
    double xmax = 0, ymax = 0, step;
    size_t points = 0;
    char lab[32];

    for (size_t i = 0; i < ns; i++)
        for (size_t k = 0; k < s[i].n; k++) {
            points++;
            if (s[i].x[k] > xmax)
                xmax = s[i].x[k];
            if (s[i].y[k] > ymax)
                ymax = s[i].y[k];
        }
    for (size_t i = 0; i < nmarks; i++)
        if (marks[i].x > xmax)
            xmax = marks[i].x;
    fprintf(f, "<figure class=\"chart\" id=\"%s\"><figcaption>", id);
    esc(f, title);
    fputs("</figcaption>\n", f);
    if (!points) {
        fputs("<p class=\"empty\">no samples recorded</p></figure>\n", f);
        return;
    }
    if (!(xmax > 0))
        xmax = 1;
    if (!strcmp(yunit, "%") && ymax <= 1) {
        ymax = 1; /* a share: the whole axis */
        step = 0.25;
    } else {
        step = nice_step(ymax > 0 ? ymax : 1);
        ymax = ceil((ymax > 0 ? ymax : 1) * 1.05 / step) * step;
    }
    fprintf(f,
            "<svg class=\"tk-chart\" data-chart=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\">\n",
            id, W, H, W, H);
    /* grid and y axis */
    for (double v = 0; v <= ymax + step / 2; v += step) {
        double y = T + ph - v / ymax * ph;
        axis_label(yunit, v, lab, sizeof(lab));
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                L, y, L + pw, y, L - 6, y + 4, lab);
    }
    {
        double xs = nice_step(xmax);
        for (double v = 0; v <= xmax + xs / 100; v += xs) {
            double x = L + v / xmax * pw;
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%gs"
                    "</text>\n",
                    x, T + ph, x, T + ph + 4, x, T + ph + 16, v);
        }
    }
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
            L, T, L, T + ph, L, T + ph, L + pw, T + ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">", L + pw / 2,
            H - 6);
    esc(f, xlabel);
    fputs("</text>\n", f);
    /* series */
    for (size_t i = 0; i < ns; i++) {
        const char *color = palette[i % NPALETTE];
        if (!s[i].n)
            continue;
        fprintf(f, "<polyline class=\"series\" data-series=\"");
        esc(f, s[i].name);
        fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
        for (size_t k = 0; k < s[i].n; k++)
            fprintf(f, "%s%.1f,%.1f", k ? " " : "", L + s[i].x[k] / xmax * pw,
                    T + ph - fmin(s[i].y[k], ymax) / ymax * ph);
        fputs("\"/>\n", f);
        if (s[i].n == 1)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    L + s[i].x[0] / xmax * pw, T + ph - fmin(s[i].y[0], ymax) / ymax * ph, color);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">",
                L + pw + 12, T + 8 + 16.0 * (double)i, L + pw + 30, T + 8 + 16.0 * (double)i, color,
                L + pw + 34, T + 12 + 16.0 * (double)i);
        esc(f, s[i].name);
        fputs("</text>\n", f);
    }
    /* failure points */
    for (size_t i = 0; i < nmarks; i++) {
        double x = L + marks[i].x / xmax * pw;
        fprintf(f,
                "<line class=\"failure %s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"><title>",
                marks[i].hard ? "hard" : "soft", x, T, x, T + ph,
                marks[i].hard ? "#c00000" : "#e08000");
        esc(f, marks[i].label);
        fputs("</title></line>\n", f);
    }
    fputs("</svg></figure>\n", f);
}

/* ---- per-cell data ---------------------------------------------------------------------- */

struct hist_row {
    size_t series;
    int64_t t_ms;
    double le, value;
};

struct latency_data {
    struct tk_report_series *s;
    size_t ns, alloc;
    double *weight; /* requests per series, to keep the busiest */
    struct hist_row *rows;
    size_t nrows, ralloc;
};

static size_t series_index(struct tk_report_series **s, size_t *ns, size_t *alloc, double **weight,
                           const char *name)
{
    for (size_t i = 0; i < *ns; i++)
        if (!strcmp((*s)[i].name, name))
            return i;
    if (*ns == *alloc) {
        *alloc = *alloc ? 2 * *alloc : 8;
        *s = tk_xrealloc(*s, *alloc * sizeof(**s));
        if (weight)
            *weight = tk_xrealloc(*weight, *alloc * sizeof(double));
    }
    memset(&(*s)[*ns], 0, sizeof(**s));
    snprintf((*s)[*ns].name, sizeof((*s)[*ns].name), "%s", name);
    if (weight)
        (*weight)[*ns] = 0;
    return (*ns)++;
}

static int keep_call(const char *labels, char *name, size_t n)
{
    char verb[32], res[64], sub[32];
    tk_report_label(labels, "verb", verb, sizeof(verb));
    tk_report_label(labels, "resource", res, sizeof(res));
    tk_report_label(labels, "subresource", sub, sizeof(sub));
    if (!verb[0] || !strcasecmp(verb, "WATCH") || !strcasecmp(verb, "CONNECT") ||
        !strcmp(sub, "log") || !strcmp(sub, "exec") || !strcmp(sub, "portforward") ||
        !strcmp(sub, "attach") || !strcmp(sub, "proxy"))
        return 0;
    if (snprintf(name, n, "%s %s%s%s", verb, res, sub[0] ? "/" : "", sub) >= (int)n && n > 0)
        name[n - 1] = '\0'; /* a chart legend may be cut */
    return 1;
}

static int hist_cmp(const void *a, const void *b)
{
    const struct hist_row *x = a, *y = b;
    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    return x->le < y->le ? -1 : x->le > y->le;
}

/* p99 per interval from cumulative bucket rows (sorted by series, t, le): per timestamp the
 * counts of equal le are summed (series differing in other labels), then each interval is
 * the increase from the timestamp before (a decrease is a reset: the new value counts). */
static void buckets_to_series(struct latency_data *ld, int64_t t0)
{
    size_t i = 0;
    qsort(ld->rows, ld->nrows, sizeof(*ld->rows), hist_cmp);
    while (i < ld->nrows) {
        size_t ser = ld->rows[i].series, prev_n = 0;
        double prev_le[64], prev_c[64];
        while (i < ld->nrows && ld->rows[i].series == ser) {
            int64_t t = ld->rows[i].t_ms;
            double le[64], c[64], d[64];
            size_t n = 0;
            int reset = 0;
            for (; i < ld->nrows && ld->rows[i].series == ser && ld->rows[i].t_ms == t; i++) {
                if (n && le[n - 1] == ld->rows[i].le) {
                    c[n - 1] += ld->rows[i].value;
                } else if (n < 64) {
                    le[n] = ld->rows[i].le;
                    c[n++] = ld->rows[i].value;
                }
            }
            if (prev_n) {
                for (size_t k = 0; k < n; k++) {
                    double before = 0;
                    for (size_t j = 0; j < prev_n; j++)
                        if (prev_le[j] == le[k])
                            before = prev_c[j];
                    d[k] = c[k] - before;
                    if (d[k] < 0)
                        reset = 1;
                }
                if (reset)
                    memcpy(d, c, n * sizeof(double));
                if (n && d[n - 1] > 0) {
                    ld->weight[ser] += d[n - 1];
                    tk_report_series_add(&ld->s[ser], (double)(t - t0) / 1000,
                                         tk_prom_histogram_quantile(0.99, le, d, n));
                }
            }
            memcpy(prev_le, le, n * sizeof(double));
            memcpy(prev_c, c, n * sizeof(double));
            prev_n = n;
        }
    }
}

static int read_latency(sqlite3 *db, const struct tk_res_cell *c, struct latency_data *ld,
                        struct tk_err *err)
{
    static const char *const gauges[] = {"apiserver_request_sli_p99_seconds",
                                         "apiserver_request_p99_seconds"};
    static const char *const buckets[] = {"apiserver_request_sli_duration_seconds_bucket",
                                          "apiserver_request_duration_seconds_bucket"};
    sqlite3_stmt *st = NULL;
    int rc = 0;

    /* the first kind present wins: SLI gauges, plain gauges, SLI buckets, plain buckets */
    for (int k = 0; k < 4 && ld->ns == 0 && !rc; k++) {
        const char *metric = k < 2 ? gauges[k] : buckets[k - 2];
        if (sqlite3_prepare_v2(db,
                               "SELECT t_ms, labels, value FROM samples WHERE cell = ? AND "
                               "metric = ? ORDER BY t_ms",
                               -1, &st, NULL) != SQLITE_OK)
            return tk_err_set(err, TK_EIO, "reading samples: %s", sqlite3_errmsg(db));
        sqlite3_bind_int64(st, 1, c->row);
        sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *labels = (const char *)sqlite3_column_text(st, 1);
            char name[96], le[32];
            size_t i;
            if (sqlite3_column_type(st, 2) == SQLITE_NULL || !keep_call(labels, name, sizeof(name)))
                continue;
            i = series_index(&ld->s, &ld->ns, &ld->alloc, &ld->weight, name);
            if (k < 2) {
                ld->weight[i] += 1;
                tk_report_series_add(&ld->s[i],
                                     (double)(sqlite3_column_int64(st, 0) - c->started_ms) / 1000,
                                     sqlite3_column_double(st, 2));
                continue;
            }
            if (tk_report_label(labels, "le", le, sizeof(le)))
                continue;
            if (ld->nrows == ld->ralloc) {
                ld->ralloc = ld->ralloc ? 2 * ld->ralloc : 256;
                ld->rows = tk_xrealloc(ld->rows, ld->ralloc * sizeof(*ld->rows));
            }
            ld->rows[ld->nrows++] = (struct hist_row){
                i, sqlite3_column_int64(st, 0), !strcmp(le, "+Inf") ? INFINITY : strtod(le, NULL),
                sqlite3_column_double(st, 2)};
        }
        rc = rc == SQLITE_DONE ? 0
                               : tk_err_set(err, TK_EIO, "reading samples: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        st = NULL;
        if (k >= 2 && ld->nrows)
            buckets_to_series(ld, c->started_ms);
    }
    return rc;
}

struct usage_data {
    struct tk_report_series *cpu, *mem;
    size_t ncpu, nmem, acpu, amem;
};

/* Which name a source's usage goes under: agent-3 -> agents; cgroups by group. */
static void usage_name(const char *source, const char *labels, char *out, size_t n)
{
    char group[64];
    if (!strcmp(source, "cgroup") && !tk_report_label(labels, "group", group, sizeof(group)))
        snprintf(out, n, "cgroup:%s", group);
    else if (!strncmp(source, "agent", 5))
        snprintf(out, n, "agents");
    else
        snprintf(out, n, "%s", source);
}

static int read_usage(sqlite3 *db, const struct tk_res_cell *c, struct usage_data *u,
                      struct tk_err *err)
{
    /* per source: /proc figures when recorded, else the process's own metrics; values of
     * several sources under one name (the agents) at one time are added */
    static const char sql[] =
        "WITH pref AS (SELECT source, max(metric IN ('proc_cpu_seconds', 'proc_rss_bytes')) "
        "AS has_proc FROM samples "
        "WHERE cell = ?1 AND metric IN ('proc_cpu_seconds', 'proc_rss_bytes', "
        "'process_cpu_seconds_total', 'process_resident_memory_bytes') GROUP BY source) "
        "SELECT s.t_ms, s.source, s.labels, "
        "CASE WHEN s.metric IN ('proc_cpu_seconds', 'process_cpu_seconds_total', "
        "'cgroup_cpu_seconds') THEN 0 ELSE 1 END AS kind, s.value FROM samples s "
        "LEFT JOIN pref p ON p.source = s.source WHERE s.cell = ?1 AND s.value IS NOT NULL AND "
        "(s.metric IN ('cgroup_cpu_seconds', 'cgroup_memory_bytes') OR "
        "(p.has_proc AND s.metric IN ('proc_cpu_seconds', 'proc_rss_bytes')) OR "
        "(NOT p.has_proc AND s.metric IN ('process_cpu_seconds_total', "
        "'process_resident_memory_bytes'))) ORDER BY kind, s.source, s.labels, s.t_ms";
    sqlite3_stmt *st = NULL;
    struct tk_report_series raw = {0};
    char cur_key[200] = "", cur_name[96] = "";
    int cur_kind = -1, rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return tk_err_set(err, TK_EIO, "reading samples: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, c->row);
    for (;;) {
        char key[200], name[96];
        const char *source = NULL, *labels = NULL;
        int kind = -1;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            source = (const char *)sqlite3_column_text(st, 1);
            labels = (const char *)sqlite3_column_text(st, 2);
            kind = sqlite3_column_int(st, 3);
            snprintf(key, sizeof(key), "%d|%s|%s", kind, source, labels ? labels : "");
        }
        if (rc != SQLITE_ROW || strcmp(key, cur_key)) {
            /* one source's samples are complete: turn them into its series */
            if (raw.n) {
                struct tk_report_series **set = cur_kind == 0 ? &u->cpu : &u->mem;
                size_t *ns = cur_kind == 0 ? &u->ncpu : &u->nmem;
                size_t *al = cur_kind == 0 ? &u->acpu : &u->amem;
                size_t i = series_index(set, ns, al, NULL, cur_name);
                struct tk_report_series *dst = &(*set)[i];
                for (size_t k = cur_kind == 0 ? 1 : 0; k < raw.n; k++) {
                    double v = raw.y[k];
                    size_t j;
                    if (cur_kind == 0) {
                        double dt = raw.x[k] - raw.x[k - 1];
                        v = dt > 0
                                ? (raw.y[k] >= raw.y[k - 1] ? raw.y[k] - raw.y[k - 1] : raw.y[k]) /
                                      dt
                                : NAN;
                    }
                    /* add to a value at the same time (several agents), else append */
                    for (j = 0; j < dst->n && dst->x[j] != raw.x[k]; j++)
                        ;
                    if (j < dst->n)
                        dst->y[j] += v;
                    else
                        tk_report_series_add(dst, raw.x[k], v);
                }
            }
            raw.n = 0;
            if (rc != SQLITE_ROW)
                break;
            snprintf(cur_key, sizeof(cur_key), "%s", key);
            usage_name(source, labels ? labels : "", name, sizeof(name));
            snprintf(cur_name, sizeof(cur_name), "%s", name);
            cur_kind = kind;
        }
        tk_report_series_add(&raw, (double)(sqlite3_column_int64(st, 0) - c->started_ms) / 1000,
                             sqlite3_column_double(st, 4));
    }
    sqlite3_finalize(st);
    tk_report_series_release(&raw);
    if (rc != SQLITE_DONE)
        return tk_err_set(err, TK_EIO, "reading samples: %s", sqlite3_errmsg(db));
    return 0;
}

/* ---- sections --------------------------------------------------------------------------- */

static void fmt_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!ms || !gmtime_r(&t, &tm))
        snprintf(out, n, "-");
    else
        strftime(out, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static int cell_section(FILE *f, sqlite3 *db, const struct tk_res_set *s, size_t idx,
                        const struct tk_report_opts *o, struct tk_err *err)
{
    const struct tk_res_cell *c = &s->cells[idx];
    struct latency_data ld = {0};
    struct usage_data ud = {0};
    struct tk_report_mark *marks = NULL;
    size_t nmarks = 0;
    sqlite3_stmt *st = NULL;
    char why[160] = "", a[40], b[40], id[64];
    int ok = tk_res_cell_ok(c, o->headroom, why, sizeof(why)), rc;

    fprintf(f, "<section class=\"cell\" id=\"cell-%s\"><h3>cell %s <small>", c->cell_id,
            c->cell_id);
    esc(f, c->experiment);
    fprintf(f, ", index %lld, repeat %d</small></h3>\n<p class=\"verdict %s\">", (long long)c->idx,
            c->repeat, ok ? "ok" : "fail");
    fprintf(f, "%s", tk_cell_status_name(c->status));
    if (c->exit_reason) {
        fputs(": ", f);
        esc(f, c->exit_reason);
    }
    fputs(" &middot; ", f);
    if (ok)
        fprintf(f, "met every SLO with %.0f%% headroom", o->headroom * 100);
    else {
        fputs("did not meet every SLO: ", f);
        esc(f, why);
    }
    fprintf(f, "</p>\n<p>%lld nodes, %lld pods, churn %g/s &middot; size ", (long long)c->nodes,
            (long long)c->pods, c->churn_per_s);
    esc(f, c->size);
    fputs(" &middot; topology ", f);
    esc(f, c->topology);
    fmt_time(c->started_ms, a, sizeof(a));
    fmt_time(c->finished_ms, b, sizeof(b));
    fprintf(f, " &middot; %s to %s</p>\n", a, b);
    {
        fputs("<table class=\"figs\"><tr>", f);
        for (int k = 0; k < TK_FIG_N; k++) {
            fputs("<th>", f);
            esc(f, tk_res_fig_info((enum tk_res_fig)k)->label);
            fputs("</th>", f);
        }
        fputs("</tr><tr>", f);
        for (int k = 0; k < TK_FIG_N; k++) {
            tk_res_fig_format((enum tk_res_fig)k, c->fig[k], a, sizeof(a));
            fprintf(f, "<td>%s</td>", a);
        }
        fputs("</tr></table>\n", f);
    }

    /* failure points: listed, and marked on every timeline */
    if (sqlite3_prepare_v2(db,
                           "SELECT t_ms, kind, what, value, threshold, detail FROM failure_points "
                           "WHERE cell = ? ORDER BY t_ms, id",
                           -1, &st, NULL) != SQLITE_OK) {
        tk_err_set(err, TK_EIO, "reading failure points: %s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_int64(st, 1, c->row);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        const char *what = (const char *)sqlite3_column_text(st, 2);
        const char *detail = (const char *)sqlite3_column_text(st, 5);
        struct tk_buf lb;
        double t = (double)(sqlite3_column_int64(st, 0) - c->started_ms) / 1000;
        if (!nmarks)
            fputs("<ul class=\"failures\">", f);
        marks = tk_xrealloc(marks, (nmarks + 1) * sizeof(*marks));
        tk_buf_init(&lb, 0);
        tk_buf_printf(&lb, "%+.1fs %s: %s", t, kind ? kind : "?", what ? what : "?");
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            tk_buf_printf(&lb, " (%g", sqlite3_column_double(st, 3));
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            tk_buf_printf(&lb, "%s > %g", sqlite3_column_type(st, 3) != SQLITE_NULL ? "" : " (",
                          sqlite3_column_double(st, 4));
        if (sqlite3_column_type(st, 3) != SQLITE_NULL || sqlite3_column_type(st, 4) != SQLITE_NULL)
            tk_buf_puts(&lb, ")");
        if (detail)
            tk_buf_printf(&lb, " %s", detail);
        marks[nmarks] =
            (struct tk_report_mark){t, kind && !strcmp(kind, "hard"), tk_buf_detach(&lb)};
        fprintf(f, "<li class=\"%s\">", marks[nmarks].hard ? "hard" : "soft");
        esc(f, marks[nmarks].label);
        fputs("</li>", f);
        nmarks++;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (nmarks)
        fputs("</ul>\n", f);
    if (rc != SQLITE_DONE) {
        tk_err_set(err, TK_EIO, "reading failure points: %s", sqlite3_errmsg(db));
        goto done;
    }

    if (read_latency(db, c, &ld, err) || read_usage(db, c, &ud, err))
        goto done;
    /* the busiest latency series only */
    while (ld.ns > MAX_LATENCY_SERIES) {
        size_t low = 0;
        for (size_t i = 1; i < ld.ns; i++)
            if (ld.weight[i] < ld.weight[low])
                low = i;
        tk_report_series_release(&ld.s[low]);
        memmove(&ld.s[low], &ld.s[low + 1], (ld.ns - low - 1) * sizeof(*ld.s));
        memmove(&ld.weight[low], &ld.weight[low + 1], (ld.ns - low - 1) * sizeof(double));
        ld.ns--;
    }
    snprintf(id, sizeof(id), "latency-%s", c->cell_id);
    tk_report_svg_lines(f, id, "latency p99 per verb and resource, per scrape interval", T_AXIS,
                        "s", ld.s, ld.ns, marks, nmarks);
    snprintf(id, sizeof(id), "cpu-%s", c->cell_id);
    tk_report_svg_lines(f, id, "CPU per component (cores)", T_AXIS, "cores", ud.cpu, ud.ncpu, marks,
                        nmarks);
    snprintf(id, sizeof(id), "memory-%s", c->cell_id);
    tk_report_svg_lines(f, id, "memory per component (resident)", T_AXIS, "bytes", ud.mem, ud.nmem,
                        marks, nmarks);

    /* pod startup: the distribution through kube-burner's quantiles */
    {
        struct tk_report_series *cdf = NULL;
        size_t ncdf = 0, acdf = 0;
        if (sqlite3_prepare_v2(db,
                               "SELECT job, condition, min, p50, p95, p99, max FROM pod_latency "
                               "WHERE cell = ? ORDER BY job, condition",
                               -1, &st, NULL) != SQLITE_OK) {
            tk_err_set(err, TK_EIO, "reading pod latency: %s", sqlite3_errmsg(db));
            goto done;
        }
        sqlite3_bind_int64(st, 1, c->row);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            static const double q[] = {0, 0.5, 0.95, 0.99, 1};
            char name[128];
            size_t i;
            snprintf(name, sizeof(name), "%s %s", (const char *)sqlite3_column_text(st, 1),
                     (const char *)sqlite3_column_text(st, 0));
            i = series_index(&cdf, &ncdf, &acdf, NULL, name);
            for (int k = 0; k < 5; k++)
                if (sqlite3_column_type(st, 2 + k) != SQLITE_NULL)
                    tk_report_series_add(&cdf[i], sqlite3_column_double(st, 2 + k) / 1000, q[k]);
        }
        sqlite3_finalize(st);
        st = NULL;
        snprintf(id, sizeof(id), "podstartup-%s", c->cell_id);
        /* x is latency here, not time: a chart of its own kind */
        fprintf(f, "<div class=\"cdf\">");
        tk_report_svg_lines(f, id,
                            "pod startup: share of pods (y) started within x seconds, through "
                            "kube-burner's min/p50/p95/p99/max",
                            "seconds from creation", "%", cdf, ncdf, NULL, 0);
        fprintf(f, "</div>\n");
        for (size_t i = 0; i < ncdf; i++)
            tk_report_series_release(&cdf[i]);
        free(cdf);
    }
    fputs("</section>\n", f);
done:
    sqlite3_finalize(st);
    for (size_t i = 0; i < ld.ns; i++)
        tk_report_series_release(&ld.s[i]);
    free(ld.s);
    free(ld.weight);
    free(ld.rows);
    for (size_t i = 0; i < ud.ncpu; i++)
        tk_report_series_release(&ud.cpu[i]);
    for (size_t i = 0; i < ud.nmem; i++)
        tk_report_series_release(&ud.mem[i]);
    free(ud.cpu);
    free(ud.mem);
    for (size_t i = 0; i < nmarks; i++)
        free((char *)marks[i].label);
    free(marks);
    return err->code;
}

/* A colour from green (lo) through yellow to red (hi). */
static void heat_colour(double v, double lo, double hi, char *out, size_t n)
{
    double t = hi > lo ? (v - lo) / (hi - lo) : 0, r, g;
    if (t < 0)
        t = 0;
    if (t > 1)
        t = 1;
    r = t < 0.5 ? 2 * t : 1;
    g = t < 0.5 ? 1 : 2 * (1 - t);
    snprintf(out, n, "#%02x%02x%02x", (int)(90 + 160 * r), (int)(90 + 140 * g), 110);
}

static void heat_map(FILE *f, const struct tk_res_set *all, const char *experiment,
                     const struct tk_report_opts *o)
{
    struct tk_res_set sub = {tk_xcalloc(all->n ? all->n : 1, sizeof(struct tk_res_cell)), 0};
    struct tk_calc_data d;
    double *loads = NULL, lo = INFINITY, hi = -INFINITY;
    size_t nl = 0;
    enum tk_res_fig fig = o->heat_figure;
    const double CW = 120, CH = 30, LW = 170, TH = 60;

    /* this experiment's cells, viewed (not copied: sub borrows all's strings) */
    for (size_t i = 0; i < all->n; i++)
        if (!strcmp(all->cells[i].experiment, experiment))
            sub.cells[sub.n++] = all->cells[i];
    tk_calc_data_build(&sub, o->headroom, &d);
    loads = tk_xcalloc(d.npoints ? 3 * d.npoints : 3, sizeof(double));
    for (size_t k = 0; k < d.npoints; k++) {
        const struct tk_calc_point *p = &d.points[k];
        size_t j;
        for (j = 0; j < nl; j++)
            if (loads[3 * j] == p->nodes && loads[3 * j + 1] == p->pods &&
                loads[3 * j + 2] == p->churn)
                break;
        if (j == nl) {
            loads[3 * nl] = p->nodes;
            loads[3 * nl + 1] = p->pods;
            loads[3 * nl + 2] = p->churn;
            nl++;
        }
        if (!isnan(p->g.median[fig])) {
            lo = fmin(lo, p->g.median[fig]);
            hi = fmax(hi, p->g.median[fig]);
        }
    }
    /* rows by load */
    for (size_t i = 1; i < nl; i++)
        for (size_t j = i; j > 0; j--) {
            double *x = &loads[3 * (j - 1)], *y = &loads[3 * j], t;
            if (x[0] < y[0] || (x[0] == y[0] && (x[1] < y[1] || (x[1] == y[1] && x[2] <= y[2]))))
                break;
            for (int k = 0; k < 3; k++) {
                t = x[k];
                x[k] = y[k];
                y[k] = t;
            }
        }
    fprintf(f, "<section class=\"experiment\" id=\"exp-");
    esc(f, experiment);
    fputs("\"><h2>experiment ", f);
    esc(f, experiment);
    fputs("</h2>\n", f);
    if (!d.npoints) {
        fputs("<p class=\"empty\">no finished cells</p></section>\n", f);
        goto done;
    }
    fprintf(f,
            "<figure class=\"chart\"><figcaption>%s by load (rows) and control-plane size "
            "(columns), the median of the repeats; outlined: did not meet every SLO"
            "</figcaption>\n",
            tk_res_fig_info(fig)->label);
    fprintf(f,
            "<svg class=\"tk-heatmap\" data-figure=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\">\n",
            tk_res_fig_info(fig)->name, LW + CW * (double)d.nsizes + 10, TH + CH * (double)nl + 10,
            LW + CW * (double)d.nsizes + 10, TH + CH * (double)nl + 10);
    for (size_t z = 0; z < d.nsizes; z++) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">",
                LW + CW * ((double)z + 0.5), TH - 26);
        esc(f, d.sizes[z].size);
        fprintf(f,
                "</text><text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#666\" "
                "text-anchor=\"middle\">",
                LW + CW * ((double)z + 0.5), TH - 12);
        esc(f, d.sizes[z].topology);
        fputs("</text>\n", f);
    }
    for (size_t r = 0; r < nl; r++) {
        char lab[96];
        if (loads[3 * r + 2] > 0)
            snprintf(lab, sizeof(lab), "%.0f nodes, %.0f pods, %g/s", loads[3 * r],
                     loads[3 * r + 1], loads[3 * r + 2]);
        else
            snprintf(lab, sizeof(lab), "%.0f nodes, %.0f pods", loads[3 * r], loads[3 * r + 1]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                LW - 8, TH + CH * ((double)r + 0.5) + 4, lab);
        for (size_t z = 0; z < d.nsizes; z++) {
            const struct tk_calc_point *p = NULL;
            char col[16], val[32];
            for (size_t i = 0; i < d.sizes[z].npoints; i++) {
                const struct tk_calc_point *q = &d.points[d.sizes[z].points[i]];
                if (q->nodes == loads[3 * r] && q->pods == loads[3 * r + 1] &&
                    q->churn == loads[3 * r + 2])
                    p = q;
            }
            if (!p)
                continue;
            tk_res_fig_format(fig, p->g.median[fig], val, sizeof(val));
            if (isnan(p->g.median[fig]))
                snprintf(col, sizeof(col), "#eeeeee");
            else
                heat_colour(p->g.median[fig], lo, hi, col, sizeof(col));
            fprintf(f,
                    "<g class=\"heat%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"><title>",
                    p->g.ok ? "" : " fail", LW + CW * (double)z + 1, TH + CH * (double)r + 1,
                    CW - 2, CH - 2, col, p->g.ok ? "#ffffff" : "#000000", p->g.ok ? "1" : "2.5");
            fprintf(f, "%zu cell%s: ", p->g.n, p->g.n == 1 ? "" : "s");
            for (size_t m = 0; m < p->g.n; m++)
                fprintf(f, "%s ", sub.cells[p->g.members[m]].cell_id);
            if (!p->g.ok)
                esc(f, p->g.why);
            fprintf(f,
                    "</title></rect><text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
                    "text-anchor=\"middle\">%s%s</text></g>\n",
                    LW + CW * ((double)z + 0.5), TH + CH * ((double)r + 0.5) + 4, val,
                    p->g.ok ? "" : " \xe2\x9c\x97");
        }
    }
    fputs("</svg></figure>\n", f);
    {
        /* a link to each of the experiment's cells shown below */
        fputs("</section>\n", f);
    }
done:
    tk_calc_data_release(&d);
    free(loads);
    free(sub.cells); /* the cells themselves belong to all */
}

int tk_report_write(FILE *f, struct sqlite3 *db, const struct tk_res_set *s, const size_t *idx,
                    size_t n, const struct tk_report_opts *o, struct tk_err *err)
{
    char when[40];

    fmt_time(o->generated_ms, when, sizeof(when));
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>TurboKube report</title>\n<style>\n"
          "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1000px;"
          "color:#222;padding:0 1em}\nh2{border-bottom:1px solid #ccc;margin-top:2em}\n"
          "section.cell{border-top:1px solid #eee;margin-top:1.5em}\n"
          ".verdict.ok{color:#1b5e20}.verdict.fail{color:#b71c1c}\n"
          "table.figs{border-collapse:collapse;font-size:12px}table.figs td,table.figs th{"
          "border:1px solid #ddd;padding:2px 6px}\nul.failures li.hard{color:#b00}"
          "ul.failures li.soft{color:#a15c00}\nfigure{margin:1em 0}figcaption{font-weight:600;"
          "margin-bottom:.3em}\n.empty{color:#888}small{color:#666;font-weight:400}\n"
          "</style></head><body>\n<h1>TurboKube report</h1>\n<p class=\"provenance\">",
          f);
    fprintf(f, "%zu cell%s from <code>", n, n == 1 ? "" : "s");
    esc(f, o->db_path);
    fprintf(f, "</code>, generated %s by <code>", when);
    esc(f, o->command);
    fputs("</code></p>\n", f);

    /* experiments touched, in order of first appearance: their heat maps */
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= !strcmp(s->cells[idx[j]].experiment, s->cells[idx[i]].experiment);
        if (!seen)
            heat_map(f, s, s->cells[idx[i]].experiment, o);
    }
    fputs("<h2>cells</h2>\n<ul class=\"toc\">", f);
    for (size_t i = 0; i < n; i++) {
        const struct tk_res_cell *c = &s->cells[idx[i]];
        fprintf(f, "<li><a href=\"#cell-%s\">%s</a> ", c->cell_id, c->cell_id);
        esc(f, c->experiment);
        fprintf(f, ", %lld nodes, ", (long long)c->nodes);
        esc(f, c->size);
        fprintf(f, ", %s</li>", tk_cell_status_name(c->status));
    }
    fputs("</ul>\n", f);
    for (size_t i = 0; i < n; i++)
        if (cell_section(f, db, s, idx[i], o, err))
            return err->code;
    fputs("</body></html>\n", f);
    return 0;
}
