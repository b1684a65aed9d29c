/**
 * Packer's `-machine-readable` output: one event per line,
 * `timestamp,target,type,data…`, with commas inside data written as
 * `%!(PACKER_COMMA)` and newlines as a literal `\n`. A pure codec plus an
 * accumulator for the `artifact` events that say what a build produced.
 */

/** One decoded event. */
export interface MachineEvent {
  time: number;
  /** Build name (e.g. "file.main"), or "" for global events. */
  target: string;
  /** "ui", "artifact", "artifact-count", "version", "error-count", … */
  type: string;
  data: string[];
}

/** What one build reported as its artifact. */
export interface PackerArtifact {
  /** Build name, e.g. "qemu.main". */
  build: string;
  index: number;
  builderId?: string;
  id?: string;
  description?: string;
  files: string[];
}

/** Undoes packer's escaping of one data field. */
export function unescapeField(field: string): string {
  // Packer does not escape backslashes, so a literal "\n" in a message cannot be told apart; it becomes a newline.
  return field.replaceAll('%!(PACKER_COMMA)', ',').replaceAll('\\n', '\n').replaceAll('\\r', '\r');
}

/** Escapes a value the way packer does (used to scrub secrets from raw lines too). */
export function escapeField(value: string): string {
  return value.replaceAll(',', '%!(PACKER_COMMA)').replaceAll('\r', '\\r').replaceAll('\n', '\\n');
}

/** Parses one line; undefined when it is not a machine-readable event (e.g. a panic on stderr). */
export function parseMachineLine(line: string): MachineEvent | undefined {
  const match = /^(\d+),([^,]*),([^,]+)(?:,(.*))?$/.exec(line);
  if (!match) return undefined;
  const data = match[4] === undefined ? [] : match[4].split(',').map(unescapeField);
  return { time: Number(match[1]), target: match[2]!, type: match[3]!, data };
}

/** The text of a `ui` event and its kind (say, message, error), or undefined for other events. */
export function uiText(event: MachineEvent): { kind: string; text: string } | undefined {
  if (event.type !== 'ui') return undefined;
  return { kind: event.data[0] ?? 'message', text: event.data.slice(1).join(',') };
}

/** Collects `artifact` events into one record per build and index. */
export class ArtifactCollector {
  readonly #byKey = new Map<string, PackerArtifact>();

  /** Feeds one event; ignores anything that is not an artifact line. */
  add(event: MachineEvent): void {
    if (event.type !== 'artifact') return;
    const [indexText, key, ...rest] = event.data;
    const index = Number(indexText);
    if (!Number.isInteger(index) || key === undefined) return;
    const id = `${event.target}#${index}`;
    let artifact = this.#byKey.get(id);
    if (!artifact) {
      artifact = { build: event.target, index, files: [] };
      this.#byKey.set(id, artifact);
    }
    const value = rest.join(',');
    if (key === 'builder-id') artifact.builderId = value;
    else if (key === 'id') artifact.id = value;
    else if (key === 'string') artifact.description = value;
    else if (key === 'file') artifact.files.push(rest.slice(1).join(','));
  }

  /** Every artifact seen, in build then index order. */
  list(): PackerArtifact[] {
    return [...this.#byKey.values()].sort((a, b) => (a.build === b.build ? a.index - b.index : a.build < b.build ? -1 : 1));
  }
}
