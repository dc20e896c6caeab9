#include "plan.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

void tk_plan_format_estimate(int64_t ns, char *out, size_t n)
{
    int64_t s = (ns + 500000000) / 1000000000;
    if (s >= 3600)
        snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, n, "%llds", (long long)s);
}

static int is_varying(const struct tk_experiment *e, const char *path)
{
    for (size_t i = 0; i < e->nvarying; i++)
        if (strcmp(e->varying[i], path) == 0)
            return 1;
    return 0;
}

struct shared {
    const struct tk_experiment *e;
    FILE *out;
    int width;
};

static void print_shared(void *ud, const char *path, const char *value)
{
    struct shared *s = ud;
    if (!is_varying(s->e, path) && strcmp(path, "repeat") != 0)
        fprintf(s->out, "  %-*s %s\n", s->width, path, value);
}

static void measure_shared(void *ud, const char *path, const char *value)
{
    struct shared *s = ud;
    (void)value;
    if ((int)strlen(path) > s->width)
        s->width = (int)strlen(path);
}

static int print_table(const struct tk_experiment *e, FILE *out)
{
    char est[32], v[256];
    size_t nv = e->nvarying;
    int *w = calloc(nv ? nv : 1, sizeof(int));

    tk_plan_format_estimate(e->estimate_ns, est, sizeof(est));
    fprintf(out, "experiment %s (%s): %zu cell%s, estimated %s%s\n", e->name, e->path, e->ncells,
            e->ncells == 1 ? "" : "s", est,
            e->ramp.on ? " at most (ramps stop at the first hard failure)" : "");
    if (e->description)
        fprintf(out, "  %s\n", e->description);
    if (e->repeat > 1)
        fprintf(out, "  repeat: %lld passes over the matrix\n", (long long)e->repeat);
    if (e->excluded || e->duplicates)
        fprintf(out, "  %zu cell%s excluded, %zu duplicate%s merged\n", e->excluded,
                e->excluded == 1 ? "" : "s", e->duplicates, e->duplicates == 1 ? "" : "s");
    if (e->ramp.on) {
        char from[32], step[32], until[32];
        snprintf(from, sizeof(from), "%g", e->ramp.from);
        snprintf(step, sizeof(step), "%g", e->ramp.step);
        snprintf(until, sizeof(until), "%g", e->ramp.until);
        fprintf(out, "  ramp: %s from %s by %s until %s (%zu steps per sequence)\n", e->ramp.field,
                from, step, until, e->ramp.steps);
    }
    fputc('\n', out);

    for (size_t k = 0; k < nv; k++) {
        w[k] = (int)strlen(e->varying[k]);
        for (size_t i = 0; i < e->ncells; i++) {
            tk_exp_cell_param(&e->cells[i], e->varying[k], v, sizeof(v));
            if ((int)strlen(v) > w[k])
                w[k] = (int)strlen(v);
        }
    }
    fprintf(out, "  %4s  %-12s", "#", "cell");
    if (e->ramp.on)
        fprintf(out, "  %-9s", "ramp");
    for (size_t k = 0; k < nv; k++)
        fprintf(out, "  %-*s", w[k], e->varying[k]);
    fprintf(out, "  %s\n", "estimate");
    for (size_t i = 0; i < e->ncells; i++) {
        const struct tk_cell *c = &e->cells[i];
        tk_plan_format_estimate(c->estimate_ns, est, sizeof(est));
        fprintf(out, "  %4zu  %-12s", c->index, c->id);
        if (e->ramp.on) {
            char r[24];
            snprintf(r, sizeof(r), "%d/%d", c->ramp_group, c->ramp_step);
            fprintf(out, "  %-9s", r);
        }
        for (size_t k = 0; k < nv; k++) {
            tk_exp_cell_param(c, e->varying[k], v, sizeof(v));
            fprintf(out, "  %-*s", w[k], v[0] ? v : "-");
        }
        fprintf(out, "  %s\n", est);
    }
    free(w);

    struct shared s = {e, out, 0};
    fprintf(out, "\n%s:\n", e->ncells == 1 ? "parameters" : "same in every cell");
    tk_exp_cell_params_each(&e->cells[0], measure_shared, &s);
    tk_exp_cell_params_each(&e->cells[0], print_shared, &s);
    return ferror(out) ? -1 : 0;
}

static int print_json(const struct tk_experiment *e, FILE *out)
{
    cJSON *root = cJSON_CreateObject();
    char v[256];

    cJSON_AddStringToObject(root, "name", e->name);
    if (e->description)
        cJSON_AddStringToObject(root, "description", e->description);
    else
        cJSON_AddNullToObject(root, "description");
    cJSON_AddStringToObject(root, "file", e->path);
    cJSON_AddNumberToObject(root, "repeat", (double)e->repeat);
    cJSON_AddNumberToObject(root, "estimateSeconds", (double)e->estimate_ns / 1e9);
    cJSON_AddNumberToObject(root, "excluded", (double)e->excluded);
    cJSON_AddNumberToObject(root, "duplicates", (double)e->duplicates);
    cJSON *var = cJSON_AddArrayToObject(root, "varying");
    for (size_t k = 0; k < e->nvarying; k++)
        cJSON_AddItemToArray(var, cJSON_CreateString(e->varying[k]));
    if (e->ramp.on) {
        cJSON *r = cJSON_AddObjectToObject(root, "ramp");
        cJSON_AddStringToObject(r, "field", e->ramp.field);
        cJSON_AddNumberToObject(r, "from", e->ramp.from);
        cJSON_AddNumberToObject(r, "step", e->ramp.step);
        cJSON_AddNumberToObject(r, "until", e->ramp.until);
        cJSON_AddNumberToObject(r, "steps", (double)e->ramp.steps);
    } else {
        cJSON_AddNullToObject(root, "ramp");
    }
    cJSON *cells = cJSON_AddArrayToObject(root, "cells");
    for (size_t i = 0; i < e->ncells; i++) {
        const struct tk_cell *c = &e->cells[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)c->index);
        cJSON_AddStringToObject(o, "id", c->id);
        cJSON_AddNumberToObject(o, "repeat", c->repeat);
        cJSON_AddNumberToObject(o, "rampGroup", c->ramp_group);
        cJSON_AddNumberToObject(o, "rampStep", c->ramp_step);
        cJSON_AddNumberToObject(o, "estimateSeconds", (double)c->estimate_ns / 1e9);
        cJSON_AddNumberToObject(o, "agents", (double)tk_exp_agents(&c->p));
        cJSON_AddNumberToObject(o, "pods", (double)tk_exp_pods(&c->p));
        cJSON_AddNumberToObject(o, "objects", (double)tk_exp_objects(&c->p));
        cJSON *vo = cJSON_AddObjectToObject(o, "varying");
        for (size_t k = 0; k < e->nvarying; k++) {
            tk_exp_cell_param(c, e->varying[k], v, sizeof(v));
            cJSON_AddStringToObject(vo, e->varying[k], v);
        }
        cJSON *params = cJSON_Parse(c->params_json);
        cJSON_AddItemToObject(o, "params", params ? params : cJSON_CreateNull());
        cJSON_AddItemToArray(cells, o);
    }
    char *text = cJSON_Print(root);
    fputs(text, out);
    fputc('\n', out);
    free(text);
    cJSON_Delete(root);
    return ferror(out) ? -1 : 0;
}

int tk_plan_print(const struct tk_experiment *e, enum tk_plan_format format, FILE *out)
{
    return format == TK_PLAN_JSON ? print_json(e, out) : print_table(e, out);
}
