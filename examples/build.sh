#!/usr/bin/env bash
# Builds every example extension from source with pinned toolchains: a thin call of
# `ext-harness build` (see docs/cli.md).
#
#   examples/build.sh [--force] [EXAMPLE...]     (EXAMPLE: ext-js ext-add ext-wat starter)
#
# Toolchains (componentize-qjs from npm, componentize-py from PyPI) are installed on first use
# into the per-user tool cache ($EXT_HARNESS_TOOLCHAINS, else ~/.cache/ext-harness/toolchains).
# Outputs go to each example's build/ folder; each output is checked with
# `wasm-tools validate` and `wasm-tools component targets` against its world.
# An example whose inputs (sources, WIT, toolchain version, flags) are unchanged
# since its last build is not rebuilt; --force rebuilds anyway.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

OPTIONS=()
SELECTED=()
for arg in "$@"; do
  case "$arg" in
    --force) OPTIONS+=(--force) ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) [ -d "$HERE/$arg" ] || { echo "unknown example: $arg" >&2; exit 2; }; SELECTED+=("$HERE/$arg") ;;
  esac
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("$HERE")

if command -v ext-harness >/dev/null 2>&1; then
  exec ext-harness build "${OPTIONS[@]}" "${SELECTED[@]}"
fi
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m harness.cli build "${OPTIONS[@]}" "${SELECTED[@]}"
