/**
 * What a host is, for compatibility checks: its agent version and the
 * guest-init protocols it speaks. From flags (`--agent-version`,
 * `--protocol`) or a host facts file that the agent's deployment writes once:
 *
 *     { "agent_version": "1.2.0", "guest_init_protocols": [1] }
 *
 * (YAML too; `agentVersion`, `protocols` and `supported_protocols` are read as
 * well). Flags win over the file, field by field.
 */
import * as fs from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { HostFacts } from './compat.js';

/** Reads and checks a host facts file. */
export async function readHostFacts(file: string): Promise<HostFacts> {
  const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new IngotError(ErrorCode.usage, `cannot read host facts ${file}: ${error.code ?? error.message}`, { path: file, exitCode: ExitCode.usage });
  });
  return parseHostFacts(text, file);
}

/** Parses host facts (JSON or YAML); throws INGOT_USAGE naming the bad field. */
export function parseHostFacts(text: string, where: string): HostFacts {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 0 });
  } catch (error) {
    throw bad(where, `cannot parse: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad(where, 'expected a mapping');
  const d = doc as Record<string, unknown>;
  const out: HostFacts = {};
  const version = d.agent_version ?? d.agentVersion;
  if (version !== undefined) {
    if (typeof version !== 'string' && typeof version !== 'number') throw bad(where, 'agent_version must be a version string such as "1.2.0"');
    out.agentVersion = String(version);
  }
  const protocols = d.guest_init_protocols ?? d.protocols ?? d.supported_protocols;
  if (protocols !== undefined) {
    const list = Array.isArray(protocols) ? protocols : [protocols];
    if (!list.every((p) => Number.isInteger(p) && (p as number) >= 0)) throw bad(where, 'guest_init_protocols must be a list of non-negative integers');
    out.protocols = [...new Set(list as number[])].sort((a, b) => a - b);
  }
  return out;
}

/** Flags over file, field by field. */
export function mergeHostFacts(fromFile: HostFacts, fromFlags: HostFacts): HostFacts {
  return {
    ...fromFile,
    ...(fromFlags.agentVersion !== undefined ? { agentVersion: fromFlags.agentVersion } : {}),
    ...(fromFlags.protocols?.length ? { protocols: fromFlags.protocols } : {}),
  };
}

function bad(where: string, problem: string): IngotError {
  return new IngotError(ErrorCode.usage, `invalid host facts ${where}: ${problem}`, {
    path: where,
    hint: 'write e.g. {"agent_version": "1.2.0", "guest_init_protocols": [1]}',
    exitCode: ExitCode.usage,
  });
}
