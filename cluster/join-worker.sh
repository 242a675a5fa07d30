#!/usr/bin/env bash
# Join this VPS to a running kairo-ray cluster as a worker node. Nothing else is needed: the OCR
# deployment autoscales a replica onto it and page tasks spread to it.
#
#   cluster/join-worker.sh 10.0.0.1:6379              # head address (or RAY_HEAD_ADDRESS)
#   cluster/join-worker.sh 10.0.0.1:6379 --block      # foreground, for systemd
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
load_env
head="${1:-${RAY_HEAD_ADDRESS:-}}"
if [ -z "$head" ] || [ "$head" = "--block" ]; then
  echo "usage: $0 HEAD_IP:6379 [--block]   (or set RAY_HEAD_ADDRESS)" >&2
  exit 2
fi
shift || true
block=()
if [ "${1:-}" = "--block" ]; then block=(--block); fi

exec ray start \
  --address="$head" \
  --node-ip-address="$(private_ip)" \
  --metrics-export-port="${RAY_METRICS_PORT:-8080}" \
  --disable-usage-stats \
  ${RAY_NUM_CPUS:+--num-cpus="$RAY_NUM_CPUS"} \
  "${block[@]}"
