#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "tktest.h"

TK_TEST(json_parse_and_paths)
{
    static const char text[] = " {\"metadata\":{\"name\":\"n1\",\"resourceVersion\":\"42\","
                               "\"labels\":{\"a.b/c\":\"x\"}},\"spec\":{\"replicas\":3,"
                               "\"ratio\":0.5,\"paused\":true},"
                               "\"items\":[{\"name\":\"first\"},{\"name\":\"second\"}]}\n";
    struct tk_err err = {0};
    cJSON *j = NULL;

    /* The length bounds the parse: the bytes after it are not JSON. */
    char buf[sizeof(text) + 8];
    memcpy(buf, text, sizeof(text) - 1);
    memcpy(buf + sizeof(text) - 1, "garbage", 8);
    CHECK_INT(tk_json_parse(&j, buf, sizeof(text) - 1, "pod", &err), 0);
    CHECK(j);
    CHECK_STR(tk_json_get_str(j, "metadata.name"), "n1");
    CHECK_STR(tk_json_get_str(j, "metadata.resourceVersion"), "42");
    CHECK(tk_json_get_str(j, "metadata.missing") == NULL);
    CHECK(tk_json_get_str(j, "spec.replicas") == NULL); /* a number, not a string */
    CHECK_STR(tk_json_get_str(j, "items.1.name"), "second");
    CHECK(tk_json_get(j, "items.2") == NULL);
    CHECK(tk_json_get(j, "") == j);
    double d = 0;
    CHECK_INT(tk_json_get_num(j, "spec.ratio", &d), 0);
    CHECK_NEAR(d, 0.5, 1e-12);
    CHECK_INT(tk_json_get_num(j, "metadata.name", &d), -1);
    int64_t i = 0;
    CHECK_INT(tk_json_get_int64(j, "spec.replicas", &i), 0);
    CHECK_INT(i, 3);
    CHECK_INT(tk_json_get_int64(j, "spec.ratio", &i), -1);
    int b = 0;
    CHECK_INT(tk_json_get_bool(j, "spec.paused", &b), 0);
    CHECK_INT(b, 1);
    CHECK(tk_json_get_obj(j, "metadata.labels"));
    CHECK(tk_json_get_obj(j, "items") == NULL);
    CHECK(tk_json_get_arr(j, "items"));
    /* Dotted keys are reachable only directly. */
    CHECK(tk_json_get_str(j, "metadata.labels.a.b/c") == NULL);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(tk_json_get_obj(j, "metadata.labels"), "a.b/c")
                  ->valuestring,
              "x");

    char *s = tk_json_print(tk_json_get(j, "spec"));
    CHECK_STR(s, "{\"replicas\":3,\"ratio\":0.5,\"paused\":true}");
    free(s);
    cJSON_Delete(j);
    CHECK(tk_json_get(NULL, "a") == NULL);
}

TK_TEST(json_parse_errors)
{
    struct tk_err err = {0};
    cJSON *j = (cJSON *)1;

    CHECK_INT(tk_json_parse(&j, "{\"a\": tru}", 10, "status", &err), TK_EINVAL);
    CHECK(j == NULL);
    CHECK_STR(err.msg, "status: invalid JSON at byte 6");
    tk_err_clear(&err);
    CHECK_INT(tk_json_parse(&j, "{\"token\":\"s3cret\"} x", 20, "cred", &err), TK_EINVAL);
    CHECK_STR(err.msg, "cred: trailing data at byte 19");
    tk_err_clear(&err);
    CHECK_INT(tk_json_parse(&j, "", 0, "empty", &err), TK_EINVAL);
    CHECK_STR(err.msg, "empty: empty input, expected JSON");
    tk_err_clear(&err);
    /* A truncated document fails inside its length, and the message never quotes the text. */
    CHECK_INT(tk_json_parse(&j, "{\"token\":\"s3cret", 16, "cred", &err), TK_EINVAL);
    CHECK(strstr(err.msg, "s3cret") == NULL);
}

