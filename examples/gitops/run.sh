#!/bin/sh
# Rehearse the pipeline on this machine, offline: the commands the workflow
# runs (validate, packer init, sync, list, prune), against a local directory
# store instead of the bucket, so no credentials are needed. Run it from a
# copy of this folder, or in place. Needs ingot (or a built ingot checkout)
# and packer on PATH.
#
#   sh run.sh                  store in .ingot/rehearsal beside this file
#   STORE=/tmp/images sh run.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
store=${STORE:-"$here/.ingot/rehearsal"}

# ingot from PATH, else the checkout this example ships in (after npm run build).
if [ -n "${INGOT:-}" ]; then
  :
elif command -v ingot >/dev/null 2>&1; then
  INGOT=ingot
elif [ -f "$here/../../dist/src/bin.js" ]; then
  INGOT="node $here/../../dist/src/bin.js"
else
  echo "run.sh: ingot is not on PATH (npm install --global, see README.md)" >&2
  exit 2
fi

step() { printf '\n== %s\n' "$*"; }

step "validate"
$INGOT validate

step "packer init"
for dir in infrastructure/network/gateway/packer; do
  if packer init -help >/dev/null 2>&1; then
    packer init "$dir"
  else
    echo "packer $(packer version | head -n1) has no init; nothing to install for $dir"
  fi
done

step "which store, and why"
$INGOT doctor --store "$store"

step "sync --dry-run"
$INGOT sync --dry-run --store "$store"

step "sync"
$INGOT sync --store "$store"

step "sync again: nothing to do"
$INGOT sync --store "$store"

step "list"
$INGOT list --store "$store"

step "prune --dry-run"
$INGOT prune --dry-run --store "$store"

printf '\nPublished into %s:\n' "$store"
(cd "$store" && find images metadata -type f | sort)
