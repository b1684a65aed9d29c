/**
 * Every source type ingot knows. A new source type is one driver module plus
 * one line here; the manifest schema and `sync` pick it up from this table.
 */
import { bakeDriver } from './bake.js';
import { fileDriver } from './file.js';
import { httpsDriver } from './https.js';
import { initramfsDriver } from './initramfs.js';
import { packerDriver } from './packer.js';
import type { BaseSource, SourceDriver } from './source.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const sourceDrivers = [httpsDriver, fileDriver, initramfsDriver, packerDriver, bakeDriver] as const satisfies readonly SourceDriver<any>[];

/** The driver for a `type` value (aliases included). */
export function driverFor(type: string): SourceDriver<BaseSource> {
  const driver = sourceDrivers.find((d) => (d.types as readonly string[]).includes(type));
  if (!driver) throw new Error(`no source driver for type "${type}"`);
  return driver as unknown as SourceDriver<BaseSource>;
}
