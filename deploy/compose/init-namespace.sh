#!/bin/sh
# One-shot (docker-compose service temporal-init), once the server answers: the namespace the
# workers use, and the search attributes every rollback is started with (`rollback doctor` checks
# the same list). Safe to run again.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
addr="${TEMPORAL_ADDRESS:-temporal:7233}"
names="RollbackTarget RollbackKind RollbackFromVersion RollbackToVersion RollbackRequestedBy"
# Retries CMD... once a second for up to $1 seconds; the last attempt's error is shown.
retry() {
  limit=$1; shift
  i=0
  until "$@" >/tmp/retry.out 2>&1; do
    i=$((i + 1))
    [ "$i" -lt "$limit" ] || { cat /tmp/retry.out >&2; return 1; }
    sleep 1
  done
}
retry 120 sh -c "temporal operator cluster health --address '$addr' | grep -q SERVING" \
  || { echo "the server at $addr did not answer in 2 minutes" >&2; exit 1; }
temporal operator namespace describe --namespace "$ns" --address "$addr" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$ns" --retention 30d --address "$addr"
# A new namespace reaches the frontend's cache some seconds after it is created.
retry 60 temporal operator search-attribute list --namespace "$ns" --address "$addr" \
  || { echo "namespace $ns is not served 60 s after its creation" >&2; exit 1; }
for name in $names; do
  if temporal operator search-attribute list --namespace "$ns" --address "$addr" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    retry 30 temporal operator search-attribute create --namespace "$ns" --name "$name" --type Keyword --address "$addr" \
      || { echo "could not create search attribute $name" >&2; exit 1; }
    echo "search attribute $name created"
  fi
done
listed="$(temporal operator search-attribute list --namespace "$ns" --address "$addr")"
for name in $names; do
  echo "$listed" | grep -qw "$name" || { echo "search attribute $name is missing after create" >&2; exit 1; }
done
echo "namespace $ns ready"
