/* The sizing calculator: its choice on the recorded fixture (measured, interpolated,
 * extrapolated and bounded answers and their labels), the leave-one-out figure on data small
 * enough to work out by hand, the table in its three formats and the page. */
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "calc.h"
#include "cmdrun.h"
#include "json.h"
#include "results.h"
#include "results_fixture.h"
#include "store_read.h"
#include "tktest.h"

static const char *fixture(void)
{
    static char path[192];
    if (!path[0]) {
        struct tk_err err = {0};
        snprintf(path, sizeof(path), "%s", cr_path("fixture.db"));
        if (fx_build(path, &err)) {
            fprintf(stderr, "fixture: %s\n", err.msg);
            abort();
        }
    }
    return path;
}

#define DB "--db", (char *)fixture()

/* The fixture's median of a figure at (nodes, cores, memory): the wobbled model (the repeat
 * factors 0.98 and 1.02 average out). */
static double fx_median_mut(double nodes, double cores, double mem_gi)
{
    return fx_model_at(nodes, cores).mut * fx_wobble(nodes, cores, mem_gi);
}

struct loaded {
    sqlite3 *db;
    struct tk_res_set set;
    struct tk_calc_data data;
};

static int load(struct loaded *l)
{
    struct tk_err err = {0};
    memset(l, 0, sizeof(*l));
    if (tk_store_open_readonly(&l->db, fixture(), &err) || tk_res_load(l->db, NULL, &l->set, &err))
        return -1;
    tk_calc_data_build(&l->set, 0.2, &l->data);
    return 0;
}

static void unload(struct loaded *l)
{
    tk_calc_data_release(&l->data);
    tk_res_set_release(&l->set);
    tk_store_close_readonly(l->db);
}

static const char *chosen_size(const struct tk_calc_data *d, const struct tk_calc_rec *r)
{
    return r->found ? d->sizes[r->preds[r->chosen].size].size : "";
}

TK_TEST(data_pools_repeats_and_orders_sizes)
{
    struct loaded l;
    CHECK_INT(load(&l), 0);
    /* 24 sizing points + 2 topology points (the aborted cell is no measurement) */
    CHECK_INT(l.data.npoints, 26);
    CHECK_INT(l.data.nsizes, 7);
    CHECK_STR(l.data.sizes[0].size, "2c/8Gi");
    CHECK_STR(l.data.sizes[1].size, "2c/16Gi");
    CHECK_STR(l.data.sizes[2].size, "4c/8Gi");
    CHECK_STR(l.data.sizes[3].size, "4c/16Gi");
    CHECK_STR(l.data.sizes[4].size, "cp:4c/8Gi,etcd:2c/4Gi"); /* 6 cores in all */
    CHECK_STR(l.data.sizes[6].size, "8c/16Gi");
    CHECK_INT(l.data.sizes[0].npoints, 4);
    CHECK_INT(l.data.points[l.data.sizes[0].points[3]].nodes, 2000);
    CHECK_INT(l.data.points[l.data.sizes[0].points[3]].g.n, 2);
    CHECK(!l.data.points[l.data.sizes[0].points[3]].g.ok);
    CHECK_INT(l.data.sizes[4].npoints, 2);
    CHECK_NEAR(l.data.slo_s[TK_FIG_MUTATING_P99], 1, 0);
    CHECK_NEAR(l.data.slo_s[TK_FIG_POD_STARTUP_P99], 5, 0);
    unload(&l);
}

TK_TEST(measured_point)
{
    struct loaded l;
    struct tk_calc_load ld = {1000, 10000, 0};
    struct tk_calc_rec r;
    struct tk_err err = {0};
    const struct tk_calc_pred *p;

    CHECK_INT(load(&l), 0);
    CHECK_INT(tk_calc_recommend(&l.data, &ld, NULL, &r, &err), 0);
    CHECK(r.found);
    CHECK_STR(chosen_size(&l.data, &r), "2c/8Gi");
    p = &r.preds[r.chosen];
    CHECK_INT(p->overall, TK_CALC_MEASURED);
    CHECK_NEAR(p->value[TK_FIG_MUTATING_P99], fx_median_mut(1000, 2, 8), 1e-12);
    CHECK(p->spread[TK_FIG_MUTATING_P99] > 0);
    tk_calc_rec_release(&r);
    unload(&l);
}

