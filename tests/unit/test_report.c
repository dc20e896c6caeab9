/* turbokube report: the self-contained HTML with its inline SVG charts, on the recorded
 * fixture experiment. (tests/integration/test_report_browser.sh opens it in Chromium.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdrun.h"
#include "report.h"
#include "results_fixture.h"
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

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The part of html from the element with id="ID" to the next </figure>. */
static char *figure(const char *html, const char *id)
{
    char key[96];
    const char *s, *e;
    snprintf(key, sizeof(key), "id=\"%s\"", id);
    s = strstr(html, key);
    if (!s)
        return NULL;
    e = strstr(s, "</figure>");
    return e ? strndup(s, (size_t)(e - s)) : NULL;
}

static char *report(const char *name, const char *const *args, int nargs)
{
    char path[200];
    const char *argv[16] = {"report", "--db", fixture(), "-o", path};
    int argc = 5;
    struct cr_result r;

    snprintf(path, sizeof(path), "%s", cr_path(name));
    for (int i = 0; i < nargs && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    /* cr_run takes a NULL-terminated list: pass the array's entries */
    r = cr_run(cmd_report, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7],
               argv[8], argv[9], argv[10], argv[11], argv[12], argv[13], argv[14], NULL);
    if (r.rc != 0)
        fprintf(stderr, "  report: rc %d: %s\n", r.rc, r.err ? r.err : "");
    cr_free(&r);
    return cr_slurp(path);
}

TK_TEST(experiment_heat_map)
{
    const char *const args[] = {"-e", "sizing"};
    char *html = report("exp.html", args, 2);

    CHECK(html != NULL);
    CHECK_CONTAINS(html, "<!DOCTYPE html>");
    CHECK_CONTAINS(html, "</html>");
    /* self-contained: no script, nothing fetched */
    CHECK(!strstr(html, "<script"));
    CHECK(!strstr(html, "src="));
    CHECK(!strstr(html, "href=\"http"));
    CHECK_CONTAINS(html, "<svg class=\"tk-heatmap\" data-figure=\"mutating-p99\"");
    /* 6 sizes x 4 loads, the 2000-node ones of both 2-core sizes, 4c/8Gi and 8c/8Gi failed */
    CHECK_INT(count(html, "<g class=\"heat"), 24);
    CHECK_INT(count(html, "<g class=\"heat fail\""), 4);
    CHECK_CONTAINS(html, ">1000 nodes, 10000 pods</text>");
    CHECK_CONTAINS(html, ">4c/16Gi</text>");
    /* every cell of the experiment has its section */
    CHECK_INT(count(html, "<section class=\"cell\""), 48);
    CHECK(!strstr(html, "experiment topology"));
    free(html);
}

TK_TEST(cell_timelines_with_failure_points)
{
    const char *const args[] = {"2ea11c12af15"};
    char *html = report("cell.html", args, 1), *lat, *cpu, *mem, *pod;

    CHECK(html != NULL);
    CHECK_INT(count(html, "<section class=\"cell\""), 1);
    CHECK_CONTAINS(html, "did not meet every SLO");
    CHECK_CONTAINS(html, "<li class=\"soft\">+70.0s soft: slo:mutating POST pods");
    CHECK_CONTAINS(html, "<li class=\"hard\">+95.0s hard: kube-burner timeout");

    lat = figure(html, "latency-2ea11c12af15");
    CHECK(lat != NULL);
    CHECK_CONTAINS(lat, "<svg class=\"tk-chart\" data-chart=\"latency-2ea11c12af15\"");
    CHECK_CONTAINS(lat, "data-series=\"POST pods\"");
    CHECK_CONTAINS(lat, "data-series=\"GET nodes\"");
    CHECK_INT(count(lat, "<line class=\"failure soft\""), 1);
    CHECK_INT(count(lat, "<line class=\"failure hard\""), 1);
    free(lat);

    cpu = figure(html, "cpu-2ea11c12af15");
    CHECK(cpu != NULL);
    CHECK_CONTAINS(cpu, "data-series=\"apiserver\"");
    CHECK_CONTAINS(cpu, "data-series=\"etcd\"");
    CHECK_INT(count(cpu, "<line class=\"failure"), 2);
    free(cpu);

    mem = figure(html, "memory-2ea11c12af15");
    CHECK(mem != NULL);
    CHECK_CONTAINS(mem, "data-series=\"controller-manager\"");
    CHECK_CONTAINS(mem, "data-series=\"agents\""); /* agent-0 and agent-1 added up */
    CHECK(!strstr(mem, "agent-0"));
    CHECK_CONTAINS(mem, "data-series=\"cgroup:cp\"");
    free(mem);

    pod = figure(html, "podstartup-2ea11c12af15");
    CHECK(pod != NULL);
    CHECK_CONTAINS(pod, "data-series=\"Ready node-density\"");
    CHECK_CONTAINS(pod, "seconds from creation");
    free(pod);
    free(html);
}

TK_TEST(latency_from_recorded_gauges)
{
    /* 2c/8Gi at 100 nodes records per-interval p99 gauges, not buckets */
    const char *const args[] = {"888af368baeb", "--figure", "peak-memory"};
    char *html = report("gauge.html", args, 3), *lat;

    CHECK(html != NULL);
    CHECK_CONTAINS(html, "data-figure=\"peak-memory\"");
    lat = figure(html, "latency-888af368baeb");
    CHECK(lat != NULL);
    CHECK_CONTAINS(lat, "data-series=\"POST pods\"");
    CHECK(!strstr(lat, "WATCH"));
    CHECK(!strstr(lat, "GET nodes"));
    /* 8 intervals, one polyline of 8 points */
    CHECK_INT(count(lat, "<polyline"), 1);
    free(lat);
    free(html);
}

TK_TEST(errors)
{
    struct cr_result r = cr_run(cmd_report, "report", DB, NULL);
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.err, "-o FILE is required");
    cr_free(&r);
    r = cr_run(cmd_report, "report", DB, "-o", "/dev/null", "ffffffffffff", NULL);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.err, "no cell 'ffffffffffff'");
    cr_free(&r);
    r = cr_run(cmd_report, "report", DB, "-o", "/dev/null", "-e", "nope", NULL);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.err, "no experiment named 'nope'");
    cr_free(&r);
    r = cr_run(cmd_report, "report", DB, "-o", "/dev/null", "--figure", "speed", NULL);
    CHECK_INT(r.rc, 2);
    cr_free(&r);
}

TK_TEST(labels_and_empty_charts)
{
    char v[64], path[200], *out;
    FILE *f;
    struct tk_report_series s = {0};

    CHECK_INT(
        tk_report_label("le=\"0.5\",resource=\"pods\",verb=\"POST\"", "resource", v, sizeof(v)), 0);
    CHECK_STR(v, "pods");
    CHECK_INT(tk_report_label("a=\"x\\\"y\\\\z\",b=\"\"", "a", v, sizeof(v)), 0);
    CHECK_STR(v, "x\"y\\z");
    CHECK_INT(tk_report_label("a=\"x\\\"y\\\\z\",b=\"\"", "b", v, sizeof(v)), 0);
    CHECK_STR(v, "");
    CHECK_INT(tk_report_label("a=\"1\"", "verb", v, sizeof(v)), -1);
    CHECK_INT(tk_report_label("", "verb", v, sizeof(v)), -1);

    snprintf(path, sizeof(path), "%s", cr_path("chart.svg"));
    f = fopen(path, "w");
    CHECK(f != NULL);
    tk_report_svg_lines(f, "c1", "empty <one>", "x", "s", &s, 1, NULL, 0);
    snprintf(s.name, sizeof(s.name), "a&b");
    tk_report_series_add(&s, 0, 0.5);
    tk_report_series_add(&s, 10, NAN); /* skipped */
    tk_report_series_add(&s, 20, 1.5);
    tk_report_svg_lines(f, "c2", "two points", "x", "s", &s, 1,
                        &(struct tk_report_mark){15, 1, "oom"}, 1);
    fclose(f);
    tk_report_series_release(&s);
    out = cr_slurp(path);
    CHECK_CONTAINS(out, "<figcaption>empty &lt;one&gt;</figcaption>");
    CHECK_CONTAINS(out, "no samples recorded");
    CHECK_CONTAINS(out, "data-series=\"a&amp;b\"");
    CHECK_INT(count(out, "<polyline"), 1);
    CHECK_CONTAINS(out, "<title>oom</title>");
    CHECK_CONTAINS(out, ">1.50s</text>"); /* the axis reaches the largest value */
    free(out);
}

TK_TEST_MAIN(experiment_heat_map, cell_timelines_with_failure_points, latency_from_recorded_gauges,
             errors, labels_and_empty_charts)
