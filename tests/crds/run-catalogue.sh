#!/usr/bin/env bash
# Checks the PipelineVersion CRD against a real kube-apiserver with kubectl:
#   - crds/pipelineversions.kappa.io.yaml applies (CEL cost estimates accepted) and is
#     Established;
#   - every manifest in crds/examples/ and tests/crds/valid/ is accepted
#     (`kubectl apply --dry-run=server`), and its `# verify: {JSONPATH} VALUE` lines hold on
#     the object the server returns (defaults filled in);
#   - every manifest in tests/crds/invalid/ is rejected with a non-zero exit and an error
#     containing its first-line `# expect: SUBSTRING`;
#   - tests/crds/immutable/: create.yaml is created for real, every reject-*.yaml update is
#     refused with its `# expect:` substring, every accept-*.yaml update succeeds and its
#     `# verify:` lines hold on the stored object.
# All objects go into a namespace of their own, deleted at the end; the CRD stays installed.
# Prints one line per check and a final "N passed, M failed"; exits 1 if anything failed.
#
#   KAPPA_TEST_APISERVER_ENV=STATE_DIR/apiserver.env tests/crds/run-catalogue.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
envfile=${KAPPA_TEST_APISERVER_ENV:?set KAPPA_TEST_APISERVER_ENV to an apiserver.env written by e2e/cluster/apiserver-up.sh}
[ -f "$envfile" ] || { echo "crd-catalogue: no env file $envfile" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
source "$envfile"
set +a
kubectl=${KUBECTL:-kubectl}
crd=$repo/crds/pipelineversions.kappa.io.yaml
ns="kappa-crd-$$-$RANDOM"
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-crd.XXXXXX")
passed=0
failed=0

cleanup() {
  "$kubectl" delete pipelineversions --all -n "$ns" --ignore-not-found --wait=false >/dev/null 2>&1
  "$kubectl" delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
rel() { echo "${1#"$repo"/}"; }
expectation() { sed -n '1s/^# expect: //p' "$1"; }
# verifications FILE: the `# verify: {JSONPATH} VALUE` lines, as "JSONPATH<TAB>VALUE".
verifications() { sed -n 's/^# verify: \({[^}]*}\) \(.*\)$/\1\t\2/p' "$1"; }

# check_verify FILE GET...: each verify line of FILE holds on the object printed by GET
# (a kubectl command line to which `-o jsonpath=...` is appended). Sets $why on failure.
check_verify() {
  local file=$1 path want got
  shift
  why=""
  while IFS=$'\t' read -r path want; do
    got=$("$@" -o "jsonpath=$path" 2>"$work/verify.err") || {
      why="reading $path failed: $(cat "$work/verify.err")"
      return 1
    }
    [ "$got" = "$want" ] || { why="$path is '$got', want '$want'"; return 1; }
  done < <(verifications "$file")
}

# check_rejected FILE KUBECTL-ARGS...: kubectl apply must fail with the file's expectation.
check_rejected() {
  local file=$1 expect
  shift
  expect=$(expectation "$file")
  if [ -z "$expect" ]; then
    fail "$(rel "$file"): no '# expect: ...' first line"
    return
  fi
  if "$kubectl" apply "$@" -n "$ns" --validate=strict -f "$file" >"$work/out" 2>"$work/err"; then
    fail "$(rel "$file"): accepted, want rejected with: $expect"
  elif grep -qF -- "$expect" "$work/err"; then
    pass "$(rel "$file"): rejected: $expect"
  else
    fail "$(rel "$file"): rejected, but the error does not contain '$expect':"
    sed 's/^/       /' "$work/err"
  fi
}

# --- the CRD ------------------------------------------------------------------------------
if "$kubectl" apply -f "$crd" >"$work/out" 2>&1 &&
  "$kubectl" wait --for=condition=Established crd/pipelineversions.kappa.io --timeout=60s >>"$work/out" 2>&1; then
  pass "$(rel "$crd"): applied and Established"
else
  fail "$(rel "$crd"): not accepted:"
  sed 's/^/       /' "$work/out"
  summary
  exit 1
fi
"$kubectl" create namespace "$ns" >/dev/null || { fail "creating namespace $ns"; summary; exit 1; }
# Discovery of a new CRD can lag its Established condition by a moment.
for i in $(seq 1 50); do
  "$kubectl" get pipelineversions -n "$ns" >/dev/null 2>&1 && break
  [ "$i" -lt 50 ] || { fail "pipelineversions not served in namespace $ns"; summary; exit 1; }
  sleep 0.2
done

# --- valid manifests ----------------------------------------------------------------------
for file in "$repo"/crds/examples/*.yaml "$here"/valid/*.yaml; do
  if ! "$kubectl" apply --dry-run=server --validate=strict -n "$ns" -f "$file" \
    >"$work/out" 2>"$work/err"; then
    fail "$(rel "$file"): rejected, want accepted:"
    sed 's/^/       /' "$work/err"
  elif ! check_verify "$file" "$kubectl" apply --dry-run=server -n "$ns" -f "$file"; then
    fail "$(rel "$file"): accepted, but $why"
  else
    pass "$(rel "$file"): accepted$(verifications "$file" | grep -q . && echo ", defaults as expected")"
  fi
done

# --- invalid manifests --------------------------------------------------------------------
for file in "$here"/invalid/*.yaml; do
  check_rejected "$file" --dry-run=server
done

# --- immutability: real create, then updates ------------------------------------------------
imm=$here/immutable
if ! "$kubectl" apply --validate=strict -n "$ns" -f "$imm/create.yaml" >"$work/out" 2>"$work/err"; then
  fail "$(rel "$imm/create.yaml"): create failed:"
  sed 's/^/       /' "$work/err"
else
  pass "$(rel "$imm/create.yaml"): created"
  for file in "$imm"/reject-*.yaml; do
    check_rejected "$file"
  done
  for file in "$imm"/accept-*.yaml; do
    if ! "$kubectl" apply --validate=strict -n "$ns" -f "$file" >"$work/out" 2>"$work/err"; then
      fail "$(rel "$file"): update refused, want accepted:"
      sed 's/^/       /' "$work/err"
    elif ! check_verify "$file" "$kubectl" get -n "$ns" -f "$file"; then
      fail "$(rel "$file"): update accepted, but $why"
    else
      pass "$(rel "$file"): update accepted"
    fi
  done

  # Status: the printer columns show what the operator writes, and the status schema holds.
  # The Serving condition is written as the operator's codec writes it: an empty message
  # left out, times with microseconds.
  status='{"status":{"phase":"Replaying","reason":"CatchingUp","observedGeneration":1,"outputTopic":"sessions.v9",
    "lag":{"messages":42,"partitions":3,"consumed":123456,"seconds":3.5,"secondsEstimated":true,"sampledAt":"2030-01-01T00:00:00Z"},
    "replay":{"startedAt":"2030-01-01T00:00:00Z","progressPercent":57.5,"messagesPerSecond":1200.5,"etaSeconds":35,
      "lagWithinSince":"2030-01-01T00:01:00Z"},
    "validation":{"servingVersion":"v8","startedAt":"2030-01-01T00:02:00Z",
      "sampledKeys":10,"comparedKeys":10,"mismatchedKeys":0,"notComparableKeys":3,"mismatchRatio":0,
      "roundStartedAt":"2030-01-01T00:02:30Z","roundsPassed":2,"roundsPlanned":7,"recordsRead":5,"recordsToRead":9,
      "examples":[{"key":"u1","serving":{"revenue":1},"candidate":{"revenue":2},"diff":"revenue: 1 -> 2"}]},
    "shadow":{"servingVersion":"v7","startedAt":"2030-01-01T00:02:40Z","roundsPassed":1,"roundsPlanned":2,
      "sampledKeys":10,"comparedKeys":10,"mismatchedKeys":1,"notComparableKeys":0,"mismatchRatio":0.1,
      "examples":[{"key":"u2","serving":{"views":1},"candidate":{"views":2},"diff":"views: 1 -> 2"}]},
    "drainingSince":"2030-01-01T00:03:00Z","outputDeletedAt":"2030-01-01T00:04:00Z",
    "conditions":[
      {"type":"Validated","status":"True","reason":"Matched","message":"","lastTransitionTime":"2030-01-01T00:00:00Z"},
      {"type":"Serving","status":"False","reason":"NotPromoted","lastTransitionTime":"2030-01-01T00:00:00.000000Z"}]}}'
  want="cutover sessions v9 Replaying 42 3.5 57.5 Matched False 0 sessions.v9"
  if ! "$kubectl" patch plv cutover -n "$ns" --subresource=status --type=merge -p "$status" \
    >"$work/out" 2>"$work/err"; then
    fail "status update refused:"
    sed 's/^/       /' "$work/err"
  else
    header=$("$kubectl" get plv cutover -n "$ns" -o wide | head -1 | tr -s ' ')
    row=$("$kubectl" get plv cutover -n "$ns" -o wide --no-headers | tr -s ' ' | cut -d' ' -f1-11)
    if [ "$header" != "NAME PIPELINE VERSION PHASE LAG LAG-SECONDS PROGRESS VALIDATION SERVING MISMATCH OUTPUT AGE" ]; then
      fail "printer columns are '$header'"
    elif [ "$row" != "$want" ]; then
      fail "kubectl get plv -o wide prints '$row', want '$want'"
    else
      pass "printer columns: $header"
    fi
  fi
  # Fields the state machine (controllers/pipelineversion/types.h) writes: the status schema
  # is structural, so an undeclared one would be dropped without an error.
  kept=""
  for check in \
    "{.status.reason} CatchingUp" \
    "{.status.lag.consumed} 123456" \
    "{.status.lag.secondsEstimated} true" \
    "{.status.replay.lagWithinSince} 2030-01-01T00:01:00Z" \
    "{.status.validation.servingVersion} v8" \
    "{.status.validation.startedAt} 2030-01-01T00:02:00Z" \
    "{.status.validation.notComparableKeys} 3" \
    "{.status.validation.roundStartedAt} 2030-01-01T00:02:30Z" \
    "{.status.validation.roundsPassed} 2" \
    "{.status.validation.roundsPlanned} 7" \
    "{.status.validation.recordsToRead} 9" \
    "{.status.shadow.servingVersion} v7" \
    "{.status.shadow.examples[0].diff} views: 1 -> 2" \
    "{.status.drainingSince} 2030-01-01T00:03:00Z" \
    "{.status.outputDeletedAt} 2030-01-01T00:04:00Z" \
    "{.status.validation.examples[0].diff} revenue: 1 -> 2"; do
    path=${check%% *}
    value=${check#* }
    got=$("$kubectl" get plv cutover -n "$ns" -o "jsonpath=$path" 2>&1)
    [ "$got" = "$value" ] || kept="$kept $path is '$got', want '$value';"
  done
  if [ -n "$kept" ]; then
    fail "status fields not kept:$kept"
  else
    pass "status keeps reason, lag.consumed, lag.secondsEstimated, replay.lagWithinSince, validation.servingVersion/startedAt/examples[].diff, drainingSince, outputDeletedAt"
  fi
  consumed='{"status":{"lag":{"consumed":-1}}}'
  if "$kubectl" patch plv cutover -n "$ns" --subresource=status --type=merge -p "$consumed" \
    >"$work/out" 2>"$work/err"; then
    fail "status.lag.consumed -1 accepted, want at least 0"
  elif grep -qF 'status.lag.consumed: Invalid value: -1' "$work/err"; then
    pass "status.lag.consumed is at least 0"
  else
    fail "status.lag.consumed -1 rejected for another reason:"
    sed 's/^/       /' "$work/err"
  fi
  examples='{"status":{"validation":{"examples":[{"key":"u1"},{"key":"u2"},{"key":"u3"},{"key":"u4"},{"key":"u5"},{"key":"u6"}]}}}'
  if "$kubectl" patch plv cutover -n "$ns" --subresource=status --type=merge -p "$examples" \
    >"$work/out" 2>"$work/err"; then
    fail "status with 6 validation examples accepted, want at most 5"
  elif grep -qF 'status.validation.examples: Too many: 6: must have at most 5 items' "$work/err"; then
    pass "status.validation.examples holds at most 5 examples"
  else
    fail "status with 6 validation examples rejected for another reason:"
    sed 's/^/       /' "$work/err"
  fi
fi

summary || exit 1
