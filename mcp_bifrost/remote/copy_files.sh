#!/usr/bin/env bash
# copy_files, the target's half (ops/copy_files.py is the other): check every real path and the
# total size, then stream one gzip'd tar of them on stdout.
#
# Args:   WORKDIR CAP_BYTES PATH...   (absolute paths, already checked lexically by the client)
# stderr: bifrost-missing/unsafe/reserved/hardlink/total/large lines, tab-separated, for the client
# Refused: a real path outside the workdir, the workdir itself and the folders that hold every
# workspace and job (and push's state), and a file with other hard links (one may be outside).
# Exit codes: errors.RemoteExit, under the same names; otherwise tar's own status (0, 1 = a file
# changed while it was read, 2).
readonly EXIT_COPY_MISSING=90 EXIT_COPY_UNSAFE=91 EXIT_COPY_TOO_LARGE=92 EXIT_COPY_RESERVED=93 EXIT_COPY_HARDLINK=94
wd=$1 cap=$2
shift 2
n=$#
for p; do
  r=$(realpath -e -- "$p" 2>/dev/null) ||
    { printf 'bifrost-missing\t%s\n' "$p" >&2; exit "$EXIT_COPY_MISSING"; }
  case "$r" in
    "$wd" | "$wd/workspaces" | "$wd/jobs" | "$wd/.push" | "$wd/.push/"*)
      printf 'bifrost-reserved\t%s\t%s\n' "$p" "$r" >&2; exit "$EXIT_COPY_RESERVED" ;;
    "$wd"/*) ;;
    *) printf 'bifrost-unsafe\t%s\t%s\n' "$p" "$r" >&2; exit "$EXIT_COPY_UNSAFE" ;;
  esac
  set -- "$@" "$r"
done
shift "$n"
linked=$(find "$@" -type f -links +1 -printf 'bifrost-hardlink\t%p\n' | head -n 5)
if [ -n "$linked" ]; then
  printf '%s\n' "$linked" >&2
  exit "$EXIT_COPY_HARDLINK"
fi
total=$(du -scb -- "$@" | tail -n 1 | cut -f1)
printf 'bifrost-total\t%s\n' "$total" >&2
if [ "$total" -gt "$cap" ]; then
  du -ab -- "$@" | sort -rn | head -n 5 | sed 's/^/bifrost-large\t/' >&2
  exit "$EXIT_COPY_TOO_LARGE"
fi
for r; do
  set -- "$@" -C "${r%/*}" "./${r##*/}"
  shift
done
exec tar -cf - -I 'gzip -1' --hard-dereference "$@"
