#ifndef TK_SAMPLER_H
#define TK_SAMPLER_H

/* Seeded latency distributions for pod startup and run durations. A sampler is a small value
 * (no heap): fixed, uniform over [lo, hi], or lognormal given by its median and p99. Draws are
 * deterministic: tk_sampler_draw() walks a seeded xoshiro256** stream, and
 * tk_sampler_draw_key() derives the draw from the seed and a key (the pod's namespace/name),
 * so a pod gets the same delay in every run with the same seed, whatever order pods arrive in. */

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum tk_sampler_kind { TK_SAMPLER_FIXED = 0, TK_SAMPLER_UNIFORM, TK_SAMPLER_LOGNORMAL };

struct tk_sampler {
    enum tk_sampler_kind kind;
    int64_t a_ns;   /* fixed: the value; uniform: lo; lognormal: median */
    int64_t b_ns;   /* uniform: hi; lognormal: p99 */
    double mu;      /* lognormal: ln(median seconds) */
    double sigma;   /* lognormal: ln(p99 / median) / z(0.99) */
    int64_t max_ns; /* draws are clamped to [0, max_ns]; 0 means 1 hour */
    uint64_t seed;
    uint64_t s[4]; /* xoshiro256** state */
};

/* Initializes s as a fixed distribution (every draw is value_ns, value_ns >= 0). */
void tk_sampler_init_fixed(struct tk_sampler *s, int64_t value_ns, uint64_t seed);

/* Uniform over [lo_ns, hi_ns]. TK_EINVAL when lo_ns < 0 or hi_ns < lo_ns. */
int tk_sampler_init_uniform(struct tk_sampler *s, int64_t lo_ns, int64_t hi_ns, uint64_t seed,
                            struct tk_err *err);

/* Lognormal with the given median and 99th percentile. TK_EINVAL unless 0 < median_ns <=
 * p99_ns (equal values degenerate to fixed). */
int tk_sampler_init_lognormal(struct tk_sampler *s, int64_t median_ns, int64_t p99_ns,
                              uint64_t seed, struct tk_err *err);

/* Parses a distribution spec, durations in Go syntax (tk_duration_parse):
 *   "2s" or "fixed:2s" | "uniform:500ms-3s" | "lognormal:median=1s,p99=5s".
 * Returns 0, or TK_EINVAL with a message naming the bad part (s untouched). */
int tk_sampler_parse(struct tk_sampler *s, const char *spec, uint64_t seed, struct tk_err *err);

/* Formats s in spec syntax (tk_sampler_parse reads it back to the same distribution). */
void tk_sampler_format(const struct tk_sampler *s, char *out, size_t outsz);

/* Changes the seed of s (and restarts its stream), keeping the distribution. */
void tk_sampler_reseed(struct tk_sampler *s, uint64_t seed);

/* The next draw of the seeded stream, in nanoseconds. */
int64_t tk_sampler_draw(struct tk_sampler *s);

/* A draw determined by (seed, key, salt) alone; does not advance the stream. salt separates
 * independent draws for one key (startup delay 0, run duration 1, ...). */
int64_t tk_sampler_draw_key(const struct tk_sampler *s, const char *key, uint64_t salt);

/* t rounded up to the next multiple of step (t itself when it is one, or when step <= 0): the
 * time on --start-grid at which a start due at t is made. t >= 0 (a monotonic time). */
int64_t tk_sampler_grid_up(int64_t t, int64_t step);

/* Hashes bytes (FNV-1a 64, then a splitmix64 finalizer); also used for deterministic IDs. */
uint64_t tk_sampler_hash(const void *p, size_t n, uint64_t seed);

#endif
