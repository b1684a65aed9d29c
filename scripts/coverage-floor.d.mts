// Types of coverage-floor.mjs (plain JS, so `npm test` can run it without a build), for the tests.
export declare const FLOOR_FILE: string;
export declare const SLACK: number;
export declare function parseFloor(text: string, where?: string): number;
export declare function readFloor(cwd?: string): number;
export declare function proposedFloor(pct: number): number;
export declare function floorHistoryProblem(cwd?: string): string | undefined;
