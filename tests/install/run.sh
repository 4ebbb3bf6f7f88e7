#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs a
# consumer against it twice: with find_package(cudaseg) (shared and static)
# and with pkg-config.
set -euo pipefail
build="$1"
src="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/consumer" -j 2 >/dev/null
"$work/consumer/consumer"
"$work/consumer/consumer_static" >/dev/null
libdir="$(dirname "$(find "$work/prefix" -name cudaseg.pc | head -1)")"
export PKG_CONFIG_PATH="$libdir"
g++ -std=c++17 "$src/consumer.cpp" -o "$work/pc_consumer" $(pkg-config --cflags --libs cudaseg) \
  -Wl,-rpath,"$(pkg-config --variable=libdir cudaseg)"
"$work/pc_consumer" >/dev/null
echo "install test: find_package (shared, static) and pkg-config consumers ran"
