#!/usr/bin/env bash
# Builds the native test doubles into $1 under the sonames the loader looks for.
set -euo pipefail
out="$1"
src="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
gcc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$out/libnccl.so.2" "$src/fake_nccl.c"
gcc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$out/libcudart.so.13" "$src/fake_cudart.c"
