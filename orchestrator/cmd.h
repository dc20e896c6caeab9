#ifndef TK_CMD_H
#define TK_CMD_H

/* The turbokube command table (git's builtin shape). Each command parses its own options
 * with getopt_long from argv (argv[0] is the command name) and returns the process exit
 * code: 0 ok, 1 failure, 2 usage. Commands print errors themselves. */

typedef int (*tk_cmd_fn)(int argc, char **argv);

struct tk_cmd {
    const char *name;
    tk_cmd_fn fn;
    const char *summary;
};

int cmd_cluster(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_calculator(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Prints "turbokube: " + message to stderr. */
void tk_cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
