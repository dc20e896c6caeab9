#include "buf.h"
#include "err.h"
#include "prom.h"
#include "tktest.h"

#include <math.h>
#include <stdint.h>

/* ---- helpers --------------------------------------------------------------------------- */

/* Every sample as one line of text, so sample lists compare with strcmp:
 *   name{a=v,...}|value|ts|type|family   (the part before the first '|' is the series) */
struct rec {
    char **v;
    size_t *line; /* each sample's line number */
    size_t n, alloc;
};

static void rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    free(r->line);
    memset(r, 0, sizeof(*r));
}

static int rec_cb(void *ud, const struct tk_prom_sample *s)
{
    struct rec *r = ud;
    struct tk_buf b;

    tk_buf_init(&b, 0);
    tk_buf_puts(&b, s->name);
    tk_buf_puts(&b, "{");
    for (size_t i = 0; i < s->nlabels; i++)
        tk_buf_printf(&b, "%s%s=%s", i ? "," : "", s->labels[i].name, s->labels[i].value);
    tk_buf_printf(&b, "}|%.17g|", s->value);
    if (s->has_timestamp)
        tk_buf_printf(&b, "%lld", (long long)s->timestamp_ms);
    tk_buf_printf(&b, "|%s|%s", tk_prom_type_name(s->type), s->family);
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 64;
        r->v = tk_xrealloc(r->v, r->alloc * sizeof(*r->v));
        r->line = tk_xrealloc(r->line, r->alloc * sizeof(*r->line));
    }
    r->line[r->n] = s->line;
    r->v[r->n++] = tk_buf_detach(&b);
    return 0;
}

/* Reads a fixture into a buffer of exactly its size (no NUL), so ASan sees any over-read. */
static char *read_fixture(const char *name, size_t *len)
{
    const char *dir = tk_test_data_dir();
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/prom/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = tk_xmalloc((size_t)n);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int parse_text(const char *text, struct rec *r, struct tk_err *err)
{
    return tk_prom_parse(text, strlen(text), rec_cb, r, err);
}

/* ---- value parsing --------------------------------------------------------------------- */

TK_TEST(prom_values)
{
    static const struct {
        const char *in;
        double v;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"-2.5", -2.5},
        {"+3", 3},
        {"0.005", 0.005},
        {"1e3", 1000},
        {"1E-3", 0.001},
        {"-1.5e-3", -0.0015},
        {"1.", 1},
        {".5", 0.5},
        {"123456789012345", 123456789012345.0},
        {"1.23456789e+08", 123456789},
        {"18446744073709551615", 18446744073709551615.0},
        {"0.1", 0.1},
        {"1e22", 1e22},
        {"1e23", 1e23}, /* fast path ends at 1e22 */
        {"4.9e-324", 4.9e-324},
        {"0x1p-2", 0.25},
        {"2.2250738585072014e-308", 2.2250738585072014e-308},
    };
    static const char *const bad[] = {"",      "abc",  "1e400", "-1e400", "1e",   "1.2.3", "--1",
                                      "1 ",    " 1",   "0x10",  "nan(1)", "+nan", "-NaN",  ".",
                                      "1_000", "Infx", "e5",    "1e+",    "+"};
    double v;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = -999;
        if (tk_prom_parse_value(good[i].in, strlen(good[i].in), &v) != 0)
            fprintf(stderr, "  rejected \"%s\"\n", good[i].in);
        CHECK_INT(tk_prom_parse_value(good[i].in, strlen(good[i].in), &v), 0);
        if (v != good[i].v)
            fprintf(stderr, "  \"%s\" -> %.17g\n", good[i].in, v);
        CHECK(v == good[i].v);
    }
    CHECK_INT(tk_prom_parse_value("NaN", 3, &v), 0);
    CHECK(isnan(v));
    CHECK_INT(tk_prom_parse_value("nan", 3, &v), 0);
    CHECK(isnan(v));
    CHECK_INT(tk_prom_parse_value("+Inf", 4, &v), 0);
    CHECK(isinf(v) && v > 0);
    CHECK_INT(tk_prom_parse_value("-Inf", 4, &v), 0);
    CHECK(isinf(v) && v < 0);
    CHECK_INT(tk_prom_parse_value("Inf", 3, &v), 0);
    CHECK(isinf(v) && v > 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tk_prom_parse_value(bad[i], strlen(bad[i]), &v) == 0)
            fprintf(stderr, "  accepted \"%s\" as %g\n", bad[i], v);
        CHECK_INT(tk_prom_parse_value(bad[i], strlen(bad[i]), &v), -1);
    }
    /* length-bounded: "12" out of "123" */
    CHECK_INT(tk_prom_parse_value("123", 2, &v), 0);
    CHECK(v == 12);
}

/* ---- the fixture ----------------------------------------------------------------------- */

#define FIXTURE_SAMPLES 124

TK_TEST(prom_parse_fixture)
{
    struct tk_err err = {0};
    struct rec r = {0};
    size_t len;
    char *text = read_fixture("apiserver.txt", &len);

    CHECK(text != NULL);
    CHECK(text[len - 1] != '\n'); /* the fixture ends without a newline on purpose */
    CHECK_INT(tk_prom_parse(text, len, rec_cb, &r, &err), 0);
    CHECK_INT(r.n, FIXTURE_SAMPLES);
    CHECK_STR(r.v[0], "apiserver_request_duration_seconds_bucket{component=apiserver,dry_run=,"
                      "group=,resource=pods,scope=resource,subresource=,verb=POST,version=v1,"
                      "le=0.005}|100||histogram|apiserver_request_duration_seconds");
    CHECK_STR(r.v[40], "apiserver_request_duration_seconds_bucket{component=apiserver,dry_run=,"
                       "group=,resource=pods,scope=resource,subresource=,verb=POST,version=v1,"
                       "le=+Inf}|1000||histogram|apiserver_request_duration_seconds");
    CHECK_STR(r.v[41], "apiserver_request_duration_seconds_sum{component=apiserver,dry_run=,"
                       "group=,resource=pods,scope=resource,subresource=,verb=POST,version=v1}"
                       "|31.25||histogram|apiserver_request_duration_seconds");
    CHECK_STR(r.v[86], "apiserver_request_total{code=201,component=apiserver,dry_run=,group=,"
                       "resource=pods,scope=resource,subresource=,verb=POST,version=v1}|1000||"
                       "counter|apiserver_request_total");
    CHECK_STR(r.v[89], "apiserver_current_inflight_requests{request_kind=mutating}|3||gauge|"
                       "apiserver_current_inflight_requests");
    CHECK_STR(r.v[91], "etcd_disk_wal_fsync_duration_seconds_bucket{le=0.001}|0||histogram|"
                       "etcd_disk_wal_fsync_duration_seconds");
    CHECK_STR(r.v[107], "etcd_disk_wal_fsync_duration_seconds_count{}|1024||histogram|"
                        "etcd_disk_wal_fsync_duration_seconds");
    CHECK_STR(r.v[108], "go_gc_duration_seconds{quantile=0}|4.1e-05||summary|"
                        "go_gc_duration_seconds");
    CHECK_STR(r.v[114], "go_gc_duration_seconds_count{}|1045||summary|go_gc_duration_seconds");
    CHECK_STR(r.v[115], "process_resident_memory_bytes{}|123456789||gauge|"
                        "process_resident_memory_bytes");
    /* escapes: \\ \" \n unescaped; an empty value */
    CHECK_STR(r.v[116], "tk_fixture_escapes{path=C:\\dir\\file,quote=say \"hi\",multi=a\nb,"
                        "empty=}|1||untyped|tk_fixture_escapes");
    CHECK_STR(r.v[117], "tk_fixture_untyped{a=b}|42|1700000000000|untyped|tk_fixture_untyped");
    CHECK_STR(r.v[118], "tk_fixture_special{kind=nan}|nan||untyped|tk_fixture_special");
    CHECK_STR(r.v[119], "tk_fixture_special{kind=pinf}|inf||untyped|tk_fixture_special");
    CHECK_STR(r.v[120], "tk_fixture_special{kind=ninf}|-inf||untyped|tk_fixture_special");
    CHECK_STR(r.v[121], "tk_fixture_special{kind=exp}|-0.0015||untyped|tk_fixture_special");
    /* tabs, blanks inside braces, a trailing comma, a negative timestamp, trailing blanks */
    CHECK_STR(r.v[122], "tk_fixture_spacing{a=1,b=2}|7|-5|untyped|tk_fixture_spacing");
    /* the last line, without a newline */
    CHECK_STR(r.v[123], "tk_fixture_counter_total{}|1.8446744073709552e+19||counter|"
                        "tk_fixture_counter_total");
    rec_free(&r);
    free(text);
}

