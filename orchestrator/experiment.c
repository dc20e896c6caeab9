/* Experiment files: alternatives are expanded on the YAML tree itself, before any value is
 * interpreted. Wherever the schema expects a scalar (or a map) and finds a list, the list's
 * items are alternatives; expanding a map yields the product of its fields' alternatives as
 * new map nodes that point at the original key and value nodes, so every later message still
 * carries the line and column the user wrote. Each expanded tree is then parsed like a plain
 * file into struct tk_cell_params. */
#include "experiment.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h" /* agent/config.h: agents.args are checked by the agent's own parser */
#include "duration.h"
#include "json.h"
#include "prom.h"
#include "quantity.h"
#include "store.h"
#include "yaml.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

/* ---- names -------------------------------------------------------------------------------- */

static const char *const provider_names[] = {"local", "kubeconfig", NULL};
static const char *const datastore_names[] = {"etcd", "kine-sqlite", "kine-postgres", NULL};
static const char *const component_names[] = {"etcd", "apiserver", "scheduler",
                                              "controller-manager", NULL};
static const char *const fidelity_names[] = {"lite", "kubelet", NULL};
static const char *const shape_names[] = {"node-density", "cluster-density", "custom", NULL};
static const char *const dist_names[] = {"fixed", "uniform", "lognormal", NULL};
static const char *const churn_mode_names[] = {"namespaces", "objects", NULL};

static const char *name_of(const char *const *names, size_t count, int v)
{
    return v >= 0 && (size_t)v < count ? names[v] : "?";
}

const char *tk_exp_provider_name(enum tk_exp_provider v)
{
    return name_of(provider_names, 2, (int)v);
}
const char *tk_exp_datastore_name(enum tk_exp_datastore v)
{
    return name_of(datastore_names, 3, (int)v);
}
const char *tk_exp_component_name(enum tk_exp_component v)
{
    return name_of(component_names, TK_EXP_NCOMPONENTS, (int)v);
}
const char *tk_exp_fidelity_name(enum tk_exp_fidelity v)
{
    return name_of(fidelity_names, 2, (int)v);
}
const char *tk_exp_shape_name(enum tk_exp_shape v)
{
    return name_of(shape_names, 3, (int)v);
}
const char *tk_exp_dist_name(enum tk_exp_dist v)
{
    return name_of(dist_names, 3, (int)v);
}
const char *tk_exp_churn_mode_name(enum tk_exp_churn_mode v)
{
    return name_of(churn_mode_names, 2, (int)v);
}

/* ---- arena: expanded nodes and per-cell strings live as long as the experiment ------------ */

