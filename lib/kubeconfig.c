#include "kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "yaml.h"

extern char **environ;

#define FILE_CAP (1u << 20) /* certificates, keys and tokens are a few KiB */
#define EXEC_TIMEOUT_MS 30000
#define EXEC_STDOUT_CAP (1u << 20)
#define EXEC_STDERR_CAP (16u << 10)
#define REFRESH_MARGIN_S 60
#define EXEC_CONFIG_EXTENSION "client.authentication.k8s.io/exec"

struct kc_exec {
    char *where;   /* "path:line:col: users[0].user.exec", prefix of every message */
    char *command; /* as written, for messages */
    char *api_version;
    char **argv;   /* argv[0] is the resolved command; NULL-terminated */
    char **env;    /* "NAME=value" from the config; NULL-terminated */
    char *request; /* the ExecCredential request, for KUBERNETES_EXEC_INFO */
    char *install_hint;
};

struct tk_kubeconfig_priv {
    struct kc_exec *exec;
    char *token_file; /* absolute; reread by tk_kubeconfig_refresh */
};

struct loader {
    struct tk_kubeconfig *kc;
    struct tk_yaml_doc *doc;
    char *dir;                  /* absolute directory of the kubeconfig */
    cJSON *exec_cluster_config; /* the cluster's client.authentication.k8s.io/exec extension */
    const struct tk_yaml_node *exec_node;
    char exec_field[96];
    struct tk_err *err;
};

struct exec_result {
    char *token, *cert, *key;
    time_t expiry;
};

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static void exec_free(struct kc_exec *ex)
{
    if (!ex)
        return;
    free(ex->where);
    free(ex->command);
    free(ex->api_version);
    free_strv(ex->argv);
    free_strv(ex->env);
    free(ex->request);
    free(ex->install_hint);
    free(ex);
}

static void result_release(struct exec_result *r)
{
    free(r->token);
    free(r->cert);
    free(r->key);
    memset(r, 0, sizeof(*r));
}

void tk_kubeconfig_free(struct tk_kubeconfig *kc)
{
    if (!kc)
        return;
    free(kc->server);
    free(kc->ca_pem);
    free(kc->client_cert_pem);
    free(kc->client_key_pem);
    free(kc->token);
    free(kc->tls_server_name);
    free(kc->proxy_url);
    free(kc->context);
    free(kc->cluster_name);
    free(kc->user_name);
    free(kc->namespace_);
    free(kc->path);
    if (kc->priv) {
        exec_free(kc->priv->exec);
        free(kc->priv->token_file);
        free(kc->priv);
    }
    free(kc);
}

/* ---- small pieces: files, paths, base64, PEM, time ---- */

/* Reads a whole file of at most cap bytes into a NUL-terminated heap buffer. Returns 0, or an
 * errno value (EFBIG when larger than cap). */
static int read_all(const char *path, size_t cap, char **out, size_t *len)
{
    struct tk_buf b;
    char chunk[8192];
    int fd, rc = 0;

    tk_buf_init(&b, cap);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno;
            break;
        }
        if (n == 0)
            break;
        if (tk_buf_append(&b, chunk, (size_t)n)) {
            rc = EFBIG;
            break;
        }
    }
    close(fd);
    if (rc) {
        tk_buf_release(&b);
        return rc;
    }
    *len = b.len;
    *out = tk_buf_detach(&b);
    return 0;
}

static char *join_path(const char *dir, const char *p)
{
    if (p[0] == '/')
        return tk_xstrdup(p);
    return tk_xasprintf("%s/%s", dir, p);
}

static char *absolute(const char *p)
{
    char *cwd, *r;

    if (p[0] == '/')
        return tk_xstrdup(p);
    cwd = getcwd(NULL, 0);
    r = join_path(cwd ? cwd : ".", p);
    free(cwd);
    return r;
}

/* The directory of path, absolute but with symlinks kept: kubectl resolves relative references
 * against the file's location as named, not against a symlink's target. */
static char *abs_dir(const char *path)
{
    char *a = absolute(path);
    char *slash = strrchr(a, '/');
    if (slash == a)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    return a;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64. Whitespace (line breaks from `base64` without -w0) is skipped; padding may
 * be present or omitted, but nothing may follow it. Returns a NUL-terminated heap buffer or NULL.
 */
static char *b64_decode(const char *in, size_t n, size_t *outlen)
{
    char *out = tk_xmalloc(n / 4 * 3 + 4);
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0, pad = 0, quantum = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            quantum++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad)
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        quantum++;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xffu);
        }
    }
    /* One leftover character cannot encode a byte; padding must complete a 4-character group. */
    if ((quantum - pad) % 4 == 1 || pad > 2 || (pad && quantum % 4 != 0))
        goto bad;
    if (pad && (quantum - pad) % 4 != 4 - pad)
        goto bad;
    out[o] = '\0';
    *outlen = o;
    return out;
bad:
    free(out);
    return NULL;
}

static char *b64_encode(const char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = tk_xmalloc((n + 2) / 3 * 4 + 1), *o = out;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)in[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int looks_pem(const char *s, size_t len)
{
    return strlen(s) == len && strstr(s, "-----BEGIN ") != NULL;
}

/* Printable ASCII only: a token goes into an HTTP header, where a newline would split it. */
static int token_ok(const char *t)
{
    if (!*t)
        return 0;
    for (; *t; t++)
        if ((unsigned char)*t < 0x20 || (unsigned char)*t >= 0x7f)
            return 0;
    return 1;
}

static char *trim_dup(const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return tk_xstrndup(s, n);
}

static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

/* RFC 3339 as Go's time.Time marshals it: 2006-01-02T15:04:05[.frac](Z|+07:00). */
static int parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;

    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' '))
        return -1;
    s++;
    if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' ||
        digits(&s, 2, &sec))
        return -1;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om))
            return -1;
    } else {
        return -1;
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || oh > 23 ||
        om > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm) - (time_t)sign * (oh * 3600 + om * 60);
    return 0;
}

