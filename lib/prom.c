#include "prom.h"

#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- values ---------------------------------------------------------------------------- */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Character classes, looked up once per byte: the scanner's inner loops. */
enum {
    C_NAME_START = 1,
    C_NAME = 2,
    C_LABEL_START = 4,
    C_LABEL = 8,
    C_BLANK = 16,
    C_DIGIT = 32,
};

static const unsigned char char_class[128] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  16, 0,  0,  0,  0,  0,  0,  /* \t */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* */
    16, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* space */
    42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 3,  0,  0,  0,  0,  0,  /* 0-9 : */
    0,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* A-O */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0,  0,  0,  0,  15, /* P-Z _ */
    0,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* a-o */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0,  0,  0,  0,  0,  /* p-z */
};

#define CLASS(c) ((unsigned char)(c) < 128 ? char_class[(unsigned char)(c)] : 0)
#define is_digit(c) ((CLASS(c) & C_DIGIT) != 0)
#define is_blank(c) ((CLASS(c) & C_BLANK) != 0)
#define is_name_start(c) ((CLASS(c) & C_NAME_START) != 0)
#define is_name_char(c) ((CLASS(c) & C_NAME) != 0)
#define is_label_start(c) ((CLASS(c) & C_LABEL_START) != 0)
#define is_label_char(c) ((CLASS(c) & C_LABEL) != 0)

/* Most values in a scrape are small integers or short decimals ("0.005", "1234"). With at
 * most 15 digits and a power of ten up to 22 both operands are exact doubles, so one
 * multiplication or division gives the correctly rounded result (Clinger's fast path) and we
 * skip strtod's copy and locale machinery. Returns 0 when the fast path does not apply. */
static int fast_value(const char *s, size_t len, double *out)
{
    size_t i = 0;
    int neg = 0, ndig = 0, exp10 = 0;
    uint64_t m = 0;

    if (i < len && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    for (; i < len && is_digit(s[i]); i++, ndig++)
        m = m * 10 + (uint64_t)(s[i] - '0');
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++, ndig++) {
            m = m * 10 + (uint64_t)(s[i] - '0');
            exp10--;
        }
    }
    if (ndig == 0 || ndig > 15)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, e = 0, edig = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        for (; i < len && is_digit(s[i]) && edig < 4; i++, edig++)
            e = e * 10 + (s[i] - '0');
        if (edig == 0 || edig == 4)
            return 0;
        exp10 += eneg ? -e : e;
    }
    if (i != len || exp10 < -22 || exp10 > 22)
        return 0;
    *out = exp10 >= 0 ? (double)m * pow10_exact[exp10] : (double)m / pow10_exact[-exp10];
    if (neg)
        *out = -*out;
    return 1;
}

int tk_prom_parse_value(const char *s, size_t len, double *out)
{
    char small[128], *buf = small, *end;
    double v;
    int rc = -1;

    if (fast_value(s, len, out))
        return 0;
    /* strtod skips leading white space and accepts "0x10" without an exponent; Go's
     * ParseFloat (what Prometheus uses) does neither. */
    if (len == 0 || !(is_digit(s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.' || s[0] == 'N' ||
                      s[0] == 'n' || s[0] == 'I' || s[0] == 'i'))
        return -1;
    if (memchr(s, 'x', len) || memchr(s, 'X', len)) {
        if (!memchr(s, 'p', len) && !memchr(s, 'P', len))
            return -1;
    }
    if (memchr(s, '(', len)) /* "nan(123)" */
        return -1;
    if ((s[0] == '+' || s[0] == '-') && len > 1 && (s[1] == 'n' || s[1] == 'N'))
        return -1; /* Go takes a sign on Inf only */
    if (len >= sizeof(small))
        buf = tk_xmalloc(len + 1);
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtod(buf, &end);
    if (end != buf + len || end == buf)
        goto out;
    if (errno == ERANGE && isinf(v))
        goto out; /* "1e400": Go reports a range error, Prometheus rejects the line */
    *out = v;
    rc = 0;
out:
    if (buf != small)
        free(buf);
    return rc;
}

/* ---- parser ---------------------------------------------------------------------------- */

const char *tk_prom_type_name(enum tk_prom_type t)
{
    switch (t) {
    case TK_PROM_COUNTER:
        return "counter";
    case TK_PROM_GAUGE:
        return "gauge";
    case TK_PROM_HISTOGRAM:
        return "histogram";
    case TK_PROM_SUMMARY:
        return "summary";
    case TK_PROM_UNTYPED:
        break;
    }
    return "untyped";
}

void tk_prom_parser_init(struct tk_prom_parser *p, tk_prom_sample_fn cb, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->cb = cb;
    p->ud = ud;
    tk_buf_init(&p->partial, TK_PROM_MAX_LINE);
}

void tk_prom_parser_release(struct tk_prom_parser *p)
{
    tk_buf_release(&p->partial);
    free(p->scratch);
    free(p->labels);
    free(p->family);
    memset(p, 0, sizeof(*p));
}

static int fail(struct tk_prom_parser *p, struct tk_err *err, int code, const char *what)
{
    tk_err_set(err, code, "line %zu: %s", p->line, what);
    p->failed = code;
    return code;
}

static int parse_type_word(const char *s, size_t n, enum tk_prom_type *t)
{
    static const struct {
        const char *word;
        enum tk_prom_type type;
    } words[] = {
        {"counter", TK_PROM_COUNTER},     {"gauge", TK_PROM_GAUGE},
        {"histogram", TK_PROM_HISTOGRAM}, {"summary", TK_PROM_SUMMARY},
        {"untyped", TK_PROM_UNTYPED},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == n && memcmp(words[i].word, s, n) == 0) {
            *t = words[i].type;
            return 0;
        }
    }
    return -1;
}

