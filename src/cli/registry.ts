/**
 * Every command, lazily loaded: `ingot --help` imports nothing heavy, and a
 * command's dependencies load only when it runs. A new command is one file in
 * commands/ and one line here.
 */
import type { Command } from './command.js';

type Loader = () => Promise<{ command: Command }>;

export const commands: Record<string, { summary: string; load: Loader }> = {
  init: { summary: 'Write a starter images.yaml', load: () => import('./commands/init.js') },
  validate: { summary: 'Check a manifest (schema and rules; --remote HEADs the URLs)', load: () => import('./commands/validate.js') },
  schema: { summary: "Print the manifest's JSON Schema", load: () => import('./commands/schema.js') },
  sync: { summary: 'Acquire, verify and publish every image in the manifest', load: () => import('./commands/sync.js') },
  list: { summary: 'List what is in a store', load: () => import('./commands/list.js') },
  prune: { summary: 'Remove stored images that are not in the manifest', load: () => import('./commands/prune.js') },
  verify: { summary: 'Re-hash stored images against their metadata', load: () => import('./commands/verify.js') },
  serve: { summary: 'Serve a store read-only over HTTP(S): catalogue, JSON API, downloads, iPXE', load: () => import('./commands/serve.js') },
  catalogue: { summary: 'Write the catalogue page and JSON as static files', load: () => import('./commands/catalogue.js') },
  mirror: { summary: 'Copy a store to another, verifying every image on the way', load: () => import('./commands/mirror.js') },
  doctor: { summary: 'Which external tools are installed, and how to get the missing ones', load: () => import('./commands/doctor.js') },
  help: { summary: "Show a command's usage and options (ingot help COMMAND)", load: () => import('./commands/help.js') },
  completion: { summary: 'Print a shell completion script (bash, zsh or fish)', load: () => import('./commands/completion.js') },
  bake: { summary: 'Bake one image (base image + profiles → verified, user-agnostic image) into a directory', load: () => import('./commands/bake.js') },
  'build initramfs': {
    summary: 'Build one reproducible initramfs image from the manifest into a directory',
    load: () => import('./commands/build-initramfs.js'),
  },
  boot: { summary: 'Boot a kernel + initramfs under QEMU and watch the serial console', load: () => import('./commands/boot.js') },
  inspect: { summary: 'List an initramfs / cpio archive like cpio -itv', load: () => import('./commands/inspect.js') },
  'cloud-init render': { summary: 'Compose a profile and write #cloud-config user-data', load: () => import('./commands/cloud-init-render.js') },
  'cloud-init validate': {
    summary: "Check #cloud-config user-data against all of cloud-init's modules and keys (YAML 1.1 as cloud-init reads it)",
    load: () => import('./commands/cloud-init-validate.js'),
  },
  'cloud-init seed': { summary: 'Build a reproducible NoCloud seed ISO (label cidata)', load: () => import('./commands/cloud-init-seed.js') },
  'versions check': { summary: 'Download each pin in versions.yaml and verify its sha256', load: () => import('./commands/versions-check.js') },
  'versions bump': { summary: 'Move a pin to a new version and rewrite versions.yaml in place', load: () => import('./commands/versions-bump.js') },
  'packer init': { summary: 'Generate a packer template for one cloud from a provider-neutral config', load: () => import('./commands/packer-init.js') },
  'packer validate': { summary: 'Run packer validate; diagnostics with file and line', load: () => import('./commands/packer-validate.js') },
  'packer build': { summary: 'Run packer build with live, scrubbed output and clean Ctrl-C', load: () => import('./commands/packer-build.js') },
  'packer doctor': {
    summary: 'Check packer, cloud CLIs and credentials; say how to install what is missing',
    load: () => import('./commands/packer-doctor.js'),
  },
  launch: {
    summary: 'Launch a VM with a profile; ready only when cloud-init and every post-launch step succeeded',
    load: () => import('./commands/launch.js'),
  },
  'vm list': { summary: 'List launched VMs with their state', load: () => import('./commands/vm-list.js') },
  'vm start': { summary: 'Start a stopped VM (cloud-init does not provision again)', load: () => import('./commands/vm-start.js') },
  'vm stop': { summary: 'Power a VM off cleanly (it can be started again)', load: () => import('./commands/vm-stop.js') },
  'vm delete': { summary: 'Remove a VM with its disks and record', load: () => import('./commands/vm-delete.js') },
  'vm exec': { summary: 'Run a command as root in a VM', load: () => import('./commands/vm-exec.js') },
  'vm ssh': { summary: 'Log in to a VM (ssh, or multipass shell), or run one command', load: () => import('./commands/vm-ssh.js') },
  'vm console': { summary: 'Attach to the serial console of a qemu VM, or print its log', load: () => import('./commands/vm-console.js') },
  'keys generate': { summary: 'Create a signing key pair (minisign format)', load: () => import('./commands/keys-generate.js') },
  'keys show': { summary: 'Print the public key and key id', load: () => import('./commands/keys-show.js') },
  sign: { summary: "Sign the store's catalogue (index.json)", load: () => import('./commands/sign.js') },
  pull: { summary: 'Fetch a signed, verified image into a host cache', load: () => import('./commands/pull.js') },
  'channel set': { summary: "Point a family's channel at a published version", load: () => import('./commands/channel-set.js') },
  'channel list': { summary: 'List channels per family', load: () => import('./commands/channel-list.js') },
  'channel rollback': { summary: 'Move a channel back to its previous entry', load: () => import('./commands/channel-rollback.js') },
  'cache list': { summary: 'List the versions in a host cache', load: () => import('./commands/cache-list.js') },
  'cache use': { summary: 'Point `current` at a cached version (or boot pair)', load: () => import('./commands/cache-use.js') },
  'cache rollback': { summary: 'Point `current` back at the previously pulled version (or boot pair)', load: () => import('./commands/cache-rollback.js') },
  'cache record-boot': { summary: 'Record a boot outcome of a cached version (for `ingot metrics`)', load: () => import('./commands/cache-record-boot.js') },
  metrics: { summary: "Write a host cache's metrics in Prometheus' text format", load: () => import('./commands/metrics.js') },
  'channel guard': { summary: "Roll a channel back when Prometheus shows its version's boots failing", load: () => import('./commands/channel-guard.js') },
  'fleet status': { summary: 'Version distribution and boot success by version, from Prometheus', load: () => import('./commands/fleet-status.js') },
  'cache advertise': {
    summary: 'Print the kernel versions, protocols and current default of a host cache',
    load: () => import('./commands/cache-advertise.js'),
  },
};
