#!/usr/bin/env bash
# The README's five-minute tour, as a script: `npm run demo` (a real sync into
# the embedded store, offline), then the tour's commands exactly as README.md
# shows them (test/examples/examples.test.ts keeps the two identical), then
# checks that they left what the README says. Runs in this checkout's
# .ingot/demo, which `npm run demo` recreates every time.
source "$(dirname "$0")/../lib.sh"
need minisign
need npx npm

cd "$INGOT_ROOT"
say "npm run demo"
npm run demo

say "the tour"
set -x
# --- tour: README.md, "A five-minute tour" ---
cd .ingot/demo
export INGOT_SIGNING_PASSWORD=demo-password
npx ingot keys generate --out keys --kdf interactive     # keys/ingot.key (encrypted), keys/ingot.pub
npx ingot sign --store .ingot/store --signing-key keys/ingot.key
npx ingot channel set demo-disk stable 1.0 --store .ingot/store --signing-key keys/ingot.key
npx ingot pull demo-disk --channel stable --store .ingot/store --to cache --public-key keys/ingot.pub
npx ingot cache list --cache cache                       # cache/current-demo-disk -> disk-1.0.raw
minisign -Vm .ingot/store/index.json -p keys/ingot.pub  # the same signature, checked by minisign
# --- end of tour ---
set +x

say "what the tour left, as the README says"
test -f keys/ingot.key && test -f keys/ingot.pub
test "$(readlink cache/current-demo-disk)" = disk-1.0.raw
(cd cache && sha256sum -c disk-1.0.raw.sha256)
say "done: synced, signed, channel set, pulled and verified"
