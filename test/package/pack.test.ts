/**
 * The package as users get it: `npm pack` of this checkout, unpacked into a
 * scratch project's node_modules. Its contents, `ingot --version` from a
 * global-install layout (a bin symlink), and the library example of
 * docs/library.md — type-checked against the shipped declarations with tsc
 * and run twice against a real manifest.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  types: string;
  exports: Record<string, string | Record<string, string>>;
};
let work = '';
let installed = '';
let files: string[] = [];

before(() => {
  work = mkdtempSync(join(tmpdir(), 'ingot-pack-'));
  // --ignore-scripts: `prepare` would rebuild dist/ while other tests use it; the suite has built it.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [packed] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  files = packed!.files.map((f) => f.path);
  installed = join(work, 'consumer', 'node_modules', 'ingot');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(work, packed!.filename), '-C', installed, '--strip-components=1']);
  // ingot's own dependencies, as npm would have installed them.
  symlinkSync(join(root, 'node_modules'), join(installed, 'node_modules'));
  writeFileSync(join(work, 'consumer', 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
});

describe('the packed package', () => {
  it('ships the built code, declarations, schema, profiles and docs, and no tests or sources', () => {
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'ARCHITECTURE.md',
      'dist/src/bin.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'schema/images.schema.json',
      'profiles/base.yaml',
    ]) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    const stray = files.filter(
      (f) =>
        f.startsWith('test/') || f.startsWith('dist/test/') || f.startsWith('bench/') || f.startsWith('.ci/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    assert.deepEqual(stray, []);
    for (const target of [
      pkg.types,
      ...Object.values(pkg.bin),
      ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))),
    ]) {
      assert.ok(existsSync(join(installed, target)), `${target} (named in package.json) exists in the package`);
    }
  });

  it('ingot --version works from a global install (bin symlink into lib/node_modules)', () => {
    const bin = join(work, 'prefix', 'bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(join(installed, pkg.bin.ingot!), join(bin, 'ingot'));
    const version = execFileSync(process.execPath, [join(bin, 'ingot'), '--version'], { cwd: work, encoding: 'utf8' });
    assert.equal(version, `${pkg.version}\n`);
  });

  it('the library example of docs/library.md type-checks against the shipped declarations and syncs', () => {
    const consumer = join(work, 'consumer');
    const doc = readFileSync(join(root, 'docs', 'library.md'), 'utf8');
    const example = /```ts\n(\/\/ embed-sync\.ts\n[\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example, 'docs/library.md has a ```ts block starting with "// embed-sync.ts"');
    writeFileSync(join(consumer, 'embed-sync.ts'), example);
    writeFileSync(
      join(consumer, 'main.ts'),
      "import { syncImages } from './embed-sync.js';\nconst result = await syncImages(process.argv[2]!, AbortSignal.timeout(120_000));\nconsole.log(JSON.stringify(result));\n",
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          outDir: 'out',
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
          skipLibCheck: true,
        },
        files: ['main.ts', 'embed-sync.ts'],
      }),
    );
    try {
      execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], {
        cwd: consumer,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      assert.fail(`tsc rejected the example of docs/library.md:\n${(error as { stdout?: string }).stdout ?? error}`);
    }

    // A manifest with one file image (offline), synced twice: published, then skipped.
    const project = join(work, 'project');
    mkdirSync(project, { recursive: true });
    const bytes = Buffer.from('a tiny disk image\n'.repeat(1000));
    writeFileSync(join(project, 'disk.raw'), bytes);
    writeFileSync(
      join(project, 'images.yaml'),
      [
        'apiVersion: ingot/v1alpha1',
        'kind: ImageManifest',
        'metadata: { name: library-example }',
        'spec:',
        '  images:',
        '    - name: tiny',
        `      source: { type: file, path: disk.raw, checksum: "sha256:${createHash('sha256').update(bytes).digest('hex')}" }`,
        '      destination: { path: tiny/disk.raw }',
        '',
      ].join('\n'),
    );
    const run = () =>
      JSON.parse(execFileSync(process.execPath, [join(consumer, 'out', 'main.js'), join(project, 'images.yaml')], { cwd: project, encoding: 'utf8' })) as {
        lines: string[];
        failed: number;
      };
    const first = run();
    assert.equal(first.failed, 0);
    assert.match(first.lines[0]!, /^tiny: published — /);
    assert.deepEqual(readFileSync(join(project, '.ingot', 'store', 'images', 'tiny', 'disk.raw')), bytes);
    const second = run();
    assert.match(second.lines[0]!, /^tiny: skipped — /);
  });
});
