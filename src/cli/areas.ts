/**
 * Commands grouped by area, for `ingot --help`, the generated CLI reference
 * (docs/cli.md) and nothing else. A command belongs to the area that lists
 * its first word; a command whose first word no area lists goes to "Other
 * commands" — add its word here when you add a command.
 */
export interface Area {
  /** Section title in help and docs/cli.md. */
  title: string;
  /** The docs page that explains the area (relative to docs/), if any. */
  page?: string;
  /** First words of the commands in this area. */
  words: readonly string[];
}

export const areas: readonly Area[] = [
  { title: 'Manifest and sync', page: 'sync.md', words: ['init', 'validate', 'schema', 'sync', 'list', 'prune', 'verify'] },
  { title: 'Signing and channels', page: 'trust-and-hosts.md', words: ['keys', 'sign', 'channel'] },
  { title: 'Hosts: pull and cache', page: 'trust-and-hosts.md', words: ['pull', 'cache'] },
  { title: 'Initramfs and boot', page: 'initramfs-and-boot.md', words: ['build', 'inspect', 'boot'] },
  { title: 'Packer', page: 'packer.md', words: ['packer'] },
  { title: 'Provisioning and launch', page: 'provisioning.md', words: ['cloud-init', 'versions', 'launch', 'bake'] },
  { title: 'Fleet', page: 'fleet.md', words: ['fleet', 'metrics'] },
  { title: 'Serve and mirror', words: ['serve', 'mirror'] },
  { title: 'The CLI itself', words: ['help', 'completion', 'doctor'] },
];

export const otherArea: Area = { title: 'Other commands', words: [] };

/** The area a command name ("cache list") belongs to. */
export function areaOf(name: string): Area {
  const first = name.split(' ')[0] ?? name;
  return areas.find((a) => a.words.includes(first)) ?? otherArea;
}

/**
 * Names grouped by area, areas in table order (empty ones left out, "Other
 * commands" last), names in the order given (the registry's).
 */
export function groupByArea(names: readonly string[]): { area: Area; names: string[] }[] {
  const groups = [...areas, otherArea].map((area) => ({ area, names: names.filter((n) => areaOf(n) === area) }));
  return groups.filter((g) => g.names.length > 0);
}
