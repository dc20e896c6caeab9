#include "sampler.h"

#include <stdlib.h>

#include "tktest.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

#define N 100000

static int64_t draws[N];

static double quantile(double q)
{
    qsort(draws, N, sizeof(draws[0]), cmp_i64);
    return (double)draws[(size_t)(q * (N - 1))];
}

TK_TEST(sampler_fixed)
{
    struct tk_sampler s;
    tk_sampler_init_fixed(&s, 1500000000, 7);
    for (int i = 0; i < 100; i++)
        CHECK_INT(tk_sampler_draw(&s), 1500000000);
    CHECK_INT(tk_sampler_draw_key(&s, "ns/pod", 0), 1500000000);
}

TK_TEST(sampler_uniform_bounds_and_mean)
{
    struct tk_sampler s;
    struct tk_err err = {0};
    CHECK_INT(tk_sampler_init_uniform(&s, 500000000, 3000000000, 42, &err), 0);
    double sum = 0;
    for (int i = 0; i < N; i++) {
        int64_t v = tk_sampler_draw(&s);
        CHECK(v >= 500000000 && v <= 3000000000);
        draws[i] = v;
        sum += (double)v;
    }
    CHECK_NEAR(sum / N / 1e9, 1.75, 0.01);
    CHECK_NEAR(quantile(0.5) / 1e9, 1.75, 0.02);
    CHECK_INT(tk_sampler_init_uniform(&s, 3, 2, 1, &err), TK_EINVAL);
}

TK_TEST(sampler_lognormal_quantiles)
{
    struct tk_sampler s;
    struct tk_err err = {0};
    CHECK_INT(tk_sampler_init_lognormal(&s, 1000000000, 5000000000, 1234, &err), 0);
    for (int i = 0; i < N; i++)
        draws[i] = tk_sampler_draw(&s);
    double p50 = quantile(0.50) / 1e9, p99 = quantile(0.99) / 1e9;
    /* 100k draws: the sample quantiles are within a few percent of the configured ones */
    CHECK_NEAR(p50, 1.0, 0.02);
    CHECK_NEAR(p99, 5.0, 0.2);
    CHECK_INT(tk_sampler_init_lognormal(&s, 0, 5, 1, &err), TK_EINVAL);
}

TK_TEST(sampler_lognormal_keyed_quantiles)
{
    struct tk_sampler s;
    struct tk_err err = {0};
    char key[32];
    CHECK_INT(tk_sampler_init_lognormal(&s, 200000000, 2000000000, 99, &err), 0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "ns/pod-%d", i);
        draws[i] = tk_sampler_draw_key(&s, key, 0);
    }
    CHECK_NEAR(quantile(0.50) / 1e9, 0.2, 0.006);
    CHECK_NEAR(quantile(0.99) / 1e9, 2.0, 0.1);
}

TK_TEST(sampler_deterministic)
{
    struct tk_sampler a, b, c;
    struct tk_err err = {0};
    tk_sampler_init_lognormal(&a, 1000000000, 4000000000, 5, &err);
    tk_sampler_init_lognormal(&b, 1000000000, 4000000000, 5, &err);
    tk_sampler_init_lognormal(&c, 1000000000, 4000000000, 6, &err);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t x = tk_sampler_draw(&a), y = tk_sampler_draw(&b), z = tk_sampler_draw(&c);
        CHECK_INT(x, y);
        differ += x != z;
    }
    CHECK(differ > 990);
    /* keyed draws depend on key, salt and seed only */
    CHECK_INT(tk_sampler_draw_key(&a, "default/web-1", 0),
              tk_sampler_draw_key(&b, "default/web-1", 0));
    CHECK(tk_sampler_draw_key(&a, "default/web-1", 0) !=
          tk_sampler_draw_key(&a, "default/web-2", 0));
    CHECK(tk_sampler_draw_key(&a, "default/web-1", 0) !=
          tk_sampler_draw_key(&a, "default/web-1", 1));
    CHECK(tk_sampler_draw_key(&a, "default/web-1", 0) !=
          tk_sampler_draw_key(&c, "default/web-1", 0));
}