struct block {
    struct block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

struct tk_exp_internal {
    struct tk_yaml_doc *doc;
    struct block *blocks;
    char *dir; /* the file's directory, "" for the working directory */
    char *text;
};

static void *arena_alloc(struct tk_exp_internal *in, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct block *b = in->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = tk_xmalloc(sizeof(*b) + cap);
        b->cap = cap;
        b->used = 0;
        b->next = in->blocks;
        in->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strdup(struct tk_exp_internal *in, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(in, n);
    memcpy(p, s, n);
    return p;
}

static struct tk_yaml_node *vnode(struct tk_exp_internal *in, enum tk_yaml_kind kind,
                                  const struct tk_yaml_node *at, size_t n, size_t nitems)
{
    struct tk_yaml_node *v = arena_alloc(in, sizeof(*v));
    v->kind = kind;
    v->line = at->line;
    v->col = at->col;
    v->n = n;
    v->items = arena_alloc(in, (nitems ? nitems : 1) * sizeof(*v->items));
    return v;
}

/* ---- hints -------------------------------------------------------------------------------- */

static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

/* The closest of names to s within a distance of max(2, len/4), or NULL. */
static const char *closest(const char *s, const char *const *names, size_t count)
{
    const char *best = NULL;
    int best_d = (int)strlen(s) / 4 > 2 ? (int)strlen(s) / 4 + 1 : 3;
    for (size_t i = 0; i < count && names[i]; i++) {
        int d = edit_distance(s, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

static void join_names(const char *const *names, size_t count, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count && names[i] && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", names[i]);
}

/* ---- expansion ---------------------------------------------------------------------------- */

enum ek { EK_SCALAR, EK_MAP, EK_SCALAR_LIST, EK_MAP_LIST, EK_FIXED };

struct schema {
    const char *key;
    enum ek kind;
    const struct schema *sub;
};

static const struct schema slo_schema[] = {
    {"mutatingP99", EK_SCALAR, NULL},
    {"readOnlyResourceP99", EK_SCALAR, NULL},
    {"readOnlyClusterP99", EK_SCALAR, NULL},
    {"podStartupP99", EK_SCALAR, NULL},
    {NULL, EK_FIXED, NULL},
};
static const struct schema measurement_schema[] = {
    {"scrapeInterval", EK_SCALAR, NULL},
    {"slo", EK_MAP, slo_schema},
    {NULL, EK_FIXED, NULL},
};
static const struct schema churn_schema[] = {
    {"cycles", EK_SCALAR, NULL}, {"percent", EK_SCALAR, NULL}, {"duration", EK_SCALAR, NULL},
    {"delay", EK_SCALAR, NULL},  {"mode", EK_SCALAR, NULL},    {NULL, EK_FIXED, NULL},
};
static const struct schema load_schema[] = {
    {"shape", EK_SCALAR, NULL},      {"podsPerNode", EK_SCALAR, NULL},
    {"namespaces", EK_SCALAR, NULL}, {"deploymentsPerNamespace", EK_SCALAR, NULL},
    {"replicas", EK_SCALAR, NULL},   {"services", EK_SCALAR, NULL},
    {"configmaps", EK_SCALAR, NULL}, {"secrets", EK_SCALAR, NULL},
    {"qps", EK_SCALAR, NULL},        {"burst", EK_SCALAR, NULL},
    {"churn", EK_MAP, churn_schema}, {"config", EK_SCALAR, NULL},
    {"timeout", EK_SCALAR, NULL},    {NULL, EK_FIXED, NULL},
};
static const struct schema startup_schema[] = {
    {"distribution", EK_SCALAR, NULL}, {"value", EK_SCALAR, NULL},  {"min", EK_SCALAR, NULL},
    {"max", EK_SCALAR, NULL},          {"median", EK_SCALAR, NULL}, {"p99", EK_SCALAR, NULL},
    {"grid", EK_SCALAR, NULL},         {NULL, EK_FIXED, NULL},
};
static const struct schema capacity_schema[] = {
    {"cpu", EK_SCALAR, NULL},
    {"memory", EK_SCALAR, NULL},
    {"pods", EK_SCALAR, NULL},
    {NULL, EK_FIXED, NULL},
};
static const struct schema agents_schema[] = {
    {"nodes", EK_SCALAR, NULL},
    {"nodesPerAgent", EK_SCALAR, NULL},
    {"fidelity", EK_SCALAR, NULL},
    {"capacity", EK_MAP, capacity_schema},
    {"podStartup", EK_MAP, startup_schema},
    {"args", EK_SCALAR_LIST, NULL},
    {NULL, EK_FIXED, NULL},
};
static const struct schema host_schema[] = {
    {"name", EK_FIXED, NULL},
    {"cpus", EK_SCALAR, NULL},
    {"memory", EK_SCALAR, NULL},
    {NULL, EK_FIXED, NULL},
};
static const struct schema placement_schema[] = {
    {"etcd", EK_SCALAR, NULL},      {"apiserver", EK_SCALAR, NULL},
    {"scheduler", EK_SCALAR, NULL}, {"controller-manager", EK_SCALAR, NULL},
    {NULL, EK_FIXED, NULL},
};
static const struct schema cp_schema[] = {
    {"provider", EK_SCALAR, NULL},
    {"kubeconfig", EK_SCALAR, NULL},
    {"bootstrapKubeconfig", EK_SCALAR, NULL},
    {"etcdMetrics", EK_SCALAR, NULL},
    {"etcdCA", EK_SCALAR, NULL},
    {"etcdCert", EK_SCALAR, NULL},
    {"etcdKey", EK_SCALAR, NULL},
    {"kubernetesVersion", EK_SCALAR, NULL},
    {"datastore", EK_SCALAR, NULL},
    {"etcdMembers", EK_SCALAR, NULL},
    {"hosts", EK_MAP_LIST, host_schema},
    {"placement", EK_MAP, placement_schema},
    {"latency", EK_SCALAR, NULL},
    {"apiserverArgs", EK_SCALAR_LIST, NULL},
    {NULL, EK_FIXED, NULL},
};
static const struct schema root_schema[] = {
    {"name", EK_FIXED, NULL},
    {"description", EK_FIXED, NULL},
    {"repeat", EK_FIXED, NULL},
    {"exclude", EK_FIXED, NULL},
    {"ramp", EK_FIXED, NULL},
    {"controlPlane", EK_MAP, cp_schema},
    {"agents", EK_MAP, agents_schema},
    {"load", EK_MAP, load_schema},
    {"measurement", EK_MAP, measurement_schema},
    {NULL, EK_FIXED, NULL},
};

struct ctx {
    struct tk_exp_internal *in;
    const struct tk_yaml_doc *doc;
    struct tk_err *err;
};

struct alts {
    const struct tk_yaml_node **v;
    size_t n;
};

static void single(struct ctx *c, const struct tk_yaml_node *node, struct alts *out)
{
    out->v = arena_alloc(c->in, sizeof(*out->v));
    out->v[0] = node;
    out->n = 1;
}

static int too_many(struct ctx *c, const struct tk_yaml_node *at)
{
    return tk_yaml_err(c->err, c->doc, at,
                       "the matrix has more than %d cells; split the experiment or use exclude",
                       TK_EXP_MAX_CELLS);
}

static int expand(struct ctx *c, const struct tk_yaml_node *node, const struct schema *s,
                  const char *path, struct alts *out);

static int expand_map(struct ctx *c, const struct tk_yaml_node *map, const struct schema *sub,
                      const char *path, struct alts *out)
{
    size_t k = map->n, total = 1;
    struct alts *fa = tk_xcalloc(k ? k : 1, sizeof(*fa));
    int rc = 0, same = 1;

    for (size_t i = 0; i < k && !rc; i++) {
        const struct tk_yaml_node *key = map->items[2 * i], *val = map->items[2 * i + 1];
        const struct schema *s = sub;
        char child[160];
        while (s->key && strcmp(s->key, key->scalar) != 0)
            s++;
        snprintf(child, sizeof(child), "%s%s%s", path, path[0] ? "." : "", key->scalar);
        if (!s->key)
            single(c, val, &fa[i]); /* unknown key: parsing reports it with a hint */
        else
            rc = expand(c, val, s, child, &fa[i]);
        if (!rc) {
            same = same && fa[i].n == 1 && fa[i].v[0] == val;
            total *= fa[i].n;
            if (total > TK_EXP_MAX_CELLS)
                rc = too_many(c, val); /* where the product passed the limit */
        }
    }
    if (!rc && same) {
        single(c, map, out);
    } else if (!rc) {
        out->v = arena_alloc(c->in, total * sizeof(*out->v));
        out->n = total;
        for (size_t idx = 0; idx < total; idx++) {
            struct tk_yaml_node *m = vnode(c->in, TK_YAML_MAP, map, k, 2 * k);
            size_t rem = idx;
            for (size_t i = k; i-- > 0;) { /* the first key varies slowest */
                m->items[2 * i] = map->items[2 * i];
                m->items[2 * i + 1] = (struct tk_yaml_node *)fa[i].v[rem % fa[i].n];
                rem /= fa[i].n;
            }
            out->v[idx] = m;
        }
    }
    free(fa);
    return rc;
}

static int expand(struct ctx *c, const struct tk_yaml_node *node, const struct schema *s,
                  const char *path, struct alts *out)
{
    int rc = 0;

    if (s->kind == EK_FIXED || node->kind == TK_YAML_SCALAR || node->kind == TK_YAML_NULL) {
        single(c, node, out);
        return 0;
    }
    switch (s->kind) {
    case EK_SCALAR:
        if (node->kind != TK_YAML_SEQ) {
            single(c, node, out);
            return 0;
        }
        if (node->n == 0)
            return tk_yaml_err(c->err, c->doc, node,
                               "%s: an empty list of alternatives gives no cells", path);
        for (size_t i = 0; i < node->n; i++)
            if (node->items[i]->kind == TK_YAML_SEQ || node->items[i]->kind == TK_YAML_MAP)
                return tk_yaml_err(c->err, c->doc, node->items[i],
                                   "%s: a list of alternatives holds values, got %s", path,
                                   tk_yaml_kind_name(node->items[i]->kind));
        out->v = arena_alloc(c->in, node->n * sizeof(*out->v));
        out->n = node->n;
        for (size_t i = 0; i < node->n; i++)
            out->v[i] = node->items[i];
        return 0;
    case EK_SCALAR_LIST: {
        size_t nseq = 0;
        if (node->kind != TK_YAML_SEQ) {
            single(c, node, out);
            return 0;
        }
        for (size_t i = 0; i < node->n; i++)
            nseq += node->items[i]->kind == TK_YAML_SEQ;
        if (nseq == 0) {
            single(c, node, out);
            return 0;
        }
        if (nseq != node->n)
            return tk_yaml_err(c->err, c->doc, node,
                               "%s: give either one list of flags or a list of such lists "
                               "(alternatives), not a mix",
                               path);
        out->v = arena_alloc(c->in, node->n * sizeof(*out->v));
        out->n = node->n;
        for (size_t i = 0; i < node->n; i++)
            out->v[i] = node->items[i];
        return 0;
    }
    case EK_MAP:
        if (node->kind == TK_YAML_MAP)
            return expand_map(c, node, s->sub, path, out);
        if (node->n == 0)
            return tk_yaml_err(c->err, c->doc, node,
                               "%s: an empty list of alternatives gives no cells", path);
        {
            struct alts *each = tk_xcalloc(node->n, sizeof(*each));
            size_t total = 0;
            for (size_t i = 0; i < node->n && !rc; i++) {
                if (node->items[i]->kind != TK_YAML_MAP)
                    rc = tk_yaml_err(c->err, c->doc, node->items[i],
                                     "%s: alternatives of a map section must be maps, got %s", path,
                                     tk_yaml_kind_name(node->items[i]->kind));
                else
                    rc = expand_map(c, node->items[i], s->sub, path, &each[i]);
                if (!rc && (total += each[i].n) > TK_EXP_MAX_CELLS)
                    rc = too_many(c, node);
            }
            if (!rc) {
                out->v = arena_alloc(c->in, total * sizeof(*out->v));
                out->n = 0;
                for (size_t i = 0; i < node->n; i++)
                    for (size_t j = 0; j < each[i].n; j++)
                        out->v[out->n++] = each[i].v[j];
            }
            free(each);
        }
        return rc;
    case EK_MAP_LIST: {
        if (node->kind != TK_YAML_SEQ) {
            single(c, node, out);
            return 0;
        }
        size_t k = node->n, total = 1;
        int same = 1;
        struct alts *fa = tk_xcalloc(k ? k : 1, sizeof(*fa));
        for (size_t i = 0; i < k && !rc; i++) {
            char child[160];
            /* Paths name fields in messages; a cut one still points at the right place. */
            if (snprintf(child, sizeof(child), "%s[%zu]", path, i) >= (int)sizeof(child))
                child[sizeof(child) - 1] = '\0';
            if (node->items[i]->kind == TK_YAML_MAP)
                rc = expand_map(c, node->items[i], s->sub, child, &fa[i]);
            else
                single(c, node->items[i], &fa[i]);
            if (!rc) {
                same = same && fa[i].n == 1 && fa[i].v[0] == node->items[i];
                if ((total *= fa[i].n) > TK_EXP_MAX_CELLS)
                    rc = too_many(c, node);
            }
        }
        if (!rc && same) {
            single(c, node, out);
        } else if (!rc) {
            out->v = arena_alloc(c->in, total * sizeof(*out->v));
            out->n = total;
            for (size_t idx = 0; idx < total; idx++) {
                struct tk_yaml_node *q = vnode(c->in, TK_YAML_SEQ, node, k, k);
                size_t rem = idx;
                for (size_t i = k; i-- > 0;) {
                    q->items[i] = (struct tk_yaml_node *)fa[i].v[rem % fa[i].n];
                    rem /= fa[i].n;
                }
                out->v[idx] = q;
            }
        }
        free(fa);
        return rc;
    }
    case EK_FIXED:
        break;
    }
    single(c, node, out);
    return 0;
}

/* ---- typed getters with full paths in messages --------------------------------------------- */

struct pctx {
    struct ctx *c;
    const struct tk_yaml_node *map;
    const char *prefix; /* "controlPlane", "agents.capacity", ... */
};

static void field_path(const struct pctx *p, const char *key, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", p->prefix, p->prefix[0] ? "." : "", key);
}

/* The value node of key, NULL when absent or null. */
static const struct tk_yaml_node *val(const struct pctx *p, const char *key)
{
    const struct tk_yaml_node *v = tk_yaml_get(p->map, key);
    return v && v->kind != TK_YAML_NULL ? v : NULL;
}

/* The key node of key (for "does not apply" messages), or the value. */
static const struct tk_yaml_node *key_node(const struct tk_yaml_node *map, const char *key)
{
    for (size_t i = 0; map && map->kind == TK_YAML_MAP && i < map->n; i++)
        if (strcmp(map->items[2 * i]->scalar, key) == 0)
            return map->items[2 * i];
    return NULL;
}

static int scalar_str(const struct pctx *p, const struct tk_yaml_node *v, const char *what,
                      const char **out)
{
    return tk_yaml_to_str(p->c->doc, v, what, out, p->c->err);
}

static int get_str(const struct pctx *p, const char *key, const char **out)
{
    char what[128];
    const struct tk_yaml_node *v = val(p, key);
    field_path(p, key, what, sizeof(what));
    return v ? scalar_str(p, v, what, out) : 0;
}

static int enum_value(struct ctx *c, const struct tk_yaml_node *v, const char *what,
                      const char *const *names, int *out)
{
    const char *s;
    char list[160];
    int rc = tk_yaml_to_str(c->doc, v, what, &s, c->err);
    if (rc)
        return rc;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    join_names(names, 16, list, sizeof(list));
    const char *hint = closest(s, names, 16);
    if (hint)
        return tk_yaml_err(c->err, c->doc, v,
                           "%s must be one of %s, got '%.40s' (did you mean '%s'?)", what, list, s,
                           hint);
    return tk_yaml_err(c->err, c->doc, v, "%s must be one of %s, got '%.40s'", what, list, s);
}

static int get_enum(const struct pctx *p, const char *key, const char *const *names, int *out)
{
    char what[128];
    const struct tk_yaml_node *v = val(p, key);
    field_path(p, key, what, sizeof(what));
    return v ? enum_value(p->c, v, what, names, out) : 0;
}

static int int_value(struct ctx *c, const struct tk_yaml_node *v, const char *what, int64_t min,
                     int64_t max, int64_t *out)
{
    int64_t x;
    int rc = tk_yaml_to_int64(c->doc, v, what, &x, c->err);
    if (rc)
        return rc;
    if (x < min)
        return tk_yaml_err(c->err, c->doc, v, "%s must be at least %lld, got %lld", what,
                           (long long)min, (long long)x);
    if (x > max)
        return tk_yaml_err(c->err, c->doc, v, "%s must be at most %lld, got %lld", what,
                           (long long)max, (long long)x);
    *out = x;
    return 0;
}

static int get_int(const struct pctx *p, const char *key, int64_t min, int64_t max, int64_t *out)
{
    char what[128];
    const struct tk_yaml_node *v = val(p, key);
    field_path(p, key, what, sizeof(what));
    return v ? int_value(p->c, v, what, min, max, out) : 0;
}

/* A number > min_excl and <= max. */
static int num_value(struct ctx *c, const struct tk_yaml_node *v, const char *what, double min_excl,
                     double max, double *out)
{
    double x;
    int rc = tk_yaml_to_double(c->doc, v, what, &x, c->err);
    if (rc)
        return rc;
    if (!(x > min_excl))
        return tk_yaml_err(c->err, c->doc, v, "%s must be greater than %g, got %g", what, min_excl,
                           x);
    if (x > max)
        return tk_yaml_err(c->err, c->doc, v, "%s must be at most %g, got %g", what, max, x);
    *out = x;
    return 0;
}

static int cpu_value(struct ctx *c, const struct tk_yaml_node *v, const char *what, int64_t *milli)
{
    const char *s;
    struct tk_quantity q;
    struct tk_err qe = {0};
    int rc = tk_yaml_to_str(c->doc, v, what, &s, c->err);
    if (rc)
        return rc;
    if (tk_quantity_parse(s, &q, &qe))
        return tk_yaml_err(c->err, c->doc, v,
                           "%s must be a CPU amount such as 4 or 1500m, got '%.32s' (%s)", what, s,
                           qe.msg);
    if (q.milli <= 0 || q.saturated)
        return tk_yaml_err(c->err, c->doc, v, "%s must be a positive CPU amount, got '%.32s'", what,
                           s);
    *milli = q.milli;
    return 0;
}

static int mem_value(struct ctx *c, const struct tk_yaml_node *v, const char *what,
                     int64_t min_bytes, int64_t *bytes)
{
    const char *s;
    struct tk_quantity q;
    struct tk_err qe = {0};
    int rc = tk_yaml_to_str(c->doc, v, what, &s, c->err);
    if (rc)
        return rc;
    if (tk_quantity_parse(s, &q, &qe))
        return tk_yaml_err(c->err, c->doc, v,
                           "%s must be a memory size such as 8Gi or 512Mi, got '%.32s' (%s)", what,
                           s, qe.msg);
    if (q.value < min_bytes) {
        char minfmt[TK_QUANTITY_FMT_MAX];
        struct tk_quantity mq;
        tk_quantity_from_value(&mq, min_bytes, TK_QUANTITY_BINARY_SI);
        tk_quantity_format(&mq, minfmt, sizeof(minfmt));
        return tk_yaml_err(c->err, c->doc, v, "%s must be at least %s, got '%.32s'", what, minfmt,
                           s);
    }
    *bytes = q.value;
    return 0;
}

static int dur_value(struct ctx *c, const struct tk_yaml_node *v, const char *what, int64_t min_ns,
                     int64_t max_ns, int64_t *ns)
{
    const char *s;
    int64_t x;
    struct tk_err de = {0};
    char lim[TK_DURATION_MAX];
    int rc = tk_yaml_to_str(c->doc, v, what, &s, c->err);
    if (rc)
        return rc;
    if (tk_duration_parse(s, &x, &de))
        return tk_yaml_err(c->err, c->doc, v,
                           "%s must be a duration such as 30s, 1m30s or 250ms, got '%.32s' (%s)",
                           what, s, de.msg);
    if (x < min_ns) {
        tk_duration_format(min_ns, lim, sizeof(lim));
        return tk_yaml_err(c->err, c->doc, v, "%s must be at least %s, got '%.32s'", what, lim, s);
    }
    if (x > max_ns) {
        tk_duration_format(max_ns, lim, sizeof(lim));
        return tk_yaml_err(c->err, c->doc, v, "%s must be at most %s, got '%.32s'", what, lim, s);
    }
    *ns = x;
    return 0;
}

static int get_num(const struct pctx *p, const char *key, double min_excl, double max, double *out)
{
    char what[128];
    const struct tk_yaml_node *v = val(p, key);
    field_path(p, key, what, sizeof(what));
    return v ? num_value(p->c, v, what, min_excl, max, out) : 0;
}

static int get_cpu(const struct pctx *p, const char *key, int64_t *milli)
{
    char what[128];
    const struct tk_yaml_node *v = val(p, key);
    field_path(p, key, what, sizeof(what));
    return v ? cpu_value(p->c, v, what, milli) : 0;
}

static int get_mem(const struct pctx *p, const char *key, int64_t min_bytes, int64_t *bytes)
{
    char what[128];
    const struct tk_yaml_node *v = val(p, key);
    field_path(p, key, what, sizeof(what));
    return v ? mem_value(p->c, v, what, min_bytes, bytes) : 0;
}

static int get_dur(const struct pctx *p, const char *key, int64_t min_ns, int64_t max_ns,
                   int64_t *ns)
{
    char what[128];
    const struct tk_yaml_node *v = val(p, key);
    field_path(p, key, what, sizeof(what));
    return v ? dur_value(p->c, v, what, min_ns, max_ns, ns) : 0;
}

/* Opens a section: a map (or absent/null: defaults), with only the allowed keys. */
static int section(struct ctx *c, const struct tk_yaml_node *node, const char *prefix,
                   const char *const *allowed, struct pctx *out)
{
    out->c = c;
    out->prefix = prefix;
    out->map = node && node->kind == TK_YAML_MAP ? node : NULL;
    if (!node || node->kind == TK_YAML_NULL)
        return 0;
    if (tk_yaml_expect(c->doc, node, TK_YAML_MAP, prefix, c->err))
        return c->err->code;
    return tk_yaml_check_keys(c->doc, node, allowed, c->err);
}

/* ---- parsing one expanded tree ------------------------------------------------------------ */

/* Where a cell's cross-field checks point when they fail. */
struct marks {
    const struct tk_yaml_node *etcd_members, *pods_per_node, *load, *provider;
    const struct tk_yaml_node *local_only;  /* first local-provider-only key given */
    const struct tk_yaml_node *remote_only; /* first kubeconfig-provider-only key given */
    const struct tk_yaml_node *fidelity;    /* agents.fidelity's value */
    const struct tk_yaml_node *agent_args;  /* agents.args's value */
    const struct tk_yaml_node *nodes;       /* agents.nodes's value */
    /* the values of the kubeconfig provider's files, for "cannot read" */
    const struct tk_yaml_node *kubeconfig, *etcd_metrics, *etcd_ca, *etcd_cert, *etcd_key;
    const struct tk_yaml_node *bootstrap_kubeconfig;
};

static const char *const apiserver_reserved[] = {
    "--etcd-servers",
    "--etcd-cafile",
    "--etcd-certfile",
    "--etcd-keyfile",
    "--secure-port",
    "--bind-address",
    "--advertise-address",
    "--tls-cert-file",
    "--tls-private-key-file",
    "--client-ca-file",
    "--service-account-key-file",
    "--service-account-signing-key-file",
    "--service-account-issuer",
    "--kubelet-client-certificate",
    "--kubelet-client-key",
    "--cert-dir",
    NULL,
};

/* One controlPlane.apiserverArgs item: a single flag, not one that wires the cluster. */
static int check_apiserver_arg(struct ctx *c, const struct tk_yaml_node *item, const char *what,
                               const char *a)
{
    if (strncmp(a, "--", 2) != 0 || strlen(a) < 3 || strpbrk(a, " \t\n"))
        return tk_yaml_err(c->err, c->doc, item,
                           "%s must be one flag such as --max-requests-inflight=800, got '%.40s'",
                           what, a);
    for (const char *const *r = apiserver_reserved; *r; r++) {
        size_t rl = strlen(*r);
        if (strncmp(a, *r, rl) == 0 && (a[rl] == '=' || a[rl] == '\0'))
            return tk_yaml_err(c->err, c->doc, item,
                               "%s: %s is set by TurboKube (it wires the control plane together)",
                               what, *r);
    }
    return 0;
}

/* A list of flags (node: absent, or a sequence of scalars), each checked by check, into *out
 * and *n (strings owned by the document); none leaves them NULL and 0. */
static int parse_flag_list(struct ctx *c, const struct tk_yaml_node *node, const char *path,
                           int (*check)(struct ctx *, const struct tk_yaml_node *, const char *,
                                        const char *),
                           const char *const **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!node)
        return 0;
    if (tk_yaml_expect(c->doc, node, TK_YAML_SEQ, path, c->err))
        return c->err->code;
    const char **a = arena_alloc(c->in, (node->n ? node->n : 1) * sizeof(*a));
    for (size_t i = 0; i < node->n; i++) {
        char what[80];
        snprintf(what, sizeof(what), "%s[%zu]", path, i);
        if (tk_yaml_to_str(c->doc, node->items[i], what, &a[i], c->err) ||
            check(c, node->items[i], what, a[i]))
            return c->err->code;
    }
    *out = a;
    *n = node->n;
    return 0;
}

static int valid_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int parse_hosts(struct ctx *c, const struct tk_yaml_node *hosts, struct tk_cell_params *p)
{
    if (tk_yaml_expect(c->doc, hosts, TK_YAML_SEQ, "controlPlane.hosts", c->err))
        return c->err->code;
    if (hosts->n == 0)
        return tk_yaml_err(c->err, c->doc, hosts,
                           "controlPlane.hosts needs at least one host (or leave it out for "
                           "one host 'cp' with 2 CPUs and 4Gi)");
    if (hosts->n > TK_EXP_MAX_HOSTS)
        return tk_yaml_err(c->err, c->doc, hosts->items[TK_EXP_MAX_HOSTS],
                           "controlPlane.hosts: at most %d hosts", TK_EXP_MAX_HOSTS);
    static const char *const keys[] = {"name", "cpus", "memory", NULL};
    for (size_t i = 0; i < hosts->n; i++) {
        char prefix[48];
        struct pctx h;
        struct tk_exp_host *x = &p->hosts[i];
        snprintf(prefix, sizeof(prefix), "controlPlane.hosts[%zu]", i);
        if (section(c, hosts->items[i], prefix, keys, &h))
            return c->err->code;
        if (!h.map)
            return tk_yaml_err(c->err, c->doc, hosts->items[i],
                               "%s must be a map with name, cpus and memory", prefix);
        static const char *const need[] = {"name", "cpus", "memory"};
        for (size_t k = 0; k < 3; k++)
            if (!val(&h, need[k]))
                return tk_yaml_err(c->err, c->doc, h.map,
                                   "%s needs %s (e.g. {name: cp, cpus: 4, "
                                   "memory: 8Gi})",
                                   prefix, need[k]);
        if (get_str(&h, "name", &x->name) || get_cpu(&h, "cpus", &x->cpu_milli) ||
            get_mem(&h, "memory", 64LL << 20, &x->memory_bytes))
            return c->err->code;
        if (!valid_dns_label(x->name))
            return tk_yaml_err(c->err, c->doc, val(&h, "name"),
                               "%s.name must be lowercase letters, digits and '-' (at most 63), "
                               "got '%.40s'",
                               prefix, x->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->hosts[j].name, x->name) == 0)
                return tk_yaml_err(c->err, c->doc, val(&h, "name"),
                                   "%s.name: duplicate host name '%s'", prefix, x->name);
    }
    p->nhosts = hosts->n;
    return 0;
}

/* A file path of the experiment: a leading ~/ is $HOME's, a relative path is the experiment
 * file's directory's (as load.config). *out is NULL when the key is absent. */
static int get_path(const struct pctx *s, const char *key, const char **out,
                    const struct tk_yaml_node **at)
{
    const char *v = NULL, *home = getenv("HOME");
    char *path;

    *at = val(s, key);
    if (get_str(s, key, &v) || !v)
        return s->c->err->code;
    if (!v[0])
        return tk_yaml_err(s->c->err, s->c->doc, *at, "controlPlane.%s must not be empty", key);
    if (strncmp(v, "~/", 2) == 0 && home && home[0])
        path = tk_xasprintf("%s/%s", home, v + 2);
    else if (v[0] == '/' || !s->c->in->dir[0])
        path = tk_xstrdup(v);
    else
        path = tk_xasprintf("%s/%s", s->c->in->dir, v);
    *out = arena_strdup(s->c->in, path);
    free(path);
    return 0;
}

/* http(s)://HOST[:PORT][/PATH], nothing else: the scraper speaks only these. */
static int check_metrics_url(struct ctx *c, const struct tk_yaml_node *at, const char *url)
{
    const char *rest = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    if (!rest || !rest[0] || rest[0] == '/' || rest[0] == ':' || strpbrk(url, " \t\n?#"))
        return tk_yaml_err(c->err, c->doc, at,
                           "controlPlane.etcdMetrics must be an http:// or https:// URL of etcd's "
                           "/metrics (e.g. https://10.0.0.5:2379/metrics), got '%.60s'",
                           url);
    return 0;
}

static int parse_control_plane(struct ctx *c, const struct tk_yaml_node *node,
                               struct tk_cell_params *p, struct marks *m)
{
    static const char *const keys[] = {"provider",
                                       "kubeconfig",
                                       "bootstrapKubeconfig",
                                       "etcdMetrics",
                                       "etcdCA",
                                       "etcdCert",
                                       "etcdKey",
                                       "kubernetesVersion",
                                       "datastore",
                                       "etcdMembers",
                                       "hosts",
                                       "placement",
                                       "latency",
                                       "apiserverArgs",
                                       NULL};
    static const char *const local_only[] = {
        "kubernetesVersion", "datastore", "etcdMembers",   "hosts",
        "placement",         "latency",   "apiserverArgs", NULL};
    static const char *const remote_only[] = {
        "kubeconfig", "bootstrapKubeconfig", "etcdMetrics", "etcdCA", "etcdCert", "etcdKey", NULL};
    struct pctx s;
    int v;
    int64_t members = 1;

    p->provider = TK_EXP_PROVIDER_LOCAL;
    p->kubernetes_version = TK_EXP_DEFAULT_KUBERNETES_VERSION;
    p->datastore = TK_EXP_DS_ETCD;
    p->etcd_members = 1;
    p->hosts[0] = (struct tk_exp_host){"cp", 2000, 4LL << 30};
    p->nhosts = 1;
    if (section(c, node, "controlPlane", keys, &s))
        return c->err->code;
    v = (int)p->provider;
    if (get_enum(&s, "provider", provider_names, &v))
        return c->err->code;
    p->provider = (enum tk_exp_provider)v;
    m->provider = val(&s, "provider");
    for (const char *const *k = local_only; *k && !m->local_only; k++)
        m->local_only = val(&s, *k) ? key_node(s.map, *k) : NULL;
    for (const char *const *k = remote_only; *k && !m->remote_only; k++)
        m->remote_only = val(&s, *k) ? key_node(s.map, *k) : NULL;
    if (get_path(&s, "kubeconfig", &p->kubeconfig, &m->kubeconfig) ||
        get_path(&s, "bootstrapKubeconfig", &p->bootstrap_kubeconfig, &m->bootstrap_kubeconfig) ||
        get_path(&s, "etcdCA", &p->etcd_ca, &m->etcd_ca) ||
        get_path(&s, "etcdCert", &p->etcd_cert, &m->etcd_cert) ||
        get_path(&s, "etcdKey", &p->etcd_key, &m->etcd_key) ||
        get_str(&s, "etcdMetrics", &p->etcd_metrics) ||
        get_str(&s, "kubernetesVersion", &p->kubernetes_version))
        return c->err->code;
    m->etcd_metrics = val(&s, "etcdMetrics");
    if (p->etcd_metrics && check_metrics_url(c, m->etcd_metrics, p->etcd_metrics))
        return c->err->code;
    {
        const char *kv = p->kubernetes_version;
        unsigned minor = 0, patch = 0;
        char tail = 0;
        if (sscanf(kv, "v1.%u.%u%c", &minor, &patch, &tail) != 2 || minor < 30 || minor > 99)
            return tk_yaml_err(c->err, c->doc, val(&s, "kubernetesVersion"),
                               "controlPlane.kubernetesVersion must look like %s (1.30 or "
                               "newer), got '%.32s'",
                               TK_EXP_DEFAULT_KUBERNETES_VERSION, kv);
    }
    v = (int)p->datastore;
    if (get_enum(&s, "datastore", datastore_names, &v))
        return c->err->code;
    p->datastore = (enum tk_exp_datastore)v;
    if (get_int(&s, "etcdMembers", 1, 3, &members))
        return c->err->code;
    if (members == 2)
        return tk_yaml_err(c->err, c->doc, val(&s, "etcdMembers"),
                           "controlPlane.etcdMembers must be 1 or 3, got 2 (two members need "
                           "both for a quorum: no more fault tolerance than one)");
    p->etcd_members = (int)members;
    m->etcd_members = val(&s, "etcdMembers");
    if (val(&s, "hosts") && parse_hosts(c, val(&s, "hosts"), p))
        return c->err->code;

    /* placement: every component on the first host unless told otherwise */
    static const char *const pkeys[] = {"etcd", "apiserver", "scheduler", "controller-manager",
                                        NULL};
    struct pctx pl;
    if (section(c, val(&s, "placement"), "controlPlane.placement", pkeys, &pl))
        return c->err->code;
    for (int comp = 0; comp < TK_EXP_NCOMPONENTS; comp++) {
        const char *host = NULL;
        const char *names[TK_EXP_MAX_HOSTS + 1] = {0};
        p->placement[comp] = 0;
        if (get_str(&pl, component_names[comp], &host))
            return c->err->code;
        if (!host)
            continue;
        size_t h = 0;
        for (; h < p->nhosts && strcmp(p->hosts[h].name, host) != 0; h++)
            names[h] = p->hosts[h].name;
        if (h < p->nhosts) {
            p->placement[comp] = (int)h;
            continue;
        }
        char list[160];
        join_names(names, p->nhosts, list, sizeof(list));
        const char *hint = closest(host, names, p->nhosts);
        return tk_yaml_err(c->err, c->doc, val(&pl, component_names[comp]),
                           "controlPlane.placement.%s: no host named '%.40s' (hosts: %s)%s%s%s",
                           component_names[comp], host, list, hint ? " (did you mean '" : "",
                           hint ? hint : "", hint ? "'?)" : "");
    }
    if (get_dur(&s, "latency", 0, 10 * NS_PER_S, &p->latency_ns))
        return c->err->code;

    return parse_flag_list(c, val(&s, "apiserverArgs"), "controlPlane.apiserverArgs",
                           check_apiserver_arg, &p->apiserver_args, &p->napiserver_args);
}

static int parse_startup(struct ctx *c, const struct tk_yaml_node *node, struct tk_cell_params *p)
{
    static const char *const keys[] = {"distribution", "value", "min",  "max",
                                       "median",       "p99",   "grid", NULL};
    static const char *const per_dist[3][3] = {
        {"value", NULL, NULL}, {"min", "max", NULL}, {"median", "p99", NULL}};
    struct pctx s;
    int dist = -1;
    const int64_t max_ns = 3600 * NS_PER_S;

    p->startup_dist = TK_EXP_LOGNORMAL;
    p->startup_a_ns = 1 * NS_PER_S;
    p->startup_b_ns = 3 * NS_PER_S;
    p->startup_grid_ns = 0;
    /* at most 1 s, the agent's own --start-grid limit (agent/config.c): refused here, with the
     * file's line, rather than by every agent of the cell */
    if (section(c, node, "agents.podStartup", keys, &s) ||
        get_dur(&s, "grid", 0, NS_PER_S, &p->startup_grid_ns))
        return c->err->code;
    int any = 0; /* a distribution key: without one (grid alone) the default stands */
    for (int k = 0; s.map && keys[k]; k++)
        any |= strcmp(keys[k], "grid") != 0 && val(&s, keys[k]) != NULL;
    if (!any)
        return 0;
    if (get_enum(&s, "distribution", dist_names, &dist))
        return c->err->code;
    if (dist < 0) /* inferred from the keys given */
        dist = val(&s, "value")                     ? TK_EXP_FIXED
               : (val(&s, "min") || val(&s, "max")) ? TK_EXP_UNIFORM
                                                    : TK_EXP_LOGNORMAL;
    for (int d = 0; d < 3; d++) {
        if (d == dist)
            continue;
        for (int k = 0; k < 2 && per_dist[d][k]; k++) {
            const char *key = per_dist[d][k];
            if (val(&s, key))
                return tk_yaml_err(c->err, c->doc, key_node(s.map, key),
                                   "agents.podStartup.%s applies to distribution %s, not %s (to "
                                   "compare distributions, give podStartup as a list of maps)",
                                   key, dist_names[d], dist_names[dist]);
        }
    }
    p->startup_dist = (enum tk_exp_dist)dist;
    for (int k = 0; k < 2 && per_dist[dist][k]; k++)
        if (!val(&s, per_dist[dist][k]))
            return tk_yaml_err(c->err, c->doc, s.map, "agents.podStartup: distribution %s needs %s",
                               dist_names[dist], per_dist[dist][k]);
    switch (dist) {
    case TK_EXP_FIXED:
        if (get_dur(&s, "value", 0, max_ns, &p->startup_a_ns))
            return c->err->code;
        p->startup_b_ns = p->startup_a_ns;
        break;
    case TK_EXP_UNIFORM:
        if (get_dur(&s, "min", 0, max_ns, &p->startup_a_ns) ||
            get_dur(&s, "max", 0, max_ns, &p->startup_b_ns))
            return c->err->code;
        if (p->startup_b_ns < p->startup_a_ns)
            return tk_yaml_err(c->err, c->doc, val(&s, "max"),
                               "agents.podStartup.max must not be below min");
        break;
    default:
        if (get_dur(&s, "median", 1, max_ns, &p->startup_a_ns) ||
            get_dur(&s, "p99", 1, max_ns, &p->startup_b_ns))
            return c->err->code;
        if (p->startup_b_ns < p->startup_a_ns)
            return tk_yaml_err(c->err, c->doc, val(&s, "p99"),
                               "agents.podStartup.p99 must not be below the median");
        break;
    }
    return 0;
}

/* turbokube-agent flags the run sets itself, per agent (its shard, its port, its cluster's
 * credentials) or from the cell's other fields: not settable through agents.args. */
static const char *const agent_reserved[] = {
    "config",
    "kubeconfig",
    "context",
    "fidelity",
    "nodes",
    "index-start",
    "index-width",
    "name-prefix",
    "startup-latency",
    "start-grid",
    "metrics-addr",
    "kubelet-addr",
    "kubelet-netns",
    "kubelet-port",
    "ca-cert",
    "ca-key",
    "cluster-dir",
    "bootstrap-kubeconfig",
    "cert-dir",
    "cleanup",
    "help",
    NULL,
};

/* Which of the cell's own resources (pods; with all, cpu and memory too) a RES=QTY[,...] list
 * names, or NULL. */
static const char *names_resource(const char *list, int all)
{
    static const char *const own[] = {"pods", "cpu", "memory", NULL};
    for (const char *r = list; *r; r += strcspn(r, ","), r += *r == ',') {
        size_t kl = strcspn(r, "=,");
        for (size_t i = 0; own[i] && (all || i == 0); i++)
            if (strlen(own[i]) == kl && strncmp(r, own[i], kl) == 0)
                return own[i];
    }
    return NULL;
}

/* Splits "--flag=value": the flag's name into name, and returns the value, or NULL when a is
 * not of that form (or the name is longer than 63). */
static const char *agent_flag_split(const char *a, char name[64])
{
    const char *eq = strchr(a, '=');
    if (strncmp(a, "--", 2) != 0 || !eq || eq - a < 3 || eq - a - 2 > 63)
        return NULL;
    memcpy(name, a + 2, (size_t)(eq - a - 2));
    name[eq - a - 2] = '\0';
    return eq + 1;
}

/* One agents.args item: --flag=value, a flag the run does not set, and a value the agent
 * accepts (checked by the agent's own parser, so plan refuses what the agent would). */
static int check_agent_arg(struct ctx *c, const struct tk_yaml_node *item, const char *what,
                           const char *a)
{
    char name[64];
    const char *v = agent_flag_split(a, name);

    if (!v)
        return tk_yaml_err(c->err, c->doc, item,
                           "%s must be one turbokube-agent flag as --flag=value, such as "
                           "--api-transport=h2, got '%.40s'",
                           what, a);
    for (const char *const *r = agent_reserved; *r; r++)
        if (strcmp(name, *r) == 0)
            return tk_yaml_err(c->err, c->doc, item,
                               "%s: --%s is TurboKube's to set (each agent's shard, "
                               "identity and endpoints, or the cell's other agents fields)",
                               what, name);
    const char *key = strcmp(name, "capacity") == 0 ? names_resource(v, 1) : NULL;
    if (key)
        return tk_yaml_err(c->err, c->doc, item,
                           "%s: set %s through agents.capacity.%s (--capacity here adds other "
                           "resources, such as nvidia.com/gpu=8)",
                           what, key, key);
    if (strcmp(name, "system-reserved") == 0 && names_resource(v, 0))
        return tk_yaml_err(c->err, c->doc, item,
                           "%s: reserving pods would leave the load's pods Pending (the load is "
                           "checked against agents.capacity.pods)",
                           what);
    /* a taint the load's pods do not tolerate: none would land, and the run counts a node so
     * tainted as not Ready */
    if (strcmp(name, "taints") == 0 && (strstr(v, ":NoSchedule") || strstr(v, ":NoExecute")))
        return tk_yaml_err(c->err, c->doc, item,
                           "%s: NoSchedule and NoExecute taints keep the load's pods off the "
                           "nodes (and count them not Ready); PreferNoSchedule is allowed",
                           what);
    if (strcmp(name, "labels") == 0 && strstr(v, "turbokube.io/"))
        return tk_yaml_err(c->err, c->doc, item,
                           "%s: labels under turbokube.io/ are TurboKube's own (the run finds "
                           "its nodes by them)",
                           what);
    struct tk_agent_config cfg;
    struct tk_err e = {0};
    tk_agent_config_init(&cfg);
    int rc = tk_agent_config_set(&cfg, name, v, &e);
    tk_agent_config_release(&cfg);
    if (rc)
        return tk_yaml_err(c->err, c->doc, item, "%s: %s (see turbokube-agent --help)", what,
                           e.msg);
    return 0;
}

static int parse_agents(struct ctx *c, const struct tk_yaml_node *node, struct tk_cell_params *p,
                        struct marks *m)
{
    static const char *const keys[] = {"nodes",      "nodesPerAgent", "fidelity", "capacity",
                                       "podStartup", "args",          NULL};
    static const char *const ckeys[] = {"cpu", "memory", "pods", NULL};
    struct pctx s, cap;
    int v = 0;

    p->nodes = 100;
    p->nodes_per_agent = 1000;
    p->fidelity = TK_EXP_LITE;
    p->capacity_cpu_milli = 32000;
    p->capacity_memory_bytes = 256LL << 30;
    p->capacity_pods = 110;
    if (section(c, node, "agents", keys, &s) || get_int(&s, "nodes", 1, 100000, &p->nodes) ||
        get_int(&s, "nodesPerAgent", 1, 100000, &p->nodes_per_agent) ||
        get_enum(&s, "fidelity", fidelity_names, &v))
        return c->err->code;
    p->fidelity = (enum tk_exp_fidelity)v;
    m->fidelity = val(&s, "fidelity");
    if (section(c, val(&s, "capacity"), "agents.capacity", ckeys, &cap) ||
        get_cpu(&cap, "cpu", &p->capacity_cpu_milli) ||
        get_mem(&cap, "memory", 1LL << 20, &p->capacity_memory_bytes) ||
        get_int(&cap, "pods", 1, 10000, &p->capacity_pods))
        return c->err->code;
    if (parse_startup(c, val(&s, "podStartup"), p))
        return c->err->code;
    m->agent_args = val(&s, "args");
    m->nodes = val(&s, "nodes");
    return parse_flag_list(c, m->agent_args, "agents.args", check_agent_arg, &p->agent_args,
                           &p->nagent_args);
}

static int read_file(const char *path, struct tk_buf *b, struct tk_err *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;

    if (!f)
        return tk_err_set(err, TK_EIO, "cannot read '%s': %s", path, strerror(errno));
    tk_buf_init(b, 16u << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tk_buf_append(b, chunk, n)) {
            fclose(f);
            tk_buf_release(b);
            return tk_err_set(err, TK_ENOMEM, "'%s' is larger than 16 MiB", path);
        }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        tk_buf_release(b);
        return tk_err_set(err, TK_EIO, "cannot read '%s'", path);
    }
    return 0;
}

static void sha12(const void *data, size_t n, char out[13])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL))
        memset(md, 0, sizeof(md));
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int parse_churn(struct ctx *c, const struct tk_yaml_node *node, struct tk_cell_params *p)
{
    static const char *const keys[] = {"cycles", "percent", "duration", "delay", "mode", NULL};
    struct pctx s;
    int mode = p->shape == TK_EXP_NODE_DENSITY ? TK_EXP_CHURN_OBJECTS : TK_EXP_CHURN_NAMESPACES;

    if (section(c, node, "load.churn", keys, &s))
        return c->err->code;
    if (!s.map)
        return 0;
    p->churn = 1;
    p->churn_percent = 10;
    p->churn_delay_ns = 30 * NS_PER_S;
    if (get_int(&s, "cycles", 0, 1000, &p->churn_cycles) ||
        get_int(&s, "percent", 1, 100, &p->churn_percent) ||
        get_dur(&s, "duration", 0, 24 * 3600 * NS_PER_S, &p->churn_duration_ns) ||
        get_dur(&s, "delay", 0, 3600 * NS_PER_S, &p->churn_delay_ns) ||
        get_enum(&s, "mode", churn_mode_names, &mode))
        return c->err->code;
    if (p->churn_cycles == 0 && p->churn_duration_ns == 0)
        return tk_yaml_err(c->err, c->doc, s.map,
                           "load.churn needs cycles or duration (e.g. {cycles: 3, percent: 10})");
    if (mode == TK_EXP_CHURN_NAMESPACES && p->shape == TK_EXP_NODE_DENSITY)
        return tk_yaml_err(c->err, c->doc, val(&s, "mode"),
                           "load.churn.mode namespaces needs shape cluster-density (node-density "
                           "puts every pod in one namespace); use mode objects");
    p->churn_mode = (enum tk_exp_churn_mode)mode;
    return 0;
}

