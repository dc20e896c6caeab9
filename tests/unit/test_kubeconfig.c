#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "kubeconfig.h"
#include "tktest.h"

static char data_path_buf[4][1024];
static int data_path_next;

/* tests/data/kubeconfig/<name>, absolute when TK_TEST_DATA is (ctest sets it). */
static const char *kc_path(const char *name)
{
    const char *d = tk_test_data_dir();
    char *buf = data_path_buf[data_path_next++ % 4];
    snprintf(buf, sizeof(data_path_buf[0]), "%s/kubeconfig/%s", d, name);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct tk_buf b;
    char chunk[4096];
    size_t n;

    if (!f)
        return NULL;
    tk_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        tk_buf_append(&b, chunk, n);
    fclose(f);
    return tk_buf_detach(&b);
}

static int spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
    char *t = tk_xstrdup("/tmp/tk-kubeconfig-XXXXXX");
    if (!mkdtemp(t)) {
        free(t);
        return NULL;
    }
    return t;
}

static int count_lines(const char *path)
{
    char *s = slurp(path);
    int n = 0;
    for (char *p = s; p && *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static void rfc3339(time_t t, char *out, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

TK_TEST(kubeconfig_inline_data)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};
    char *ca = slurp(kc_path("pki/ca.crt")), *crt = slurp(kc_path("pki/client.crt")),
         *key = slurp(kc_path("pki/client.key"));

    CHECK(ca && crt && key);
    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("inline.yaml"), NULL, &err), 0);
    CHECK_STR(kc->server, "https://10.0.0.1:6443");
    CHECK_STR(kc->ca_pem, ca);
    CHECK_STR(kc->client_cert_pem, crt);
    CHECK_STR(kc->client_key_pem, key); /* line-wrapped base64 in a block scalar */
    CHECK(kc->token == NULL);
    CHECK_INT(kc->insecure, 0);
    CHECK_STR(kc->tls_server_name, "kubernetes.default");
    CHECK_STR(kc->proxy_url, "http://proxy.example:3128");
    CHECK_STR(kc->context, "inline");
    CHECK_STR(kc->cluster_name, "inline-cluster");
    CHECK_STR(kc->user_name, "inline-user");
    CHECK_STR(kc->namespace_, "load-test");
    CHECK_STR(kc->path, kc_path("inline.yaml"));
    CHECK_INT(kc->exec_expiry, 0);
    /* No exec plugin, no tokenFile: refresh does nothing. */
    CHECK_INT(tk_kubeconfig_refresh(kc, &err), 0);
    CHECK_STR(kc->client_key_pem, key);
    tk_kubeconfig_free(kc);
    free(ca);
    free(crt);
    free(key);
}

TK_TEST(kubeconfig_file_references)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};
    char *ca = slurp(kc_path("pki/ca.crt")), *key = slurp(kc_path("pki/client.key"));
    char cwd[1024];

    CHECK(ca && key);
    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("files.yaml"), NULL, &err), 0);
    CHECK_STR(kc->server, "https://127.0.0.1:6443");
    CHECK_STR(kc->ca_pem, ca);
    CHECK_STR(kc->client_key_pem, key);
    CHECK(kc->client_cert_pem && strstr(kc->client_cert_pem, "BEGIN CERTIFICATE"));
    CHECK_STR(kc->namespace_, "default");
    tk_kubeconfig_free(kc);

    /* Loaded through a relative path from elsewhere: references still resolve against the
     * kubeconfig's own directory, not the working directory. */
    CHECK(getcwd(cwd, sizeof(cwd)));
    CHECK_INT(chdir(kc_path("pki")), 0);
    int rc = tk_kubeconfig_load(&kc, "../files.yaml", NULL, &err);
    CHECK_INT(chdir(cwd), 0);
    CHECK_INT(rc, 0);
    CHECK_STR(kc->ca_pem, ca);
    tk_kubeconfig_free(kc);

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("missing-file.yaml"), NULL, &err), TK_EIO);
    CHECK(kc == NULL);
    CHECK_CONTAINS(err.msg, "missing-file.yaml:8:28: clusters[0].cluster.certificate-authority: "
                            "cannot read '");
    CHECK_CONTAINS(err.msg, "/pki/no-such-ca.crt': No such file or directory");
    free(ca);
    free(key);
}