/* The torture tests below run thousands of parses. Their callback compares each sample
 * with the one the whole-buffer parse gave at the same position, field by field, without
 * formatting or allocating. */
struct want {
    char *name, *family;
    size_t nlabels;
    char **lname, **lvalue;
    double value;
    int has_timestamp;
    int64_t timestamp_ms;
    enum tk_prom_type type;
    size_t line;
};

struct wants {
    struct want *v;
    size_t n, alloc;
};

static int want_cb(void *ud, const struct tk_prom_sample *s)
{
    struct wants *ws = ud;
    struct want *w;

    if (ws->n == ws->alloc) {
        ws->alloc = ws->alloc ? ws->alloc * 2 : 256;
        ws->v = tk_xrealloc(ws->v, ws->alloc * sizeof(*ws->v));
    }
    w = &ws->v[ws->n++];
    w->name = tk_xstrdup(s->name);
    w->family = tk_xstrdup(s->family);
    w->nlabels = s->nlabels;
    w->lname = tk_xcalloc(s->nlabels + 1, sizeof(char *));
    w->lvalue = tk_xcalloc(s->nlabels + 1, sizeof(char *));
    for (size_t i = 0; i < s->nlabels; i++) {
        w->lname[i] = tk_xstrdup(s->labels[i].name);
        w->lvalue[i] = tk_xstrdup(s->labels[i].value);
    }
    w->value = s->value;
    w->has_timestamp = s->has_timestamp;
    w->timestamp_ms = s->timestamp_ms;
    w->type = s->type;
    w->line = s->line;
    return 0;
}

static void wants_free(struct wants *ws)
{
    for (size_t k = 0; k < ws->n; k++) {
        struct want *w = &ws->v[k];
        for (size_t i = 0; i < w->nlabels; i++) {
            free(w->lname[i]);
            free(w->lvalue[i]);
        }
        free(w->lname);
        free(w->lvalue);
        free(w->name);
        free(w->family);
    }
    free(ws->v);
    memset(ws, 0, sizeof(*ws));
}

struct check {
    const struct wants *ws;
    size_t n;              /* samples seen */
    size_t series_diff_at; /* first sample whose name or labels differ, or SIZE_MAX */
    size_t diff_at;        /* first sample differing in anything, or SIZE_MAX */
};

static void check_reset(struct check *c, const struct wants *ws)
{
    c->ws = ws;
    c->n = 0;
    c->series_diff_at = c->diff_at = SIZE_MAX;
}

static int check_cb(void *ud, const struct tk_prom_sample *s)
{
    struct check *c = ud;
    size_t k = c->n++;
    const struct want *w = k < c->ws->n ? &c->ws->v[k] : NULL;
    int series = w && strcmp(w->name, s->name) == 0 && w->nlabels == s->nlabels;

    for (size_t i = 0; series && i < s->nlabels; i++)
        series = strcmp(w->lname[i], s->labels[i].name) == 0 &&
                 strcmp(w->lvalue[i], s->labels[i].value) == 0;
    if (!series && c->series_diff_at == SIZE_MAX)
        c->series_diff_at = k;
    if (c->diff_at == SIZE_MAX &&
        (!series || memcmp(&w->value, &s->value, sizeof(double)) != 0 ||
         w->has_timestamp != s->has_timestamp || w->timestamp_ms != s->timestamp_ms ||
         w->type != s->type || strcmp(w->family, s->family) != 0 || w->line != s->line))
        c->diff_at = k;
    return 0;
}

/* Feeds text split at every offset (and one byte at a time): the samples must be exactly
 * those of the whole-buffer parse. Each chunk is copied into a buffer of its own size. */
static int feed_split(const char *text, size_t len, size_t at, struct check *c, struct tk_err *err)
{
    struct tk_prom_parser p;
    char *a = tk_xmalloc(at ? at : 1), *b = tk_xmalloc(len - at ? len - at : 1);
    int rc;

    memcpy(a, text, at);
    memcpy(b, text + at, len - at);
    tk_prom_parser_init(&p, check_cb, c);
    rc = tk_prom_parser_feed(&p, a, at, err);
    if (!rc)
        rc = tk_prom_parser_feed(&p, b, len - at, err);
    if (!rc)
        rc = tk_prom_parser_finish(&p, err);
    tk_prom_parser_release(&p);
    free(a);
    free(b);
    return rc;
}

