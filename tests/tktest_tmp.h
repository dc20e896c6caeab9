#ifndef TKTEST_TMP_H
#define TKTEST_TMP_H

/* A per-test-executable scratch directory, made on first use and removed at exit:
 *   const char *p = tk_test_tmp_path("x.db");   -> /tmp/tk-test-XXXXXX/x.db
 * The returned path lives in a static buffer, valid until the next call. */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char tk_test_tmpdir[64];

static int tk_test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tk_test_rm_tmpdir(void)
{
    nftw(tk_test_tmpdir, tk_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tk_test_tmp_path(const char *name)
{
    static char path[256];
    if (!tk_test_tmpdir[0]) {
        snprintf(tk_test_tmpdir, sizeof(tk_test_tmpdir), "/tmp/tk-test-XXXXXX");
        if (!mkdtemp(tk_test_tmpdir))
            abort();
        atexit(tk_test_rm_tmpdir);
    }
    snprintf(path, sizeof(path), "%s/%s", tk_test_tmpdir, name);
    return path;
}

#endif
