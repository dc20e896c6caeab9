#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "tktest.h"
#include "yaml.h"

static struct tk_yaml_doc *load(const char *text, struct tk_err *err)
{
    struct tk_yaml_doc *doc = NULL;
    tk_err_clear(err);
    tk_yaml_load_string(&doc, "t.yaml", text, strlen(text), err);
    return doc;
}

static const char *data_dir(void)
{
    const char *d = tk_test_data_dir();
    return d;
}

TK_TEST(yaml_marks)
{
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = load("a: 1\nb:\n  - x\n  - y: \"2\"\n    z: |\n      text\n", &err);
    CHECK(doc);
    const struct tk_yaml_node *root = tk_yaml_root(doc);
    CHECK_INT(root->kind, TK_YAML_MAP);
    CHECK_INT(root->n, 2);
    CHECK_INT(root->line, 1);
    CHECK_INT(root->col, 1);
    CHECK_INT(root->items[0]->line, 1); /* key a */
    CHECK_INT(root->items[0]->col, 1);
    const struct tk_yaml_node *a = tk_yaml_get(root, "a");
    CHECK_INT(a->kind, TK_YAML_SCALAR);
    CHECK_STR(a->scalar, "1");
    CHECK_INT(a->quoted, 0);
    CHECK_INT(a->line, 1);
    CHECK_INT(a->col, 4);
    const struct tk_yaml_node *b = tk_yaml_get(root, "b");
    CHECK_INT(b->kind, TK_YAML_SEQ);
    CHECK_INT(b->n, 2);
    CHECK_INT(b->line, 3);
    CHECK_INT(b->col, 3);
    CHECK_INT(b->items[0]->line, 3);
    CHECK_INT(b->items[0]->col, 5);
    const struct tk_yaml_node *m = b->items[1];
    CHECK_INT(m->kind, TK_YAML_MAP);
    CHECK_INT(m->line, 4);
    CHECK_INT(m->col, 5);
    const struct tk_yaml_node *y = tk_yaml_get(m, "y");
    CHECK_STR(y->scalar, "2");
    CHECK_INT(y->quoted, 1);
    CHECK_INT(y->line, 4);
    CHECK_INT(y->col, 8);
    const struct tk_yaml_node *z = tk_yaml_get(m, "z");
    CHECK_STR(z->scalar, "text\n");
    CHECK_INT(z->quoted, 1);
    CHECK_INT(z->line, 5);
    CHECK(tk_yaml_get(m, "missing") == NULL);
    CHECK(tk_yaml_get(a, "a") == NULL); /* not a map */
    CHECK_STR(tk_yaml_name(doc), "t.yaml");

    /* tk_yaml_err formats the mark prefix. */
    CHECK_INT(tk_yaml_err(&err, doc, y, "field '%s' is odd", "y"), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:4:8: field 'y' is odd");
    tk_err_clear(&err);
    tk_yaml_err(&err, doc, NULL, "whole file");
    CHECK_STR(err.msg, "t.yaml: whole file");
    tk_yaml_free(doc);
}

TK_TEST(yaml_nulls_and_quoting)
{
    struct tk_err err = {0};
    struct tk_yaml_doc *doc =
        load("a:\nb: ~\nc: null\nd: \"\"\ne: 'null'\nf: !!str null\n~: keyed\ng: !!null x\n", &err);
    CHECK(doc);
    const struct tk_yaml_node *r = tk_yaml_root(doc);
    CHECK_INT(tk_yaml_get(r, "a")->kind, TK_YAML_NULL);
    CHECK_INT(tk_yaml_get(r, "b")->kind, TK_YAML_NULL);
    CHECK_INT(tk_yaml_get(r, "c")->kind, TK_YAML_NULL);
    CHECK_INT(tk_yaml_get(r, "d")->kind, TK_YAML_SCALAR);
    CHECK_INT(tk_yaml_get(r, "e")->kind, TK_YAML_SCALAR);
    CHECK_INT(tk_yaml_get(r, "f")->kind, TK_YAML_SCALAR);
    CHECK_INT(tk_yaml_get(r, "f")->quoted, 1);
    CHECK_INT(tk_yaml_get(r, "g")->kind, TK_YAML_NULL);
    /* Keys are always scalars, so "~" is a key like any other. */
    CHECK_STR(tk_yaml_get(r, "~")->scalar, "keyed");
    /* A null value leaves the default. */
    const char *s = "default";
    CHECK_INT(tk_yaml_get_str(doc, r, "a", &s, &err), 0);
    CHECK_STR(s, "default");
    CHECK_INT(tk_yaml_get_str(doc, r, "e", &s, &err), 0);
    CHECK_STR(s, "null");
    tk_yaml_free(doc);

    /* An empty document is a NULL root, not an error. */
    doc = load("# only a comment\n", &err);
    CHECK(doc);
    CHECK_INT(tk_yaml_root(doc)->kind, TK_YAML_NULL);
    tk_yaml_free(doc);
}

TK_TEST(yaml_typed_getters)
{
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = load("i: -42\nh: 0x1F\nu: 1_000\nbig: 9223372036854775807\n"
                                   "over: 9223372036854775808\nmin: -9223372036854775808\n"
                                   "q: \"5\"\nd: 2.5e3\ninf: -.inf\nbad: 1.2.3\n"
                                   "t: yes\nf: Off\nnb: maybe\nlist: [1]\nnul: \"a\\0b\"\n",
                                   &err);
    CHECK(doc);
    const struct tk_yaml_node *r = tk_yaml_root(doc);
    int64_t v = 0;
    CHECK_INT(tk_yaml_get_int64(doc, r, "i", &v, &err), 0);
    CHECK_INT(v, -42);
    CHECK_INT(tk_yaml_get_int64(doc, r, "h", &v, &err), 0);
    CHECK_INT(v, 31);
    CHECK_INT(tk_yaml_get_int64(doc, r, "u", &v, &err), 0);
    CHECK_INT(v, 1000);
    CHECK_INT(tk_yaml_get_int64(doc, r, "big", &v, &err), 0);
    CHECK(v == INT64_MAX);
    CHECK_INT(tk_yaml_get_int64(doc, r, "min", &v, &err), 0);
    CHECK(v == INT64_MIN);
    v = 7;
    CHECK_INT(tk_yaml_get_int64(doc, r, "absent", &v, &err), 0);
    CHECK_INT(v, 7);
    CHECK_INT(tk_yaml_get_int64(doc, r, "over", &v, &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:5:7: field 'over' must be an integer within 64 bits, got "
                       "'9223372036854775808'");
    CHECK_INT(v, 7);
    tk_err_clear(&err);
    CHECK_INT(tk_yaml_get_int64(doc, r, "q", &v, &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:7:4: field 'q' must be an integer, got string \"5\"");
    tk_err_clear(&err);
    CHECK_INT(tk_yaml_get_int64(doc, r, "d", &v, &err), TK_EINVAL);
    tk_err_clear(&err);

    double d = 0;
    CHECK_INT(tk_yaml_get_double(doc, r, "d", &d, &err), 0);
    CHECK_NEAR(d, 2500.0, 1e-9);
    CHECK_INT(tk_yaml_get_double(doc, r, "i", &d, &err), 0);
    CHECK_NEAR(d, -42.0, 1e-9);
    CHECK_INT(tk_yaml_get_double(doc, r, "inf", &d, &err), 0);
    CHECK(d < -1e308);
    CHECK_INT(tk_yaml_get_double(doc, r, "bad", &d, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "field 'bad' must be a number, got '1.2.3'");
    tk_err_clear(&err);

    int b = -1;
    CHECK_INT(tk_yaml_get_bool(doc, r, "t", &b, &err), 0);
    CHECK_INT(b, 1);
    CHECK_INT(tk_yaml_get_bool(doc, r, "f", &b, &err), 0);
    CHECK_INT(b, 0);
    CHECK_INT(tk_yaml_get_bool(doc, r, "nb", &b, &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:13:5: field 'nb' must be true or false, got 'maybe'");
    tk_err_clear(&err);

    const char *s = NULL;
    CHECK_INT(tk_yaml_get_str(doc, r, "list", &s, &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:14:7: field 'list' must be a string, got a list");
    tk_err_clear(&err);
    CHECK_INT(tk_yaml_get_str(doc, r, "nul", &s, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "NUL");
    tk_err_clear(&err);
    CHECK_INT(tk_yaml_get(r, "nul")->n, 3);

    CHECK_INT(tk_yaml_expect(doc, tk_yaml_get(r, "list"), TK_YAML_MAP, "list", &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:14:7: field 'list' must be a map, got a list");
    tk_err_clear(&err);
    tk_yaml_free(doc);
}

TK_TEST(yaml_unknown_key_hint)
{
    static const char *const allowed[] = {"nodes", "pods", "qps", "churnConfig", NULL};
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = load("pods: 1\nnodez: 10\n", &err);
    CHECK(doc);
    CHECK_INT(tk_yaml_check_keys(doc, tk_yaml_root(doc), allowed, &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:2:1: unknown key 'nodez' (did you mean 'nodes'?)");
    tk_yaml_free(doc);

    /* A transposition counts as one edit. */
    doc = load("churnCofnig: {}\n", &err);
    CHECK_INT(tk_yaml_check_keys(doc, tk_yaml_root(doc), allowed, &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:1:1: unknown key 'churnCofnig' (did you mean 'churnConfig'?)");
    tk_yaml_free(doc);

    /* Nothing close: the allowed keys are listed instead. */
    doc = load("qps: 1\n  \nprometheusURL: x\n", &err);
    CHECK_INT(tk_yaml_check_keys(doc, tk_yaml_root(doc), allowed, &err), TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:3:1: unknown key 'prometheusURL' (expected one of: nodes, pods, "
                       "qps, churnConfig)");
    tk_yaml_free(doc);

    doc = load("qps: 1\nnodes: 2\n", &err);
    CHECK_INT(tk_yaml_check_keys(doc, tk_yaml_root(doc), allowed, &err), 0);
    CHECK_INT(err.code, 0);
    tk_yaml_free(doc);
}

TK_TEST(yaml_syntax_error_marks)
{
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = load("a: b: c\n", &err);
    CHECK(doc == NULL);
    CHECK_INT(err.code, TK_EINVAL);
    CHECK_STR(err.msg, "t.yaml:1:5: mapping values are not allowed in this context");

    doc = load("a: 1\nb: [1, 2\nc: 3\n", &err);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "t.yaml:3:2: did not find expected ',' or ']' (while parsing a flow "
                            "sequence at 2:4)");

    doc = load("a:\n  - 1\n - 2\n", &err);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "t.yaml:3:2: ");

    /* Bad UTF-8 is a reader error with a byte offset, turned into a mark. */
    doc = load("a: ok\nb: \xff\n", &err);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "t.yaml:2:4: invalid leading UTF-8 octet");

    doc = load("a: 1\n---\nb: 2\n", &err);
    CHECK(doc == NULL);
    CHECK_STR(err.msg, "t.yaml:2:1: a second YAML document (only one is allowed)");

    doc = load("a: 1\nb: 2\na: 3\n", &err);
    CHECK(doc == NULL);
    CHECK_STR(err.msg, "t.yaml:3:1: duplicate key 'a' (first at 1:1)");

    doc = load("? [a, b]\n: c\n", &err);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "map keys must be scalars");
}

TK_TEST(yaml_aliases_and_merge)
{
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = load("base: &b {x: 1, y: 2}\n"
                                   "same: *b\n"
                                   "m:\n"
                                   "  y: 3\n"
                                   "  <<: *b\n"
                                   "multi:\n"
                                   "  <<: [{p: 1}, {p: 2, q: 2}]\n"
                                   "s: &s hello\n"
                                   "*s : aliased-key\n",
                                   &err);
    CHECK(doc);
    const struct tk_yaml_node *r = tk_yaml_root(doc);
    CHECK(tk_yaml_get(r, "same") == tk_yaml_get(r, "base")); /* shared, not copied */
    const struct tk_yaml_node *m = tk_yaml_get(r, "m");
    CHECK_INT(m->n, 2);
    CHECK_STR(tk_yaml_get(m, "x")->scalar, "1");
    CHECK_STR(tk_yaml_get(m, "y")->scalar, "3"); /* explicit keys win over merged ones */
    CHECK(tk_yaml_get(m, "<<") == NULL);
    const struct tk_yaml_node *multi = tk_yaml_get(r, "multi");
    CHECK_STR(tk_yaml_get(multi, "p")->scalar, "1"); /* earlier merged maps win */
    CHECK_STR(tk_yaml_get(multi, "q")->scalar, "2");
    CHECK_STR(tk_yaml_get(r, "hello")->scalar, "aliased-key");
    tk_yaml_free(doc);

    doc = load("a: &a [1, *a]\n", &err);
    CHECK(doc == NULL);
    CHECK_STR(err.msg, "t.yaml:1:11: alias '*a' refers to a node that contains it");

    doc = load("a: *nope\n", &err);
    CHECK(doc == NULL);
    CHECK_STR(err.msg, "t.yaml:1:4: unknown anchor '*nope'");

    doc = load("a: &a 1\nm:\n  <<: *a\n", &err);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "merge key '<<' needs a map or a list of maps, got a string");
}

TK_TEST(yaml_billion_laughs_refused)
{
    struct tk_buf b;
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = NULL;

    tk_buf_init(&b, 0);
    tk_buf_puts(&b, "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 8; i++) {
        tk_buf_printf(&b, "l%d: &l%d [", i, i);
        for (int j = 0; j < 10; j++)
            tk_buf_printf(&b, "%s*l%d", j ? ", " : "", i - 1);
        tk_buf_puts(&b, "]\n");
    }
    tk_yaml_load_string(&doc, "laughs.yaml", b.data, b.len, &err);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "laughs.yaml:8:");
    CHECK_CONTAINS(err.msg, "aliases expand this node to more than");
    tk_buf_release(&b);
}

TK_TEST(yaml_limits)
{
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = NULL;
    char deep[TK_YAML_MAX_DEPTH + 10];

    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    doc = load(deep, &err);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "nesting deeper than");

    size_t n = TK_YAML_MAX_BYTES + 1;
    char *big = malloc(n);
    CHECK(big);
    memset(big, '#', n);
    tk_err_clear(&err);
    CHECK_INT(tk_yaml_load_string(&doc, "big.yaml", big, n, &err), TK_ENOMEM);
    free(big);
    CHECK(doc == NULL);
    CHECK_STR(err.msg, "big.yaml: YAML input is larger than 16 MiB");

    /* A big map goes through the hashed duplicate check. */
    struct tk_buf b;
    tk_buf_init(&b, 0);
    tk_err_clear(&err);
    for (int i = 0; i < 5000; i++)
        tk_buf_printf(&b, "k%d: %d\n", i, i);
    tk_yaml_load_string(&doc, "wide.yaml", b.data, b.len, &err);
    CHECK(doc);
    CHECK_INT(tk_yaml_root(doc)->n, 5000);
    CHECK_STR(tk_yaml_get(tk_yaml_root(doc), "k4321")->scalar, "4321");
    tk_yaml_free(doc);
    tk_buf_puts(&b, "k17: again\n");
    tk_yaml_load_string(&doc, "wide.yaml", b.data, b.len, &err);
    CHECK(doc == NULL);
    CHECK_STR(err.msg, "wide.yaml:5001:1: duplicate key 'k17' (first at 18:1)");
    tk_buf_release(&b);
}

TK_TEST(yaml_load_file)
{
    struct tk_err err = {0};
    struct tk_yaml_doc *doc = NULL;
    char path[512];

    snprintf(path, sizeof(path), "%s/yaml/sample.yaml", data_dir());
    CHECK_INT(tk_yaml_load_file(&doc, path, &err), 0);
    CHECK_STR(tk_yaml_name(doc), path);
    const struct tk_yaml_node *r = tk_yaml_root(doc);
    const struct tk_yaml_node *cells = tk_yaml_get(r, "cells");
    CHECK_INT(cells->kind, TK_YAML_SEQ);
    CHECK_INT(cells->n, 2);
    int64_t v = 0;
    CHECK_INT(tk_yaml_get_int64(doc, cells->items[0], "qps", &v, &err), 0);
    CHECK_INT(v, 50);
    CHECK_INT(tk_yaml_get_int64(doc, cells->items[1], "qps", &v, &err), 0);
    CHECK_INT(v, 20);
    CHECK_INT(tk_yaml_get_int64(doc, cells->items[1], "nodes", &v, &err), 0);
    CHECK_INT(v, 5000);
    CHECK_INT(tk_yaml_get_int64(doc, cells->items[1], "burst", &v, &err), 0);
    CHECK_INT(v, 100);
    /* A merged value keeps the mark of where it was written. */
    const struct tk_yaml_node *burst = tk_yaml_get(cells->items[0], "burst");
    CHECK_INT(burst->line, 5);
    CHECK_INT(burst->col, 10);
    int on = 0;
    CHECK_INT(tk_yaml_get_bool(doc, r, "enabled", &on, &err), 0);
    CHECK_INT(on, 1);
    tk_yaml_free(doc);

    snprintf(path, sizeof(path), "%s/yaml/no-such-file.yaml", data_dir());
    CHECK_INT(tk_yaml_load_file(&doc, path, &err), TK_EIO);
    CHECK(doc == NULL);
    CHECK_CONTAINS(err.msg, "cannot read '");
    CHECK_CONTAINS(err.msg, "no-such-file.yaml': No such file or directory");
}

TK_TEST_MAIN(yaml_marks, yaml_nulls_and_quoting, yaml_typed_getters, yaml_unknown_key_hint,
             yaml_syntax_error_marks, yaml_aliases_and_merge, yaml_billion_laughs_refused,
             yaml_limits, yaml_load_file)