TK_TEST(prom_parse_split_at_every_offset)
{
    struct tk_err err = {0};
    struct wants whole = {0};
    struct check c;
    size_t len;
    char *text = read_fixture("apiserver.txt", &len);

    CHECK(text != NULL);
    CHECK_INT(tk_prom_parse(text, len, want_cb, &whole, &err), 0);
    CHECK_INT(whole.n, FIXTURE_SAMPLES);
    for (size_t at = 0; at <= len; at++) {
        int rc;
        check_reset(&c, &whole);
        rc = feed_split(text, len, at, &c, &err);
        if (rc || c.n != whole.n || c.diff_at != SIZE_MAX)
            fprintf(stderr, "  split at %zu: rc %d, %zu samples, diff at %zu: %s\n", at, rc, c.n,
                    c.diff_at, err.msg);
        CHECK_INT(rc, 0);
        CHECK_INT(c.n, whole.n);
        CHECK(c.diff_at == SIZE_MAX);
    }
    /* one byte at a time */
    {
        struct tk_prom_parser p;
        check_reset(&c, &whole);
        tk_prom_parser_init(&p, check_cb, &c);
        for (size_t i = 0; i < len; i++) {
            char *one = tk_xmalloc(1);
            one[0] = text[i];
            CHECK_INT(tk_prom_parser_feed(&p, one, 1, &err), 0);
            free(one);
        }
        CHECK_INT(tk_prom_parser_finish(&p, &err), 0);
        tk_prom_parser_release(&p);
        CHECK_INT(c.n, whole.n);
        CHECK(c.diff_at == SIZE_MAX);
    }
    /* the comparison itself notices a difference */
    check_reset(&c, &whole);
    CHECK_INT(tk_prom_parse(text, len - 1, check_cb, &c, &err), 0); /* "...615" -> "...61" */
    CHECK_INT(c.diff_at, FIXTURE_SAMPLES - 1);
    CHECK(c.series_diff_at == SIZE_MAX);
    wants_free(&whole);
    free(text);
}

/* A body cut at any offset: never a read past the cut (ASan), and either an error or the
 * samples of the complete lines plus, at most, one from the cut line. That last one has the
 * same series as the full line; its value or timestamp may be a cut-off number ("12" of
 * "123"), which the format cannot tell from a whole one. */
TK_TEST(prom_parse_truncated_at_every_offset)
{
    struct tk_err err = {0};
    struct wants whole = {0};
    struct check c;
    size_t len, errors = 0, nl = 0;
    char *text = read_fixture("apiserver.txt", &len);

    CHECK(text != NULL);
    CHECK_INT(tk_prom_parse(text, len, want_cb, &whole, &err), 0);
    for (size_t cut = 0; cut <= len; cut++) {
        struct tk_err e = {0};
        char *buf = tk_xmalloc(cut ? cut : 1);
        size_t complete = 0; /* samples on lines whose newline is before the cut */
        int rc;

        if (cut > 0 && text[cut - 1] == '\n')
            nl++;
        while (complete < whole.n && whole.v[complete].line <= nl)
            complete++;
        memcpy(buf, text, cut);
        check_reset(&c, &whole);
        rc = tk_prom_parse(buf, cut, check_cb, &c, &e);
        if (rc) {
            errors++;
            CHECK_CONTAINS(e.msg, "line ");
            CHECK_INT(c.n, complete);
        } else {
            CHECK(c.n == complete || c.n == complete + 1);
        }
        CHECK(c.series_diff_at == SIZE_MAX);
        CHECK(c.diff_at == SIZE_MAX || c.diff_at == complete);
        free(buf);
    }
    CHECK(errors > len / 2); /* most cuts land inside names and labels */
    wants_free(&whole);
    free(text);
}

/* ---- grammar edges --------------------------------------------------------------------- */

TK_TEST(prom_parse_edges)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"foo 1", "foo{}|1||untyped|foo"},
        {"foo{} 1", "foo{}|1||untyped|foo"},
        {"foo{a=\"b\",} 1", "foo{a=b}|1||untyped|foo"},
        {"  foo \t 1  \r", "foo{}|1||untyped|foo"},
        {"foo { a = \"b\" , c=\"d\" } 1", "foo{a=b,c=d}|1||untyped|foo"},
        {"foo{a=\"b\"}1", "foo{a=b}|1||untyped|foo"},
        {"foo 1 -5", "foo{}|1|-5|untyped|foo"},
        {"foo Inf", "foo{}|inf||untyped|foo"},
        {"foo .5", "foo{}|0.5||untyped|foo"},
        {"foo{a=\"}{,=\\\\\"} 1", "foo{a=}{,=\\}|1||untyped|foo"},
        {"foo{a=\"\xc3\xa9\"} 1", "foo{a=\xc3\xa9}|1||untyped|foo"},
        {"a:b_c:d 1", "a:b_c:d{}|1||untyped|a:b_c:d"},
        {"foo 1 9223372036854775807", "foo{}|1|9223372036854775807|untyped|foo"},
        {"# TYPE foo counter\nfoo 1", "foo{}|1||counter|foo"},
        {"# TYPE foo counter\nfoo_total 1", "foo_total{}|1||untyped|foo_total"},
        {"#TYPE foo gauge\nfoo 1", "foo{}|1||gauge|foo"},
        {"# TYPE foo summary\nfoo_bucket 1", "foo_bucket{}|1||untyped|foo_bucket"},
        {"# TYPE foo histogram\nfoo_count 1", "foo_count{}|1||histogram|foo"},
        {"# TYPE foo histogram\nfoo_counts 1", "foo_counts{}|1||untyped|foo_counts"},
        {"# TYPE foo gauge\n# TYPE bar counter\nfoo 1", "foo{}|1||untyped|foo"},
        {"# HELP foo anything \\ at all\n#\n# \n\n\nfoo 1\n\n", "foo{}|1||untyped|foo"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        struct rec r = {0};
        if (parse_text(cases[i].in, &r, &err))
            fprintf(stderr, "  \"%s\": %s\n", cases[i].in, err.msg);
        CHECK_INT(err.code, 0);
        CHECK_INT(r.n, 1);
        CHECK_STR(r.v[0], cases[i].out);
        rec_free(&r);
    }
}

