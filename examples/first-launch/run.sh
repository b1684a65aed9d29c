#!/usr/bin/env bash
# The first-launch example, end to end, offline: render and check the
# profile, show the plan (--dry-run), then launch it on the cached Debian test
# image under QEMU, with the release artifacts served from this machine.
#
# Environment:
#   INGOT            the ingot command (default: `ingot`, else this checkout's)
#   IMAGE_DIR        a directory with disk.qcow2, vmlinuz, initrd.img
#                    (default: built or reused by scripts/build-test-vm.sh)
#   VMS_DIR          where the VM is kept (default: a temporary directory)
#   NAME             the VM name (default: first-launch)
#   SKIP_BOOT=1      stop after render, validate and --dry-run (no VM)
#   SIMULATE_OUTAGE=1  launch while the artifact server is still down: the pull
#                    step fails after its retries, the VM is kept, then the
#                    server comes up and `ingot launch --resume` completes it
#   KEEP=1           leave the VM running at the end (else it is deleted)
#   TIMEOUT          the launch deadline in seconds (default 900, as in 000)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [[ -n "${INGOT:-}" ]]; then
  read -ra ingot <<<"$INGOT"
elif command -v ingot >/dev/null; then
  ingot=(ingot)
elif [[ -f "$root/src/bin.ts" && -d "$root/node_modules/tsx" ]]; then
  ingot=(node --import tsx "$root/src/bin.ts")   # a checkout: run the sources
else
  ingot=(node "$root/dist/src/bin.js")
fi
cd "$root"
name="${NAME:-first-launch}"
work="$(mktemp -d "${TMPDIR:-/tmp}/ingot-first-launch.XXXXXX")"
vms="${VMS_DIR:-$root/.ingot/vms}"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

say "1. render the profile (identity only at deploy time) and check it"
"${ingot[@]}" cloud-init render app --profiles-dir "$here" --set hostname=app-vm --out "$work/user-data"
"${ingot[@]}" cloud-init validate "$work/user-data"

say "2. the plan: every command a launch runs, nothing started"
"${ingot[@]}" launch app --profiles-dir "$here" --image /path/to/base.qcow2 --name "$name" \
  --vms-dir "$vms" --env ARTIFACTS_URL=http://10.0.2.2:8000 --accel tcg --dry-run

if [[ "${SKIP_BOOT:-}" == 1 ]]; then
  echo "SKIP_BOOT=1: no VM launched"
  exit 0
fi

say "3. the base image (cached) and a throwaway login key"
image="${IMAGE_DIR:-$(scripts/build-test-vm.sh)}"
key=()
if command -v ssh-keygen >/dev/null; then
  ssh-keygen -q -t ed25519 -N '' -C first-launch -f "$work/id"
  key=(--set user=app --set "ssh_key=$(cat "$work/id.pub")")
fi

start_server() {
  node "$here/serve.mjs" "$here/artifacts" "$1" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    grep -q '^listening on' "$work/server.log" 2>/dev/null && break
    sleep 0.1
  done
  sed -n 's/^listening on //p' "$work/server.log"
}
# The artifact server's port; with SIMULATE_OUTAGE it starts only later, on this port.
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
if [[ "${SIMULATE_OUTAGE:-}" != 1 ]]; then start_server "$port" >/dev/null; fi

launch=("${ingot[@]}" launch app --profiles-dir "$here" --name "$name" --vms-dir "$vms"
  --image "$image/disk.qcow2" --kernel "$image/vmlinuz" --initrd "$image/initrd.img"
  --set hostname=app-vm "${key[@]}" --env "ARTIFACTS_URL=http://10.0.2.2:$port" --timeout "${TIMEOUT:-900}")

say "4. launch: cloud-init, then transfer, pull, verify digests, up, health"
if [[ "${SIMULATE_OUTAGE:-}" == 1 ]]; then
  if "${launch[@]}"; then
    echo "expected the pull to fail while the artifact server is down" >&2
    exit 1
  fi
  say "4b. the artifact server is back: resume (cloud-init checked again, every step re-run)"
  start_server "$port" >/dev/null
  "${ingot[@]}" launch --resume "$name" --vms-dir "$vms"
else
  "${launch[@]}"
fi

say "5. the VM, managed by name"
"${ingot[@]}" vm list --vms-dir "$vms"
"${ingot[@]}" vm exec "$name" --vms-dir "$vms" -- systemctl is-active app-runtime.service app.service
if [[ -f "$work/id" ]]; then
  "${ingot[@]}" vm ssh "$name" --vms-dir "$vms" -i "$work/id" -- cat /opt/app/site/version.txt
fi

if [[ "${KEEP:-}" == 1 ]]; then
  echo "KEEP=1: $name keeps running (ingot vm delete $name --vms-dir $vms)"
else
  say "6. delete it"
  "${ingot[@]}" vm delete "$name" --vms-dir "$vms"
fi
