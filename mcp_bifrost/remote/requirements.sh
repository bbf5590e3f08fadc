#!/usr/bin/env bash
# requirements.sh: check that this machine has what mcp-bifrost's remote scripts use (README,
# "What a target needs"); print each missing piece on its own line and exit EXIT_MISSING_TOOLS.
readonly EXIT_MISSING_TOOLS=69
missing=()
[ "$(uname -s)" = Linux ] || missing+=("Linux (found $(uname -s))")
for tool in awk base64 cat date find flock gzip mkdir mv ps realpath setsid sha256sum sort tail tar tee xargs; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# GNU flavours: find -printf, realpath -m, tar --hard-dereference, tee -p, date +%N
if command -v find >/dev/null 2>&1 && ! find / -maxdepth 0 -printf '' >/dev/null 2>&1; then missing+=("GNU find (-printf)"); fi
if command -v realpath >/dev/null 2>&1 && ! realpath -m / >/dev/null 2>&1; then missing+=("GNU coreutils (realpath -m)"); fi
if command -v tee >/dev/null 2>&1 && ! tee -p /dev/null </dev/null >/dev/null 2>&1; then missing+=("GNU coreutils (tee -p)"); fi
if command -v tar >/dev/null 2>&1 && ! tar --version 2>/dev/null | grep -q GNU; then missing+=("GNU tar"); fi
[ ${#missing[@]} -eq 0 ] && exit 0
printf '%s\n' "${missing[@]}"
exit "$EXIT_MISSING_TOOLS"
