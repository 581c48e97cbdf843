#!/usr/bin/env bash
# Runs on the development machine. Builds the project and assembles bench/gpu/carry/, the one
# folder the GPU run needs besides the repository (the device tool's `carry`):
#   carry/jre/   a jlinked Temurin runtime (no JDK is guaranteed on the GPU machine);
#   carry/lib/   the library, CLI and bench jars, the library's test classes as a jar, their
#                runtime/test dependencies and the JUnit console launcher;
#   carry/BUILD-INFO  what it was built from (commit, dirty flag, date, versions).
# Fails if the carry, or everything the device tool would send, is over 64 MiB.
# Usage: bash bench/gpu/prepare.sh [--no-build]   (--no-build reuses the modules' target/ as they are)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="$REPO/bench/gpu/carry"
JDK="${PANAMANCCL_JLINK_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}"
LIMIT_BYTES=$((64 * 1024 * 1024))
# The device machine's JVM needs only these: JUnit's XML reports use java.xml and its class-path
# scan of a jar the "jar" file system (jdk.zipfs); JMH uses java.management (it forks with the
# host VM's arguments) and jdk.unsupported (Unsafe).
MODULES="java.base,java.logging,java.xml,java.management,jdk.management,jdk.unsupported,jdk.zipfs"
# Provided by the console launcher jar, or not needed on the GPU machine (charts; Jazzer: the fuzz targets are not
# tagged gpu, and without Jazzer their methods are no tests at all).
DROP_PATTERN='^(junit-|opentest4j-|apiguardian-|jfreechart-|jazzer)'

build=1
case "${1:-}" in
  --no-build) build=0 ;;
  "") ;;
  *) echo "usage: $0 [--no-build]" >&2; exit 64 ;;
esac

fail() { echo "prepare.sh: $*" >&2; exit 1; }
[[ -x "$JDK/bin/jlink" ]] || fail "no jlink at $JDK/bin/jlink (set PANAMANCCL_JLINK_JDK to a JDK >= 22)"
[[ "$(uname -m)" == x86_64 ]] || fail "the GPU machine is x86-64; build the carry on an x86-64 machine (this is $(uname -m))"

cd "$REPO"
if (( build )); then
  echo "== building (mvn package, tests compiled, not run)"
  mvn -B -q -DskipTests package
fi
shopt -s nullglob
one_jar() {  # one_jar GLOB: the single jar a module built (sources, javadoc and test-fixture jars aside)
  local found=() jar
  for jar in $1; do [[ "$jar" =~ -(sources|javadoc|tests)\.jar$ ]] || found+=("$jar"); done
  (( ${#found[@]} == 1 )) || fail "expected exactly one $1, found ${#found[@]}: build first"
  echo "${found[0]}"
}
LIBRARY_JAR="$(one_jar 'src/target/panama-nccl-*.jar')"
CLI_JAR="$(one_jar 'cli/target/panama-nccl-cli-*.jar')"
BENCH_JAR="$(one_jar 'bench/target/panama-nccl-bench-*.jar')"
[[ -f bench/target/classpath ]] || fail "bench/target/classpath missing: build first"

scratch="$(mktemp -d /tmp/panamanccl-prepare.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

echo "== resolving dependencies"
junit_version="$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' pom.xml | head -1)"
[[ -n "$junit_version" ]] || fail "no <junit.version> property in pom.xml"
# The library's test dependencies (it has no dependency inside the build, so it resolves without one);
# the benchmarks' run-time class path as the bench build wrote it, but this build's own library and CLI jars (a
# build of the bench module alone lists the copies in ~/.m2, which may be another checkout's).
mvn -B -q -pl src dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$scratch/deps"
tr ':' '\n' < bench/target/classpath | while read -r jar; do
  [[ -n "$jar" && "$(basename "$jar")" != panama-nccl* ]] && cp "$jar" "$scratch/deps/"
done
cp "$LIBRARY_JAR" "$CLI_JAR" "$BENCH_JAR" "$scratch/deps/"
mvn -B -q dependency:copy \
  -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit_version" \
  -DoutputDirectory="$scratch/launcher"

echo "== assembling $CARRY"
rm -rf "$CARRY"
mkdir -p "$CARRY/lib"
"$JDK/bin/jlink" --add-modules "$MODULES" --compress=zip-9 --strip-debug \
  --no-header-files --no-man-pages --output "$CARRY/jre"
# jlink keeps libjvm's symbol table (~4 MB); the dynamic symbols the JVM needs stay.
if command -v strip >/dev/null; then
  strip --strip-unneeded "$CARRY/jre/lib/server/libjvm.so"
fi

mkdir -p "$scratch/test-classes"
if [[ -d src/target/test-classes ]]; then
  cp -r src/target/test-classes/. "$scratch/test-classes/"
fi
"$JDK/bin/jar" --create --file "$CARRY/lib/panama-nccl-tests.jar" -C "$scratch/test-classes" .
for dep in "$scratch"/deps/*.jar; do
  name="$(basename "$dep")"
  [[ "$name" =~ $DROP_PATTERN ]] || cp "$dep" "$CARRY/lib/"
done
cp "$scratch"/launcher/junit-platform-console-standalone-*.jar "$CARRY/lib/"

{
  echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "dirty=$([[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo yes || echo no)"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "java=$("$CARRY/jre/bin/java" -version 2>&1 | head -1)"
  echo "modules=$MODULES"
  echo "junit=$junit_version"
  echo "test_classes=$(find "$scratch/test-classes" -name '*.class' | wc -l)"
  echo "jars=$(cd "$CARRY/lib" && ls | tr '\n' ' ')"
} > "$CARRY/BUILD-INFO"

"$CARRY/jre/bin/java" -version >/dev/null 2>&1 || fail "the jlinked runtime does not start"

carry_bytes=$(du -sb "$CARRY" | cut -f1)
# Everything the device tool sends: tracked and untracked-but-not-ignored files, plus the carry.
tree_bytes=$( { git ls-files -z --cached --others --exclude-standard \
  | xargs -0 -r stat -c %s -- 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
total_bytes=$((carry_bytes + tree_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "== carry: $(mib "$carry_bytes") (jre $(mib "$(du -sb "$CARRY/jre" | cut -f1)"), lib $(mib "$(du -sb "$CARRY/lib" | cut -f1)"), $(ls "$CARRY/lib" | wc -l) jars)"
echo "== working tree that travels: $(mib "$tree_bytes"); total with carry $(mib "$total_bytes") of $(mib "$LIMIT_BYTES")"
(( carry_bytes < LIMIT_BYTES )) || fail "carry is $(mib "$carry_bytes"), over the 64 MiB limit"
(( total_bytes < LIMIT_BYTES )) || fail "working tree + carry is $(mib "$total_bytes"), over the device tool's 64 MiB limit"
cat "$CARRY/BUILD-INFO"
echo "== ready: device tool run, command 'bash bench/gpu/run.sh correctness' (or performance, all), carry [\"bench/gpu/carry\"] (bench/gpu/README.md)"
