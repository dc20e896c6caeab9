#include "buf.h"
#include "err.h"
#include "tktest.h"
#include "watch.h"

/* Events are recorded as "TYPE <object printed unformatted>", so two runs compare exactly. */
struct rec {
    char *ev[64];
    int n;
    int stop_after; /* 0: never ask to stop */
};

static int record(enum tk_watch_type type, cJSON *object, void *ud)
{
    struct rec *r = ud;
    char *s = cJSON_PrintUnformatted(object);
    if (r->n < 64)
        r->ev[r->n++] = tk_xasprintf("%s %s", tk_watch_type_name(type), s);
    free(s);
    return r->stop_after && r->n >= r->stop_after ? TK_WATCH_STOP : 0;
}

static void rec_free(struct rec *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->ev[i]);
    r->n = 0;
}

static char *slurp(const char *name, size_t *len)
{
    const char *dir = tk_test_data_dir();
    char *path = tk_xasprintf("%s/watch/%s", dir, name);
    FILE *f = fopen(path, "rb");
    struct tk_buf b;
    char chunk[4096];
    size_t n;

    free(path);
    if (!f)
        return NULL;
    tk_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tk_buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return tk_buf_detach(&b);
}

static int same(const struct rec *a, const struct rec *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->ev[i], b->ev[i]) != 0)
            return 0;
    return 1;
}

/* Feeds data in pieces cut at the given offsets (sorted, within len). */
static int feed_cuts(const char *data, size_t len, const size_t *cuts, int ncuts, size_t max,
                     struct rec *out, struct tk_err *err)
{
    struct tk_watch_parser p;
    size_t at = 0;
    int rc = 0;

    tk_watch_parser_init(&p, max);
    for (int i = 0; i <= ncuts && !rc; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rc = tk_watch_parser_feed(&p, data + at, end - at, record, out, err);
        at = end;
    }
    if (!rc && tk_watch_parser_pending(&p))
        rc = -2;
    tk_watch_parser_release(&p);
    return rc;
}

