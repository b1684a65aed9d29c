/** `ingot schema`: the manifest's JSON Schema (also shipped as schema/images.schema.json). */
import { manifestJsonSchema } from '../../manifest/schema.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'schema',
  summary: "Print the manifest's JSON Schema (for editors and yaml-language-server)",
  usage: 'schema',
  options: {},
  async run(_args, ctx) {
    const schema = manifestJsonSchema();
    // The schema is JSON either way; --json only changes nothing.
    ctx.out.result(schema, () => JSON.stringify(schema, null, 2));
  },
};
