#!/usr/bin/env bash
# A CPU-only program linked against libcudaseg.so needs no CUDA library: ldd
# shows none as a dependency of the library or the program, and the program
# runs with LD_LIBRARY_PATH unset and /etc/ld.so.cache ignored (the CUDA
# toolkit's folders are reachable only through the cache), mapping no CUDA
# library and staying under MAX_RSS_MIB of resident memory.
# Usage: cpu_only.sh PROGRAM LIBCUDASEG MAX_RSS_MIB
set -euo pipefail
program="$1"
lib="$2"
max_mib="$3"
fail() { echo "cpu_only: $*" >&2; exit 1; }

for file in "$lib" "$program"; do
  deps="$(ldd "$file")"
  if grep -E 'libcudart|libcublas|libcudnn' <<<"$deps"; then
    fail "$(basename "$file") depends on a CUDA library"
  fi
done
interpreter="$(readelf -l "$program" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
[ -x "$interpreter" ] || fail "cannot find the program interpreter of $program"
env -u LD_LIBRARY_PATH "$interpreter" --inhibit-cache "$program" "$max_mib"
