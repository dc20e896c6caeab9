#!/bin/sh
# Test exec credential plugin that fails the way a logged-out cloud CLI does.
echo "error: credentials expired, run 'cloud login'" >&2
echo "this second line must not reach the message" >&2
exit 1