/* ---- reading the kubeconfig tree ---- */

static int ferr(struct loader *l, int code, const struct tk_yaml_node *at, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int ferr(struct loader *l, int code, const struct tk_yaml_node *at, const char *field,
                const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (at)
        return tk_err_set(l->err, code, "%s:%d:%d: %s: %s", tk_yaml_name(l->doc), at->line, at->col,
                          field, msg);
    return tk_err_set(l->err, code, "%s: %s: %s", tk_yaml_name(l->doc), field, msg);
}

/* A string field prefix.key: *out stays NULL when absent, null or empty. */
static int str_field(struct loader *l, const struct tk_yaml_node *map, const char *prefix,
                     const char *key, const char **out)
{
    const struct tk_yaml_node *v = tk_yaml_get(map, key);
    char what[160];

    *out = NULL;
    if (!v || v->kind == TK_YAML_NULL)
        return 0;
    snprintf(what, sizeof(what), "%.100s.%.50s", prefix, key);
    if (tk_yaml_to_str(l->doc, v, what, out, l->err))
        return TK_EINVAL;
    if (!**out)
        *out = NULL;
    return 0;
}

static int bool_field(struct loader *l, const struct tk_yaml_node *map, const char *prefix,
                      const char *key, int *out)
{
    const struct tk_yaml_node *v = tk_yaml_get(map, key);
    char what[160];

    *out = 0;
    if (!v || v->kind == TK_YAML_NULL)
        return 0;
    snprintf(what, sizeof(what), "%s.%s", prefix, key);
    return tk_yaml_to_bool(l->doc, v, what, out, l->err) ? TK_EINVAL : 0;
}

static const struct tk_yaml_node *list_of(struct loader *l, const char *name, int *rc)
{
    const struct tk_yaml_node *v = tk_yaml_get(tk_yaml_root(l->doc), name);

    *rc = 0;
    if (v && tk_yaml_expect(l->doc, v, TK_YAML_SEQ, name, l->err))
        *rc = TK_EINVAL;
    return v && v->kind == TK_YAML_SEQ ? v : NULL;
}

/* Finds the entry of root[list] whose name is name; *inner is its inner_key map (NULL when the
 * entry has none). Returns 0, TK_ENOTFOUND (err untouched), or a type error. */
static int find_named(struct loader *l, const char *list, const char *inner_key, const char *name,
                      const struct tk_yaml_node **entry, const struct tk_yaml_node **inner,
                      size_t *idx)
{
    int rc;
    const struct tk_yaml_node *seq = list_of(l, list, &rc);
    char what[64];

    if (rc)
        return rc;
    for (size_t i = 0; seq && i < seq->n; i++) {
        const struct tk_yaml_node *e = seq->items[i];
        const char *n = NULL;
        snprintf(what, sizeof(what), "%s[%zu]", list, i);
        if (tk_yaml_expect(l->doc, e, TK_YAML_MAP, what, l->err))
            return TK_EINVAL;
        if ((rc = str_field(l, e, what, "name", &n)))
            return rc;
        if (!n || strcmp(n, name) != 0)
            continue;
        const struct tk_yaml_node *in = tk_yaml_get(e, inner_key);
        snprintf(what, sizeof(what), "%s[%zu].%s", list, i, inner_key);
        if (in && tk_yaml_expect(l->doc, in, TK_YAML_MAP, what, l->err))
            return TK_EINVAL;
        *entry = e;
        *inner = in && in->kind == TK_YAML_MAP ? in : NULL;
        *idx = i;
        return 0;
    }
    return TK_ENOTFOUND;
}

/* "a, b, c" for messages (names are not secrets), shortened to fit. */
static void list_names(struct loader *l, const char *list, char *buf, size_t size)
{
    int rc;
    const struct tk_yaml_node *seq = list_of(l, list, &rc);
    size_t used = 0;

    snprintf(buf, size, "none");
    for (size_t i = 0; seq && i < seq->n; i++) {
        const struct tk_yaml_node *n = tk_yaml_get(seq->items[i], "name");
        if (!n || n->kind != TK_YAML_SCALAR)
            continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", n->scalar);
        if (w < 0 || (size_t)w >= size - used) {
            if (size > 4)
                snprintf(buf + size - 4, 4, "...");
            return;
        }
        used += (size_t)w;
    }
}

/* PEM from prefix.data_key (base64, wins, as in kubectl) or prefix.file_key (a path). */
static int pem_field(struct loader *l, const struct tk_yaml_node *map, const char *prefix,
                     const char *data_key, const char *file_key, char **out)
{
    const char *data, *file;
    char what[160];
    int rc;

    if ((rc = str_field(l, map, prefix, data_key, &data)) ||
        (rc = str_field(l, map, prefix, file_key, &file)))
        return rc;
    if (data) {
        size_t len;
        char *pem = b64_decode(data, strlen(data), &len);
        snprintf(what, sizeof(what), "%s.%s", prefix, data_key);
        if (!pem)
            return ferr(l, TK_EINVAL, tk_yaml_get(map, data_key), what, "not valid base64");
        if (!looks_pem(pem, len)) {
            free(pem);
            return ferr(l, TK_EINVAL, tk_yaml_get(map, data_key), what,
                        "decodes to something that is not PEM");
        }
        *out = pem;
        return 0;
    }
    if (file) {
        char *p = join_path(l->dir, file), *content = NULL;
        size_t len = 0;
        int e = read_all(p, FILE_CAP, &content, &len);
        snprintf(what, sizeof(what), "%s.%s", prefix, file_key);
        if (e)
            rc = ferr(l, TK_EIO, tk_yaml_get(map, file_key), what, "cannot read '%s': %s", p,
                      e == EFBIG ? "larger than 1 MiB" : strerror(e));
        else if (!looks_pem(content, len))
            rc = ferr(l, TK_EINVAL, tk_yaml_get(map, file_key), what, "'%s' does not hold PEM data",
                      p);
        free(p);
        if (rc) {
            free(content);
            return rc;
        }
        *out = content;
    }
    return 0;
}

/* A YAML subtree as JSON, for the exec extension config passed to a plugin: plain scalars
 * become numbers, bools or null where they read as such, everything else strings. */
static cJSON *yaml_to_json(const struct tk_yaml_doc *doc, const struct tk_yaml_node *n)
{
    cJSON *j;

    switch (n->kind) {
    case TK_YAML_NULL:
        return cJSON_CreateNull();
    case TK_YAML_SEQ:
        j = cJSON_CreateArray();
        for (size_t i = 0; i < n->n; i++)
            cJSON_AddItemToArray(j, yaml_to_json(doc, n->items[i]));
        return j;
    case TK_YAML_MAP:
        j = cJSON_CreateObject();
        for (size_t i = 0; i < n->n; i++)
            cJSON_AddItemToObject(j, n->items[2 * i]->scalar,
                                  yaml_to_json(doc, n->items[2 * i + 1]));
        return j;
    case TK_YAML_SCALAR:
        break;
    }
    if (!n->quoted) {
        struct tk_err scratch = {0};
        double d;
        int b;
        if (!tk_yaml_to_double(doc, n, NULL, &d, &scratch) && isfinite(d))
            return cJSON_CreateNumber(d);
        tk_err_clear(&scratch);
        if (!strcmp(n->scalar, "true") || !strcmp(n->scalar, "false")) {
            tk_yaml_to_bool(doc, n, NULL, &b, &scratch);
            return cJSON_CreateBool(b);
        }
    }
    return cJSON_CreateString(n->scalar);
}

static int load_cluster(struct loader *l, const struct tk_yaml_node *entry,
                        const struct tk_yaml_node *c, size_t idx)
{
    struct tk_kubeconfig *kc = l->kc;
    char prefix[64];
    const char *server = NULL, *tsn = NULL, *proxy = NULL;
    int rc;

    snprintf(prefix, sizeof(prefix), "clusters[%zu].cluster", idx);
    if (!c)
        return ferr(l, TK_EINVAL, entry, prefix, "missing");
    if ((rc = str_field(l, c, prefix, "server", &server)))
        return rc;
    if (!server)
        return ferr(l, TK_EINVAL, c, prefix, "no server set");
    if (strstr(server, "://") && strncmp(server, "https://", 8) && strncmp(server, "http://", 7)) {
        char what[80];
        snprintf(what, sizeof(what), "%s.server", prefix);
        return ferr(l, TK_EINVAL, tk_yaml_get(c, "server"), what,
                    "'%.100s' must be an https:// or http:// URL", server);
    }
    /* client-go defaults a scheme-less host:port to https. */
    kc->server = strstr(server, "://") ? tk_xstrdup(server) : tk_xasprintf("https://%s", server);
    for (size_t n = strlen(kc->server); n && kc->server[n - 1] == '/'; n--)
        kc->server[n - 1] = '\0';
    if ((rc = pem_field(l, c, prefix, "certificate-authority-data", "certificate-authority",
                        &kc->ca_pem)) ||
        (rc = bool_field(l, c, prefix, "insecure-skip-tls-verify", &kc->insecure)) ||
        (rc = str_field(l, c, prefix, "tls-server-name", &tsn)) ||
        (rc = str_field(l, c, prefix, "proxy-url", &proxy)))
        return rc;
    if (kc->insecure && kc->ca_pem)
        return ferr(l, TK_EINVAL, tk_yaml_get(c, "insecure-skip-tls-verify"), prefix,
                    "a certificate authority together with insecure-skip-tls-verify is not "
                    "allowed (kubectl refuses it too)");
    kc->tls_server_name = tsn ? tk_xstrdup(tsn) : NULL;
    kc->proxy_url = proxy ? tk_xstrdup(proxy) : NULL;

    const struct tk_yaml_node *ext = tk_yaml_get(c, "extensions");
    for (size_t i = 0; ext && ext->kind == TK_YAML_SEQ && i < ext->n; i++) {
        const struct tk_yaml_node *name = tk_yaml_get(ext->items[i], "name");
        const struct tk_yaml_node *val = tk_yaml_get(ext->items[i], "extension");
        if (name && val && name->kind == TK_YAML_SCALAR &&
            !strcmp(name->scalar, EXEC_CONFIG_EXTENSION)) {
            cJSON_Delete(l->exec_cluster_config);
            l->exec_cluster_config = yaml_to_json(l->doc, val);
        }
    }
    return 0;
}

static char *exec_request(struct loader *l, const char *api_version, int cluster_info)
{
    struct tk_kubeconfig *kc = l->kc;
    cJSON *req = cJSON_CreateObject(), *spec;
    char *s;

    cJSON_AddStringToObject(req, "kind", "ExecCredential");
    cJSON_AddStringToObject(req, "apiVersion", api_version);
    spec = cJSON_AddObjectToObject(req, "spec");
    /* stdin is /dev/null: a plugin must not prompt. */
    cJSON_AddBoolToObject(spec, "interactive", 0);
    if (cluster_info) {
        cJSON *c = cJSON_AddObjectToObject(spec, "cluster");
        cJSON_AddStringToObject(c, "server", kc->server);
        if (kc->tls_server_name)
            cJSON_AddStringToObject(c, "tls-server-name", kc->tls_server_name);
        if (kc->insecure)
            cJSON_AddBoolToObject(c, "insecure-skip-tls-verify", 1);
        if (kc->ca_pem) {
            char *b64 = b64_encode(kc->ca_pem, strlen(kc->ca_pem));
            cJSON_AddStringToObject(c, "certificate-authority-data", b64);
            free(b64);
        }
        if (kc->proxy_url)
            cJSON_AddStringToObject(c, "proxy-url", kc->proxy_url);
        if (l->exec_cluster_config) {
            cJSON_AddItemToObject(c, "config", l->exec_cluster_config);
            l->exec_cluster_config = NULL;
        }
    }
    s = tk_json_print(req);
    cJSON_Delete(req);
    return s;
}

static int load_exec(struct loader *l, const struct tk_yaml_node *e, const char *prefix)
{
    const char *api = NULL, *cmd = NULL, *mode = NULL, *hint = NULL;
    const struct tk_yaml_node *args, *env;
    struct kc_exec *ex = NULL;
    char what[160];
    int rc, cluster_info = 0;

    if ((rc = tk_yaml_expect(l->doc, e, TK_YAML_MAP, prefix, l->err)))
        return rc;
    if ((rc = str_field(l, e, prefix, "apiVersion", &api)) ||
        (rc = str_field(l, e, prefix, "command", &cmd)) ||
        (rc = str_field(l, e, prefix, "interactiveMode", &mode)) ||
        (rc = str_field(l, e, prefix, "installHint", &hint)) ||
        (rc = bool_field(l, e, prefix, "provideClusterInfo", &cluster_info)))
        return rc;
    snprintf(what, sizeof(what), "%s.apiVersion", prefix);
    if (!api)
        return ferr(l, TK_EINVAL, e, what, "missing (client.authentication.k8s.io/v1)");
    if (strcmp(api, "client.authentication.k8s.io/v1") &&
        strcmp(api, "client.authentication.k8s.io/v1beta1"))
        return ferr(l, TK_EINVAL, tk_yaml_get(e, "apiVersion"), what,
                    "'%.80s' is not supported (use client.authentication.k8s.io/v1 or v1beta1)",
                    api);
    snprintf(what, sizeof(what), "%s.command", prefix);
    if (!cmd)
        return ferr(l, TK_EINVAL, e, what, "missing");
    snprintf(what, sizeof(what), "%s.interactiveMode", prefix);
    if (mode && strcmp(mode, "Never") && strcmp(mode, "IfAvailable") && strcmp(mode, "Always"))
        return ferr(l, TK_EINVAL, tk_yaml_get(e, "interactiveMode"), what,
                    "'%.40s' must be Never, IfAvailable or Always", mode);
    if (mode && !strcmp(mode, "Always"))
        return ferr(l, TK_EINVAL, tk_yaml_get(e, "interactiveMode"), what,
                    "the plugin needs a terminal (Always), and turbokube runs it without one");

    args = tk_yaml_get(e, "args");
    env = tk_yaml_get(e, "env");
    snprintf(what, sizeof(what), "%s.args", prefix);
    if (args && (rc = tk_yaml_expect(l->doc, args, TK_YAML_SEQ, what, l->err)))
        return rc;
    snprintf(what, sizeof(what), "%s.env", prefix);
    if (env && (rc = tk_yaml_expect(l->doc, env, TK_YAML_SEQ, what, l->err)))
        return rc;

    ex = tk_xcalloc(1, sizeof(*ex));
    ex->where = tk_xasprintf("%s:%d:%d: %s", tk_yaml_name(l->doc), e->line, e->col, prefix);
    ex->command = tk_xstrdup(cmd);
    ex->api_version = tk_xstrdup(api);
    ex->install_hint = hint ? tk_xstrdup(hint) : NULL;
    size_t nargs = args && args->kind == TK_YAML_SEQ ? args->n : 0;
    ex->argv = tk_xcalloc(nargs + 2, sizeof(char *));
    /* As client-go: a command with a separator is a path relative to the kubeconfig. */
    ex->argv[0] = strchr(cmd, '/') ? join_path(l->dir, cmd) : tk_xstrdup(cmd);
    for (size_t i = 0; i < nargs; i++) {
        const char *a;
        snprintf(what, sizeof(what), "%s.args[%zu]", prefix, i);
        if (tk_yaml_to_str(l->doc, args->items[i], what, &a, l->err)) {
            rc = TK_EINVAL;
            goto fail;
        }
        ex->argv[i + 1] = tk_xstrdup(a);
    }
    size_t nenv = env && env->kind == TK_YAML_SEQ ? env->n : 0;
    ex->env = tk_xcalloc(nenv + 1, sizeof(char *));
    for (size_t i = 0; i < nenv; i++) {
        const char *name = NULL, *value = NULL;
        snprintf(what, sizeof(what), "%s.env[%zu]", prefix, i);
        if ((rc = tk_yaml_expect(l->doc, env->items[i], TK_YAML_MAP, what, l->err)) ||
            (rc = str_field(l, env->items[i], what, "name", &name)) ||
            (rc = str_field(l, env->items[i], what, "value", &value)))
            goto fail;
        if (!name || strchr(name, '=')) {
            rc = ferr(l, TK_EINVAL, env->items[i], what, "needs a name without '='");
            goto fail;
        }
        ex->env[i] = tk_xasprintf("%s=%s", name, value ? value : "");
    }
    ex->request = exec_request(l, api, cluster_info);
    l->kc->priv->exec = ex;
    return 0;
fail:
    exec_free(ex);
    return rc;
}

static int load_user(struct loader *l, const struct tk_yaml_node *u, size_t idx)
{
    struct tk_kubeconfig *kc = l->kc;
    static const char *const refused[][2] = {
        {"auth-provider", "auth-provider plugins are not supported; use an exec plugin"},
        {"username", "basic authentication is not supported (kube-apiserver dropped it in 1.19)"},
        {"password", "basic authentication is not supported (kube-apiserver dropped it in 1.19)"},
        {"as", "impersonation is not supported"},
        {"as-groups", "impersonation is not supported"},
        {"as-uid", "impersonation is not supported"},
    };
    const char *token = NULL, *token_file = NULL;
    char prefix[64], what[128];
    int rc;

    snprintf(prefix, sizeof(prefix), "users[%zu].user", idx);
    if (!u)
        return 0;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const struct tk_yaml_node *v = tk_yaml_get(u, refused[i][0]);
        if (v && v->kind != TK_YAML_NULL && !(v->kind == TK_YAML_SCALAR && !*v->scalar)) {
            snprintf(what, sizeof(what), "%s.%s", prefix, refused[i][0]);
            return ferr(l, TK_EINVAL, v, what, "%s", refused[i][1]);
        }
    }
    if ((rc = pem_field(l, u, prefix, "client-certificate-data", "client-certificate",
                        &kc->client_cert_pem)) ||
        (rc = pem_field(l, u, prefix, "client-key-data", "client-key", &kc->client_key_pem)))
        return rc;
    if (!kc->client_cert_pem != !kc->client_key_pem)
        return ferr(l, TK_EINVAL, u, prefix, "%s",
                    kc->client_cert_pem ? "client certificate without client key"
                                        : "client key without client certificate");
    if ((rc = str_field(l, u, prefix, "token", &token)) ||
        (rc = str_field(l, u, prefix, "tokenFile", &token_file)))
        return rc;
    if (token_file) {
        /* The file wins over token, as in client-go (the last value read takes precedence). */
        char *p = join_path(l->dir, token_file), *content = NULL;
        size_t len;
        int e = read_all(p, FILE_CAP, &content, &len);
        snprintf(what, sizeof(what), "%s.tokenFile", prefix);
        if (e) {
            rc = ferr(l, TK_EIO, tk_yaml_get(u, "tokenFile"), what, "cannot read '%s': %s", p,
                      e == EFBIG ? "larger than 1 MiB" : strerror(e));
            free(p);
            return rc;
        }
        kc->token = trim_dup(content);
        free(content);
        kc->priv->token_file = p;
        if (!token_ok(kc->token))
            return ferr(l, TK_EINVAL, tk_yaml_get(u, "tokenFile"), what,
                        "'%s' is empty or holds control characters", p);
    } else if (token) {
        snprintf(what, sizeof(what), "%s.token", prefix);
        kc->token = tk_xstrdup(token);
        if (!token_ok(kc->token))
            return ferr(l, TK_EINVAL, tk_yaml_get(u, "token"), what,
                        "holds control characters or non-ASCII bytes");
    }
    const struct tk_yaml_node *ex = tk_yaml_get(u, "exec");
    if (ex && ex->kind != TK_YAML_NULL) {
        snprintf(prefix + strlen(prefix), sizeof(prefix) - strlen(prefix), ".exec");
        return load_exec(l, ex, prefix);
    }
    return 0;
}