/* "# TYPE name type", "# HELP name text", or any other comment (ignored). s[0] == '#'. */
static int parse_comment(struct tk_prom_parser *p, const char *s, size_t n, struct tk_err *err)
{
    size_t i = 1, tok, name, name_len;
    enum tk_prom_type type;

    while (i < n && is_blank(s[i]))
        i++;
    tok = i;
    while (i < n && !is_blank(s[i]))
        i++;
    if (i - tok != 4 || memcmp(s + tok, "TYPE", 4) != 0)
        return 0; /* HELP text is not needed here, other comments are free text */
    while (i < n && is_blank(s[i]))
        i++;
    name = i;
    if (i >= n || !is_name_start(s[i]))
        return fail(p, err, TK_EINVAL, "TYPE line without a valid metric name");
    while (i < n && is_name_char(s[i]))
        i++;
    name_len = i - name;
    if (i < n && !is_blank(s[i]))
        return fail(p, err, TK_EINVAL, "TYPE line without a valid metric name");
    while (i < n && is_blank(s[i]))
        i++;
    if (parse_type_word(s + i, n - i, &type))
        return fail(p, err, TK_EINVAL, "TYPE line with an unknown metric type");
    if (name_len + 1 > p->family_alloc) {
        p->family_alloc = name_len + 64;
        free(p->family);
        p->family = tk_xmalloc(p->family_alloc);
    }
    memcpy(p->family, s + name, name_len);
    p->family[name_len] = '\0';
    p->family_len = name_len;
    p->family_type = type;
    return 0;
}

/* Whether name belongs to the family from the last TYPE line. */
static int in_family(const struct tk_prom_parser *p, const char *name, size_t name_len)
{
    size_t fl = p->family_len;
    const char *sfx;

    if (!p->family)
        return 0;
    if (name_len < fl || memcmp(name, p->family, fl) != 0)
        return 0;
    if (name_len == fl)
        return 1;
    sfx = name + fl;
    if (p->family_type == TK_PROM_HISTOGRAM)
        return strcmp(sfx, "_bucket") == 0 || strcmp(sfx, "_sum") == 0 ||
               strcmp(sfx, "_count") == 0;
    if (p->family_type == TK_PROM_SUMMARY)
        return strcmp(sfx, "_sum") == 0 || strcmp(sfx, "_count") == 0;
    return 0;
}

static int parse_timestamp(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit;

    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n)
        return -1;
    limit = neg ? (UINT64_C(1) << 63) : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static void ensure_labels(struct tk_prom_parser *p, size_t need)
{
    if (need <= p->labels_alloc)
        return;
    p->labels_alloc = p->labels_alloc ? p->labels_alloc * 2 : 16;
    if (p->labels_alloc < need)
        p->labels_alloc = need;
    p->labels = tk_xrealloc(p->labels, p->labels_alloc * sizeof(*p->labels));
}