TK_TEST(sampler_parse_specs)
{
    struct tk_sampler s;
    struct tk_err err = {0};
    char out[64];
    CHECK_INT(tk_sampler_parse(&s, "2s", 1, &err), 0);
    CHECK_INT(s.kind, TK_SAMPLER_FIXED);
    CHECK_INT(s.a_ns, 2000000000);
    CHECK_INT(tk_sampler_parse(&s, "fixed:0", 1, &err), 0);
    CHECK_INT(tk_sampler_draw(&s), 0);
    CHECK_INT(tk_sampler_parse(&s, "uniform:500ms-3s", 1, &err), 0);
    CHECK_INT(s.kind, TK_SAMPLER_UNIFORM);
    CHECK_INT(s.a_ns, 500000000);
    CHECK_INT(s.b_ns, 3000000000);
    tk_sampler_format(&s, out, sizeof(out));
    CHECK_STR(out, "uniform:500ms-3s");
    CHECK_INT(tk_sampler_parse(&s, "uniform:0-1m30s", 1, &err), 0);
    CHECK_INT(s.b_ns, 90000000000LL);
    CHECK_INT(tk_sampler_parse(&s, "lognormal:median=1s,p99=5s", 3, &err), 0);
    CHECK_INT(s.kind, TK_SAMPLER_LOGNORMAL);
    CHECK_INT(s.seed, 3);
    tk_sampler_format(&s, out, sizeof(out));
    CHECK_STR(out, "lognormal:median=1s,p99=5s");
    CHECK_INT(tk_sampler_parse(&s, "lognormal:p99=5s,median=1s", 3, &err), 0);
    CHECK_INT(s.a_ns, 1000000000);
    CHECK_INT(tk_sampler_parse(&s, "lognormal:median=5s,p99=1s", 1, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "median <= p99");
    tk_err_clear(&err);
    CHECK_INT(tk_sampler_parse(&s, "uniform:3s-1s", 1, &err), TK_EINVAL);
    tk_err_clear(&err);
    CHECK_INT(tk_sampler_parse(&s, "gauss:1s", 1, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "unknown distribution");
    tk_err_clear(&err);
    CHECK_INT(tk_sampler_parse(&s, "fixed:1x", 1, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "fixed:1x");
    tk_err_clear(&err);
    CHECK_INT(tk_sampler_parse(&s, "-1s", 1, &err), TK_EINVAL);
}

TK_TEST(sampler_grid_up)
{
    const int64_t ms = 1000000;
    CHECK_INT(tk_sampler_grid_up(1234 * ms, 0), 1234 * ms); /* off */
    CHECK_INT(tk_sampler_grid_up(1234 * ms, 100 * ms), 1300 * ms);
    CHECK_INT(tk_sampler_grid_up(1300 * ms, 100 * ms), 1300 * ms); /* on a step: no wait */
    CHECK_INT(tk_sampler_grid_up(1300 * ms + 1, 100 * ms), 1400 * ms);
    CHECK_INT(tk_sampler_grid_up(0, 100 * ms), 0);
    /* a monotonic clock days into uptime, a 1 s step: up to one step late, never early */
    for (int64_t t = 86400000 * ms; t < 86400000 * ms + 3000 * ms; t += 7 * ms + 3) {
        int64_t g = tk_sampler_grid_up(t, 1000 * ms);
        CHECK(g >= t && g - t < 1000 * ms && g % (1000 * ms) == 0);
    }
}

TK_TEST_MAIN(sampler_grid_up, sampler_parse_specs, sampler_fixed, sampler_uniform_bounds_and_mean,
             sampler_lognormal_quantiles, sampler_lognormal_keyed_quantiles, sampler_deterministic)