/* ---- the exec plugin ---- */

/* The environment for the plugin: ours, minus what the config sets, plus the config's env and
 * KUBERNETES_EXEC_INFO. Strings are borrowed except *info, which the caller frees. */
static char **exec_envp(const struct kc_exec *ex, char **info)
{
    size_t n = 0, nenv = 0, o = 0;
    char **envp;

    for (char **e = environ; e && *e; e++)
        n++;
    while (ex->env[nenv])
        nenv++;
    envp = tk_xcalloc(n + nenv + 2, sizeof(char *));
    *info = tk_xasprintf("KUBERNETES_EXEC_INFO=%s", ex->request);
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
        int drop = klen == 20 && !strncmp(*e, "KUBERNETES_EXEC_INFO", 20);
        for (size_t i = 0; i < nenv && !drop; i++)
            drop = !strncmp(ex->env[i], *e, klen) && ex->env[i][klen] == '=';
        if (!drop)
            envp[o++] = *e;
    }
    for (size_t i = 0; i < nenv; i++)
        envp[o++] = ex->env[i];
    envp[o++] = *info;
    envp[o] = NULL;
    return envp;
}

/* The first line of the plugin's stderr, shortened and with control characters replaced, for
 * the error message. */
static void first_line(const char *s, char *out, size_t size)
{
    size_t o = 0;

    while (*s == '\n' || *s == '\r' || *s == ' ')
        s++;
    for (; *s && *s != '\n' && o + 1 < size; s++)
        out[o++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    while (o && (out[o - 1] == ' ' || out[o - 1] == '\r'))
        o--;
    out[o] = '\0';
    if (!o)
        snprintf(out, size, "(no message on stderr)");
}

static int drain(int fd, struct tk_buf *b, int *overflow)
{
    char chunk[4096];

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : 0;
        if (n == 0)
            return 0;
        /* Past the cap the bytes are dropped, but still read, so the plugin never blocks. */
        if (tk_buf_append(b, chunk, (size_t)n))
            *overflow = 1;
    }
}