static int parse_load(struct ctx *c, const struct tk_yaml_node *node, struct tk_cell_params *p,
                      struct marks *m)
{
    static const char *const keys[] = {
        "shape",    "podsPerNode", "namespaces", "deploymentsPerNamespace",
        "replicas", "services",    "configmaps", "secrets",
        "qps",      "burst",       "churn",      "config",
        "timeout",  NULL};
    /* which keys belong to which shape; "qps", "burst", "churn" to every shape but custom */
    static const char *const shape_keys[3][7] = {
        {"podsPerNode", NULL},
        {"namespaces", "deploymentsPerNamespace", "replicas", "services", "configmaps", "secrets",
         NULL},
        {"config", NULL},
    };
    struct pctx s;
    int shape = TK_EXP_NODE_DENSITY;

    p->shape = TK_EXP_NODE_DENSITY;
    p->pods_per_node = 10;
    p->namespaces = 10;
    p->deployments_per_namespace = 5;
    p->replicas = 2;
    p->services = 5;
    p->configmaps = 10;
    p->secrets = 10;
    p->qps = 20;
    p->burst = 0;
    p->timeout_ns = 15 * 60 * NS_PER_S;
    if (section(c, node, "load", keys, &s) || get_enum(&s, "shape", shape_names, &shape))
        return c->err->code;
    p->shape = (enum tk_exp_shape)shape;
    m->load = s.map ? s.map : node;
    for (int sh = 0; sh < 3; sh++) {
        if (sh == shape)
            continue;
        for (int k = 0; shape_keys[sh][k]; k++)
            if (val(&s, shape_keys[sh][k]))
                return tk_yaml_err(c->err, c->doc, key_node(s.map, shape_keys[sh][k]),
                                   "load.%s applies to shape %s, not %s (to compare shapes, give "
                                   "load as a list of maps, one per shape)",
                                   shape_keys[sh][k], shape_names[sh], shape_names[shape]);
    }
    if (shape == TK_EXP_CUSTOM) {
        static const char *const not_custom[] = {"qps", "burst", "churn", NULL};
        for (const char *const *k = not_custom; *k; k++)
            if (val(&s, *k))
                return tk_yaml_err(c->err, c->doc, key_node(s.map, *k),
                                   "load.%s does not apply to shape custom (set it in your "
                                   "kube-burner config)",
                                   *k);
        if (!val(&s, "config"))
            return tk_yaml_err(c->err, c->doc, s.map ? s.map : node,
                               "load: shape custom needs config: the path of a kube-burner v2 "
                               "config");
    }
    m->pods_per_node = val(&s, "podsPerNode");
    if (get_int(&s, "podsPerNode", 1, 1000, &p->pods_per_node) ||
        get_int(&s, "namespaces", 1, 10000, &p->namespaces) ||
        get_int(&s, "deploymentsPerNamespace", 0, 1000, &p->deployments_per_namespace) ||
        get_int(&s, "replicas", 1, 1000, &p->replicas) ||
        get_int(&s, "services", 0, 1000, &p->services) ||
        get_int(&s, "configmaps", 0, 1000, &p->configmaps) ||
        get_int(&s, "secrets", 0, 1000, &p->secrets) || get_num(&s, "qps", 0, 10000, &p->qps) ||
        get_int(&s, "burst", 1, 100000, &p->burst) ||
        get_dur(&s, "timeout", 10 * NS_PER_S, 24 * 3600 * NS_PER_S, &p->timeout_ns))
        return c->err->code;
    if (p->burst == 0)
        p->burst = (int64_t)ceil(p->qps);
    if (shape == TK_EXP_CLUSTER_DENSITY &&
        p->deployments_per_namespace + p->services + p->configmaps + p->secrets == 0)
        return tk_yaml_err(c->err, c->doc, s.map ? s.map : node,
                           "load: cluster-density with no deployments, services, configmaps or "
                           "secrets creates only empty namespaces");
    if (shape == TK_EXP_CUSTOM) {
        const char *cfg = NULL;
        struct tk_buf b;
        struct tk_err fe = {0};
        if (get_str(&s, "config", &cfg))
            return c->err->code;
        char *path = cfg[0] == '/' || !c->in->dir[0] ? tk_xstrdup(cfg)
                                                     : tk_xasprintf("%s/%s", c->in->dir, cfg);
        if (read_file(path, &b, &fe)) {
            free(path);
            tk_yaml_err(c->err, c->doc, val(&s, "config"), "load.config: %s", fe.msg);
            c->err->code = fe.code;
            return fe.code;
        }
        sha12(b.data ? b.data : "", b.len, p->config_sha);
        tk_buf_release(&b);
        p->config_path = arena_strdup(c->in, path);
        free(path);
    }
    return parse_churn(c, val(&s, "churn"), p);
}

