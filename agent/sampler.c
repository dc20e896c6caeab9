#include "sampler.h"

#include <math.h>
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
