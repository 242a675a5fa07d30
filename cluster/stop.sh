#!/usr/bin/env bash
# Stop kairo-ray on this node. On the head, the driver first hands its jobs back to the queue.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
load_env
if [ "${1:-}" = "--head" ]; then kairo-ray down; else ray stop; fi
