/* turbokube plan FILE: validate an experiment file and print its cells, running nothing. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "experiment.h"
#include "plan.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: turbokube plan [--output table|json] FILE\n"
               "\n"
               "Validates the experiment FILE (every field, every alternative) and prints its\n"
               "cells: index, stable cell id, the parameters that vary, and an estimated\n"
               "duration. Nothing is started. experiments/README.md describes the file.\n"
               "\n"
               "  -o, --output FORMAT   table (default) or json (everything, for scripts)\n"
               "  -h, --help            this text\n");
}

int cmd_plan(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum tk_plan_format format = TK_PLAN_TABLE;
    struct tk_experiment *e = NULL;
    struct tk_err err = {0};
    int c, rc;

    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (strcmp(optarg, "table") == 0) {
                format = TK_PLAN_TABLE;
            } else if (strcmp(optarg, "json") == 0) {
                format = TK_PLAN_JSON;
            } else {
                tk_cmd_fail("--output '%s': want table or json", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (tk_experiment_load(&e, argv[optind], &err)) {
        tk_cmd_fail("%s", err.msg);
        return 1;
    }
    rc = tk_plan_print(e, format, stdout) ? 1 : 0;
    tk_experiment_free(e);
    return rc;
}
