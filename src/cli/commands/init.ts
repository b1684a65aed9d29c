/** `ingot init`: a commented starter images.yaml, and .ingot/ in .gitignore. Refuses to overwrite. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import type { Command } from '../command.js';
import { manifestOption, manifestPath } from '../resolve.js';

/** The starter manifest. A real, checkable example: Debian's cloud image with its published digest. */
export const STARTER = `# yaml-language-server: $schema=./node_modules/ingot/schema/images.schema.json
# ingot image manifest — see https://github.com/ingot-dev/ingot/blob/main/docs/manifest.md
apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata:
  name: my-images
spec:
  # Where images are published. Default: .ingot/store beside this file.
  # store:
  #   url: s3://my-bucket/images?endpoint=https://s3.example.net&region=us-east-1
  defaults:
    destinationPrefix: images/
    validation: { algorithm: sha256 }
  images:
    # Every download is https and has a declared digest.
    - name: example-iso
      source:
        type: https
        url: https://example.org/example.iso
        checksum: sha256:0000000000000000000000000000000000000000000000000000000000000000
      destination: { path: example/example.iso }
    # A compressed download: validation.expected is the digest of the decompressed bytes.
    # - name: talos-1.9.1
    #   source:
    #     type: https
    #     url: https://factory.talos.dev/image/<schematic>/v1.9.1/metal-amd64.raw.xz
    #     checksum: sha256:<digest of the .xz>
    #     decompress: xz
    #   destination: { path: talos/talos-1.9.1-amd64.raw }
    #   validation: { expected: "sha256:<digest of the .raw>" }
`;

export const command: Command = {
  name: 'init',
  summary: 'Write a commented starter images.yaml and add .ingot/ to .gitignore',
  usage: 'init [-m FILE]',
  options: { ...manifestOption },
  async run(args, ctx) {
    const file = manifestPath(args, ctx);
    try {
      await fs.writeFile(file, STARTER, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new IngotError(ErrorCode.exists, `${path.relative(ctx.cwd, file) || file} already exists`, {
          path: file,
          exitCode: ExitCode.usage,
          hint: 'init never overwrites; remove the file or pass -m with another name',
        });
      }
      throw error;
    }
    const gitignore = path.join(path.dirname(file), '.gitignore');
    const current = await fs.readFile(gitignore, 'utf8').catch(() => '');
    const hasEntry = current.split(/\r?\n/).some((l) => ['.ingot', '.ingot/', '/.ingot', '/.ingot/'].includes(l.trim()));
    if (!hasEntry) await fs.appendFile(gitignore, `${current && !current.endsWith('\n') ? '\n' : ''}.ingot/\n`);
    ctx.out.result({ manifest: file, gitignore: hasEntry ? 'unchanged' : 'updated' }, () => [
      `wrote ${path.relative(ctx.cwd, file) || file}`,
      hasEntry ? '.gitignore already ignores .ingot/' : `added .ingot/ to ${path.relative(ctx.cwd, gitignore) || gitignore}`,
      'next: edit the images, then `ingot validate` and `ingot sync`',
    ]);
  },
};
