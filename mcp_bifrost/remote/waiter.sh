#!/usr/bin/env bash
# The waiting shell of a pre-opened ssh channel (targets/ssh.py). sshd made it a session leader, so
# its pid is the process group of whatever it runs. It says so on stdout after a marker (rc files
# may print before it; the client skips their text), marks where stderr begins, then reads the
# mode (1: the command reads the channel's stdin) and a base64 command line, and execs it.
readonly EXIT_USAGE=64
echo "bifrost-pid $$"
echo "bifrost-stderr" >&2
IFS= read -r mode || exit 0
IFS= read -r cmd || exit 0
cmd=$(printf %s "$cmd" | base64 -d) || exit "$EXIT_USAGE"
if [ "$mode" = 1 ]; then exec /bin/sh -c "$cmd"; else exec /bin/sh -c "$cmd" </dev/null; fi