static int parse_measurement(struct ctx *c, const struct tk_yaml_node *node,
                             struct tk_cell_params *p)
{
    static const char *const keys[] = {"scrapeInterval", "slo", NULL};
    static const char *const skeys[] = {"mutatingP99", "readOnlyResourceP99", "readOnlyClusterP99",
                                        "podStartupP99", NULL};
    struct pctx s, slo;
    const int64_t hour = 3600 * NS_PER_S;

    /* REFERENCE.md section 3: the Kubernetes scalability SLOs */
    p->scrape_interval_ns = 15 * NS_PER_S;
    p->slo_mutating_p99_ns = 1 * NS_PER_S;
    p->slo_ro_resource_p99_ns = 1 * NS_PER_S;
    p->slo_ro_cluster_p99_ns = 30 * NS_PER_S;
    p->slo_pod_startup_p99_ns = 5 * NS_PER_S;
    if (section(c, node, "measurement", keys, &s) ||
        get_dur(&s, "scrapeInterval", NS_PER_S, 600 * NS_PER_S, &p->scrape_interval_ns) ||
        section(c, val(&s, "slo"), "measurement.slo", skeys, &slo) ||
        get_dur(&slo, "mutatingP99", NS_PER_MS, hour, &p->slo_mutating_p99_ns) ||
        get_dur(&slo, "readOnlyResourceP99", NS_PER_MS, hour, &p->slo_ro_resource_p99_ns) ||
        get_dur(&slo, "readOnlyClusterP99", NS_PER_MS, hour, &p->slo_ro_cluster_p99_ns) ||
        get_dur(&slo, "podStartupP99", NS_PER_MS, hour, &p->slo_pod_startup_p99_ns))
        return c->err->code;
    return 0;
}

