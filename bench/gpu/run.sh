#!/usr/bin/env bash
# Runs ON the GPU machine (the device tool), in the repository root, with bench/gpu/carry/ made by
# bench/gpu/prepare.sh. One call does every GPU check panama-nccl has, each step in its own time
# box, the whole run inside PANAMANCCL_GPU_RUN_BUDGET_S (default 465 s):
#   env     GPU, driver, CUDA runtime, python3/torch, where libnccl.so.2 and the headers are;
#   abi     bench/gpu/abi_check.c built against the REAL nccl.h / cuda_runtime_api.h and against
#           our native-headers/, outputs compared key by key, function signatures compile-checked;
#   junit   the JUnit console launcher over the test classes, tag `gpu` only;
#   jmh     JMH benchmarks whose name matches PANAMANCCL_JMH_PATTERN (default .*Gpu.*);
#   torch   bench/gpu/torch_peer.py on the qwen3-30b-a3b and qwen3-next-80b-a3b inventories.
# Everything lands in $OUT when set (the device tool brings it back), else bench/results/gpu-local/:
# summary.txt, run.log, abi-check.txt, junit-reports.tar.gz, jmh-gpu.json, torch-peer-<inv>.json
# (at most 8 files: the device tool's limit).
# Exit status: 0 every step passed or was skipped; 1 a step failed; 2 no GPU or no NCCL, nothing run.
# Usage: bash bench/gpu/run.sh [--force] [--steps abi,junit,jmh,torch]
#   --force  run the steps even without a GPU or NCCL (tests the script itself on a CPU machine);
#   --steps  only these steps (default all; a cheaper rerun of the ones that failed).
# Overrides: PANAMANCCL_NCCL_PATH (libnccl.so.2), PANAMANCCL_NCCL_INCLUDE (dir of nccl.h),
#   PANAMANCCL_CUDART_PATH (libcudart.so.13), PANAMANCCL_CUDA_INCLUDE (dir of cuda_runtime_api.h),
#   PANAMANCCL_TORCH_MAX_BYTES (default 16GiB), PANAMANCCL_TORCH_DEVICE (default cuda; cpu tests
#   the torch step without a GPU), PANAMANCCL_JMH_PATTERN, PYTHON (default python3).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GPU_DIR="$REPO/bench/gpu"
CARRY="$GPU_DIR/carry"
OUTDIR="${OUT:-$REPO/bench/results/gpu-local}"
BUDGET_S="${PANAMANCCL_GPU_RUN_BUDGET_S:-465}"
JMH_PATTERN="${PANAMANCCL_JMH_PATTERN:-.*Gpu.*}"
TORCH_MAX_BYTES="${PANAMANCCL_TORCH_MAX_BYTES:-16GiB}"
TORCH_DEVICE="${PANAMANCCL_TORCH_DEVICE:-cuda}"
PYTHON="${PYTHON:-python3}"
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}"  # NCCL's own warnings explain a failed init in run.log
INVENTORIES=(qwen3-30b-a3b qwen3-next-80b-a3b)
OUTPUT_FILES=(summary.txt run.log abi-check.txt junit-reports.tar.gz jmh-gpu.json)
for inventory in "${INVENTORIES[@]}"; do OUTPUT_FILES+=("torch-peer-$inventory.json"); done

