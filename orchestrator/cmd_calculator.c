/* turbokube calculator: the control-plane size for a load, the published sizing table and the
 * calculator page, all from the results database (read-only). */
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "calc.h"
#include "cmd.h"
#include "log.h"
#include "results.h"
#include "store_read.h"

#define DEFAULT_DB "results/turbokube.db"
#define MAX_CLASSES 64

static void usage(FILE *f)
{
    fprintf(
        f, "usage: turbokube calculator [OPTIONS] --nodes N --pods M [--churn R] [--topology T]\n"
           "       turbokube calculator [OPTIONS] table [--format md|csv|html] [--class N:M[:R]]..."
           "\n"
           "                                      [-o FILE]\n"
           "       turbokube calculator [OPTIONS] page -o calculator.html\n"
           "\n"
           "The smallest measured control-plane size (cores and memory per host) that met\n"
           "every SLO with headroom at this load, the p99s and peak memory to expect, and\n"
           "the evidence (cells, hardware, versions). Between measured loads it interpolates\n"
           "monotonically; beyond them it extrapolates from fitted cost models and says so,\n"
           "with the fit's error. `table` prints the sizing table for a set of cluster\n"
           "classes with its provenance and the calculator's leave-one-out error; `page`\n"
           "writes a self-contained HTML calculator with the data embedded. docs/results.md\n"
           "describes the rule.\n"
           "\n"
           "  --db PATH             the database (default " DEFAULT_DB ")\n"
           "  -e, --experiment X    only the cells of experiment X\n"
           "  --nodes N, --pods M   the load: nodes and pods\n"
           "  --churn R             objects deleted and recreated per second (default 0)\n"
           "  --topology T          only sizes of this topology (colocated, dedicated-etcd, ...)\n"
           "  --headroom PCT        room to keep below each SLO and the memory (default 20)\n"
           "  --output table|json   the recommendation for people (default) or scripts\n"
           "  --format md|csv|html  table: the format (default md)\n"
           "  --class N:M[:R]       table: a row (repeatable; default: a standard set)\n"
           "  -o, --out FILE        table, page: write to FILE (table default: stdout)\n"
           "  -h, --help            this text\n");
}

