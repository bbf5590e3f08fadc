#!/usr/bin/env bash
# push, the target's half (ops/push/stream.py is the other): list the destination, then apply one
# tar stream on "go", or end on "stop" / end of input.
#
# Args:   WORKDIR DEST MANIFEST STATE_DIR END_MARKER HASH_BYTES LOCK_WAIT_S PYTHON BLOCKS_PY KNOWN
#   WORKDIR     the real workdir: DEST must resolve strictly inside it (the client checks the rest)
#   HASH_BYTES  empty, or the length of the NUL-separated paths on stdin to sha256 (checksum mode)
#   PYTHON HELPER  the target's python and the text of remote/push_helper.py (gunzip, big files by delta)
#   KNOWN       empty, or the token of the tree the client remembers (ops/push/tree_cache.py)
# stdin:  [paths to hash] ["blocks N\n" + N bytes of NUL-separated block-size/path pairs]...
#         then "go\n" or "go inflate\n" (inflate with python, not gzip) + gzip'd tar, "go zstd\n" + a
#         zstd'd tar (only after C zstd), or "go raw\n" + tar (a stream of incompressible data), or "stop\n"
# stdout: NUL-separated records: R <real dest>; C zstd when zstd is installed here (the client may then
#         pack with it); then S <token> when the tree is the one KNOWN names,
#         else T <token>, L and the listing records (ops/push/remote_tree.py), H <hashes>, M <manifest
#         paths>; then END_MARKER. After each "blocks" request, K, B <path block hashes>... and
#         END_MARKER again. After a stream is applied: U, the records of the paths in
#         .bifrost/touched that still exist, and Z.
# The tar holds files/<path>, delta/<path> (a big file's changed blocks, rebuilt here against the old
# copy and checked against the sent sha256) and .bifrost/{delete,rmdir,manifest,touched,complete}; `complete`
# comes last, so its presence proves the stream arrived whole. Nothing is changed before that.
# A lock on the real destination (flock, held until the end) serialises pushes to one folder.
# Exit codes: errors.RemoteExit, under the same names.
readonly EXIT_MISSING_TOOLS=69 EXIT_PUSH_STAGING=80 EXIT_PUSH_EXTRACT=81 EXIT_PUSH_CUT_SHORT=82 \
  EXIT_PUSH_DEST_MOVED=83 EXIT_PUSH_DELETE=84 EXIT_PUSH_PLACE=85 EXIT_PUSH_MANIFEST=86 EXIT_PUSH_BUSY=87 \
  EXIT_PUSH_DELTA_MISMATCH=88
root=$1 d=$2 m=$3 state=$4 marker=$5 hash_bytes=$6 lock_wait=$7 py=$8 helper=$9 known=${10}
umask 077 # folders we make are private; files keep the modes they have locally (tar -p below)

r=$(realpath -m -- "$d") || exit "$EXIT_PUSH_DEST_MOVED"
case "$r" in "$root"/?*) ok=1 ;; *) ok=0 ;; esac
if [ "$ok" = 1 ]; then
  command -v flock >/dev/null 2>&1 || { echo "bifrost: flock (util-linux) is not installed" >&2; exit "$EXIT_MISSING_TOOLS"; }
  mkdir -p "$state/locks" "$state/staging" || exit "$EXIT_PUSH_STAGING"
  h=$(printf %s "$r" | sha256sum)
  exec 9>>"$state/locks/${h:0:32}" || exit "$EXIT_PUSH_STAGING"
  flock -w "$lock_wait" 9 || { echo "bifrost: another push to $r is still running" >&2; exit "$EXIT_PUSH_BUSY"; }
fi