TK_TEST(interpolation_between_measured_loads)
{
    struct loaded l;
    struct tk_calc_load ld = {1500, 15000, 0};
    struct tk_calc_rec r;
    struct tk_err err = {0};
    const struct tk_calc_pred *p;
    double lo = fx_median_mut(1000, 4, 8), hi = fx_median_mut(2000, 4, 8);

    CHECK_INT(load(&l), 0);
    CHECK_INT(tk_calc_recommend(&l.data, &ld, NULL, &r, &err), 0);
    CHECK(r.found);
    /* 2 cores: 0.64 s at 1000 and 1.24 s at 2000 nodes make about 0.94 s > 0.8 s at 1500;
     * 4c/8Gi: about 0.49 s and memory at 71 % of 8Gi */
    CHECK_STR(chosen_size(&l.data, &r), "4c/8Gi");
    CHECK_INT(r.chosen, 2);
    p = &r.preds[r.chosen];
    CHECK_INT(p->overall, TK_CALC_INTERPOLATED);
    CHECK_INT(p->kind[TK_FIG_MUTATING_P99], TK_CALC_INTERPOLATED);
    /* halfway in nodes and pods: t = 1/2 */
    CHECK_NEAR(p->value[TK_FIG_MUTATING_P99], lo + 0.5 * (hi - lo), 1e-12);
    CHECK(p->value[TK_FIG_MEMORY_UTIL] < 0.8 && p->value[TK_FIG_MEMORY_UTIL] > 0.6);
    CHECK_NEAR(p->lo[TK_FIG_MUTATING_P99] != SIZE_MAX, 1, 0);
    CHECK_INT(l.data.points[p->lo[TK_FIG_MUTATING_P99]].nodes, 1000);
    CHECK_INT(l.data.points[p->hi[TK_FIG_MUTATING_P99]].nodes, 2000);
    CHECK(!r.preds[0].ok);
    CHECK_CONTAINS(r.preds[0].why, "interpolated mutating p99");
    tk_calc_rec_release(&r);
    unload(&l);
}

TK_TEST(extrapolation_beyond_measured_loads)
{
    struct loaded l;
    struct tk_calc_load ld = {3000, 30000, 0};
    struct tk_calc_rec r;
    struct tk_err err = {0};
    const struct tk_calc_pred *p;

    CHECK_INT(load(&l), 0);
    CHECK_INT(tk_calc_recommend(&l.data, &ld, NULL, &r, &err), 0);
    CHECK(r.found);
    CHECK_STR(chosen_size(&l.data, &r), "8c/16Gi");
    p = &r.preds[r.chosen];
    CHECK_INT(p->overall, TK_CALC_EXTRAPOLATED);
    /* the model is linear in nodes: 0.04 + 0.00015 x 3000, give or take the 1 % wobble */
    CHECK_NEAR(p->value[TK_FIG_MUTATING_P99], 0.49, 0.49 * 0.02);
    CHECK(p->fit_error[TK_FIG_MUTATING_P99] > 0 && p->fit_error[TK_FIG_MUTATING_P99] < 0.02);
    CHECK_INT(p->fit_points[TK_FIG_MUTATING_P99], 4);
    CHECK_NEAR(p->value[TK_FIG_PEAK_MEMORY], (300 + 400 + 6000 + 4500) * FX_MI,
               (300 + 400 + 6000 + 4500) * FX_MI * 0.02);
    CHECK_INT(p->unmodelled, 0); /* beyond in pods too, but at the 10 per node measured */
    /* the sizes before it, and why */
    CHECK_INT(r.chosen, 6);
    CHECK_CONTAINS(r.preds[0].why, "failed at 2000 nodes, 20000 pods");
    CHECK_CONTAINS(r.preds[0].why, "slo:mutating POST pods");
    CHECK_CONTAINS(r.preds[2].why, "memory 9"); /* 4c/8Gi at 2000 nodes: 92 % of the host */
    CHECK_CONTAINS(r.preds[3].why, "extrapolated mutating p99"); /* 4c/16Gi: about 0.94 s */
    tk_calc_rec_release(&r);
    unload(&l);
}

