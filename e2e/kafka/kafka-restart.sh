#!/usr/bin/env bash
# Restarts the broker that kafka-up.sh started for STATE_DIR, as a crashed or rebooted broker
# comes back: the SAME server.properties (so the same ports and node id) and the SAME data
# directory (topics, offsets, transaction state and committed consumer offsets survive).
# Stops the running broker with SIGTERM (a clean, controlled shutdown; SIGKILL after 30 s) or,
# with --signal KILL, with kill -9 (unclean: the broker recovers its logs at start), keeps it
# down for --down SECONDS (default 0), starts it again and waits until it serves on its port.
# kafka.env is left as it is: the bootstrap address does not change.
#
#   kafka-restart.sh STATE_DIR [--signal TERM|KILL] [--down SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"
[ $# -ge 1 ] || { echo "usage: kafka-restart.sh STATE_DIR [--signal TERM|KILL] [--down SECONDS]" >&2; exit 2; }
state=$(cd "$1" && pwd)
shift
sig=TERM
down=0
while [ $# -gt 0 ]; do
  case "$1" in
    --signal) sig=${2:-}; shift 2 ;;
    --down) down=${2:-}; shift 2 ;;
    *) echo "kafka-restart: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$sig" in TERM | KILL) ;; *) echo "kafka-restart: --signal TERM or KILL, not '$sig'" >&2; exit 2 ;; esac
cache=${KAPPA_CACHE:-$HOME/.cache/kappa}
libs="$cache/kafka-$KAFKA_VERSION/libs"
run="$state/kafka"

die() { echo "kafka-restart: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

[ -f "$run/server.properties" ] && [ -f "$run/datadir" ] ||
  die "no broker of kafka-up.sh in $state (missing $run/server.properties or $run/datadir)"
data=$(cat "$run/datadir")
[ -d "$data/log" ] || die "data directory $data/log is gone"
# The client listener's address: loopback, or the node bridge's (kafka-up.sh KAFKA_HOST).
listener=$(sed -n 's/^listeners=PLAINTEXT:\/\/\([^,]*\),.*/\1/p' "$run/server.properties")
host=${listener%:*}
port=${listener##*:}
[ -n "$listener" ] && [ -n "$port" ] || die "no PLAINTEXT listener in $run/server.properties"

if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null; then
  pid=$(cat "$run/pid")
  kill "-$sig" "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka-restart: broker $pid did not stop in 30s after SIG$sig; killing it"
    kill -9 "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  echo "kafka-restart: broker $pid stopped (SIG$sig)"
else
  echo "kafka-restart: no broker running for $state; starting it"
fi
rm -f "$run/pid"
sleep "$down"

# The same JVM options as kafka-up.sh; the broker log is appended to, so only the lines
# written after this start count as "started".
java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$here/log4j2.properties" "-Dkafka.logs.file=$run/server.log")
seen=$(wc -l <"$run/server.log" 2>/dev/null || echo 0)
echo "--- $(date -u +%FT%TZ) kafka-restart.sh" >>"$run/stdout.log"
nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$run/server.properties" \
  >>"$run/stdout.log" 2>&1 </dev/null &
echo $! >"$run/pid"

deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
until port_open "$port" && tail -n "+$((seen + 1))" "$run/server.log" 2>/dev/null |
  grep -q "Kafka Server started"; do
  if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
    echo "kafka-restart: broker exited during start; last lines of its logs:" >&2
    tail -n 20 "$run/stdout.log" "$run/server.log" >&2 2>/dev/null || true
    exit 1
  fi
  [ $SECONDS -lt $deadline ] ||
    die "broker did not answer within ${KAFKA_START_TIMEOUT:-90}s; see $run/server.log"
  sleep 0.2
done
echo "kafka-restart: broker $KAFKA_VERSION up again at $host:$port (pid $(cat "$run/pid"), data $data)"