TK_TEST(kubeconfig_token_and_token_file)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("token.yaml"), NULL, &err), 0);
    CHECK_STR(kc->token, "abc.def-123");
    CHECK_STR(kc->server, "https://tok.example:443");
    CHECK_STR(kc->namespace_, "kube-system");
    CHECK(kc->ca_pem == NULL && kc->client_cert_pem == NULL && kc->client_key_pem == NULL);
    tk_kubeconfig_free(kc);

    /* tokenFile wins over token (client-go: the last value read from the file takes
     * precedence), trimmed of its newline. */
    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("tokenfile.yaml"), NULL, &err), 0);
    CHECK_STR(kc->token, "file-token-xyz");
    tk_kubeconfig_free(kc);

    /* A rotated token file is picked up by refresh; a vanished one keeps the old token. */
    char *dir = make_tmpdir();
    CHECK(dir);
    char *cfg = tk_xasprintf("%s/config", dir), *tok = tk_xasprintf("%s/sa-token", dir);
    spit(cfg, "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
              "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
              "users: [{name: u, user: {tokenFile: sa-token}}]\n"
              "current-context: x\n");
    spit(tok, "  first-token \n");
    int rc = tk_kubeconfig_load(&kc, cfg, NULL, &err);
    if (rc == 0) {
        spit(tok, "second-token\n");
        rc = tk_kubeconfig_refresh(kc, &err);
    }
    int same = kc && kc->token && strcmp(kc->token, "second-token") == 0;
    unlink(tok);
    if (kc && rc == 0)
        rc = tk_kubeconfig_refresh(kc, &err);
    int kept = kc && kc->token && strcmp(kc->token, "second-token") == 0;
    tk_kubeconfig_free(kc);
    kc = NULL;

    /* Control characters in a token are refused, and the token is not in the message. */
    spit(cfg, "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
              "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
              "users: [{name: u, user: {token: \"sekrit\\nInjected: header\"}}]\n"
              "current-context: x\n");
    tk_err_clear(&err);
    int bad = tk_kubeconfig_load(&kc, cfg, NULL, &err);
    rm_rf(dir);
    free(dir);
    free(cfg);
    free(tok);
    CHECK_INT(rc, 0);
    CHECK(same);
    CHECK(kept);
    CHECK_INT(bad, TK_EINVAL);
    CHECK_CONTAINS(err.msg, "config:3:33: users[0].user.token: holds control characters");
    CHECK(strstr(err.msg, "sekrit") == NULL);
}

TK_TEST(kubeconfig_contexts)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("contexts.yaml"), NULL, &err), 0);
    CHECK_STR(kc->context, "beta");
    CHECK_STR(kc->server, "https://beta.example:443"); /* scheme-less host:port → https */
    CHECK_STR(kc->token, "beta-token");
    CHECK_STR(kc->namespace_, "default");
    tk_kubeconfig_free(kc);

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("contexts.yaml"), "alpha", &err), 0);
    CHECK_STR(kc->context, "alpha");
    CHECK_STR(kc->cluster_name, "c-alpha");
    CHECK_STR(kc->user_name, "u-alpha");
    CHECK_STR(kc->server, "https://alpha.example:6443"); /* trailing slash dropped */
    CHECK_STR(kc->token, "alpha-token");
    CHECK_STR(kc->namespace_, "team-a");
    tk_kubeconfig_free(kc);

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("contexts.yaml"), "gamma", &err), TK_ENOTFOUND);
    CHECK(kc == NULL);
    CHECK_CONTAINS(err.msg, "contexts.yaml: context 'gamma' not found (contexts: alpha, beta, "
                            "orphan)");
    tk_err_clear(&err);

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("contexts.yaml"), "orphan", &err), TK_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "contexts.yaml:18:22: contexts[2].context.cluster: cluster "
                            "'c-missing' not found (clusters: c-alpha, c-beta)");
}