force=0 steps="abi,junit,jmh,torch"
usage() { echo "usage: $0 [--force] [--steps abi,junit,jmh,torch]" >&2; exit 64; }
while (( $# > 0 )); do
  case "$1" in
    --force) force=1; shift ;;
    --steps) [[ $# -ge 2 && "$2" =~ ^(abi|junit|jmh|torch)(,(abi|junit|jmh|torch))*$ ]] || usage
             steps="$2"; shift 2 ;;
    *) usage ;;
  esac
done
selected() { [[ ",$steps," == *",$1,"* ]]; }

mkdir -p "$OUTDIR"
for name in "${OUTPUT_FILES[@]}"; do rm -f "$OUTDIR/$name"; done
WORK="$(mktemp -d /tmp/panamanccl-gpu-run.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
DEADLINE=$((SECONDS + BUDGET_S))

STEP_NAMES=() STEP_STATUS=() STEP_NOTES=()
DETAILS="$WORK/details.txt"
: > "$DETAILS"

record() {  # record STEP STATUS NOTE
  STEP_NAMES+=("$1") STEP_STATUS+=("$2") STEP_NOTES+=("$3")
  echo "== $1: $2 - $3"
}

detail() { printf '%s\n' "$@" >> "$DETAILS"; }

# Seconds the next step may take: its own cap, cut to what is left of the whole budget
# (never 0: `timeout 0` would mean no limit at all).
time_box() {
  local cap="$1" left=$((DEADLINE - SECONDS))
  (( left < cap )) && cap=$left
  (( cap < 1 )) && cap=1
  echo "$cap"
}

# True (and recorded as FAIL: the run is incomplete) when too little of the budget is left to start STEP.
out_of_time() {
  if (( DEADLINE - SECONDS < 15 )); then
    record "$1" FAIL "not run: the time budget of ${BUDGET_S} s was used up before this step"
    return 0
  fi
  return 1
}

banner() { echo; echo "=================== $* ($(date -u +%H:%M:%S), $((DEADLINE - SECONDS)) s of budget left)"; }

have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- environment
GPU_INFO="" GPU_PROBLEM="" PY_INFO="" TORCH_INFO=""
NCCL_LIB="" NCCL_INCLUDE="" NCCL_PROBLEM="" NCCL_LIB_VERSION="" CUDART_LIB="" CUDA_INCLUDE=""
CUDART_LIB_VERSION="" DRIVER_VERSION_CODE=""

# The pip wheels of NCCL and the CUDA runtime are namespace packages: nvidia.nccl has no __file__.
PY_FIND_NVIDIA='
import glob, os
roots = []
try:
    import nvidia.nccl
    roots += [os.path.dirname(p) for p in nvidia.nccl.__path__]
except Exception:
    pass
try:
    import nvidia
    roots += list(nvidia.__path__)
except Exception:
    pass
def first(pattern):
    for root in roots:
        hits = sorted(glob.glob(os.path.join(root, pattern)))
        if hits:
            return hits[0]
    return ""
print("nccl_lib=" + first("nccl/lib/libnccl.so.2"))
print("nccl_include=" + os.path.dirname(first("nccl/include/nccl.h")))
print("cudart_lib=" + first("*/lib/libcudart.so.13"))
print("cuda_include=" + os.path.dirname(first("*/include/cuda_runtime_api.h")))
'

# Asks a library itself for its version (no GPU needed): python3 + ctypes.
PY_LIB_VERSION='
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
value = ctypes.c_int(0)
rc = getattr(lib, sys.argv[2])(ctypes.byref(value))
print(value.value if rc == 0 else "error %d" % rc)
'

python_value() {  # python_value KEY  (from $WORK/nvidia-paths.txt)
  sed -n "s/^$1=//p" "$WORK/nvidia-paths.txt" 2>/dev/null | head -1
}

detect_environment() {
  if ! have nvidia-smi; then
    GPU_PROBLEM="nvidia-smi not found"
  elif ! GPU_INFO="$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id --format=csv,noheader 2>&1)" \
      || [[ -z "$GPU_INFO" ]]; then
    GPU_PROBLEM="nvidia-smi failed: $(head -1 <<<"$GPU_INFO")"
    GPU_INFO=""
  fi

  if have "$PYTHON"; then
    PY_INFO="$("$PYTHON" --version 2>&1) at $(command -v "$PYTHON")"
    timeout 60 "$PYTHON" -c "$PY_FIND_NVIDIA" > "$WORK/nvidia-paths.txt" 2>/dev/null
    TORCH_INFO="$(timeout 90 "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available(), "nccl", ".".join(map(str, torch.cuda.nccl.version())) if torch.cuda.is_available() else "-")' 2>/dev/null)" \
      || TORCH_INFO=""
  fi

  NCCL_LIB="${PANAMANCCL_NCCL_PATH:-$(python_value nccl_lib)}"
  if [[ -z "$NCCL_LIB" ]] && have ldconfig; then
    NCCL_LIB="$(ldconfig -p 2>/dev/null | awk '/libnccl\.so\.2 / {print $NF; exit}')"
  fi
  [[ -z "$NCCL_LIB" && -f /usr/lib/x86_64-linux-gnu/libnccl.so.2 ]] && NCCL_LIB=/usr/lib/x86_64-linux-gnu/libnccl.so.2
  if [[ -z "$NCCL_LIB" || ! -f "$NCCL_LIB" ]]; then
    NCCL_PROBLEM="libnccl.so.2 not found (python package nvidia.nccl, ldconfig, /usr/lib/x86_64-linux-gnu; or set PANAMANCCL_NCCL_PATH)"
    NCCL_LIB=""
  fi
  NCCL_INCLUDE="${PANAMANCCL_NCCL_INCLUDE:-$(python_value nccl_include)}"
  if [[ -z "$NCCL_INCLUDE" && -n "$NCCL_LIB" && -f "$(dirname "$NCCL_LIB")/../include/nccl.h" ]]; then
    NCCL_INCLUDE="$(cd "$(dirname "$NCCL_LIB")/../include" && pwd)"
  fi
  [[ -z "$NCCL_INCLUDE" && -f /usr/include/nccl.h ]] && NCCL_INCLUDE=/usr/include
  [[ -n "$NCCL_INCLUDE" && ! -f "$NCCL_INCLUDE/nccl.h" ]] && NCCL_INCLUDE=""

  CUDART_LIB="${PANAMANCCL_CUDART_PATH:-}"
  [[ -z "$CUDART_LIB" && -f /usr/local/cuda/lib64/libcudart.so.13 ]] && CUDART_LIB=/usr/local/cuda/lib64/libcudart.so.13
  [[ -z "$CUDART_LIB" ]] && CUDART_LIB="$(python_value cudart_lib)"
  [[ -n "$CUDART_LIB" && ! -f "$CUDART_LIB" ]] && CUDART_LIB=""
  CUDA_INCLUDE="${PANAMANCCL_CUDA_INCLUDE:-}"
  [[ -z "$CUDA_INCLUDE" && -f /usr/local/cuda/include/cuda_runtime_api.h ]] && CUDA_INCLUDE=/usr/local/cuda/include
  [[ -z "$CUDA_INCLUDE" ]] && CUDA_INCLUDE="$(python_value cuda_include)"
  [[ -n "$CUDA_INCLUDE" && ! -f "$CUDA_INCLUDE/cuda_runtime_api.h" ]] && CUDA_INCLUDE=""

  if have "$PYTHON"; then
    [[ -n "$NCCL_LIB" ]] && NCCL_LIB_VERSION="$(timeout 30 "$PYTHON" -c "$PY_LIB_VERSION" "$NCCL_LIB" ncclGetVersion 2>&1 | tail -1)"
    if [[ -n "$CUDART_LIB" ]]; then
      CUDART_LIB_VERSION="$(timeout 30 "$PYTHON" -c "$PY_LIB_VERSION" "$CUDART_LIB" cudaRuntimeGetVersion 2>&1 | tail -1)"
      DRIVER_VERSION_CODE="$(timeout 30 "$PYTHON" -c "$PY_LIB_VERSION" "$CUDART_LIB" cudaDriverGetVersion 2>&1 | tail -1)"
    fi
  fi
}

