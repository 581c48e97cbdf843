#!/usr/bin/env bash
# Builds the native test doubles (fixtures, not NVIDIA code) into $1 under the sonames the loader looks for.
# Both include our own API headers from native-headers/, so the fakes and the bindings share one declaration.
set -euo pipefail
out="$1"
src="$(cd "$(dirname "$0")" && pwd)"
headers="$src/../../../native-headers"
mkdir -p "$out"
flags=(-std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -pthread -I "$headers")
gcc "${flags[@]}" -o "$out/libnccl.so.2" "$src/fake_nccl.c" -ldl
gcc "${flags[@]}" -o "$out/libcudart.so.13" "$src/fake_cudart.c"
