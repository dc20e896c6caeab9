#!/bin/sh
# Test exec credential plugin for tests/unit/test_kubeconfig.c: records what it was given
# (when the test asks) and prints an ExecCredential whose token shows the configured env var.
if read -r _; then
    echo "stdin is not /dev/null" >&2
    exit 3
fi
if [ -n "$TK_TEST_EXEC_DUMP" ]; then
    printf '%s' "$KUBERNETES_EXEC_INFO" > "$TK_TEST_EXEC_DUMP"
    printf '%s|' "$@" > "$TK_TEST_EXEC_DUMP.args"
fi
if [ -n "$TK_TEST_EXEC_COUNT" ]; then
    echo run >> "$TK_TEST_EXEC_COUNT"
fi
exp=""
if [ -n "$TK_TEST_EXEC_EXPIRY" ]; then
    exp=",\"expirationTimestamp\":\"$TK_TEST_EXEC_EXPIRY\""
fi
echo "plugin diagnostics go to stderr" >&2
printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"exec-%s"%s}}\n' \
    "$PLUGIN_GREETING" "$exp"