TK_TEST(below_the_smallest_load_and_beyond_everything)
{
    struct loaded l;
    struct tk_calc_load small = {50, 500, 0}, huge = {5000, 150000, 0}, churn = {1000, 10000, 20};
    struct tk_calc_rec r;
    struct tk_err err = {0};

    CHECK_INT(load(&l), 0);
    CHECK_INT(tk_calc_recommend(&l.data, &small, NULL, &r, &err), 0);
    CHECK_STR(chosen_size(&l.data, &r), "2c/8Gi");
    CHECK_INT(r.preds[r.chosen].overall, TK_CALC_EXTRAPOLATED);
    /* never above what the smallest measured load showed */
    CHECK(r.preds[r.chosen].value[TK_FIG_MUTATING_P99] <=
          l.data.points[l.data.sizes[0].points[0]].g.median[TK_FIG_MUTATING_P99]);
    tk_calc_rec_release(&r);

    CHECK_INT(tk_calc_recommend(&l.data, &huge, NULL, &r, &err), 0);
    CHECK(!r.found);
    CHECK_INT(r.npreds, 7);
    CHECK_CONTAINS(r.preds[6].why, "extrapolated memory utilisation");
    tk_calc_rec_release(&r);

    /* nothing measured churns: no answer rather than a guess */
    CHECK_INT(tk_calc_recommend(&l.data, &churn, NULL, &r, &err), 0);
    CHECK(!r.found);
    CHECK_CONTAINS(r.preds[6].why, "churn was never varied");
    tk_calc_rec_release(&r);
    unload(&l);
}

TK_TEST(topology_filter)
{
    struct loaded l;
    struct tk_calc_load ld = {800, 8000, 0};
    struct tk_calc_rec r;
    struct tk_err err = {0};

    CHECK_INT(load(&l), 0);
    CHECK_INT(tk_calc_recommend(&l.data, &ld, "dedicated-etcd", &r, &err), 0);
    CHECK(r.found);
    CHECK_STR(chosen_size(&l.data, &r), "cp:4c/8Gi,etcd:2c/4Gi");
    CHECK_INT(r.preds[r.chosen].overall, TK_CALC_INTERPOLATED);
    CHECK_INT(r.npreds, 1);
    tk_calc_rec_release(&r);
    CHECK_INT(tk_calc_recommend(&l.data, &ld, "offloaded", &r, &err), TK_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "there are: colocated, dedicated-etcd");
    tk_calc_rec_release(&r);
    unload(&l);
}

/* ---- leave-one-out on data worked out by hand ---------------------------------------------- */

static void add_cell(struct tk_res_set *s, double nodes, double p99)
{
    struct tk_res_cell *c = &s->cells[s->n++];
    memset(c, 0, sizeof(*c));
    c->experiment = tk_xstrdup("hand");
    snprintf(c->cell_id, sizeof(c->cell_id), "%012d", (int)nodes);
    snprintf(c->config_id, sizeof(c->config_id), "%012d", (int)nodes);
    c->status = TK_CELL_COMPLETE;
    snprintf(c->topology, sizeof(c->topology), "colocated");
    snprintf(c->size, sizeof(c->size), "2c/8Gi");
    c->cpu_milli = 2000;
    c->memory_bytes = 8LL << 30;
    c->nodes = (int64_t)nodes;
    c->pods = (int64_t)nodes * 10;
    for (int f = 0; f < TK_FIG_NLATENCY; f++)
        c->slo_s[f] = 1;
    for (int f = 0; f < TK_FIG_N; f++)
        c->fig[f] = NAN;
    c->fig[TK_FIG_MUTATING_P99] = p99;
}

