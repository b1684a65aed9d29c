# Shared by examples/*/run.sh (source it; it is not an example itself).
#
# - strict mode, and `ingot` = the CLI of this checkout (dist/src/bin.js, built
#   first if missing), also on PATH as a small shim for child processes;
# - WORK: a fresh work directory, removed at exit unless KEEP=1
#   (INGOT_EXAMPLE_WORK=DIR uses DIR instead and keeps it);
# - `need TOOL [PACKAGE]`: a missing tool skips the example (exit 77);
# - `say TEXT`: a step header; `show CMD…`: print a command, then run it.
set -euo pipefail

EXAMPLES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INGOT_ROOT=$(dirname "$EXAMPLES_DIR")
export INGOT_ROOT

if [ ! -f "$INGOT_ROOT/dist/src/bin.js" ]; then
  echo "building ingot (npm run build) …" >&2
  (cd "$INGOT_ROOT" && npm run build --silent >&2)
fi

if [ -n "${INGOT_EXAMPLE_WORK:-}" ]; then
  WORK=$INGOT_EXAMPLE_WORK
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ingot-example.XXXXXX")
  if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; else echo "work directory: $WORK (kept)" >&2; fi
fi
export WORK

# `ingot` on PATH, for scripts and child processes alike.
mkdir -p "$WORK/.bin"
printf '#!/bin/sh\nexec node "%s/dist/src/bin.js" "$@"\n' "$INGOT_ROOT" > "$WORK/.bin/ingot"
chmod +x "$WORK/.bin/ingot"
PATH="$WORK/.bin:$PATH"

need() {
  command -v "$1" > /dev/null 2>&1 && return 0
  echo "SKIP: $1 is not installed (apt-get install ${2:-$1})" >&2
  exit 77
}

if [ -t 1 ]; then _b=$'\e[1m' _n=$'\e[0m'; else _b='' _n=''; fi
say() { printf '\n%s== %s%s\n' "$_b" "$*" "$_n"; }
show() {
  printf '$ %s\n' "$*"
  "$@"
}
