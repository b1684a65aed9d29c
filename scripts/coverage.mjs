#!/usr/bin/env node
// Runs the tests once under c8 and reports line coverage of src/ — code run by
// the tests themselves (through tsx) and by the built CLI they start as child
// processes (dist/ mapped back to src/ by its source maps); files no test
// loads count as uncovered. For the whole suite it enforces the floor in
// .ci/coverage-floor.json, which may only ever go up.
//
//   node scripts/coverage.mjs                  the whole suite; fails below the floor
//   node scripts/coverage.mjs sync trust       a subset (test paths containing these); no floor
//   node scripts/coverage.mjs --html           also write coverage/index.html
//   node scripts/coverage.mjs --raise-floor    after a whole-suite run: raise the floor to the figure
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const FLOOR_FILE = '.ci/coverage-floor.json';
// Runs differ a little (timing-dependent retries, a test skipped for a missing
// tool off CI), so the floor sits this far below a measured figure.
const SLACK = 0.5;

const args = process.argv.slice(2);
const raise = args.includes('--raise-floor');
const html = args.includes('--html');
const filters = args.filter((a) => !a.startsWith('--'));

const readFloor = (text) => {
  const value = JSON.parse(text).lines;
  if (typeof value !== 'number' || !(value >= 0 && value <= 100)) throw new Error(`${FLOOR_FILE}: "lines" must be a percentage, got ${JSON.stringify(value)}`);
  return value;
};

// The floor only ever goes up: every committed version of the file is at least the one before it.
function checkFloorHistory() {
  let commits;
  try {
    commits = execFileSync('git', ['log', '--format=%H', '--reverse', '--', FLOOR_FILE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean);
  } catch {
    return; // not a git checkout (an unpacked tarball): nothing to compare with
  }
  let previous = 0;
  for (const commit of commits) {
    let text;
    try {
      text = execFileSync('git', ['show', `${commit}:${FLOOR_FILE}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue; // the commit deleted it
    }
    const floor = readFloor(text);
    if (floor < previous) {
      console.error(`coverage: commit ${commit.slice(0, 12)} lowered the floor in ${FLOOR_FILE} from ${previous}% to ${floor}%: the floor may only go up`);
      process.exit(1);
    }
    previous = floor;
  }
  const current = readFloor(readFileSync(FLOOR_FILE, 'utf8'));
  if (current < previous) {
    console.error(`coverage: ${FLOOR_FILE} lowers the floor from ${previous}% to ${current}%: the floor may only go up`);
    process.exit(1);
  }
}

if (filters.length === 0) checkFloorHistory();
rmSync('coverage', { recursive: true, force: true });
const reporters = ['text-summary', 'json-summary', ...(html ? ['html'] : [])].map((r) => `--reporter=${r}`);
const started = Date.now();
const tests = spawnSync(process.execPath, ['node_modules/c8/bin/c8.js', ...reporters, process.execPath, 'scripts/run-tests.mjs', ...filters], { stdio: 'inherit' });
const summary = JSON.parse(readFileSync('coverage/coverage-summary.json', 'utf8')).total.lines;
console.log(`\nline coverage of src/: ${summary.pct}% (${summary.covered} of ${summary.total} lines; ${((Date.now() - started) / 1000).toFixed(0)} s)${html ? ' — coverage/index.html' : ''}`);
const testStatus = tests.status ?? 1;

if (filters.length > 0) {
  console.log('(a subset of the tests: the floor applies to the whole suite only)');
  process.exit(testStatus);
}
const floor = readFloor(readFileSync(FLOOR_FILE, 'utf8'));
if (summary.pct < floor) {
  console.error(`coverage: ${summary.pct}% of lines is below the floor of ${floor}% in ${FLOOR_FILE}: add tests for the code you changed`);
  process.exit(1);
}
const proposed = Math.floor((summary.pct - SLACK) * 10) / 10;
if (raise) {
  if (testStatus !== 0) {
    console.error('coverage: not raising the floor after failing tests');
    process.exit(testStatus);
  }
  if (proposed > floor) {
    writeFileSync(FLOOR_FILE, `${JSON.stringify({ lines: proposed })}\n`);
    console.log(`coverage floor raised from ${floor}% to ${proposed}% in ${FLOOR_FILE}: commit it`);
  } else console.log(`coverage floor stays at ${floor}%`);
} else if (proposed >= floor + 1) {
  console.log(`coverage is well above the floor of ${floor}%: raise it with \`npm run coverage -- --raise-floor\` and commit ${FLOOR_FILE}`);
} else console.log(`coverage floor: ${floor}%`);
process.exit(testStatus);
