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

token_fix="copy the head's token (\`ray get-auth-token\` on the head) into RAY_AUTH_TOKEN=... in ${KAIRO_ENV_FILE:-/etc/kairo-ray/.env}"
if [ "$RAY_AUTH_MODE" = "token" ] && [ -z "${RAY_AUTH_TOKEN:-}" ] &&
  [ ! -s "${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}" ]; then
  echo "join-worker: this machine has no Ray cluster token, and the head requires one: $token_fix" >&2
  exit 2
fi

start=(ray start \
  --address="$head" \
  --node-ip-address="$(private_ip)" \
  --metrics-export-port="${RAY_METRICS_PORT:-8080}" \
  --disable-usage-stats \
  ${RAY_NUM_CPUS:+--num-cpus="$RAY_NUM_CPUS"})

if [ "${#block[@]}" -gt 0 ]; then exec "${start[@]}" "${block[@]}"; fi
if ! err=$("${start[@]}" 2>&1 >/dev/null); then
  echo "$err" | tail -n 5 >&2
  if echo "$err" | grep -qi "authentication\|token"; then
    echo "join-worker: the head refused this node's Ray token: $token_fix" >&2
  fi
  exit 1
fi
echo "joined the kairo-ray cluster at $head"
