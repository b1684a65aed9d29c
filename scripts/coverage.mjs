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
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { FLOOR_FILE, floorHistoryProblem, proposedFloor, readFloor } from './coverage-floor.mjs';

const args = process.argv.slice(2);
const raise = args.includes('--raise-floor');
const html = args.includes('--html');
const filters = args.filter((a) => !a.startsWith('--'));

if (filters.length === 0) {
  const problem = floorHistoryProblem();
  if (problem) {
    console.error(`coverage: ${problem}`);
    process.exit(1);
  }
}
rmSync('coverage', { recursive: true, force: true });
const reporters = ['text-summary', 'json-summary', ...(html ? ['html'] : [])].map((r) => `--reporter=${r}`);
const started = Date.now();
const tests = spawnSync(process.execPath, ['node_modules/c8/bin/c8.js', ...reporters, process.execPath, 'scripts/run-tests.mjs', ...filters], {
  stdio: 'inherit',
});
let summary;
try {
  summary = JSON.parse(readFileSync('coverage/coverage-summary.json', 'utf8')).total.lines;
} catch (error) {
  console.error(`coverage: no report from c8 (${error.message})`);
  process.exit(tests.status || 1);
}
console.log(
  `\nline coverage of src/: ${summary.pct}% (${summary.covered} of ${summary.total} lines; ${((Date.now() - started) / 1000).toFixed(0)} s)${html ? ' — coverage/index.html' : ''}`,
);
const testStatus = tests.status ?? 1;

if (filters.length > 0) {
  console.log('(a subset of the tests: the floor applies to the whole suite only)');
  process.exit(testStatus);
}
const floor = readFloor();
if (summary.pct < floor) {
  console.error(`coverage: ${summary.pct}% of lines is below the floor of ${floor}% in ${FLOOR_FILE}: add tests for the code you changed`);
  process.exit(1);
}
const proposed = proposedFloor(summary.pct);
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
