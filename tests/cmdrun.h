#ifndef TK_TEST_CMDRUN_H
#define TK_TEST_CMDRUN_H

/* Runs a turbokube command function (cmd_results, cmd_calculator, ...) in-process with its
 * standard output and standard error captured, for the tests of the commands that read the
 * results database. Also a scratch directory removed at exit. */

#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static char cr_tmpdir[64];

static inline int cr_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void cr_rm_tmpdir(void)
{
    if (!getenv("TK_TEST_KEEP"))
        nftw(cr_tmpdir, cr_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path in this test's scratch directory (static buffer: copy it before the next call). */
static inline const char *cr_path(const char *name)
{
    static char path[192];
    if (!cr_tmpdir[0]) {
        snprintf(cr_tmpdir, sizeof(cr_tmpdir), "/tmp/tk-test-results-XXXXXX");
        if (!mkdtemp(cr_tmpdir))
            abort();
        atexit(cr_rm_tmpdir);
    }
    snprintf(path, sizeof(path), "%s/%s", cr_tmpdir, name);
    return path;
}

/* The whole of a file, NUL-terminated (caller frees), or NULL. */
static inline char *cr_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)n + 1);
        if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        } else if (data) {
            data[n] = '\0';
        }
    }
    fclose(f);
    return data;
}

struct cr_result {
    int rc;
    char *out, *err;
};

static inline void cr_free(struct cr_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs fn with the NULL-terminated arguments (the first is the command name). */
static inline struct cr_result cr_run(tk_cmd_fn fn, ...)
{
    struct cr_result r = {0};
    char *argv[64];
    int argc = 0, saved_out, saved_err, fd_out, fd_err;
    char out_path[192], err_path[192];
    va_list ap;

    va_start(ap, fn);
    while (argc < 63 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    snprintf(out_path, sizeof(out_path), "%s", cr_path("stdout"));
    snprintf(err_path, sizeof(err_path), "%s", cr_path("stderr"));
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    fd_out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    fd_err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    close(fd_out);
    close(fd_err);
    optind = 0; /* a full getopt reset between in-process runs */
    r.rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    r.out = cr_slurp(out_path);
    r.err = cr_slurp(err_path);
    return r;
}

/* The longest line of s, in UTF-8 code points. */
static inline size_t cr_max_line(const char *s)
{
    size_t best = 0, cur = 0;
    for (; s && *s; s++) {
        if (*s == '\n') {
            if (cur > best)
                best = cur;
            cur = 0;
        } else if (((unsigned char)*s & 0xC0) != 0x80) {
            cur++;
        }
    }
    return cur > best ? cur : best;
}

/* The number of lines in s. */
static inline size_t cr_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* The line of s that contains needle, copied into out (empty when none). */
static inline void cr_line_with(const char *s, const char *needle, char *out, size_t n)
{
    const char *p = s ? strstr(s, needle) : NULL, *b, *e;
    out[0] = '\0';
    if (!p)
        return;
    for (b = p; b > s && b[-1] != '\n'; b--)
        ;
    e = strchr(p, '\n');
    if (!e)
        e = p + strlen(p);
    snprintf(out, n, "%.*s", (int)(e - b), b);
}

#endif
