#!/usr/bin/env bash
# Guest-init delivery, end to end and offline: a publisher builds a guest-init
# initramfs with ingot, pairs it with a kernel in a boot set, publishes and
# signs both, and moves a "stable" channel; a host pulls through the channel,
# verifies, boots the pair with `ingot boot`, takes an upgrade and rolls back.
# See README.md beside this file.
source "$(dirname "$0")/../lib.sh"
need qemu-system-x86_64 qemu-system-x86
need busybox busybox-static
need minisign

kernel=$(ls /boot/vmlinuz-* 2> /dev/null | sort -V | tail -n 1 || true)
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
  echo "SKIP: no readable /boot/vmlinuz-* (apt-get install linux-image-amd64; run as root)" >&2
  exit 77
fi
release=${kernel#/boot/vmlinuz-}
[ -r "/boot/config-$release" ] || { echo "SKIP: /boot/config-$release is missing (the boot set records its digest)" >&2; exit 77; }

export INGOT_SIGNING_PASSWORD=example-password # the signing key's password (CI: a secret)
cd "$WORK"
mkdir -p publisher/vendor host

say "Publisher: inputs — Debian's kernel, a static busybox, the guest-init program"
cp "$kernel" publisher/vendor/vmlinuz
cp "$(command -v busybox)" publisher/vendor/busybox
# The guest-init program: mounts the usual file systems, says which version runs, powers off.
write_init() {
  cat > "publisher/guest-init-$1.sh" << INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "guest-init $1 ready (protocol 1, kernel \$(uname -r))"
poweroff -f
INIT
}

# One initramfs image per guest-init version; the boot set names the current one.
initramfs_image() {
  cat << IMAGE
    - name: guest-init-$1
      family: guest-init
      version: $1
      source:
        type: initramfs
        version: $1
        buildId: example-$1
        compression: gzip
        entries:
          - { type: file, path: init, source: guest-init-$1.sh, mode: "0755" }
          - { type: file, path: bin/busybox, source: vendor/busybox, mode: "0755" }
          - { type: symlink, path: bin/sh, target: busybox }
          - { type: symlink, path: bin/mount, target: busybox }
          - { type: symlink, path: bin/uname, target: busybox }
          - { type: symlink, path: bin/poweroff, target: busybox }
          - { type: char, path: dev/console, major: 5, minor: 1 }
          - { type: directory, path: proc, mode: "0555" }
          - { type: directory, path: sys, mode: "0555" }
      destination: { path: boot/initramfs-guest-init-$1.img }
      compatibility: { guestInitProtocol: 1, minAgentVersion: 1.0.0 }
IMAGE
}

write_manifest() { # $1 = the boot set's guest-init version; $2… = versions published
  local current=$1
  shift
  {
    cat << HEAD
apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata: { name: guest-init-delivery }
spec:
  signing: { key: keys/ingot.key, expires: 7d }
  images:
    - name: kernel
      family: kernel
      version: $release
      source: { type: file, path: vendor/vmlinuz, checksum: "sha256:$(sha256sum publisher/vendor/vmlinuz | cut -d' ' -f1)" }
      destination: { path: boot/vmlinuz-$release }
HEAD
    for v in "$@"; do initramfs_image "$v"; done
    cat << SETS
  bootSets:
    - name: platform
      kernel: { image: kernel, version: $release, buildId: debian-$release, configSha256: "sha256:$(sha256sum "/boot/config-$release" | cut -d' ' -f1)" }
      initramfs: { image: guest-init-$current, guestInitProtocol: 1 }
      compatibility: { minAgentVersion: 1.0.0, supportedProtocols: [1] }
SETS
  } > publisher/images.yaml
}

# How a host gets what it boots: the kernel by family, the initramfs through
# the signed "stable" channel. (With `ingot pull --boot-set platform` the pair
# would come as one verified unit; swap it in here.)
host_pull() {
  (cd host && show ingot pull kernel --store ../publisher/.ingot/store --to kernels --public-key ../publisher/keys/ingot.pub)
  (cd host && show ingot pull guest-init --channel stable --store ../publisher/.ingot/store --to kernels \
    --public-key ../publisher/keys/ingot.pub --agent-version 1.2.0 --protocol 1)
}

host_boot() { # $1 = the guest-init version that must come up
  (cd host && show ingot boot --kernel kernels/current-kernel --initrd kernels/current-guest-init \
    --expect "guest-init $1 ready" --timeout 240)
}

say "Publisher: a signing key (encrypted with INGOT_SIGNING_PASSWORD)"
(cd publisher && show ingot keys generate --out keys --kdf interactive)

say "Publisher: release guest-init 1.0.0 — build, publish, sign (images, index, boot manifest)"
write_init 1.0.0
write_manifest 1.0.0 1.0.0
(cd publisher && show ingot validate && show ingot sync)
(cd publisher && show minisign -Vm .ingot/store/boot/platform.json -p keys/ingot.pub)
(cd publisher && show ingot channel set guest-init stable 1.0.0 --store .ingot/store --signing-key keys/ingot.key)

say "Host: pull through the channel (signature, digests, compatibility checked), then boot the pair"
host_pull
(cd host/kernels && show sha256sum -c initramfs-guest-init-1.0.0.img.sha256)
# The boot manifest's initramfs digest is the digest of what the host verified and cached.
node -e '
  const [doc, file] = process.argv.slice(1);
  const want = JSON.parse(require("fs").readFileSync(doc, "utf8")).initramfs.sha256;
  const got = require("crypto").createHash("sha256").update(require("fs").readFileSync(file)).digest("hex");
  if (want !== got) { console.error(`boot manifest says ${want}, host has ${got}`); process.exit(1); }
  console.log(`boot manifest and host cache agree: sha256 ${got.slice(0, 16)}…`);
' publisher/.ingot/store/boot/platform.json host/kernels/current-guest-init
host_boot 1.0.0

say "Publisher: release guest-init 1.1.0 and move stable to it"
write_init 1.1.0
write_manifest 1.1.0 1.0.0 1.1.0
(cd publisher && show ingot sync && show ingot channel set guest-init stable 1.1.0 --store .ingot/store --signing-key keys/ingot.key)

say "Host: pull the upgrade and boot it"
host_pull
(cd host && show ingot cache list --cache kernels)
host_boot 1.1.0

say "Publisher: roll the channel back; the host follows without downloading anything"
(cd publisher && show ingot channel rollback guest-init stable --store .ingot/store --signing-key keys/ingot.key)
host_pull
(cd host && show ingot cache list --cache kernels)
test "$(readlink host/kernels/current-guest-init)" = initramfs-guest-init-1.0.0.img
host_boot 1.0.0

say "Host: or switch locally, among what it has: cache rollback goes to the version pulled before (here 1.1.0)"
(cd host && show ingot cache rollback --cache kernels --family guest-init)
test "$(readlink host/kernels/current-guest-init)" = initramfs-guest-init-1.1.0.img

say "done: built, published, signed, pulled, booted, upgraded and rolled back"
