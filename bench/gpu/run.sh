#!/usr/bin/env bash
# Runs ON the GPU machine (the device tool), in the repository root, with bench/gpu/carry/ from prepare.sh.
# One prepared call per issue, each step in its own time box, the call inside its budget:
#   correctness (issue 10, 300 s): abi        abi_check.c against the real nccl.h / cuda_runtime_api.h and ours
#                                  gpu-tests  every gpu-tagged test but the two-rank ones
#                                  two-ranks  a sender and a receiver JVM on GPU 0 (NCCL >= 2.30)
#   performance (issue 11, 420 s): jmh        each JMH class matching PANAMANCCL_JMH_PATTERN (.*Gpu.*) on its own
#                                  torch      bench/gpu/torch_peer.py on the same inventories and bytes
#                                  (then `bench gpu-report`: merged scores, every ratio with its target)
#   all (both, 540 s).
# The library search and the versions come from the project's own `info` command; results land in $OUT (the
# device tool returns at most 8 files), else bench/results/gpu-local/. Exit: 0 no step failed, 1 a step failed,
# 2 no GPU or no NCCL (nothing run).
# Usage: bash bench/gpu/run.sh correctness|performance|all [--force] [--steps STEP,...]
#   --force  run without a GPU or NCCL (tests this script, e.g. over the fake libraries, bench/gpu/README.md)
#   --steps  only these steps of the call (a rerun of the failed ones)
# Overrides: PANAMANCCL_NCCL_PATH / PANAMANCCL_CUDART_PATH (the libraries, as for the library itself),
#   PANAMANCCL_NCCL_INCLUDE / PANAMANCCL_CUDA_INCLUDE (header folders), PANAMANCCL_GPU_RUN_BUDGET_S,
#   PANAMANCCL_GPU_MODEL_MIB (16384) and PANAMANCCL_GPU_BUCKET_MIB (1024) for JMH and torch alike,
#   PANAMANCCL_JMH_PATTERN, PANAMANCCL_JMH_OPTIONS ("-wi 1 -i 3 -w 2s -r 2s"), PANAMANCCL_TORCH_DEVICE (cuda),
#   PYTHON (python3).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="$REPO/bench/gpu/carry"
JAVA="$CARRY/jre/bin/java"
OUTDIR="${OUT:-$REPO/bench/results/gpu-local}"
MODEL_MIB="${PANAMANCCL_GPU_MODEL_MIB:-16384}"
BUCKET_MIB="${PANAMANCCL_GPU_BUCKET_MIB:-1024}"
JMH_PATTERN="${PANAMANCCL_JMH_PATTERN:-.*Gpu.*}"
read -r -a JMH_OPTIONS <<< "${PANAMANCCL_JMH_OPTIONS:--wi 1 -i 3 -w 2s -r 2s}"
PYTHON="${PYTHON:-python3}"
INVENTORIES=(qwen3-30b-a3b qwen3-next-80b-a3b)
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}" # NCCL's own warnings explain a failed init in run.log

usage() { echo "usage: bash bench/gpu/run.sh correctness|performance|all [--force] [--steps STEP,...]" >&2; exit 64; }
case "${1:-}" in
  correctness) call=correctness steps="abi,gpu-tests,two-ranks" budget=300 issue=10 ;;
  performance) call=performance steps="jmh,torch" budget=420 issue=11 ;;
  all) call=all steps="abi,gpu-tests,two-ranks,jmh,torch" budget=540 issue="10 and 11" ;;
  *) usage ;;
