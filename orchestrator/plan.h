#ifndef TK_PLAN_H
#define TK_PLAN_H

/* Printing an experiment's plan: its cells, their ids, what varies between them and how long
 * they should take (tk_exp_estimate_ns). */

#include <stdio.h>

#include "experiment.h"

enum tk_plan_format { TK_PLAN_TABLE = 0, TK_PLAN_JSON };

/* Writes the plan of e to out.
 *  table: a header line (name, cells, total estimate), the description, one row per cell
 *         (index, id, each varying parameter, estimate; ramp group/step with a ramp), then the
 *         parameters shared by every cell.
 *  json:  one object: name, description, file, repeat, estimateSeconds, excluded, duplicates,
 *         varying (paths), ramp (or null) and cells, each with index, id, repeat, rampGroup,
 *         rampStep, estimateSeconds, agents, pods, objects, varying (path -> value) and params
 *         (the canonical parameters).
 * Returns 0, or -1 when writing failed. */
int tk_plan_print(const struct tk_experiment *e, enum tk_plan_format format, FILE *out);

/* "1h2m" / "3m12s" / "45s": a duration rounded to whole seconds for people. */
void tk_plan_format_estimate(int64_t ns, char *out, size_t n);

#endif
