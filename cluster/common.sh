# Shared by the cluster scripts: read the environment file and pick this node's private address.
# shellcheck shell=bash

load_env() {
  local env_file="${KAIRO_ENV_FILE:-/etc/kairo-ray/.env}"
  if [ -f "$env_file" ]; then
    set -a
    # shellcheck disable=SC1090
    . "$env_file"
    set +a
  fi
  # Ray 2.60 enables token authentication on the head; every node and client must use it.
  # On a worker VPS, put the head's token (`ray get-auth-token` there) in RAY_AUTH_TOKEN.
  export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"
  # Serve's control loop and handle metrics at 0.1 s only take CPU from OCR on a small node
  # (the same defaults as kairo_ray.control.SERVE_TUNING_ENV).
  export RAY_SERVE_CONTROL_LOOP_INTERVAL_S="${RAY_SERVE_CONTROL_LOOP_INTERVAL_S:-0.5}"
  export RAY_SERVE_METRICS_EXPORT_INTERVAL_MS="${RAY_SERVE_METRICS_EXPORT_INTERVAL_MS:-1000}"
  # Ray retries tasks its memory monitor kills without limit by default (control.SERVE_TUNING_ENV).
  export RAY_task_oom_retries="${RAY_task_oom_retries:-2}"
}

# Ray's ports have no authentication: they must only be reachable on a private network.
# RAY_NODE_IP wins; otherwise the first private IPv4 address of this machine; else loopback.
private_ip() {
  if [ -n "${RAY_NODE_IP:-}" ]; then echo "$RAY_NODE_IP"; return; fi
  local ip
  for ip in $(hostname -I 2>/dev/null); do
    case "$ip" in
      10.*|192.168.*|172.1[6-9].*|172.2[0-9].*|172.3[0-1].*) echo "$ip"; return ;;
    esac
  done
  echo "127.0.0.1"
}