TK_TEST(prom_parse_errors_with_line_numbers)
{
    static const struct {
        const char *line;
        const char *msg;
    } cases[] = {
        {"foo{a=\"b\" 1", "expected ',' or '}'"},
        {"foo{a=\"b\"", "expected ',' or '}'"},
        {"foo{a=\"b", "unterminated label value"},
        {"foo{a=\"b\\", "unterminated label value"},
        {"foo{a=\"\\x\"} 1", "invalid escape"},
        {"foo{a=\"\\t\"} 1", "invalid escape"},
        {"foo 1 2 3", "after the timestamp"},
        {"foo abc", "invalid sample value"},
        {"foo", "missing sample value"},
        {"foo{}", "missing sample value"},
        {"foo 1 1.5", "invalid timestamp"},
        {"foo 1 9223372036854775808", "invalid timestamp"},
        {"1foo 1", "invalid metric name"},
        {"foo-bar 1", "invalid metric name"},
        {"{a=\"b\"} 1", "invalid metric name"},
        {"foo{1a=\"b\"} 1", "invalid label name"},
        {"foo{a:b=\"c\"} 1", "expected '='"},
        {"foo{a\"b\"} 1", "expected '='"},
        {"foo{a=b} 1", "expected '\"'"},
        {"foo{,} 1", "invalid label name"},
        {"foo 1e400", "invalid sample value"},
        {"foo +nan", "invalid sample value"},
        {"# TYPE foo bar", "unknown metric type"},
        {"# TYPE foo Counter", "unknown metric type"},
        {"# TYPE foo", "unknown metric type"},
        {"# TYPE foo counter extra", "unknown metric type"},
        {"# TYPE 1foo counter", "without a valid metric name"},
        {"# TYPE", "without a valid metric name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tk_err err = {0};
        struct rec r = {0};
        char *text = tk_xasprintf("ok 1\n\n%s\nnever 2\n", cases[i].line);
        int rc = parse_text(text, &r, &err);
        if (rc != TK_EINVAL || !strstr(err.msg, cases[i].msg))
            fprintf(stderr, "  \"%s\": rc %d \"%s\"\n", cases[i].line, rc, err.msg);
        CHECK_INT(rc, TK_EINVAL);
        CHECK_CONTAINS(err.msg, "line 3: ");
        CHECK_CONTAINS(err.msg, cases[i].msg);
        CHECK_INT(r.n, 1); /* the sample before the bad line was delivered, none after */
        rec_free(&r);
        free(text);
    }
}

TK_TEST(prom_parse_nul_byte_is_an_error)
{
    static const char text[] = "foo{a=\"x\0y\"} 1\n";
    struct tk_err err = {0};
    struct rec r = {0};
    CHECK_INT(tk_prom_parse(text, sizeof(text) - 1, rec_cb, &r, &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "NUL byte");
    tk_err_clear(&err);
    CHECK_INT(tk_prom_parse("foo 1\0", 6, rec_cb, &r, &err), TK_EINVAL);
    rec_free(&r);
}

static int stop_after_two(void *ud, const struct tk_prom_sample *s)
{
    int *n = ud;
    (void)s;
    return ++*n == 2 ? TK_ESTATE : 0;
}

TK_TEST(prom_parse_callback_stops)
{
    struct tk_err err = {0};
    struct tk_prom_parser p;
    int n = 0;

    CHECK_INT(tk_prom_parse("a 1\nb 2\nc 3\n", 12, stop_after_two, &n, &err), TK_ESTATE);
    CHECK_INT(n, 2);
    CHECK_STR(err.msg, "line 2: stopped by callback");
    /* an incremental parser stays stopped */
    n = 0;
    tk_err_clear(&err);
    tk_prom_parser_init(&p, stop_after_two, &n);
    CHECK_INT(tk_prom_parser_feed(&p, "a 1\nb 2\n", 8, &err), TK_ESTATE);
    CHECK_INT(tk_prom_parser_feed(&p, "c 3\n", 4, &err), TK_ESTATE);
    CHECK_INT(tk_prom_parser_finish(&p, &err), TK_ESTATE);
    CHECK_INT(n, 2);
    tk_prom_parser_release(&p);
}

TK_TEST(prom_parse_line_cap)
{
    size_t n = TK_PROM_MAX_LINE + 16;
    char *text = tk_xmalloc(n);
    struct tk_err err = {0};
    struct tk_prom_parser p;
    struct rec r = {0};

    memset(text, 'a', n);
    memcpy(text, "ok 1\n", 5);
    CHECK_INT(tk_prom_parse(text, n, rec_cb, &r, &err), TK_ENOMEM);
    CHECK_CONTAINS(err.msg, "line 2: ");
    CHECK_INT(r.n, 1);
    /* the same when the line arrives in pieces and would have to be buffered */
    tk_err_clear(&err);
    tk_prom_parser_init(&p, rec_cb, &r);
    int rc = 0;
    for (size_t off = 0; off < n && !rc; off += 4096)
        rc = tk_prom_parser_feed(&p, text + off, n - off < 4096 ? n - off : 4096, &err);
    CHECK_INT(rc, TK_ENOMEM);
    CHECK_CONTAINS(err.msg, "line 2: ");
    tk_prom_parser_release(&p);
    rec_free(&r);
    free(text);
}

/* ---- histogram_quantile ---------------------------------------------------------------- */

static const double INF = INFINITY;

static double hq(double q, const double *le, const double *c, size_t n)
{
    return tk_prom_histogram_quantile(q, le, c, n);
}

TK_TEST(prom_quantile_reference_cases)
{
    /* All expected values are exact in binary: the checks are ==, not near. */
    {
        /* q outside [0,1] and NaN, before anything else is looked at (even an empty set) */
        const double le[] = {1, INF}, c[] = {1, 2};
        CHECK(hq(-0.1, le, c, 2) == -INF);
        CHECK(hq(1.1, le, c, 2) == INF);
        CHECK(hq(-0.1, NULL, NULL, 0) == -INF);
        CHECK(isnan(hq(NAN, le, c, 2)));
        CHECK(isnan(hq(0.5, NULL, NULL, 0)));
    }
    {
        /* highest bucket not +Inf -> NaN */
        const double le[] = {1, 2, 4}, c[] = {1, 2, 3};
        CHECK(isnan(hq(0.5, le, c, 3)));
    }
    {
        /* a single (+Inf) bucket -> NaN; two +Inf buckets merge into one -> NaN too */
        const double le[] = {INF}, c[] = {5};
        CHECK(isnan(hq(0.5, le, c, 1)));
        const double le2[] = {INF, INF}, c2[] = {5, 5};
        CHECK(isnan(hq(0.5, le2, c2, 2)));
    }
    {
        /* total 0 -> NaN */
        const double le[] = {1, INF}, c[] = {0, 0};
        CHECK(isnan(hq(0.5, le, c, 2)));
    }
    {
        /* rank in the first bucket (le > 0): interpolate from 0.
         * q=0.25: rank = 0.25*16 = 4; b = 0 (8 >= 4); 0 + (4-0)*(4/8) = 2 */
        const double le[] = {4, 8, INF}, c[] = {8, 16, 16};
        CHECK(hq(0.25, le, c, 3) == 2);
        /* q=0.75: rank 12; b = 1; start 4, count 16-8 = 8, rank 12-8 = 4: 4 + 4*(4/8) = 6 */
        CHECK(hq(0.75, le, c, 3) == 6);
        /* q=1: rank 16; b = 1 (16 >= 16): 4 + 4*(8/8) = 8 */
        CHECK(hq(1, le, c, 3) == 8);
        /* q=0: rank 0; b = 0: 0 + 4*(0/8) = 0 */
        CHECK(hq(0, le, c, 3) == 0);
    }
    {
        /* b == 0 and le[0] <= 0: le[0] itself. q=0.25: rank 2, b = 0 -> -1 */
        const double le[] = {-1, 1, INF}, c[] = {4, 8, 8};
        CHECK(hq(0.25, le, c, 3) == -1);
        const double le0[] = {0, 1, INF};
        CHECK(hq(0.25, le0, c, 3) == 0);
        /* with le[0] = 0 the shortcut shows when the first bucket is empty: q=0, rank 0,
         * b = 0 -> le[0] = 0, where interpolating would give 0 + 0*(0/0) = NaN */
        const double cz[] = {0, 4, 4};
        CHECK(hq(0, le0, cz, 3) == 0);
        /* past the first bucket it interpolates from le[0]: q=0.75, rank 6, b = 1:
         * -1 + (1-(-1)) * ((6-4)/(8-4)) = -1 + 2*0.5 = 0 */
        CHECK(hq(0.75, le, c, 3) == 0);
    }
    {
        /* rank in the +Inf bucket: the le before it. q=0.75: rank 6; Search over the first
         * two: 2 >= 6 no, 4 >= 6 no -> b = 2 = +Inf -> le[1] = 2 */
        const double le[] = {1, 2, INF}, c[] = {2, 4, 8};
        CHECK(hq(0.75, le, c, 3) == 2);
        CHECK(hq(1, le, c, 3) == 2);
    }
    {
        /* equal le merged by adding counts (coalesceBuckets): (1,1)+(1,1) -> (1,2), (2,4),
         * (+Inf,4). q=0.5: rank 2, b = 0 (2 >= 2): 0 + 1*(2/2) = 1.
         * (Without merging it would be 1 + 1*(1/3).) */
        const double le[] = {1, 1, 2, INF}, c[] = {1, 1, 4, 4};
        CHECK(hq(0.5, le, c, 4) == 1);
        /* q=0.75: rank 3, b = 1: 1 + (2-1)*((3-2)/(4-2)) = 1.5 */
        CHECK(hq(0.75, le, c, 4) == 1.5);
    }
    {
        /* non-monotonic counts forced monotonic (ensureMonotonic): {4,2,8,8} -> {4,4,8,8}.
         * q=0.5: rank 4, b = 0: 0 + 1*(4/4) = 1. (Unforced, the binary search would land
         * in bucket 2 and give 2 + 2*(2/6).) */
        const double le[] = {1, 2, 4, INF}, c[] = {4, 2, 8, 8};
        CHECK(hq(0.5, le, c, 4) == 1);
        /* q=0.75: rank 6, b = 2: 2 + (4-2)*((6-4)/(8-4)) = 3 */
        CHECK(hq(0.75, le, c, 4) == 3);
        /* a +Inf count below the others is raised too: total = 8 */
        const double le2[] = {1, 2, INF}, c2[] = {4, 8, 6};
        /* q=0.5: rank 4 (of 8, not 3 of 6): b = 0 -> 0 + 1*(4/4) = 1 */
        CHECK(hq(0.5, le2, c2, 3) == 1);
    }
    {
        /* unsorted input, sorted to (1,2) (2,4) (4,8) (+Inf,8); the caller's arrays stay */
        double le[] = {INF, 2, 1, 4}, c[] = {8, 4, 2, 8};
        /* q=0.5: rank 4, b = 1: 1 + 1*((4-2)/(4-2)) = 2 */
        CHECK(hq(0.5, le, c, 4) == 2);
        /* q=0.25: rank 2, b = 0: 0 + 1*(2/2) = 1 */
        CHECK(hq(0.25, le, c, 4) == 1);
        /* q=0.625: rank 5, b = 2: 2 + 2*((5-4)/(8-4)) = 2.5 */
        CHECK(hq(0.625, le, c, 4) == 2.5);
        CHECK(isinf(le[0]) && le[1] == 2 && le[2] == 1 && le[3] == 4);
        CHECK(c[0] == 8 && c[1] == 4 && c[2] == 2 && c[3] == 8);
    }
    {
        /* q=0 with an empty first bucket: rank 0, b = 0, 0 + 1*(0/0) = NaN, as Prometheus */
        const double le[] = {1, 2, INF}, c[] = {0, 4, 4};
        CHECK(isnan(hq(0, le, c, 3)));
    }
    {
        /* correctPrecisionErrors: 2.0000000000001 is within 1e-12 of 2 and snaps to it, so
         * the total is 2. q=0.75: rank 1.5, b = 1: 1 + 1*((1.5-1)/(2-1)) = 1.5 exactly.
         * (Unsnapped, rank would be 1.500000000000075 and so would the result.) */
        const double le[] = {1, 2, INF}, c[] = {1, 2, 2.0000000000001};
        CHECK(hq(0.75, le, c, 3) == 1.5);
    }
    {
        /* more buckets than the on-stack copy holds: le = 1..99, count(le=i) = i, +Inf 99.
         * q=0.5: rank 49.5; b = index 49 (le 50, count 50): 49 + 1*((49.5-49)/1) = 49.5 */
        double le[100], c[100];
        for (int i = 0; i < 99; i++) {
            le[i] = i + 1;
            c[i] = i + 1;
        }
        le[99] = INF;
        c[99] = 99;
        CHECK(hq(0.5, le, c, 100) == 49.5);
        /* reversed input, same answer */
        double rle[100], rc[100];
        for (int i = 0; i < 100; i++) {
            rle[i] = le[99 - i];
            rc[i] = c[99 - i];
        }
        CHECK(hq(0.5, rle, rc, 100) == 49.5);
    }
}

/* ---- histograms from the fixture --------------------------------------------------------- */

#define POST_KEY                                                                                   \
    "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"resource\","        \
    "subresource=\"\",verb=\"POST\",version=\"v1\""
#define LIST_KEY                                                                                   \
    "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"cluster\","         \
    "subresource=\"\",verb=\"LIST\",version=\"v1\""

TK_TEST(prom_hists_fixture)
{
    struct tk_err err = {0};
    struct tk_prom_hists hs;
    const struct tk_prom_hist *h;
    size_t len;
    char *text = read_fixture("apiserver.txt", &len);

    CHECK(text != NULL);
    CHECK_INT(tk_prom_hists_from_text(text, len, "apiserver_request_duration_seconds", &hs, &err),
              0);
    CHECK_INT(tk_prom_hists_count(&hs), 2);
    CHECK_STR(tk_prom_hists_at(&hs, 0)->labels_key, POST_KEY);
    /* the LIST series is written with its labels shuffled: the key is sorted all the same */
    CHECK_STR(tk_prom_hists_at(&hs, 1)->labels_key, LIST_KEY);
    CHECK(tk_prom_hists_at(&hs, 2) == NULL);
    CHECK(tk_prom_hists_find(&hs, "verb=\"POST\"") == NULL);

    h = tk_prom_hists_find(&hs, POST_KEY);
    CHECK(h != NULL);
    CHECK_INT(h->n, 41);
    CHECK(h->le[0] == 0.005 && h->count[0] == 100);
    CHECK(isinf(h->le[40]) && h->count[40] == 1000);
    CHECK(h->sum == 31.25 && h->total == 1000);
    /* p50: rank 500 in (0.01, 0.025] holding 700-300: 0.01 + 0.015 * (200/400) = 0.0175
     * p90: rank 900 = the whole of (0.025, 0.05]: 0.05
     * p99: rank 990 = the whole of (0.15, 0.2]: 0.2 */
    CHECK_NEAR(tk_prom_hist_quantile(0.5, h), 0.0175, 1e-12);
    CHECK_NEAR(tk_prom_hist_quantile(0.9, h), 0.05, 1e-12);
    CHECK_NEAR(tk_prom_hist_quantile(0.99, h), 0.2, 1e-12);

    h = tk_prom_hists_find(&hs, LIST_KEY);
    CHECK(h != NULL);
    CHECK_INT(h->n, 41);
    CHECK(h->total == 200 && h->sum == 42.5);
    /* p50: rank 100 in (0.15, 0.2] holding 120-80: 0.15 + 0.05 * (20/40) = 0.175
     * p99: rank 198 in (0.4, 0.45] holding 200-190: 0.4 + 0.05 * (8/10) = 0.44 */
    CHECK_NEAR(tk_prom_hist_quantile(0.5, h), 0.175, 1e-12);
    CHECK_NEAR(tk_prom_hist_quantile(0.99, h), 0.44, 1e-12);
    tk_prom_hists_release(&hs);

    CHECK_INT(tk_prom_hists_from_text(text, len, "etcd_disk_wal_fsync_duration_seconds", &hs, &err),
              0);
    CHECK_INT(tk_prom_hists_count(&hs), 1);
    h = tk_prom_hists_find(&hs, "");
    CHECK(h != NULL);
    CHECK_INT(h->n, 15);
    CHECK(h->total == 1024 && h->sum == 9.876543);
    /* p50: rank 512 = the whole of (0.002, 0.004]: 0.004
     * p99: rank 1013.76 in (0.128, 0.256] holding 1016-1008: 0.128 + 0.128 * (5.76/8) = 0.22016
     * p999: rank 1022.976 in (0.512, 1.024] holding 4: 0.512 + 0.512 * (2.976/4) = 0.892928 */
    CHECK_NEAR(tk_prom_hist_quantile(0.5, h), 0.004, 1e-12);
    CHECK_NEAR(tk_prom_hist_quantile(0.99, h), 0.22016, 1e-12);
    CHECK_NEAR(tk_prom_hist_quantile(0.999, h), 0.892928, 1e-12);
    tk_prom_hists_release(&hs);

    /* a family that is not there */
    CHECK_INT(tk_prom_hists_from_text(text, len, "nope", &hs, &err), 0);
    CHECK_INT(tk_prom_hists_count(&hs), 0);
    CHECK(tk_prom_hists_find(&hs, "") == NULL);
    tk_prom_hists_release(&hs);
    free(text);
}

TK_TEST(prom_hists_labels_key_and_bad_le)
{
    static const char text[] =
        "# TYPE x histogram\n"
        "x_bucket{b=\"q\\\"uote\",a=\"back\\\\slash\\nnl\",le=\"1\"} 1\n"
        "x_bucket{b=\"q\\\"uote\",a=\"back\\\\slash\\nnl\",le=\"+Inf\"} 2\n"
        "x_bucket{b=\"q\\\"uote\",a=\"back\\\\slash\\nnl\",le=\"oops\"} 9\n" /* ignored */
        "x_bucket{b=\"q\\\"uote\",a=\"back\\\\slash\\nnl\"} 9\n"             /* no le: ignored */
        "x_bucket{le=\"0.5\",b=\"q\\\"uote\",a=\"back\\\\slash\\nnl\"} 1\n"  /* out of order */
        "x_other 5\n";
    struct tk_err err = {0};
    struct tk_prom_hists hs;
    const struct tk_prom_hist *h;

    CHECK_INT(tk_prom_hists_from_text(text, sizeof(text) - 1, "x", &hs, &err), 0);
    CHECK_INT(tk_prom_hists_count(&hs), 1);
    h = tk_prom_hists_at(&hs, 0);
    /* sorted by name, values escaped back as in the exposition format */
    CHECK_STR(h->labels_key, "a=\"back\\\\slash\\nnl\",b=\"q\\\"uote\"");
    CHECK_INT(h->n, 3);
    /* sorted by le after collection */
    CHECK(h->le[0] == 0.5 && h->le[1] == 1 && isinf(h->le[2]));
    CHECK(h->count[0] == 1 && h->count[1] == 1 && h->count[2] == 2);
    CHECK(h->total == 0 && h->sum == 0); /* absent */
    tk_prom_hists_release(&hs);
}

TK_TEST(prom_hists_many_series)
{
    /* enough series to grow the index several times; every one found again by key */
    struct tk_buf b;
    struct tk_err err = {0};
    struct tk_prom_hists hs;

    tk_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++) {
        tk_buf_printf(&b, "h_bucket{id=\"%d\",le=\"1\"} %d\n", i, i);
        tk_buf_printf(&b, "h_bucket{id=\"%d\",le=\"+Inf\"} %d\n", i, 2 * i);
        tk_buf_printf(&b, "h_count{id=\"%d\"} %d\n", i, 2 * i);
    }
    CHECK_INT(tk_prom_hists_from_text(b.data, b.len, "h", &hs, &err), 0);
    CHECK_INT(tk_prom_hists_count(&hs), 1000);
    for (int i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "id=\"%d\"", i);
        const struct tk_prom_hist *h = tk_prom_hists_find(&hs, key);
        CHECK(h != NULL);
        CHECK_INT(h->n, 2);
        CHECK(h->count[0] == i && h->count[1] == 2 * i && h->total == 2 * i);
    }
    tk_prom_hists_release(&hs);
    tk_buf_release(&b);
}

