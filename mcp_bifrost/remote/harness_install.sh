#!/bin/sh
# Install one gpu_harness bundle as ROOT/DIGEST unless it is there already.
# Usage: harness_install.sh ROOT DIGEST
# Prints "present" (and reads nothing) or "need", then reads the bundle (tar.gz) from stdin. The
# bundle ends with a .complete marker, so a stream cut short is never installed; the folder appears
# by one rename, so a reader sees a whole bundle or none.
readonly EXIT_HARNESS_DIR=100 EXIT_HARNESS_BUNDLE=101
root=$1
digest=$2
dest="$root/$digest"
if [ -f "$dest/.complete" ]; then
  echo present
  exit 0
fi
echo need
mkdir -p "$root" || exit "$EXIT_HARNESS_DIR"
incoming=$(mktemp -d "$root/.incoming.XXXXXX") || exit "$EXIT_HARNESS_DIR"
trap 'rm -rf "$incoming"' EXIT
tar -xzf - -C "$incoming" || exit "$EXIT_HARNESS_BUNDLE"
[ -f "$incoming/.complete" ] || exit "$EXIT_HARNESS_BUNDLE"
chmod 755 "$incoming"
# A leftover without .complete (an old crash) is not a bundle: clear it. Another installer that won
# the race leaves an identical bundle (same digest), which is as good as ours.
[ -d "$dest" ] && [ ! -f "$dest/.complete" ] && rm -rf "$dest"
mv -T "$incoming" "$dest" 2>/dev/null || [ -f "$dest/.complete" ] || exit "$EXIT_HARNESS_BUNDLE"
# old bundles (other digests) unused for a week go
find "$root" -mindepth 1 -maxdepth 1 -type d -name '????????????????*' -mtime +7 ! -name "$digest" \
  -exec rm -rf {} + 2>/dev/null
exit 0
