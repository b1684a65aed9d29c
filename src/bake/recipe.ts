/**
 * The bake recipe: what runs in the builder VM and in the verification boot,
 * as data and shell text. Its version is part of every bake fingerprint, so
 * changing anything here rebuilds every baked image at the next sync: bump
 * BAKE_RECIPE_VERSION with every change to the scripts below.
 *
 * Order in the builder VM (one boot):
 *   1. cloud-init applies the profiles' system-level parts (packages,
 *      write_files, units, sysctl, verified downloads, runcmd) with a
 *      throwaway `builder` user whose SSH key exists only for this build;
 *   2. hardening (HARDEN_SCRIPT);
 *   3. cleanup (CLEANUP_SCRIPT): builder user and home, host keys,
 *      authorized_keys, histories, cloud-init state, machine-id, random seed,
 *      apt lists, logs — so the image is user-agnostic;
 *   4. a clean power-off.
 * Steps 2–3 run through the guest agent (no SSH, no serial parsing).
 */

/** Bumped whenever a script or the build order changes (part of the fingerprint). */
export const BAKE_RECIPE_VERSION = 2;

/** The throwaway user of the builder VM. */
export const BUILDER_USER = 'builder';

/** Build-time parameters a bake may `set` (never identity). */
export const BAKE_SET_KEYS = ['timezone', 'locale'] as const;

/** A readonly-root image: / stays writable on an instance's first boot (identity goes to /etc), read-only from the next. */
export const FIRST_BOOT_RW_UNIT = 'ingot-first-boot-rw.service';

const FIRST_BOOT_RW = `[Unit]
Description=First boot of a baked read-only-root image: / writable until the next boot (cloud-init writes identity)
DefaultDependencies=no
After=systemd-remount-fs.service
Before=cloud-init-local.service sysinit.target
RequiresMountsFor=/var/lib/cloud
ConditionPathExists=!/var/lib/cloud/instance/boot-finished

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mount -o remount,rw /
ExecStartPost=-/bin/systemd-machine-id-setup --commit

[Install]
WantedBy=cloud-init-local.service
`;

/** Hardening applied to every baked image (002 and 003: no password logins, root locked, core dumps off). */
export const HARDEN_SCRIPT = `set -eu
passwd -l root >/dev/null
install -d -m 0755 /etc/ssh/sshd_config.d
printf '%s\\n' 'PasswordAuthentication no' 'PermitRootLogin no' 'KbdInteractiveAuthentication no' 'X11Forwarding no' >/etc/ssh/sshd_config.d/50-ingot-bake.conf
chmod 0644 /etc/ssh/sshd_config.d/50-ingot-bake.conf
# Also at the top of sshd_config itself (before any Match block): scanners (SSG's sshd_* rules) read only that file.
if [ -f /etc/ssh/sshd_config ]; then
  for kv in 'PermitRootLogin no' 'PermitEmptyPasswords no' 'PasswordAuthentication no'; do
    sed -i -E "/^[#[:space:]]*\${kv%% *}[[:space:]]/d" /etc/ssh/sshd_config
    sed -i "1i $kv" /etc/ssh/sshd_config
  done
fi
printf '%s\\n' 'fs.suid_dumpable = 0' 'kernel.kptr_restrict = 2' 'kernel.dmesg_restrict = 1' 'kernel.randomize_va_space = 2' >/etc/sysctl.d/90-ingot-bake.conf
printf '%s\\n' '* hard core 0' >/etc/security/limits.d/90-ingot-bake.conf 2>/dev/null || true
`;

/** The readonly-root first-boot unit, installed when readonly-root is baked in. */
export const READONLY_FIRST_BOOT_SCRIPT = `set -eu
cat >/etc/systemd/system/${FIRST_BOOT_RW_UNIT} <<'UNIT'
${FIRST_BOOT_RW}UNIT
systemctl enable ${FIRST_BOOT_RW_UNIT}
`;

/**
 * Cleanup before the power-off (003: sensitive data out of the image). Runs
 * as root through the guest agent; the builder user never logged in, so
 * nothing of it runs.
 */
export const CLEANUP_SCRIPT = `set -eu
pkill -KILL -u ${BUILDER_USER} 2>/dev/null || true
if getent passwd ${BUILDER_USER} >/dev/null; then userdel --remove --force ${BUILDER_USER} 2>/dev/null || true; fi
if getent passwd ${BUILDER_USER} >/dev/null; then echo "cleanup: cannot remove user ${BUILDER_USER}" >&2; exit 1; fi
rm -rf /home/${BUILDER_USER}
rm -f /etc/sudoers.d/90-cloud-init-users
sed -i '/^${BUILDER_USER}:/d' /etc/subuid /etc/subgid 2>/dev/null || true
rm -f /etc/ssh/ssh_host_*
find / -xdev \\( -name authorized_keys -o -name authorized_keys2 \\) -type f -delete
find / -xdev \\( -name .bash_history -o -name .zsh_history -o -name .python_history -o -name .lesshst -o -name .viminfo -o -name .wget-hsts \\) -type f -delete
if command -v apt-get >/dev/null; then apt-get clean; fi
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
if cloud-init clean --help 2>/dev/null | grep -q -- --machine-id; then
  cloud-init clean --logs --seed --machine-id
else
  cloud-init clean --logs --seed
fi
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /var/lib/systemd/random-seed /var/lib/systemd/credential.secret
rm -rf /tmp/* /var/tmp/*
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
rm -rf /var/log/journal/*
find /var/log -type f \\( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \\) -delete
find /var/log -type f -exec truncate -s 0 {} +
sync
`;

/** Checks of the verification boot, every image. */
export function verifyChecks(): { name: string; command: string }[] {
  return [
    { name: 'no builder user', command: `! getent passwd ${BUILDER_USER} && [ ! -e /home/${BUILDER_USER} ]` },
    { name: 'machine-id regenerated', command: `id="$(cat /etc/machine-id)"; [ -n "$id" ] && [ "$id" != uninitialized ]` },
    // The image has none (checked offline): with sshd installed, keys exist only if this instance made them.
    { name: 'host keys made on this instance', command: '! command -v sshd >/dev/null || ls /etc/ssh/ssh_host_*_key >/dev/null' },
  ];
}

/** The readonly-root checks of 002's phase 4 (after the reboot into the read-only root). */
export function readonlyChecks(): { name: string; command: string }[] {
  return [
    { name: '/ mounted read-only', command: 'findmnt -no OPTIONS / | tr , "\\n" | grep -qx ro' },
    { name: '/home and /var/lib writable', command: 'for d in /home /var/lib; do touch "$d/.ingot-verify" && rm -f "$d/.ingot-verify"; done' },
    { name: '/tmp is tmpfs', command: '[ "$(findmnt -no FSTYPE /tmp)" = tmpfs ]' },
    {
      name: 'apt-get install refused',
      command: [
        'd="$(mktemp -d)"; mkdir -p "$d/p/DEBIAN"',
        'printf "Package: ingot-probe\\nVersion: 1\\nArchitecture: all\\nMaintainer: ingot\\nDescription: probe\\n" >"$d/p/DEBIAN/control"',
        'dpkg-deb --build "$d/p" "$d/probe.deb" >/dev/null',
        'if apt-get install -y "$d/probe.deb" >"$d/out" 2>&1; then echo "apt-get install succeeded on the read-only root" >&2; exit 1; fi',
        'grep -q "read-only" "$d/out" || { cat "$d/out" >&2; exit 1; }',
      ].join('; '),
    },
  ];
}