/* One sample line s[0..n), without its newline; blanks around it already trimmed. */
static int parse_sample(struct tk_prom_parser *p, const char *s, size_t n, struct tk_err *err)
{
    struct tk_prom_sample smp;
    size_t i = 0, o = 0, nl = 0, tok, name_len;
    char *sc;
    int rc;

    /* Unescaped strings never outgrow their escaped text, so one line-sized scratch holds
     * them all and pointers into it stay valid for the whole line. */
    if (n + 2 > p->scratch_alloc) {
        p->scratch_alloc = p->scratch_alloc ? p->scratch_alloc * 2 : 4096;
        if (p->scratch_alloc < n + 2)
            p->scratch_alloc = n + 2;
        free(p->scratch);
        p->scratch = tk_xmalloc(p->scratch_alloc);
    }
    sc = p->scratch;

    if (!is_name_start(s[0]))
        return fail(p, err, TK_EINVAL, "invalid metric name");
    while (i < n && is_name_char(s[i]))
        i++;
    name_len = i;
    memcpy(sc, s, name_len);
    o = name_len;
    sc[o++] = '\0';
    while (i < n && is_blank(s[i]))
        i++;
    if (i < n && s[i] == '{') {
        i++;
        for (;;) {
            size_t lname;
            while (i < n && is_blank(s[i]))
                i++;
            if (i < n && s[i] == '}')
                break;
            if (i >= n || !is_label_start(s[i]))
                return fail(p, err, TK_EINVAL, "invalid label name");
            tok = i;
            while (i < n && is_label_char(s[i]))
                i++;
            lname = o;
            memcpy(sc + o, s + tok, i - tok);
            o += i - tok;
            sc[o++] = '\0';
            while (i < n && is_blank(s[i]))
                i++;
            if (i >= n || s[i] != '=')
                return fail(p, err, TK_EINVAL, "expected '=' after a label name");
            i++;
            while (i < n && is_blank(s[i]))
                i++;
            if (i >= n || s[i] != '"')
                return fail(p, err, TK_EINVAL, "expected '\"' to open a label value");
            i++;
            ensure_labels(p, nl + 1);
            p->labels[nl].name = sc + lname;
            p->labels[nl].value = sc + o;
            nl++;
            for (;;) {
                /* copy the run up to the closing quote or the next escape in one go */
                const char *q = memchr(s + i, '"', n - i), *bs;
                size_t run;
                char c;
                if (!q)
                    return fail(p, err, TK_EINVAL, "unterminated label value");
                bs = memchr(s + i, '\\', (size_t)(q - (s + i)));
                run = (size_t)((bs ? bs : q) - (s + i));
                if (memchr(s + i, '\0', run))
                    return fail(p, err, TK_EINVAL, "NUL byte in a label value");
                memcpy(sc + o, s + i, run);
                o += run;
                i += run + 1;
                if (!bs)
                    break;
                if (i >= n)
                    return fail(p, err, TK_EINVAL, "unterminated label value");
                c = s[i++];
                if (c == 'n')
                    c = '\n';
                else if (c != '\\' && c != '"')
                    return fail(p, err, TK_EINVAL, "invalid escape in a label value");
                sc[o++] = c;
            }
            sc[o++] = '\0';
            while (i < n && is_blank(s[i]))
                i++;
            if (i < n && s[i] == ',') {
                i++;
                continue;
            }
            if (i < n && s[i] == '}')
                break;
            return fail(p, err, TK_EINVAL, "expected ',' or '}' after a label value");
        }
        i++; /* '}' */
        while (i < n && is_blank(s[i]))
            i++;
    } else if (i < n && i == name_len) {
        /* the name ran into something that is neither a blank nor '{' */
        return fail(p, err, TK_EINVAL, "invalid metric name");
    }

    tok = i;
    while (i < n && !is_blank(s[i]))
        i++;
    if (i == tok)
        return fail(p, err, TK_EINVAL, "missing sample value");
    if (tk_prom_parse_value(s + tok, i - tok, &smp.value))
        return fail(p, err, TK_EINVAL, "invalid sample value");
    while (i < n && is_blank(s[i]))
        i++;
    smp.has_timestamp = 0;
    smp.timestamp_ms = 0;
    if (i < n) {
        tok = i;
        while (i < n && !is_blank(s[i]))
            i++;
        if (parse_timestamp(s + tok, i - tok, &smp.timestamp_ms))
            return fail(p, err, TK_EINVAL, "invalid timestamp");
        smp.has_timestamp = 1;
        if (i < n) /* trailing blanks were trimmed, so this is a fourth token */
            return fail(p, err, TK_EINVAL, "unexpected text after the timestamp");
    }

    smp.name = sc;
    smp.labels = p->labels;
    smp.nlabels = nl;
    smp.line = p->line;
    if (in_family(p, sc, name_len)) {
        smp.type = p->family_type;
        smp.family = p->family;
    } else {
        smp.type = TK_PROM_UNTYPED;
        smp.family = sc;
    }
    rc = p->cb(p->ud, &smp);
    if (rc)
        return fail(p, err, rc, "stopped by callback");
    return 0;
}