TK_TEST(leave_one_out_by_hand)
{
    struct tk_res_set s = {tk_xcalloc(4, sizeof(struct tk_res_cell)), 0};
    struct tk_calc_data d;
    struct tk_calc_loo loo;
    char text[600];

    add_cell(&s, 100, 0.1);
    add_cell(&s, 200, 0.3);
    add_cell(&s, 300, 0.4);
    /* a provider kubeconfig cell has no size: it is no point of any size */
    add_cell(&s, 250, 9.0);
    s.cells[3].cpu_milli = s.cells[3].memory_bytes = 0;
    s.cells[3].size[0] = '\0';
    tk_calc_data_build(&s, 0.2, &d);
    CHECK_INT(d.nsizes, 1);
    CHECK_INT(d.npoints, 3);
    tk_calc_loo(&d, &loo);
    /* without 100: the line through (200, 0.3) and (300, 0.4) gives 0.2, error 100 %;
     * without 200: halfway between 0.1 and 0.4 is 0.25, error 1/6;
     * without 300: the line through (100, 0.1) and (200, 0.3) gives 0.5, error 25 % */
    CHECK_INT(loo.n[0], 3);
    CHECK_INT(loo.n_extrapolated[0], 2);
    CHECK_NEAR(loo.median_error[0], 0.25, 1e-12);
    CHECK_NEAR(loo.max_error[0], 1.0, 1e-12);
    CHECK_INT(loo.n[1], 0);
    CHECK(isnan(loo.median_error[1]));
    tk_calc_loo_format(&loo, text, sizeof(text));
    CHECK_CONTAINS(text, "mutating p99 median 25.0%, max 100.0% over 3 points (2 extrapolated)");
    CHECK_CONTAINS(text, "pod startup p99: no point could be predicted");

    /* the fit itself: an exact line through two points has no error estimate */
    {
        struct tk_calc_fit fit;
        size_t pts[2] = {d.sizes[0].points[0], d.sizes[0].points[1]};
        tk_calc_fit(&d, pts, 2, TK_FIG_MUTATING_P99, &fit);
        CHECK(fit.ok);
        CHECK_INT(fit.terms, 1); /* nodes; pods move with them and add nothing */
        CHECK_NEAR(fit.coef[1], 0.002, 1e-12);
        CHECK_NEAR(fit.coef[0], -0.1, 1e-12);
        CHECK(isnan(fit.rel_rms));
    }
    /* a point that only goes down: the non-negative slope constraint keeps the flat model */
    s.cells[2].fig[TK_FIG_MUTATING_P99] = 0.05;
    tk_calc_data_release(&d);
    tk_calc_data_build(&s, 0.2, &d);
    {
        struct tk_calc_fit fit;
        size_t pts[2] = {d.sizes[0].points[1], d.sizes[0].points[2]};
        tk_calc_fit(&d, pts, 2, TK_FIG_MUTATING_P99, &fit);
        CHECK(fit.ok);
        CHECK_INT(fit.terms, 0);
        CHECK_NEAR(fit.coef[0], 0.175, 1e-12);
    }
    tk_calc_data_release(&d);
    tk_res_set_release(&s);
}

TK_TEST(leave_one_out_on_the_fixture)
{
    struct loaded l;
    struct tk_calc_loo loo;

    CHECK_INT(load(&l), 0);
    tk_calc_loo(&l.data, &loo);
    /* every point but the lone dedicated-etcd one left after taking the other out */
    CHECK_INT(loo.n[0], 25);
    CHECK_INT(loo.n_extrapolated[0], 12);
    /* linear data with 1 % wobble: a few per cent, except that lone point, which is only
     * bounded by the larger load (77 %) */
    CHECK(loo.median_error[0] < 0.03);
    CHECK(loo.max_error[0] > 0.5);
    CHECK(loo.median_error[2] < 0.03);
    unload(&l);
}

/* ---- the command ---------------------------------------------------------------------------- */

