#include "sampler.h"

#include "duration.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* z such that Phi(z) = 0.99 */
#define Z99 2.3263478740408408
#define DEFAULT_MAX_NS (3600LL * 1000000000LL)

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t st[4])
{
    uint64_t result = rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return result;
}

static void seed_state(uint64_t st[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        st[i] = splitmix64(&x);
}

/* Uniform in (0, 1): never 0, so log() is safe. */
static double unit_open(uint64_t r)
{
    return ((double)(r >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

int64_t tk_sampler_grid_up(int64_t t, int64_t step)
{
    if (step <= 0 || t % step == 0)
        return t;
    return (t / step + 1) * step;
}

uint64_t tk_sampler_hash(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return splitmix64(&h);
}

static void common_init(struct tk_sampler *s, enum tk_sampler_kind kind, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->seed = seed;
    s->max_ns = DEFAULT_MAX_NS;
    seed_state(s->s, seed);
}

void tk_sampler_init_fixed(struct tk_sampler *s, int64_t value_ns, uint64_t seed)
{
    common_init(s, TK_SAMPLER_FIXED, seed);
    s->a_ns = value_ns < 0 ? 0 : value_ns;
    s->b_ns = s->a_ns;
    if (s->a_ns > s->max_ns)
        s->max_ns = s->a_ns;
}

int tk_sampler_init_uniform(struct tk_sampler *s, int64_t lo_ns, int64_t hi_ns, uint64_t seed,
                            struct tk_err *err)
{
    if (lo_ns < 0 || hi_ns < lo_ns)
        return tk_err_set(err, TK_EINVAL, "uniform range needs 0 <= lo <= hi");
    common_init(s, TK_SAMPLER_UNIFORM, seed);
    s->a_ns = lo_ns;
    s->b_ns = hi_ns;
    if (hi_ns > s->max_ns)
        s->max_ns = hi_ns;
    return 0;
}

int tk_sampler_init_lognormal(struct tk_sampler *s, int64_t median_ns, int64_t p99_ns,
                              uint64_t seed, struct tk_err *err)
{
    if (median_ns <= 0 || p99_ns < median_ns)
        return tk_err_set(err, TK_EINVAL, "lognormal needs 0 < median <= p99");
    common_init(s, TK_SAMPLER_LOGNORMAL, seed);
    s->a_ns = median_ns;
    s->b_ns = p99_ns;
    s->mu = log((double)median_ns / 1e9);
    s->sigma = log((double)p99_ns / (double)median_ns) / Z99;
    return 0;
}

/* One draw from two uniform words; Box-Muller for the normal part. */
static int64_t draw_from(const struct tk_sampler *s, uint64_t r1, uint64_t r2)
{
    double v;

    switch (s->kind) {
    case TK_SAMPLER_UNIFORM: {
        uint64_t span = (uint64_t)(s->b_ns - s->a_ns);
        if (span == 0)
            return s->a_ns;
        return s->a_ns + (int64_t)(unit_open(r1) * (double)span);
    }
    case TK_SAMPLER_LOGNORMAL: {
        double u1 = unit_open(r1), u2 = unit_open(r2);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        v = exp(s->mu + s->sigma * z) * 1e9;
        if (v > (double)s->max_ns)
            return s->max_ns;
        return (int64_t)v;
    }
    case TK_SAMPLER_FIXED:
    default:
        return s->a_ns;
    }
}

void tk_sampler_reseed(struct tk_sampler *s, uint64_t seed)
{
    s->seed = seed;
    seed_state(s->s, seed);
}

int64_t tk_sampler_draw(struct tk_sampler *s)
{
    uint64_t r1 = xoshiro_next(s->s), r2 = xoshiro_next(s->s);
    return draw_from(s, r1, r2);
}

int64_t tk_sampler_draw_key(const struct tk_sampler *s, const char *key, uint64_t salt)
{
    uint64_t x = tk_sampler_hash(key, strlen(key), s->seed ^ (salt * 0x9e3779b97f4a7c15ULL));
    uint64_t r1 = splitmix64(&x), r2 = splitmix64(&x);
    return draw_from(s, r1, r2);
}

static int dur(const char *s, size_t n, const char *spec, int64_t *out, struct tk_err *err)
{
    char tmp[64];
    struct tk_err e = {0};
    if (n == 0 || n >= sizeof(tmp))
        return tk_err_set(err, TK_EINVAL, "latency '%s': missing or overlong duration", spec);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (tk_duration_parse(tmp, out, &e))
        return tk_err_set(err, TK_EINVAL, "latency '%s': %s", spec, e.msg);
    if (*out < 0)
        return tk_err_set(err, TK_EINVAL, "latency '%s': negative duration '%s'", spec, tmp);
    return 0;
}

int tk_sampler_parse(struct tk_sampler *s, const char *spec, uint64_t seed, struct tk_err *err)
{
    const char *colon = strchr(spec, ':');
    const char *arg = colon ? colon + 1 : spec;
    size_t kind_len = colon ? (size_t)(colon - spec) : 0;
    struct tk_sampler tmp;
    int64_t a, b;

    if (!colon || (kind_len == 5 && !memcmp(spec, "fixed", 5))) {
        if (dur(arg, strlen(arg), spec, &a, err))
            return TK_EINVAL;
        tk_sampler_init_fixed(&tmp, a, seed);
    } else if (kind_len == 7 && !memcmp(spec, "uniform", 7)) {
        /* the separator is the '-' that follows a unit letter ("500ms-3s") */
        const char *dash = NULL;
        for (const char *p = arg + 1; *p; p++)
            if (*p == '-' && ((p[-1] >= 'a' && p[-1] <= 'z') || p[-1] == '0')) {
                dash = p;
                break;
            }
        if (!dash)
            return tk_err_set(err, TK_EINVAL, "latency '%s': uniform wants LO-HI (500ms-3s)", spec);
        if (dur(arg, (size_t)(dash - arg), spec, &a, err) ||
            dur(dash + 1, strlen(dash + 1), spec, &b, err))
            return TK_EINVAL;
        if (tk_sampler_init_uniform(&tmp, a, b, seed, NULL))
            return tk_err_set(err, TK_EINVAL, "latency '%s': uniform needs LO <= HI", spec);
    } else if (kind_len == 9 && !memcmp(spec, "lognormal", 9)) {
        const char *m = strstr(arg, "median="), *q = strstr(arg, "p99=");
        const char *comma = strchr(arg, ',');
        if (!m || !q || !comma)
            return tk_err_set(err, TK_EINVAL,
                              "latency '%s': lognormal wants median=D,p99=D (median=1s,p99=5s)",
                              spec);
        m += 7;
        q += 4;
        size_t mn = m < comma ? (size_t)(comma - m) : strlen(m);
        size_t qn = q < comma ? (size_t)(comma - q) : strlen(q);
        if (dur(m, mn, spec, &a, err) || dur(q, qn, spec, &b, err))
            return TK_EINVAL;
        if (tk_sampler_init_lognormal(&tmp, a, b, seed, NULL))
            return tk_err_set(err, TK_EINVAL, "latency '%s': lognormal needs 0 < median <= p99",
                              spec);
    } else {
        return tk_err_set(err, TK_EINVAL,
                          "latency '%s': unknown distribution (fixed, uniform, lognormal)", spec);
    }
    *s = tmp;
    return 0;
}

void tk_sampler_format(const struct tk_sampler *s, char *out, size_t outsz)
{
    char a[TK_DURATION_MAX], b[TK_DURATION_MAX];
    tk_duration_format(s->a_ns, a, sizeof(a));
    tk_duration_format(s->b_ns, b, sizeof(b));
    switch (s->kind) {
    case TK_SAMPLER_UNIFORM:
        snprintf(out, outsz, "uniform:%s-%s", a, b);
        break;
    case TK_SAMPLER_LOGNORMAL:
        snprintf(out, outsz, "lognormal:median=%s,p99=%s", a, b);
        break;
    case TK_SAMPLER_FIXED:
    default:
        snprintf(out, outsz, "fixed:%s", a);
    }
}
