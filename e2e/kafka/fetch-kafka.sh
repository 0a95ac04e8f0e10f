#!/usr/bin/env bash
# Puts the Apache Kafka broker and command-line tool jars (from Maven Central) in ~/.cache/kappa/kafka-<version>/libs.
# Idempotent: a complete cache is left alone and the script returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"
cache=${KAPPA_CACHE:-$HOME/.cache/kappa}
dest="$cache/kafka-$KAFKA_VERSION"
# The cache is complete for this pom.xml: a changed dependency list fetches again.
stamp=$(sha256sum "$here/pom.xml" "$here/versions.env" | sha256sum | cut -c1-16)
if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$stamp" ]; then
  exit 0
fi
echo "kafka: fetching broker $KAFKA_VERSION (scala $KAFKA_SCALA) from Maven Central into $dest"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/libs"
if ! mvn -q -B -f "$here/pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -Dkafka.scala="$KAFKA_SCALA" \
    dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$dest.tmp/libs" >"$dest.tmp/mvn.log" 2>&1; then
  echo "kafka: maven could not resolve the broker jars; log follows" >&2
  tail -n 30 "$dest.tmp/mvn.log" >&2
  exit 1
fi
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "$stamp" >"$dest/.complete"
echo "kafka: $(ls "$dest/libs" | wc -l) jars ready"