# One record a line (see ops/push/remote_tree.py); folders without size, mtime and mode. With %p for the
# paths given after a push (./x).
fmt='\n%y\0%s\0%T@\0%m\0%P\0%l\0' dfmt='\n%y\0\0\0\0%P\0\0'
printf 'R\0%s\0' "$r"
if command -v zstd >/dev/null 2>&1; then printf 'C\0zstd\0'; fi
sp=$state/staging
list=/dev/null
if [ "$ok" = 1 ] && [ -d "$r" ]; then
  list=$sp/listing.$$ # ours while we hold the lock; the staging sweep takes one a kill left behind
  # (find's status is not checked: a folder a job made unreadable is listed as far as it can be)
  (cd "$r" && find . -mindepth 1 -name .git -prune -o \( -type d -printf "$dfmt" \) -o -printf "$fmt") >"$list"
fi
# The token: both sides can compute it whatever order find walked in (sorted lines). Few processes:
# each costs a fork and an exec on every push.
lsum=$(LC_ALL=C sort <"$list" | sha256sum)
if [ "$ok" = 1 ] && [ -f "$m" ]; then msum=$(sha256sum <"$m"); else msum=$(sha256sum </dev/null); fi
tok=${lsum:0:64}:${msum:0:64}
same=0
if [ "$tok" = "$known" ]; then
  same=1
  printf 'S\0%s\0' "$tok"
else
  printf 'T\0%s\0L\0' "$tok"
  cat -- "$list"
fi
[ "$list" = /dev/null ] || rm -f -- "$list"
if [ -n "$hash_bytes" ]; then
  printf 'H\0'
  if [ "$ok" = 1 ] && [ -d "$r" ]; then
    head -c "$hash_bytes" | (cd "$r" && xargs -0 -r sha256sum -z -- 2>/dev/null)
  else
    head -c "$hash_bytes" >/dev/null
  fi
fi
if [ "$same" = 0 ]; then
  printf 'M\0'
  if [ "$ok" = 1 ]; then cat -- "$m" 2>/dev/null; fi
fi
printf '%s\0' "$marker"

# Big changed files: the client asks for the block hashes of our copies, then decides what to send.
while IFS= read -r go || exit 0; do
  case $go in
    "blocks "*)
      printf 'K\0'
      if [ "$ok" = 1 ]; then
        head -c "${go#blocks }" | { "$py" -S -c "$helper" hashes "$r" "$state" 2>/dev/null || cat >/dev/null; }
      else
        head -c "${go#blocks }" >/dev/null
      fi
      printf '%s\0' "$marker" ;;
    *) break ;;
  esac
done
case $go in go | "go inflate" | "go zstd" | "go raw") ;; *) exit 0 ;; esac
[ "$ok" = 1 ] || exit "$EXIT_PUSH_DEST_MOVED"
mkdir -p "$sp" "$r" "${m%/*}" || exit "$EXIT_PUSH_STAGING"
# a push killed outright (SIGKILL) cannot clean up: its staging goes a day later; block hashes
# (push_helper.py) of a file no delta has touched for 30 days go too
find "$sp" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null
find "$state/blocks" -mindepth 1 -maxdepth 1 -mtime +30 -delete 2>/dev/null
s=$(mktemp -d "$sp/XXXXXXXX") || exit "$EXIT_PUSH_STAGING"
trap 'rm -rf "$s"' EXIT
trap exit HUP INT PIPE TERM # a signal ends the script, and so runs the EXIT trap
# "go inflate" (a big stream): python's zlib inflates stored (incompressible) data ten times faster than
# GNU gzip, which starts 20-50 ms sooner and so stays for small streams (and where python is missing)
if [ "$go" = "go raw" ]; then
  tar -xpf - -C "$s" --no-same-owner
elif [ "$go" = "go zstd" ]; then
  zstd -dcq | tar -xpf - -C "$s" --no-same-owner
  [ "${PIPESTATUS[0]}${PIPESTATUS[1]}" = 00 ]
elif [ "$go" = "go inflate" ] && command -v -- "$py" >/dev/null 2>&1; then
  "$py" -S -c "$helper" gunzip | tar -xpf - -C "$s" --no-same-owner
  [ "${PIPESTATUS[0]}${PIPESTATUS[1]}" = 00 ]
