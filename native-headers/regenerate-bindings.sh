#!/usr/bin/env bash
# Regenerates bindings/ from our own headers with jextract. Opt-in: `mvn verify` never needs it.
#
#   JEXTRACT=/path/to/jextract native-headers/regenerate-bindings.sh
#
# Made with jextract 23 (openjdk/jextract f9866df, libclang 16.0.6). Steps:
#  1. checks that each header's allow-list (*.includes) names exactly what jextract finds in it,
#     so a declaration added to a header without its allow-list line fails here, not later;
#  2. deletes the old generated packages (no stale files survive);
#  3. runs jextract without -l, so no library path is baked in: symbols resolve through
#     SymbolLookup.loaderLookup(), i.e. the libraries io.github.panamanccl.NativeLibraries loads;
#  4. rewrites `SYMBOL_LOOKUP.findOrThrow(name)` (SymbolLookup.findOrThrow is JDK 23+) to
#     `SYMBOL_LOOKUP.find(name).orElseThrow()`, the same behaviour on JDK 22, our release target.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="$root/bindings"
jextract="${JEXTRACT:-jextract}"
command -v "$jextract" >/dev/null || { echo "jextract not found: set JEXTRACT=/path/to/jextract" >&2; exit 1; }

# header (without .h) : package : header class
targets=(
  "nccl_api:io.github.panamanccl.internal.nccl:NcclApi"
  "cuda_runtime_api_subset:io.github.panamanccl.internal.cuda:CudaRuntimeApi"
)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for target in "${targets[@]}"; do
  IFS=: read -r header package class <<<"$target"
  [ -f "$here/$header.h" ] || { echo "missing header $here/$header.h" >&2; exit 1; }
  "$jextract" --dump-includes "$scratch/$header.all" "$here/$header.h" >/dev/null 2>&1
  grep "^--include.*/$header.h" "$scratch/$header.all" | sed 's/ *#.*//' | sort >"$scratch/$header.found"
  grep -v -E -- '--include-struct (CUstream_st|CUevent_st|ncclComm)$' "$scratch/$header.found" \
    >"$scratch/$header.expected" || true
  grep -v -- '--include-typedef size_t' "$here/$header.includes" | sort >"$scratch/$header.listed"
  if ! diff -u "$scratch/$header.listed" "$scratch/$header.expected"; then
    echo "$header.includes does not match $header.h (diff above: - listed only, + declared only)" >&2
    exit 1
  fi
  rm -rf "$out/${package//.//}"
done

for target in "${targets[@]}"; do
  IFS=: read -r header package class <<<"$target"
  "$jextract" --output "$out" --target-package "$package" --header-class-name "$class" \
    "@$here/$header.includes" "$here/$header.h"
done

find "$out" -name '*.java' -print0 |
  xargs -0 sed -i 's/SYMBOL_LOOKUP\.findOrThrow(\("[A-Za-z0-9_]*"\))/SYMBOL_LOOKUP.find(\1).orElseThrow()/g'
if grep -rl 'findOrThrow' "$out"; then
  echo "findOrThrow left in the files above: the release-22 rewrite needs updating" >&2
  exit 1
fi
echo "bindings regenerated in $out"