environment_report() {
  echo "host:            $(uname -n) ($(uname -sr), $(nproc) cores)"
  echo "gpu:             ${GPU_INFO:-none ($GPU_PROBLEM)}"
  echo "cuda runtime:    ${CUDART_LIB:-not found}${CUDART_LIB_VERSION:+ (cudaRuntimeGetVersion $CUDART_LIB_VERSION, cudaDriverGetVersion $DRIVER_VERSION_CODE)}"
  echo "cuda headers:    ${CUDA_INCLUDE:-not found}"
  echo "nccl library:    ${NCCL_LIB:-none ($NCCL_PROBLEM)}${NCCL_LIB_VERSION:+ (ncclGetVersion $NCCL_LIB_VERSION)}"
  echo "nccl header:     $([[ -n "$NCCL_INCLUDE" ]] && echo "$NCCL_INCLUDE/nccl.h" || echo "not found")"
  echo "python:          ${PY_INFO:-not found}"
  echo "torch:           ${TORCH_INFO:-not importable}"
  echo "java (carry):    $([[ -x "$CARRY/jre/bin/java" ]] && "$CARRY/jre/bin/java" -version 2>&1 | head -1 || echo "missing: run bench/gpu/prepare.sh and pass carry [\"bench/gpu/carry\"]")"
  echo "carry built from: $(tr '\n' ' ' 2>/dev/null < "$CARRY/BUILD-INFO" | grep -o 'commit=[^ ]* dirty=[^ ]* built=[^ ]*' || echo unknown)"
}