else
  tar -xzpf - -C "$s" --no-same-owner
fi || { echo "bifrost: tar could not extract the stream" >&2; exit "$EXIT_PUSH_EXTRACT"; }
[ -f "$s/.bifrost/complete" ] || { echo "bifrost: the stream ended early" >&2; exit "$EXIT_PUSH_CUT_SHORT"; }
{ cd "$r" && [ "$(pwd -P)" = "$r" ]; } || { echo "bifrost: $r moved during the push" >&2; exit "$EXIT_PUSH_DEST_MOVED"; }
if [ -d "$s/delta" ]; then # rebuilt into $s/files; a wrong sha256 exits 88, before anything is placed
  "$py" -S -c "$helper" apply "$r" "$s" "$state"
  rc=$?
  [ "$rc" = 0 ] || [ "$rc" = "$EXIT_PUSH_DELTA_MISMATCH" ] || echo "bifrost: rebuilding a big file from its changed blocks failed" >&2
  [ "$rc" = 0 ] || exit "$EXIT_PUSH_DELTA_MISMATCH"
fi
# Re-checked now, after the stream: a folder swapped for a link during the push (by a job, or by
# another user who may write there) is never written or deleted through. Nothing was changed yet.
export LC_ALL=C
if [ -d "$s/files" ]; then
  while IFS= read -r -d '' dir; do
    if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -d "$dir" ]; }; then
      echo "bifrost: $r/$dir became a link or a file during the push; nothing was changed" >&2
      exit "$EXIT_PUSH_DEST_MOVED"
    fi
  done < <(cd "$s/files" && find . -mindepth 1 -type d -printf '%P\0')
fi
# Only files and links that an earlier push made (the manifest) are named here: never rm -r. Only
# those find reaches from here without following a link are removed.
if [ -s "$s/.bifrost/delete" ]; then
  comm -12z <(sort -z "$s/.bifrost/delete") <(find . -mindepth 1 \( -type f -o -type l \) -printf '%P\0' | sort -z) |
    xargs -0 -r rm -f -- || exit "$EXIT_PUSH_DELETE"
fi
# Folders gone locally, deepest first; one that holds anything else (outputs) stays.
if [ -s "$s/.bifrost/rmdir" ]; then
  comm -12z <(sort -z "$s/.bifrost/rmdir") <(find . -mindepth 1 -type d -printf '%P\0' | sort -z) | sort -rz |
    xargs -0 -r rmdir --ignore-fail-on-non-empty -- || exit "$EXIT_PUSH_DELETE"
fi
if [ -d "$s/files" ]; then
  cd / || exit "$EXIT_PUSH_DEST_MOVED"
  if rmdir "$r" 2>/dev/null; then # an empty destination (first push): one rename
    mv "$s/files" "$r" || exit "$EXIT_PUSH_PLACE"
  else
    cd "$r" || exit "$EXIT_PUSH_DEST_MOVED"
    # hard links: no second copy; plain copies when staging is on another file system
    cp -al --remove-destination "$s/files/." . 2>/dev/null ||
      cp -a --remove-destination "$s/files/." . || exit "$EXIT_PUSH_PLACE"
  fi
fi
if [ -f "$s/.bifrost/manifest" ]; then # sent only when it changed
  mv -f "$s/.bifrost/manifest" "$m" || exit "$EXIT_PUSH_MANIFEST"
fi
# What the paths this push wrote or deleted are now, so the client's remembered tree follows
if [ -f "$s/.bifrost/touched" ] && cd "$r"; then
  printf 'U\0'
  # shellcheck disable=SC2016 # the formats and paths are the inner shell's arguments
  xargs -0 -r bash --norc --noprofile -c 'f=$1 d=$2; shift 2; exec find "$@" -maxdepth 0 \( -type d -printf "$d" \) -o -printf "$f"' \
    restat "${fmt/\%P/%p}" "${dfmt/\%P/%p}" <"$s/.bifrost/touched" 2>/dev/null
  printf 'Z\0'
fi
