/** The coverage floor: parsed strictly, proposed below a figure, and never lowered by any commit. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FLOOR_FILE, floorHistoryProblem, parseFloor, proposedFloor, readFloor } from '../../scripts/coverage-floor.mjs';

/** A git repository whose floor file is committed with each of `floors` in turn. */
function repoWithFloors(floors: number[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ingot-floor-'));
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd: dir, stdio: 'ignore' });
  git('init', '-q');
  mkdirSync(join(dir, '.ci'));
  for (const floor of floors) {
    writeFileSync(join(dir, FLOOR_FILE), JSON.stringify({ lines: floor }));
    git('add', FLOOR_FILE);
    git('commit', '-q', '--allow-empty', '-m', `floor ${floor}`);
  }
  return dir;
}

describe('coverage floor', () => {
  it('is a percentage', () => {
    assert.equal(parseFloor('{ "lines": 71.5 }'), 71.5);
    assert.throws(() => parseFloor('{ "lines": "71" }'), /must be a percentage/);
    assert.throws(() => parseFloor('{ "lines": 120 }'), /must be a percentage/);
  });

  it('is proposed half a point under the figure, rounded down', () => {
    assert.equal(proposedFloor(80.37), 79.8);
    assert.equal(proposedFloor(0.2), 0);
  });

  it('may go up but never down, in any commit or in the working copy', () => {
    const rising = repoWithFloors([0, 60, 60, 72.5]);
    assert.equal(floorHistoryProblem(rising), undefined);
    assert.equal(readFloor(rising), 72.5);
    const lowered = repoWithFloors([0, 70, 65, 80]);
    assert.match(floorHistoryProblem(lowered) ?? '', /lowered the floor in \.ci\/coverage-floor\.json from 70% to 65%/);
    writeFileSync(join(rising, FLOOR_FILE), JSON.stringify({ lines: 70 }));
    assert.match(floorHistoryProblem(rising) ?? '', /lowers the floor from 72\.5% to 70%/);
  });

  it("this checkout's floor history only goes up", () => {
    assert.equal(floorHistoryProblem(new URL('../../', import.meta.url).pathname), undefined);
  });
});