/* ---- deltas ---------------------------------------------------------------------------- */

static const char *const scrape_before = "# TYPE lat histogram\n"
                                         "lat_bucket{verb=\"GET\",le=\"0.1\"} 1\n"
                                         "lat_bucket{verb=\"GET\",le=\"0.5\"} 3\n"
                                         "lat_bucket{verb=\"GET\",le=\"+Inf\"} 4\n"
                                         "lat_sum{verb=\"GET\"} 1\n"
                                         "lat_count{verb=\"GET\"} 4\n";

TK_TEST(prom_hist_delta_increase)
{
    static const char after_text[] = "# TYPE lat histogram\n"
                                     "lat_bucket{verb=\"GET\",le=\"0.1\"} 3\n"
                                     "lat_bucket{verb=\"GET\",le=\"0.25\"} 5\n" /* new bucket */
                                     "lat_bucket{verb=\"GET\",le=\"0.5\"} 6\n"
                                     "lat_bucket{verb=\"GET\",le=\"+Inf\"} 8\n"
                                     "lat_sum{verb=\"GET\"} 2.5\n"
                                     "lat_count{verb=\"GET\"} 8\n";
    struct tk_err err = {0};
    struct tk_prom_hists b, a;
    struct tk_prom_hist d;

    CHECK_INT(tk_prom_hists_from_text(scrape_before, strlen(scrape_before), "lat", &b, &err), 0);
    CHECK_INT(tk_prom_hists_from_text(after_text, sizeof(after_text) - 1, "lat", &a, &err), 0);
    CHECK_INT(tk_prom_hist_delta(tk_prom_hists_find(&b, "verb=\"GET\""),
                                 tk_prom_hists_find(&a, "verb=\"GET\""), &d),
              0);
    CHECK_STR(d.labels_key, "verb=\"GET\"");
    CHECK_INT(d.n, 4);
    /* 3-1, 5-0 (0.25 is new: missing before counts as 0), 6-3, 8-4 */
    CHECK(d.le[0] == 0.1 && d.le[1] == 0.25 && d.le[2] == 0.5 && isinf(d.le[3]));
    CHECK(d.count[0] == 2 && d.count[1] == 5 && d.count[2] == 3 && d.count[3] == 4);
    CHECK(d.sum == 1.5 && d.total == 4);
    /* The new bucket makes the deltas non-monotonic ({2,5,3,4}); histogram_quantile forces
     * them to {2,5,5,5} as Prometheus would: total 5, p50 rank 2.5 in (0.1, 0.25] holding 3:
     * 0.1 + 0.15 * (0.5/3) = 0.125 */
    CHECK_NEAR(tk_prom_hist_quantile(0.5, &d), 0.125, 1e-12);
    tk_prom_hist_release(&d);
    CHECK(d.le == NULL && d.n == 0);

    /* no before: everything is new */
    CHECK_INT(tk_prom_hist_delta(NULL, tk_prom_hists_find(&a, "verb=\"GET\""), &d), 0);
    CHECK(d.count[3] == 8 && d.total == 8 && d.sum == 2.5);
    tk_prom_hist_release(&d);
    tk_prom_hists_release(&b);
    tk_prom_hists_release(&a);
}

