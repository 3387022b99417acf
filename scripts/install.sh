#!/usr/bin/env bash
# Install everything dws-edit needs on a fresh Debian machine: system packages, then ONE pip call
# into .venv (torch, nerfstudio, gradio, open3d, ... resolve together; see pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# libusb-1.0-0: open3d imports it; dataset-fashion-mnist: the real Fashion-MNIST IDX files;
# chromium + chromium-driver: the headless browser of the app's end-to-end tests.
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  libusb-1.0-0 dataset-fashion-mnist chromium chromium-driver >/dev/null

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q -e ".[dev]"
.venv/bin/pip check
echo "dws-edit installed in .venv"