static int parse_num(const char *opt, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || isinf(v)) {
        tk_cmd_fail("%s '%s': want a number >= 0", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_class(const char *s, struct tk_calc_load *l)
{
    char *end;
    l->churn = 0;
    l->nodes = strtod(s, &end);
    if (end == s || *end != ':' || !(l->nodes > 0))
        goto bad;
    s = end + 1;
    l->pods = strtod(s, &end);
    if (end == s || (*end && *end != ':') || !(l->pods >= 0))
        goto bad;
    if (*end == ':') {
        s = end + 1;
        l->churn = strtod(s, &end);
        if (end == s || *end || !(l->churn >= 0))
            goto bad;
    }
    return 0;
bad:
    tk_cmd_fail("--class '%s': want NODES:PODS or NODES:PODS:CHURN", s);
    return -1;
}

/* The command line as given, for the provenance ("turbokube calculator table ..."). */
static char *command_line(int argc, char **argv)
{
    struct tk_buf b;
    tk_buf_init(&b, 0);
    tk_buf_puts(&b, "turbokube");
    for (int i = 0; i < argc; i++) {
        if (strpbrk(argv[i], " \t'\"$"))
            tk_buf_printf(&b, " '%s'", argv[i]);
        else
            tk_buf_printf(&b, " %s", argv[i]);
    }
    return tk_buf_detach(&b);
}

int cmd_calculator(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"experiment", required_argument, NULL, 'e'},
        {"nodes", required_argument, NULL, 'n'},
        {"pods", required_argument, NULL, 'p'},
        {"churn", required_argument, NULL, 'c'},
        {"topology", required_argument, NULL, 't'},
        {"headroom", required_argument, NULL, 'H'},
        {"output", required_argument, NULL, 'O'},
        {"format", required_argument, NULL, 'f'},
        {"class", required_argument, NULL, 'C'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db_path = DEFAULT_DB, *experiment = NULL, *topology = NULL, *out_path = NULL;
    struct tk_calc_load load = {NAN, NAN, 0}, classes[MAX_CLASSES];
    size_t nclasses = 0;
    double headroom = TK_RES_DEFAULT_HEADROOM;
    int json = 0, have_format = 0, c, rc = 1;
    enum tk_calc_table_fmt fmt = TK_CALC_MD;
    struct tk_res_set set = {0};
    struct tk_calc_data data = {0};
    struct tk_err err = {0};
    sqlite3 *db = NULL;
    const char *sub = NULL;
    char *cmdline = command_line(argc, argv);
    FILE *out = stdout;

    while ((c = getopt_long(argc, argv, "e:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db_path = optarg;
            break;
        case 'e':
            experiment = optarg;
            break;
        case 'n':
            if (parse_num("--nodes", optarg, &load.nodes))
                goto usage_error;
            break;
        case 'p':
            if (parse_num("--pods", optarg, &load.pods))
                goto usage_error;
            break;
        case 'c':
            if (parse_num("--churn", optarg, &load.churn))
                goto usage_error;
            break;
        case 't':
            topology = optarg;
            break;
        case 'H':
            if (parse_num("--headroom", optarg, &headroom) || headroom >= 100) {
                tk_cmd_fail("--headroom '%s': want a percentage from 0 to 99", optarg);
                goto usage_error;
            }
            headroom /= 100;
            break;
        case 'O':
            if (!strcmp(optarg, "json") || !strcmp(optarg, "table")) {
                json = !strcmp(optarg, "json");
            } else {
                tk_cmd_fail("--output '%s': want table or json", optarg);
                goto usage_error;
            }
            break;
        case 'f':
            have_format = 1;
            if (!strcmp(optarg, "md") || !strcmp(optarg, "markdown"))
                fmt = TK_CALC_MD;
            else if (!strcmp(optarg, "csv"))
                fmt = TK_CALC_CSV;
            else if (!strcmp(optarg, "html"))
                fmt = TK_CALC_HTML;
            else {
                tk_cmd_fail("--format '%s': want md, csv or html", optarg);
                goto usage_error;
            }
            break;
        case 'C':
            if (nclasses == MAX_CLASSES) {
                tk_cmd_fail("at most %d --class rows", MAX_CLASSES);
                goto usage_error;
            }
            if (parse_class(optarg, &classes[nclasses++]))
                goto usage_error;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            usage(stdout);
            free(cmdline);
            return 0;
        default:
            goto usage_error;
        }
    }
    if (optind < argc)
        sub = argv[optind++];
    if (optind < argc || (sub && strcmp(sub, "table") && strcmp(sub, "page"))) {
        tk_cmd_fail("calculator: unexpected '%s' (subcommands: table, page)",
                    optind < argc ? argv[optind] : sub);
        goto usage_error;
    }
    if (!sub && (isnan(load.nodes) || isnan(load.pods))) {
        tk_cmd_fail("calculator: --nodes and --pods are required");
        goto usage_error;
    }
    if (sub && (!isnan(load.nodes) || !isnan(load.pods))) {
        tk_cmd_fail("calculator %s: --nodes and --pods are for a single recommendation", sub);
        goto usage_error;
    }
    if ((!sub || !strcmp(sub, "page")) && (have_format || nclasses)) {
        tk_cmd_fail("--format and --class are for 'calculator table'");
        goto usage_error;
    }
    if (!sub && out_path) {
        tk_cmd_fail("-o is for 'calculator table' and 'calculator page'");
        goto usage_error;
    }
    if (sub && !strcmp(sub, "page") && !out_path) {
        tk_cmd_fail("calculator page: -o FILE is required");
        goto usage_error;
    }

    if (tk_store_open_readonly(&db, db_path, &err) || tk_res_load(db, experiment, &set, &err)) {
        tk_cmd_fail("%s", err.msg);
        goto done;
    }
    tk_calc_data_build(&set, headroom, &data);
    if (out_path && !(out = fopen(out_path, "w"))) {
        tk_cmd_fail("cannot write '%s': %m", out_path);
        out = stdout;
        goto done;
    }
    if (!sub) {
        struct tk_calc_rec rec;
        if (tk_calc_recommend(&data, &load, topology, &rec, &err)) {
            tk_cmd_fail("%s", err.msg);
            tk_calc_rec_release(&rec);
            goto done;
        }
        if (json)
            tk_calc_print_json(out, &data, &load, topology, &rec);
        else
            tk_calc_print_text(out, &data, &load, topology, &rec);
        /* no size meets the load: printed, but it is no recommendation */
        rc = rec.found ? 0 : 1;
        tk_calc_rec_release(&rec);
    } else {
        struct tk_calc_provenance prov = {db_path, cmdline, tk_wall_ns() / 1000000};
        if (!data.nsizes) {
            tk_cmd_fail("no finished cells in '%s' to size from", db_path);
            goto done;
        }
        if (!strcmp(sub, "table")) {
            const struct tk_calc_load *cl = classes;
            if (!nclasses)
                cl = tk_calc_default_classes(&nclasses);
            tk_calc_print_table(out, &data, fmt, cl, nclasses, &prov);
        } else {
            tk_calc_print_page(out, &data, &prov);
        }
        rc = 0;
    }
    if (out != stdout && (fflush(out) || ferror(out))) {
        tk_cmd_fail("cannot write '%s'", out_path);
        rc = 1;
    }
done:
    if (out != stdout)
        fclose(out);
    tk_calc_data_release(&data);
    tk_res_set_release(&set);
    tk_store_close_readonly(db);
    free(cmdline);
    return rc;
usage_error:
    usage(stderr);
    free(cmdline);
    return 2;
}
