/**
 * Compatibility between an image and the host selecting it. Images declare
 * facts in metadata (`compatibility: { protocols: [1], minAgentVersion:
 * "1.0.0" }`, also `guestInitProtocol`, `maxAgentVersion` and the snake_case
 * spellings); a host passes its own (`--agent-version`, `--protocol`). Only
 * facts the host passes are enforced: a host that says nothing selects freely.
 */

/** What the selecting host is. */
export interface HostFacts {
  agentVersion?: string;
  /** Guest-init protocols the host speaks. */
  protocols?: number[];
}

/** Why an image is incompatible with the host, or undefined when it is compatible. */
export function compatibilityProblem(compat: Record<string, unknown> | undefined, host: HostFacts): string | undefined {
  if (!compat) return undefined;
  const declared = declaredProtocols(compat);
  if (host.protocols && host.protocols.length > 0 && declared.length > 0 && !declared.some((p) => host.protocols!.includes(p))) {
    return `it speaks guest-init protocol ${declared.join(', ')}; this host speaks ${host.protocols.join(', ')}`;
  }
  if (host.agentVersion !== undefined) {
    const min = stringField(compat, 'minAgentVersion', 'min_agent_version');
    if (min !== undefined && compareVersions(host.agentVersion, min) < 0) return `it needs agent ${min} or newer; this host runs ${host.agentVersion}`;
    const max = stringField(compat, 'maxAgentVersion', 'max_agent_version');
    if (max !== undefined && max !== 'current' && compareVersions(host.agentVersion, max) > 0) {
      return `it supports agents up to ${max}; this host runs ${host.agentVersion}`;
    }
  }
  return undefined;
}

function declaredProtocols(compat: Record<string, unknown>): number[] {
  const out: number[] = [];
  for (const key of ['protocols', 'supportedProtocols', 'supported_protocols', 'guestInitProtocol', 'guest_init_protocol', 'protocol']) {
    const value = compat[key];
    for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'number' && Number.isInteger(v)) out.push(v);
  }
  return [...new Set(out)];
}

function stringField(compat: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const v = compat[key];
    if (typeof v === 'string' || typeof v === 'number') return String(v);
  }
  return undefined;
}

/**
 * Orders version strings the way people read them: numeric runs compare as
 * numbers ("1.10" > "1.9"), other runs as text; a pre-release suffix after
 * "-" sorts before the release ("1.0.0-rc1" < "1.0.0").
 */
export function compareVersions(a: string, b: string): number {
  const [coreA = '', preA] = splitPre(a);
  const [coreB = '', preB] = splitPre(b);
  const c = compareParts(coreA, coreB);
  if (c !== 0) return c;
  if (preA === undefined || preB === undefined) return preA === preB ? 0 : preA === undefined ? 1 : -1;
  return compareParts(preA, preB);
}

function splitPre(v: string): [string, string | undefined] {
  const clean = v.replace(/^v/i, '').split('+')[0] ?? '';
  const dash = clean.indexOf('-');
  return dash < 0 ? [clean, undefined] : [clean.slice(0, dash), clean.slice(dash + 1)];
}

function compareParts(a: string, b: string): number {
  const pa = a.match(/\d+|[^\d.]+/g) ?? [];
  const pb = b.match(/\d+|[^\d.]+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d < 0 ? -1 : 1;
    } else if (x !== y) {
      if (nx !== ny) return nx ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return 0;
}