# ---------------------------------------------------------------- abi
find_compiler() {
  local candidate
  for candidate in gcc cc clang nvcc; do
    if have "$candidate"; then echo "$candidate"; return 0; fi
  done
  return 1
}

step_abi() {
  banner "abi"
  out_of_time abi && return
  local compiler report="$OUTDIR/abi-check.txt" halves=() includes=() flags=()
  if ! compiler="$(find_compiler)"; then
    record abi SKIPPED "ABI check skipped: no C compiler (gcc, cc, clang, nvcc)"
    return
  fi
  [[ -n "$NCCL_INCLUDE" ]] && halves+=(-DABI_WITH_NCCL) && includes+=(-I"$NCCL_INCLUDE")
  [[ -n "$CUDA_INCLUDE" ]] && halves+=(-DABI_WITH_CUDA) && includes+=(-I"$CUDA_INCLUDE")
  # nccl.h includes cuda_runtime.h: it needs the CUDA include folder even for the NCCL half.
  if (( ${#halves[@]} == 0 )); then
    record abi SKIPPED "ABI check skipped: neither a real nccl.h nor cuda_runtime_api.h found"
    return
  fi
  if [[ "$compiler" == nvcc ]]; then
    flags=(-Xcompiler -Wall,-Werror=incompatible-pointer-types)
  else
    flags=(-std=gnu11 -Wall -Werror=incompatible-pointer-types)
  fi
  local t; t=$(time_box 30)
  local source="$GPU_DIR/abi_check.c" ok=1
  {
    echo "# ABI check: $compiler; real headers: nccl ${NCCL_INCLUDE:-absent}, cuda ${CUDA_INCLUDE:-absent}"
    echo "# halves: ${halves[*]}"
  } > "$report"
  if ! timeout "$t" "$compiler" "${flags[@]}" "${halves[@]}" -DABI_HEADERS_REAL "${includes[@]}" \
      -o "$WORK/abi-real" "$source" > "$WORK/abi-real.log" 2>&1; then
    cat "$WORK/abi-real.log" | tee -a "$report"
    record abi FAIL "abi_check.c does not compile against the real headers (see abi-check.txt)"
    return
  fi
  if ! timeout "$t" "$compiler" "${flags[@]}" "${halves[@]}" -I"$REPO/native-headers" \
      -o "$WORK/abi-ours" "$source" > "$WORK/abi-ours.log" 2>&1; then
    cat "$WORK/abi-ours.log" | tee -a "$report"
    record abi FAIL "abi_check.c does not compile against native-headers/"
    return
  fi
  "$WORK/abi-real" > "$WORK/abi-real.txt" && "$WORK/abi-ours" > "$WORK/abi-ours.txt" || ok=0
  local signatures="match"
  for mode in real ours; do
    local mode_flags=(-DABI_HEADERS_REAL "${includes[@]}")
    [[ "$mode" == ours ]] && mode_flags=(-I"$REPO/native-headers")
    if ! timeout "$t" "$compiler" "${flags[@]}" "${halves[@]}" -DABI_CHECK_SIGNATURES "${mode_flags[@]}" \
        -c -o "$WORK/abi-signatures-$mode.o" "$source" > "$WORK/abi-signatures-$mode.log" 2>&1; then
      signatures="MISMATCH against the $mode headers"
      { echo "# function signatures differ from the $mode headers:"; cat "$WORK/abi-signatures-$mode.log"; } >> "$report"
    fi
  done
  # Compare key by key; the real build may lack a half's keys entirely (header not found).
  awk -F= '
    NR == FNR { real[$1] = substr($0, length($1) + 2); next }
    /^info\./ { next }
    {
      key = $1; ours = substr($0, length($1) + 2)
      if (!(key in real)) next
      if (real[key] == ours) { print "MATCH " key "=" ours; matched++ }
      else if (real[key] == "absent") { print "ABSENT " key " (ours " ours "; the real header is older)"; absent++ }
      else { print "MISMATCH " key " ours=" ours " real=" real[key]; mismatched++ }
    }
    END { printf "TOTAL matched=%d absent=%d mismatched=%d\n", matched, absent, mismatched }
  ' "$WORK/abi-real.txt" "$WORK/abi-ours.txt" > "$WORK/abi-compare.txt"
  { grep '^info\.' "$WORK/abi-real.txt"; echo "signatures=$signatures"; cat "$WORK/abi-compare.txt"; } >> "$report"
  grep -v '^MATCH ' "$report"
  local totals; totals="$(tail -1 "$WORK/abi-compare.txt")"
  local mismatched; mismatched="$(sed -n 's/.*mismatched=\([0-9]*\).*/\1/p' <<<"$totals")"
  local versions; versions="$(grep '^info\..*VERSION' "$WORK/abi-real.txt" | sed 's/^info\.\([a-z]*\)\.header\./\1 /' | tr '\n' ' ')"
  detail "abi: $totals; signatures $signatures; real headers: $versions"
  grep -E '^(MISMATCH|ABSENT) ' "$WORK/abi-compare.txt" | sed 's/^/  /' >> "$DETAILS"
  if (( ok == 0 )) || [[ "$mismatched" != 0 || "$signatures" != match ]]; then
    record abi FAIL "${totals#TOTAL }; signatures $signatures"
  else
    record abi PASS "${totals#TOTAL }; signatures match; ${versions}(compiler $compiler)"
  fi
}

# ---------------------------------------------------------------- java
java_classpath() {
  local jar cp=""
  for jar in "$CARRY"/lib/*.jar; do cp="${cp:+$cp:}$jar"; done
  echo "$cp"
}

java_options() {  # one option per line
  echo "--enable-native-access=ALL-UNNAMED"
  echo "-Xmx8g"
  if [[ -n "$NCCL_LIB" ]]; then echo "-Dpanamanccl.nccl.path=$NCCL_LIB"; fi
  if [[ -n "$CUDART_LIB" ]]; then echo "-Dpanamanccl.cudart.path=$CUDART_LIB"; fi
}

carry_ready() {
  [[ -x "$CARRY/jre/bin/java" && -f "$CARRY/lib/panama-nccl-tests.jar" ]]
}

count_of() {  # count_of LABEL FILE: the number in JUnit's "[  N tests found  ]" summary lines
  sed -n "s/^\[ *\([0-9][0-9]*\) $1 *\]/\1/p" "$2" | tail -1
}

step_junit() {
  banner "junit (tag gpu)"
  out_of_time junit && return
  if ! carry_ready; then
    record junit FAIL "carry missing: run 'bash bench/gpu/prepare.sh' and pass carry [\"bench/gpu/carry\"]"
    return
  fi
  local t; t=$(time_box 100)
  local options; mapfile -t options < <(java_options)
  local launcher_args=(execute --scan-class-path="$CARRY/lib/panama-nccl-tests.jar" --include-tag gpu
    --reports-dir "$WORK/junit" --details=tree --disable-banner --disable-ansi-colors
    --config=junit.jupiter.execution.timeout.default=120s)
  timeout -k 10 "$t" "$CARRY/jre/bin/java" "${options[@]}" -cp "$(java_classpath)" \
    org.junit.platform.console.ConsoleLauncher "${launcher_args[@]}" 2>&1 | tee "$WORK/junit.out"
  local rc=${PIPESTATUS[0]}
  if compgen -G "$WORK/junit/*" >/dev/null; then
    tar -czf "$OUTDIR/junit-reports.tar.gz" -C "$WORK" junit
  fi
  local found succeeded failed aborted skipped
  found="$(count_of 'tests found' "$WORK/junit.out")"
  succeeded="$(count_of 'tests successful' "$WORK/junit.out")"
  failed="$(count_of 'tests failed' "$WORK/junit.out")"
  aborted="$(count_of 'tests aborted' "$WORK/junit.out")"
  skipped="$(count_of 'tests skipped' "$WORK/junit.out")"
  local counts="${found:-?} found, ${succeeded:-?} successful, ${failed:-?} failed, ${aborted:-?} aborted, ${skipped:-?} skipped"
  detail "junit: $counts (exit $rc)"
  grep -E '✘|\[X\]' "$WORK/junit.out" | head -20 | sed 's/^/  /' >> "$DETAILS"
  if (( rc == 124 || rc == 137 )); then
    record junit FAIL "timed out after ${t} s ($counts so far)"
  elif grep -q 'Error scanning files' "$WORK/junit.out"; then
    # Discovery that cannot read the test jar finds 0 tests: never report that as a skip.
    record junit FAIL "the launcher could not scan panama-nccl-tests.jar ($counts)"
  elif (( rc == 0 )) && [[ "$found" == 0 ]]; then
    record junit SKIPPED "no tests tagged gpu in the test classes"
  elif (( rc == 0 )); then
    record junit PASS "$counts"
  else
    record junit FAIL "$counts (launcher exit $rc)"
  fi
}

step_jmh() {
  banner "jmh ($JMH_PATTERN)"
  out_of_time jmh && return
  if ! carry_ready; then
    record jmh FAIL "carry missing: run 'bash bench/gpu/prepare.sh' and pass carry [\"bench/gpu/carry\"]"
    return
  fi
  local options; mapfile -t options < <(java_options)
  local cp; cp="$(java_classpath)"
  timeout 60 "$CARRY/jre/bin/java" "${options[@]}" -cp "$cp" org.openjdk.jmh.Main -l "$JMH_PATTERN" \
    > "$WORK/jmh-list.out" 2>&1
  local benchmarks; benchmarks="$(sed -n '/^Benchmarks:/,$p' "$WORK/jmh-list.out" | tail -n +2 | grep -c .)"
  if (( benchmarks == 0 )); then
    record jmh SKIPPED "no JMH benchmark matches $JMH_PATTERN ($(grep -m1 -iE 'error|unable' "$WORK/jmh-list.out" || echo 'none compiled'))"
    return
  fi
  # One JMH run per benchmark class, each with its own time box, so a slow class cannot take the
  # others' results with it; the JSON arrays are merged into one file ($OUT returns at most 8 files).
  local classes; classes="$(sed -n '/^Benchmarks:/,$p' "$WORK/jmh-list.out" | tail -n +2 | sed 's/\.[^.]*$//' | sort -u)"
  local class_count; class_count="$(grep -c . <<<"$classes")"
  local rc=0 class_rc class
  : > "$WORK/jmh.out"
  for class in $classes; do
    local t; t=$(time_box $((170 / class_count)))
    timeout -k 10 "$t" "$CARRY/jre/bin/java" "${options[@]}" -cp "$cp" org.openjdk.jmh.Main "^${class}\\." \
      -f 1 -wi 1 -i 3 -w 2s -r 2s -foe true -rf json -rff "$WORK/jmh-${class##*.}.json" 2>&1 | tee -a "$WORK/jmh.out"
    class_rc=${PIPESTATUS[0]}
    detail "jmh: ${class##*.} exit $class_rc"
    (( class_rc != 0 && rc == 0 )) && rc=$class_rc
  done
  "$PYTHON" - "$WORK"/jmh-*.json > "$OUTDIR/jmh-gpu.json" 2>/dev/null <<'PY' || rm -f "$OUTDIR/jmh-gpu.json"
import json, sys
results = []
for name in sys.argv[1:]:
    try:
        results += json.load(open(name))
    except (OSError, ValueError):
        pass  # a class killed by its time box leaves no or partial JSON
print(json.dumps(results, indent=2))
PY
  detail "jmh: $benchmarks benchmark(s) matching $JMH_PATTERN in $class_count class(es) (exit $rc)"
  sed -n '/^Benchmark /,/^$/p' "$WORK/jmh.out" | head -40 | sed 's/^/  /' >> "$DETAILS"
  if (( rc == 124 || rc == 137 )); then
    record jmh FAIL "a class timed out ($benchmarks benchmarks; the finished classes are in jmh-gpu.json)"
  elif (( rc == 0 )); then
    record jmh PASS "$benchmarks benchmark(s); scores in jmh-gpu.json"
  else
    record jmh FAIL "exit $rc ($benchmarks benchmarks)"
  fi
}

# ---------------------------------------------------------------- torch peer
PY_TORCH_SUMMARY='
import json, sys
r = json.load(open(sys.argv[1]))
m = r.get("methods", {})
def part(label, key):
    x = m.get(label)
    return "%s %s" % (label, "n/a" if x is None else key(x))
print("; ".join([
    "%d tensors, %.2f GiB (scale %s)" % (r["tensors"], r["bytes"] / 2**30, r["scale_factor"]),
    part("per_tensor_broadcast", lambda x: "%.3f s (%.1f us/tensor)" % (x["seconds_median"], x["us_per_tensor"])),
    part("flat_uint8_broadcast", lambda x: "%.3f s (%s GB/s; pack %.3f s)" % (x["seconds_median"], x["gb_per_s"], x["phases_median_s"]["pack"])),
    part("d2d_copy", lambda x: "%.4f s (%s GB/s)" % (x["seconds_median"], x["gb_per_s"])),
    "verified %s" % r.get("reconstruction_verified"),
]))
'

step_torch() {  # step_torch INVENTORY
  local inventory="$1" step="torch-$1"
  banner "$step"
  out_of_time "$step" && return
  if [[ -z "$TORCH_INFO" ]]; then
    record "$step" SKIPPED "python3 cannot import torch"
    return
  fi
  local plan
  if ! plan="$("$PYTHON" "$GPU_DIR/torch_peer.py" --inventory "$inventory" --max-bytes "$TORCH_MAX_BYTES" --dry-run 2>&1)"; then
    record "$step" SKIPPED "$(tail -1 <<<"$plan")"
    return
  fi
  local cap=70; [[ "$inventory" == qwen3-next-80b-a3b ]] && cap=80
  local t; t=$(time_box "$cap")
  local json="$OUTDIR/torch-peer-$inventory.json"
  PYTHONUNBUFFERED=1 timeout -k 10 "$t" "$PYTHON" "$GPU_DIR/torch_peer.py" --inventory "$inventory" \
    --max-bytes "$TORCH_MAX_BYTES" --device "$TORCH_DEVICE" --repeat 3 --time-budget $((t > 40 ? t - 30 : t / 2)) --out "$json" 2>&1 \
    | tee "$WORK/$step.out" | grep -v '^ \|^{\|^}'
  local rc=${PIPESTATUS[0]}
  local numbers=""
  [[ -f "$json" ]] && numbers="$("$PYTHON" -c "$PY_TORCH_SUMMARY" "$json" 2>&1)"
  detail "$step: ${numbers:-no result} (exit $rc)"
  if (( rc == 124 || rc == 137 )); then
    record "$step" FAIL "timed out after ${t} s; ${numbers:-no result}"
  elif (( rc == 0 )); then
    record "$step" PASS "$numbers"
  else
    record "$step" FAIL "exit $rc: $(grep -v '^ \|^{\|^}' "$WORK/$step.out" | tail -1)"
  fi
}

# ---------------------------------------------------------------- summary
write_summary() {
  local failed=0 i
  {
    echo "panama-nccl GPU run, $(date -u +%Y-%m-%dT%H:%M:%SZ), $((SECONDS)) s, steps $steps"
    environment_report
    echo
    for i in "${!STEP_NAMES[@]}"; do
      printf '%-8s %-26s %s\n' "${STEP_STATUS[$i]}" "${STEP_NAMES[$i]}" "${STEP_NOTES[$i]}"
      [[ "${STEP_STATUS[$i]}" == FAIL ]] && failed=1
    done
    echo
    cat "$DETAILS"
    echo
    echo "files in $OUTDIR: $(cd "$OUTDIR" && ls "${OUTPUT_FILES[@]}" 2>/dev/null | tr '\n' ' ')"
    if (( failed )); then echo "RESULT: FAIL (exit 1)"; else echo "RESULT: PASS (exit 0)"; fi
  } > "$OUTDIR/summary.txt"
  echo
  echo "=================== summary"
  cat "$OUTDIR/summary.txt"
  return $failed
}

main() {
  banner "environment"
  detect_environment
  environment_report
  if have nvidia-smi && [[ -z "$GPU_PROBLEM" ]]; then timeout 30 nvidia-smi; fi

  if [[ -n "$GPU_PROBLEM" || -n "$NCCL_PROBLEM" ]] && (( ! force )); then
    local missing=()
    [[ -n "$GPU_PROBLEM" ]] && missing+=("no GPU ($GPU_PROBLEM)")
    [[ -n "$NCCL_PROBLEM" ]] && missing+=("no NCCL ($NCCL_PROBLEM)")
    local joined="${missing[0]}"
    (( ${#missing[@]} > 1 )) && joined+=" and ${missing[1]}"
    local text="panama-nccl GPU run: NOT RUN on $(uname -n): $joined. This script is for the H200 device machine: build the carry here with 'bash bench/gpu/prepare.sh', then call the device tool with command 'bash bench/gpu/run.sh' and carry [\"bench/gpu/carry\"] (see bench/gpu/README.md); 'bash bench/gpu/run.sh --force' runs the steps anyway to test this script. Nothing was measured. Exit status 2."
    echo
    echo "$text" | fold -s -w 100
    echo "$text" > "$OUTDIR/summary.txt"
    return 2
  fi

  selected abi && step_abi
  selected junit && step_junit
  selected jmh && step_jmh
  if selected torch; then
    for inventory in "${INVENTORIES[@]}"; do step_torch "$inventory"; done
  fi
  write_summary
}

main 2>&1 | tee "$OUTDIR/run.log"
exit "${PIPESTATUS[0]}"
