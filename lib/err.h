#ifndef TK_ERR_H
#define TK_ERR_H

/* Errors are a code plus a message. The first failure wins: tk_err_set() on an error that
 * already holds a code keeps the first message, so the outermost caller sees the root cause.
 * Functions that succeed leave the error untouched. Messages never carry secrets. */

#include <stddef.h>

enum {
    TK_OK = 0,
    TK_EINVAL = 1,   /* bad input: a file, a flag, a value */
    TK_EIO = 2,      /* a file or device failed */
    TK_ENOMEM = 3,   /* a cap was reached (allocation failure itself aborts) */
    TK_ENET = 4,     /* connect, TLS, transfer */
    TK_EHTTP = 5,    /* the server answered with an error status */
    TK_ETIMEOUT = 6, /* a deadline passed */
    TK_ENOTFOUND = 7,
    TK_ESTATE = 8, /* the operation does not fit the current state */
    TK_ECHILD = 9, /* a child process failed */
    TK_ETLS = 10,  /* certificates, keys */
};

struct tk_err {
    int code;
    char msg[256];
};

/* Sets err (when err is non-NULL and holds no code yet) to code and the formatted message.
 * Returns code, so callers can write `return tk_err_set(err, TK_EINVAL, ...)`. */
int tk_err_set(struct tk_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "prefix: " (when err holds a code). Used to add
 * context at a boundary: "kubeconfig /x: " + "users[0].user: unknown key 'tokn'". */
void tk_err_prefix(struct tk_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to no error. */
void tk_err_clear(struct tk_err *err);

/* A short name for a code ("invalid", "io", ...), for logs. */
const char *tk_err_name(int code);

#endif
