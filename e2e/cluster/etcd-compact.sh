#!/usr/bin/env bash
# Compacts the etcd started by apiserver-up.sh for STATE_DIR up to its current revision,
# through etcd's v3 JSON gateway (POST /v3/kv/compaction). With the apiserver's watch cache
# off (its default here), a watch or list from any resourceVersion taken before this then
# fails with 410 Gone ("too old resource version"). Prints the revision compacted to.
#
#   etcd-compact.sh [STATE_DIR]      (default: .local in the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-$repo/.local}
envfile="$state/apiserver.env"
[ -f "$envfile" ] || { echo "etcd-compact: no $envfile (start it with e2e/cluster/apiserver-up.sh $state)" >&2; exit 1; }
etcd_url=$(sed -n 's/^ETCD_URL=//p' "$envfile")

# The current revision is in the header of any response; a range over one key is cheapest.
# Keys and values are base64 in the gateway's JSON ("AA==" is the key "\0").
resp=$(curl -sS --fail-with-body --max-time 10 -X POST "$etcd_url/v3/kv/range" \
  -d '{"key":"AA==","limit":1,"keys_only":true}') ||
  { echo "etcd-compact: range request to $etcd_url failed: $resp" >&2; exit 1; }
rev=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["header"]["revision"])' "$resp") ||
  { echo "etcd-compact: no revision in etcd's answer: $resp" >&2; exit 1; }
out=$(curl -sS --fail-with-body --max-time 30 -X POST "$etcd_url/v3/kv/compaction" \
  -d "{\"revision\":\"$rev\",\"physical\":true}" 2>&1) || {
  # Compacting to a revision that is already compacted is not an error for our purpose.
  if grep -q 'already been compacted' <<<"$out"; then echo "$rev"; exit 0; fi
  echo "etcd-compact: compaction to revision $rev failed: $out" >&2
  exit 1
}
echo "$rev"
