#!/bin/sh
# One-shot (docker-compose service temporal-init), once the server answers: the namespace the
# workers use, and the search attributes every rollback is started with (`rollback doctor` checks
# the same list). Safe to run again.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
addr="${TEMPORAL_ADDRESS:-temporal:7233}"
i=0
until temporal operator cluster health --address "$addr" 2>/dev/null | grep -q SERVING; do
  i=$((i + 1)); [ "$i" -lt 120 ] || { echo "the server at $addr did not answer in 2 minutes" >&2; exit 1; }
  sleep 1
done
temporal operator namespace describe --namespace "$ns" --address "$addr" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$ns" --retention 30d --address "$addr"
for name in RollbackTarget RollbackKind RollbackFromVersion RollbackToVersion RollbackRequestedBy; do
  temporal operator search-attribute create --namespace "$ns" --name "$name" --type Keyword --address "$addr" 2>/dev/null \
    || echo "search attribute $name exists"
done
listed="$(temporal operator search-attribute list --namespace "$ns" --address "$addr")"
for name in RollbackTarget RollbackKind RollbackFromVersion RollbackToVersion RollbackRequestedBy; do
  echo "$listed" | grep -q "$name" || { echo "search attribute $name is missing after create" >&2; exit 1; }
done
echo "namespace $ns ready"