TK_TEST(kubeconfig_default_path)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};
    char *old_kc = getenv("KUBECONFIG") ? tk_xstrdup(getenv("KUBECONFIG")) : NULL;
    char *old_home = getenv("HOME") ? tk_xstrdup(getenv("HOME")) : NULL;
    char *list = tk_xasprintf(":%s:/nonexistent/other", kc_path("token.yaml"));

    /* $KUBECONFIG: its first non-empty entry. */
    setenv("KUBECONFIG", list, 1);
    int rc1 = tk_kubeconfig_load(&kc, NULL, NULL, &err);
    int ok1 = kc && kc->token && !strcmp(kc->token, "abc.def-123");
    tk_kubeconfig_free(kc);
    kc = NULL;

    /* Else ~/.kube/config. */
    char *dir = make_tmpdir(), *kube = tk_xasprintf("%s/.kube", dir),
         *cfg = tk_xasprintf("%s/.kube/config", dir);
    mkdir(kube, 0700);
    unsetenv("KUBECONFIG");
    setenv("HOME", dir, 1);
    int wrc = tk_kubeconfig_write(cfg, "home", "https://127.0.0.1:7443", NULL, NULL, NULL, &err);
    int rc2 = tk_kubeconfig_load(&kc, NULL, NULL, &err);
    int ok2 = kc && !strcmp(kc->server, "https://127.0.0.1:7443") && !strcmp(kc->path, cfg);
    tk_kubeconfig_free(kc);
    kc = NULL;

    rm_rf(dir);
    int rc3 = tk_kubeconfig_load(&kc, NULL, NULL, &err);
    if (old_kc)
        setenv("KUBECONFIG", old_kc, 1);
    if (old_home)
        setenv("HOME", old_home, 1);
    else
        unsetenv("HOME");
    free(old_kc);
    free(old_home);
    free(list);
    free(dir);
    free(kube);
    free(cfg);
    CHECK_INT(rc1, 0);
    CHECK(ok1);
    CHECK_INT(wrc, 0);
    CHECK_INT(rc2, 0);
    CHECK(ok2);
    CHECK_INT(rc3, TK_EIO);
    CHECK_CONTAINS(err.msg, "kubeconfig: cannot read '");
}

TK_TEST(kubeconfig_malformed_yaml)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("malformed.yaml"), NULL, &err), TK_EINVAL);
    CHECK(kc == NULL);
    /* file:line:col of the offending line, then libyaml's explanation. */
    CHECK_CONTAINS(err.msg, "malformed.yaml:7:4: did not find expected key");
}

TK_TEST(kubeconfig_bad_base64)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("bad-base64.yaml"), NULL, &err), TK_EINVAL);
    CHECK(kc == NULL);
    CHECK_CONTAINS(err.msg, "bad-base64.yaml:13:22: users[0].user.client-key-data: not valid "
                            "base64");
    CHECK(strstr(err.msg, "c2VjcmV0") == NULL); /* the key material is not echoed */
}

TK_TEST(kubeconfig_insecure)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("insecure.yaml"), NULL, &err), 0);
    CHECK_INT(kc->insecure, 1);
    CHECK(kc->ca_pem == NULL);
    CHECK_STR(kc->token, "lab-token");
    tk_kubeconfig_free(kc);

    /* kubectl refuses a CA together with insecure-skip-tls-verify; so do we. */
    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("insecure.yaml"), "contradiction", &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "insecure.yaml:12:31: clusters[1].cluster: a certificate authority "
                            "together with insecure-skip-tls-verify");

    tk_err_clear(&err);
    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("contexts.yaml"), "alpha", &err), 0);
    CHECK_INT(kc->insecure, 0); /* an explicit false */
    tk_kubeconfig_free(kc);
}

