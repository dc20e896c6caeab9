/* turbokube: the orchestrator CLI. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"

#ifndef TK_VERSION
#define TK_VERSION "0.1.0-dev"
#endif

static const struct tk_cmd commands[] = {
    {"cluster", cmd_cluster, "bring up, inspect and tear down a local control plane"},
    {"plan", cmd_plan, "validate an experiment file and print its cells"},
    {"run", cmd_run, "run an experiment's cells and record them in the results database"},
    {"results", cmd_results, "list, show, compare, export and query recorded results"},
    {"calculator", cmd_calculator, "the control-plane size for a load, the sizing table and page"},
    {"report", cmd_report, "one self-contained HTML report of charts for cells or experiments"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: turbokube [--log-level debug|info|warn|error] COMMAND [ARGS]\n\n"
               "Load-tests Kubernetes control planes with fake nodes.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'turbokube COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    int i = 1, rc;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("turbokube %s\n", TK_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
            if (tk_log_parse_level(argv[++i], &tk_log_threshold)) {
                tk_cmd_fail("--log-level: '%s' is not debug, info, warn or error", argv[i]);
                return 2;
            }
        } else {
            tk_cmd_fail("unknown option '%s'", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        if (strcmp(argv[i], commands[c].name) == 0) {
            optind = 1;
            rc = commands[c].fn(argc - i, argv + i);
            if (fflush(stdout) || ferror(stdout)) {
                tk_cmd_fail("cannot write standard output");
                return 1;
            }
            return rc;
        }
    }
    tk_cmd_fail("'%s' is not a command; see 'turbokube --help'", argv[i]);
    return 2;
}