TK_TEST(watch_fixture_whole)
{
    size_t len = 0;
    char *data = slurp("pods.jsonl", &len);
    struct rec r = {0};
    struct tk_err err = {0};

    CHECK(data != NULL);
    CHECK_INT(feed_cuts(data, len, NULL, 0, 0, &r, &err), 0);
    CHECK_INT(r.n, 7);
    CHECK(strncmp(r.ev[0], "ADDED {\"kind\":\"Pod\"", 19) == 0);
    CHECK(strncmp(r.ev[1], "MODIFIED ", 9) == 0);
    CHECK(strncmp(r.ev[2], "MODIFIED ", 9) == 0);
    CHECK(strncmp(r.ev[3], "BOOKMARK ", 9) == 0);
    CHECK(strncmp(r.ev[4], "MODIFIED ", 9) == 0);
    CHECK(strncmp(r.ev[5], "DELETED ", 8) == 0);
    CHECK(strncmp(r.ev[6], "ERROR ", 6) == 0);
    /* raw UTF-8 (event 0) and \u escapes with a surrogate pair (event 1) decode alike */
    CHECK_CONTAINS(r.ev[0], "caf\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                            "\xf0\x9f\x9a\x80");
    CHECK_CONTAINS(r.ev[1], "caf\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                            "\xf0\x9f\x9a\x80");
    CHECK_CONTAINS(r.ev[2], "\"resourceVersion\":\"1207\"");
    CHECK_CONTAINS(r.ev[3], "\"resourceVersion\":\"1250\"");
    CHECK_CONTAINS(r.ev[6], "\"code\":410");
    rec_free(&r);
    free(data);
}

TK_TEST(watch_fixture_byte_by_byte)
{
    size_t len = 0;
    char *data = slurp("pods.jsonl", &len);
    struct rec whole = {0}, bytes = {0};
    struct tk_err err = {0};
    struct tk_watch_parser p;

    CHECK(data != NULL);
    CHECK_INT(feed_cuts(data, len, NULL, 0, 0, &whole, &err), 0);
    tk_watch_parser_init(&p, 0);
    for (size_t i = 0; i < len; i++)
        CHECK_INT(tk_watch_parser_feed(&p, data + i, 1, record, &bytes, &err), 0);
    CHECK_INT(tk_watch_parser_pending(&p), 0);
    tk_watch_parser_release(&p);
    CHECK_INT(bytes.n, 7);
    CHECK(same(&whole, &bytes));
    rec_free(&whole);
    rec_free(&bytes);
    free(data);
}

TK_TEST(watch_fixture_every_split)
{
    size_t len = 0;
    char *data = slurp("pods.jsonl", &len);
    struct rec whole = {0};
    struct tk_err err = {0};

    CHECK(data != NULL);
    CHECK_INT(feed_cuts(data, len, NULL, 0, 0, &whole, &err), 0);
    for (size_t cut = 0; cut <= len; cut++) {
        struct rec r = {0};
        int rc = feed_cuts(data, len, &cut, 1, 0, &r, &err);
        int ok = rc == 0 && same(&whole, &r);
        rec_free(&r);
        if (!ok)
            TK_FAIL_("split at %zu differs (rc %d)", cut, rc);
    }
    rec_free(&whole);
    free(data);
}

TK_TEST(watch_crlf_and_whitespace)
{
    size_t len = 0;
    char *data = slurp("pods.jsonl", &len);
    struct rec whole = {0}, crlf = {0};
    struct tk_err err = {0};
    struct tk_buf b;

    CHECK(data != NULL);
    CHECK_INT(feed_cuts(data, len, NULL, 0, 0, &whole, &err), 0);
    /* "\r\n" between events, plus blank lines and indentation; inside strings newlines are
     * escaped, so every raw '\n' is a separator */
    tk_buf_init(&b, 0);
    tk_buf_puts(&b, " \r\n\t");
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n')
            tk_buf_puts(&b, "\r\n \t\r\n  ");
        else
            tk_buf_append(&b, data + i, 1);
    }
    for (size_t cut = 0; cut <= b.len; cut += 7) {
        int rc = feed_cuts(b.data, b.len, &cut, 1, 0, &crlf, &err);
        int ok = rc == 0 && same(&whole, &crlf);
        rec_free(&crlf);
        if (!ok)
            TK_FAIL_("crlf split at %zu differs (rc %d)", cut, rc);
    }
    /* two events on one line with nothing between them */
    const char *two =
        "{\"type\":\"ADDED\",\"object\":{\"a\":1}}{\"type\":\"DELETED\",\"object\":{}}";
    CHECK_INT(feed_cuts(two, strlen(two), NULL, 0, 0, &crlf, &err), 0);
    CHECK_INT(crlf.n, 2);
    CHECK_STR(crlf.ev[0], "ADDED {\"a\":1}");
    CHECK_STR(crlf.ev[1], "DELETED {}");
    rec_free(&crlf);
    rec_free(&whole);
    tk_buf_release(&b);
    free(data);
}

TK_TEST(watch_truncated_final_event)
{
    size_t len = 0;
    char *data = slurp("pods.jsonl", &len);
    struct rec r = {0};
    struct tk_err err = {0};
    struct tk_watch_parser p;

    CHECK(data != NULL);
    tk_watch_parser_init(&p, 0);
    CHECK_INT(tk_watch_parser_feed(&p, data, len - 10, record, &r, &err), 0);
    CHECK_INT(r.n, 6); /* the ERROR event is cut short: not emitted */
    CHECK(tk_watch_parser_pending(&p) > 0);
    CHECK_INT(err.code, 0);
    /* a reset forgets it; the next stream parses normally */
    tk_watch_parser_reset(&p);
    CHECK_INT(tk_watch_parser_pending(&p), 0);
    CHECK_INT(tk_watch_parser_feed(&p, data, len, record, &r, &err), 0);
    CHECK_INT(r.n, 13);
    tk_watch_parser_release(&p);
    rec_free(&r);
    free(data);
}

TK_TEST(watch_oversized_event)
{
    size_t len = 0;
    char *data = slurp("pods.jsonl", &len);
    struct rec r = {0};
    struct tk_err err = {0};
    struct tk_watch_parser p;
    const char *small = "{\"type\":\"ADDED\",\"object\":{\"x\":\"y\"}}\n";

    CHECK(data != NULL);
    tk_watch_parser_init(&p, 1000); /* every pod event is ~1.5 KB */
    CHECK_INT(tk_watch_parser_feed(&p, data, len, record, &r, &err), TK_ENOMEM);
    CHECK_INT(r.n, 0);
    CHECK_STR(err.msg, "watch stream: event starting at byte 0 exceeds the 1000-byte cap");
    /* refused until reset */
    tk_err_clear(&err);
    CHECK_INT(tk_watch_parser_feed(&p, small, strlen(small), record, &r, &err), TK_ESTATE);
    tk_watch_parser_reset(&p);
    tk_err_clear(&err);
    CHECK_INT(tk_watch_parser_feed(&p, small, strlen(small), record, &r, &err), 0);
    CHECK_INT(r.n, 1);

    /* the cap bites while the event is still incomplete, fed byte by byte: the buffer never
     * holds more than the cap */
    tk_watch_parser_reset(&p);
    tk_err_clear(&err);
    int rc = 0;
    size_t i;
    for (i = 0; i < len && rc == 0; i++)
        rc = tk_watch_parser_feed(&p, data + i, 1, record, &r, &err);
    CHECK_INT(rc, TK_ENOMEM);
    CHECK_INT(i, 1001);
    CHECK(p.buf.len <= 1000);
    tk_watch_parser_release(&p);
    rec_free(&r);
    free(data);
}

static int malformed(const char *s, struct rec *r, struct tk_err *err)
{
    tk_err_clear(err);
    return feed_cuts(s, strlen(s), NULL, 0, 0, r, err);
}

TK_TEST(watch_garbage)
{
    struct rec r = {0};
    struct tk_err err = {0};

    CHECK_INT(malformed("hello\n", &r, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "at byte 0");
    CHECK_INT(malformed("[1,2]\n", &r, &err), TK_EINVAL);
    CHECK_INT(malformed("{\"type\":\"ADDED\",\"object\":{\"a\":tru}}\n", &r, &err), TK_EINVAL);
    CHECK_INT(malformed("{\"type\":\"ADDED\",\"object\":{\"a\":1]}\n", &r, &err), TK_EINVAL);
    CHECK_INT(malformed("{\"object\":{}}\n", &r, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "\"type\"");
    CHECK_INT(malformed("{\"type\":\"RENAMED\",\"object\":{}}\n", &r, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "unknown type");
    CHECK_INT(malformed("{\"type\":\"ADDED\",\"object\":\"pod\"}\n", &r, &err), TK_EINVAL);
    CHECK_INT(malformed("{\"type\":\"ADDED\"}\n", &r, &err), TK_EINVAL);
    CHECK_INT(r.n, 0);
    /* good events before the garbage are delivered; the message shows offsets, not content */
    CHECK_INT(malformed("{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"object\":{"
                        "\"data\":{\"password\":\"hunter2\",}}}\n",
                        &r, &err),
              TK_EINVAL);
    CHECK_INT(r.n, 1);
    CHECK(strstr(err.msg, "hunter2") == NULL);
    CHECK_CONTAINS(err.msg, "at byte");
    rec_free(&r);
}

TK_TEST(watch_callback_stops_feed)
{
    struct rec r = {0};
    struct tk_err err = {0};
    struct tk_watch_parser p;
    const char *s = "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"MODIFIED\",\"object\":{}}\n";

    r.stop_after = 1;
    tk_watch_parser_init(&p, 0);
    CHECK_INT(tk_watch_parser_feed(&p, s, strlen(s), record, &r, &err), TK_WATCH_STOP);
    CHECK_INT(r.n, 1);
    CHECK_INT(err.code, 0);
    tk_watch_parser_release(&p);
    rec_free(&r);
}

TK_TEST(watch_helpers)
{
    enum tk_watch_type t = TK_WATCH_ADDED;
    const char *names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

    for (int i = 0; i < 5; i++) {
        CHECK_INT(tk_watch_type_parse(names[i], &t), 0);
        CHECK_INT(t, i);
        CHECK_STR(tk_watch_type_name(t), names[i]);
    }
    CHECK_INT(tk_watch_type_parse("added", &t), -1);
    CHECK_STR(tk_watch_type_name((enum tk_watch_type)42), "UNKNOWN");

    cJSON *st = cJSON_Parse("{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}");
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"77\"}}");
    CHECK_INT(tk_watch_status_code(st), 410);
    CHECK_INT(tk_watch_status_code(pod), 0);
    CHECK_STR(tk_watch_resource_version(pod), "77");
    CHECK(tk_watch_resource_version(st) == NULL);
    cJSON_Delete(st);
    cJSON_Delete(pod);
}

TK_TEST_MAIN(watch_fixture_whole, watch_fixture_byte_by_byte, watch_fixture_every_split,
             watch_crlf_and_whitespace, watch_truncated_final_event, watch_oversized_event,
             watch_garbage, watch_callback_stops_feed, watch_helpers)