static int parse_cell(struct ctx *c, const struct tk_yaml_node *root, struct tk_cell_params *p,
                      struct marks *m)
{
    memset(p, 0, sizeof(*p));
    memset(m, 0, sizeof(*m));
    if (parse_control_plane(c, tk_yaml_get(root, "controlPlane"), p, m) ||
        parse_agents(c, tk_yaml_get(root, "agents"), p, m) ||
        parse_load(c, tk_yaml_get(root, "load"), p, m) ||
        parse_measurement(c, tk_yaml_get(root, "measurement"), p))
        return c->err->code;
    return 0;
}

static int readable(struct ctx *c, const struct tk_yaml_node *at, const char *key, const char *path)
{
    if (!path || access(path, R_OK) == 0)
        return 0;
    return tk_yaml_err(c->err, c->doc, at, "controlPlane.%s: cannot read '%s': %s", key, path,
                       strerror(errno));
}

/* Provider kubeconfig: its files exist, etcd's TLS files go with an https etcdMetrics (a
 * certificate with its key), and the agents can be what such a cluster lets them be. */
static int check_remote(struct ctx *c, const struct tk_cell_params *p, const struct marks *m)
{
    const struct tk_yaml_node *tls = m->etcd_ca     ? m->etcd_ca
                                     : m->etcd_cert ? m->etcd_cert
                                                    : m->etcd_key;
    if (readable(c, m->kubeconfig, "kubeconfig", p->kubeconfig))
        return c->err->code;
    if (tls && !p->etcd_metrics)
        return tk_yaml_err(c->err, c->doc, tls,
                           "controlPlane.%s needs controlPlane.etcdMetrics (the https URL "
                           "they are for)",
                           m->etcd_ca     ? "etcdCA"
                           : m->etcd_cert ? "etcdCert"
                                          : "etcdKey");
    if (tls && strncmp(p->etcd_metrics, "https://", 8) != 0)
        return tk_yaml_err(c->err, c->doc, tls,
                           "controlPlane.etcdCA, etcdCert and etcdKey are for an https:// "
                           "etcdMetrics URL, not '%.60s'",
                           p->etcd_metrics);
    if (!p->etcd_cert != !p->etcd_key)
        return tk_yaml_err(c->err, c->doc, m->etcd_cert ? m->etcd_cert : m->etcd_key,
                           "controlPlane.etcdCert and etcdKey go together (a client certificate "
                           "and its key)");
    if (readable(c, m->etcd_ca, "etcdCA", p->etcd_ca) ||
        readable(c, m->etcd_cert, "etcdCert", p->etcd_cert) ||
        readable(c, m->etcd_key, "etcdKey", p->etcd_key))
        return c->err->code;
    if (readable(c, m->bootstrap_kubeconfig, "bootstrapKubeconfig", p->bootstrap_kubeconfig))
        return c->err->code;
    if (p->fidelity == TK_EXP_KUBELET && !p->bootstrap_kubeconfig)
        return tk_yaml_err(c->err, c->doc, m->fidelity,
                           "agents.fidelity kubelet against provider kubeconfig needs "
                           "controlPlane.bootstrapKubeconfig (a kubeconfig with the server, its "
                           "CA and a bootstrap token, so each node gets its own certificate by "
                           "TLS bootstrap; the cluster's CA key is not ours), or use fidelity "
                           "lite");
    if (p->fidelity != TK_EXP_KUBELET && p->bootstrap_kubeconfig)
        return tk_yaml_err(c->err, c->doc, m->bootstrap_kubeconfig,
                           "controlPlane.bootstrapKubeconfig gives node identities to "
                           "agents.fidelity kubelet; this cell's agents are lite (one shared "
                           "identity, the kubeconfig's): drop it or set fidelity kubelet");
    return 0;
}

/* The flags the run derives from the cell (its fleet, fidelity, capacity and startup) and
 * agents.args, through the agent's own cross-field checks: what the agents would refuse at
 * start (a fleet larger than the node IP range or pod CIDR, a lease renewal not shorter than
 * the lease, h1 in kubelet mode) is refused here. Each item was checked alone when parsed. at
 * is agents.args's node, or without args agents.nodes's; what names it. */
static int check_agent_args(struct ctx *c, const struct tk_cell_params *p,
                            const struct tk_yaml_node *at, const char *what)
{
    struct tk_agent_config cfg;
    struct tk_err e = {0};
    char cap[160], nodes[32], startup[128], name[64];
    int rc;

    tk_exp_capacity_spec(p, cap, sizeof(cap));
    snprintf(nodes, sizeof(nodes), "%lld", (long long)p->nodes);
    tk_exp_startup_spec(p, startup, sizeof(startup));
    tk_agent_config_init(&cfg);
    rc = tk_agent_config_set(&cfg, "fidelity", fidelity_names[p->fidelity], &e) ||
         tk_agent_config_set(&cfg, "nodes", nodes, &e) ||
         tk_agent_config_set(&cfg, "capacity", cap, &e) ||
         tk_agent_config_set(&cfg, "startup-latency", startup, &e);
    for (size_t i = 0; !rc && i < p->nagent_args; i++) {
        const char *v = agent_flag_split(p->agent_args[i], name); /* checked when parsed */
        rc = tk_agent_config_set(&cfg, name, v, &e);
    }
    if (!rc)
        rc = tk_agent_config_check(&cfg, &e);
    tk_agent_config_release(&cfg);
    if (rc)
        return tk_yaml_err(c->err, c->doc, at,
                           "%s: %s (the agents of this cell's %lld %s nodes would refuse it; "
                           "see turbokube-agent --help)",
                           what, e.msg, (long long)p->nodes, fidelity_names[p->fidelity]);
    return 0;
}

/* Checks that need several sections at once; run only on cells that survive exclude. */
static int check_cell(struct ctx *c, const struct tk_cell_params *p, const struct marks *m,
                      const struct tk_yaml_node *ramp_at, const char *ramp_field)
{
    const struct tk_yaml_node *at;

    if (p->nagent_args)
        at = m->agent_args;
    else if (ramp_field && strcmp(ramp_field, "agents.nodes") == 0)
        at = ramp_at;
    else
        at = m->nodes;
    if (check_agent_args(c, p, at, p->nagent_args ? "agents.args" : "agents.nodes"))
        return c->err->code;

    if (p->provider == TK_EXP_PROVIDER_KUBECONFIG && m->local_only)
        return tk_yaml_err(c->err, c->doc, m->local_only,
                           "controlPlane.%s does not apply to provider kubeconfig (that cluster "
                           "is not TurboKube's to build or size)",
                           m->local_only->scalar);
    if (p->provider == TK_EXP_PROVIDER_LOCAL && m->remote_only)
        return tk_yaml_err(c->err, c->doc, m->remote_only,
                           "controlPlane.%s applies to provider kubeconfig only",
                           m->remote_only->scalar);
    if (p->provider == TK_EXP_PROVIDER_KUBECONFIG && check_remote(c, p, m))
        return c->err->code;
    if (p->provider == TK_EXP_PROVIDER_LOCAL && p->etcd_members == 3 &&
        p->datastore != TK_EXP_DS_ETCD)
        return tk_yaml_err(c->err, c->doc, m->etcd_members,
                           "controlPlane.etcdMembers 3 needs datastore etcd (%s is a single "
                           "process)",
                           datastore_names[p->datastore]);
    if (p->shape == TK_EXP_NODE_DENSITY && p->pods_per_node > p->capacity_pods) {
        at = ramp_field && strcmp(ramp_field, "load.podsPerNode") == 0 ? ramp_at
             : m->pods_per_node                                        ? m->pods_per_node
                                                                       : m->load;
        return tk_yaml_err(c->err, c->doc, at,
                           "load.podsPerNode (%lld) exceeds agents.capacity.pods (%lld): pods "
                           "would stay Pending",
                           (long long)p->pods_per_node, (long long)p->capacity_pods);
    }
    if (p->shape == TK_EXP_CLUSTER_DENSITY && tk_exp_pods(p) > p->nodes * p->capacity_pods)
        return tk_yaml_err(c->err, c->doc, ramp_field ? ramp_at : m->load,
                           "load: cluster-density makes %lld pods but %lld nodes hold only %lld "
                           "(agents.capacity.pods %lld): pods would stay Pending",
                           (long long)tk_exp_pods(p), (long long)p->nodes,
                           (long long)(p->nodes * p->capacity_pods), (long long)p->capacity_pods);
    return 0;
}

/* The canonical form: hosts nobody uses dropped (placement renumbered), a latency that no
 * connection crosses zeroed, fields of the other provider cleared. Equal runs then have equal
 * parameters. */
static void normalize(struct tk_cell_params *p)
{
    if (p->provider == TK_EXP_PROVIDER_KUBECONFIG) {
        p->nhosts = 0;
        p->latency_ns = 0;
        p->napiserver_args = 0;
        p->apiserver_args = NULL;
        return;
    }
    p->kubeconfig = p->bootstrap_kubeconfig = NULL;
    p->etcd_metrics = p->etcd_ca = p->etcd_cert = p->etcd_key = NULL;
    int map[TK_EXP_MAX_HOSTS];
    size_t n = 0;
    for (size_t h = 0; h < p->nhosts; h++) {
        int used = 0;
        for (int comp = 0; comp < TK_EXP_NCOMPONENTS; comp++)
            used |= p->placement[comp] == (int)h;
        map[h] = used ? (int)n : -1;
        if (used)
            p->hosts[n++] = p->hosts[h];
    }
    for (int comp = 0; comp < TK_EXP_NCOMPONENTS; comp++)
        p->placement[comp] = map[p->placement[comp]];
    p->nhosts = n;
    if (n < 2)
        p->latency_ns = 0;
}

/* ---- canonical parameters ------------------------------------------------------------------ */

static void add_str(cJSON *o, const char *k, const char *v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateString(v ? v : ""));
}

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateNumber(v));
}

