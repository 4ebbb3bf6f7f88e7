#!/usr/bin/env bash
# libcudaseg.so exports the public API and nothing else: the C API
# (cudaseg_*) and the C++ API of the headers include/cudaseg.h documents
# (cudaseg::, with their vtables and typeinfo), none of the internals
# (train::, weights::, the CPU and CUDA kernels), no nlohmann::json, std:: or
# CUB instantiation, at most MAX symbols, and no STB_GNU_UNIQUE symbol (which
# would keep the library loaded after dlclose).
# Usage: exports.sh LIBCUDASEG MAX
set -euo pipefail
lib="$1"
max="$2"
fail() { echo "exports: $*" >&2; exit 1; }

# "ADDRESS TYPE NAME": the name starts at column 20.
names="$(nm -DC --defined-only "$lib" | cut -c 20-)"
count="$(printf '%s\n' "$names" | grep -c .)"
public='^(cudaseg_[a-z0-9_]+|((vtable|typeinfo|typeinfo name|VTT) for |(non-)?virtual thunk to )?cudaseg::.*)$'
outside="$(printf '%s\n' "$names" | grep -Ev "$public" || true)"
[ -z "$outside" ] || fail "symbols outside the public API:
$(printf '%s\n' "$outside" | head -20)"
internal="$(printf '%s\n' "$names" |
  grep -E '^([a-z ]+ for |(non-)?virtual thunk to )?cudaseg::(train|weights|cuda|cli|ops::cpu)::' || true)"
[ -z "$internal" ] || fail "internal symbols exported:
$(printf '%s\n' "$internal" | head -20)"
unique="$(readelf --dyn-syms -W "$lib" | grep -c UNIQUE || true)"
[ "$unique" -eq 0 ] || fail "$unique STB_GNU_UNIQUE symbols exported"
c_api="$(printf '%s\n' "$names" | grep -c '^cudaseg_' || true)"
[ "$c_api" -gt 0 ] || fail "no C API symbol exported"
[ "$count" -le "$max" ] || fail "$count symbols exported, more than the bound of $max"
echo "exports: $count symbols ($c_api of the C API), none internal, no STB_GNU_UNIQUE"