/* Runs the plugin; on exit status 0 leaves its stdout in *out. */
static int exec_spawn(const struct kc_exec *ex, struct tk_buf *out, struct tk_err *err)
{
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, status = 0, rc = 0, exited = 0, out_over = 0,
        err_over = 0, out_open = 1, err_open = 1, spawned = 0, timed_out = 0;
    struct tk_buf errb;
    char *info = NULL, **envp = NULL, line[160];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    pid_t pid = -1;

    tk_buf_init(&errb, EXEC_STDERR_CAP);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (pipe2(op, O_CLOEXEC) || pipe2(ep, O_CLOEXEC)) {
        rc = tk_err_set(err, TK_EIO, "%s: pipe: %s", ex->where, strerror(errno));
        goto done;
    }
    fcntl(op[0], F_SETFL, O_NONBLOCK);
    fcntl(ep[0], F_SETFL, O_NONBLOCK);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    /* The loop blocks signals for signalfd and ignores SIGPIPE; a child must start clean, in
     * its own process group so a timeout can kill whatever it started. */
    sigemptyset(&none);
    sigemptyset(&dfl);
    int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&dfl, sigs[i]);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    envp = exec_envp(ex, &info);
    int e = posix_spawnp(&pid, ex->argv[0], &fa, &attr, ex->argv, envp);
    if (e) {
        rc = tk_err_set(err, TK_ECHILD, "%s: cannot run '%s': %s%s%s", ex->where, ex->command,
                        strerror(e), ex->install_hint ? " — " : "",
                        ex->install_hint ? ex->install_hint : "");
        goto done;
    }
    spawned = 1;
    close(op[1]);
    close(ep[1]);
    op[1] = ep[1] = -1;

    int64_t deadline = tk_now_ns() + (int64_t)EXEC_TIMEOUT_MS * 1000000;
    while (out_open || err_open || !exited) {
        int64_t left_ms = (deadline - tk_now_ns()) / 1000000;
        struct pollfd pfd[2];
        nfds_t n = 0;
        if (left_ms <= 0) {
            timed_out = 1;
            break;
        }
        if (out_open)
            pfd[n++] = (struct pollfd){.fd = op[0], .events = POLLIN};
        if (err_open)
            pfd[n++] = (struct pollfd){.fd = ep[0], .events = POLLIN};
        int ready = poll(pfd, n, left_ms < 100 ? (int)left_ms : 100);
        if (ready < 0 && errno != EINTR) {
            rc = tk_err_set(err, TK_EIO, "%s: poll: %s", ex->where, strerror(errno));
            break;
        }
        if (out_open)
            out_open = drain(op[0], out, &out_over);
        if (err_open)
            err_open = drain(ep[0], &errb, &err_over);
        if (!exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            /* ECHILD: someone else's waitpid(-1) took it; its status is gone. */
            if (w == pid || (w < 0 && errno == ECHILD))
                exited = w == pid ? 1 : 2;
        }
        /* The plugin is gone but something it started still holds the pipes: stop waiting once
         * they go quiet. */
        if (exited && ready == 0)
            break;
    }
    /* What it wrote between the last read and its exit is still in the pipes. */
    if (out_open)
        drain(op[0], out, &out_over);
    if (err_open)
        drain(ep[0], &errb, &err_over);
    if (timed_out || rc) {
        kill(-pid, SIGKILL);
        if (!exited)
            waitpid(pid, &status, 0);
        exited = 1;
        if (!rc)
            rc = tk_err_set(err, TK_ETIMEOUT, "%s: plugin '%s' did not finish within %d s",
                            ex->where, ex->command, EXEC_TIMEOUT_MS / 1000);
        goto done;
    }
    first_line(errb.data ? errb.data : "", line, sizeof(line));
    if (exited == 2) {
        rc = tk_err_set(err, TK_ECHILD, "%s: plugin '%s' was reaped elsewhere, exit status lost",
                        ex->where, ex->command);
    } else if (WIFSIGNALED(status)) {
        rc = tk_err_set(err, TK_ECHILD, "%s: plugin '%s' was killed by signal %d: %s", ex->where,
                        ex->command, WTERMSIG(status), line);
    } else if (WEXITSTATUS(status) != 0) {
        rc = tk_err_set(err, TK_ECHILD, "%s: plugin '%s' failed (exit status %d): %s", ex->where,
                        ex->command, WEXITSTATUS(status), line);
    } else if (out_over) {
        rc = tk_err_set(err, TK_ENOMEM, "%s: plugin '%s' wrote more than %u KiB", ex->where,
                        ex->command, EXEC_STDOUT_CAP >> 10);
    } else if (errb.len) {
        /* kubectl shows a plugin's stderr to the user; we keep it to debug logs. */
        tk_debug("exec plugin wrote to stderr", "plugin=\"%s\" first_line=\"%s\"", ex->command,
                 line);
    }
