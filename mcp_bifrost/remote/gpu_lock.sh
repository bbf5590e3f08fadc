#!/bin/sh
# Hold an exclusive lock on one GPU of this host for as long as our stdin stays open.
# Usage: gpu_lock.sh LOCK_DIR GPU HOLDER
# Prints "busy <who holds it>" once when another process holds it, then "acquired" when it is ours.
# The lock is flock(2) on LOCK_DIR/gpu<GPU>.lock: the kernel releases it when its holder dies, so a
# crashed evaluation or a dropped connection never leaves the GPU locked.
readonly EXIT_LOCK_FILE=102 EXIT_NO_FLOCK=103
dir=$1
gpu=$2
holder=$3
command -v flock >/dev/null 2>&1 || exit "$EXIT_NO_FLOCK"
if [ ! -d "$dir" ]; then
  mkdir -p "$dir" 2>/dev/null && chmod 1777 "$dir" 2>/dev/null
fi
file="$dir/gpu$gpu.lock"
if [ ! -e "$file" ]; then
  (umask 0; : > "$file") 2>/dev/null
fi
exec 9<"$file" || exit "$EXIT_LOCK_FILE"
if ! flock -n 9; then
  printf 'busy %s\n' "$(head -c 400 "$file" | tr '\n' ' ')"
  flock 9 || exit "$EXIT_LOCK_FILE"
fi
printf '%s, pid %s, since %s\n' "$holder" "$$" "$(date -u +%H:%M:%SZ)" > "$file" 2>/dev/null
echo acquired
# Wait for the client to close stdin (or the channel to die). cat must not inherit the lock fd,
# so that killing this shell frees the GPU even while cat lingers.
cat >/dev/null 9<&-
exit 0