TK_TEST(command_labels_its_answers)
{
    struct cr_result r =
        cr_run(cmd_calculator, "calculator", DB, "--nodes", "1500", "--pods", "15000", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "recommended  4c/8Gi  (topology colocated)");
    CHECK_CONTAINS(r.out, "interpolated between measured loads");
    CHECK_CONTAINS(r.out, "evidence");
    CHECK_CONTAINS(r.out, "a360428927e7"); /* the 1000-node cells */
    CHECK_CONTAINS(r.out, "88872080b111"); /* the 2000-node cells */
    CHECK_CONTAINS(r.out, "Fixture CPU @ 2.00GHz");
    CHECK_CONTAINS(r.out, "kube-apiserver v1.36.3");
    CHECK(cr_max_line(r.out) <= 80);
    cr_free(&r);

    r = cr_run(cmd_calculator, "calculator", DB, "--nodes", "3000", "--pods", "90000", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "recommended  8c/16Gi");
    CHECK_CONTAINS(r.out, "EXTRAPOLATED beyond the measured loads\n"
                          "             (the largest measured: 2000 nodes, 20000 pods)");
    CHECK_CONTAINS(r.out, "extrapolated ±0.");
    CHECK_CONTAINS(r.out, "caution: pods beyond the measurements and in a proportion");
    CHECK(cr_max_line(r.out) <= 80);
    cr_free(&r);

    r = cr_run(cmd_calculator, "calculator", DB, "--nodes", "3000", "--pods", "30000", "--output",
               "json", NULL);
    CHECK_INT(r.rc, 0);
    {
        cJSON *j = cJSON_Parse(r.out);
        const cJSON *rec = cJSON_GetObjectItem(j, "recommendation");
        CHECK(j != NULL);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "found")));
        CHECK_STR(cJSON_GetObjectItem(rec, "size")->valuestring, "8c/16Gi");
        CHECK_STR(cJSON_GetObjectItem(rec, "kind")->valuestring, "extrapolated");
        CHECK_STR(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "figures"), "mutating_p99_s"), "kind")
                ->valuestring,
            "extrapolated");
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rec, "evidence_cells")), 8);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "rejected")), 6);
        cJSON_Delete(j);
    }
    cr_free(&r);

    /* no size meets it: said so, and a failure exit */
    r = cr_run(cmd_calculator, "calculator", DB, "--nodes", "5000", "--pods", "150000", NULL);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "no measured size meets every SLO with headroom at this load");
    cr_free(&r);

    r = cr_run(cmd_calculator, "calculator", DB, "--nodes", "100", NULL);
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.err, "--nodes and --pods are required");
    cr_free(&r);

    r = cr_run(cmd_calculator, "calculator", DB, "--nodes", "100", "--pods", "1000", "--topology",
               "nope", NULL);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.err, "no measurements with topology 'nope'");
    cr_free(&r);

    /* a tighter headroom changes the answer: at 1000 nodes 2 cores reach 65 % of the SLO */
    r = cr_run(cmd_calculator, "calculator", DB, "--nodes", "1000", "--pods", "10000", "--headroom",
               "40", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "recommended  4c/8Gi");
    cr_free(&r);
}