done:
    if (spawned && !exited) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    for (int i = 0; i < 2; i++) {
        if (op[i] >= 0)
            close(op[i]);
        if (ep[i] >= 0)
            close(ep[i]);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(envp);
    free(info);
    tk_buf_release(&errb);
    return rc;
}

static int exec_run(const struct kc_exec *ex, struct exec_result *res, struct tk_err *err)
{
    struct tk_buf out;
    cJSON *j = NULL;
    char *what = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    tk_buf_init(&out, EXEC_STDOUT_CAP);
    if ((rc = exec_spawn(ex, &out, err)))
        goto done;
    what = tk_xasprintf("%s: output of plugin '%s'", ex->where, ex->command);
    if ((rc = tk_json_parse(&j, out.data ? out.data : "", out.len, what, err)))
        goto done;
    const char *kind = tk_json_get_str(j, "kind"), *api = tk_json_get_str(j, "apiVersion");
    if (!kind || strcmp(kind, "ExecCredential")) {
        rc = tk_err_set(err, TK_EINVAL, "%s: kind is not ExecCredential", what);
        goto done;
    }
    if (!api || strcmp(api, ex->api_version)) {
        rc = tk_err_set(err, TK_EINVAL, "%s: apiVersion '%.60s' does not match the configured '%s'",
                        what, api ? api : "", ex->api_version);
        goto done;
    }
    const cJSON *st = tk_json_get_obj(j, "status");
    if (!st) {
        rc = tk_err_set(err, TK_EINVAL, "%s: no status", what);
        goto done;
    }
    const char *token = tk_json_get_str(st, "token"),
               *cert = tk_json_get_str(st, "clientCertificateData"),
               *key = tk_json_get_str(st, "clientKeyData"),
               *exp = tk_json_get_str(st, "expirationTimestamp");
    if (token && !*token)
        token = NULL;
    if (cert && !*cert)
        cert = NULL;
    if (key && !*key)
        key = NULL;
    if (!token && !cert)
        rc = tk_err_set(err, TK_EINVAL, "%s: status has neither a token nor a client certificate",
                        what);
    else if (!cert != !key)
        rc = tk_err_set(err, TK_EINVAL, "%s: status.%s without status.%s", what,
                        cert ? "clientCertificateData" : "clientKeyData",
                        cert ? "clientKeyData" : "clientCertificateData");
    else if (token && !token_ok(token))
        rc = tk_err_set(err, TK_EINVAL, "%s: status.token holds control characters", what);
    else if (cert && (!looks_pem(cert, strlen(cert)) || !looks_pem(key, strlen(key))))
        rc = tk_err_set(err, TK_EINVAL, "%s: status client certificate or key is not PEM", what);
    else if (exp && parse_rfc3339(exp, &res->expiry))
        rc = tk_err_set(err, TK_EINVAL, "%s: status.expirationTimestamp '%.40s' is not RFC 3339",
                        what, exp);
    if (rc)
        goto done;
    res->token = token ? tk_xstrdup(token) : NULL;
    res->cert = cert ? tk_xstrdup(cert) : NULL;
    res->key = key ? tk_xstrdup(key) : NULL;
done:
    cJSON_Delete(j);
    free(what);
    tk_buf_release(&out);
    return rc;
}

