#!/usr/bin/env bash
# The host transport against torch.distributed gloo and raw loopback TCP, side by side in one run
# (bench/README.md, "Host comparison"). Writes bench/results/<date>-host-compare-<label>.json and its
# .meta.json, redraws bench/results/charts/ and prints the comparison tables with the issue-15 targets.
# Usage: bash bench/host/compare.sh [--quick] [--label NAME] [--results DIR]
#   --quick   1 000 and 18 867 tensors, 1 receiver (and 4 for the scaling point), 5 bucket sizes, short
#             iterations: 2-3 minutes. Without it: 1 000 / 4 000 / 18 867 / 74 391 tensors x 1, 2, 4
#             receivers, 8 receivers for the scaling, 7 bucket sizes: 11 minutes (14 on a very busy machine).
#   --label   the result file's suffix (default: the UTC time, HHMM).
#   --results where the result files go and the charts are drawn from (default bench/results).
# Environment: PYTHON (default /usr/bin/python3: Debian's python3-torch lives there, not in a pyenv);
#   JAVA_HOME (a JDK >= 22; default: the one on PATH if new enough, else /usr/lib/jvm/temurin-25-jdk-amd64).
# When torch is missing it is installed with `apt-get install python3-torch` (as root only); if that is not
# possible the gloo peer is skipped with a one-line reason, recorded in the .meta.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

case " $* " in
  *" --help "*|*" -h "*) sed -n '2,15p' "$0"; exit 0 ;;
esac

PYTHON="${PYTHON:-/usr/bin/python3}"
has_gloo() { "$PYTHON" -c 'import torch.distributed as d, sys; sys.exit(0 if d.is_gloo_available() else 1)' 2>/dev/null; }
if ! has_gloo; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get > /dev/null; then
    echo "torch with gloo not found for $PYTHON: installing Debian's python3-torch"
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 apt-get install -y --no-install-recommends python3-torch > /tmp/host-compare-apt.log 2>&1 \
      || { timeout 300 apt-get update > /dev/null 2>&1 && timeout 900 apt-get install -y --no-install-recommends python3-torch \
             > /tmp/host-compare-apt.log 2>&1; } \
      || echo "gloo peer will be skipped: apt-get install python3-torch failed (see /tmp/host-compare-apt.log)"
  else
    echo "gloo peer will be skipped: $PYTHON has no torch with gloo and apt-get needs root"
  fi
fi

java_feature() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
if [[ -z "${JAVA_HOME:-}" ]] || (( $(java_feature "$JAVA_HOME/bin/java" || echo 0) < 22 )); then
  if command -v java > /dev/null && (( $(java_feature java) >= 22 )); then
    JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  else
    JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
  fi
fi
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"

start=$SECONDS
mvn -B -q -DskipTests -pl bench -am package exec:exec@bench -Dbench.args="host-compare --python $PYTHON $*"
echo "host comparison took $((SECONDS - start)) s"
