/**
 * Golden files: the example config generates exactly the committed template
 * directory for each cloud. Regenerate after an intended change with
 *   UPDATE_GOLDEN=1 node --import tsx --test test/packer/golden.test.ts
 * and review the diff.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLOUDS, EXAMPLE_CONFIG_YAML, parsePackerConfig } from '../../src/packer/config.js';
import { CIS_ITEMS } from '../../src/packer/hardening.js';
import { generateTemplate } from '../../src/packer/template.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) =>
      relative(dir, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
        .split('\\')
        .join('/'),
    )
    .sort();
}

describe('packer init golden files', () => {
  const config = parsePackerConfig(EXAMPLE_CONFIG_YAML, 'example');
  for (const cloud of CLOUDS) {
    it(`${cloud}: matches test/packer/golden/${cloud}/`, () => {
      const files = generateTemplate(config, cloud);
      assert.deepEqual(generateTemplate(config, cloud), files, 'deterministic');
      const dir = join(GOLDEN, cloud);
      if (update) {
        for (const [rel, content] of Object.entries(files)) {
          mkdirSync(dirname(join(dir, rel)), { recursive: true });
          writeFileSync(join(dir, rel), content);
        }
      }
      assert.deepEqual(listFiles(dir), Object.keys(files).sort(), 'same set of files');
      for (const [rel, content] of Object.entries(files)) assert.equal(content, readFileSync(join(dir, rel), 'utf8'), `${cloud}/${rel}`);
    });
  }

  it('the hardening script names every CIS item it applies', () => {
    const script = generateTemplate(config, 'aws')['scripts/hardening.sh']!;
    for (const item of CIS_ITEMS) assert.ok(script.includes(`CIS ${item.id} ${item.title}`), `CIS ${item.id}`);
    const alibaba = generateTemplate(config, 'alibaba')['scripts/hardening.sh']!;
    assert.match(alibaba, /^PermitRootLogin prohibit-password$/m, 'root-login images keep key-only root login');
    assert.doesNotMatch(alibaba, /^PermitRootLogin no$/m);
  });

  it('docs/packer.md lists every CIS item with its id and title', () => {
    const docs = readFileSync(join(GOLDEN, '..', '..', '..', 'docs', 'packer.md'), 'utf8');
    for (const item of CIS_ITEMS) assert.ok(docs.includes(`| ${item.id} | ${item.title} |`), `CIS ${item.id} in the docs`);
  });

  it('config values reach the template escaped, and hardening can be turned off', () => {
    const custom = parsePackerConfig(
      EXAMPLE_CONFIG_YAML.replace(
        'description: Ubuntu 22.04 base image, CIS Level 1 subset, built by ingot',
        'description: "costs ${var.money} and %{ if x }"',
      ).replace('hardening: true', 'hardening: false'),
      'custom',
    );
    const files = generateTemplate(custom, 'gcp');
    assert.match(files['image.pkr.hcl']!, /default\s+= "costs \$\$\{var\.money\} and %%\{ if x \}"/);
    assert.equal(files['scripts/hardening.sh'], undefined);
    assert.doesNotMatch(files['image.pkr.hcl']!, /hardening\.sh/);
  });
});

describe('packer init --plugins', () => {
  it('adds required_plugins for packer ≥ 1.7 and nothing else changes', () => {
    const config = parsePackerConfig(EXAMPLE_CONFIG_YAML, 'example');
    for (const cloud of CLOUDS) {
      const plain = generateTemplate(config, cloud)['image.pkr.hcl']!;
      const withPlugins = generateTemplate(config, cloud, { plugins: true })['image.pkr.hcl']!;
      assert.match(
        withPlugins,
        /required_version = ">= 1\.7\.0"\n {2}required_plugins \{\n {4}\w+ = \{\n {6}source {2}= "github\.com\/hashicorp\/\w+"\n {6}version = ">= [\d.]+"\n {4}\}\n {2}\}/,
      );
      const strip = (text: string) => text.replace(/packer \{[\s\S]*?\n\}\n/, '');
      assert.equal(strip(withPlugins), strip(plain), cloud);
    }
  });
});