TK_TEST(prom_hist_delta_counter_reset)
{
    /* the apiserver restarted: 0.5 went from 3 to 2 */
    static const char after_text[] = "lat_bucket{verb=\"GET\",le=\"0.1\"} 1\n"
                                     "lat_bucket{verb=\"GET\",le=\"0.5\"} 2\n"
                                     "lat_bucket{verb=\"GET\",le=\"+Inf\"} 5\n"
                                     "lat_sum{verb=\"GET\"} 0.75\n"
                                     "lat_count{verb=\"GET\"} 5\n";
    /* only the count went down (buckets all grew): still a reset */
    static const char after2_text[] = "lat_bucket{verb=\"GET\",le=\"0.1\"} 1\n"
                                      "lat_bucket{verb=\"GET\",le=\"0.5\"} 3\n"
                                      "lat_bucket{verb=\"GET\",le=\"+Inf\"} 4\n"
                                      "lat_count{verb=\"GET\"} 3\n";
    struct tk_err err = {0};
    struct tk_prom_hists b, a;
    struct tk_prom_hist d;

    CHECK_INT(tk_prom_hists_from_text(scrape_before, strlen(scrape_before), "lat", &b, &err), 0);
    CHECK_INT(tk_prom_hists_from_text(after_text, sizeof(after_text) - 1, "lat", &a, &err), 0);
    CHECK_INT(tk_prom_hist_delta(tk_prom_hists_at(&b, 0), tk_prom_hists_at(&a, 0), &d), 1);
    /* after as it is */
    CHECK_INT(d.n, 3);
    CHECK(d.count[0] == 1 && d.count[1] == 2 && d.count[2] == 5);
    CHECK(d.sum == 0.75 && d.total == 5);
    tk_prom_hist_release(&d);
    tk_prom_hists_release(&a);

    CHECK_INT(tk_prom_hists_from_text(after2_text, sizeof(after2_text) - 1, "lat", &a, &err), 0);
    CHECK_INT(tk_prom_hist_delta(tk_prom_hists_at(&b, 0), tk_prom_hists_at(&a, 0), &d), 1);
    CHECK(d.count[1] == 3 && d.total == 3);
    tk_prom_hist_release(&d);
    tk_prom_hists_release(&a);
    tk_prom_hists_release(&b);
}

