#!/usr/bin/env bash
# Scaling of PPO rollouts on Spark: `rlhf4j spark ppo` on local-cluster[N,1,MB] (N executor JVMs of one core each,
# started by Spark's own workers on this machine) against `rlhf4j ppo --threads T` in one process, same inputs.
#
#   tools/bench/spark-scaling.sh POLICY PROMPTS OUT "CONFIG..." [-- extra ppo options]
#
# CONFIG is a list of: local:T (rlhf4j ppo --threads T) or spark:N (local-cluster[N,1,$EXECUTOR_MB]), e.g.
# "local:1 local:2 spark:1 spark:2 spark:4". Each run trains --max-steps steps (default 3); the table reports the
# mean of the steps after the first (which includes JIT warm-up and the executors' model loading).
# Environment: EXECUTOR_MB (default 2560), DRIVER_XMX (default 10g), JAVA (default: the launcher's JDK 25).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
POLICY="$1"; PROMPTS="$2"; OUT="$3"; CONFIGS="$4"; shift 4
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
JAR="$ROOT/rlhf4j-cli/target/rlhf4j.jar"
[ -f "$JAR" ] || { echo "build first: ./mvnw -q -DskipTests -pl rlhf4j-cli -am package" >&2; exit 1; }
# shellcheck source=../find-java.sh
. "$ROOT/tools/find-java.sh"
rlhf4j_find_java
JAVA="${JAVA:-$RLHF4J_JAVA}"
EXECUTOR_MB="${EXECUTOR_MB:-2560}"
mkdir -p "$OUT"

# Spark's workers start executors with $SPARK_HOME/jars on their class path: a home whose jars are the CLI's lib
export SPARK_HOME="$OUT/spark-home" SPARK_SCALA_VERSION=2.13
mkdir -p "$SPARK_HOME/jars"
ln -sf "$ROOT"/rlhf4j-cli/target/lib/*.jar "$SPARK_HOME/jars/"

run() {
  local name="$1"; shift
  rm -rf "$OUT/$name"
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$OUT/$name.rss" "$JAVA" --add-modules jdk.incubator.vector \
    --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC "-Xmx${DRIVER_XMX:-10g}" \
    --sun-misc-unsafe-memory-access=allow -Dio.netty.tryReflectionSetAccessible=true -jar "$JAR" "$@" \
    --policy "$POLICY" --reward lab --prompts "$PROMPTS" --out "$OUT/$name" "${EXTRA[@]}" \
    >"$OUT/$name.log" 2>&1 || { echo "$name failed:"; tail -5 "$OUT/$name.log"; return 1; }
  end=$(date +%s.%N)
  python3 - "$OUT/$name" "$name" "$(echo "$end - $start" | bc)" "$(cat "$OUT/$name.rss")" <<'PY'
import json, sys
run, name, wall, rss = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
later = rows[1:] or rows
def mean(k):
    v = [r[k] for r in later if k in r]
    return sum(v) / len(v) if v else float("nan")
tokens = mean("response_length") * (later[0]["episode"] - (0 if len(rows) == 1 else rows[0]["episode"]))
print(f"| {name} | {mean('time/step_s'):.2f} | {mean('time/rollout_s'):.2f} | {tokens / mean('time/rollout_s'):.1f} "
      f"| {mean('time/update_s'):.2f} | {mean('spark/broadcast_mb'):.1f} | {mean('spark/broadcast_s'):.2f} "
      f"| {mean('spark/weights_apply_s'):.2f} | {mean('spark/tasks_s'):.2f} | {wall:.0f} | {rss / 1024:.0f} |")
PY
}

echo "| run | step s | rollout s | rollout tok/s | update s | broadcast MB | broadcast s | weights fetch+apply s (sum) | tasks s (sum) | whole run s | driver peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONFIGS; do
  kind="${c%%:*}"; n="${c#*:}"
  case "$kind" in
    local) run "local-$n" ppo --threads "$n" ;;
    spark) run "spark-$n" spark ppo --master "local-cluster[$n,1,$EXECUTOR_MB]" ;;
    *) echo "unknown config $c" >&2; exit 2 ;;
  esac
done