esac
command_line="bash bench/gpu/run.sh $*"
shift
force=0
while (( $# > 0 )); do
  case "$1" in
    --force) force=1; shift ;;
    --steps) (( $# >= 2 )) || usage
             for step in ${2//,/ }; do
               [[ ",$steps," == *",$step,"* ]] || { echo "the $call call has no step '$step' (it has $steps)" >&2; exit 64; }
             done
             steps="$2"; shift 2 ;;
    *) usage ;;
  esac
done
BUDGET_S="${PANAMANCCL_GPU_RUN_BUDGET_S:-$budget}"
DEADLINE=$((SECONDS + BUDGET_S))
selected() { [[ ",$steps," == *",$1,"* ]]; }

mkdir -p "$OUTDIR"
rm -f "$OUTDIR"/{summary.txt,run.log,abi-check.txt,junit-reports.tar.gz,jmh-gpu.json,jmh-gpu.meta.json,torch-peer-*.json}
WORK="$(mktemp -d /tmp/panamanccl-gpu-run.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/junit" "$WORK/jmh"
STEP_LINES=() FAILED=0
: > "$WORK/details.txt"

record() {  # record STEP STATUS NOTE
  STEP_LINES+=("$(printf '%-8s %-32s %s' "$2" "$1" "$3")")
  [[ "$2" == FAIL ]] && FAILED=1
  echo "== $1: $2 - $3"
}
detail() { printf '%s\n' "$@" >> "$WORK/details.txt"; }
banner() { echo; echo "=================== $* ($(date -u +%H:%M:%S), $((DEADLINE - SECONDS)) s of the budget left)"; }
# time_box STEP CAP: T = the seconds STEP may take, its cap cut to what is left of the budget; with less than 15 s
# left, STEP is recorded as FAIL (the call is incomplete) and the status is 1.
time_box() {
  local left=$((DEADLINE - SECONDS))
  if (( left < 15 )); then record "$1" FAIL "not run: the budget of ${BUDGET_S} s was used up"; return 1; fi
  T=$(($2 < left ? $2 : left))
}
JAVA_RUN=("$JAVA" --enable-native-access=ALL-UNNAMED -Xmx8g -cp "$CARRY/lib/*")
count_of() { sed -n "s/^\[ *\([0-9][0-9]*\) $1 *\]/\1/p" "$2" | tail -1; }  # JUnit's "[ N tests found ]"

# ---------------------------------------------------------------- environment: nvidia-smi and the `info` command
environment() {
  GPU="" GPU_PROBLEM="" NCCL_PROBLEM="" NCCL_CODE="" NCCL_INCLUDE="" CUDA_INCLUDE=""
  if ! command -v nvidia-smi >/dev/null; then
    GPU_PROBLEM="nvidia-smi not found"
  elif ! GPU="$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id --format=csv,noheader 2>&1)"; then
    GPU_PROBLEM="nvidia-smi: $(head -1 <<<"$GPU")"
  elif [[ -z "$GPU" ]]; then
    GPU_PROBLEM="nvidia-smi lists no GPU"
  fi
  # The library looks for NVIDIA's wheels in VIRTUAL_ENV: name the environment of the python that holds torch.
  if [[ -z "${VIRTUAL_ENV:-}" ]] && command -v "$PYTHON" >/dev/null; then
    VIRTUAL_ENV="$("$PYTHON" -c 'import sys; print(sys.prefix if sys.prefix != sys.base_prefix else "")' 2>/dev/null)"
    [[ -n "$VIRTUAL_ENV" ]] && export VIRTUAL_ENV || unset VIRTUAL_ENV
  fi
  TORCH="$(timeout 90 "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 \
    | tail -1)" || TORCH="not importable by $PYTHON: $TORCH"
  if [[ ! -x "$JAVA" ]]; then
    INFO="carry missing: run 'bash bench/gpu/prepare.sh' here and pass carry [\"bench/gpu/carry\"]"
    NCCL_PROBLEM="unknown ($INFO)"
    return
  fi
  INFO="$(timeout 60 "${JAVA_RUN[@]}" io.github.panamanccl.cli.Main info 2>&1)"
  NCCL_LIB="$(sed -n 's/^NCCL (libnccl.so.2): \(\/.*\)$/\1/p' <<<"$INFO")"
  NCCL_CODE="$(sed -n '/^NCCL (/,/version:/s/.*(code \([0-9]*\)).*/\1/p' <<<"$INFO")"
  CUDART_LIB="$(sed -n 's/^CUDA runtime (libcudart.so.13): \(\/.*\)$/\1/p' <<<"$INFO")"
  [[ -n "$NCCL_LIB" ]] || NCCL_PROBLEM="libnccl.so.2 not found; the info report in run.log lists where it looked"
  NCCL_INCLUDE="${PANAMANCCL_NCCL_INCLUDE:-${NCCL_LIB:+$(dirname "$(dirname "$NCCL_LIB")")/include}}"
  CUDA_INCLUDE="${PANAMANCCL_CUDA_INCLUDE:-/usr/local/cuda/include}"
  [[ -f "$CUDA_INCLUDE/cuda_runtime_api.h" || -z "$CUDART_LIB" ]] \
    || CUDA_INCLUDE="$(dirname "$(dirname "$CUDART_LIB")")/include"
}

# ---------------------------------------------------------------- abi (correctness)
abi_half() {  # abi_half NAME DEFINE HEADER INCLUDE...: builds ours and the real one, compares, checks signatures
  local name="$1" define="$2" header="$3" cc="$4" source="$REPO/bench/gpu/abi_check.c" report="$OUTDIR/abi-check.txt"
  shift 4
  local real=("$@") out="$WORK/abi-$name" flags=(-std=gnu11 -Wall -Werror=incompatible-pointer-types "$define")
  echo "## $name half: ours (native-headers/) against the real $header" >> "$report"
  if ! { timeout 30 "$cc" "${flags[@]}" -I"$REPO/native-headers" -o "$out-ours" "$source" \
      && timeout 30 "$cc" "${flags[@]}" -DABI_HEADERS_REAL "${real[@]}" -o "$out-real" "$source" \
      && "$out-ours" > "$out-ours.txt"; } >> "$report" 2>&1; then
    ABI_NOTES+=("$name: abi_check.c does not compile (abi-check.txt)")
    return 1
  fi
  "$out-real" "$out-ours.txt" >> "$report"
  local compared=$? signatures=match
  timeout 30 "$cc" "${flags[@]}" -DABI_HEADERS_REAL -DABI_CHECK_SIGNATURES "${real[@]}" -c -o "$out-sig.o" "$source" \
    >> "$report" 2>&1 || signatures=MISMATCH
  ABI_NOTES+=("$name $(tail -1 "$report" | grep -o 'matched.*'), signatures $signatures")
  (( compared == 0 )) && [[ "$signatures" == match ]]
}

step_abi() {
  time_box abi 60 || return
  local cc; cc="$(command -v gcc || command -v cc || command -v clang)" \
    || { record abi SKIPPED "no C compiler (gcc, cc, clang)"; return; }
  ABI_NOTES=() missing=() ok=1
  if [[ -f "${NCCL_INCLUDE:-/none}/nccl.h" && -f "$CUDA_INCLUDE/cuda_runtime_api.h" ]]; then
    abi_half nccl -DABI_WITH_NCCL "$NCCL_INCLUDE/nccl.h" "$cc" -I"$NCCL_INCLUDE" -I"$CUDA_INCLUDE" || ok=0
  else
    missing+=("NCCL half NOT CHECKED: no nccl.h in '${NCCL_INCLUDE:-?}' (the include folder beside the libnccl.so.2 info found) or no cuda_runtime.h in '$CUDA_INCLUDE' (nccl.h includes it); set PANAMANCCL_NCCL_INCLUDE / PANAMANCCL_CUDA_INCLUDE")
  fi
  if [[ -f "$CUDA_INCLUDE/cuda_runtime_api.h" ]]; then
    abi_half cuda -DABI_WITH_CUDA "$CUDA_INCLUDE/cuda_runtime_api.h" "$cc" -I"$CUDA_INCLUDE" || ok=0
  else
    missing+=("CUDA half NOT CHECKED: no cuda_runtime_api.h in '$CUDA_INCLUDE'; set PANAMANCCL_CUDA_INCLUDE")
  fi
  printf '%s\n' "${missing[@]}" >> "$OUTDIR/abi-check.txt"
  grep -E '^(MISMATCH|ABSENT|info\.)' "$OUTDIR/abi-check.txt" | sed 's/^/  abi: /' >> "$WORK/details.txt"
  local note; note="$(IFS=';'; echo "${ABI_NOTES[*]:-}${missing[*]:+; ${missing[*]}}")"
  if (( ! ok )); then record abi FAIL "$note (abi-check.txt)"
  elif (( ${#ABI_NOTES[@]} == 0 )); then record abi SKIPPED "$note"
  elif (( ${#missing[@]} > 0 )); then record abi PARTIAL "$note"
  else record abi PASS "$note"; fi
}

# ---------------------------------------------------------------- JUnit steps (correctness)
junit_step() {  # junit_step STEP CAP LAUNCHER-SELECTION...
  local step="$1" cap="$2"; shift 2
  time_box "$step" "$cap" || return
  local t=$T
  [[ -x "$JAVA" ]] || { record "$step" FAIL "$INFO"; return; }
  (cd "$WORK" && timeout -k 10 "$t" "${JAVA_RUN[@]}" org.junit.platform.console.ConsoleLauncher execute --scan-class-path="$CARRY/lib/panama-nccl-tests.jar" "$@" \
    --reports-dir "$WORK/junit/$step" --details=tree --disable-banner --disable-ansi-colors \
    --config=junit.jupiter.execution.timeout.default=120s) 2>&1 | tee "$WORK/$step.out"
  local rc=${PIPESTATUS[0]} out="$WORK/$step.out"
  local counts; counts="$(count_of 'tests found' "$out") found, $(count_of 'tests successful' "$out") passed, $(count_of \
    'tests failed' "$out") failed, $(count_of 'tests aborted' "$out") aborted, $(count_of 'tests skipped' "$out") skipped"
  detail "$step: $counts (launcher exit $rc)"
  grep -E '✘|↷|\[X\]|\[S\]' "$out" | head -20 | sed "s/^/  $step: /" >> "$WORK/details.txt"
  if (( rc == 124 || rc == 137 )); then record "$step" FAIL "timed out after $t s ($counts so far)"
  elif grep -q 'Error scanning files' "$out"; then record "$step" FAIL "the launcher could not scan the test jar"
  elif (( rc != 0 )); then record "$step" FAIL "$counts"
  elif [[ "$(count_of 'tests found' "$out")" == 0 ]]; then record "$step" FAIL "no test selected by $*"
  elif [[ "$(count_of 'tests successful' "$out")" == 0 ]]; then record "$step" SKIPPED "$counts: $(grep -m1 -o \
    'Assumption failed: .*' "$out" || echo 'see run.log')"
  else record "$step" PASS "$counts"; fi
}

step_two_ranks() {
  if [[ -n "${NCCL_CODE:-}" ]] && (( NCCL_CODE < 23000 )); then
    record two-ranks SKIPPED "NCCL code $NCCL_CODE: two ranks cannot share a GPU before NCCL 2.30 (NCCL_MULTI_RANK_GPU_ENABLE)"
    return
  fi
  junit_step two-ranks 150 --include-tag two-ranks
  [[ -f "$WORK/target/sync-processes/measurements.txt" ]] && sed 's/^/  two-ranks: /' \
    "$WORK/target/sync-processes/measurements.txt" >> "$WORK/details.txt"
}

pack_junit_reports() {  # XML reports and the two-rank processes' output: one file (the device tool returns 8)
  [[ -d "$WORK/target/sync-processes" ]] && cp -r "$WORK/target/sync-processes" "$WORK/junit/"
  [[ -n "$(ls -A "$WORK/junit")" ]] && tar -czf "$OUTDIR/junit-reports.tar.gz" -C "$WORK" junit
}

# ---------------------------------------------------------------- performance
step_jmh() {
  [[ -x "$JAVA" ]] || { record jmh FAIL "$INFO"; return; }
  local classes; classes="$(timeout 60 "${JAVA_RUN[@]}" org.openjdk.jmh.Main -l "$JMH_PATTERN" 2>&1 \
    | sed -n '/^Benchmarks:/,$p' | tail -n +2 | sed 's/\.[^.]*$//' | sort -u)"
  [[ -n "$classes" ]] || { record jmh SKIPPED "no JMH benchmark matches $JMH_PATTERN"; return; }
  local left_classes; left_classes="$(grep -c . <<<"$classes")"
  local torch_reserve=20 class
  selected torch && torch_reserve=170
  for class in $classes; do
    local name="jmh ${class##*.}" env=()
    left_classes=$((left_classes - 1))
    if [[ "$class" == *TwoRank* ]]; then
      if [[ -n "${NCCL_CODE:-}" ]] && (( NCCL_CODE < 23000 )); then
        record "$name" SKIPPED "NCCL code $NCCL_CODE: two ranks cannot share a GPU before NCCL 2.30"; continue
      fi
      env=(NCCL_MULTI_RANK_GPU_ENABLE=1)
    fi
    # Later classes keep at least 40 s each; the torch steps keep their share.
    time_box "$name" $((DEADLINE - SECONDS - torch_reserve - 40 * left_classes)) || continue
    local t=$T
    (( t >= 30 )) || { record "$name" FAIL "not run: $t s left for it in the budget"; continue; }
    # jmh.ignoreLock: the classes run one after another here, and nothing else on the machine runs JMH.
    env "${env[@]}" timeout -k 10 "$t" "${JAVA_RUN[@]}" -Djmh.ignoreLock=true io.github.panamanccl.bench.BenchMain "^${class}\\." -f 1 "${JMH_OPTIONS[@]}" -p "modelMiB=$MODEL_MIB" \
      -p "bucketMiB=$BUCKET_MIB" -foe true -rf json -rff "$WORK/jmh/jmh-${class##*.}.json" 2>&1 | tee "$WORK/jmh.out"
    local rc=${PIPESTATUS[0]}
    sed -n '/^Benchmark /,/^$/p' "$WORK/jmh.out" | sed "s/^/  $name: /" >> "$WORK/details.txt"
    if (( rc == 124 || rc == 137 )); then record "$name" FAIL "timed out after $t s"
    elif (( rc != 0 )); then record "$name" FAIL "exit $rc: $(grep -m1 -E 'Exception|Error' "$WORK/jmh.out")"
    else record "$name" PASS "$(grep -c '"benchmark"' "$WORK/jmh/jmh-${class##*.}.json") score(s)"; fi
  done
}

step_torch() {  # step_torch INVENTORY
  local step="torch $1" json="$OUTDIR/torch-peer-$1.json"
  [[ "$TORCH" == torch* ]] || { record "$step" SKIPPED "$TORCH"; return; }
  time_box "$step" 80 || return
  local t=$T
  PYTHONUNBUFFERED=1 timeout -k 10 "$t" "$PYTHON" "$REPO/bench/gpu/torch_peer.py" --inventory "$1" \
    --max-bytes "${MODEL_MIB}MiB" --device "${PANAMANCCL_TORCH_DEVICE:-cuda}" --repeat 3 \
    --time-budget $((t > 40 ? t - 30 : t / 2)) --out "$json" > "$WORK/torch.out" 2>&1
  local rc=$?
  tail -5 "$WORK/torch.out"
  if (( rc == 124 || rc == 137 )); then record "$step" FAIL "timed out after $t s (measured so far: $json)"
  elif (( rc != 0 )); then record "$step" FAIL "exit $rc: $(tail -1 "$WORK/torch.out")"
  elif grep -q '"reconstruction_verified": true' "$json"; then record "$step" PASS "torch-peer-$1.json"
  else record "$step" FAIL "the flattened path's views differ from the tensors ($json)"; fi
}

report() {  # the merged JMH file and the ratio table, by the bench module's own command
  [[ -x "$JAVA" ]] || return
  timeout 60 "${JAVA_RUN[@]}" io.github.panamanccl.bench.BenchMain gpu-report "$WORK/jmh" "$OUTDIR" > "$WORK/report.txt" 2>&1 \
    || record report FAIL "bench gpu-report failed: $(tail -1 "$WORK/report.txt")"
}

# ---------------------------------------------------------------- summary
summary() {
  {
    echo "panama-nccl GPU run: $call (issue $issue), $(date -u +%Y-%m-%dT%H:%M:%SZ), $SECONDS s of a $BUDGET_S s budget"
    echo "command: $(env | grep -E '^(PANAMANCCL_[A-Z_]*|PYTHON)=' | sort | tr '\n' ' ')$command_line"
    echo "carry: $(tr '\n' ' ' < "$CARRY/BUILD-INFO" 2>/dev/null | grep -o 'commit=[^ ]* dirty=[^ ]* built=[^ ]*' || echo missing)"
    echo "GPU (nvidia-smi: name, driver, memory, bus): ${GPU_PROBLEM:-$GPU}"
    echo "torch: $TORCH"
    echo "$INFO"
    echo
    printf '%s\n' "${STEP_LINES[@]}"
    echo
    cat "$WORK/details.txt"
    [[ -f "$WORK/report.txt" ]] && { echo; cat "$WORK/report.txt"; }
    echo
    echo "files: summary.txt run.log $(cd "$OUTDIR" && ls | grep -v -x -e summary.txt -e run.log | tr '\n' ' ')"
    if (( FAILED )); then echo "RESULT: FAIL (exit 1)"; else echo "RESULT: PASS (exit 0)"; fi
  } > "$WORK/summary.txt"
  echo; echo "=================== summary"; cat "$WORK/summary.txt"
  cp "$WORK/summary.txt" "$OUTDIR/summary.txt"
}

main() {
  banner "environment"
  environment
  echo "GPU: ${GPU_PROBLEM:-$GPU}"; echo "torch: $TORCH"; echo "$INFO"
  if [[ -n "${GPU_PROBLEM:-}${NCCL_PROBLEM:-}" ]] && (( ! force )); then
    local text="panama-nccl GPU run ($call): NOT RUN on $(uname -n): ${GPU_PROBLEM:+no GPU ($GPU_PROBLEM)}${GPU_PROBLEM:+${NCCL_PROBLEM:+ and }}${NCCL_PROBLEM:+no NCCL ($NCCL_PROBLEM)}. This script is for the H200 device machine: build the carry here with 'bash bench/gpu/prepare.sh', then call the device tool with command 'bash bench/gpu/run.sh $call' and carry [\"bench/gpu/carry\"] (bench/gpu/README.md); '--force' runs the steps anyway to test this script. Nothing was measured. Exit status 2."
    echo; fold -s -w 110 <<<"$text" | tee "$OUTDIR/summary.txt"
    return 2
  fi
  selected abi && { banner abi; step_abi; }
  selected gpu-tests && { banner "gpu-tests"; junit_step gpu-tests 150 --include-tag gpu --exclude-tag two-ranks; }
  selected two-ranks && { banner "two-ranks"; step_two_ranks; }
  [[ "$call" != performance ]] && pack_junit_reports
  selected jmh && { banner "jmh ($JMH_PATTERN)"; step_jmh; }
  if selected torch; then
    for inventory in "${INVENTORIES[@]}"; do banner "torch $inventory"; step_torch "$inventory"; done
  fi
  [[ "$call" != correctness ]] && { banner report; report; }
  summary
  return $FAILED
}

main 2>&1 | tee "$WORK/run.log"
status=${PIPESTATUS[0]}
cp "$WORK/run.log" "$OUTDIR/run.log"
exit "$status"