/* Moves the plugin's credentials into kc (what it returns replaces what the file said). */
static void exec_apply(struct tk_kubeconfig *kc, struct exec_result *r)
{
    if (r->token) {
        free(kc->token);
        kc->token = r->token;
        r->token = NULL;
    }
    if (r->cert) {
        free(kc->client_cert_pem);
        free(kc->client_key_pem);
        kc->client_cert_pem = r->cert;
        kc->client_key_pem = r->key;
        r->cert = r->key = NULL;
    }
    kc->exec_expiry = r->expiry;
}

/* ---- load, refresh, write ---- */

static int default_path(char **out, struct tk_err *err)
{
    const char *env = getenv("KUBECONFIG"), *home;

    /* kubectl merges every entry; we take the first one that is set. */
    while (env && *env) {
        size_t n = strcspn(env, ":");
        if (n) {
            *out = tk_xstrndup(env, n);
            return 0;
        }
        env++;
    }
    home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home)
        return tk_err_set(err, TK_EINVAL,
                          "no kubeconfig given, KUBECONFIG unset and no home "
                          "directory to find ~/.kube/config");
    *out = tk_xasprintf("%s/.kube/config", home);
    return 0;
}

int tk_kubeconfig_load(struct tk_kubeconfig **out, const char *path, const char *context,
                       struct tk_err *err)
{
    struct tk_kubeconfig *kc = tk_xcalloc(1, sizeof(*kc));
    struct loader l = {0};
    const struct tk_yaml_node *root, *centry = NULL, *ctx = NULL, *entry = NULL, *inner = NULL;
    const char *cur = NULL, *cluster = NULL, *user = NULL, *ns = NULL;
    char names[120];
    size_t ci = 0, idx = 0;
    int rc;

