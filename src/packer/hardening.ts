/**
 * The hardening script: a documented subset of CIS Level 1 (numbering from the
 * CIS Ubuntu Linux 22.04 LTS Benchmark v1.0.0; other versions renumber). Each
 * item is data — id, title, commands — so the script and docs/packer.md list
 * exactly the same items. Settings go into drop-in files so they survive
 * package upgrades and are easy to audit.
 */
import { renderScript, writeFile, type ShellStep } from './shell.js';

/** One benchmark item. */
export interface CisItem {
  readonly id: string;
  readonly title: string;
  readonly area: 'ssh' | 'sysctl' | 'password' | 'audit';
  /** The configuration lines this item contributes to its area's drop-in file. */
  readonly lines: readonly string[];
}

/** sshd drop-in: read before cloud-init's 50-cloud-init.conf, and sshd keeps the first value. */
const SSHD_DROPIN = '/etc/ssh/sshd_config.d/01-ingot-cis.conf';
const SYSCTL_DROPIN = '/etc/sysctl.d/60-ingot-cis.conf';
const AUDIT_RULES = '/etc/audit/rules.d/60-ingot-cis.rules';

/** The items applied, in order. `rootLogin` is false when the SSH user is root (see cisItems). */
export const CIS_ITEMS: readonly CisItem[] = [
  { id: '5.2.5', title: 'Ensure SSH LogLevel is appropriate', area: 'ssh', lines: ['LogLevel VERBOSE'] },
  { id: '5.2.6', title: 'Ensure SSH PAM is enabled', area: 'ssh', lines: ['UsePAM yes'] },
  { id: '5.2.7', title: 'Ensure SSH root login is disabled', area: 'ssh', lines: ['PermitRootLogin no'] },
  { id: '5.2.8', title: 'Ensure SSH HostbasedAuthentication is disabled', area: 'ssh', lines: ['HostbasedAuthentication no'] },
  { id: '5.2.9', title: 'Ensure SSH PermitEmptyPasswords is disabled', area: 'ssh', lines: ['PermitEmptyPasswords no'] },
  { id: '5.2.10', title: 'Ensure SSH PermitUserEnvironment is disabled', area: 'ssh', lines: ['PermitUserEnvironment no'] },
  { id: '5.2.11', title: 'Ensure SSH IgnoreRhosts is enabled', area: 'ssh', lines: ['IgnoreRhosts yes'] },
  { id: '5.2.12', title: 'Ensure SSH X11 forwarding is disabled', area: 'ssh', lines: ['X11Forwarding no'] },
  { id: '5.2.18', title: 'Ensure SSH MaxAuthTries is set to 4 or less', area: 'ssh', lines: ['MaxAuthTries 4'] },
  { id: '5.2.19', title: 'Ensure SSH MaxStartups is configured', area: 'ssh', lines: ['MaxStartups 10:30:60'] },
  { id: '5.2.20', title: 'Ensure SSH MaxSessions is set to 10 or less', area: 'ssh', lines: ['MaxSessions 10'] },
  { id: '5.2.21', title: 'Ensure SSH LoginGraceTime is set to one minute or less', area: 'ssh', lines: ['LoginGraceTime 60'] },
  { id: '5.2.22', title: 'Ensure SSH Idle Timeout Interval is configured', area: 'ssh', lines: ['ClientAliveInterval 300', 'ClientAliveCountMax 3'] },
  { id: '1.5.1', title: 'Ensure address space layout randomization (ASLR) is enabled', area: 'sysctl', lines: ['kernel.randomize_va_space = 2'] },
  {
    id: '3.2.1',
    title: 'Ensure packet redirect sending is disabled',
    area: 'sysctl',
    lines: ['net.ipv4.conf.all.send_redirects = 0', 'net.ipv4.conf.default.send_redirects = 0'],
  },
  {
    id: '3.3.1',
    title: 'Ensure source routed packets are not accepted',
    area: 'sysctl',
    lines: [
      'net.ipv4.conf.all.accept_source_route = 0',
      'net.ipv4.conf.default.accept_source_route = 0',
      'net.ipv6.conf.all.accept_source_route = 0',
      'net.ipv6.conf.default.accept_source_route = 0',
    ],
  },
  {
    id: '3.3.2',
    title: 'Ensure ICMP redirects are not accepted',
    area: 'sysctl',
    lines: [
      'net.ipv4.conf.all.accept_redirects = 0',
      'net.ipv4.conf.default.accept_redirects = 0',
      'net.ipv6.conf.all.accept_redirects = 0',
      'net.ipv6.conf.default.accept_redirects = 0',
    ],
  },
  {
    id: '3.3.3',
    title: 'Ensure secure ICMP redirects are not accepted',
    area: 'sysctl',
    lines: ['net.ipv4.conf.all.secure_redirects = 0', 'net.ipv4.conf.default.secure_redirects = 0'],
  },
  {
    id: '3.3.4',
    title: 'Ensure suspicious packets are logged',
    area: 'sysctl',
    lines: ['net.ipv4.conf.all.log_martians = 1', 'net.ipv4.conf.default.log_martians = 1'],
  },
  { id: '3.3.5', title: 'Ensure broadcast ICMP requests are ignored', area: 'sysctl', lines: ['net.ipv4.icmp_echo_ignore_broadcasts = 1'] },
  { id: '3.3.6', title: 'Ensure bogus ICMP responses are ignored', area: 'sysctl', lines: ['net.ipv4.icmp_ignore_bogus_error_responses = 1'] },
  {
    id: '3.3.7',
    title: 'Ensure Reverse Path Filtering is enabled',
    area: 'sysctl',
    lines: ['net.ipv4.conf.all.rp_filter = 1', 'net.ipv4.conf.default.rp_filter = 1'],
  },
  { id: '3.3.8', title: 'Ensure TCP SYN Cookies is enabled', area: 'sysctl', lines: ['net.ipv4.tcp_syncookies = 1'] },
  { id: '5.4.1', title: 'Ensure password creation requirements are configured', area: 'password', lines: ['minlen = 14', 'minclass = 4'] },
  { id: '5.5.1.1', title: 'Ensure minimum days between password changes is configured', area: 'password', lines: ['PASS_MIN_DAYS 1'] },
  { id: '5.5.1.2', title: 'Ensure password expiration is 365 days or less', area: 'password', lines: ['PASS_MAX_DAYS 365'] },
  { id: '5.5.1.3', title: 'Ensure password expiration warning days is 7 or more', area: 'password', lines: ['PASS_WARN_AGE 7'] },
  { id: '5.5.1.4', title: 'Ensure inactive password lock is 30 days or less', area: 'password', lines: [] },
  { id: '4.1.1.1', title: 'Ensure auditd is installed', area: 'audit', lines: [] },
  { id: '4.1.1.2', title: 'Ensure auditd service is enabled and active', area: 'audit', lines: [] },
  {
    id: '4.1.3.1',
    title: 'Ensure changes to system administration scope (sudoers) is collected',
    area: 'audit',
    lines: ['-w /etc/sudoers -p wa -k scope', '-w /etc/sudoers.d -p wa -k scope'],
  },
  {
    id: '4.1.3.4',
    title: 'Ensure events that modify date and time information are collected',
    area: 'audit',
    lines: ['-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change', '-w /etc/localtime -p wa -k time-change'],
  },
  {
    id: '4.1.3.8',
    title: 'Ensure events that modify user/group information are collected',
    area: 'audit',
    lines: [
      '-w /etc/group -p wa -k identity',
      '-w /etc/passwd -p wa -k identity',
      '-w /etc/gshadow -p wa -k identity',
      '-w /etc/shadow -p wa -k identity',
      '-w /etc/security/opasswd -p wa -k identity',
    ],
  },
  {
    id: '4.1.3.12',
    title: 'Ensure login and logout events are collected',
    area: 'audit',
    lines: ['-w /var/log/lastlog -p wa -k logins', '-w /var/run/faillock -p wa -k logins'],
  },
];

