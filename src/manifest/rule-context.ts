/**
 * What a rule function gets: where it is in the document and a way to report.
 * Rules are small functions that add problems with a path; positions are
 * resolved from the YAML document later, so rules never deal with offsets.
 */
import type { Severity } from './problems.js';

export interface RuleReport {
  code: string;
  message: string;
  hint?: string;
  severity?: Severity;
  /** Path relative to the rule's base path (e.g. ["url"] inside a source). */
  at?: (string | number)[];
}

export interface RuleContext {
  /** Where relative source paths resolve (spec.root: by default the manifest's directory). */
  root: string;
  /** Path of the node the rule is looking at. */
  basePath: (string | number)[];
  image?: string;
  /** Names of every image of the manifest (for references between images, e.g. a bake's base). */
  imageNames?: readonly string[];
  report(problem: RuleReport): void;
}
