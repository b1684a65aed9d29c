/**
 * OpenSCAP scan of a baked image, offline on the host: the root filesystem
 * is copied out of the raw image with debugfs (no mount), and `oscap xccdf
 * eval` runs with OSCAP_PROBE_ROOT pointing at the copy (what oscap-chroot
 * does). Measured against the alternative — installing openscap-scanner into
 * the verification boot's overlay — this needs no network and no packages in
 * the guest and takes seconds instead of minutes under software emulation.
 *
 * Content: the SCAP Security Guide datastream for the guest's Debian
 * release. Debian 12's ssg packages (0.1.65) ship content up to Debian 11
 * only, so for a newer guest the newest Debian datastream is used with its
 * platform check widened to the guest's major version — recorded as
 * `adaptedFrom` in the result, since rules written for 11 are then applied
 * to 12.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, IngotError } from '../errors.js';
import { run } from '../exec/run.js';
import { debugfs } from './inspect.js';

/** Where Debian's ssg-debian / ssg-debderived packages put their datastreams. */
export const SSG_CONTENT_DIR = '/usr/share/xml/scap/ssg/content';

export interface ScanRequest {
  profile: string;
  required?: string[];
  /** A datastream file to use instead of picking one. */
  content?: string;
}

export interface ScanResult {
  profile: string;
  content: string;
  adaptedFrom?: string;
  counts: Record<string, number>;
  failed: string[];
  arf: string;
  report: string;
  durationMs: number;
}

/** The full XCCDF profile id for a short name ("standard"). */
export function profileId(profile: string): string {
  return profile.startsWith('xccdf_') ? profile : `xccdf_org.ssgproject.content_profile_${profile}`;
}

/** Picks the datastream for a Debian `major` release, adapting the newest older one when there is none. */
export async function chooseContent(major: number, workDir: string, contentDir = SSG_CONTENT_DIR): Promise<{ file: string; adaptedFrom?: string }> {
  const exact = path.join(contentDir, `ssg-debian${major}-ds.xml`);
  if (existsSync(exact)) return { file: exact };
  const names = existsSync(contentDir) ? await readdir(contentDir) : [];
  const older = names
    .map((n) => /^ssg-debian(\d+)-ds\.xml$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) < major)
    .sort((a, b) => Number(b[1]) - Number(a[1]))[0];
  if (!older) {
    throw new IngotError(ErrorCode.scanFailed, `no SCAP Security Guide content for Debian ${major} in ${contentDir}`, {
      hint: 'apt-get install ssg-debian ssg-debderived (or give scan.content)',
    });
  }
  const from = Number(older[1]);
  const text = await readFile(path.join(contentDir, older[0]), 'utf8');
  const pattern = `<ind:pattern operation="pattern match">^${from}.[0-9]+$</ind:pattern>`;
  if (!text.includes(pattern))
    throw new IngotError(ErrorCode.scanFailed, `cannot adapt ${older[0]} to Debian ${major}: its platform check has an unknown form`, {
      hint: 'give scan.content',
    });
  const file = path.join(workDir, `ssg-debian${major}-from-${from}-ds.xml`);
  await writeFile(file, text.split(pattern).join(`<ind:pattern operation="pattern match">^${major}.[0-9]+$</ind:pattern>`));
  return { file, adaptedFrom: older[0] };
}

/** Scans the root filesystem `fs` (a debugfs device argument) of a baked image. */
export async function scanOffline(fs: string, request: ScanRequest, workDir: string, signal?: AbortSignal): Promise<ScanResult> {
  const started = Date.now();
  const root = path.join(workDir, 'scan-root');
  await mkdir(root, { recursive: true });
  // rdump of the whole tree: the probes read /etc, /usr, /var/lib/dpkg, /boot …
  await debugfs(fs, `rdump / ${root}`, signal);
  if (!existsSync(path.join(root, 'etc', 'debian_version')))
    throw new IngotError(ErrorCode.scanFailed, 'the image is not Debian (no /etc/debian_version): no content to scan it with', { hint: 'give scan.content' });
  const version = (await readFile(path.join(root, 'etc', 'debian_version'), 'utf8')).trim();
  const major = Number(/^(\d+)/.exec(version)?.[1] ?? 0);
  const content = request.content ? { file: request.content } : await chooseContent(major, workDir);
  const arf = path.join(workDir, 'scan-arf.xml');
  const report = path.join(workDir, 'scan-report.html');
  const r = await run('oscap', ['xccdf', 'eval', '--profile', profileId(request.profile), '--results-arf', arf, '--report', report, content.file], {
    reject: false,
    timeoutMs: 30 * 60_000,
    signal,
    extraEnv: { OSCAP_PROBE_ROOT: root },
  });
  // 0: all passed; 2: some rule failed; anything else: oscap itself failed.
  if (r.exitCode !== 0 && r.exitCode !== 2) {
    throw new IngotError(
      ErrorCode.scanFailed,
      `oscap xccdf eval failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`,
      { hint: `check the profile name ("${request.profile}"): \`oscap info ${content.file}\` lists them` },
    );
  }
  // The ARF is the record (stdout's "Result" lines depend on oscap's verbosity and version).
  const { counts, failed } = parseArf(await readFile(arf, 'utf8'));
  await rm(root, { recursive: true, force: true });
  return {
    profile: profileId(request.profile),
    content: path.basename(content.file),
    ...(content.adaptedFrom ? { adaptedFrom: content.adaptedFrom } : {}),
    counts,
    failed,
    arf,
    report,
    durationMs: Date.now() - started,
  };
}

/** Counts of the rule results in an ARF (XCCDF TestResult), notselected left out, and the failed rule ids. */
export function parseArf(xml: string): { counts: Record<string, number>; failed: string[] } {
  const counts: Record<string, number> = { pass: 0, fail: 0, notapplicable: 0 };
  const failed: string[] = [];
  for (const m of xml.matchAll(/<(?:\w+:)?rule-result\s[^>]*idref="([^"]+)"[^>]*>[\s\S]*?<(?:\w+:)?result>(\w+)<\/(?:\w+:)?result>/g)) {
    const [, rule, result] = m as unknown as [string, string, string];
    if (result === 'notselected') continue;
    counts[result] = (counts[result] ?? 0) + 1;
    if (result === 'fail') failed.push(rule);
  }
  return { counts, failed };
}

/** Counts of `Result` lines of `oscap xccdf eval` output, and the failed rule ids. */
export function parseResults(stdout: string): { counts: Record<string, number>; failed: string[] } {
  const counts: Record<string, number> = { pass: 0, fail: 0, notapplicable: 0 };
  const failed: string[] = [];
  let rule = '';
  for (const line of stdout.split('\n')) {
    const r = /^Rule\t(\S+)/.exec(line);
    if (r) rule = r[1]!;
    const m = /^Result\t(\S+)/.exec(line);
    if (m) {
      counts[m[1]!] = (counts[m[1]!] ?? 0) + 1;
      if (m[1] === 'fail') failed.push(rule);
    }
  }
  return { counts, failed };
}

/** Rule ids of `required` that failed (short ids match the full xccdf_org.ssgproject.content_rule_ form). */
export function requiredFailures(required: readonly string[], failed: readonly string[]): string[] {
  const full = (id: string) => (id.startsWith('xccdf_') ? id : `xccdf_org.ssgproject.content_rule_${id}`);
  return required.filter((id) => failed.includes(full(id)));
}
