// Loaded with `node --import` into a CLI child by test/helpers/measure.ts:
// at exit, writes the process's peak resident set size (KiB) to the file named by INGOT_TEST_MAXRSS_FILE.
import { writeFileSync } from 'node:fs';

const file = process.env.INGOT_TEST_MAXRSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
