#!/usr/bin/env bash
# Start this VPS as the head of a kairo-ray cluster: Ray head (GCS + dashboard), then the
# application (Serve deployments, HTTP API, queue driver) via `kairo-ray up`.
#
#   RAY_NODE_IP=10.0.0.1 cluster/start-head.sh          # or put RAY_NODE_IP in /etc/kairo-ray/.env
#   cluster/start-head.sh --block                        # stay in the foreground (systemd)
#
# Binds Ray to the private address only; the dashboard listens on 127.0.0.1:8265 (reach it through
# `ssh -L 8265:127.0.0.1:8265 vps`); the HTTP API on API_HOST:API_PORT (default 127.0.0.1:8000, behind deployments/nginx).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
load_env
node_ip="$(private_ip)"
port="${RAY_PORT:-6379}"

# Ray refuses to start a head without a token and does not create one: make sure there is one.
kairo-ray token

ray start --head \
  --node-ip-address="$node_ip" \
  --port="$port" \
  --dashboard-host="${RAY_DASHBOARD_HOST:-127.0.0.1}" \
  --dashboard-port="${RAY_DASHBOARD_PORT:-8265}" \
  --metrics-export-port="${RAY_METRICS_PORT:-8080}" \
  --disable-usage-stats \
  ${RAY_NUM_CPUS:+--num-cpus="$RAY_NUM_CPUS"}

kairo-ray up --address "$node_ip:$port"
echo "head running at $node_ip:$port; workers join with: cluster/join-worker.sh $node_ip:$port"

if [ "${1:-}" = "--block" ]; then
  # Keep the unit alive while the local raylet lives.
  while ray status --address "$node_ip:$port" >/dev/null 2>&1; do sleep 30; done
  exit 1
fi
