#ifndef TKTEST_PKI_H
#define TKTEST_PKI_H

/* A cluster PKI (lib/pki) made once per test executable in its scratch directory, for the
 * scripted TLS servers of the HTTP client tests: the CA's PEM and the apiserver's serving
 * certificate and key (SANs include 127.0.0.1). */

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "buf.h"
#include "pki.h"
#include "tktest_tmp.h"

struct pkiset {
    char *ca_pem;
    char *srv_crt, *srv_key;
};

static void pki_once(struct pkiset *k)
{
    static struct pkiset cached;
    struct tk_err err = {0};

    if (!cached.ca_pem) {
        const char *dir = tk_test_tmp_path("pki");
        char *path;
        FILE *f;
        struct tk_buf b;
        char chunk[4096];
        size_t n;
        mkdir(dir, 0700);
        if (tk_pki_ensure(dir, NULL, &err))
            abort();
        cached.srv_crt = tk_xasprintf("%s/apiserver.crt", dir);
        cached.srv_key = tk_xasprintf("%s/apiserver.key", dir);
        path = tk_xasprintf("%s/ca.crt", dir);
        f = fopen(path, "rb");
        free(path);
        if (!f)
            abort();
        tk_buf_init(&b, 0);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            tk_buf_append(&b, chunk, n);
        fclose(f);
        cached.ca_pem = tk_buf_detach(&b);
    }
    *k = cached;
}

#endif
