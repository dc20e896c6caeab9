/* turbokube run FILE: run every cell of an experiment and record it in the results database. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "run.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: turbokube run [--db PATH] [--resume] [--keep] [--output table|json] FILE\n"
               "\n"
               "Runs every cell of the experiment FILE (see 'turbokube plan FILE'): a local\n"
               "control plane at the cell's size and topology, fake nodes from turbokube-agent,\n"
               "kube-burner's load, every component scraped throughout; everything is recorded\n"
               "in the results database and torn down. Ends with a summary of what it recorded.\n"
               "Ctrl-C (or SIGTERM) tears the cell down and marks it aborted.\n"
               "\n"
               "  --db PATH             results database (default: results/turbokube.db)\n"
               "  --resume              continue the latest run of this experiment: skip its\n"
               "                        complete cells, rerun the others\n"
               "  --keep                leave each cell's cluster and agents running\n"
               "                        ('turbokube cluster down --name tk-CELLID' removes one)\n"
               "  -o, --output FORMAT   the summary as table (default) or json\n"
               "  -h, --help            this text\n"
               "\n"
               "Exit status: 0 when every cell completed, 1 when one failed or the run was\n"
               "interrupted, 2 for usage errors.\n");
}

int cmd_run(int argc, char **argv)
{
    enum { O_DB = 256, O_RESUME, O_KEEP };
    static const struct option longopts[] = {
        {"db", required_argument, NULL, O_DB}, {"resume", no_argument, NULL, O_RESUME},
        {"keep", no_argument, NULL, O_KEEP},   {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    struct tk_run_opts o = {.out = stdout, .progress = stderr};
    struct tk_run_result res;
    struct tk_err err = {0};
    int c;

    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case O_DB:
            o.db_path = optarg;
            break;
        case O_RESUME:
            o.resume = 1;
            break;
        case O_KEEP:
            o.keep = 1;
            break;
        case 'o':
            if (strcmp(optarg, "table") == 0) {
                o.format = TK_RUN_TABLE;
            } else if (strcmp(optarg, "json") == 0) {
                o.format = TK_RUN_JSON;
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
    o.file = argv[optind];
    /* The progress line says what happens; the libraries' info lines (certificates issued,
     * metrics listening) would only break it up. --log-level debug still shows everything. */
    if (tk_log_threshold == TK_LOG_INFO)
        tk_log_threshold = TK_LOG_WARN;
    if (tk_run_experiment(&o, &res, &err)) {
        tk_cmd_fail("%s", err.msg);
        return 1;
    }
    return res.failed || res.aborted ? 1 : 0;
}
