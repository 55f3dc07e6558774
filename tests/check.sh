#!/usr/bin/env bash
# The whole test command: lint, format check, shellcheck of the launcher, then the test suite.
# Usage: bash tests/check.sh [pytest args...]
set -o errexit -o nounset -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# pip puts ruff and shellcheck next to the interpreter; pyenv shims may not know them yet.
scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH="${scripts_dir}:${PATH}"

echo "== pip check"
python3 -m pip check
echo "== ruff check"
ruff check .
echo "== ruff format --check"
ruff format --check .
echo "== shellcheck"
shellcheck run_sft_pipeline.sh tests/check.sh .ci/run
echo "== pytest"
python3 -m pytest -q "$@"
