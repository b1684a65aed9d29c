#!/usr/bin/env node
// The only process-level code: run the CLI and set the exit code.
import { main } from './cli/main.js';

process.exitCode = await main({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr });
