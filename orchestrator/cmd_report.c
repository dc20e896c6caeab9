/* turbokube report: one self-contained HTML file of charts for cells or an experiment. */
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd.h"
#include "log.h"
#include "report.h"
#include "results.h"
#include "store_read.h"

#define DEFAULT_DB "results/turbokube.db"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: turbokube report [OPTIONS] [CELL...] -o report.html\n"
            "\n"
            "Writes one self-contained HTML file (inline SVG, nothing to fetch): for each\n"
            "experiment touched, its matrix as a heat map of one figure; for each cell, latency\n"
            "p99 over time per verb and resource, CPU and memory per component over time, the\n"
            "pod startup distribution, and its failure points marked on the timelines. Without\n"
            "CELLs or --experiment: every cell in the database. docs/results.md says what is\n"
            "drawn from which samples.\n"
            "\n"
            "  --db PATH             the database (default " DEFAULT_DB ")\n"
            "  -e, --experiment X    every cell of experiment X (repeatable)\n"
            "  --figure F            the heat map's figure: mutating-p99 (default), read-p99,\n"
            "                        list-p99, pod-startup-p99, peak-memory, memory-util, cpu\n"
            "  --headroom PCT        for the verdicts (default 20)\n"
            "  -o, --out FILE        where to write the report (required)\n"
            "  -h, --help            this text\n");
}

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"experiment", required_argument, NULL, 'e'},
        {"figure", required_argument, NULL, 'F'},
        {"headroom", required_argument, NULL, 'H'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tk_report_opts o = {DEFAULT_DB, NULL, 0, TK_FIG_MUTATING_P99, TK_RES_DEFAULT_HEADROOM};
    const char *out_path = NULL, *exps[32];
    size_t nexps = 0, n = 0, *idx = NULL;
    struct tk_res_set set = {0};
    struct tk_err err = {0};
    struct tk_buf cmd;
    sqlite3 *db = NULL;
    FILE *out = NULL;
    int c, rc = 1;
    char *end;

    while ((c = getopt_long(argc, argv, "e:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.db_path = optarg;
            break;
        case 'e':
            if (nexps == sizeof(exps) / sizeof(exps[0])) {
                tk_cmd_fail("at most 32 --experiment");
                return 2;
            }
            exps[nexps++] = optarg;
            break;
        case 'F':
            if (tk_res_fig_parse(optarg) < 0) {
                tk_cmd_fail("--figure '%s': want mutating-p99, read-p99, list-p99, "
                            "pod-startup-p99, peak-memory, memory-util or cpu",
                            optarg);
                return 2;
            }
            o.heat_figure = (enum tk_res_fig)tk_res_fig_parse(optarg);
            break;
        case 'H':
            o.headroom = strtod(optarg, &end) / 100;
            if (*end || end == optarg || o.headroom < 0 || o.headroom >= 1) {
                tk_cmd_fail("--headroom '%s': want a percentage from 0 to 99", optarg);
                return 2;
            }
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!out_path) {
        tk_cmd_fail("report: -o FILE is required");
        usage(stderr);
        return 2;
    }
    tk_buf_init(&cmd, 0);
    tk_buf_puts(&cmd, "turbokube");
    for (int i = 0; i < argc; i++)
        tk_buf_printf(&cmd, " %s", argv[i]);
    o.command = cmd.data;
    o.generated_ms = tk_wall_ns() / 1000000;

    if (tk_store_open_readonly(&db, o.db_path, &err) || tk_res_load(db, NULL, &set, &err)) {
        tk_cmd_fail("%s", err.msg);
        goto done;
    }
    idx = tk_xcalloc(set.n ? set.n : 1, sizeof(size_t));
    for (size_t e = 0; e < nexps; e++) {
        int any = 0;
        for (size_t i = 0; i < set.n; i++)
            if (!strcmp(set.cells[i].experiment, exps[e])) {
                int dup = 0;
                for (size_t k = 0; k < n; k++)
                    dup |= idx[k] == i;
                if (!dup)
                    idx[n++] = i;
                any = 1;
            }
        if (!any) {
            tk_cmd_fail("no experiment named '%s' in the database", exps[e]);
            goto done;
        }
    }
    for (int a = optind; a < argc; a++) {
        size_t i;
        int dup = 0;
        if (tk_res_find(&set, argv[a], &i, &err)) {
            tk_cmd_fail("%s", err.msg);
            goto done;
        }
        for (size_t k = 0; k < n; k++)
            dup |= idx[k] == i;
        if (!dup)
            idx[n++] = i;
    }
    if (!nexps && optind == argc)
        for (size_t i = 0; i < set.n; i++)
            idx[n++] = i;
    if (!n) {
        tk_cmd_fail("no cells to report on");
        goto done;
    }
    if (!(out = fopen(out_path, "w"))) {
        tk_cmd_fail("cannot write '%s': %m", out_path);
        goto done;
    }
    if (tk_report_write(out, db, &set, idx, n, &o, &err)) {
        tk_cmd_fail("%s", err.msg);
        goto done;
    }
    if (fflush(out) || ferror(out)) {
        tk_cmd_fail("cannot write '%s'", out_path);
        goto done;
    }
    rc = 0;
done:
    if (out && fclose(out) && !rc) {
        tk_cmd_fail("cannot write '%s'", out_path);
        rc = 1;
    }
    free(idx);
    tk_res_set_release(&set);
    tk_store_close_readonly(db);
    tk_buf_release(&cmd);
    return rc;
}