    kc->priv = tk_xcalloc(1, sizeof(*kc->priv));
    l.kc = kc;
    l.err = err;
    if (path)
        kc->path = tk_xstrdup(path);
    else if ((rc = default_path(&kc->path, err)))
        goto fail;
    if ((rc = tk_yaml_load_file(&l.doc, kc->path, err))) {
        if (rc == TK_EIO)
            tk_err_prefix(err, "kubeconfig");
        goto fail;
    }
    l.dir = abs_dir(kc->path);
    root = tk_yaml_root(l.doc);
    if (root->kind == TK_YAML_NULL) {
        rc = tk_err_set(err, TK_EINVAL, "%s: kubeconfig is empty", kc->path);
        goto fail;
    }
    if ((rc = tk_yaml_expect(l.doc, root, TK_YAML_MAP, NULL, err)))
        goto fail;
    if ((rc = str_field(&l, root, "kubeconfig", "current-context", &cur)))
        goto fail;
    if (!context || !*context)
        context = cur;
    if (!context) {
        list_names(&l, "contexts", names, sizeof(names));
        rc = tk_err_set(err, TK_EINVAL,
                        "%s: no context given and current-context is not set (contexts: %s)",
                        kc->path, names);
        goto fail;
    }
    rc = find_named(&l, "contexts", "context", context, &centry, &ctx, &ci);
    if (rc == TK_ENOTFOUND) {
        list_names(&l, "contexts", names, sizeof(names));
        rc = tk_err_set(err, TK_ENOTFOUND, "%s: context '%.64s' not found (contexts: %s)", kc->path,
                        context, names);
    }
    if (rc)
        goto fail;
    char prefix[64], field[80];
    snprintf(prefix, sizeof(prefix), "contexts[%zu].context", ci);
    if (!ctx) {
        rc = ferr(&l, TK_EINVAL, centry, prefix, "missing");
        goto fail;
    }
    if ((rc = str_field(&l, ctx, prefix, "cluster", &cluster)) ||
        (rc = str_field(&l, ctx, prefix, "user", &user)) ||
        (rc = str_field(&l, ctx, prefix, "namespace", &ns)))
        goto fail;
    if (!cluster) {
        rc = ferr(&l, TK_EINVAL, ctx, prefix, "no cluster set");
        goto fail;
    }
    kc->context = tk_xstrdup(context);
    kc->cluster_name = tk_xstrdup(cluster);
    kc->user_name = user ? tk_xstrdup(user) : NULL;
    kc->namespace_ = tk_xstrdup(ns ? ns : "default");

