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
mkdir -p -- "$wd/jobs" || exit "$EXIT_CANNOT_CREATE"
if [ -n "${2:-}" ]; then
  mkdir -p -- "$wd/workspaces/$2" || exit "$EXIT_CANNOT_CREATE"
fi
cd -- "$wd" && pwd -P