static int parse_line(struct tk_prom_parser *p, const char *s, size_t n, struct tk_err *err)
{
    p->line++;
    if (n > TK_PROM_MAX_LINE)
        return fail(p, err, TK_ENOMEM, "line longer than the limit");
    while (n > 0 && is_blank(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && (is_blank(s[n - 1]) || s[n - 1] == '\r'))
        n--;
    if (n == 0)
        return 0;
    if (s[0] == '#')
        return parse_comment(p, s, n, err);
    return parse_sample(p, s, n, err);
}

static int stopped(struct tk_prom_parser *p, struct tk_err *err)
{
    tk_err_set(err, p->failed, "line %zu: parser stopped after an earlier error", p->line);
    return p->failed;
}

int tk_prom_parser_feed(struct tk_prom_parser *p, const char *data, size_t len, struct tk_err *err)
{
    size_t pos = 0;
    const char *nl;

    if (p->failed)
        return stopped(p, err);
    if (len == 0)
        return 0;
    if (p->partial.len > 0) {
        nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (tk_buf_append(&p->partial, data, take)) {
            p->line++;
            return fail(p, err, TK_ENOMEM, "line longer than the limit");
        }
        if (!nl)
            return 0;
        if (parse_line(p, p->partial.data, p->partial.len, err))
            return p->failed;
        tk_buf_reset(&p->partial);
        pos = take + 1;
    }
    while (pos < len && (nl = memchr(data + pos, '\n', len - pos)) != NULL) {
        if (parse_line(p, data + pos, (size_t)(nl - (data + pos)), err))
            return p->failed;
        pos = (size_t)(nl - data) + 1;
    }
    if (pos < len && tk_buf_append(&p->partial, data + pos, len - pos)) {
        p->line++;
        return fail(p, err, TK_ENOMEM, "line longer than the limit");
    }
    return 0;
}

int tk_prom_parser_finish(struct tk_prom_parser *p, struct tk_err *err)
{
    if (p->failed)
        return stopped(p, err);
    if (p->partial.len > 0) {
        int rc = parse_line(p, p->partial.data, p->partial.len, err);
        tk_buf_reset(&p->partial);
        return rc;
    }
    return 0;
}

int tk_prom_parse(const char *text, size_t len, tk_prom_sample_fn cb, void *ud, struct tk_err *err)
{
    struct tk_prom_parser p;
    size_t pos = 0;
    const char *nl;
    int rc = 0;

    /* The whole body is at hand: parse every line in place, the last one too, so nothing is
     * copied into the partial-line buffer. */
    tk_prom_parser_init(&p, cb, ud);
    while (pos < len) {
        nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        rc = parse_line(&p, text + pos, end - pos, err);
        if (rc)
            break;
        pos = end + 1;
    }
    tk_prom_parser_release(&p);
    return rc;
}

/* ---- histogram collection -------------------------------------------------------------- */

void tk_prom_hist_release(struct tk_prom_hist *h)
{
    free(h->labels_key);
    free(h->le);
    free(h->count);
    memset(h, 0, sizeof(*h));
}

void tk_prom_hist_copy(struct tk_prom_hist *dst, const struct tk_prom_hist *src)
{
    dst->labels_key = tk_xstrdup(src->labels_key ? src->labels_key : "");
    dst->n = src->n;
    dst->alloc = src->n;
    dst->le = tk_xmalloc((src->n ? src->n : 1) * sizeof(double));
    dst->count = tk_xmalloc((src->n ? src->n : 1) * sizeof(double));
    if (src->n) {
        memcpy(dst->le, src->le, src->n * sizeof(double));
        memcpy(dst->count, src->count, src->n * sizeof(double));
    }
    dst->sum = src->sum;
    dst->total = src->total;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

void tk_prom_hists_init(struct tk_prom_hists *hs, const char *metric_name)
{
    memset(hs, 0, sizeof(*hs));
    hs->name = tk_xstrdup(metric_name);
    tk_buf_init(&hs->key, 0);
}

void tk_prom_hists_release(struct tk_prom_hists *hs)
{
    for (size_t i = 0; i < hs->n; i++)
        tk_prom_hist_release(&hs->items[i]);
    free(hs->items);
    free(hs->index);
    free(hs->name);
    tk_buf_release(&hs->key);
    memset(hs, 0, sizeof(*hs));
}

static void append_escaped(struct tk_buf *b, const char *v, int quote)
{
    const char *run = v;
    for (; *v; v++) {
        const char *esc = NULL;
        if (*v == '\\')
            esc = "\\\\";
        else if (*v == '\n')
            esc = "\\n";
        else if (*v == '"' && quote)
            esc = "\\\"";
        if (esc) {
            tk_buf_append(b, run, (size_t)(v - run));
            tk_buf_append(b, esc, 2);
            run = v + 1;
        }
    }
    tk_buf_append(b, run, (size_t)(v - run));
}

void tk_prom_labels_key(const struct tk_prom_label *labels, size_t n, struct tk_buf *b)
{
    size_t order[64], *ord = order, m = 0;

    tk_buf_reset(b);
    if (n > sizeof(order) / sizeof(order[0]))
        ord = tk_xmalloc(n * sizeof(*ord));
    /* insertion sort by name: label sets are small and usually already sorted */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(labels[i].name, "le") == 0)
            continue;
        size_t j = m++;
        while (j > 0 && strcmp(labels[ord[j - 1]].name, labels[i].name) > 0) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    if (b->data == NULL)
        tk_buf_append(b, "", 0);
    for (size_t k = 0; k < m; k++) {
        const struct tk_prom_label *l = &labels[ord[k]];
        if (k)
            tk_buf_append(b, ",", 1);
        tk_buf_puts(b, l->name);
        tk_buf_append(b, "=\"", 2);
        append_escaped(b, l->value, 1);
        tk_buf_append(b, "\"", 1);
    }
    if (ord != order)
        free(ord);
}

static void index_rebuild(struct tk_prom_hists *hs, size_t alloc)
{
    free(hs->index);
    hs->index_alloc = alloc;
    hs->index = tk_xcalloc(alloc, sizeof(*hs->index));
    for (size_t i = 0; i < hs->n; i++) {
        size_t mask = alloc - 1, slot = (size_t)hash_str(hs->items[i].labels_key) & mask;
        while (hs->index[slot])
            slot = (slot + 1) & mask;
        hs->index[slot] = i + 1;
    }
}

/* The slot for key: holding it, or the empty one where it would go. */
static size_t index_slot(const struct tk_prom_hists *hs, const char *key)
{
    size_t mask = hs->index_alloc - 1, slot = (size_t)hash_str(key) & mask;
    while (hs->index[slot] && strcmp(hs->items[hs->index[slot] - 1].labels_key, key) != 0)
        slot = (slot + 1) & mask;
    return slot;
}

static struct tk_prom_hist *hist_get(struct tk_prom_hists *hs, const char *key)
{
    size_t slot;
    struct tk_prom_hist *h;

    if ((hs->n + 1) * 2 > hs->index_alloc)
        index_rebuild(hs, hs->index_alloc ? hs->index_alloc * 2 : 64);
    slot = index_slot(hs, key);
    if (hs->index[slot])
        return &hs->items[hs->index[slot] - 1];
    if (hs->n == hs->alloc) {
        hs->alloc = hs->alloc ? hs->alloc * 2 : 16;
        hs->items = tk_xrealloc(hs->items, hs->alloc * sizeof(*hs->items));
    }
    h = &hs->items[hs->n++];
    memset(h, 0, sizeof(*h));
    h->labels_key = tk_xstrdup(key);
    hs->index[slot] = hs->n;
    return h;
}

int tk_prom_hists_add(struct tk_prom_hists *hs, const struct tk_prom_sample *s)
{
    size_t nlen = strlen(hs->name);
    const char *sfx;
    struct tk_prom_hist *h;
    double le = 0;
    int kind;

    if (strncmp(s->name, hs->name, nlen) != 0)
        return 0;
    sfx = s->name + nlen;
    if (strcmp(sfx, "_bucket") == 0) {
        const char *lev = NULL;
        for (size_t i = 0; i < s->nlabels; i++) {
            if (strcmp(s->labels[i].name, "le") == 0)
                lev = s->labels[i].value;
        }
        if (!lev || tk_prom_parse_value(lev, strlen(lev), &le))
            return 0;
        kind = 0;
    } else if (strcmp(sfx, "_sum") == 0) {
        kind = 1;
    } else if (strcmp(sfx, "_count") == 0) {
        kind = 2;
    } else {
        return 0;
    }
    tk_prom_labels_key(s->labels, s->nlabels, &hs->key);
    h = hist_get(hs, hs->key.data);
    if (kind == 1) {
        h->sum = s->value;
    } else if (kind == 2) {
        h->total = s->value;
    } else {
        if (h->n == h->alloc) {
            h->alloc = h->alloc ? h->alloc * 2 : 16;
            h->le = tk_xrealloc(h->le, h->alloc * sizeof(double));
            h->count = tk_xrealloc(h->count, h->alloc * sizeof(double));
        }
        h->le[h->n] = le;
        h->count[h->n] = s->value;
        h->n++;
    }
    return 1;
}

void tk_prom_hists_finish(struct tk_prom_hists *hs)
{
    for (size_t k = 0; k < hs->n; k++) {
        struct tk_prom_hist *h = &hs->items[k];
        /* stable insertion sort: buckets arrive sorted, so this is one pass */
        for (size_t i = 1; i < h->n; i++) {
            double le = h->le[i], c = h->count[i];
            size_t j = i;
            while (j > 0 && h->le[j - 1] > le) {
                h->le[j] = h->le[j - 1];
                h->count[j] = h->count[j - 1];
                j--;
            }
            h->le[j] = le;
            h->count[j] = c;
        }
    }
}

static int hists_cb(void *ud, const struct tk_prom_sample *s)
{
    tk_prom_hists_add(ud, s);
    return 0;
}

int tk_prom_hists_from_text(const char *text, size_t len, const char *metric_name,
                            struct tk_prom_hists *out, struct tk_err *err)
{
    int rc;

    tk_prom_hists_init(out, metric_name);
    rc = tk_prom_parse(text, len, hists_cb, out, err);
    tk_prom_hists_finish(out);
    return rc;
}

const struct tk_prom_hist *tk_prom_hists_find(const struct tk_prom_hists *hs,
                                              const char *labels_key)
{
    size_t slot;

    if (hs->n == 0)
        return NULL;
    slot = index_slot(hs, labels_key);
    return hs->index[slot] ? &hs->items[hs->index[slot] - 1] : NULL;
}

size_t tk_prom_hists_count(const struct tk_prom_hists *hs)
{
    return hs->n;
}

const struct tk_prom_hist *tk_prom_hists_at(const struct tk_prom_hists *hs, size_t i)
{
    return i < hs->n ? &hs->items[i] : NULL;
}

/* ---- deltas and quantiles -------------------------------------------------------------- */

int tk_prom_hist_delta(const struct tk_prom_hist *before, const struct tk_prom_hist *after,
                       struct tk_prom_hist *out)
{
    double *prev;
    int reset = 0;

    tk_prom_hist_copy(out, after);
    if (!before)
        return 0;
    prev = tk_xmalloc((after->n ? after->n : 1) * sizeof(double));
    for (size_t j = 0; j < after->n; j++) {
        size_t k;
        prev[j] = 0;
        /* same position first: the layouts almost always match */
        if (j < before->n && before->le[j] == after->le[j]) {
            k = j;
        } else {
            for (k = 0; k < before->n && before->le[k] != after->le[j]; k++)
                ;
        }
        if (k < before->n) {
            prev[j] = before->count[k];
            if (after->count[j] < prev[j])
                reset = 1;
        }
    }
    if (after->total < before->total)
        reset = 1;
    if (!reset) {
        for (size_t j = 0; j < after->n; j++)
            out->count[j] = after->count[j] - prev[j];
        out->sum = after->sum - before->sum;
        out->total = after->total - before->total;
    }
    free(prev);
    return reset;
}

struct bucket {
    double ub;
    double count;
};

/* Stable bottom-up merge sort by upper bound. Unlike qsort it stays in bounds whatever the
 * comparisons say (NaN bounds), and equal bounds keep their input order. */
static void sort_buckets(struct bucket *v, struct bucket *tmp, size_t n)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                tmp[o++] = v[b].ub < v[a].ub ? v[b++] : v[a++];
            while (a < mid)
                tmp[o++] = v[a++];
            while (b < hi)
                tmp[o++] = v[b++];
        }
        memcpy(v, tmp, n * sizeof(*v));
    }
}