static void fmt_cpu(int64_t milli, char *out, size_t n)
{
    struct tk_quantity q;
    tk_quantity_from_milli(&q, milli, TK_QUANTITY_DECIMAL_SI);
    tk_quantity_format(&q, out, n);
}

static void fmt_mem(int64_t bytes, char *out, size_t n)
{
    struct tk_quantity q;
    tk_quantity_from_value(&q, bytes, TK_QUANTITY_BINARY_SI);
    tk_quantity_format(&q, out, n);
}

static void add_cpu(cJSON *o, const char *k, int64_t milli)
{
    char b[TK_QUANTITY_FMT_MAX];
    fmt_cpu(milli, b, sizeof(b));
    add_str(o, k, b);
}

static void add_mem(cJSON *o, const char *k, int64_t bytes)
{
    char b[TK_QUANTITY_FMT_MAX];
    fmt_mem(bytes, b, sizeof(b));
    add_str(o, k, b);
}

static void add_dur(cJSON *o, const char *k, int64_t ns)
{
    char b[TK_DURATION_MAX];
    tk_duration_format(ns, b, sizeof(b));
    add_str(o, k, b);
}

static cJSON *params_json(const struct tk_cell_params *p, int repeat)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *cp = cJSON_AddObjectToObject(root, "controlPlane");
    add_str(cp, "provider", provider_names[p->provider]);
    if (p->provider == TK_EXP_PROVIDER_KUBECONFIG) {
        add_str(cp, "kubeconfig", p->kubeconfig ? p->kubeconfig : "");
        /* optional, and absent when not given (no etcd scraped; no TLS files) */
        const char *opt[][2] = {{"bootstrapKubeconfig", p->bootstrap_kubeconfig},
                                {"etcdMetrics", p->etcd_metrics},
                                {"etcdCA", p->etcd_ca},
                                {"etcdCert", p->etcd_cert},
                                {"etcdKey", p->etcd_key}};
        for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
            if (opt[i][1])
                add_str(cp, opt[i][0], opt[i][1]);
    } else {
        add_str(cp, "kubernetesVersion", p->kubernetes_version);
        add_str(cp, "datastore", datastore_names[p->datastore]);
        add_num(cp, "etcdMembers", p->etcd_members);
        cJSON *hosts = cJSON_AddObjectToObject(cp, "hosts");
        for (size_t h = 0; h < p->nhosts; h++) {
            cJSON *ho = cJSON_AddObjectToObject(hosts, p->hosts[h].name);
            add_cpu(ho, "cpus", p->hosts[h].cpu_milli);
            add_mem(ho, "memory", p->hosts[h].memory_bytes);
        }
        cJSON *pl = cJSON_AddObjectToObject(cp, "placement");
        for (int comp = 0; comp < TK_EXP_NCOMPONENTS; comp++)
            add_str(pl, component_names[comp],
                    p->placement[comp] >= 0 ? p->hosts[p->placement[comp]].name : "");
        add_dur(cp, "latency", p->latency_ns);
        cJSON *args = cJSON_AddArrayToObject(cp, "apiserverArgs");
        for (size_t i = 0; i < p->napiserver_args; i++)
            cJSON_AddItemToArray(args, cJSON_CreateString(p->apiserver_args[i]));
    }

    cJSON *ag = cJSON_AddObjectToObject(root, "agents");
    add_num(ag, "nodes", (double)p->nodes);
    add_num(ag, "nodesPerAgent", (double)p->nodes_per_agent);
    add_str(ag, "fidelity", fidelity_names[p->fidelity]);
    cJSON *cap = cJSON_AddObjectToObject(ag, "capacity");
    add_cpu(cap, "cpu", p->capacity_cpu_milli);
    add_mem(cap, "memory", p->capacity_memory_bytes);
    add_num(cap, "pods", (double)p->capacity_pods);
    cJSON *su = cJSON_AddObjectToObject(ag, "podStartup");
    add_str(su, "distribution", dist_names[p->startup_dist]);
    switch (p->startup_dist) {
    case TK_EXP_FIXED:
        add_dur(su, "value", p->startup_a_ns);
        break;
    case TK_EXP_UNIFORM:
        add_dur(su, "min", p->startup_a_ns);
        add_dur(su, "max", p->startup_b_ns);
        break;
    case TK_EXP_LOGNORMAL:
        add_dur(su, "median", p->startup_a_ns);
        add_dur(su, "p99", p->startup_b_ns);
        break;
    }
    if (p->startup_grid_ns) /* absent when off: cells from before the field keep their ids */
        add_dur(su, "grid", p->startup_grid_ns);
    if (p->nagent_args) { /* absent when none, likewise */
        cJSON *args = cJSON_AddArrayToObject(ag, "args");
        for (size_t i = 0; i < p->nagent_args; i++)
            cJSON_AddItemToArray(args, cJSON_CreateString(p->agent_args[i]));
    }

    cJSON *ld = cJSON_AddObjectToObject(root, "load");
    add_str(ld, "shape", shape_names[p->shape]);
    switch (p->shape) {
    case TK_EXP_NODE_DENSITY:
        add_num(ld, "podsPerNode", (double)p->pods_per_node);
        break;
    case TK_EXP_CLUSTER_DENSITY:
        add_num(ld, "namespaces", (double)p->namespaces);
        add_num(ld, "deploymentsPerNamespace", (double)p->deployments_per_namespace);
        add_num(ld, "replicas", (double)p->replicas);
        add_num(ld, "services", (double)p->services);
        add_num(ld, "configmaps", (double)p->configmaps);
        add_num(ld, "secrets", (double)p->secrets);
        break;
    case TK_EXP_CUSTOM:
        add_str(ld, "config", p->config_path);
        add_str(ld, "configSha256", p->config_sha);
        break;
    }
    if (p->shape != TK_EXP_CUSTOM) {
        add_num(ld, "qps", p->qps);
        add_num(ld, "burst", (double)p->burst);
        if (p->churn) {
            cJSON *ch = cJSON_AddObjectToObject(ld, "churn");
            add_num(ch, "cycles", (double)p->churn_cycles);
            add_num(ch, "percent", (double)p->churn_percent);
            add_dur(ch, "duration", p->churn_duration_ns);
            add_dur(ch, "delay", p->churn_delay_ns);
            add_str(ch, "mode", churn_mode_names[p->churn_mode]);
        }
    }
    add_dur(ld, "timeout", p->timeout_ns);

    cJSON *me = cJSON_AddObjectToObject(root, "measurement");
    add_dur(me, "scrapeInterval", p->scrape_interval_ns);
    cJSON *slo = cJSON_AddObjectToObject(me, "slo");
    add_dur(slo, "mutatingP99", p->slo_mutating_p99_ns);
    add_dur(slo, "readOnlyResourceP99", p->slo_ro_resource_p99_ns);
    add_dur(slo, "readOnlyClusterP99", p->slo_ro_cluster_p99_ns);
    add_dur(slo, "podStartupP99", p->slo_pod_startup_p99_ns);
    add_num(root, "repeat", repeat);
    return root;
}

/* Numbers as the flattened view and exclude values spell them. */
static void fmt_num(double d, char *out, size_t n)
{
    if (d == floor(d) && fabs(d) < 9e15)
        snprintf(out, n, "%lld", (long long)d);
    else
        tk_prom_format_value(d, out, n);
}

struct flat {
    char **path, **value;
    size_t n, alloc;
};

static void flat_add(struct flat *f, const char *path, const char *value)
{
    if (f->n == f->alloc) {
        f->alloc = f->alloc ? 2 * f->alloc : 64;
        f->path = tk_xrealloc(f->path, f->alloc * sizeof(*f->path));
        f->value = tk_xrealloc(f->value, f->alloc * sizeof(*f->value));
    }
    f->path[f->n] = tk_xstrdup(path);
    f->value[f->n++] = tk_xstrdup(value);
}

static void flat_release(struct flat *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->path[i]);
        free(f->value[i]);
    }
    free(f->path);
    free(f->value);
    memset(f, 0, sizeof(*f));
}

static void flatten(const cJSON *node, const char *prefix, struct flat *f)
{
    char buf[64];
    if (cJSON_IsObject(node)) {
        for (const cJSON *c = node->child; c; c = c->next) {
            char path[256];
            snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", c->string);
            flatten(c, path, f);
        }
    } else if (cJSON_IsString(node)) {
        flat_add(f, prefix, node->valuestring);
    } else if (cJSON_IsNumber(node)) {
        fmt_num(node->valuedouble, buf, sizeof(buf));
        flat_add(f, prefix, buf);
    } else {
        char *s = tk_json_print(node);
        flat_add(f, prefix, s);
        free(s);
    }
}

static const char *flat_get(const struct flat *f, const char *path)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->path[i], path) == 0)
            return f->value[i];
    return NULL;
}

/* ---- exclude and ramp ---------------------------------------------------------------------- */

enum vt { VT_STR, VT_ENUM, VT_INT, VT_NUM, VT_CPU, VT_MEM, VT_DUR };

struct pathinfo {
    const char *path;
    enum vt t;
    const char *const *names;
};

static const struct pathinfo known_paths[] = {
    {"controlPlane.provider", VT_ENUM, provider_names},
    {"controlPlane.kubeconfig", VT_STR, NULL},
    {"controlPlane.bootstrapKubeconfig", VT_STR, NULL},
    {"controlPlane.etcdMetrics", VT_STR, NULL},
    {"controlPlane.etcdCA", VT_STR, NULL},
    {"controlPlane.etcdCert", VT_STR, NULL},
    {"controlPlane.etcdKey", VT_STR, NULL},
    {"controlPlane.kubernetesVersion", VT_STR, NULL},
    {"controlPlane.datastore", VT_ENUM, datastore_names},
    {"controlPlane.etcdMembers", VT_INT, NULL},
    {"controlPlane.placement.etcd", VT_STR, NULL},
    {"controlPlane.placement.apiserver", VT_STR, NULL},
    {"controlPlane.placement.scheduler", VT_STR, NULL},
    {"controlPlane.placement.controller-manager", VT_STR, NULL},
    {"controlPlane.latency", VT_DUR, NULL},
    {"agents.nodes", VT_INT, NULL},
    {"agents.nodesPerAgent", VT_INT, NULL},
    {"agents.fidelity", VT_ENUM, fidelity_names},
    {"agents.capacity.cpu", VT_CPU, NULL},
    {"agents.capacity.memory", VT_MEM, NULL},
    {"agents.capacity.pods", VT_INT, NULL},
    {"agents.podStartup.distribution", VT_ENUM, dist_names},
    {"agents.podStartup.value", VT_DUR, NULL},
    {"agents.podStartup.min", VT_DUR, NULL},
    {"agents.podStartup.max", VT_DUR, NULL},
    {"agents.podStartup.median", VT_DUR, NULL},
    {"agents.podStartup.p99", VT_DUR, NULL},
    {"agents.podStartup.grid", VT_DUR, NULL},
    {"load.shape", VT_ENUM, shape_names},
    {"load.podsPerNode", VT_INT, NULL},
    {"load.namespaces", VT_INT, NULL},
    {"load.deploymentsPerNamespace", VT_INT, NULL},
    {"load.replicas", VT_INT, NULL},
    {"load.services", VT_INT, NULL},
    {"load.configmaps", VT_INT, NULL},
    {"load.secrets", VT_INT, NULL},
    {"load.qps", VT_NUM, NULL},
    {"load.burst", VT_INT, NULL},
    {"load.churn.cycles", VT_INT, NULL},
    {"load.churn.percent", VT_INT, NULL},
    {"load.churn.duration", VT_DUR, NULL},
    {"load.churn.delay", VT_DUR, NULL},
    {"load.churn.mode", VT_ENUM, churn_mode_names},
    {"load.config", VT_STR, NULL},
    {"load.timeout", VT_DUR, NULL},
    {"measurement.scrapeInterval", VT_DUR, NULL},
    {"measurement.slo.mutatingP99", VT_DUR, NULL},
    {"measurement.slo.readOnlyResourceP99", VT_DUR, NULL},
    {"measurement.slo.readOnlyClusterP99", VT_DUR, NULL},
    {"measurement.slo.podStartupP99", VT_DUR, NULL},
    {"repeat", VT_INT, NULL},
};
#define NKNOWN (sizeof(known_paths) / sizeof(known_paths[0]))

/* The type of a parameter path, or -1. Host sizes are controlPlane.hosts.NAME.cpus|memory. */
static int path_type(const char *path, const struct pathinfo **info)
{
    static const struct pathinfo host_cpu = {"", VT_CPU, NULL}, host_mem = {"", VT_MEM, NULL};
    const char *pre = "controlPlane.hosts.";
    for (size_t i = 0; i < NKNOWN; i++)
        if (strcmp(known_paths[i].path, path) == 0) {
            *info = &known_paths[i];
            return 0;
        }
    if (strncmp(path, pre, strlen(pre)) == 0) {
        const char *dot = strrchr(path, '.');
        if (dot > path + strlen(pre)) {
            if (strcmp(dot, ".cpus") == 0) {
                *info = &host_cpu;
                return 0;
            }
            if (strcmp(dot, ".memory") == 0) {
                *info = &host_mem;
                return 0;
            }
        }
    }
    return -1;
}

