#ifndef TKTEST_H
#define TKTEST_H

/* A tiny test harness in the spirit of libuv's task.h. Each test file defines tests with
 * TK_TEST(name) and lists them in TK_TEST_MAIN(t1, t2, ...). A failed check reports file:line
 * and the expression, marks the current test failed and returns from it. The run ends with
 *   N passed, N failed
 * and exits non-zero when anything failed. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tk_test_failed_flag;

#define TK_TEST(name) static void name(void)

#define TK_FAIL_(fmt, ...)                                                                         \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);                    \
        tk_test_failed_flag = 1;                                                                   \
        return;                                                                                    \
    } while (0)

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if (!(expr))                                                                               \
            TK_FAIL_("check failed: %s", #expr);                                                   \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            TK_FAIL_("%s == %lld, expected %s == %lld", #a, a_, #b, b_);                           \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            TK_FAIL_("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            TK_FAIL_("%s == \"%s\" lacks \"%s\"", #hay, h_ ? h_ : "(null)", n_);                   \
    } while (0)

#define CHECK_NEAR(a, b, eps)                                                                      \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ - b_ <= (eps) && b_ - a_ <= (eps)))                                               \
            TK_FAIL_("%s == %.9g, expected %.9g (within %g)", #a, a_, b_, (double)(eps));          \
    } while (0)

typedef void (*tk_test_fn)(void);

/* tests/data: $TK_TEST_DATA when set (another copy of the fixtures), else the source tree's,
 * compiled in (tests/CMakeLists.txt), so a test binary finds them from any directory. */
static inline const char *tk_test_data_dir(void)
{
    const char *d = getenv("TK_TEST_DATA");
    return d && *d ? d : TK_TEST_DATA_DIR;
}

static inline int tk_test_run(const char *const *names, const tk_test_fn *fns, int n)
{
    int passed = 0, failed = 0;
    const char *only = getenv("TK_TEST_ONLY");

    for (int i = 0; i < n; i++) {
        if (only && strcmp(only, names[i]) != 0)
            continue;
        tk_test_failed_flag = 0;
        fns[i]();
        if (tk_test_failed_flag) {
            failed++;
            fprintf(stderr, "FAIL %s\n", names[i]);
        } else {
            passed++;
            fprintf(stderr, "ok   %s\n", names[i]);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define TK_STR_(x) #x
#define TK_TEST_MAIN(...)                                                                          \
    int main(void)                                                                                 \
    {                                                                                              \
        tk_test_fn fns_[] = {__VA_ARGS__};                                                         \
        char names_buf_[] = TK_STR_((__VA_ARGS__));                                                \
        const char *names_[sizeof(fns_) / sizeof(fns_[0])];                                        \
        int n_ = 0;                                                                                \
        char *tok_ = strtok(names_buf_ + 1, ", )");                                                \
        while (tok_ && n_ < (int)(sizeof(fns_) / sizeof(fns_[0]))) {                               \
            names_[n_++] = tok_;                                                                   \
            tok_ = strtok(NULL, ", )");                                                            \
        }                                                                                          \
        return tk_test_run(names_, fns_, n_);                                                      \
    }

#endif