/* coalesceBuckets: merges buckets with the same upper bound (input sorted). */
static size_t coalesce(struct bucket *v, size_t n)
{
    struct bucket last = v[0];
    size_t i = 0;

    for (size_t k = 1; k < n; k++) {
        if (v[k].ub == last.ub) {
            last.count += v[k].count;
        } else {
            v[i++] = last;
            last = v[k];
        }
    }
    v[i] = last;
    return i + 1;
}

/* correctPrecisionErrors with tolerance 1e-12. */
static void correct_precision(struct bucket *v, size_t n)
{
    double prev = v[0].count;

    for (size_t i = 1; i < n; i++) {
        double curr = v[i].count, delta = fabs(curr - prev);
        if (delta == 0)
            continue;
        if (delta / curr <= 1e-12)
            v[i].count = prev;
        else
            prev = curr;
    }
}

/* ensureMonotonic: the running maximum. */
static void ensure_monotonic(struct bucket *v, size_t n)
{
    double max = v[0].count;

    for (size_t i = 1; i < n; i++) {
        if (v[i].count > max)
            max = v[i].count;
        else if (v[i].count < max)
            v[i].count = max;
    }
}

double tk_prom_histogram_quantile(double q, const double *le, const double *cumcount, size_t n)
{
    struct bucket small[64 * 2], *v = small, *tmp;
    double result = NAN, rank, observations, start, end, count;
    size_t m, lo, hi, b;

    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (n == 0)
        return NAN;
    if (n > 64)
        v = tk_xmalloc(2 * n * sizeof(*v));
    tmp = v + n;
    for (size_t i = 0; i < n; i++) {
        v[i].ub = le[i];
        v[i].count = cumcount[i];
    }
    sort_buckets(v, tmp, n);
    if (!(isinf(v[n - 1].ub) && v[n - 1].ub > 0))
        goto out;
    m = coalesce(v, n);
    correct_precision(v, m);
    ensure_monotonic(v, m);
    if (m < 2)
        goto out;
    observations = v[m - 1].count;
    if (observations == 0)
        goto out;
    rank = q * observations;
    /* Go's sort.Search over the first m-1 buckets */
    lo = 0;
    hi = m - 1;
    while (lo < hi) {
        size_t h = lo + (hi - lo) / 2;
        if (!(v[h].count >= rank))
            lo = h + 1;
        else
            hi = h;
    }
    b = lo;
    if (b == m - 1) {
        result = v[m - 2].ub;
        goto out;
    }
    if (b == 0 && v[0].ub <= 0) {
        result = v[0].ub;
        goto out;
    }
    start = 0;
    end = v[b].ub;
    count = v[b].count;
    if (b > 0) {
        start = v[b - 1].ub;
        count -= v[b - 1].count;
        rank -= v[b - 1].count;
    }
    result = start + (end - start) * (rank / count);
out:
    if (v != small)
        free(v);
    return result;
}