/* The flattened spelling of an exclude value of type t, into out. */
static int exclude_value(struct ctx *c, const struct tk_yaml_node *v, const char *what,
                         const struct pathinfo *pi, char *out, size_t n)
{
    int64_t i = 0;
    double d = 0;
    const char *s = NULL;
    int e = 0;

    switch (pi->t) {
    case VT_STR:
        if (scalar_str(&(struct pctx){c, NULL, ""}, v, what, &s))
            return c->err->code;
        snprintf(out, n, "%s", s);
        return 0;
    case VT_ENUM:
        if (enum_value(c, v, what, pi->names, &e))
            return c->err->code;
        snprintf(out, n, "%s", pi->names[e]);
        return 0;
    case VT_INT:
        if (tk_yaml_to_int64(c->doc, v, what, &i, c->err))
            return c->err->code;
        snprintf(out, n, "%lld", (long long)i);
        return 0;
    case VT_NUM:
        if (tk_yaml_to_double(c->doc, v, what, &d, c->err))
            return c->err->code;
        fmt_num(d, out, n);
        return 0;
    case VT_CPU:
        if (cpu_value(c, v, what, &i))
            return c->err->code;
        fmt_cpu(i, out, n);
        return 0;
    case VT_MEM:
        if (mem_value(c, v, what, 0, &i))
            return c->err->code;
        fmt_mem(i, out, n);
        return 0;
    case VT_DUR:
        if (dur_value(c, v, what, INT64_MIN, INT64_MAX, &i))
            return c->err->code;
        tk_duration_format(i, out, n);
        return 0;
    }
    return 0;
}

struct rule_term {
    const char *path;
    char **values; /* any of */
    size_t nvalues;
};

struct rule {
    const struct tk_yaml_node *at;
    struct rule_term *terms;
    size_t nterms;
    size_t matched;
};

static void rules_free(struct rule *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        for (size_t t = 0; t < r[i].nterms; t++) {
            for (size_t v = 0; v < r[i].terms[t].nvalues; v++)
                free(r[i].terms[t].values[v]);
            free(r[i].terms[t].values);
        }
        free(r[i].terms);
    }
    free(r);
}

static int parse_exclude(struct ctx *c, const struct tk_yaml_node *node, struct rule **out,
                         size_t *nout)
{
    struct rule *rules = NULL;
    int rc = 0;

    *out = NULL;
    *nout = 0;
    if (!node || node->kind == TK_YAML_NULL)
        return 0;
    if (tk_yaml_expect(c->doc, node, TK_YAML_SEQ, "exclude", c->err))
        return c->err->code;
    rules = tk_xcalloc(node->n ? node->n : 1, sizeof(*rules));
    for (size_t i = 0; i < node->n && !rc; i++) {
        const struct tk_yaml_node *m = node->items[i];
        char what[48];
        snprintf(what, sizeof(what), "exclude[%zu]", i);
        if (m->kind != TK_YAML_MAP || m->n == 0) {
            rc = tk_yaml_err(c->err, c->doc, m,
                             "%s must be a map of parameters to values, e.g. {agents.nodes: "
                             "1000, load.shape: cluster-density}",
                             what);
            break;
        }
        rules[i].at = m;
        rules[i].terms = tk_xcalloc(m->n, sizeof(*rules[i].terms));
        rules[i].nterms = m->n;
        for (size_t k = 0; k < m->n && !rc; k++) {
            const struct tk_yaml_node *key = m->items[2 * k], *v = m->items[2 * k + 1];
            const struct pathinfo *pi = NULL;
            struct rule_term *t = &rules[i].terms[k];
            t->path = key->scalar;
            if (path_type(key->scalar, &pi)) {
                const char *names[NKNOWN + 1];
                for (size_t j = 0; j < NKNOWN; j++)
                    names[j] = known_paths[j].path;
                names[NKNOWN] = NULL;
                const char *hint = closest(key->scalar, names, NKNOWN);
                rc = hint ? tk_yaml_err(c->err, c->doc, key,
                                        "%s: unknown parameter '%.60s' (did you mean '%s'?)", what,
                                        key->scalar, hint)
                          : tk_yaml_err(c->err, c->doc, key,
                                        "%s: unknown parameter '%.60s' (parameters are dotted "
                                        "paths such as agents.nodes or "
                                        "controlPlane.hosts.cp.cpus)",
                                        what, key->scalar);
                break;
            }
            size_t nv = v->kind == TK_YAML_SEQ ? v->n : 1;
            if (nv == 0) {
                rc = tk_yaml_err(c->err, c->doc, v, "%s.%s: an empty list matches nothing", what,
                                 key->scalar);
                break;
            }
            t->values = tk_xcalloc(nv, sizeof(*t->values));
            for (size_t j = 0; j < nv && !rc; j++) {
                char buf[128], w[160];
                snprintf(w, sizeof(w), "%s.%s", what, key->scalar);
                rc = exclude_value(c, v->kind == TK_YAML_SEQ ? v->items[j] : v, w, pi, buf,
                                   sizeof(buf));
                if (!rc)
                    t->values[t->nvalues++] = tk_xstrdup(buf);
            }
        }
    }
    if (rc) {
        rules_free(rules, node->n);
        return rc;
    }
    *out = rules;
    *nout = node->n;
    return 0;
}

static int rule_matches(const struct rule *r, const struct flat *f)
{
    for (size_t t = 0; t < r->nterms; t++) {
        const char *have = flat_get(f, r->terms[t].path);
        int any = 0;
        for (size_t v = 0; have && v < r->terms[t].nvalues && !any; v++)
            any = strcmp(have, r->terms[t].values[v]) == 0;
        if (!any)
            return 0;
    }
    return 1;
}

struct ramp_field {
    const char *path;
    int is_int;
    double min;
};

static const struct ramp_field ramp_fields[] = {
    {"agents.nodes", 1, 1},    {"load.podsPerNode", 1, 1},
    {"load.namespaces", 1, 1}, {"load.deploymentsPerNamespace", 1, 1},
    {"load.replicas", 1, 1},   {"load.qps", 0, 0},
};
#define NRAMP (sizeof(ramp_fields) / sizeof(ramp_fields[0]))

static int parse_ramp(struct ctx *c, const struct tk_yaml_node *node, struct tk_exp_ramp *r,
                      const struct tk_yaml_node **field_at)
{
    static const char *const keys[] = {"field", "from", "step", "until", NULL};
    struct pctx s;
    const char *field = NULL;
    const struct ramp_field *rf = NULL;

    if (section(c, node, "ramp", keys, &s))
        return c->err->code;
    if (!s.map)
        return 0;
    static const char *const need[] = {"field", "from", "step", "until"};
    for (size_t k = 0; k < 4; k++)
        if (!val(&s, need[k]))
            return tk_yaml_err(c->err, c->doc, s.map,
                               "ramp needs field, from, step and until (e.g. {field: "
                               "agents.nodes, from: 100, step: 100, until: 1000})");
    if (get_str(&s, "field", &field))
        return c->err->code;
    for (size_t i = 0; i < NRAMP; i++)
        if (strcmp(ramp_fields[i].path, field) == 0)
            rf = &ramp_fields[i];
    if (!rf) {
        const char *names[NRAMP + 1];
        char list[200];
        for (size_t i = 0; i < NRAMP; i++)
            names[i] = ramp_fields[i].path;
        names[NRAMP] = NULL;
        join_names(names, NRAMP, list, sizeof(list));
        const char *hint = closest(field, names, NRAMP);
        if (hint)
            return tk_yaml_err(c->err, c->doc, val(&s, "field"),
                               "ramp.field: '%.40s' cannot ramp (did you mean '%s'?)", field, hint);
        return tk_yaml_err(c->err, c->doc, val(&s, "field"),
                           "ramp.field must be one of %s, got '%.40s'", list, field);
    }
    double v[3];
    static const char *const vk[] = {"from", "step", "until"};
    for (int k = 0; k < 3; k++) {
        char what[32];
        snprintf(what, sizeof(what), "ramp.%s", vk[k]);
        if (rf->is_int) {
            int64_t x = 0;
            if (int_value(c, val(&s, vk[k]), what, k == 1 ? 1 : (int64_t)rf->min, 100000000, &x))
                return c->err->code;
            v[k] = (double)x;
        } else if (num_value(c, val(&s, vk[k]), what, 0, 1e9, &v[k])) {
            return c->err->code;
        }
    }
    if (v[2] < v[0])
        return tk_yaml_err(c->err, c->doc, val(&s, "until"), "ramp.until must not be below from");
    double steps = floor((v[2] - v[0]) / v[1] + 1e-9) + 1;
    if (steps > TK_EXP_MAX_RAMP_STEPS)
        return tk_yaml_err(c->err, c->doc, val(&s, "step"),
                           "ramp: %.0f steps, at most %d (raise step)", steps,
                           TK_EXP_MAX_RAMP_STEPS);
    r->on = 1;
    snprintf(r->field, sizeof(r->field), "%s", rf->path);
    r->from = v[0];
    r->step = v[1];
    r->until = v[2];
    r->steps = (size_t)steps;
    *field_at = val(&s, "until");
    return 0;
}

/* Sets the ramp field of p to x; returns 0, or 1 when the field does not apply to p's shape. */
static int ramp_set(struct tk_cell_params *p, const char *field, double x)
{
    if (strcmp(field, "agents.nodes") == 0)
        p->nodes = (int64_t)x;
    else if (strcmp(field, "load.qps") == 0) {
        int derived = p->burst == (int64_t)ceil(p->qps);
        p->qps = x;
        if (derived)
            p->burst = (int64_t)ceil(x);
    } else if (strcmp(field, "load.podsPerNode") == 0) {
        if (p->shape != TK_EXP_NODE_DENSITY)
            return 1;
        p->pods_per_node = (int64_t)x;
    } else {
        if (p->shape != TK_EXP_CLUSTER_DENSITY)
            return 1;
        if (strcmp(field, "load.namespaces") == 0)
            p->namespaces = (int64_t)x;
        else if (strcmp(field, "load.deploymentsPerNamespace") == 0)
            p->deployments_per_namespace = (int64_t)x;
        else
            p->replicas = (int64_t)x;
    }
    return 0;
}

/* ---- the whole file ------------------------------------------------------------------------- */

struct idset {
    char (*ids)[13];
    size_t n, alloc;
};

static int idset_add(struct idset *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return 0;
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? 2 * s->alloc : 64;
        s->ids = tk_xrealloc(s->ids, s->alloc * sizeof(*s->ids));
    }
    memcpy(s->ids[s->n++], id, 13);
    return 1;
}

static void add_cell(struct tk_experiment *e, size_t *alloc, const struct tk_cell *cell)
{
    if (e->ncells == *alloc) {
        *alloc = *alloc ? 2 * *alloc : 16;
        e->cells = tk_xrealloc(e->cells, *alloc * sizeof(*e->cells));
    }
    e->cells[e->ncells] = *cell;
    e->cells[e->ncells].index = e->ncells;
    e->ncells++;
}

/* Alphabetical, so related parameters sit together; repeat last. */
static int varying_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int rx = strcmp(x, "repeat") == 0, ry = strcmp(y, "repeat") == 0;
    if (rx != ry)
        return rx - ry;
    return strcmp(x, y);
}

static void compute_varying(struct tk_experiment *e)
{
    struct flat *f = tk_xcalloc(e->ncells ? e->ncells : 1, sizeof(*f));
    struct flat all = {0};

    for (size_t i = 0; i < e->ncells; i++) {
        cJSON *j = cJSON_Parse(e->cells[i].params_json);
        flatten(j, "", &f[i]);
        cJSON_Delete(j);
        for (size_t k = 0; k < f[i].n; k++)
            if (!flat_get(&all, f[i].path[k]))
                flat_add(&all, f[i].path[k], "");
    }
    e->varying = tk_xcalloc(all.n ? all.n : 1, sizeof(*e->varying));
    for (size_t k = 0; k < all.n && e->ncells > 1; k++) {
        const char *first = flat_get(&f[0], all.path[k]);
        int differs = 0;
        for (size_t i = 1; i < e->ncells && !differs; i++) {
            const char *v = flat_get(&f[i], all.path[k]);
            differs = !first || !v || strcmp(first, v) != 0;
        }
        if (differs)
            e->varying[e->nvarying++] = tk_xstrdup(all.path[k]);
    }
    qsort(e->varying, e->nvarying, sizeof(*e->varying), varying_cmp);
    for (size_t i = 0; i < e->ncells; i++)
        flat_release(&f[i]);
    free(f);
    flat_release(&all);
}

