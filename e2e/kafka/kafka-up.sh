#!/usr/bin/env bash
# Starts a single-node KRaft Kafka broker on loopback and writes <state>/kafka.env
# (KAFKA_BOOTSTRAP=127.0.0.1:<port>). Ports are free ones picked at start; data lives in
# a fresh temporary directory. Idempotent: a broker already running for <state> is reused.
# KAFKA_HOST=<address> puts its client listener on that address instead (the local node's
# bridge, e2e/node, so that pods reach it); the controller listener stays on loopback.
#
#   kafka-up.sh [STATE_DIR]      (default: .local in the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$here/versions.env"
state=${1:-$repo/.local}
mkdir -p "$state"
state=$(cd "$state" && pwd)
cache=${KAPPA_CACHE:-$HOME/.cache/kappa}
libs="$cache/kafka-$KAFKA_VERSION/libs"
run="$state/kafka"

host=${KAFKA_HOST:-127.0.0.1}
port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null && [ -f "$state/kafka.env" ]; then
  # shellcheck disable=SC1091
  source "$state/kafka.env"
  if port_open "${KAFKA_BOOTSTRAP##*:}"; then
    echo "kafka: already running at $KAFKA_BOOTSTRAP (pid $(cat "$run/pid"))"
    exit 0
  fi
fi

"$here/fetch-kafka.sh"
command -v java >/dev/null || { echo "kafka: java not found (run scripts/bootstrap.sh)" >&2; exit 1; }

# Free on the address the client listener takes (the node bridge's may hold ports that
# loopback does not), and on loopback for the controller.
free_port() { python3 -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"; }
port=$(free_port "$host")
cport=$(free_port)
while [ "$cport" = "$port" ]; do cport=$(free_port); done

rm -rf "$run"
mkdir -p "$run"
data=$(mktemp -d "${TMPDIR:-/tmp}/kappa-kafka.XXXXXX")
echo "$data" >"$run/datadir"
cat >"$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://$host:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data/log
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# The cleaner looks for logs to compact every second (15 s by default), so a test of
# compacted outputs waits seconds, not minutes.
log.cleaner.backoff.ms=1000
log.retention.check.interval.ms=1000
log.segment.delete.delay.ms=0
delete.topic.enable=true
PROPS

java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$here/log4j2.properties" "-Dkafka.logs.file=$run/server.log")
# A cluster id is 22 url-safe base64 characters; one starting with "-" would be read by the
# storage tool as an option, so such ids are drawn again.
cluster_id=$(python3 -c '
import base64, uuid
while True:
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if cid[0] != "-":
        print(cid)
        break')
if ! java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$run/server.properties" >"$run/format.log" 2>&1; then
  echo "kafka: formatting storage failed:" >&2
  cat "$run/format.log" >&2
  exit 1
fi

nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$run/server.properties" \
  >"$run/stdout.log" 2>&1 </dev/null &
echo $! >"$run/pid"

deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
until port_open "$port" && grep -q "Kafka Server started" "$run/server.log" 2>/dev/null; do
  if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
    echo "kafka: broker exited during start; last lines of its logs:" >&2
    tail -n 20 "$run/stdout.log" "$run/server.log" >&2 2>/dev/null || true
    exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "kafka: broker did not answer within ${KAFKA_START_TIMEOUT:-90}s; see $run/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "KAFKA_BOOTSTRAP=$host:$port" >"$state/kafka.env"
echo "kafka: broker $KAFKA_VERSION up at $host:$port (pid $(cat "$run/pid"), data $data)"
