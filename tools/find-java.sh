# Sourced by ./rlhf4j, .ci/run and tools/bench/jmh.sh: sets RLHF4J_JAVA to a java binary of version >= 25
# (JAVA_HOME first, then java on the PATH, then the usual install folders) or explains what to install.
RLHF4J_JAVA_NEED=25

rlhf4j_java_major() { # prints the feature version of the java binary $1, or nothing
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n1
}

rlhf4j_find_java() {
  local candidates=() c v seen=""
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  for c in /usr/lib/jvm/*/bin/java /Library/Java/JavaVirtualMachines/*/Contents/Home/bin/java \
           "$HOME"/.sdkman/candidates/java/*/bin/java; do
    [ -x "$c" ] && candidates+=("$c")
  done
  for c in "${candidates[@]}"; do
    [ -x "$c" ] || continue
    v="$(rlhf4j_java_major "$c")"
    seen="$seen  $c: ${v:-unknown}\n"
    if [ -n "$v" ] && [ "$v" -ge "$RLHF4J_JAVA_NEED" ]; then
      RLHF4J_JAVA="$c"
      return 0
    fi
  done
  {
    echo "rlhf4j needs Java $RLHF4J_JAVA_NEED or newer, and none was found."
    [ -n "$seen" ] && printf "Java installations seen:\n%b" "$seen"
    echo "Install a JDK $RLHF4J_JAVA_NEED (for example Temurin $RLHF4J_JAVA_NEED from https://adoptium.net,"
    echo "or 'sdk install java $RLHF4J_JAVA_NEED-tem') and point JAVA_HOME at it."
  } >&2
  return 1
}

# The JDK home of the java binary $1.
rlhf4j_java_home() {
  (cd "$(dirname "$(readlink -f "$1")")/.." && pwd)
}
