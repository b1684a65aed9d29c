// The coverage floor in .ci/coverage-floor.json: read it, check that no commit
// ever lowered it, and propose a new one from a measured figure.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FLOOR_FILE = '.ci/coverage-floor.json';
/**
 * Runs differ a little (timing-dependent retries, a test skipped for a missing
 * tool off CI), so a raised floor sits this far below the measured figure.
 */
export const SLACK = 0.5;

/** The floor (a line-coverage percentage) from the file's text. */
export function parseFloor(text, where = FLOOR_FILE) {
  const value = JSON.parse(text).lines;
  if (typeof value !== 'number' || !(value >= 0 && value <= 100)) throw new Error(`${where}: "lines" must be a percentage, got ${JSON.stringify(value)}`);
  return value;
}

export function readFloor(cwd = '.') {
  return parseFloor(readFileSync(join(cwd, FLOOR_FILE), 'utf8'));
}

/** The floor to write for a measured figure: SLACK below it, rounded down to 0.1. */
export function proposedFloor(pct) {
  return Math.max(0, Math.floor((pct - SLACK) * 10) / 10);
}

const git = (cwd, args) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

/**
 * Why the floor's history is not monotonic — a commit, or the working copy,
 * that lowered it — or undefined when it only ever went up (or there is no
 * git history to look at, as in an unpacked tarball).
 */
export function floorHistoryProblem(cwd = '.') {
  let commits;
  try {
    commits = git(cwd, ['log', '--format=%H', '--reverse', '--', FLOOR_FILE]).split('\n').filter(Boolean);
  } catch {
    return undefined;
  }
  let previous = 0;
  for (const commit of commits) {
    let text;
    try {
      text = git(cwd, ['show', `${commit}:${FLOOR_FILE}`]);
    } catch {
      continue; // this commit deleted the file
    }
    const floor = parseFloor(text, `${FLOOR_FILE} at ${commit.slice(0, 12)}`);
    if (floor < previous) return `commit ${commit.slice(0, 12)} lowered the floor in ${FLOOR_FILE} from ${previous}% to ${floor}%: the floor may only go up`;
    previous = floor;
  }
  const current = readFloor(cwd);
  if (current < previous) return `${FLOOR_FILE} lowers the floor from ${previous}% to ${current}%: the floor may only go up`;
  return undefined;
}
