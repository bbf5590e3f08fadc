#!/bin/sh
# Hold an exclusive lock on one GPU of this host for as long as our stdin stays open.
# Usage: gpu_lock.sh PRIVATE_BASE SHARED_DIR GPU HOLDER
# Prints "busy <who holds it>" once when another process holds it, then "acquired" when it is ours.
# The lock is flock(2): the kernel releases it when its holder dies, so a crashed evaluation or a
# dropped connection never leaves the GPU locked. Two locks, taken in this order:
# - ours: PRIVATE_BASE-<uid>/gpu<GPU>.lock, in a folder made 0700 and trusted only when it is a real
#   folder, ours and private (in sticky /tmp no one else can then rename or plant anything in it);
#   it serialises our own servers and carries the holder's description;
# - the host's: SHARED_DIR/gpu<GPU>.lock (empty if not wanted), shared with other users so that two
#   people never time on one GPU at once. It is created with O_EXCL (set -C: a planted link is never
#   followed to make a file), opened read-only and never written, so a link planted there can make
#   us wait, never write anything.
readonly EXIT_LOCK_FILE=102 EXIT_NO_FLOCK=103 EXIT_LOCK_DIR_UNSAFE=104
base=$1
shared=$2
gpu=$3
holder=$4
command -v flock >/dev/null 2>&1 || exit "$EXIT_NO_FLOCK"
umask 077
mine="$base-$(id -u)"
mkdir -m 700 "$mine" 2>/dev/null
if [ -L "$mine" ] || [ ! -d "$mine" ] || [ ! -O "$mine" ] || [ "$(stat -c %a "$mine")" != 700 ]; then
  echo "bifrost: $mine is not a private folder of this user (a link, another user's, or open to others); remove it, or ask who made it" >&2
  exit "$EXIT_LOCK_DIR_UNSAFE"
fi
file="$mine/gpu$gpu.lock"
exec 9>>"$file" || exit "$EXIT_LOCK_FILE"
if ! flock -n 9; then
  printf 'busy %s\n' "$(head -c 400 "$file" | tr '\n' ' ')"
  flock 9 || exit "$EXIT_LOCK_FILE"
fi
if [ -n "$shared" ]; then
  if mkdir "$shared" 2>/dev/null; then chmod 1777 "$shared"; fi
  sfile="$shared/gpu$gpu.lock"
  (set -C && umask 022 && : >"$sfile") 2>/dev/null
  if [ -f "$sfile" ] && [ -r "$sfile" ]; then
    exec 8<"$sfile"
    if ! flock -n 8; then
      echo "busy another user of this host"
      flock 8 || exit "$EXIT_LOCK_FILE"
    fi
  else
    echo "bifrost: the host-wide lock $sfile cannot be used (not a readable file); only this user's runs are serialised" >&2
  fi
fi
printf '%s, pid %s, since %s\n' "$holder" "$$" "$(date -u +%H:%M:%SZ)" >"$file"
echo acquired
# Wait for the client to close stdin (or the channel to die). cat must not inherit the lock fds,
# so that killing this shell frees the GPU even while cat lingers.
cat >/dev/null 8<&- 9<&-
exit 0
