#include "yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"

/* Nodes and strings live in an arena owned by the document: a large file becomes a few big
 * allocations instead of millions of small ones, and freeing is a walk over the chunks. */
struct chunk {
    struct chunk *next;
    size_t used, size;
    max_align_t data[];
};

#define CHUNK_BYTES (64u << 10)

struct tk_yaml_doc {
    struct chunk *chunks;
    char *name;
    struct tk_yaml_node *root;
};

/* A node with what only the loader needs: how many nodes it stands for once aliases are
 * expanded, so a consumer walking the tree cannot be made to walk forever. */
struct ynode {
    struct tk_yaml_node pub;
    size_t weight;
};

static void *arena_alloc(struct tk_yaml_doc *doc, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    struct chunk *c = doc->chunks;

    n = (n + align - 1) / align * align;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_BYTES / 4 ? n : CHUNK_BYTES;
        struct chunk *nc = tk_xmalloc(sizeof(*nc) + size);
        nc->used = 0;
        nc->size = size;
        if (c && size != CHUNK_BYTES) {
            /* A big one-off block goes behind the current chunk, which keeps filling. */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            doc->chunks = nc;
        }
        c = nc;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

static char *arena_strndup(struct tk_yaml_doc *doc, const char *s, size_t n)
{
    char *p = arena_alloc(doc, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* A string-keyed open-addressing table (FNV-1a, linear probing). Keys are borrowed. */
struct strent {
    const char *key;
    size_t len;
    void *val;
};

struct strtab {
    struct strent *ents;
    size_t cap, used;
};

static size_t str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static struct strent *strtab_slot(const struct strtab *t, const char *key, size_t len)
{
    size_t i = str_hash(key, len) & (t->cap - 1);
    for (;;) {
        struct strent *e = &t->ents[i];
        if (!e->key || (e->len == len && memcmp(e->key, key, len) == 0))
            return e;
        i = (i + 1) & (t->cap - 1);
    }
}

static void *strtab_get(const struct strtab *t, const char *key, size_t len)
{
    if (!t->cap)
        return NULL;
    struct strent *e = strtab_slot(t, key, len);
    return e->key ? e->val : NULL;
}

static void strtab_put(struct strtab *t, const char *key, size_t len, void *val)
{
    if ((t->used + 1) * 4 >= t->cap * 3) {
        struct strtab bigger = {tk_xcalloc(t->cap ? t->cap * 2 : 16, sizeof(struct strent)),
                                t->cap ? t->cap * 2 : 16, t->used};
        for (size_t i = 0; i < t->cap; i++)
            if (t->ents[i].key)
                *strtab_slot(&bigger, t->ents[i].key, t->ents[i].len) = t->ents[i];
        free(t->ents);
        *t = bigger;
    }
    struct strent *e = strtab_slot(t, key, len);
    if (!e->key)
        t->used++;
    e->key = key;
    e->len = len;
    e->val = val;
}

static void strtab_release(struct strtab *t)
{
    free(t->ents);
    t->ents = NULL;
    t->cap = t->used = 0;
}

/* An open SEQ or MAP: its children so far and the anchor to register once it is complete
 * (registering only complete nodes is what makes a self-referencing alias an error). */
struct frame {
    struct ynode *node;
    struct ynode **kids;
    size_t nkids, alloc;
    const char *anchor;
};

struct builder {
    struct tk_yaml_doc *doc;
    const char *text;
    size_t len;
    struct frame *stack;
    size_t depth, alloc;
    struct strtab anchors;
    struct ynode *root;
    int docs;
    struct tk_err *err;
};

static struct ynode *new_node(struct builder *b, enum tk_yaml_kind kind, yaml_mark_t mark)
{
    struct ynode *y = arena_alloc(b->doc, sizeof(*y));
    memset(y, 0, sizeof(*y));
    y->pub.kind = kind;
    y->pub.line = (int)mark.line + 1;
    y->pub.col = (int)mark.column + 1;
    y->pub.scalar = "";
    y->weight = 1;
    return y;
}

static int node_err(struct builder *b, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int node_err(struct builder *b, const struct ynode *at, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tk_err_set(b->err, TK_EINVAL, "%s:%d:%d: %s", b->doc->name, at->pub.line, at->pub.col,
                      msg);
}

static struct frame *top(struct builder *b)
{
    return b->depth ? &b->stack[b->depth - 1] : NULL;
}

static int at_key(struct builder *b)
{
    struct frame *f = top(b);
    return f && f->node->pub.kind == TK_YAML_MAP && f->nkids % 2 == 0;
}

/* Hands a finished node to its parent (or makes it the root) and registers its anchor. */
static int add_node(struct builder *b, struct ynode *y, const char *anchor)
{
    struct frame *f = top(b);

    if (anchor)
        strtab_put(&b->anchors, anchor, strlen(anchor), y);
    if (!f) {
        b->root = y;
        return 0;
    }
    if (f->nkids == f->alloc) {
        f->alloc = f->alloc ? f->alloc * 2 : 8;
        f->kids = tk_xrealloc(f->kids, f->alloc * sizeof(*f->kids));
    }
    f->kids[f->nkids++] = y;
    return 0;
}

static size_t add_weight(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static int key_eq(const struct tk_yaml_node *a, const struct tk_yaml_node *b)
{
    return a->n == b->n && memcmp(a->scalar, b->scalar, a->n) == 0;
}

static int is_merge_key(const struct tk_yaml_node *k)
{
    return !k->quoted && k->n == 2 && memcmp(k->scalar, "<<", 2) == 0;
}

/* Appends the pair (k, v) to out unless its key is already there. With dup_is_error, a repeat
 * is a duplicate-key error; otherwise (merged pairs) the earlier pair wins silently. Small maps
 * compare linearly; big ones through a table, so a huge map stays O(n). */
static int put_pair(struct builder *b, struct ynode **out, size_t *nout, struct strtab *seen,
                    struct ynode *k, struct ynode *v, int dup_is_error)
{
    struct ynode *prev = NULL;

    if (seen->cap) {
        prev = strtab_get(seen, k->pub.scalar, k->pub.n);
    } else {
        for (size_t i = 0; i < *nout && !prev; i += 2)
            if (key_eq(&out[i]->pub, &k->pub))
                prev = out[i];
    }
    if (prev) {
        if (dup_is_error)
            return node_err(b, k, "duplicate key '%.64s' (first at %d:%d)", k->pub.scalar,
                            prev->pub.line, prev->pub.col);
        return 0;
    }
    if (seen->cap)
        strtab_put(seen, k->pub.scalar, k->pub.n, k);
    out[(*nout)++] = k;
    out[(*nout)++] = v;
    return 0;
}

static int merge_from(struct builder *b, struct ynode **out, size_t *nout, struct strtab *seen,
                      const struct ynode *src)
{
    int rc = 0;

    for (size_t i = 0; i < src->pub.n && !rc; i++)
        rc = put_pair(b, out, nout, seen, (struct ynode *)src->pub.items[2 * i],
                      (struct ynode *)src->pub.items[2 * i + 1], 0);
    return rc;
}

/* Turns the collected children into the node's items: for a map, checks duplicates and applies
 * merge keys; then computes the expanded weight. */
static int finish_container(struct builder *b, struct frame *f)
{
    struct ynode *y = f->node;
    struct ynode **items = f->kids;
    size_t n = f->nkids;
    struct ynode **out = NULL;
    struct strtab seen = {0};
    int rc = 0;

    if (y->pub.kind == TK_YAML_MAP) {
        size_t total = 0;
        /* Room for every explicit pair plus every pair a merge could bring in. */
        for (size_t i = 0; i < n; i += 2) {
            const struct ynode *v = items[i + 1];
            total += 2;
            if (!is_merge_key(&items[i]->pub))
                continue;
            if (v->pub.kind == TK_YAML_MAP) {
                total += 2 * v->pub.n;
            } else if (v->pub.kind == TK_YAML_SEQ) {
                for (size_t j = 0; j < v->pub.n; j++) {
                    const struct tk_yaml_node *m = v->pub.items[j];
                    if (m->kind != TK_YAML_MAP) {
                        rc = node_err(b, (const struct ynode *)m,
                                      "merge key '<<' needs a map or a list of maps, got %s",
                                      tk_yaml_kind_name(m->kind));
                        goto done;
                    }
                    total += 2 * m->n;
                }
            } else {
                rc = node_err(b, v, "merge key '<<' needs a map or a list of maps, got %s",
                              tk_yaml_kind_name(v->pub.kind));
                goto done;
            }
        }
        out = tk_xmalloc((total ? total : 1) * sizeof(*out));
        if (total > 32) {
            seen.cap = 16;
            while (seen.cap * 3 <= total * 2)
                seen.cap *= 2;
            seen.ents = tk_xcalloc(seen.cap, sizeof(*seen.ents));
        }
        size_t nout = 0;
        for (size_t i = 0; i < n; i += 2)
            if (!is_merge_key(&items[i]->pub) &&
                (rc = put_pair(b, out, &nout, &seen, items[i], items[i + 1], 1)))
                goto done;
        for (size_t i = 0; i < n; i += 2) {
            const struct ynode *v = items[i + 1];
            if (!is_merge_key(&items[i]->pub))
                continue;
            if (v->pub.kind == TK_YAML_MAP) {
                rc = merge_from(b, out, &nout, &seen, v);
            } else {
                for (size_t j = 0; j < v->pub.n && !rc; j++)
                    rc = merge_from(b, out, &nout, &seen, (const struct ynode *)v->pub.items[j]);
            }
            if (rc)
                goto done;
        }
        items = out;
        n = nout;
        y->pub.n = n / 2;
    } else {
        y->pub.n = n;
    }
    y->pub.items = arena_alloc(b->doc, (n ? n : 1) * sizeof(*y->pub.items));
    for (size_t i = 0; i < n; i++) {
        y->pub.items[i] = &items[i]->pub;
        y->weight = add_weight(y->weight, items[i]->weight);
    }
    if (y->weight > TK_YAML_MAX_EXPANDED)
        rc = node_err(b, y, "aliases expand this node to more than %u nodes", TK_YAML_MAX_EXPANDED);
done:
    strtab_release(&seen);
    free(out);
    return rc;
}

static int tag_is(const yaml_char_t *tag, const char *name)
{
    return tag && strcmp((const char *)tag, name) == 0;
}

static int null_text(const char *s, size_t n)
{
    static const char *const forms[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        if (strlen(forms[i]) == n && memcmp(forms[i], s, n) == 0)
            return 1;
    return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *value = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    int is_str = tag_is(tag, YAML_STR_TAG);
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    enum tk_yaml_kind kind = TK_YAML_SCALAR;

    if (!at_key(b) && !is_str &&
        (tag_is(tag, YAML_NULL_TAG) || (plain && !tag && null_text(value, n))))
        kind = TK_YAML_NULL;
    struct ynode *y = new_node(b, kind, ev->start_mark);
    y->pub.scalar = arena_strndup(b->doc, value, n);
    y->pub.n = n;
    y->pub.quoted = kind == TK_YAML_SCALAR && (!plain || is_str);
    const char *anchor = NULL;
    if (ev->data.scalar.anchor)
        anchor = arena_strndup(b->doc, (const char *)ev->data.scalar.anchor,
                               strlen((const char *)ev->data.scalar.anchor));
    return add_node(b, y, anchor);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct ynode *target = NULL;

    /* The most recent definition wins; an open container with that anchor contains us. */
    for (size_t i = b->depth; i-- > 0;) {
        if (b->stack[i].anchor && strcmp(b->stack[i].anchor, name) == 0) {
            struct ynode *at = new_node(b, TK_YAML_NULL, ev->start_mark);
            return node_err(b, at, "alias '*%.64s' refers to a node that contains it", name);
        }
    }
    target = strtab_get(&b->anchors, name, strlen(name));
    if (!target) {
        struct ynode *at = new_node(b, TK_YAML_NULL, ev->start_mark);
        return node_err(b, at, "unknown anchor '*%.64s'", name);
    }
    if (at_key(b)) {
        if (target->pub.kind == TK_YAML_SEQ || target->pub.kind == TK_YAML_MAP) {
            struct ynode *at = new_node(b, TK_YAML_NULL, ev->start_mark);
            return node_err(b, at, "map keys must be scalars, '*%.64s' is %s", name,
                            tk_yaml_kind_name(target->pub.kind));
        }
        if (target->pub.kind == TK_YAML_NULL) {
            /* Keys are always SCALAR; copy rather than change the shared node. */
            struct ynode *k = arena_alloc(b->doc, sizeof(*k));
            *k = *target;
            k->pub.kind = TK_YAML_SCALAR;
            target = k;
        }
    }
    return add_node(b, target, NULL);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum tk_yaml_kind kind)
{
    const yaml_char_t *anchor =
        kind == TK_YAML_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    struct ynode *y = new_node(b, kind, ev->start_mark);

    if (at_key(b))
        return node_err(b, y, "map keys must be scalars, got %s", tk_yaml_kind_name(kind));
    if (b->depth >= TK_YAML_MAX_DEPTH)
        return node_err(b, y, "nesting deeper than %d levels", TK_YAML_MAX_DEPTH);
    if (b->depth == b->alloc) {
        b->alloc = b->alloc ? b->alloc * 2 : 16;
        b->stack = tk_xrealloc(b->stack, b->alloc * sizeof(*b->stack));
    }
    struct frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = y;
    if (anchor)
        f->anchor = arena_strndup(b->doc, (const char *)anchor, strlen((const char *)anchor));
    return 0;
}

static int on_end(struct builder *b)
{
    struct frame f = b->stack[--b->depth];
    int rc = finish_container(b, &f);

    free(f.kids);
    if (rc)
        return rc;
    return add_node(b, f.node, f.anchor);
}

static void offset_to_mark(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int syntax_error(struct builder *b, const yaml_parser_t *p)
{
    const char *name = b->doc->name;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line, col;

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return tk_err_set(b->err, TK_ENOMEM, "%s: out of memory parsing YAML", name);
    case YAML_READER_ERROR:
        /* Reader errors (bad encoding, control characters) carry a byte offset, not a mark. */
        offset_to_mark(b->text, b->len, p->problem_offset, &line, &col);
        if (p->problem_value >= 0)
            return tk_err_set(b->err, TK_EINVAL, "%s:%d:%d: %s (byte 0x%02x)", name, line, col,
                              problem, (unsigned)p->problem_value & 0xffu);
        return tk_err_set(b->err, TK_EINVAL, "%s:%d:%d: %s", name, line, col, problem);
    default:
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context)
            return tk_err_set(b->err, TK_EINVAL, "%s:%d:%d: %s (%s at %d:%d)", name, line, col,
                              problem, p->context, (int)p->context_mark.line + 1,
                              (int)p->context_mark.column + 1);
        return tk_err_set(b->err, TK_EINVAL, "%s:%d:%d: %s", name, line, col, problem);
    }
}

static int build(struct builder *b)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0, done = 0;

    if (!yaml_parser_initialize(&parser))
        return tk_err_set(b->err, TK_ENOMEM, "%s: cannot initialize the YAML parser", b->doc->name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)b->text, b->len);
    while (!done && !rc) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(b, &parser);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (b->docs++ > 0)
                rc = tk_err_set(
                    b->err, TK_EINVAL, "%s:%d:%d: a second YAML document (only one is allowed)",
                    b->doc->name, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1);
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(b, &ev, TK_YAML_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(b, &ev, TK_YAML_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = on_end(b);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int load(struct tk_yaml_doc **out, const char *name, const char *text, size_t len,
                struct tk_err *err)
{
    struct tk_yaml_doc *doc = tk_xcalloc(1, sizeof(*doc));
    struct builder b = {0};
    int rc = 0;

    doc->name = tk_xstrdup(name ? name : "<yaml>");
    if (len > TK_YAML_MAX_BYTES) {
        rc = tk_err_set(err, TK_ENOMEM, "%s: YAML input is larger than %u MiB", doc->name,
                        TK_YAML_MAX_BYTES >> 20);
        goto fail;
    }
    b.doc = doc;
    b.text = text;
    b.len = len;
    b.err = err;
    if ((rc = build(&b)))
        goto fail;
    if (b.root) {
        doc->root = &b.root->pub;
    } else {
        yaml_mark_t start = {0, 0, 0};
        doc->root = &new_node(&b, TK_YAML_NULL, start)->pub;
    }
    strtab_release(&b.anchors);
    free(b.stack);
    *out = doc;
    return 0;
fail:
    while (b.depth)
        free(b.stack[--b.depth].kids);
    free(b.stack);
    strtab_release(&b.anchors);
    tk_yaml_free(doc);
    *out = NULL;
    return rc ? rc : TK_EINVAL;
}

int tk_yaml_load_string(struct tk_yaml_doc **out, const char *name, const char *text, size_t len,
                        struct tk_err *err)
{
    return load(out, name, text, len, err);
}

int tk_yaml_load_file(struct tk_yaml_doc **out, const char *path, struct tk_err *err)
{
    struct tk_buf buf;
    char chunk[65536];
    int fd = -1, rc = 0;

    tk_buf_init(&buf, TK_YAML_MAX_BYTES);
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = tk_err_set(err, TK_EIO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = tk_err_set(err, TK_EIO, "cannot read '%s': %s", path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if (tk_buf_append(&buf, chunk, (size_t)n)) {
            rc = tk_err_set(err, TK_ENOMEM, "%s: YAML input is larger than %u MiB", path,
                            TK_YAML_MAX_BYTES >> 20);
            goto done;
        }
    }
    rc = load(out, path, buf.data ? buf.data : "", buf.len, err);
done:
    if (fd >= 0)
        close(fd);
    tk_buf_release(&buf);
    return rc;
}

const struct tk_yaml_node *tk_yaml_root(const struct tk_yaml_doc *doc)
{
    return doc->root;
}

const char *tk_yaml_name(const struct tk_yaml_doc *doc)
{
    return doc->name;
}

void tk_yaml_free(struct tk_yaml_doc *doc)
{
    if (!doc)
        return;
    for (struct chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc->name);
    free(doc);
}

const struct tk_yaml_node *tk_yaml_get(const struct tk_yaml_node *map, const char *key)
{
    if (!map || map->kind != TK_YAML_MAP)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const struct tk_yaml_node *k = map->items[2 * i];
        if (k->n == len && memcmp(k->scalar, key, len) == 0)
            return map->items[2 * i + 1];
    }
    return NULL;
}

const char *tk_yaml_kind_name(enum tk_yaml_kind kind)
{
    switch (kind) {
    case TK_YAML_SCALAR:
        return "a string";
    case TK_YAML_SEQ:
        return "a list";
    case TK_YAML_MAP:
        return "a map";
    case TK_YAML_NULL:
        return "null";
    }
    return "?";
}

int tk_yaml_err(struct tk_err *err, const struct tk_yaml_doc *doc, const struct tk_yaml_node *at,
                const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (at)
        return tk_err_set(err, TK_EINVAL, "%s:%d:%d: %s", doc->name, at->line, at->col, msg);
    return tk_err_set(err, TK_EINVAL, "%s: %s", doc->name, msg);
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), for hints.
 * Strings longer than 63 bytes get no hint. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int d[64][64];

    if (la >= 64 || lb >= 64)
        return 1000;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

int tk_yaml_check_keys(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map,
                       const char *const *allowed, struct tk_err *err)
{
    if (!map || map->kind != TK_YAML_MAP)
        return 0;
    for (size_t i = 0; i < map->n; i++) {
        const struct tk_yaml_node *k = map->items[2 * i];
        const char *best = NULL;
        int best_d = 3, known = 0;

        for (const char *const *a = allowed; *a && !known; a++)
            known = k->n == strlen(*a) && memcmp(k->scalar, *a, k->n) == 0;
        if (known)
            continue;
        for (const char *const *a = allowed; *a; a++) {
            int d = edit_distance(k->scalar, *a);
            if (d < best_d && (size_t)d < k->n) {
                best_d = d;
                best = *a;
            }
        }
        if (best)
            return tk_yaml_err(err, doc, k, "unknown key '%.64s' (did you mean '%s'?)", k->scalar,
                               best);
        struct tk_buf list;
        tk_buf_init(&list, 160);
        for (const char *const *a = allowed; *a; a++)
            if (tk_buf_printf(&list, "%s%s", a == allowed ? "" : ", ", *a))
                break;
        int rc = tk_yaml_err(err, doc, k, "unknown key '%.64s' (expected one of: %s)", k->scalar,
                             list.data ? list.data : "none");
        tk_buf_release(&list);
        return rc;
    }
    return 0;
}

/* "got ..." for messages: scalars are shown, shortened, so the reader sees the culprit. */
static int type_err(struct tk_err *err, const struct tk_yaml_doc *doc,
                    const struct tk_yaml_node *node, const char *what, const char *type)
{
    char got[64];

    if (node->kind == TK_YAML_SCALAR)
        snprintf(got, sizeof(got), node->quoted ? "string \"%.32s\"" : "'%.32s'", node->scalar);
    else
        snprintf(got, sizeof(got), "%s", tk_yaml_kind_name(node->kind));
    if (what)
        return tk_yaml_err(err, doc, node, "field '%s' must be %s, got %s", what, type, got);
    return tk_yaml_err(err, doc, node, "expected %s, got %s", type, got);
}

int tk_yaml_expect(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                   enum tk_yaml_kind kind, const char *what, struct tk_err *err)
{
    if (node->kind == kind || (node->kind == TK_YAML_NULL && kind != TK_YAML_SCALAR))
        return 0;
    return type_err(err, doc, node, what, tk_yaml_kind_name(kind));
}

int tk_yaml_to_str(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node, const char *what,
                   const char **out, struct tk_err *err)
{
    if (node->kind != TK_YAML_SCALAR)
        return type_err(err, doc, node, what, "a string");
    if (strlen(node->scalar) != node->n)
        return what ? tk_yaml_err(err, doc, node, "field '%s' must not contain NUL bytes", what)
                    : tk_yaml_err(err, doc, node, "string must not contain NUL bytes");
    *out = node->scalar;
    return 0;
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

int tk_yaml_to_int64(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                     const char *what, int64_t *out, struct tk_err *err)
{
    const char *s = node->scalar;
    uint64_t v = 0, limit;
    int neg = 0, base = 10, ndigits = 0;

    if (node->kind != TK_YAML_SCALAR || node->quoted)
        return type_err(err, doc, node, what, "an integer");
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && s[1] == 'o') {
        base = 8;
        s += 2;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        if (*s == '_' && ndigits)
            continue;
        int d = digit_value(*s);
        if (d >= base)
            return type_err(err, doc, node, what, "an integer");
        if (v > (limit - (uint64_t)d) / (uint64_t)base)
            return type_err(err, doc, node, what, "an integer within 64 bits");
        v = v * (uint64_t)base + (uint64_t)d;
        ndigits++;
    }
    if (!ndigits)
        return type_err(err, doc, node, what, "an integer");
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* [-+]? (digits (. digits*)? | . digits) ([eE] [-+]? digits)? — what strtod would accept
 * beyond that (hex floats, "inf", "nan", leading space) is not a YAML number. */
static int float_syntax(const char *s)
{
    int mant = 0;

    if (*s == '-' || *s == '+')
        s++;
    while (is_digit(*s)) {
        s++;
        mant++;
    }
    if (*s == '.') {
        s++;
        while (is_digit(*s)) {
            s++;
            mant++;
        }
    }
    if (!mant)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

int tk_yaml_to_double(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                      const char *what, double *out, struct tk_err *err)
{
    const char *s = node->scalar;
    const char *body;
    int neg = 0;

    if (node->kind != TK_YAML_SCALAR || node->quoted)
        return type_err(err, doc, node, what, "a number");
    body = s;
    if (*body == '-' || *body == '+')
        neg = *body++ == '-';
    if (!strcmp(body, ".inf") || !strcmp(body, ".Inf") || !strcmp(body, ".INF")) {
        *out = neg ? -HUGE_VAL : HUGE_VAL;
        return 0;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        *out = NAN;
        return 0;
    }
    if (!float_syntax(s))
        return type_err(err, doc, node, what, "a number");
    double v = strtod(s, NULL);
    if (isinf(v))
        return type_err(err, doc, node, what, "a finite number");
    *out = v;
    return 0;
}

int tk_yaml_to_bool(const struct tk_yaml_doc *doc, const struct tk_yaml_node *node,
                    const char *what, int *out, struct tk_err *err)
{
    /* YAML 1.1, as go-yaml v2 (and so kubectl) reads them. */
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "on",   "On",   "ON",   "y",   "Y"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
                                     "off",   "Off",   "OFF",   "n",  "N"};

    if (node->kind == TK_YAML_SCALAR && !node->quoted) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (!strcmp(node->scalar, yes[i])) {
                *out = 1;
                return 0;
            }
            if (!strcmp(node->scalar, no[i])) {
                *out = 0;
                return 0;
            }
        }
    }
    return type_err(err, doc, node, what, "true or false");
}

int tk_yaml_get_str(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map, const char *key,
                    const char **out, struct tk_err *err)
{
    const struct tk_yaml_node *v = tk_yaml_get(map, key);
    return !v || v->kind == TK_YAML_NULL ? 0 : tk_yaml_to_str(doc, v, key, out, err);
}

int tk_yaml_get_int64(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map,
                      const char *key, int64_t *out, struct tk_err *err)
{
    const struct tk_yaml_node *v = tk_yaml_get(map, key);
    return !v || v->kind == TK_YAML_NULL ? 0 : tk_yaml_to_int64(doc, v, key, out, err);
}

int tk_yaml_get_double(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map,
                       const char *key, double *out, struct tk_err *err)
{
    const struct tk_yaml_node *v = tk_yaml_get(map, key);
    return !v || v->kind == TK_YAML_NULL ? 0 : tk_yaml_to_double(doc, v, key, out, err);
}

int tk_yaml_get_bool(const struct tk_yaml_doc *doc, const struct tk_yaml_node *map, const char *key,
                     int *out, struct tk_err *err)
{
    const struct tk_yaml_node *v = tk_yaml_get(map, key);
    return !v || v->kind == TK_YAML_NULL ? 0 : tk_yaml_to_bool(doc, v, key, out, err);
}
