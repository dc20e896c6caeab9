#ifndef TK_KUBECONFIG_H
#define TK_KUBECONFIG_H

/* The standard kubeconfig format (clusters, contexts, users, current-context), read the way
 * kubectl reads one file: inline -data fields (base64) or files (relative paths resolve against
 * the kubeconfig's directory), token or tokenFile, client certificates, and exec credential
 * plugins (client.authentication.k8s.io v1 and v1beta1). Unknown keys are ignored, as kubectl
 * tolerates extensions. Not supported, and refused with a message rather than ignored:
 * auth-provider (use an exec plugin), basic auth (username/password), impersonation (act-as).
 * Messages name the file, the mark and the field path, never a token, key or certificate. */

#include <time.h>

#include "err.h"

struct tk_kubeconfig_priv; /* the exec plugin and tokenFile, for tk_kubeconfig_refresh */

/* Everything needed to talk to one API server; every string is owned by the struct. */
struct tk_kubeconfig {
    char *server;                           /* https://host:port[/path], no trailing slash */
    char *ca_pem;                           /* CA bundle PEM; NULL: system trust */
    char *client_cert_pem, *client_key_pem; /* PEM; both NULL when none */
    char *token;                            /* bearer token, NULL when none */
    int insecure;                           /* insecure-skip-tls-verify: true */
    char *tls_server_name;                  /* NULL: the server's host */
    char *proxy_url;                        /* cluster proxy-url, NULL when none */
    char *context, *cluster_name, *user_name;
    char *namespace_;   /* the context's namespace, "default" when unset */
    char *path;         /* the file loaded */
    time_t exec_expiry; /* wall clock when the exec plugin's credential expires; 0: never/none */
    struct tk_kubeconfig_priv *priv;
};

/* Loads the kubeconfig at path (NULL: the first entry of $KUBECONFIG, else ~/.kube/config)
 * using context (NULL: current-context). Runs the exec plugin when the user has one: the
 * command (a path with '/' resolves against the kubeconfig's directory, a bare name is looked
 * up in PATH) with its args, the environment plus its env entries and KUBERNETES_EXEC_INFO (the
 * ExecCredential request; spec.cluster when provideClusterInfo), stdin /dev/null, a 30 s limit;
 * its stdout ExecCredential gives status.token and/or status.clientCertificateData +
 * clientKeyData and status.expirationTimestamp. insecure-skip-tls-verify: true is allowed and
 * logs a warning on every load.
 * On success *out is the result (caller frees with tk_kubeconfig_free). Errors, *out NULL:
 * TK_EIO (a file cannot be read), TK_ENOTFOUND ("context 'foo' not found (contexts: a, b)"),
 * TK_EINVAL ("/x/config:7:5: users[0].user.client-key-data: not valid base64"), TK_ECHILD (the
 * plugin failed: exit status and first line of its stderr), TK_ETIMEOUT (the plugin hung). */
int tk_kubeconfig_load(struct tk_kubeconfig **out, const char *path, const char *context,
                       struct tk_err *err);

/* Renews short-lived credentials in place. With an exec plugin whose credential expires within
 * 60 s (exec_expiry != 0), reruns it and replaces token/client cert/key; set exec_expiry to 1
 * first to force a rerun (after a 401). With a tokenFile, rereads it (a projected token rotates);
 * a failed reread keeps the previous token and only warns, as client-go does. Otherwise a no-op.
 * Returns 0, or the plugin's error with kc's credentials unchanged. */
int tk_kubeconfig_refresh(struct tk_kubeconfig *kc, struct tk_err *err);

/* Frees kc and every string in it. NULL-safe. */
void tk_kubeconfig_free(struct tk_kubeconfig *kc);

/* Writes a kubeconfig to path (mode 0600, replaced atomically) with one cluster, user and
 * context all called name, current-context name, referring to the files by absolute path
 * (relative ones are made absolute against the working directory). ca_file NULL: no
 * certificate-authority (system trust); cert_file and key_file are both NULL (no client
 * certificate) or both set. Used by the local control plane. Errors: TK_EINVAL (empty name or
 * server, cert without key), TK_EIO. */
int tk_kubeconfig_write(const char *path, const char *name, const char *server, const char *ca_file,
                        const char *cert_file, const char *key_file, struct tk_err *err);

#endif
