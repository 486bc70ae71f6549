#!/usr/bin/env bash
# Regenerate the hash-locked requirements of the controller image (Dockerfile) with uv's
# pip-compile: the runtime dependencies of pyproject.toml, and what builds the wheel.
# Locked for the image's interpreter and platform (CPython 3.11, x86_64 Linux), wheels only.
# Extra arguments go to uv, e.g. `-c constraints.txt` from `pip freeze` of the environment the
# test suite ran in, so the image gets the tested versions.
# uv need not be installed in the project's environment: `pipx run uv`, or
#   pip install --target /tmp/uv uv && PATH=/tmp/uv/bin:$PATH bash requirements/compile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_CUSTOM_COMPILE_COMMAND="bash requirements/compile.sh"
common=(--generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
  --only-binary :all: --quiet "$@")
uv pip compile pyproject.toml "${common[@]}" -o requirements/controller.txt
uv pip compile requirements/build.in "${common[@]}" -o requirements/build.txt
