#!/usr/bin/env bash
# The homelab example, offline: profiles + versions.yaml → a baked,
# readonly-root, scanned, signed image → launched from the store with only
# an identity. The project's cached Debian test image (scripts/build-test-vm.sh)
# stands in for a downloaded cloud image.
#
#   SKIP_BOOT=1   stop after validate and the sync plan (no VM; what
#                 test/examples runs — test/bake/bake-vm.test.ts bakes for real)
#   IMAGE_DIR     disk.qcow2 + vmlinuz + initrd.img (default: the cached test image)
source "$(dirname "$0")/../lib.sh"
here="$EXAMPLES_DIR/homelab"
need sha256sum coreutils

say "1. the workspace: profiles, versions.yaml, the manifest with the base's digests"
mkdir -p "$WORK/lab/profiles" "$WORK/lab/base" "$WORK/lab/keys"
cp "$here"/profiles/*.yaml "$WORK/lab/profiles/"
cp "$INGOT_ROOT/profiles/readonly-root.yaml" "$WORK/lab/profiles/"
if [ "${SKIP_BOOT:-0}" = 1 ]; then
  # A stand-in base (never booted): the plan only needs digests.
  printf 'not booted' >"$WORK/lab/base/disk.qcow2"; cp "$WORK/lab/base/disk.qcow2" "$WORK/lab/base/vmlinuz"; cp "$WORK/lab/base/disk.qcow2" "$WORK/lab/base/initrd.img"
else
  need qemu-system-x86_64 qemu-system-x86; need qemu-img qemu-utils; need xorriso; need ssh-keygen openssh-client
  need debugfs e2fsprogs; need mkfs.ext4 e2fsprogs; need oscap openscap-scanner
  image="${IMAGE_DIR:-$("$INGOT_ROOT/scripts/build-test-vm.sh")}"
  for f in disk.qcow2 vmlinuz initrd.img; do ln "$image/$f" "$WORK/lab/base/$f" 2>/dev/null || cp "$image/$f" "$WORK/lab/base/$f"; done
fi
digest() { echo "sha256:$(sha256sum "$WORK/lab/base/$1" | cut -d' ' -f1)"; }
sed -e "s|@DISK@|$(digest disk.qcow2)|" -e "s|@KERNEL@|$(digest vmlinuz)|" -e "s|@INITRD@|$(digest initrd.img)|" "$here/images.yaml.in" >"$WORK/lab/images.yaml"
cd "$WORK/lab"
show ingot keys generate --out keys --unencrypted >/dev/null

say "2. validate: references, profiles, sizes"
show ingot validate -m images.yaml

say "3. the plan: the base images are published, the bake is built (no fingerprint stored yet)"
show ingot sync -m images.yaml --store store --dry-run

if [ "${SKIP_BOOT:-0}" = 1 ]; then
  echo "SKIP_BOOT=1: nothing baked"
  exit 0
fi

say "4. bake: builder VM, hardening, cleanup, verification boot, OpenSCAP scan; then sign"
show ingot sync -m images.yaml --store store
ls -l store/images/homelab/

say "5. again: the bake is current (same fingerprint) and skipped"
show ingot sync -m images.yaml --store store --only homelab-base-2026.11

say "6. a host launches the baked image from the store: identity only, readonly-root checked"
ssh-keygen -q -t ed25519 -N '' -C homelab -f "$WORK/id"
show ingot launch readonly-root --profiles-dir profiles --image homelab-base-2026.11 --store store --public-key keys/ingot.pub \
  --cache "$WORK/cache" --disk state:2G --memory 1536M --name homelab-1 --vms-dir "$WORK/vms" \
  --set user=alice --set "ssh_key=$(cat "$WORK/id.pub")" --stop --rm-on-failure
