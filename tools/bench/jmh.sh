#!/usr/bin/env bash
# Runs rlhf4j's JMH benchmarks (module rlhf4j-bench); arguments go to JMH,
# e.g. `tools/bench/jmh.sh GemmBench -p shape=1024x3072x768`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../find-java.sh
. "$ROOT/tools/find-java.sh"
rlhf4j_find_java || exit 1
export JAVA_HOME
JAVA_HOME="$(rlhf4j_java_home "$RLHF4J_JAVA")"
if [ ! -d "$ROOT/rlhf4j-bench/target/lib" ]; then
  (cd "$ROOT" && ./mvnw -q -B -DskipTests package)
fi
exec "$RLHF4J_JAVA" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "$ROOT/rlhf4j-bench/target/classes:$ROOT/rlhf4j-bench/target/lib/*" org.openjdk.jmh.Main -jvm "$RLHF4J_JAVA" "$@"