TK_TEST(table_in_three_formats_with_provenance)
{
    char path[200];
    struct cr_result r = cr_run(cmd_calculator, "calculator", DB, "table", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "| nodes | pods | churn/s | colocated | dedicated-etcd |");
    CHECK_CONTAINS(r.out, "| 1000 | 10000 | 0 | 2c/8Gi, measured | cp:4c/8Gi,etcd:2c/4Gi, "
                          "measured |");
    CHECK_CONTAINS(r.out, "| 3000 | 90000 | 0 | 8c/16Gi, extrapolated (fit error 0.");
    CHECK_CONTAINS(r.out, "| 5000 | 150000 | 0 | none measured");
    CHECK_CONTAINS(r.out, "Accuracy: leave-one-out prediction error");
    CHECK_CONTAINS(r.out, "over 25 points");
    CHECK_CONTAINS(r.out, "- command: `turbokube calculator --db ");
    CHECK_CONTAINS(r.out, "experiments: sizing, topology; 50 finished cells (49 complete, 1 "
                          "failed)");
    CHECK_CONTAINS(r.out, "- hardware: local: Fixture CPU");
    CHECK_CONTAINS(r.out, "- versions: etcd v3.6.5");
    cr_free(&r);

    r = cr_run(cmd_calculator, "calculator", DB, "table", "--format", "csv", "--class",
               "1500:15000", "--class", "3000:30000:0", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "# command: turbokube calculator");
    CHECK_CONTAINS(r.out, "# leave-one-out prediction error");
    CHECK_CONTAINS(r.out, "\nnodes,pods,churn_per_s,topology,size,cpu_milli,memory_bytes,kind,"
                          "fit_error,mutating_p99_s,");
    CHECK_CONTAINS(r.out, "\n1500,15000,0,colocated,4c/8Gi,4000,8589934592,interpolated,,");
    CHECK_CONTAINS(r.out, "\n3000,30000,0,colocated,8c/16Gi,8000,17179869184,extrapolated,0.0");
    CHECK_CONTAINS(r.out, "\n3000,30000,0,dedicated-etcd,,,,none,");
    cr_free(&r);

    snprintf(path, sizeof(path), "%s", cr_path("table.html"));
    r = cr_run(cmd_calculator, "calculator", DB, "table", "--format", "html", "-o", path, NULL);
    CHECK_INT(r.rc, 0);
    {
        char *html = cr_slurp(path);
        CHECK_CONTAINS(html, "<table id=\"sizing\">");
        CHECK_CONTAINS(html, "<th>dedicated-etcd</th>");
        CHECK_CONTAINS(html, "<td class=\"extrapolated\">8c/16Gi, extrapolated");
        CHECK_CONTAINS(html, "<dl id=\"provenance\">");
        CHECK_CONTAINS(html, "<p id=\"accuracy\">leave-one-out");
        CHECK_CONTAINS(html, "</html>");
        free(html);
    }
    cr_free(&r);

    r = cr_run(cmd_calculator, "calculator", DB, "table", "--class", "12", NULL);
    CHECK_INT(r.rc, 2);
    cr_free(&r);
}

TK_TEST(page_embeds_the_data_and_the_rule)
{
    char path[200], *html, *start, *end, *json;
    struct cr_result r;
    cJSON *j;

    snprintf(path, sizeof(path), "%s", cr_path("calc.html"));
    r = cr_run(cmd_calculator, "calculator", DB, "page", "-o", path, NULL);
    CHECK_INT(r.rc, 0);
    cr_free(&r);
    html = cr_slurp(path);
    CHECK(html != NULL);
    CHECK(!strstr(html, "http://") && !strstr(html, "https://")); /* nothing to fetch */
    CHECK_CONTAINS(html, "function recommend(data, l, topology)");
    CHECK_CONTAINS(html, "URLSearchParams");
    start = strstr(html, "<script type=\"application/json\" id=\"tk-data\">");
    CHECK(start != NULL);
    start += strlen("<script type=\"application/json\" id=\"tk-data\">");
    end = strstr(start, "</script>");
    CHECK(end != NULL);
    json = tk_xstrndup(start, (size_t)(end - start));
    j = cJSON_Parse(json);
    CHECK(j != NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sizes")), 7);
    CHECK_NEAR(cJSON_GetObjectItem(j, "headroom")->valuedouble, 0.2, 1e-12);
    CHECK_CONTAINS(tk_json_get_str(j, "provenance.accuracy"), "leave-one-out");
    cJSON_Delete(j);
    free(json);
    free(html);

    r = cr_run(cmd_calculator, "calculator", DB, "page", NULL);
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.err, "-o FILE is required");
    cr_free(&r);
}

TK_TEST_MAIN(data_pools_repeats_and_orders_sizes, measured_point,
             interpolation_between_measured_loads, extrapolation_beyond_measured_loads,
             below_the_smallest_load_and_beyond_everything, topology_filter, leave_one_out_by_hand,
             leave_one_out_on_the_fixture, command_labels_its_answers,
             table_in_three_formats_with_provenance, page_embeds_the_data_and_the_rule)
