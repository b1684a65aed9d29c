#!/usr/bin/env bash
# Builds (or reuses) a small Debian bookworm VM image with cloud-init,
# qemu-guest-agent and openssh-server for ingot's end-to-end launch tests.
#
# Output: a directory holding disk.qcow2, vmlinuz and initrd.img; its path is
# printed as the last line on stdout. The image is cached outside the repo in
# ${INGOT_VM_CACHE:-/var/cache/ingot-test-vm}/<key>, where <key> is a digest
# of this script (package list + customisation), the suite, the mirror and a
# time bucket (year-month, so security updates arrive monthly).
# A cache miss costs about 2 minutes and needs the Debian mirror; a hit is
# instant. Needs root (debootstrap), mkfs.ext4 (-d) and qemu-img.
set -euo pipefail

SUITE=bookworm
MIRROR="${INGOT_VM_MIRROR:-http://deb.debian.org/debian}"
CACHE="${INGOT_VM_CACHE:-/var/cache/ingot-test-vm}"
BUCKET="${INGOT_VM_BUCKET:-$(date -u +%Y-%m)}"
DISK_SIZE=2G

# debootstrap does not resolve virtual packages: python3-cffi-backend must be
# listed or cloud-init stays unconfigured (VM-TESTING.md).
PACKAGES=systemd-sysv,udev,cloud-init,qemu-guest-agent,ifupdown,isc-dhcp-client,linux-image-amd64,initramfs-tools,zstd,python3-cffi-backend,openssh-server

self="$(readlink -f "${BASH_SOURCE[0]}")"
key="$( { sha256sum <"$self"; echo "$SUITE $MIRROR $BUCKET"; } | sha256sum | cut -c1-16)"
out="$CACHE/bookworm-$key"

if [[ -f "$out/ok" ]]; then
  echo "$out"
  exit 0
fi

for tool in debootstrap mkfs.ext4 qemu-img flock; do
  command -v "$tool" >/dev/null || { echo "build-test-vm: $tool not found (apt-get install debootstrap e2fsprogs qemu-utils util-linux)" >&2; exit 2; }
done
if [[ "$(id -u)" != 0 ]]; then
  echo "build-test-vm: debootstrap needs root" >&2
  exit 2
fi

mkdir -p "$CACHE"
# One builder at a time; a second caller waits and then reuses the result.
exec 9>"$CACHE/.lock"
flock 9
if [[ -f "$out/ok" ]]; then
  echo "$out"
  exit 0
fi

work="$(mktemp -d "$CACHE/.build.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
root="$work/root"

start=$(date +%s)
echo "build-test-vm: debootstrap $SUITE from $MIRROR into $root" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >&2

# --- customisation (part of the cache key: it is in this file) ---
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$root/etc/fstab"
cat >"$root/etc/cloud/cloud.cfg.d/90-ingot-test.cfg" <<'EOF'
datasource_list: [NoCloud, None]
# One host key type: rsa/ecdsa generation is slow under software emulation.
# (An empty list is invalid for cloud-init's schema: minItems 1.)
ssh_genkeytypes: [ed25519]
EOF
# Without a configured locale cloud-init's locale module fails (status: error).
echo 'LANG=C.UTF-8' >"$root/etc/default/locale"
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# Every boot of an overlay is a new machine.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo 'localhost' >"$root/etc/hostname"
# No host identity in the image: cloud-init generates host keys at first boot.
rm -f "$root"/etc/ssh/ssh_host_*
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

mkdir -p "$work/out"
cp "$root"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/out/initrd.img"
chmod 0644 "$work/out/vmlinuz" "$work/out/initrd.img"

echo "build-test-vm: mkfs.ext4 -d (no loop mount) + qemu-img convert" >&2
mkfs.ext4 -q -L root -d "$root" "$work/disk.raw" "$DISK_SIZE" >&2
qemu-img convert -O qcow2 "$work/disk.raw" "$work/out/disk.qcow2"
rm -f "$work/disk.raw"

{
  echo "suite=$SUITE"
  echo "mirror=$MIRROR"
  echo "bucket=$BUCKET"
  echo "packages=$PACKAGES"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "seconds=$(( $(date +%s) - start ))"
} >"$work/out/info"
touch "$work/out/ok"
rm -rf "$out"
mv "$work/out" "$out"
# Older keys (last month's bucket, an edited script) are dead weight: ~760 MB each.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'bookworm-*' ! -path "$out" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
echo "build-test-vm: done in $(( $(date +%s) - start ))s" >&2
echo "$out"
