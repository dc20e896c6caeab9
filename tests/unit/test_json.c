#include <stdlib.h>
#include <string.h>

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

TK_TEST_MAIN(json_parse_and_paths, json_parse_errors)