TK_TEST(kubeconfig_exec_plugin)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};
    char *dir = make_tmpdir();
    CHECK(dir);
    char *dump = tk_xasprintf("%s/exec-info.json", dir), *args = tk_xasprintf("%s.args", dump);
    char *ca = slurp(kc_path("pki/ca.crt"));

    CHECK(access(kc_path("exec-plugin.sh"), X_OK) == 0);
    setenv("TK_TEST_EXEC_DUMP", dump, 1);
    setenv("PLUGIN_GREETING", "from-parent-env", 1); /* the kubeconfig's env must win */
    int rc = tk_kubeconfig_load(&kc, kc_path("exec.yaml"), NULL, &err);
    unsetenv("TK_TEST_EXEC_DUMP");
    unsetenv("PLUGIN_GREETING");
    char *info = slurp(dump), *argv = slurp(args);
    rm_rf(dir);
    free(dir);
    free(dump);
    free(args);

    CHECK_INT(rc, 0);
    CHECK_STR(kc->token, "exec-hello"); /* the plugin's token replaces the static one */
    CHECK_INT(kc->exec_expiry, 0);
    CHECK_STR(argv, "--audience|load test|");
    CHECK(info);
    cJSON *j = NULL;
    CHECK_INT(tk_json_parse(&j, info, strlen(info), "KUBERNETES_EXEC_INFO", &err), 0);
    CHECK_STR(tk_json_get_str(j, "kind"), "ExecCredential");
    CHECK_STR(tk_json_get_str(j, "apiVersion"), "client.authentication.k8s.io/v1");
    int interactive = -1;
    CHECK_INT(tk_json_get_bool(j, "spec.interactive", &interactive), 0);
    CHECK_INT(interactive, 0);
    /* provideClusterInfo: the cluster, its CA as base64, and the exec extension's config. */
    CHECK_STR(tk_json_get_str(j, "spec.cluster.server"), "https://exec.example:6443");
    const char *cad = tk_json_get_str(j, "spec.cluster.certificate-authority-data");
    CHECK(cad && strlen(cad) > 40);
    CHECK_STR(tk_json_get_str(j, "spec.cluster.config.audience"), "turbokube");
    double retries = 0;
    CHECK_INT(tk_json_get_num(j, "spec.cluster.config.retries", &retries), 0);
    CHECK_NEAR(retries, 3, 0);
    cJSON_Delete(j);
    free(info);
    free(argv);
    free(ca);
    tk_kubeconfig_free(kc);
}

TK_TEST(kubeconfig_exec_refresh)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};
    char *dir = make_tmpdir();
    CHECK(dir);
    char *count = tk_xasprintf("%s/count", dir), soon[32], later[32];
    time_t now = time(NULL);

    rfc3339(now + 30, soon, sizeof(soon));
    rfc3339(now + 3600, later, sizeof(later));
    setenv("TK_TEST_EXEC_COUNT", count, 1);
    setenv("TK_TEST_EXEC_EXPIRY", soon, 1);
    int rc = tk_kubeconfig_load(&kc, kc_path("exec.yaml"), NULL, &err);
    int runs_load = count_lines(count);
    time_t exp_load = kc ? kc->exec_expiry : 0;
    /* Within 60 s of expiry: the plugin runs again. */
    setenv("TK_TEST_EXEC_EXPIRY", later, 1);
    int rc_r1 = kc ? tk_kubeconfig_refresh(kc, &err) : -1;
    int runs_r1 = count_lines(count);
    time_t exp_r1 = kc ? kc->exec_expiry : 0;
    /* An hour left: nothing to do. */
    int rc_r2 = kc ? tk_kubeconfig_refresh(kc, &err) : -1;
    int runs_r2 = count_lines(count);
    /* Forced (after a 401). */
    if (kc)
        kc->exec_expiry = 1;
    int rc_r3 = kc ? tk_kubeconfig_refresh(kc, &err) : -1;
    int runs_r3 = count_lines(count);
    unsetenv("TK_TEST_EXEC_COUNT");
    unsetenv("TK_TEST_EXEC_EXPIRY");
    tk_kubeconfig_free(kc);
    rm_rf(dir);
    free(dir);
    free(count);

    CHECK_INT(rc, 0);
    CHECK_INT(runs_load, 1);
    CHECK_INT(exp_load, now + 30);
    CHECK_INT(rc_r1, 0);
    CHECK_INT(runs_r1, 2);
    CHECK_INT(exp_r1, now + 3600);
    CHECK_INT(rc_r2, 0);
    CHECK_INT(runs_r2, 2);
    CHECK_INT(rc_r3, 0);
    CHECK_INT(runs_r3, 3);
}

