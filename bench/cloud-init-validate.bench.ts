/**
 * bench:cloud-init-validate — how long checking user-data takes: loading the
 * validator, the first check (which builds the schema data), a steady-state
 * check of a typical user-data, all 153 documented examples, and the CLI end
 * to end without `cloud-init schema` (which adds a Python process per file).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { row, timed, figure } from './lib.js';

const conformance = resolve('test/fixtures/conformance/cloud-init');
const typical = readFileSync(join(conformance, 'doc-examples/cloud-config-user-groups.txt'), 'utf8');
const large = readFileSync(join(conformance, 'doc-examples/cloud-config.txt'), 'utf8');

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

let t = process.hrtime.bigint();
const { validateUserData } = await import('../src/provision/validate.js');
const importMs = ms(t);

t = process.hrtime.bigint();
validateUserData(typical, 'typical.yaml');
const firstMs = ms(t);

const median = (text: string, n: number) => {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    validateUserData(text, 'x.yaml');
    samples.push(ms(s));
  }
  return samples.sort((a, b) => a - b)[Math.floor(n / 2)]!;
};
const typicalMs = median(typical, 200);
const largeMs = median(large, 50);

const vectors = (JSON.parse(readFileSync(join(conformance, 'vectors.json'), 'utf8')) as { examples: { file: string; kind: string }[] }).examples.filter(
  (v) => v.kind === 'cloud-config',
);
const texts = vectors.map((v) => readFileSync(join(conformance, v.file), 'utf8'));
t = process.hrtime.bigint();
for (const text of texts) validateUserData(text, 'x.yaml');
const allMs = ms(t);

const bin = resolve('dist/src/bin.js');
const cli = await timed(process.execPath, [bin, 'cloud-init', 'validate', '--no-schema', join(conformance, 'doc-examples/cloud-config-user-groups.txt')]);
const version = await timed(process.execPath, [bin, '--version']);

console.log('\nbench:cloud-init-validate\n');
console.log(row(['import the validator (tsx)', `${importMs.toFixed(1)} ms`]));
console.log(row(['first check (builds the schema data)', `${firstMs.toFixed(1)} ms`]));
console.log(row([`typical user-data (${typical.split('\n').length} lines), median`, `${typicalMs.toFixed(2)} ms`]));
console.log(row([`largest doc example (${large.split('\n').length} lines), median`, `${largeMs.toFixed(2)} ms`]));
console.log(row([`all ${texts.length} documented examples`, `${allMs.toFixed(0)} ms`]));
console.log(row(['CLI, one file, --no-schema', `${cli.seconds.toFixed(2)} s`, `ingot --version: ${version.seconds.toFixed(2)} s`]));
figure('cloud_init.typical_ms', typicalMs, 'ms');
figure('cloud_init.cli_s', cli.seconds, 's');