    rc = find_named(&l, "clusters", "cluster", cluster, &entry, &inner, &idx);
    if (rc == TK_ENOTFOUND) {
        list_names(&l, "clusters", names, sizeof(names));
        snprintf(field, sizeof(field), "%s.cluster", prefix);
        rc = ferr(&l, TK_ENOTFOUND, tk_yaml_get(ctx, "cluster"), field,
                  "cluster '%.64s' not found (clusters: %s)", cluster, names);
    }
    if (rc || (rc = load_cluster(&l, entry, inner, idx)))
        goto fail;
    if (user) {
        rc = find_named(&l, "users", "user", user, &entry, &inner, &idx);
        if (rc == TK_ENOTFOUND) {
            list_names(&l, "users", names, sizeof(names));
            snprintf(field, sizeof(field), "%s.user", prefix);
            rc = ferr(&l, TK_ENOTFOUND, tk_yaml_get(ctx, "user"), field,
                      "user '%.64s' not found (users: %s)", user, names);
        }
        if (rc || (rc = load_user(&l, inner, idx)))
            goto fail;
    }
    if (kc->priv->exec) {
        struct exec_result r;
        if ((rc = exec_run(kc->priv->exec, &r, err)))
            goto fail;
        exec_apply(kc, &r);
        result_release(&r);
    }
    if (kc->insecure)
        tk_warn("TLS verification is OFF (insecure-skip-tls-verify): the API server is not "
                "authenticated and credentials can be intercepted",
                "kubeconfig=\"%s\" context=\"%s\" server=\"%s\"", kc->path, kc->context,
                kc->server);
    cJSON_Delete(l.exec_cluster_config);
    tk_yaml_free(l.doc);
    free(l.dir);
    *out = kc;
    return 0;
fail:
    cJSON_Delete(l.exec_cluster_config);
    tk_yaml_free(l.doc);
    free(l.dir);
    tk_kubeconfig_free(kc);
    *out = NULL;
    return rc ? rc : TK_EINVAL;
}

int tk_kubeconfig_refresh(struct tk_kubeconfig *kc, struct tk_err *err)
{
    struct tk_kubeconfig_priv *p = kc->priv;
    struct exec_result r;
    int rc;

    if (p && p->exec) {
        if (!kc->exec_expiry || time(NULL) + REFRESH_MARGIN_S < kc->exec_expiry)
            return 0;
        if ((rc = exec_run(p->exec, &r, err)))
            return rc;
        exec_apply(kc, &r);
        result_release(&r);
        return 0;
    }
    if (p && p->token_file) {
        char *content = NULL, *t;
        size_t len;
        int e = read_all(p->token_file, FILE_CAP, &content, &len);
        if (e) {
            tk_warn("cannot reread tokenFile, keeping the previous token",
                    "path=\"%s\" error=\"%s\"", p->token_file,
                    e == EFBIG ? "larger than 1 MiB" : strerror(e));
            return 0;
        }
        t = trim_dup(content);
        free(content);
        if (!token_ok(t)) {
            tk_warn("tokenFile is empty or malformed, keeping the previous token", "path=\"%s\"",
                    p->token_file);
            free(t);
            return 0;
        }
        free(kc->token);
        kc->token = t;
    }
    return 0;
}

/* A YAML double-quoted scalar: names and paths may hold anything. */
static void put_quoted(struct tk_buf *b, const char *s)
{
    tk_buf_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            tk_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            tk_buf_printf(b, "\\x%02x", c);
        else
            tk_buf_append(b, s, 1);
    }
    tk_buf_puts(b, "\"");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tk_kubeconfig_write(const char *path, const char *name, const char *server, const char *ca_file,
                        const char *cert_file, const char *key_file, struct tk_err *err)
{
    struct tk_buf b;
    char *tmp = NULL, *abs = NULL;
    int fd = -1, rc = 0;

    tk_buf_init(&b, 0);
    if (!name || !*name || !server || !*server) {
        rc = tk_err_set(err, TK_EINVAL, "kubeconfig %s: needs a name and a server", path);
        goto done;
    }
    if (!cert_file != !key_file) {
        rc = tk_err_set(err, TK_EINVAL,
                        "kubeconfig %s: a client certificate needs a key, and a "
                        "key a certificate",
                        path);
        goto done;
    }
    tk_buf_puts(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: ");
    put_quoted(&b, name);
    tk_buf_puts(&b, "\n  cluster:\n    server: ");
    put_quoted(&b, server);
    if (ca_file) {
        tk_buf_puts(&b, "\n    certificate-authority: ");
        put_quoted(&b, abs = absolute(ca_file));
        free(abs);
    }
    tk_buf_puts(&b, "\ncontexts:\n- name: ");
    put_quoted(&b, name);
    tk_buf_puts(&b, "\n  context:\n    cluster: ");
    put_quoted(&b, name);
    tk_buf_puts(&b, "\n    user: ");
    put_quoted(&b, name);
    tk_buf_puts(&b, "\ncurrent-context: ");
    put_quoted(&b, name);
    tk_buf_puts(&b, "\nusers:\n- name: ");
    put_quoted(&b, name);
    tk_buf_puts(&b, "\n  user:");
    if (cert_file) {
        tk_buf_puts(&b, "\n    client-certificate: ");
        put_quoted(&b, abs = absolute(cert_file));
        free(abs);
        tk_buf_puts(&b, "\n    client-key: ");
        put_quoted(&b, abs = absolute(key_file));
        free(abs);
    } else {
        tk_buf_puts(&b, " {}");
    }
    tk_buf_puts(&b, "\npreferences: {}\n");

    /* Written beside the target and renamed over it, so a reader never sees half a file. */
    tmp = tk_xasprintf("%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = tk_err_set(err, TK_EIO, "cannot write kubeconfig '%s': %s", tmp, strerror(errno));
        goto done;
    }
    if (fchmod(fd, 0600) || write_all(fd, b.data, b.len) || fsync(fd)) {
        rc = tk_err_set(err, TK_EIO, "cannot write kubeconfig '%s': %s", tmp, strerror(errno));
        goto done;
    }
    if (close(fd)) {
        fd = -1;
        rc = tk_err_set(err, TK_EIO, "cannot write kubeconfig '%s': %s", tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp, path)) {
        rc = tk_err_set(err, TK_EIO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto done;
    }
done:
    if (fd >= 0)
        close(fd);
    if (rc && tmp)
        unlink(tmp);
    free(tmp);
    tk_buf_release(&b);
    return rc;
}
