#!/usr/bin/env node
// The only process-level code: run the CLI and set the exit code.
import { main } from './cli/main.js';

process.exitCode = await main({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
  // Only for an interrupted run that does not end by itself (see ABORT_GRACE_MS): die of the signal.
  die: (signal) => {
    process.kill(process.pid, signal);
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 1000);
  },
});
