#include "buf.h"
#include "err.h"
#include "log.h"
#include "tktest.h"

TK_TEST(buf_append_and_cap)
{
    struct tk_buf b;
    tk_buf_init(&b, 8);
    CHECK_INT(tk_buf_puts(&b, "abcd"), 0);
    CHECK_INT(tk_buf_printf(&b, "%d", 123), 0);
    CHECK_STR(b.data, "abcd123");
    CHECK_INT(tk_buf_puts(&b, "xy"), -1); /* 9 > cap 8: refused, unchanged */
    CHECK_STR(b.data, "abcd123");
    tk_buf_consume(&b, 2);
    CHECK_STR(b.data, "cd123");
    CHECK_INT(b.len, 5);
    tk_buf_release(&b);
}

TK_TEST(buf_detach_empty)
{
    struct tk_buf b;
    tk_buf_init(&b, 0);
    char *s = tk_buf_detach(&b);
    CHECK_STR(s, "");
    free(s);
}

TK_TEST(err_first_wins_and_prefix)
{
    struct tk_err err = {0};
    CHECK_INT(tk_err_set(&err, TK_EINVAL, "unknown key '%s'", "nodez"), TK_EINVAL);
    tk_err_set(&err, TK_EIO, "later");
    tk_err_prefix(&err, "x.yaml:%d:%d", 12, 3);
    CHECK_INT(err.code, TK_EINVAL);
    CHECK_STR(err.msg, "x.yaml:12:3: unknown key 'nodez'");
    CHECK_STR(tk_err_name(err.code), "invalid");
    tk_err_clear(&err);
    CHECK_INT(err.code, 0);
}

TK_TEST(log_every_limits)
{
    struct tk_log_limit lim = {0};
    uint64_t dropped = 99;
    CHECK_INT(tk_log_every(&lim, 10000, &dropped), 1);
    CHECK_INT(dropped, 0);
    CHECK_INT(tk_log_every(&lim, 10000, &dropped), 0);
    CHECK_INT(tk_log_every(&lim, 10000, &dropped), 0);
    CHECK_INT(lim.suppressed, 2);
}

TK_TEST_MAIN(buf_append_and_cap, buf_detach_empty, err_first_wins_and_prefix, log_every_limits)