TK_TEST(prom_hist_delta_bucket_only_before)
{
    /* before had 0.25, after does not: out has after's layout, nothing is a reset */
    struct tk_prom_hist before = {0}, after = {0}, d;
    double ble[] = {0.1, 0.25, INF}, bc[] = {1, 2, 3};
    double ale[] = {0.1, INF}, ac[] = {2, 5};

    before.labels_key = (char *)"";
    before.n = 3;
    before.le = ble;
    before.count = bc;
    before.total = 3;
    after.labels_key = (char *)"";
    after.n = 2;
    after.le = ale;
    after.count = ac;
    after.total = 5;
    CHECK_INT(tk_prom_hist_delta(&before, &after, &d), 0);
    CHECK_INT(d.n, 2);
    CHECK(d.count[0] == 1 && d.count[1] == 2 && d.total == 2);
    tk_prom_hist_release(&d);
}

/* ---- writer ---------------------------------------------------------------------------- */

TK_TEST(prom_histogram_observe)
{
    static const double bounds[] = {0.005, 0.01, 0.1, 1, 10};
    uint64_t counts[6] = {9, 9, 9, 9, 9, 9};
    struct tk_prom_histogram h;

    tk_prom_histogram_init(&h, bounds, 5, counts);
    CHECK(counts[0] == 0 && counts[5] == 0 && h.count == 0 && h.sum == 0);
    tk_prom_histogram_observe(&h, 0.001);  /* [0] */
    tk_prom_histogram_observe(&h, 0.005);  /* [0]: le is inclusive */
    tk_prom_histogram_observe(&h, 0.0051); /* [1] */
    tk_prom_histogram_observe(&h, 1);      /* [3] */
    tk_prom_histogram_observe(&h, 10.5);   /* [5] +Inf */
    tk_prom_histogram_observe(&h, -3);     /* [0] */
    tk_prom_histogram_observe(&h, 10);     /* [4] */
    CHECK_INT(counts[0], 3);
    CHECK_INT(counts[1], 1);
    CHECK_INT(counts[2], 0);
    CHECK_INT(counts[3], 1);
    CHECK_INT(counts[4], 1);
    CHECK_INT(counts[5], 1);
    CHECK_INT(h.count, 7);
    CHECK_NEAR(h.sum, 0.001 + 0.005 + 0.0051 + 1 + 10.5 - 3 + 10, 1e-12);
    tk_prom_histogram_observe(&h, NAN); /* +Inf, like the Go client */
    CHECK_INT(counts[5], 2);
    CHECK(isnan(h.sum));
}

