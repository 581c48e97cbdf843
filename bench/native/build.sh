#!/usr/bin/env bash
# Builds the C baselines of the benchmarks into $1 (default bench/target/bench-native).
set -euo pipefail
out="${1:-bench/target/bench-native}"
src="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
gcc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$out/libdowncall_loop.so" "$src/downcall_loop.c" -ldl
gcc -std=c11 -O2 -Wall -Wextra -Werror -DDOWNCALL_LOOP_MAIN -o "$out/downcall_loop" "$src/downcall_loop.c" -ldl