TK_TEST(kubeconfig_exec_failures)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("exec-fail.yaml"), NULL, &err), TK_ECHILD);
    CHECK(kc == NULL);
    CHECK_CONTAINS(err.msg, "exec-fail.yaml:18:7: users[0].user.exec: plugin './exec-fail.sh' "
                            "failed (exit status 1): error: credentials expired, run 'cloud "
                            "login'");
    CHECK(strstr(err.msg, "second line") == NULL);
    tk_err_clear(&err);

    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("exec-fail.yaml"), "missing-plugin", &err),
              TK_ECHILD);
    CHECK_CONTAINS(err.msg, "users[1].user.exec: cannot run 'tk-no-such-credential-plugin': No "
                            "such file or directory");
    CHECK_CONTAINS(err.msg, "install it with 'make plugin'");
    tk_err_clear(&err);

    /* The plugin answers v1 to a v1beta1 request. */
    CHECK_INT(tk_kubeconfig_load(&kc, kc_path("exec-fail.yaml"), "wrong-version", &err), TK_EINVAL);
    CHECK_CONTAINS(err.msg, "apiVersion 'client.authentication.k8s.io/v1' does not match the "
                            "configured 'client.authentication.k8s.io/v1beta1'");
}

TK_TEST(kubeconfig_write_roundtrip)
{
    struct tk_kubeconfig *kc = NULL;
    struct tk_err err = {0};
    char *dir = make_tmpdir();
    CHECK(dir);
    char *cfg = tk_xasprintf("%s/admin.kubeconfig", dir);
    char *ca = slurp(kc_path("pki/ca.crt")), *crt = slurp(kc_path("pki/client.crt")),
         *key = slurp(kc_path("pki/client.key"));
    char cwd[1024];
    struct stat st;

    /* Relative file names are written as absolute paths. */
    CHECK(getcwd(cwd, sizeof(cwd)));
    CHECK_INT(chdir(kc_path("pki")), 0);
    int wrc = tk_kubeconfig_write(cfg, "tk \"local\": one", "https://127.0.0.1:6443", "ca.crt",
                                  "client.crt", "./client.key", &err);
    CHECK_INT(chdir(cwd), 0);
    CHECK_INT(wrc, 0);
    CHECK_INT(stat(cfg, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    char *text = slurp(cfg);
    CHECK(text);
    CHECK(strstr(text, "certificate-authority: \"/") != NULL);
    CHECK(strstr(text, "client-key: \"/") != NULL);
    free(text);

    int rc = tk_kubeconfig_load(&kc, cfg, NULL, &err);
    rm_rf(dir);
    free(dir);
    free(cfg);
    CHECK_INT(rc, 0);
    CHECK_STR(kc->server, "https://127.0.0.1:6443");
    CHECK_STR(kc->ca_pem, ca);
    CHECK_STR(kc->client_cert_pem, crt);
    CHECK_STR(kc->client_key_pem, key);
    CHECK_STR(kc->context, "tk \"local\": one");
    CHECK_STR(kc->cluster_name, "tk \"local\": one");
    CHECK_STR(kc->user_name, "tk \"local\": one");
    CHECK_STR(kc->namespace_, "default");
    CHECK(kc->token == NULL);
    CHECK_INT(kc->insecure, 0);
    tk_kubeconfig_free(kc);
    free(ca);
    free(crt);
    free(key);

    CHECK_INT(tk_kubeconfig_write("/nonexistent-dir/x", "n", "https://h", NULL, NULL, NULL, &err),
              TK_EIO);
    tk_err_clear(&err);
    CHECK_INT(tk_kubeconfig_write("/tmp/unused", "n", "https://h", NULL, "c", NULL, &err),
              TK_EINVAL);
}

TK_TEST_MAIN(kubeconfig_inline_data, kubeconfig_file_references, kubeconfig_token_and_token_file,
             kubeconfig_contexts, kubeconfig_default_path, kubeconfig_malformed_yaml,
             kubeconfig_bad_base64, kubeconfig_insecure, kubeconfig_exec_plugin,
             kubeconfig_exec_refresh, kubeconfig_exec_failures, kubeconfig_write_roundtrip)
