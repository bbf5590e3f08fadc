#!/usr/bin/env bash
# workspace.sh WORKDIR [NAME]: create WORKDIR (a leading ~ means $HOME), its jobs folder and, given
# NAME, the workspace twin WORKDIR/workspaces/NAME; print WORKDIR's real path (ops/workspace.py).
readonly EXIT_USAGE=64 EXIT_CANNOT_CREATE=67
[ $# -ge 1 ] || exit "$EXIT_USAGE"
wd=$1
case "$wd" in
  \~) wd=$HOME ;;
  \~/*) wd=$HOME/${wd#\~/} ;;
esac
# Private to this user: what we create is 0700, and the folders that hold every job and twin are
# made 0700 even when an older version made them open (the workdir itself may be a shared project
# folder the user chose, so it is left as it is when it already existed).
umask 077
mkdir -p -- "$wd/jobs" "$wd/workspaces" || exit "$EXIT_CANNOT_CREATE"
chmod 700 -- "$wd/jobs" "$wd/workspaces" || exit "$EXIT_CANNOT_CREATE"
if [ -n "${2:-}" ]; then
  mkdir -p -- "$wd/workspaces/$2" || exit "$EXIT_CANNOT_CREATE"
fi
cd -- "$wd" && pwd -P