/* The same tree as cJSON's own parse, out of the arena, which is one chunk again after. */
TK_TEST(json_scratch_parse_and_reset)
{
    static const char text[] =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"b\"}},"
        "\"spec\":{\"containers\":[{\"name\":\"c\"}]}}}";
    const char *end = NULL;
    cJSON *t = tk_json_scratch_parse(text, sizeof(text) - 1, &end);
    cJSON *ref = cJSON_Parse(text);
    char *a, *b;

    CHECK(t);
    CHECK(end == text + sizeof(text) - 1);
    CHECK(tk_json_scratch_bytes() > 0);
    CHECK_STR(tk_json_get_str(t, "object.spec.containers.0.name"), "c");
    a = cJSON_PrintUnformatted(t);
    b = cJSON_PrintUnformatted(ref);
    CHECK_STR(a, b);
    free(a);
    free(b);
    cJSON_Delete(ref);
    tk_json_scratch_done();
    CHECK_INT((long long)tk_json_scratch_bytes(), 64 << 10);

    /* bad JSON: NULL, and done still balances */
    CHECK(tk_json_scratch_parse("{\"a\":", 5, &end) == NULL);
    tk_json_scratch_done();
    CHECK_INT((long long)tk_json_scratch_bytes(), 64 << 10);
}

/* An event larger than a chunk grows the arena; done gives the growth back. */
TK_TEST(json_scratch_large_event_shrinks_back)
{
    struct tk_buf big;
    cJSON *t;

    tk_buf_init(&big, 0);
    tk_buf_append(&big, "[", 1);
    for (int i = 0; i < 20000; i++) {
        char item[64];
        int n = snprintf(item, sizeof(item), "%s{\"k%d\":\"value-%d\"}", i ? "," : "", i, i);
        tk_buf_append(&big, item, (size_t)n);
    }
    tk_buf_append(&big, "]", 1);
    t = tk_json_scratch_parse(big.data, big.len, NULL);
    CHECK(t);
    CHECK_INT(cJSON_GetArraySize(t), 20000);
    CHECK_STR(cJSON_GetArrayItem(t, 19999)->child->valuestring, "value-19999");
    CHECK(tk_json_scratch_bytes() > (size_t)1 << 20);
    tk_json_scratch_done();
    CHECK(tk_json_scratch_bytes() <= (size_t)64 << 10);
    tk_buf_release(&big);
}

/* A parse inside a callback of another leaves the outer tree alone; what cJSON allocates
 * between parses (a copy kept past done) is malloc's: ASan reads it after the reset. */
TK_TEST(json_scratch_nested_and_copies_outlive)
{
    cJSON *outer = tk_json_scratch_parse("{\"name\":\"outer\"}", 16, NULL);
    cJSON *inner, *copy, *made;

    CHECK(outer);
    inner = tk_json_scratch_parse("{\"name\":\"inner\"}", 16, NULL);
    CHECK(inner);
    copy = cJSON_Duplicate(inner, 1);
    made = cJSON_CreateObject();
    cJSON_AddStringToObject(made, "k", "v");
    tk_json_scratch_done(); /* inner */
    /* had that reset the arena, this tree would be laid over the outer one */
    CHECK(tk_json_scratch_parse("{\"name\":\"YYYYY\"}", 16, NULL));
    CHECK_STR(tk_json_get_str(outer, "name"), "outer");
    tk_json_scratch_done();
    tk_json_scratch_done();                                         /* outer: the arena resets */
    CHECK(tk_json_scratch_parse("{\"name\":\"XXXXX\"}", 16, NULL)); /* over the old trees */
    tk_json_scratch_done();
    CHECK_STR(tk_json_get_str(copy, "name"), "inner");
    CHECK_STR(tk_json_get_str(made, "k"), "v");
    cJSON_Delete(copy);
    cJSON_Delete(made);
}

TK_TEST_MAIN(json_parse_and_paths, json_parse_errors, json_scratch_parse_and_reset,
             json_scratch_large_event_shrinks_back, json_scratch_nested_and_copies_outlive)