static int build(struct tk_experiment *e, struct tk_err *err)
{
    struct tk_exp_internal *in = e->in;
    struct ctx c = {in, in->doc, err};
    const struct tk_yaml_node *root = tk_yaml_root(in->doc);
    static const char *const keys[] = {
        "name",         "description", "repeat", "exclude",     "ramp",
        "controlPlane", "agents",      "load",   "measurement", NULL};
    struct alts base = {0};
    struct rule *rules = NULL;
    size_t nrules = 0, alloc = 0;
    struct tk_cell_params *bp = NULL;
    struct marks *bm = NULL;
    struct idset seen = {0};
    const struct tk_yaml_node *ramp_at = NULL;
    int rc;

    if (root->kind == TK_YAML_NULL)
        return tk_yaml_err(
            err, in->doc, root,
            "empty experiment: it needs at least a name (see experiments/README.md)");
    if (tk_yaml_expect(in->doc, root, TK_YAML_MAP, NULL, err) ||
        tk_yaml_check_keys(in->doc, root, keys, err))
        return err->code;
    struct pctx top = {&c, root, ""};
    if (!val(&top, "name"))
        return tk_yaml_err(err, in->doc, root,
                           "the experiment needs a name (e.g. name: quickstart)");
    e->repeat = 1;
    if (get_str(&top, "name", &e->name) || get_str(&top, "description", &e->description) ||
        get_int(&top, "repeat", 1, TK_EXP_MAX_REPEAT, &e->repeat))
        return err->code;
    if (!valid_dns_label(e->name))
        return tk_yaml_err(err, in->doc, val(&top, "name"),
                           "name must be lowercase letters, digits and '-' (at most 63), got "
                           "'%.40s'",
                           e->name);
    if ((rc = parse_ramp(&c, tk_yaml_get(root, "ramp"), &e->ramp, &ramp_at)) ||
        (rc = parse_exclude(&c, tk_yaml_get(root, "exclude"), &rules, &nrules)) ||
        (rc = expand_map(&c, root, root_schema, "", &base)))
        goto done;

    /* every alternative of every field is checked, excluded or not */
    bp = tk_xcalloc(base.n, sizeof(*bp));
    bm = tk_xcalloc(base.n, sizeof(*bm));
    for (size_t b = 0; b < base.n; b++)
        if ((rc = parse_cell(&c, base.v[b], &bp[b], &bm[b])))
            goto done;
    if (e->ramp.on) {
        char *first = NULL;
        for (size_t b = 0; b < base.n && !rc; b++) {
            cJSON *j = params_json(&bp[b], 0);
            struct flat f = {0};
            flatten(j, "", &f);
            const char *v = flat_get(&f, e->ramp.field);
            if (!first)
                first = tk_xstrdup(v ? v : "");
            else if (strcmp(first, v ? v : "") != 0)
                rc = tk_yaml_err(err, in->doc,
                                 val(&(struct pctx){&c, tk_yaml_get(root, "ramp"), ""}, "field"),
                                 "ramp.field %s is also given as a list of alternatives; the ramp "
                                 "sets it, so give it one value (or none)",
                                 e->ramp.field);
            flat_release(&f);
            cJSON_Delete(j);
        }
        free(first);
        if (rc)
            goto done;
    }

    size_t steps = e->ramp.on ? e->ramp.steps : 1, candidates = 0;
    for (int64_t r = 0; r < e->repeat; r++) {
        for (size_t b = 0; b < base.n; b++) {
            int group = e->ramp.on ? (int)b : -1;
            for (size_t s = 0; s < steps; s++) {
                struct tk_cell cell = {0};
                struct tk_cell_params p = bp[b];
                if (e->ramp.on &&
                    ramp_set(&p, e->ramp.field, e->ramp.from + (double)s * e->ramp.step)) {
                    rc = tk_yaml_err(err, in->doc, ramp_at,
                                     "ramp.field %s does not apply to shape %s", e->ramp.field,
                                     shape_names[p.shape]);
                    goto done;
                }
                candidates++;
                if (candidates > TK_EXP_MAX_CELLS) {
                    rc = too_many(&c, root);
                    goto done;
                }
                cJSON *raw = params_json(&p, (int)r);
                struct flat f = {0};
                int excluded = 0;
                flatten(raw, "", &f);
                for (size_t k = 0; k < nrules; k++)
                    if (rule_matches(&rules[k], &f)) {
                        rules[k].matched++;
                        excluded = 1;
                    }
                flat_release(&f);
                cJSON_Delete(raw);
                if (excluded) {
                    e->excluded++;
                    continue;
                }
                if ((rc = check_cell(&c, &p, &bm[b], ramp_at, e->ramp.on ? e->ramp.field : NULL)))
                    goto done;
                normalize(&p);
                cJSON *canon = params_json(&p, (int)r);
                char *txt = tk_json_print(canon);
                cJSON_Delete(canon);
                char *sorted = tk_store_canonical_json(txt, err);
                free(txt);
                if (!sorted || (rc = tk_store_cell_id(sorted, cell.id, err))) {
                    free(sorted);
                    rc = err->code ? err->code : TK_EINVAL;
                    goto done;
                }
                if (!idset_add(&seen, cell.id)) {
                    free(sorted);
                    e->duplicates++;
                    continue;
                }
                cell.params_json = sorted;
                cell.p = p;
                cell.repeat = (int)r;
                cell.ramp_group = group;
                cell.ramp_step = e->ramp.on ? (int)s : -1;
                cell.estimate_ns = tk_exp_estimate_ns(&p);
                e->estimate_ns += cell.estimate_ns;
                add_cell(e, &alloc, &cell);
            }
        }
    }
    for (size_t k = 0; k < nrules; k++)
        if (!rules[k].matched) {
            rc = tk_yaml_err(err, in->doc, rules[k].at,
                             "exclude[%zu] matches no cell (check the values against the plan)", k);
            goto done;
        }
    if (e->ncells == 0) {
        rc = tk_yaml_err(err, in->doc, tk_yaml_get(root, "exclude"), "exclude removes every cell");
        goto done;
    }
    compute_varying(e);
done:
    rules_free(rules, nrules);
    free(bp);
    free(bm);
    free(seen.ids);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return tk_xstrdup("");
    if (slash == path)
        return tk_xstrdup("/");
    return tk_xstrndup(path, (size_t)(slash - path));
}

static int finish_load(struct tk_experiment **out, struct tk_experiment *e, struct tk_err *err)
{
    int rc = build(e, err);
    if (rc) {
        tk_experiment_free(e);
        *out = NULL;
        return rc;
    }
    *out = e;
    return 0;
}

int tk_experiment_load_string(struct tk_experiment **out, const char *name, const char *text,
                              size_t len, struct tk_err *err)
{
    struct tk_experiment *e = tk_xcalloc(1, sizeof(*e));
    e->in = tk_xcalloc(1, sizeof(*e->in));
    e->in->dir = dir_of(name);
    e->in->text = tk_xstrndup(text, len);
    if (tk_yaml_load_string(&e->in->doc, name, text, len, err)) {
        tk_experiment_free(e);
        *out = NULL;
        return err->code;
    }
    e->path = tk_yaml_name(e->in->doc);
    return finish_load(out, e, err);
}

int tk_experiment_load(struct tk_experiment **out, const char *path, struct tk_err *err)
{
    struct tk_buf b;
    int rc = read_file(path, &b, err);
    if (rc) {
        *out = NULL;
        return rc;
    }
    rc = tk_experiment_load_string(out, path, b.data ? b.data : "", b.len, err);
    tk_buf_release(&b);
    return rc;
}

void tk_experiment_free(struct tk_experiment *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->ncells; i++)
        free(e->cells[i].params_json);
    free(e->cells);
    for (size_t i = 0; i < e->nvarying; i++)
        free(e->varying[i]);
    free(e->varying);
    if (e->in) {
        struct block *b = e->in->blocks;
        while (b) {
            struct block *next = b->next;
            free(b);
            b = next;
        }
        tk_yaml_free(e->in->doc);
        free(e->in->dir);
        free(e->in->text);
        free(e->in);
    }
    free(e);
}

void tk_exp_cell_params_each(const struct tk_cell *c, tk_exp_param_fn fn, void *ud)
{
    cJSON *j = cJSON_Parse(c->params_json);
    struct flat f = {0};
    flatten(j, "", &f);
    for (size_t i = 0; i < f.n; i++)
        fn(ud, f.path[i], f.value[i]);
    flat_release(&f);
    cJSON_Delete(j);
}

int tk_exp_cell_param(const struct tk_cell *c, const char *path, char *out, size_t n)
{
    cJSON *j = cJSON_Parse(c->params_json);
    struct flat f = {0};
    flatten(j, "", &f);
    const char *v = flat_get(&f, path);
    snprintf(out, n, "%s", v ? v : "");
    flat_release(&f);
    cJSON_Delete(j);
    return v ? 0 : -1;
}

/* ---- derived numbers ---------------------------------------------------------------------- */

int64_t tk_exp_agents(const struct tk_cell_params *p)
{
    int64_t per = p->nodes_per_agent > 0 ? p->nodes_per_agent : 1;
    return (p->nodes + per - 1) / per;
}

int64_t tk_exp_pods(const struct tk_cell_params *p)
{
    switch (p->shape) {
    case TK_EXP_NODE_DENSITY:
        return p->nodes * p->pods_per_node;
    case TK_EXP_CLUSTER_DENSITY:
        return p->namespaces * p->deployments_per_namespace * p->replicas;
    case TK_EXP_CUSTOM:
        break;
    }
    return 0;
}

int64_t tk_exp_objects(const struct tk_cell_params *p)
{
    switch (p->shape) {
    case TK_EXP_NODE_DENSITY:
        return tk_exp_pods(p);
    case TK_EXP_CLUSTER_DENSITY:
        return p->namespaces *
               (1 + p->deployments_per_namespace + p->services + p->configmaps + p->secrets);
    case TK_EXP_CUSTOM:
        break;
    }
    return 0;
}

int64_t tk_exp_estimate_ns(const struct tk_cell_params *p)
{
    double s = 0, load;
    double qps = p->qps > 0 ? p->qps : 1;

    if (p->provider == TK_EXP_PROVIDER_LOCAL)
        s += 20 + (p->etcd_members == 3 ? 10 : 0) +
             (p->datastore == TK_EXP_DS_KINE_POSTGRES ? 10 : 0);
    /* TLS bootstrap: a CSR per node, approved at ~10/s (docs/measurements.md) */
    s += 5 + (double)p->nodes / (p->bootstrap_kubeconfig ? 10 : 100);
    load = (double)tk_exp_objects(p) / qps + (double)p->startup_b_ns / 1e9 +
           (double)p->startup_grid_ns / 1e9 + 5;
    if (p->churn) {
        if (p->churn_duration_ns > 0) {
            load += (double)p->churn_duration_ns / 1e9;
        } else {
            double churned = ceil((double)tk_exp_objects(p) * (double)p->churn_percent / 100);
            load += (double)p->churn_cycles * (2 * churned / qps + (double)p->churn_delay_ns / 1e9);
        }
    }
    if (p->shape == TK_EXP_CUSTOM || load > (double)p->timeout_ns / 1e9)
        load = (double)p->timeout_ns / 1e9; /* custom: unknown, so the cap */
    s += load;
    s += 10 + (double)tk_exp_pods(p) / 200 + 10;
    return (int64_t)(s * 1e9);
}

/* The longest termination delay an agent's sampler can draw, in seconds: a lognormal's tail is
 * unbounded, so the pods' default 30-s grace period, which the agent never exceeds. */
static double termination_bound_s(const struct tk_sampler *s)
{
    switch (s->kind) {
    case TK_SAMPLER_FIXED:
        return (double)s->a_ns / 1e9;
    case TK_SAMPLER_UNIFORM:
        return (double)s->b_ns / 1e9;
    case TK_SAMPLER_LOGNORMAL:
        break;
    }
    return 30;
}

int64_t tk_exp_drain_ns(const struct tk_cell_params *p)
{
    struct tk_agent_config cfg;
    struct tk_err e = {0};
    char name[64];
    double s = 60 + (double)tk_exp_pods(p) / 50;

    tk_agent_config_init(&cfg);
    for (size_t i = 0; i < p->nagent_args; i++) {
        const char *v = agent_flag_split(p->agent_args[i], name); /* checked when parsed */
        if (v)
            tk_agent_config_set(&cfg, name, v, &e);
    }
    s += termination_bound_s(&cfg.termination);
    if (cfg.qps > 0) {
        /* a terminated status, a DELETE and (kubelet mode) a Killing event per pod, through
         * one rate limiter per agent (lite) or per node (kubelet) */
        int64_t clients = p->fidelity == TK_EXP_KUBELET ? p->nodes : tk_exp_agents(p);
        s += 3.0 * (double)tk_exp_pods(p) / (double)(clients > 0 ? clients : 1) / cfg.qps;
    }
    tk_agent_config_release(&cfg);
    return (int64_t)(s * 1e9);
}

void tk_exp_capacity_spec(const struct tk_cell_params *p, char *out, size_t n)
{
    char cpu[32];
    if (p->capacity_cpu_milli % 1000 == 0)
        snprintf(cpu, sizeof(cpu), "%lld", (long long)(p->capacity_cpu_milli / 1000));
    else
        snprintf(cpu, sizeof(cpu), "%lldm", (long long)p->capacity_cpu_milli);
    snprintf(out, n, "cpu=%s,memory=%lld,pods=%lld", cpu, (long long)p->capacity_memory_bytes,
             (long long)p->capacity_pods);
}

void tk_exp_startup_spec(const struct tk_cell_params *p, char *out, size_t n)
{
    char a[TK_DURATION_MAX], b[TK_DURATION_MAX];
    tk_duration_format(p->startup_a_ns, a, sizeof(a));
    tk_duration_format(p->startup_b_ns, b, sizeof(b));
    switch (p->startup_dist) {
    case TK_EXP_FIXED:
        snprintf(out, n, "fixed:%s", a);
        break;
    case TK_EXP_UNIFORM:
        snprintf(out, n, "uniform:%s-%s", a, b);
        break;
    case TK_EXP_LOGNORMAL:
        snprintf(out, n, "lognormal:median=%s,p99=%s", a, b);
        break;
    }
}