double tk_prom_hist_quantile(double q, const struct tk_prom_hist *h)
{
    return tk_prom_histogram_quantile(q, h->le, h->count, h->n);
}

/* ---- writer ---------------------------------------------------------------------------- */

size_t tk_prom_format_value(double v, char *out, size_t n)
{
    char buf[TK_PROM_VALUE_MAX];
    int len = 0;

    if (isnan(v)) {
        len = snprintf(buf, sizeof(buf), "NaN");
    } else if (isinf(v)) {
        len = snprintf(buf, sizeof(buf), "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            len = snprintf(buf, sizeof(buf), "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    if (n > 0) {
        size_t c = (size_t)len < n - 1 ? (size_t)len : n - 1;
        memcpy(out, buf, c);
        out[c] = '\0';
    }
    return (size_t)len;
}

void tk_prom_writer_init(struct tk_prom_writer *w, struct tk_buf *buf)
{
    w->buf = buf;
    w->failed = 0;
}

static void w_append(struct tk_prom_writer *w, const char *s, size_t n)
{
    if (!w->failed && tk_buf_append(w->buf, s, n))
        w->failed = 1;
}

static void w_puts(struct tk_prom_writer *w, const char *s)
{
    w_append(w, s, strlen(s));
}

/* Escapes into a scratch buffer first, so the capped buffer sees whole pieces only. */
static void w_escaped(struct tk_prom_writer *w, const char *s, int quote)
{
    struct tk_buf tmp;
    tk_buf_init(&tmp, 0);
    append_escaped(&tmp, s, quote);
    if (tmp.data)
        w_append(w, tmp.data, tmp.len);
    tk_buf_release(&tmp);
}

int tk_prom_write_family(struct tk_prom_writer *w, const char *name, const char *help,
                         enum tk_prom_type type)
{
    w_puts(w, "# HELP ");
    w_puts(w, name);
    w_puts(w, " ");
    w_escaped(w, help ? help : "", 0);
    w_puts(w, "\n# TYPE ");
    w_puts(w, name);
    w_puts(w, " ");
    w_puts(w, tk_prom_type_name(type));
    w_puts(w, "\n");
    return w->failed ? -1 : 0;
}

/* name suffix {labels, extra="extra_value"} value_text */
static void write_series(struct tk_prom_writer *w, const char *name, const char *suffix,
                         const struct tk_prom_label *labels, size_t nlabels, const char *extra_name,
                         const char *extra_value, const char *value)
{
    w_puts(w, name);
    if (suffix)
        w_puts(w, suffix);
    if (nlabels || extra_name) {
        w_puts(w, "{");
        for (size_t i = 0; i < nlabels; i++) {
            if (i)
                w_puts(w, ",");
            w_puts(w, labels[i].name);
            w_puts(w, "=\"");
            w_escaped(w, labels[i].value, 1);
            w_puts(w, "\"");
        }
        if (extra_name) {
            if (nlabels)
                w_puts(w, ",");
            w_puts(w, extra_name);
            w_puts(w, "=\"");
            w_puts(w, extra_value);
            w_puts(w, "\"");
        }
        w_puts(w, "}");
    }
    w_puts(w, " ");
    w_puts(w, value);
    w_puts(w, "\n");
}

int tk_prom_write_sample(struct tk_prom_writer *w, const char *name,
                         const struct tk_prom_label *labels, size_t nlabels, double value)
{
    char v[TK_PROM_VALUE_MAX];
    tk_prom_format_value(value, v, sizeof(v));
    write_series(w, name, NULL, labels, nlabels, NULL, NULL, v);
    return w->failed ? -1 : 0;
}

int tk_prom_write_sample_u64(struct tk_prom_writer *w, const char *name,
                             const struct tk_prom_label *labels, size_t nlabels, uint64_t value)
{
    char v[TK_PROM_VALUE_MAX];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
    write_series(w, name, NULL, labels, nlabels, NULL, NULL, v);
    return w->failed ? -1 : 0;
}

void tk_prom_histogram_init(struct tk_prom_histogram *h, const double *bounds, size_t nbounds,
                            uint64_t *counts)
{
    h->bounds = bounds;
    h->nbounds = nbounds;
    h->counts = counts;
    memset(counts, 0, (nbounds + 1) * sizeof(*counts));
    h->sum = 0;
    h->count = 0;
}

void tk_prom_histogram_observe(struct tk_prom_histogram *h, double v)
{
    /* first bound >= v, like Go's sort.SearchFloat64s; NaN compares false: +Inf bucket */
    size_t lo = 0, hi = h->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    h->counts[lo]++;
    h->sum += v;
    h->count++;
}

int tk_prom_write_histogram(struct tk_prom_writer *w, const char *name, const char *help,
                            const struct tk_prom_label *labels, size_t nlabels,
                            const struct tk_prom_histogram *h)
{
    char le[TK_PROM_VALUE_MAX], v[TK_PROM_VALUE_MAX];
    uint64_t cum = 0;

    if (help)
        tk_prom_write_family(w, name, help, TK_PROM_HISTOGRAM);
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += h->counts[i];
        tk_prom_format_value(i < h->nbounds ? h->bounds[i] : INFINITY, le, sizeof(le));
        snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
        write_series(w, name, "_bucket", labels, nlabels, "le", le, v);
    }
    tk_prom_format_value(h->sum, v, sizeof(v));
    write_series(w, name, "_sum", labels, nlabels, NULL, NULL, v);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)h->count);
    write_series(w, name, "_count", labels, nlabels, NULL, NULL, v);
    return w->failed ? -1 : 0;
}
