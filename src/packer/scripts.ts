/**
 * The provisioning scripts every generated template runs, in order:
 * init (wait for first boot to settle), install (packages), the user's own
 * scripts, hardening (CIS subset), cleanup (make the image safe to clone).
 */
import { renderScript, shQuote } from './shell.js';

/** Waits for cloud-init and apt locks so later steps do not race first boot. */
export function initScript(): string {
  return renderScript({
    purpose: 'First step: wait until first boot has finished, then refresh package lists.',
    steps: [
      {
        comment: ['cloud-init installs packages and writes apt sources on first boot; let it finish.'],
        commands: ['if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null || true; fi'],
      },
      {
        comment: ['Unattended upgrades hold the dpkg lock for minutes on a fresh VM.'],
        commands: [
          'i=0',
          'while fuser /var/lib/dpkg/lock-frontend /var/lib/apt/lists/lock >/dev/null 2>&1; do',
          '  i=$((i + 1)); [ "$i" -gt 120 ] && { echo "dpkg lock still held after 10 minutes" >&2; exit 1; }',
          '  sleep 5',
          'done',
          'DEBIAN_FRONTEND=noninteractive apt-get update',
        ],
      },
    ],
  });
}

/** Upgrades the base image and installs the configured packages. */
export function installScript(packages: readonly string[]): string {
  const install = packages.length > 0 ? [`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.map(shQuote).join(' ')}`] : [];
  return renderScript({
    purpose: 'Install: security updates and the packages listed in the config.',
    steps: [
      {
        comment: ['Start from a patched base; keep existing config files on conflicts.'],
        commands: ['DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Options::=--force-confold -y dist-upgrade'],
      },
      { comment: ['build.packages from the config.'], commands: install.length > 0 ? install : [': no extra packages'] },
    ],
  });
}

/** Removes per-instance identity and traces so every VM cloned from the image is unique. */
export function cleanupScript(): string {
  return renderScript({
    purpose: 'Last step: remove per-instance state before the image is captured.',
    steps: [
      {
        comment: ['SSH host keys: each instance must generate its own (cloud-init does on first boot).'],
        commands: ['rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub'],
      },
      {
        comment: ['cloud-init state, so the next boot runs as a first boot.'],
        commands: [
          'if command -v cloud-init >/dev/null 2>&1; then cloud-init clean --logs --seed; fi',
          'rm -rf /var/lib/cloud/instances /var/lib/cloud/instance',
        ],
      },
      {
        comment: ['machine-id: an empty file makes systemd generate a new one on first boot.'],
        commands: ['truncate -s 0 /etc/machine-id', 'rm -f /var/lib/dbus/machine-id', 'ln -s /etc/machine-id /var/lib/dbus/machine-id'],
      },
      {
        comment: ['Shell history and other traces of the build.'],
        commands: [
          'rm -f /root/.bash_history /home/*/.bash_history /root/.lesshst /home/*/.lesshst',
          'rm -rf /tmp/* /var/tmp/*',
          'DEBIAN_FRONTEND=noninteractive apt-get -y autoremove --purge',
          'apt-get clean',
          'rm -rf /var/lib/apt/lists/*',
          'find /var/log -type f -exec truncate -s 0 {} +',
          'unset HISTFILE',
          'sync',
        ],
      },
    ],
  });
}