/**
 * The items for an image. Root login stays possible with a key when the build
 * user is root (Alibaba's Ubuntu images have no other user), so 5.2.7 is
 * relaxed to `prohibit-password` there and says so in the script.
 */
export function cisItems(sshUser: string): CisItem[] {
  return CIS_ITEMS.map((item) =>
    item.id === '5.2.7' && sshUser === 'root'
      ? { ...item, title: `${item.title} (relaxed: the image's login user is root, so key-only root login)`, lines: ['PermitRootLogin prohibit-password'] }
      : item,
  );
}

/** Config lines for one area, each group preceded by its CIS id and title. */
function linesFor(items: readonly CisItem[], area: CisItem['area'], commentPrefix = '#'): string[] {
  return items.filter((i) => i.area === area && i.lines.length > 0).flatMap((i) => [`${commentPrefix} CIS ${i.id} ${i.title}`, ...i.lines]);
}

function named(items: readonly CisItem[], area: CisItem['area']): string[] {
  return items.filter((i) => i.area === area).map((i) => `CIS ${i.id} ${i.title}`);
}

/** The hardening script for an image whose login user is `sshUser`. */
export function hardeningScript(sshUser: string): string {
  const items = cisItems(sshUser);
  const password = items.filter((i) => i.area === 'password');
  const loginDefs = password.filter((i) => i.id.startsWith('5.5.1.') && i.lines.length > 0);
  const steps: ShellStep[] = [
    {
      comment: ['SSH daemon settings.', ...named(items, 'ssh')],
      commands: [
        ...writeFile(SSHD_DROPIN, linesFor(items, 'ssh'), '0600'),
        '# CIS 5.2.1 Ensure permissions on /etc/ssh/sshd_config are configured',
        'chown root:root /etc/ssh/sshd_config',
        'chmod 0600 /etc/ssh/sshd_config',
        'sshd -t',
      ],
    },
    {
      comment: ['Kernel network and memory settings.', ...named(items, 'sysctl')],
      commands: [...writeFile(SYSCTL_DROPIN, linesFor(items, 'sysctl')), 'sysctl --system >/dev/null'],
    },
    {
      comment: ['Password policy.', ...named(items, 'password')],
      commands: [
        'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpam-pwquality',
        ...writeFile(
          '/etc/security/pwquality.conf.d/60-ingot-cis.conf',
          linesFor(
            items.filter((i) => i.id === '5.4.1'),
            'password',
          ),
        ),
        ...loginDefs.flatMap((i) =>
          i.lines.map((line) => {
            const [key] = line.split(' ');
            return `sed -i -E 's/^#?[[:space:]]*${key}[[:space:]].*/${line}/' /etc/login.defs && grep -q '^${key} ' /etc/login.defs || echo '${line}' >> /etc/login.defs`;
          }),
        ),
        '# CIS 5.5.1.4: lock accounts 30 days after their password expires',
        'useradd -D -f 30',
      ],
    },
    {
      comment: ['Audit daemon and rules.', ...named(items, 'audit')],
      commands: [
        'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends auditd audispd-plugins',
        ...writeFile(AUDIT_RULES, linesFor(items, 'audit'), '0640'),
        'systemctl enable auditd',
        'augenrules --load || true',
      ],
    },
  ];
  return renderScript({ purpose: 'CIS Level 1 hardening subset (see docs/packer.md for the item list).', steps });
}