TK_TEST(prom_writer_round_trip)
{
    static const double bounds[] = {0.005, 0.01, 0.1, 1, 10};
    uint64_t counts[6];
    struct tk_prom_histogram h;
    struct tk_prom_writer w;
    struct tk_buf b;
    struct tk_err err = {0};
    struct rec r = {0};
    struct tk_prom_hists hs;
    const struct tk_prom_hist *ph;
    const struct tk_prom_label lab[] = {
        {"verb", "GET"},
        {"path", "C:\\dir \"x\"\nnext"},
    };
    const struct tk_prom_label one[] = {{"state", "ready"}};

    tk_buf_init(&b, 0);
    tk_prom_writer_init(&w, &b);
    CHECK_INT(tk_prom_write_family(&w, "tk_requests_total", "Requests by verb.\nBackslash \\",
                                   TK_PROM_COUNTER),
              0);
    CHECK_INT(tk_prom_write_sample_u64(&w, "tk_requests_total", lab, 2, UINT64_C(12345)), 0);
    CHECK_INT(tk_prom_write_sample_u64(&w, "tk_requests_total", one, 1, UINT64_MAX), 0);
    CHECK_INT(tk_prom_write_family(&w, "tk_gauge", "Odd values.", TK_PROM_GAUGE), 0);
    const double vals[] = {0.1,      -0.0,      1e-300, 123456789.125, NAN,
                           INFINITY, -INFINITY, 1e21,   5e-324};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char id[8];
        snprintf(id, sizeof(id), "%zu", i);
        const struct tk_prom_label l[] = {{"i", id}};
        CHECK_INT(tk_prom_write_sample(&w, "tk_gauge", l, 1, vals[i]), 0);
    }
    CHECK_INT(tk_prom_write_sample(&w, "tk_bare", NULL, 0, 2), 0);

    tk_prom_histogram_init(&h, bounds, 5, counts);
    tk_prom_histogram_observe(&h, 0.003);
    tk_prom_histogram_observe(&h, 0.05);
    tk_prom_histogram_observe(&h, 0.05);
    tk_prom_histogram_observe(&h, 2);
    tk_prom_histogram_observe(&h, 20);
    CHECK_INT(tk_prom_write_histogram(&w, "tk_lat_seconds", "Latency.", lab, 2, &h), 0);
    tk_prom_histogram_observe(&h, 0.001);
    CHECK_INT(tk_prom_write_histogram(&w, "tk_lat_seconds", NULL, one, 1, &h), 0);
    CHECK_INT(w.failed, 0);

    /* exact text of the pieces a human reads */
    CHECK_CONTAINS(b.data, "# HELP tk_requests_total Requests by verb.\\nBackslash \\\\\n"
                           "# TYPE tk_requests_total counter\n"
                           "tk_requests_total{verb=\"GET\",path=\"C:\\\\dir \\\"x\\\"\\nnext\"} "
                           "12345\n"
                           "tk_requests_total{state=\"ready\"} 18446744073709551615\n");
    CHECK_CONTAINS(b.data, "tk_gauge{i=\"0\"} 0.1\n");
    CHECK_CONTAINS(b.data, "tk_gauge{i=\"4\"} NaN\n");
    CHECK_CONTAINS(b.data, "tk_gauge{i=\"5\"} +Inf\n");
    CHECK_CONTAINS(b.data, "tk_gauge{i=\"6\"} -Inf\n");
    CHECK_CONTAINS(b.data, "tk_bare 2\n");
    CHECK_CONTAINS(b.data, "# TYPE tk_lat_seconds histogram\n"
                           "tk_lat_seconds_bucket{verb=\"GET\",path=\"C:\\\\dir \\\"x\\\"\\nnext\","
                           "le=\"0.005\"} 1\n");
    CHECK_CONTAINS(b.data, "tk_lat_seconds_bucket{state=\"ready\",le=\"+Inf\"} 6\n"
                           "tk_lat_seconds_sum{state=\"ready\"} 22.10");
    CHECK_CONTAINS(b.data, "\ntk_lat_seconds_count{state=\"ready\"} 6\n");

    /* and it all reads back */
    CHECK_INT(tk_prom_parse(b.data, b.len, rec_cb, &r, &err), 0);
    CHECK_INT(r.n, 2 + 9 + 1 + 2 * (6 + 2));
    CHECK_STR(r.v[0], "tk_requests_total{verb=GET,path=C:\\dir \"x\"\nnext}|12345||counter|"
                      "tk_requests_total");
    CHECK_STR(r.v[1], "tk_requests_total{state=ready}|1.8446744073709552e+19||counter|"
                      "tk_requests_total");
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "tk_gauge{i=%zu}|%.17g||gauge|tk_gauge", i, vals[i]);
        CHECK_STR(r.v[2 + i], want);
    }
    CHECK_STR(r.v[11], "tk_bare{}|2||untyped|tk_bare");
    CHECK_STR(r.v[12], "tk_lat_seconds_bucket{verb=GET,path=C:\\dir \"x\"\nnext,le=0.005}|1||"
                       "histogram|tk_lat_seconds");
    rec_free(&r);

    CHECK_INT(tk_prom_hists_from_text(b.data, b.len, "tk_lat_seconds", &hs, &err), 0);
    CHECK_INT(tk_prom_hists_count(&hs), 2);
    ph = tk_prom_hists_find(&hs, "path=\"C:\\\\dir \\\"x\\\"\\nnext\",verb=\"GET\"");
    CHECK(ph != NULL);
    CHECK_INT(ph->n, 6);
    /* cumulative: 1 (0.005), 1 (0.01), 3 (0.1), 3 (1), 4 (10), 5 (+Inf) */
    CHECK(ph->le[0] == 0.005 && ph->le[4] == 10 && isinf(ph->le[5]));
    CHECK(ph->count[0] == 1 && ph->count[1] == 1 && ph->count[2] == 3 && ph->count[3] == 3 &&
          ph->count[4] == 4 && ph->count[5] == 5);
    CHECK(ph->total == 5);
    CHECK(ph->sum == 0.003 + 0.05 + 0.05 + 2 + 20);
    ph = tk_prom_hists_find(&hs, "state=\"ready\"");
    CHECK(ph != NULL);
    CHECK(ph->count[0] == 2 && ph->count[5] == 6 && ph->total == 6);
    tk_prom_hists_release(&hs);
    tk_buf_release(&b);
}

TK_TEST(prom_writer_cap)
{
    struct tk_buf b;
    struct tk_prom_writer w;

    tk_buf_init(&b, 32);
    tk_prom_writer_init(&w, &b);
    CHECK_INT(tk_prom_write_sample(&w, "short", NULL, 0, 1), 0);
    CHECK_INT(tk_prom_write_family(&w, "a_rather_long_metric_name", "help", TK_PROM_GAUGE), -1);
    CHECK_INT(w.failed, 1);
    CHECK_INT(tk_prom_write_sample(&w, "x", NULL, 0, 1), -1); /* sticky */
    CHECK(b.len <= 32);
    tk_buf_release(&b);
}

TK_TEST(prom_format_value_shortest)
{
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0.1, "0.1"},     {0.005, "0.005"},     {1, "1"},        {2.5, "2.5"},
        {1e6, "1000000"}, {-0.0015, "-0.0015"}, {1e21, "1e+21"}, {0.1 + 0.2, "0.30000000000000004"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[TK_PROM_VALUE_MAX];
        tk_prom_format_value(cases[i].v, out, sizeof(out));
        CHECK_STR(out, cases[i].s);
    }
}

TK_TEST_MAIN(prom_values, prom_parse_fixture, prom_parse_split_at_every_offset,
             prom_parse_truncated_at_every_offset, prom_parse_edges,
             prom_parse_errors_with_line_numbers, prom_parse_nul_byte_is_an_error,
             prom_parse_callback_stops, prom_parse_line_cap, prom_quantile_reference_cases,
             prom_hists_fixture, prom_hists_labels_key_and_bad_le, prom_hists_many_series,
             prom_hist_delta_increase, prom_hist_delta_counter_reset,
             prom_hist_delta_bucket_only_before, prom_histogram_observe, prom_writer_round_trip,
             prom_writer_cap, prom_format_value_shortest)
